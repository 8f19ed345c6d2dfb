//! Differential tests: the same `docker run` arguments given to the official docker CLI
//! (`docker create`) and to Berth (`POST /api/runs` with `"start": false`) must produce
//! containers whose `.Config` and `.HostConfig` are identical, as `docker inspect` shows them;
//! and arguments the CLI rejects must be rejected by Berth too, with the same message where
//! the reference (docker-run-flow.md §5) gives the CLI's wording.
//!
//! Long on purpose: the corpus is a list of cases, each a line, so that one can be added or
//! compared with the CLI's behaviour at a glance.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use berth_tests::*;
use serde_json::{Map, Value};

/// Cases run at the same time (each one makes two containers).
const BATCH: usize = 6;

/// Removes every container and volume the suite created, even when an assertion fails.
#[derive(Default)]
struct Cleanup {
    containers: Mutex<Vec<String>>,
    /// Prefix of every volume name the suite uses.
    volume_prefix: String,
}

impl Cleanup {
    fn container(&self, name: &str) {
        self.containers.lock().unwrap().push(name.to_string());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.containers.lock().unwrap());
        for chunk in names.chunks(50) {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(chunk.iter().map(String::as_str));
            // Names never created are reported missing; that is fine.
            docker(&args);
        }
        if !self.volume_prefix.is_empty() {
            let filter = format!("name={}", self.volume_prefix);
            let (_, out, _) = docker(&["volume", "ls", "-q", "--filter", &filter]);
            for v in out.lines().filter(|v| v.starts_with(&self.volume_prefix)) {
                docker(&["volume", "rm", "-f", v]);
            }
        }
    }
}

/// The argument lists the CLI accepts. `{vol}` in a word is a prefix for named volumes; `{src}`
/// an existing container (for `--volumes-from`, `--link` and `--pid`).
fn accept_corpus(vol: &str, src: &str) -> Vec<Vec<String>> {
    let f = FIXTURE;
    #[rustfmt::skip]
    let cases: &[&[&str]] = &[
        // Plain.
        &[f],
        &[f, "echo", "hello world"],
        // Env and labels.
        &["-e", "A=1", "-e", "B=", "--env=C=x=y", f],
        &["-e", "A=1", "-e", "B=2", "-e", "A=3", f],
        &["-e", "PATH=/usr/bin:/bin", "-e", "HOME=/root", f],
        &["-eFOO=bar baz", "--env", "EMPTY=", f, "env"],
        &["-l", "a=b", "-l", "c", "--label", "d=e f", f],
        &["--label=com.example.x=1", "-l", "a=", f],
        // User, workdir, hostname, domainname.
        &["-u", "1000:1000", "-w", "/tmp", f],
        &["--user=nobody", "--workdir=/srv/app", f],
        &["-h", "myhost", f],
        &["--hostname", "h.example.com", "--domainname", "example.com", f],
        &["--hostname=hostname.domainname", f],
        // Entrypoint and command.
        &["--entrypoint", "/bin/sh", f, "-c", "echo hi"],
        &["--entrypoint=", f, "echo"],
        &["--entrypoint=echo -n", f, "x"],
        &[f, "sh", "-c", "echo --rm -it"],
        // TTY and stdin.
        &["-t", f],
        &["-i", f],
        &["-it", f, "sh"],
        &["-a", "stdout", f],
        &["-a", "STDIN", "-a", "stderr", f],
        &["-i", "-a", "stdout", f],
        &["--tty=false", "--interactive=true", f],
        // Combined short flags and `--`.
        &["-itu", "1000", f],
        &["-itw/tmp", f],
        &["-tie", "X=1", "-Pp8080:80", f],
        &["-e=Y=2", "--", f, "--version"],
        &["--rm", "--", f, "-x", "--"],
        // Ports and expose.
        &["-p", "8080:80", f],
        &["-p", "127.0.0.1:8081:81/udp", "-p", "8082:82/sctp", f],
        &["-p", "[::1]:8083:83", f],
        &["-p", "9000-9002:9000-9002", f],
        &["-p", "80", "-p", "127.0.0.1::90", f],
        &["-p", "9100-9101:91", f],
        &["-p", "published=8084,target=84,protocol=udp", f],
        &["-p", "target=85", "--publish", "published=8086,target=86,mode=host", f],
        &["--expose", "7000-7002/tcp", "--expose=7003/udp", f],
        &["-P", "--expose", "90", f],
        &["--publish=80", "--expose=80-81/tcp", f],
        &["-p", "8087:87", "-p", "8088:87", f],
        // Volumes.
        &["-v", "/data", f],
        &["-v", "{vol}-named:/data", f],
        &["-v", "/tmp:/hosttmp:ro", "-v", "/c2", f],
        &["-v", "/tmp:/hosttmp:z", f],
        &["--volume=/tmp:/hosttmp:ro,Z", f],
        &["-v", "/tmp:/hosttmp:rw,rslave", f],
        &["-v", "{vol}-nocopy:/d:nocopy", "--volume-driver", "local", f],
        &["--volumes-from", "{src}:ro", f],
        // --mount of each type.
        &["--mount", "type=bind,src=/tmp,dst=/m", f],
        &["--mount", "type=bind,source=/tmp,target=/m,readonly,bind-propagation=rslave", f],
        &["--mount", "type=bind,src=/tmp,dst=/m,bind-recursive=disabled", f],
        &["--mount", "type=volume,src={vol}-m,dst=/v,volume-nocopy", f],
        &["--mount", "type=volume,dst=/anon", f],
        &["--mount", "dst=/default-type", f],
        &["--mount", "src={vol}-labels,dst=/v,volume-label=a=b,volume-label=c=d,volume-driver=local", f],
        &["--mount", "type=volume,source={vol}-opt,destination=/v,ro=true,\"volume-opt=o=size=1m\",volume-opt=type=tmpfs,volume-opt=device=tmpfs", f],
        &["--mount", "type=tmpfs,dst=/t", f],
        &["--mount", "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770", f],
        // tmpfs.
        &["--tmpfs", "/run", f],
        &["--tmpfs", "/run:rw,size=64m,mode=1777", "--tmpfs=/cache:noexec", f],
        // Resources.
        &["-m", "512m", f],
        &["--memory", "1g", "--memory-swap", "2g", f],
        &["-m", "1.5g", "--memory-swap=-1", f],
        &["-m", "100000000", "--memory-reservation", "64MiB", f],
        &["--memory-reservation", "256m", "--memory-swappiness", "10", f],
        &["--memory-swappiness=0", "--oom-kill-disable", "-m", "64m", f],
        &["--cpus", "0.5", f],
        &["--cpus=1.25", "-c", "512", f],
        &["--cpu-period", "100000", "--cpu-quota", "50000", f],
        &["--cpuset-cpus", "0", "--cpuset-mems", "0", f],
        &["--cpu-shares=1024", "--cpuset-cpus=0-1", f],
        &["--pids-limit", "100", f],
        &["--pids-limit=-1", f],
        &["--blkio-weight", "300", "--blkio-weight-device", "/dev/null:100", f],
        &["--device-read-bps", "/dev/null:1mb", "--device-write-iops", "/dev/null:1000", f],
        &["--device-write-bps=/dev/null:10k", "--device-read-iops=/dev/null:5", f],
        &["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=512", f],
        &["--oom-score-adj", "500", "--shm-size", "128m", f],
        &["--shm-size=1g", "--oom-score-adj=-100", f],
        // `--kernel-memory` is checked in `kernel_memory_and_api_version_checks` below: the CLI
        // sends it only to API 1.40/1.41, which `Plan::create_json` does once the server
        // uses it.
        // Restart policies.
        &["--restart", "always", f],
        &["--restart=on-failure:3", f],
        &["--restart", "on-failure", f],
        &["--restart", "unless-stopped", f],
        &["--restart=no", "--rm", f],
        &["--rm", f],
        // Capabilities, security, sysctls, devices.
        &["--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--cap-drop", "ALL", f],
        &["--cap-add=all", "--cap-drop", "chown", "--cap-drop", "Cap_Kill", f],
        &["--cap-add", "NET_ADMIN", "--cap-add", "net_admin", f],
        &["--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined", f],
        &["--security-opt", "label=disable", "--security-opt=apparmor=unconfined", f],
        &["--security-opt", "systempaths=unconfined", f],
        &["--security-opt", "no-new-privileges:true", "--security-opt", "label:disable", f],
        &["--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shm_rmid_forced=1", f],
        &["--sysctl=fs.mqueue.msg_max=100", f],
        &["--device", "/dev/null", f],
        &["--device", "/dev/null:/dev/n2:r", "--device=/dev/zero:rw", f],
        &["--device-cgroup-rule", "c 1:3 rwm", "--device-cgroup-rule=b *:* m", f],
        &["--privileged", f],
        &["--read-only", "--init", f],
        &["--init=false", f],
        // DNS and hosts.
        &["--dns", "1.1.1.1", "--dns", "2001:db8::1", f],
        &["--dns-search", "example.com", "--dns-option", "ndots:2", "--dns-opt=timeout:1", f],
        &["--add-host", "h:192.0.2.10", "--add-host", "h6=[2001:db8::2]", f],
        &["--add-host=v6:2001:db8::3", f],
        // Healthcheck.
        &["--health-cmd", "true", "--health-interval", "10s", "--health-timeout", "2s", f],
        &["--health-cmd=/check.sh -q", "--health-retries", "3", "--health-start-period", "1m30s", f],
        &["--health-interval", "500ms", f],
        &["--no-healthcheck", f],
        // Logging.
        &["--log-driver", "none", f],
        &["--log-driver=json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3", f],
        &["--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=4m", f],
        // Networks.
        &["--network", "none", f],
        &["--network=host", f],
        &["--net", "none", "-h", "isolated", f],
        &["--network", "host", "-p", "8089:89", f],
        &["--network", "name=none", f],
        &["--link", "{src}:db", f],
        &["--network", "container:{src}", f],
        &["--link", "{src}", "--volumes-from", "{src}", f],
        // Namespaces.
        &["--ipc", "container:{src}", "--uts", "host", f],
        &["--ipc", "private", f],
        &["--ipc=shareable", f],
        &["--ipc", "none", "--pid", "host", f],
        &["--ipc=host", "--uts=host", f],
        &["--userns", "host", f],
        &["--cgroupns", "private", f],
        &["--cgroupns=host", f],
        &["--pid", "container:{src}", f],
        // Everything else.
        &["--runtime", "runc", f],
        &["--stop-signal", "SIGINT", "--stop-timeout", "5", f],
        &["--stop-signal=9", f],
        &["--group-add", "10", "--group-add", "audio", f],
        &["--platform", "linux/amd64", f],
        &["--isolation", "default", f],
        &["--gpus", "all", f],
        &["--gpus", "2", f],
        &["--gpus", "\"device=0,1\",capabilities=compute", f],
        &["--pull", "never", "-q", f],
        &["--cgroup-parent", "/berth-test", f],
        // Repeats, zeros and last-one-wins.
        &["--init", "--init=false", "-w", "/a", "-w", "/b", f],
        &["-v", "/data", "-v", "/data", "-v", "/tmp:/t", "-v", "/tmp:/t", f],
        &["--tmpfs", "/run", "--tmpfs", "/run:size=1m", f],
        &["--memory-swap", "0", "--cpus", "0", "--stop-timeout=-1", f],
        &["--health-retries", "0", "--health-cmd", "", f],
        &["--ulimit", "nofile=-1", "--ulimit", "core=0:0", f],
        &["-p", "0.0.0.0:8091:91", "-p", "[::]:8092:92/udp", f],
        &["--expose", "8080/ncp", f],
        &["--log-driver", "json-file", "--log-opt", "labels=a,b", "--log-opt", "env=X", f],
        &["--domainname", "example.org", "--dns", "::ffff:1.2.3.4", f],
        &["--network", "none", "--dns", "9.9.9.9", "--add-host", "a.b:192.0.2.1", f],
        &["--mount", "type=bind,src=/tmp,dst=/m,consistency=cached,bind-nonrecursive", f],
        &["--mount", "type=tmpfs,destination=/t,readonly=false", "--mount", "type=volume,src={vol}-ro,dst=/x,readonly=1", f],
        &["--security-opt", "apparmor:unconfined", "--security-opt", "seccomp:unconfined", f],
        // Signs Go's ParseInt/Atoi take (ParseUint does not: see the reject corpus).
        &["--ulimit", "nofile=+5:+6", "--restart", "on-failure:+3", "--stop-timeout", "+5", f],
        &["--health-retries", "+2", "--health-cmd", "true", "--cpu-shares", "+512", f],
        // Go's digit separators in base-0 integers.
        &["--cpu-shares", "1_024", "--pids-limit", "0x_40", "--blkio-weight", "0_700", f],
        // A bit of everything at once.
        &["-it", "--rm", "-e", "A=1", "-l", "k=v", "-p", "127.0.0.1:8090:80", "-v", "/tmp:/h:ro", "--tmpfs", "/run", "-m", "256m", "--cpus", "1", "--cap-drop", "all", "--cap-add", "chown", "--read-only", "--init", "--network", "none", "-w", "/", "-u", "0", f, "sh", "-c", "exit 0"],
    ];
    cases
        .iter()
        .map(|case| {
            case.iter()
                .map(|w| w.replace("{vol}", vol).replace("{src}", src))
                .collect()
        })
        .collect()
}

/// Arguments the CLI rejects, with the CLI's wording where the reference gives it (any one of
/// the alternatives: the master wording and the one of the installed v28 CLI may differ).
fn reject_corpus() -> Vec<(Vec<&'static str>, &'static [&'static str])> {
    vec![
        (
            vec!["--memory=invalid"],
            &[r#"invalid argument "invalid" for "-m, --memory" flag: invalid size: 'invalid'"#],
        ),
        (vec!["-m", "10x"], &[]),
        (
            vec!["--cpu-shares", "1__0"],
            &[
                r#"invalid argument "1__0" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "1__0": invalid syntax"#,
            ],
        ),
        (
            vec!["--shm-size=a128m"],
            &[
                r#"invalid argument "a128m" for "--shm-size" flag: strconv.ParseFloat: parsing "a128": invalid syntax"#,
            ],
        ),
        (
            vec!["-p", "published=1500,target:444"],
            &["invalid publish opts format (should be name=value but got 'target:444')"],
        ),
        (vec!["-p", "80:99999"], &[]),
        (vec!["-p", "80:80/xyz"], &[]),
        (vec!["-p", "+1:80"], &[]),
        (vec!["--blkio-weight", "+300"], &[]),
        (vec!["--blkio-weight-device", "/dev/null:+300"], &[]),
        (vec!["--device-read-iops", "/dev/null:+5"], &[]),
        (vec!["-p", "1.2.3:80:80"], &[]),
        (
            vec!["--expose=8080:9090"],
            &[
                "invalid range format for --expose: invalid start port '8080:9090': invalid syntax",
                "invalid port format for --expose: 8080:9090",
            ],
        ),
        (vec!["--expose=1234567890-8080/tcp"], &[]),
        (
            vec!["--restart", ":1"],
            &["invalid restart policy format: no policy provided before colon"],
        ),
        (
            vec!["--restart", "always:2:3"],
            &["invalid restart policy format: maximum retry count must be an integer"],
        ),
        (
            vec!["--restart", "on-failure:x"],
            &["invalid restart policy format: maximum retry count must be an integer"],
        ),
        (vec!["--restart", "anything:123"], &[]),
        (
            vec!["--rm", "--restart=always"],
            &["conflicting options: cannot specify both --restart and --rm"],
        ),
        (
            vec!["--no-healthcheck", "--health-cmd=/check.sh -q"],
            &["--no-healthcheck conflicts with --health-* options"],
        ),
        (vec!["--health-interval", "1d"], &[]),
        (vec!["--health-timeout=-1s"], &[]),
        (
            vec!["--log-driver=none", "--log-opt=anything"],
            &["invalid logging opts for driver none"],
        ),
        (vec!["--pid=container:"], &["--pid: invalid PID mode"]),
        (vec!["--uts=container:"], &["--uts: invalid UTS mode"]),
        (vec!["--userns", "bogus"], &[]),
        (vec!["--cgroupns", "bogus"], &[]),
        (vec!["-z"], &["unknown shorthand flag: 'z' in -z"]),
        (vec!["--nope"], &[]),
        (
            vec!["-a", "invalid"],
            &[
                r#"invalid argument "invalid" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR"#,
            ],
        ),
        (vec!["--device=./"], &["./ is not an absolute path"]),
        (vec!["--device=a:/b:ro"], &["bad mode specified: ro"]),
        (
            vec!["--pull", "busybox:latest"],
            &[
                r#"invalid pull option: 'busybox:latest': must be one of "always", "missing" or "never""#,
            ],
        ),
        (
            vec![
                "--network",
                "name=net1,alias=web1",
                "--network-alias",
                "web1",
            ],
            &["conflicting options: cannot specify both --network-alias and per-network alias"],
        ),
        (
            vec!["--network", "duplicate", "--network", "name=duplicate"],
            &[r#"network "duplicate" is specified multiple times"#],
        ),
        (
            vec!["--network", "name=host", "--network", "net1"],
            &[
                "conflicting options: cannot attach both user-defined and non-user-defined network-modes",
            ],
        ),
        (vec!["--network", "none", "--network-alias", "foo"], &[]),
        (
            vec!["--mac-address=invalidMacAddress"],
            &["invalidMacAddress is not a valid mac address"],
        ),
        (vec!["--cpus", "abc"], &[]),
        (vec!["--memory-swappiness", "200"], &[]),
        (vec!["--ulimit", "nofile"], &[]),
        (vec!["--dns", "foo"], &[]),
        (vec!["--sysctl", "kernel.foo=1"], &[]),
        (vec!["-l", "=x"], &[]),
        (vec!["--security-opt", "foo"], &[]),
        (vec!["--add-host", "foo"], &[]),
        (vec!["--link", "a:b:c"], &[]),
        (vec!["--mount", "src=/tmp"], &[]),
        (vec!["--gpus", "foo=bar"], &[]),
        (vec!["--init=maybe"], &[]),
        (vec!["--storage-opt", "foo"], &[]),
        (vec!["--pids-limit", "x"], &[]),
        (vec!["--stop-timeout", "x"], &[]),
        (vec!["--isolation", "hyperv"], &[]),
        // Refused by the daemon (the CLI passes them on): Berth passes its 400 on.
        (vec!["--oom-score-adj", "2000"], &[]),
        (vec!["-m", "1m"], &[]),
        (vec!["--cpus", "1", "--cpu-quota", "1000"], &[]),
        (vec!["--memory-reservation", "1g", "-m", "512m"], &[]),
        (vec!["--tmpfs", "relative"], &[]),
        (vec!["-v", "/a:/b:c:d"], &[]),
        (vec!["-v", "/tmp:/b:bogus"], &[]),
        (vec!["-v", "/tmp:ro"], &[]),
        (vec!["--mount", "type=bind,dst=/x"], &[]),
        (vec!["--mount", "type=image,src=x,dst=/y"], &[]),
        (vec!["--entrypoint="], &[]),
        (vec!["--mount", "type=volume,dst=/x,readonly=1"], &[]),
    ]
}

/// What may legitimately differ between the two containers is removed; the rest is kept.
fn normalize(inspect: &Value) -> (Value, Value) {
    let id = inspect["Id"].as_str().unwrap_or_default();
    let mut config = inspect["Config"].clone();
    // The daemon names a container's host after its ID when no --hostname is given.
    if config["Hostname"].as_str() == id.get(..12) {
        config["Hostname"] = Value::String("<container id>".into());
    }
    // The v28 CLI sends the variables in the order of a Go map (random: it merges them with
    // its proxy settings through a map), so only the set of variables can be compared.
    if let Some(env) = config["Env"].as_array_mut() {
        env.sort_by_key(|v| v.as_str().unwrap_or_default().to_string());
    }
    // Berth's own labels (run id and the like).
    if let Some(labels) = config["Labels"].as_object_mut() {
        labels.retain(|k, _| !k.starts_with(berth_shared::LABEL_PREFIX));
    }
    let mut host = inspect["HostConfig"].clone();
    // `docker inspect` shows a link as `/<linked>:/<this container's name>/<alias>`, and the
    // two containers necessarily have different names.
    let own = format!("{}/", inspect["Name"].as_str().unwrap_or_default());
    if let Some(links) = host["Links"].as_array_mut() {
        for link in links {
            if let Some(l) = link.as_str() {
                *link = Value::String(l.replace(&own, "<name>/"));
            }
        }
    }
    (config, host)
}

/// The keys whose values differ, as `{key: {"cli": …, "berth": …}}`.
fn diff(cli: &Value, berth: &Value) -> Map<String, Value> {
    let empty = Map::new();
    let (a, b) = (
        cli.as_object().unwrap_or(&empty),
        berth.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            (
                k.clone(),
                serde_json::json!({"cli": a.get(k), "berth": b.get(k)}),
            )
        })
        .collect()
}

fn blocking_docker(args: Vec<String>) -> tokio::task::JoinHandle<(bool, String, String)> {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs)
    })
}

/// Posts `argv` to Berth with `"start": false`; returns the status and the JSON body.
async fn berth_create(argv: Vec<String>) -> (u16, Value) {
    create_run(serde_json::json!({"argv": argv, "start": false})).await
}

/// One accept case: `None` when identical, else a readable report.
async fn compare(args: Vec<String>, cleanup: Arc<Cleanup>) -> Option<String> {
    let (cli_name, berth_name) = (unique("diff-cli"), unique("diff-berth"));
    cleanup.container(&cli_name);
    cleanup.container(&berth_name);
    let mut cli_args = vec!["create".to_string(), "--name".into(), cli_name.clone()];
    cli_args.extend(args.iter().cloned());
    let mut berth_args = vec![format!("--name={berth_name}")];
    berth_args.extend(args.iter().cloned());
    // The CLI first: a named volume it creates is then the same one Berth's container uses.
    let (ok, _, stderr) = blocking_docker(cli_args).await.unwrap();
    if !ok {
        return Some(format!("{args:?}: docker create failed: {stderr}"));
    }
    let (status, body) = berth_create(berth_args).await;
    if status != 201 {
        return Some(format!("{args:?}: Berth answered {status}: {body}"));
    }
    let (ok, out, stderr) =
        blocking_docker(vec!["inspect".into(), cli_name.clone(), berth_name.clone()])
            .await
            .unwrap();
    if !ok {
        return Some(format!("{args:?}: docker inspect failed: {stderr}"));
    }
    let both: Vec<Value> = serde_json::from_str(&out).expect("inspect prints JSON");
    let (cli_config, cli_host) = normalize(&both[0]);
    let (berth_config, berth_host) = normalize(&both[1]);
    let mut differences = Map::new();
    for (section, a, b) in [
        ("Config", &cli_config, &berth_config),
        ("HostConfig", &cli_host, &berth_host),
    ] {
        let d = diff(a, b);
        if !d.is_empty() {
            differences.insert(section.to_string(), Value::Object(d));
        }
    }
    if differences.is_empty() {
        None
    } else {
        Some(format!(
            "{args:?}: differs:\n{}",
            serde_json::to_string_pretty(&differences).unwrap()
        ))
    }
}

/// One reject case: `None` when both reject it (with the expected wording), else a report.
async fn reject(args: Vec<&'static str>, wording: &'static [&'static str]) -> Option<String> {
    let name = unique("diff-reject");
    let mut argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    argv.push(FIXTURE.into());
    let mut cli_args = vec!["create".to_string(), "--name".into(), name.clone()];
    cli_args.extend(argv.iter().cloned());
    let (ok, _, cli_err) = blocking_docker(cli_args).await.unwrap();
    if ok {
        docker(&["rm", "-f", "-v", &name]);
        return Some(format!("{args:?}: the docker CLI accepted it"));
    }
    let mut berth_args = vec![format!("--name={}", unique("diff-reject-berth"))];
    berth_args.extend(argv);
    let (status, body) = berth_create(berth_args).await;
    if let Some(id) = body["container_id"].as_str().filter(|id| !id.is_empty()) {
        docker(&["rm", "-f", "-v", id]);
    }
    let message = body["error"]["message"].as_str().unwrap_or_default();
    if status != 400 {
        return Some(format!(
            "{args:?}: Berth answered {status} (want 400): {body}; the CLI said: {cli_err}"
        ));
    }
    if !wording.is_empty() {
        if !wording.contains(&message) {
            return Some(format!(
                "{args:?}: Berth said {message:?}, the reference says one of {wording:?}"
            ));
        }
        if !wording.iter().any(|w| cli_err.contains(w)) {
            return Some(format!(
                "{args:?}: the CLI said {cli_err:?}, the reference says one of {wording:?}"
            ));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_and_berth_agree() {
    gateway();
    let tag = unique("diff");
    let cleanup = Arc::new(Cleanup {
        containers: Mutex::default(),
        volume_prefix: format!("berthtest-{}", std::process::id()),
    });
    // A container for --volumes-from, --link and --pid=container:.
    let src = format!("{tag}-src");
    cleanup.container(&src);
    let (ok, _, err) = docker(&["create", "--name", &src, "-v", "/srcvol", FIXTURE]);
    assert!(ok, "source container: {err}");

    let accept = accept_corpus(&cleanup.volume_prefix, &src);
    let mut failures = Vec::new();
    for batch in accept.chunks(BATCH) {
        let tasks: Vec<_> = batch
            .iter()
            .map(|args| tokio::spawn(compare(args.clone(), cleanup.clone())))
            .collect();
        for t in tasks {
            if let Some(f) = t.await.unwrap() {
                failures.push(f);
            }
        }
    }
    let accept_failures = failures.len();
    let rejects = reject_corpus();
    for batch in rejects.chunks(BATCH) {
        let tasks: Vec<_> = batch
            .iter()
            .map(|(args, wording)| tokio::spawn(reject(args.clone(), wording)))
            .collect();
        for t in tasks {
            if let Some(f) = t.await.unwrap() {
                failures.push(f);
            }
        }
    }
    println!(
        "differential: {} argument lists identical, {} rejected by both",
        accept.len() - accept_failures,
        rejects.len() - (failures.len() - accept_failures)
    );
    drop(cleanup);
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree:\n\n{}",
        failures.len(),
        accept.len() + rejects.len(),
        failures.join("\n\n")
    );
}

/// What the CLI does differently by API version, checked against `Plan::create_json` for the
/// engine's own version: the flags and features it refuses on an older daemon (with its
/// message), and `--kernel-memory`, which it sends to API 1.40 and 1.41 only. The gateway
/// itself still sends `plan.body` (see the final report: the server should send
/// `plan.create_json(negotiated version)`), so these go through the shared plan, not REST.
#[test]
fn kernel_memory_and_api_version_checks() {
    use berth_shared::{argv, plan};
    let (ok, version, err) = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(ok, "docker version: {err}");
    let version = version.trim();
    let mac = "92:d0:c6:0a:29:33";
    let network_mac = format!("name=none,mac-address={mac}");
    let cases: [&[&str]; 6] = [
        &["--annotation", "a=b"],
        &["--health-start-interval", "1s"],
        &["--health-start-interval", "0s", "--annotation", "x=y"],
        &["--mac-address", mac],
        &["--network", &network_mac],
        &["--cgroupns", "private", "--gpus", "all"],
    ];
    let mut refused = 0;
    for args in cases {
        let mut argv_: Vec<&str> = args.to_vec();
        argv_.push(FIXTURE);
        let berth = plan::build(&argv::parse(&argv_).unwrap())
            .unwrap()
            .create_json(version);
        let name = unique("diff-version");
        let mut cli = vec!["create", "--name", &name];
        cli.extend(&argv_);
        let (cli_ok, _, cli_err) = docker(&cli);
        docker(&["rm", "-f", "-v", &name]);
        match berth {
            Ok(_) => assert!(cli_ok, "{args:?}: Berth accepts, the CLI said {cli_err}"),
            Err(e) => {
                refused += 1;
                assert!(!cli_ok, "{args:?}: the CLI accepts, Berth says {e}");
                assert!(
                    cli_err.contains(&e.to_string()),
                    "{args:?}: Berth says {e:?}, the CLI said {cli_err:?}"
                );
            }
        }
    }
    if version == "1.41" {
        // Only --cgroupns and --gpus are old enough for this engine.
        assert_eq!(refused, 5);
    }

    let name = unique("diff-kmem");
    let (ok, _, err) = docker(&["create", "--name", &name, "--kernel-memory", "64m", FIXTURE]);
    let (_, out, _) = docker(&[
        "inspect",
        "--format",
        "{{json .HostConfig.KernelMemory}}",
        &name,
    ]);
    docker(&["rm", "-f", "-v", &name]);
    assert!(ok, "docker create --kernel-memory: {err}");
    let cli: i64 = out.trim().parse().expect("KernelMemory is a number");
    let body = plan::build(&argv::parse(&["--kernel-memory", "64m", FIXTURE]).unwrap())
        .unwrap()
        .create_json(version)
        .unwrap();
    assert_eq!(
        body["HostConfig"]["KernelMemory"].as_i64().unwrap_or(0),
        cli
    );
}
