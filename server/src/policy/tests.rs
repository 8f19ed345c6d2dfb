//! Each rule against bypass attempts, written both as `docker run` arguments and as the
//! structured spec: an operator is denied with the rule's name, an admin is not.
//!
//! Long on purpose: one table of cases per rule group, every case both as argv and as spec,
//! so that a rule and all the spellings that reach it are read together.

use std::collections::{HashMap, HashSet};

use berth_shared::plan::{self, Plan};
use berth_shared::spec::RunSpec;
use berth_shared::wire::Role;
use serde_json::{Value, json};

use super::*;

const IMG: &str = "127.0.0.1:5000/team/app:1";

/// A realistic operator policy: a registry namespace and a fixture, one extra capability,
/// resource defaults and maxima.
const POLICY: &str = r#"
[operator]
allowed_images = ["127.0.0.1:5000/team/*", "berth-fixture:*", "busybox"]
allowed_capabilities = ["NET_BIND_SERVICE"]
default_memory = "256m"
max_memory = "1g"
default_cpus = 0.5
max_cpus = 2
default_pids = 256
max_pids = 1024
max_concurrent_runs = 4
max_run_seconds = 3600
runs_per_minute = 10
"#;

fn policy() -> Policy {
    Policy::from_toml(POLICY).unwrap()
}

fn argv_plan(args: &[&str]) -> Plan {
    let spec = berth_shared::argv::parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    plan::build(&spec).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn spec_plan(spec: &Value) -> Plan {
    let spec: RunSpec =
        serde_json::from_value(spec.clone()).unwrap_or_else(|e| panic!("{spec}: {e}"));
    plan::build(&spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"))
}

fn mine() -> HashSet<String> {
    ["mine".to_string()].into()
}

/// Volumes that exist already, the requester's unless said: `plain` as a run makes it, `bound`
/// created with the local driver's bind options, `plugin` from a volume plugin, `theirs`
/// plain but someone else's.
fn existing_volumes() -> HashMap<String, ExistingVolume> {
    let volume = |driver: &str, has_options| ExistingVolume {
        driver: driver.into(),
        has_options,
        owned: true,
    };
    let theirs = ExistingVolume {
        owned: false,
        ..volume("local", false)
    };
    HashMap::from([
        ("plain".to_string(), volume("local", false)),
        ("bound".to_string(), volume("local", true)),
        ("plugin".to_string(), volume("sshfs", false)),
        ("theirs".to_string(), theirs),
    ])
}

/// Checks `plan` as `role` and, when allowed, fills in the defaults as the gateway does.
fn check_as(policy: &Policy, role: Role, plan: &mut Plan) -> Result<(), Denial> {
    let own = mine();
    let volumes = existing_volumes();
    let facts = Facts {
        role,
        own_containers: &own,
        volumes: &volumes,
    };
    let defaults = policy.for_role(role).check(plan, &facts)?;
    defaults.apply(plan);
    Ok(())
}

/// One bypass attempt: the rule that must deny it, as argv and as the structured spec.
struct Case {
    rule: &'static str,
    argv: Vec<&'static str>,
    spec: Value,
}

fn case(rule: &'static str, argv: &[&'static str], spec: Value) -> Case {
    let mut spec = spec;
    spec.as_object_mut()
        .unwrap()
        .entry("image")
        .or_insert(json!(IMG));
    Case {
        rule,
        argv: argv.to_vec(),
        spec,
    }
}

fn bypasses() -> Vec<Case> {
    let id = format!("sha256:{}", "c".repeat(64));
    let id: &'static str = Box::leak(id.into_boxed_str());
    vec![
        case(
            "privileged",
            &["--privileged", IMG],
            json!({"privileged": true}),
        ),
        case(
            "host-bind",
            &["-v", "/:/host", IMG],
            json!({"volume": ["/:/host"]}),
        ),
        case(
            "host-bind",
            &["-v", "/var/run/docker.sock:/s:ro", IMG],
            json!({"volume": ["/var/run/docker.sock:/s:ro"]}),
        ),
        case(
            "host-bind",
            &["--mount", "type=bind,src=/,dst=/host", IMG],
            json!({"mount": ["type=bind,src=/,dst=/host"]}),
        ),
        // The Binds-vs-Mounts bypass: a local volume that is really a bind of `/`.
        case(
            "volume-options",
            &[
                "--mount",
                "type=volume,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/",
                IMG,
            ],
            json!({"mount": ["type=volume,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/"]}),
        ),
        case(
            "volume-driver",
            &[
                "--mount",
                "type=volume,src=v,dst=/x,volume-driver=evil",
                IMG,
            ],
            json!({"mount": ["type=volume,src=v,dst=/x,volume-driver=evil"]}),
        ),
        case(
            "volume-driver",
            &["--volume-driver", "evil", "-v", "/data", IMG],
            json!({"volume_driver": "evil", "volume": ["/data"]}),
        ),
        case(
            "named-volume",
            &["-v", "data:/data", IMG],
            json!({"volume": ["data:/data"]}),
        ),
        case(
            "named-volume",
            &["--mount", "type=volume,src=data,dst=/data", IMG],
            json!({"mount": ["type=volume,src=data,dst=/data"]}),
        ),
        case(
            "image-allowlist",
            &["--mount", "type=image,src=evil/tools,dst=/t", IMG],
            json!({"mount": ["type=image,src=evil/tools,dst=/t"]}),
        ),
        case(
            "capabilities",
            &["--cap-add", "SYS_ADMIN", IMG],
            json!({"cap_add": ["SYS_ADMIN"]}),
        ),
        case(
            "capabilities",
            &["--cap-add=all", IMG],
            json!({"cap_add": ["all"]}),
        ),
        case(
            "capabilities",
            &["--cap-add", "cap_sys_admin", IMG],
            json!({"cap_add": ["cap_sys_admin"]}),
        ),
        case(
            "host-namespace",
            &["--pid", "host", IMG],
            json!({"pid": "host"}),
        ),
        case(
            "host-namespace",
            &["--ipc", "host", IMG],
            json!({"ipc": "host"}),
        ),
        case(
            "host-namespace",
            &["--uts", "host", IMG],
            json!({"uts": "host"}),
        ),
        case(
            "host-namespace",
            &["--userns", "host", IMG],
            json!({"userns": "host"}),
        ),
        case(
            "host-namespace",
            &["--network", "host", IMG],
            json!({"network": ["host"]}),
        ),
        case(
            "host-namespace",
            &["--net=host", IMG],
            json!({"network": ["name=host"]}),
        ),
        case(
            "host-namespace",
            &["--cgroupns", "host", IMG],
            json!({"cgroupns": "host"}),
        ),
        case(
            "container-namespace",
            &["--network", "container:foreign", IMG],
            json!({"network": ["container:foreign"]}),
        ),
        case(
            "container-namespace",
            &["--pid", "container:foreign", IMG],
            json!({"pid": "container:foreign"}),
        ),
        case(
            "container-namespace",
            &["--ipc", "container:foreign", IMG],
            json!({"ipc": "container:foreign"}),
        ),
        case(
            "devices",
            &["--device", "/dev/sda", IMG],
            json!({"device": ["/dev/sda"]}),
        ),
        case(
            "devices",
            &["--device", "/dev/sda:/dev/xvda:rw", IMG],
            json!({"device": ["/dev/sda:/dev/xvda:rw"]}),
        ),
        case(
            "device-requests",
            &["--gpus", "all", IMG],
            json!({"gpus": ["all"]}),
        ),
        case(
            "device-requests",
            &["--device", "vendor.com/class=name", IMG],
            json!({"device": ["vendor.com/class=name"]}),
        ),
        case(
            "devices",
            &["--device-cgroup-rule", "b 8:* rwm", IMG],
            json!({"device_cgroup_rule": ["b 8:* rwm"]}),
        ),
        case(
            "security-opt",
            &["--security-opt", "seccomp=unconfined", IMG],
            json!({"security_opt": ["seccomp=unconfined"]}),
        ),
        case(
            "security-opt",
            &["--security-opt", "apparmor=unconfined", IMG],
            json!({"security_opt": ["apparmor=unconfined"]}),
        ),
        case(
            "security-opt",
            &["--security-opt", "systempaths=unconfined", IMG],
            json!({"security_opt": ["systempaths=unconfined"]}),
        ),
        case(
            "security-opt",
            &["--security-opt", "label=disable", IMG],
            json!({"security_opt": ["label=disable"]}),
        ),
        case(
            "security-opt",
            &["--security-opt", "label:disable", IMG],
            json!({"security_opt": ["label:disable"]}),
        ),
        case(
            "security-opt",
            &["--security-opt", "label=type:spc_t", IMG],
            json!({"security_opt": ["label=type:spc_t"]}),
        ),
        case(
            "sysctls",
            &["--sysctl", "net.ipv4.ip_forward=1", IMG],
            json!({"sysctl": ["net.ipv4.ip_forward=1"]}),
        ),
        // The bridge driver's endpoint sysctls, a way around the `sysctls` rule.
        case(
            "networks",
            &[
                "--network",
                "name=bridge,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.forwarding=1",
                IMG,
            ],
            json!({"network": ["name=bridge,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.forwarding=1"]}),
        ),
        case(
            "networks",
            &["--network", "admin-net", IMG],
            json!({"network": ["admin-net"]}),
        ),
        case(
            "volumes-from",
            &["--volumes-from", "foreign", IMG],
            json!({"volumes_from": ["foreign"]}),
        ),
        case(
            "volumes-from",
            &[
                "--volumes-from",
                "mine",
                "--volumes-from",
                "foreign:ro",
                IMG,
            ],
            json!({"volumes_from": ["mine", "foreign:ro"]}),
        ),
        case(
            "links",
            &["--link", "foreign:x", IMG],
            json!({"link": ["foreign:x"]}),
        ),
        // On a user-defined network the link is in the endpoint settings only.
        case(
            "links",
            &["--network", "userdef", "--link", "foreign:x", IMG],
            json!({"network": ["userdef"], "link": ["foreign:x"]}),
        ),
        case("memory", &["-m", "2g", IMG], json!({"memory": "2g"})),
        case(
            "memory",
            &["-m", "512m", "--memory-swap", "-1", IMG],
            json!({"memory": "512m", "memory_swap": "-1"}),
        ),
        case("cpus", &["--cpus", "64", IMG], json!({"cpus": "64"})),
        case(
            "cpus",
            &["--cpu-quota", "400000", IMG],
            json!({"cpu_quota": "400000"}),
        ),
        case(
            "cpus",
            &["--cpu-period", "10000", "--cpu-quota", "30000", IMG],
            json!({"cpu_period": "10000", "cpu_quota": "30000"}),
        ),
        // A negative quota is no limit at all, also beside --cpus.
        case(
            "cpus",
            &["--cpu-quota", "-1", IMG],
            json!({"cpu_quota": "-1"}),
        ),
        case(
            "cpus",
            &["--cpu-period", "100000", "--cpu-quota", "-50000", IMG],
            json!({"cpu_period": "100000", "cpu_quota": "-50000"}),
        ),
        // Throttles name host devices: the daemon's stat of them must not be an oracle.
        case(
            "devices",
            &["--device-read-bps", "/dev/../etc/shadow:1mb", IMG],
            json!({"device_read_bps": ["/dev/../etc/shadow:1mb"]}),
        ),
        case(
            "devices",
            &["--device-write-bps", "/dev/sda:1mb", IMG],
            json!({"device_write_bps": ["/dev/sda:1mb"]}),
        ),
        case(
            "devices",
            &["--device-read-iops", "/dev/../root/.ssh/id_rsa:10", IMG],
            json!({"device_read_iops": ["/dev/../root/.ssh/id_rsa:10"]}),
        ),
        case(
            "devices",
            &["--device-write-iops", "/dev/sda:10", IMG],
            json!({"device_write_iops": ["/dev/sda:10"]}),
        ),
        case(
            "devices",
            &["--blkio-weight-device", "/dev/sda:100", IMG],
            json!({"blkio_weight_device": ["/dev/sda:100"]}),
        ),
        case(
            "labels",
            &[
                "--mount",
                "type=volume,src=v,dst=/v,volume-label=io.berth.owner-id=x",
                IMG,
            ],
            json!({"mount": ["type=volume,src=v,dst=/v,volume-label=io.berth.owner-id=x"]}),
        ),
        case(
            "named-volume",
            &["-v", "theirs:/data", IMG],
            json!({"volume": ["theirs:/data"]}),
        ),
        case(
            "named-volume",
            &["--mount", "type=volume,src=theirs,dst=/data,readonly", IMG],
            json!({"mount": ["type=volume,src=theirs,dst=/data,readonly"]}),
        ),
        case(
            "pids",
            &["--pids-limit", "-1", IMG],
            json!({"pids_limit": "-1"}),
        ),
        case(
            "pids",
            &["--pids-limit", "5000", IMG],
            json!({"pids_limit": "5000"}),
        ),
        case(
            "image-allowlist",
            &["evil/app"],
            json!({"image": "evil/app"}),
        ),
        case(
            "image-allowlist",
            &["127.0.0.1:5000/other/app:1"],
            json!({"image": "127.0.0.1:5000/other/app:1"}),
        ),
        case(
            "image-allowlist",
            &["127.0.0.1:5000/team/sub/app"],
            json!({"image": "127.0.0.1:5000/team/sub/app"}),
        ),
        case("image-id", &[id], json!({"image": id})),
        case(
            "runtime",
            &["--runtime=foo", IMG],
            json!({"runtime": "foo"}),
        ),
        case(
            "cgroup-parent",
            &["--cgroup-parent=/", IMG],
            json!({"cgroup_parent": "/"}),
        ),
        case(
            "ports",
            &["-p", "2222:22", IMG],
            json!({"publish": ["2222:22"]}),
        ),
        case(
            "ports",
            &["-P", "--expose", "80", IMG],
            json!({"publish_all": true, "expose": ["80"]}),
        ),
        case(
            "log-driver",
            &["--log-driver", "syslog", IMG],
            json!({"log_driver": "syslog"}),
        ),
        case(
            "log-driver",
            &["--log-opt", "syslog-address=tcp://10.0.0.1:514", IMG],
            json!({"log_opt": ["syslog-address=tcp://10.0.0.1:514"]}),
        ),
        case(
            "labels",
            &["-l", "io.berth.run-id=someone-elses", IMG],
            json!({"label": ["io.berth.run-id=someone-elses"]}),
        ),
        case(
            "annotations",
            &["--annotation", "run.oci.x=1", IMG],
            json!({"annotation": ["run.oci.x=1"]}),
        ),
        case(
            "restart",
            &["--restart", "always", IMG],
            json!({"restart": "always"}),
        ),
        case(
            "restart",
            &["--restart", "on-failure:3", IMG],
            json!({"restart": "on-failure:3"}),
        ),
        case(
            "oom",
            &["--oom-score-adj", "-500", IMG],
            json!({"oom_score_adj": "-500"}),
        ),
        case(
            "ulimits",
            &["--ulimit", "nofile=1048576:1048576", IMG],
            json!({"ulimit": ["nofile=1048576:1048576"]}),
        ),
    ]
}

#[test]
fn policy_operator_bypasses_are_denied_with_their_rule() {
    let policy = policy();
    for c in bypasses() {
        let from_argv = argv_plan(&c.argv);
        let from_spec = spec_plan(&c.spec);
        // The two forms are the same request, so one check covers both by construction; both
        // are checked anyway.
        assert_eq!(from_argv, from_spec, "{:?}", c.argv);
        for mut plan in [from_argv, from_spec] {
            let before = plan.clone();
            let denial = check_as(&policy, Role::Operator, &mut plan)
                .expect_err(&format!("{:?} must be denied", c.argv));
            assert_eq!(denial.rule, c.rule, "{:?}: {denial}", c.argv);
            assert!(!denial.message.is_empty());
            // A denied plan is not changed (no defaults half-applied).
            assert_eq!(plan, before);
        }
    }
}

#[test]
fn policy_admin_may_do_all_of_it_unchanged() {
    let policy = policy();
    for c in bypasses() {
        for mut plan in [argv_plan(&c.argv), spec_plan(&c.spec)] {
            let before = plan.clone();
            check_as(&policy, Role::Admin, &mut plan)
                .unwrap_or_else(|d| panic!("{:?}: {d}", c.argv));
            assert_eq!(plan, before, "admins get no defaults");
        }
    }
    assert!(policy.for_role(Role::Admin).may_run());
    assert_eq!(policy.for_role(Role::Admin).max_run_seconds(), None);
    // Admins are unrestricted even without a policy file.
    let mut plan = argv_plan(&["--privileged", "-v", "/:/host", "evil/app"]);
    check_as(&Policy::deny_all(), Role::Admin, &mut plan).unwrap();
}

#[test]
fn policy_viewers_and_unconfigured_operators_run_nothing() {
    let mut plan = argv_plan(&[IMG]);
    for (policy, role) in [
        (policy(), Role::Viewer),
        (Policy::deny_all(), Role::Operator),
        (Policy::deny_all(), Role::Viewer),
        (Policy::from_toml("").unwrap(), Role::Operator),
    ] {
        assert!(!policy.for_role(role).may_run());
        let denial = check_as(&policy, role, &mut plan).unwrap_err();
        assert_eq!(denial.rule, "role");
        assert!(denial.message.contains(role.as_str()), "{denial}");
    }
    assert!(policy().for_role(Role::Operator).may_run());
}

#[test]
fn policy_allowed_operator_request_gets_defaults() {
    let policy = policy();
    let host = |p: &Plan| p.body.host_config.clone().unwrap();
    for mut plan in [
        argv_plan(&["--rm", "-it", IMG, "sh"]),
        spec_plan(
            &json!({"image": IMG, "command": ["sh"], "rm": true, "tty": true, "interactive": true}),
        ),
    ] {
        check_as(&policy, Role::Operator, &mut plan).unwrap();
        let h = host(&plan);
        assert_eq!(h.memory, Some(256 << 20));
        assert_eq!(h.nano_cpus, Some(500_000_000));
        assert_eq!(h.pids_limit, Some(256));
    }

    // Values within the maxima stay as asked.
    let mut plan = argv_plan(&["-m", "1g", "--cpus", "2", "--pids-limit", "1024", IMG]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
    let h = host(&plan);
    assert_eq!(
        (h.memory, h.nano_cpus, h.pids_limit),
        (Some(1 << 30), Some(2_000_000_000), Some(1024))
    );

    // A CFS quota counts as the CPUs it amounts to, and a lone period gets a quota, since the
    // daemon refuses NanoCpus with a period.
    let mut plan = argv_plan(&["--cpu-quota", "150000", IMG]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
    assert_eq!(host(&plan).nano_cpus, None);
    let mut plan = argv_plan(&["--cpu-period", "50000", IMG]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
    assert_eq!(
        (host(&plan).cpu_quota, host(&plan).nano_cpus),
        (Some(25000), None)
    );

    // Harmless options and the requester's own containers are fine.
    let mut plan = argv_plan(&[
        "--cap-add",
        "net_bind_service",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--security-opt",
        "no-new-privileges=false",
        "--tmpfs",
        "/run:size=64m",
        "--mount",
        "type=tmpfs,dst=/t",
        "--mount",
        "type=volume,dst=/anon",
        "-v",
        "/data",
        "--read-only",
        "--oom-kill-disable",
        "--volumes-from",
        "mine:ro",
        "--link",
        "mine:db",
        "--pid",
        "container:mine",
        "--ipc",
        "private",
        "--network",
        "none",
        "--mount",
        "type=image,src=berth-fixture:v1,dst=/fixture",
        "--runtime",
        "runc",
        "busybox",
    ]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
    let mut plan = argv_plan(&["--network", "container:mine", "berth-fixture:v2"]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
}

#[test]
fn policy_referenced_containers() {
    let plan = argv_plan(&[
        "--volumes-from",
        "a:ro",
        "--link",
        "b:x",
        "--network",
        "container:c",
        "--pid",
        "container:d",
        "--ipc",
        "container:a",
        IMG,
    ]);
    assert_eq!(
        policy().for_role(Role::Operator).lookups(&plan).containers,
        ["a", "b", "c", "d"]
    );
    let plan = argv_plan(&["--network", "userdef", "--link", "e:y", IMG]);
    assert_eq!(
        policy().for_role(Role::Operator).lookups(&plan).containers,
        ["e"]
    );
    assert!(
        policy()
            .for_role(Role::Operator)
            .lookups(&argv_plan(&[IMG]))
            .containers
            .is_empty()
    );
}

#[test]
fn policy_digest_pinning_and_image_ids() {
    let policy = Policy::from_toml(
        r#"
        [operator]
        allowed_images = ["127.0.0.1:5000/team/*"]
        require_digest = true
        allow_image_ids = true
        "#,
    )
    .unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let pinned = format!("127.0.0.1:5000/team/app@{digest}");
    for mut plan in [argv_plan(&[IMG]), spec_plan(&json!({"image": IMG}))] {
        let denial = check_as(&policy, Role::Operator, &mut plan).unwrap_err();
        assert_eq!(denial.rule, "digest-required");
        assert!(denial.message.contains("@sha256:"), "{denial}");
    }
    let mut plan = argv_plan(&[pinned.as_str()]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
    let mut plan = argv_plan(&[format!("127.0.0.1:5000/team/app:1@{digest}").as_str()]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
    // The allowlist still applies to pinned references.
    let mut plan = argv_plan(&[format!("evil/app@{digest}").as_str()]);
    assert_eq!(
        check_as(&policy, Role::Operator, &mut plan)
            .unwrap_err()
            .rule,
        "image-allowlist"
    );
    // allow_image_ids: an ID is content-addressed, so it counts as pinned.
    let mut plan = argv_plan(&["d".repeat(64).as_str()]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
    // No resource keys: nothing is filled in.
    assert_eq!(plan.body.host_config.unwrap().memory, None);
}

#[test]
fn policy_plan_altered_after_build_is_refused() {
    let mut plan = argv_plan(&[IMG]);
    plan.body.image = Some("evil/app".into());
    assert_eq!(
        check_as(&policy(), Role::Operator, &mut plan)
            .unwrap_err()
            .rule,
        "image-allowlist"
    );
}

#[test]
fn policy_denial_messages_name_the_flag() {
    let policy = policy();
    let message = |args: &[&str]| {
        check_as(&policy, Role::Operator, &mut argv_plan(args))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        message(&["--privileged", IMG]),
        "denied by policy rule `privileged`: --privileged gives the container every capability and every host device"
    );
    assert_eq!(
        message(&["-m", "2g", IMG]),
        "denied by policy rule `memory`: --memory 2g is above the maximum 1g"
    );
    assert_eq!(
        message(&["--cpus", "64", IMG]),
        "denied by policy rule `cpus`: --cpus 64 is above the maximum 2"
    );
    assert_eq!(
        message(&["--cap-add", "cap_sys_admin", IMG]),
        "denied by policy rule `capabilities`: --cap-add CAP_SYS_ADMIN is not in the allowed capabilities"
    );
    assert!(message(&["-v", "/:/host", IMG]).contains("-v /:/host mounts the host path /"));
    assert!(message(&["--gpus", "all", IMG]).contains("--gpus all"));
    assert!(
        message(&["evil/app"]).contains("evil/app:latest is not in the allowed images (127.0.0.1:5000/team/*, berth-fixture:*, busybox)")
    );
    assert!(
        message(&["--mount", "type=volume,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/", IMG])
            .contains("--mount type=volume,target=/x,volume-opt=device=/,volume-opt=o=bind,volume-opt=type=none")
    );
}

#[test]
fn policy_configured_allowances() {
    let policy = Policy::from_toml(
        r#"
        [operator]
        allowed_images = ["**"]
        allowed_capabilities = ["all"]
        allowed_devices = ["/dev/fuse"]
        allowed_sysctls = ["net.ipv4.ping_group_range"]
        allowed_runtimes = ["runsc"]
        allowed_networks = ["default", "team-*"]
        allowed_security_opts = ["systempaths=unconfined"]
        allow_named_volumes = true
        allow_published_ports = true
        "#,
    )
    .unwrap();
    let ok = |args: &[&str]| check_as(&policy, Role::Operator, &mut argv_plan(args));
    for args in [
        &["--cap-add", "all", "x"][..],
        &["--device", "/dev/fuse", "x"],
        &["--sysctl", "net.ipv4.ping_group_range=0 1", "x"],
        &["--runtime", "runsc", "x"],
        &["--network", "team-a", "x"],
        &["--security-opt", "systempaths=unconfined", "x"],
        &["-v", "data:/data", "-p", "8080:80", "x"],
        &["deep/path/image:tag"],
    ] {
        ok(args).unwrap_or_else(|d| panic!("{args:?}: {d}"));
    }
    for (args, rule) in [
        (&["--device", "/dev/fuse0", "x"][..], "devices"),
        (&["--sysctl", "net.ipv4.ip_forward=1", "x"], "sysctls"),
        (&["--network", "bridge", "x"], "networks"),
        // Every network is checked, not only the first.
        (
            &["--network", "team-a", "--network", "admin-net", "x"],
            "networks",
        ),
        (
            &["--security-opt", "seccomp=unconfined", "x"],
            "security-opt",
        ),
        (&["-v", "/etc:/etc", "x"], "host-bind"),
    ] {
        assert_eq!(ok(args).unwrap_err().rule, rule, "{args:?}");
    }
    // No resource maxima: unlimited requests pass and nothing is filled in.
    let mut plan = argv_plan(&["--pids-limit", "-1", "x"]);
    check_as(&policy, Role::Operator, &mut plan).unwrap();
    let h = plan.body.host_config.unwrap();
    assert_eq!(
        (h.memory, h.nano_cpus, h.pids_limit),
        (None, None, Some(-1))
    );
}

#[test]
fn policy_allowed_host_paths() {
    let policy = Policy::from_toml(
        r#"
        [operator]
        allowed_images = ["**"]
        allowed_host_paths = ["/srv/data", "/srv/scratch:rw"]
        "#,
    )
    .unwrap();
    let check = |args: &[&str]| check_as(&policy, Role::Operator, &mut argv_plan(args));
    for args in [
        &["-v", "/srv/data:/d:ro", "x"][..],
        &["-v", "/srv/data/sub/dir:/d:ro,rprivate", "x"],
        &[
            "--mount",
            "type=bind,src=/srv/data/sub,dst=/d,readonly",
            "x",
        ],
        &["-v", "/srv/scratch:/s", "x"],
        &["--mount", "type=bind,src=/srv/scratch,dst=/s", "x"],
    ] {
        check(args).unwrap_or_else(|d| panic!("{args:?}: {d}"));
    }
    for (args, says) in [
        (&["-v", "/srv/data:/d", "x"][..], "read-only"),
        (
            &["--mount", "type=bind,src=/srv/data,dst=/d", "x"],
            "read-only",
        ),
        (&["-v", "/srv/data/../../etc:/d:ro", "x"], "`..`"),
        (&["-v", "/srv/database:/d:ro", "x"], "not among"),
        (&["-v", "/srv/scratch/root:/d:ro", "x"], "symlinks"),
        (&["-v", "/srv/data:/d:ro,z", "x"], "SELinux"),
        (&["-v", "/srv/data:/d:ro,rshared", "x"], "rshared"),
        (
            &[
                "--mount",
                "type=bind,src=/srv/data,dst=/d,readonly,bind-propagation=shared",
                "x",
            ],
            "bind-propagation=shared",
        ),
        (&["--mount", "type=npipe,src=/srv/data,dst=/d", "x"], "pipe"),
    ] {
        let denial = check(args).unwrap_err();
        assert_eq!(denial.rule, "host-bind", "{args:?}");
        assert!(denial.message.contains(says), "{args:?}: {denial}");
    }
    // The same list as the structured spec.
    let mut plan = spec_plan(&json!({"image": "x", "volume": ["/srv/data:/d"]}));
    let denial = check_as(&policy, Role::Operator, &mut plan).unwrap_err();
    assert_eq!(denial.rule, "host-bind");
    // A local volume binding a host path is still a volume option, whatever the list says.
    let volume_bind = [
        "--mount",
        "type=volume,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/srv/data",
        "x",
    ];
    assert_eq!(check(&volume_bind).unwrap_err().rule, "volume-options");

    for bad in [
        r#"allowed_host_paths = ["srv"]"#,
        r#"allowed_host_paths = ["/srv/../etc"]"#,
        r#"allowed_host_paths = ["/srv", "/srv/x:rw"]"#,
        "allowed_host_paths = [\"/srv\"]\nallow_host_binds = true",
    ] {
        let err = Policy::from_toml(&format!("[operator]\n{bad}\n")).unwrap_err();
        assert!(err.to_string().contains("allow"), "{bad}: {err}");
    }
}

#[test]
fn policy_existing_volumes_are_checked_as_created() {
    let policy =
        Policy::from_toml("[operator]\nallowed_images = [\"**\"]\nallow_named_volumes = true\n")
            .unwrap();
    let check =
        |args: &[&str]| check_as(&policy, Role::Operator, &mut argv_plan(args)).map_err(|d| d.rule);
    assert_eq!(check(&["-v", "plain:/data", "x"]), Ok(()));
    assert_eq!(check(&["-v", "new-volume:/data", "x"]), Ok(()));
    // A volume created with o=bind,device=/ is a host bind, whichever flag mounts it.
    assert_eq!(check(&["-v", "bound:/data", "x"]), Err("volume-options"));
    let mount = ["--mount", "type=volume,src=bound,dst=/data", "x"];
    assert_eq!(check(&mount), Err("volume-options"));
    assert_eq!(check(&["-v", "plugin:/data:ro", "x"]), Err("volume-driver"));
    let mut plan = argv_plan(&[
        "-v",
        "plain:/a",
        "--mount",
        "type=volume,src=bound,dst=/b",
        "-v",
        "/h:/c",
        "-v",
        "/anon",
        "x",
    ]);
    assert_eq!(
        policy.for_role(Role::Operator).lookups(&plan).volumes,
        ["bound", "plain"]
    );
    // Admins are not restricted.
    assert_eq!(
        check_as(&policy, Role::Admin, &mut plan).map_err(|d| d.rule),
        Ok(())
    );
}

#[test]
fn policy_host_stability_allowances() {
    let strict = Policy::from_toml("[operator]\nallowed_images = [\"**\"]\n").unwrap();
    let check = |policy: &Policy, args: &[&str]| {
        check_as(policy, Role::Operator, &mut argv_plan(args)).map_err(|d| d.rule)
    };
    // Harmless forms pass: no restart, a positive OOM score, the OOM killer off within -m.
    for args in [
        &["--restart", "no", "x"][..],
        &["--oom-score-adj", "500", "x"],
        &["-m", "64m", "--oom-kill-disable", "x"],
    ] {
        assert_eq!(check(&strict, args), Ok(()), "{args:?}");
    }
    assert_eq!(check(&strict, &["--oom-kill-disable", "x"]), Err("oom"));

    let lenient = Policy::from_toml(
        r#"
        [operator]
        allowed_images = ["**"]
        allow_restart_policies = true
        allow_oom_adjustments = true
        allowed_ulimits = ["nofile"]
        "#,
    )
    .unwrap();
    for args in [
        &["--restart", "unless-stopped", "x"][..],
        &["--oom-score-adj", "-1000", "--oom-kill-disable", "x"],
        &["--ulimit", "nofile=4096", "x"],
    ] {
        assert_eq!(check(&lenient, args), Ok(()), "{args:?}");
    }
    assert_eq!(
        check(&lenient, &["--ulimit", "nproc=10", "x"]),
        Err("ulimits")
    );
}

#[test]
fn policy_toml_parsing() {
    // Unknown keys and tables are errors, so a misspelt rule is never silently ignored.
    let err = Policy::from_toml("[operator]\nallow_privilegd = true\n").unwrap_err();
    assert!(matches!(err, PolicyError::Toml(_)), "{err}");
    assert!(err.to_string().contains("allow_privilegd"), "{err}");
    assert!(Policy::from_toml("[admin]\n").is_err());
    assert!(Policy::from_toml("[viewer]\n").is_err());
    assert!(Policy::from_toml("operator = 1\n").is_err());
    assert!(Policy::from_toml("[operator\n").is_err());

    // Sizes: -m's binary units as strings, or bytes; CPUs as numbers or strings.
    let p = Policy::from_toml(
        "[operator]\ndefault_memory = \"512m\"\nmax_memory = 2147483648\ndefault_cpus = \"1.5\"\nmax_cpus = 4\nmax_pids = 100\n",
    )
    .unwrap();
    let rules = p.for_role(Role::Operator).rules().unwrap();
    assert_eq!(
        rules.memory,
        Limit {
            default: Some(512 << 20),
            max: Some(2 << 30)
        }
    );
    assert_eq!(
        rules.cpus,
        Limit {
            default: Some(1_500_000_000),
            max: Some(4_000_000_000)
        }
    );
    // Without a default, the maximum is the default.
    assert_eq!(
        rules.pids,
        Limit {
            default: Some(100),
            max: Some(100)
        }
    );
    let p = Policy::from_toml("[operator]\nmax_memory = \"1.5GiB\"\nmax_cpus = 0.1\n").unwrap();
    let rules = p.for_role(Role::Operator).rules().unwrap();
    assert_eq!(rules.memory.max, Some(3 << 29));
    assert_eq!(rules.cpus.max, Some(100_000_000));

    let err = Policy::from_toml("[operator]\nmax_memory = \"lots\"\n").unwrap_err();
    assert!(err.to_string().contains("invalid size: 'lots'"), "{err}");
    let err = Policy::from_toml("[operator]\nmax_memory = true\n").unwrap_err();
    assert!(err.to_string().contains("512m"), "{err}");
    let err = Policy::from_toml("[operator]\ndefault_memory = \"2g\"\nmax_memory = \"1g\"\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid policy: default_memory is above max_memory"
    );
    for bad in [
        "max_pids = 0",
        "max_cpus = -1",
        "max_run_seconds = 0",
        "allowed_images = [\"library/busybox\"]",
        "allowed_images = [\"\"]",
        "allowed_devices = [\"sda\"]",
        "allowed_networks = [\" x\"]",
        "max_concurrent_runs = -1",
    ] {
        assert!(
            Policy::from_toml(&format!("[operator]\n{bad}\n")).is_err(),
            "{bad}"
        );
    }

    // Counters.
    let p = policy();
    let op = p.for_role(Role::Operator);
    assert_eq!(
        (
            op.max_concurrent_runs(),
            op.max_run_seconds(),
            op.runs_per_minute()
        ),
        (Some(4), Some(3600), Some(10))
    );
    let viewer = p.for_role(Role::Viewer);
    assert_eq!(
        (viewer.max_concurrent_runs(), viewer.may_run()),
        (None, false)
    );
}

#[test]
fn policy_example_file_is_valid() {
    let p = Policy::from_toml(include_str!("../../../docs/policy.example.toml")).unwrap();
    let op = p.for_role(Role::Operator);
    assert!(op.may_run());
    assert_eq!(op.max_run_seconds(), Some(3600));
    let mut plan = argv_plan(&["127.0.0.1:5000/team/app:1"]);
    check_as(&p, Role::Operator, &mut plan).unwrap();
    let mut plan = argv_plan(&["busybox"]);
    assert_eq!(
        check_as(&p, Role::Operator, &mut plan).unwrap_err().rule,
        "image-allowlist"
    );
}

#[test]
fn policy_load_reads_a_file() {
    let dir = std::env::temp_dir().join(format!("berth-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, POLICY).unwrap();
    assert!(
        Policy::load(&path)
            .unwrap()
            .for_role(Role::Operator)
            .may_run()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let err = Policy::load(&path).unwrap_err();
    assert!(matches!(err, PolicyError::Io { .. }), "{err}");
}

#[test]
fn policy_guest_table_needs_limits_and_allows_no_network_by_default() {
    let guest = r#"
[guest]
allowed_images = ["berth-fixture:*"]
max_memory = "64m"
max_cpus = 0.5
max_pids = 64
"#;
    let p = Policy::from_toml(guest).unwrap();
    assert!(p.for_role(Role::Guest).checks_requests());
    assert!(
        !p.for_role(Role::Operator).may_run(),
        "[guest] gives operators nothing"
    );
    let mut plan = argv_plan(&["--network", "none", "berth-fixture:latest", "sh"]);
    check_as(&p, Role::Guest, &mut plan).unwrap();
    let limits = plan.body.host_config.as_ref().unwrap();
    assert_eq!(
        limits.memory,
        Some(64 * 1024 * 1024),
        "the maximum is the default"
    );
    assert_eq!(limits.pids_limit, Some(64));
    // Without --network the request asks for the default network, which guests lack.
    let mut plan = argv_plan(&["berth-fixture:latest", "sh"]);
    assert_eq!(
        check_as(&p, Role::Guest, &mut plan).unwrap_err().rule,
        "networks"
    );
    let mut plan = argv_plan(&["--network", "none", "--privileged", "berth-fixture:latest"]);
    assert_eq!(
        check_as(&p, Role::Guest, &mut plan).unwrap_err().rule,
        "privileged"
    );

    for key in ["max_memory", "max_cpus", "max_pids"] {
        let without: String = guest
            .lines()
            .filter(|l| !l.starts_with(key))
            .map(|l| format!("{l}\n"))
            .collect();
        let e = Policy::from_toml(&without).unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    }
    let e = Policy::from_toml("[guest]\nbogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn policy_team_tables_replace_the_operator_table_for_their_operators() {
    let p = Policy::from_toml(
        r#"
[operator]
allowed_images = ["berth-fixture:*"]

[team.red]
allowed_images = ["127.0.0.1:5000/red/*"]
allow_published_ports = true
"#,
    )
    .unwrap();
    let allowed = |role: Role, team: &str, args: &[&str]| {
        let plan = argv_plan(args);
        let own = mine();
        let volumes = existing_volumes();
        let facts = Facts {
            role,
            own_containers: &own,
            volumes: &volumes,
        };
        p.for_user(role, team).check(&plan, &facts).map(|_| ())
    };
    let red = ["-p", "8080:80", "127.0.0.1:5000/red/app"];
    assert_eq!(allowed(Role::Operator, "red", &red), Ok(()));
    assert_eq!(
        allowed(Role::Operator, "blue", &red).unwrap_err().rule,
        "image-allowlist"
    );
    assert_eq!(
        allowed(Role::Operator, "red", &["berth-fixture:latest"])
            .unwrap_err()
            .rule,
        "image-allowlist",
        "a team's table replaces [operator], it does not add to it"
    );
    assert!(allowed(Role::Operator, "", &["berth-fixture:latest"]).is_ok());
    assert!(!p.for_user(Role::Viewer, "red").may_run());
    assert!(
        p.for_user(Role::Admin, "red")
            .check(
                &argv_plan(&["--privileged", "x"]),
                &Facts {
                    role: Role::Admin,
                    own_containers: &mine(),
                    volumes: &existing_volumes(),
                }
            )
            .is_ok()
    );

    for bad in [
        "[team.red]\nbogus = true\n",
        "[team.Red]\n",
        "[teams.red]\n",
    ] {
        assert!(Policy::from_toml(bad).is_err(), "{bad}");
    }
    // Only operators without a table of their team's fall back to [operator].
    let only_team = Policy::from_toml("[team.red]\nallowed_images = [\"x\"]\n").unwrap();
    assert!(only_team.for_user(Role::Operator, "red").may_run());
    assert!(!only_team.for_user(Role::Operator, "blue").may_run());
}

/// Found by the `policy_file` fuzz target: with several bad tables, which one the error named
/// depended on a hash map's order, so loading the same file twice could say two things.
#[test]
fn a_file_with_several_bad_teams_always_gets_the_same_error() {
    let file = "[team.Zed]\n[team.Red]\n[team.-a]\n";
    for _ in 0..20 {
        assert_eq!(
            Policy::from_toml(file).unwrap_err().to_string(),
            "invalid policy: [team.-a]: team names are 1-32 of a-z 0-9 . _ -"
        );
    }
}
