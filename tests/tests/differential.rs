//! Differential tests: the same `docker run` arguments given to the official docker CLI
//! (`docker create`) and to Berth (`POST /api/runs` with `"start": false`) must produce
//! containers whose `.Config` and `.HostConfig` are identical, as `docker inspect` shows them;
//! and arguments the CLI rejects must be rejected by Berth too, with the same message where
//! the reference (docker-run-flow.md §5) gives the CLI's wording.

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

/// The argument lists the CLI accepts. `vol` is a prefix for named volumes; `src` an existing
/// container (for `--volumes-from` and `--link`).
fn accept_corpus(vol: &str, src: &str) -> Vec<Vec<String>> {
    let f = FIXTURE;
    let cases: Vec<Vec<String>> = vec![
        // Plain.
        vec![f.into()],
        vec![f.into(), "echo".into(), "hello world".into()],
        // Env and labels.
        vec!["-e".into(), "A=1".into(), "-e".into(), "B=".into(), "--env=C=x=y".into(), f.into()],
        vec!["-eFOO=bar baz".into(), "--env".into(), "EMPTY=".into(), f.into(), "env".into()],
        vec!["-l".into(), "a=b".into(), "-l".into(), "c".into(), "--label".into(), "d=e f".into(), f.into()],
        vec!["--label=com.example.x=1".into(), "-l".into(), "a=".into(), f.into()],
        // User, workdir, hostname, domainname.
        vec!["-u".into(), "1000:1000".into(), "-w".into(), "/tmp".into(), f.into()],
        vec!["--user=nobody".into(), "--workdir=/srv/app".into(), f.into()],
        vec!["-h".into(), "myhost".into(), f.into()],
        vec!["--hostname".into(), "h.example.com".into(), "--domainname".into(), "example.com".into(), f.into()],
        vec!["--hostname=hostname.domainname".into(), f.into()],
        // Entrypoint and command.
        vec!["--entrypoint".into(), "/bin/sh".into(), f.into(), "-c".into(), "echo hi".into()],
        vec!["--entrypoint=".into(), f.into()],
        vec!["--entrypoint=echo -n".into(), f.into(), "x".into()],
        vec![f.into(), "sh".into(), "-c".into(), "echo --rm -it".into()],
        // TTY and stdin.
        vec!["-t".into(), f.into()],
        vec!["-i".into(), f.into()],
        vec!["-it".into(), f.into(), "sh".into()],
        vec!["-a".into(), "stdout".into(), f.into()],
        vec!["-a".into(), "STDIN".into(), "-a".into(), "stderr".into(), f.into()],
        vec!["-i".into(), "-a".into(), "stdout".into(), f.into()],
        vec!["--tty=false".into(), "--interactive=true".into(), f.into()],
        // Combined short flags and `--`.
        vec!["-itu".into(), "1000".into(), f.into()],
        vec!["-itw/tmp".into(), f.into()],
        vec!["-tie".into(), "X=1".into(), "-Pp8080:80".into(), f.into()],
        vec!["-e=Y=2".into(), "--".into(), f.into(), "--version".into()],
        vec!["--rm".into(), "--".into(), f.into(), "-x".into(), "--".into()],
        // Ports and expose.
        vec!["-p".into(), "8080:80".into(), f.into()],
        vec!["-p".into(), "127.0.0.1:8081:81/udp".into(), "-p".into(), "8082:82/sctp".into(), f.into()],
        vec!["-p".into(), "[::1]:8083:83".into(), f.into()],
        vec!["-p".into(), "9000-9002:9000-9002".into(), f.into()],
        vec!["-p".into(), "80".into(), "-p".into(), "127.0.0.1::90".into(), f.into()],
        vec!["-p".into(), "9100-9101:91".into(), f.into()],
        vec!["-p".into(), "published=8084,target=84,protocol=udp".into(), f.into()],
        vec!["-p".into(), "target=85".into(), "--publish".into(), "published=8086,target=86,mode=host".into(), f.into()],
        vec!["--expose".into(), "7000-7002/tcp".into(), "--expose=7003/udp".into(), f.into()],
        vec!["-P".into(), "--expose".into(), "90".into(), f.into()],
        vec!["--publish=80".into(), "--expose=80-81/tcp".into(), f.into()],
        vec!["-p".into(), "8087:87".into(), "-p".into(), "8088:87".into(), f.into()],
        // Volumes.
        vec!["-v".into(), "/data".into(), f.into()],
        vec!["-v".into(), format!("{vol}-named:/data"), f.into()],
        vec!["-v".into(), "/tmp:/hosttmp:ro".into(), "-v".into(), "/c2".into(), f.into()],
        vec!["-v".into(), "/tmp:/hosttmp:z".into(), f.into()],
        vec!["--volume=/tmp:/hosttmp:ro,Z".into(), f.into()],
        vec!["-v".into(), "/tmp:/hosttmp:rw,rslave".into(), f.into()],
        vec!["-v".into(), format!("{vol}-nocopy:/d:nocopy"), "--volume-driver".into(), "local".into(), f.into()],
        vec!["--volumes-from".into(), format!("{src}:ro"), f.into()],
        // --mount of each type.
        vec!["--mount".into(), "type=bind,src=/tmp,dst=/m".into(), f.into()],
        vec!["--mount".into(), "type=bind,source=/tmp,target=/m,readonly,bind-propagation=rslave".into(), f.into()],
        vec!["--mount".into(), "type=bind,src=/tmp,dst=/m,bind-recursive=disabled".into(), f.into()],
        vec!["--mount".into(), format!("type=volume,src={vol}-m,dst=/v,volume-nocopy"), f.into()],
        vec!["--mount".into(), "type=volume,dst=/anon".into(), f.into()],
        vec!["--mount".into(), "dst=/default-type".into(), f.into()],
        vec!["--mount".into(), format!("src={vol}-labels,dst=/v,volume-label=a=b,volume-label=c=d,volume-driver=local"), f.into()],
        vec!["--mount".into(), format!("type=volume,source={vol}-opt,destination=/v,ro=true,\"volume-opt=o=size=1m\",volume-opt=type=tmpfs,volume-opt=device=tmpfs"), f.into()],
        vec!["--mount".into(), "type=tmpfs,dst=/t".into(), f.into()],
        vec!["--mount".into(), "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770".into(), f.into()],
        // tmpfs.
        vec!["--tmpfs".into(), "/run".into(), f.into()],
        vec!["--tmpfs".into(), "/run:rw,size=64m,mode=1777".into(), "--tmpfs=/cache:noexec".into(), f.into()],
        // Resources.
        vec!["-m".into(), "512m".into(), f.into()],
        vec!["--memory".into(), "1g".into(), "--memory-swap".into(), "2g".into(), f.into()],
        vec!["-m".into(), "1.5g".into(), "--memory-swap=-1".into(), f.into()],
        vec!["-m".into(), "100000000".into(), "--memory-reservation".into(), "64MiB".into(), f.into()],
        vec!["--memory-reservation".into(), "256m".into(), "--memory-swappiness".into(), "10".into(), f.into()],
        vec!["--memory-swappiness=0".into(), "--oom-kill-disable".into(), "-m".into(), "64m".into(), f.into()],
        vec!["--cpus".into(), "0.5".into(), f.into()],
        vec!["--cpus=1.25".into(), "-c".into(), "512".into(), f.into()],
        vec!["--cpu-period".into(), "100000".into(), "--cpu-quota".into(), "50000".into(), f.into()],
        vec!["--cpuset-cpus".into(), "0".into(), "--cpuset-mems".into(), "0".into(), f.into()],
        vec!["--cpu-shares=1024".into(), "--cpuset-cpus=0-1".into(), f.into()],
        vec!["--pids-limit".into(), "100".into(), f.into()],
        vec!["--pids-limit=-1".into(), f.into()],
        vec!["--blkio-weight".into(), "300".into(), "--blkio-weight-device".into(), "/dev/null:100".into(), f.into()],
        vec!["--device-read-bps".into(), "/dev/null:1mb".into(), "--device-write-iops".into(), "/dev/null:1000".into(), f.into()],
        vec!["--device-write-bps=/dev/null:10k".into(), "--device-read-iops=/dev/null:5".into(), f.into()],
        vec!["--ulimit".into(), "nofile=1024:2048".into(), "--ulimit".into(), "nproc=512".into(), f.into()],
        vec!["--oom-score-adj".into(), "500".into(), "--shm-size".into(), "128m".into(), f.into()],
        vec!["--shm-size=1g".into(), "--oom-score-adj=-100".into(), f.into()],
        vec!["--kernel-memory".into(), "64m".into(), f.into()],
        // Restart policies.
        vec!["--restart".into(), "always".into(), f.into()],
        vec!["--restart=on-failure:3".into(), f.into()],
        vec!["--restart".into(), "on-failure".into(), f.into()],
        vec!["--restart".into(), "unless-stopped".into(), f.into()],
        vec!["--restart=no".into(), "--rm".into(), f.into()],
        vec!["--rm".into(), f.into()],
        // Capabilities, security, sysctls, devices.
        vec!["--cap-add".into(), "net_admin".into(), "--cap-add".into(), "CAP_SYS_TIME".into(), "--cap-drop".into(), "ALL".into(), f.into()],
        vec!["--cap-add=all".into(), "--cap-drop".into(), "chown".into(), "--cap-drop".into(), "Cap_Kill".into(), f.into()],
        vec!["--cap-add".into(), "NET_ADMIN".into(), "--cap-add".into(), "net_admin".into(), f.into()],
        vec!["--security-opt".into(), "no-new-privileges".into(), "--security-opt".into(), "seccomp=unconfined".into(), f.into()],
        vec!["--security-opt".into(), "label=disable".into(), "--security-opt=apparmor=unconfined".into(), f.into()],
        vec!["--security-opt".into(), "systempaths=unconfined".into(), f.into()],
        vec!["--security-opt".into(), "no-new-privileges:true".into(), "--security-opt".into(), "label:disable".into(), f.into()],
        vec!["--sysctl".into(), "net.ipv4.ip_forward=1".into(), "--sysctl".into(), "kernel.shm_rmid_forced=1".into(), f.into()],
        vec!["--sysctl=fs.mqueue.msg_max=100".into(), f.into()],
        vec!["--device".into(), "/dev/null".into(), f.into()],
        vec!["--device".into(), "/dev/null:/dev/n2:r".into(), "--device=/dev/zero:rw".into(), f.into()],
        vec!["--device-cgroup-rule".into(), "c 1:3 rwm".into(), "--device-cgroup-rule=b *:* m".into(), f.into()],
        vec!["--privileged".into(), f.into()],
        vec!["--read-only".into(), "--init".into(), f.into()],
        vec!["--init=false".into(), f.into()],
        // DNS and hosts.
        vec!["--dns".into(), "1.1.1.1".into(), "--dns".into(), "2001:db8::1".into(), f.into()],
        vec!["--dns-search".into(), "example.com".into(), "--dns-option".into(), "ndots:2".into(), "--dns-opt=timeout:1".into(), f.into()],
        vec!["--add-host".into(), "h:192.0.2.10".into(), "--add-host".into(), "h6=[2001:db8::2]".into(), f.into()],
        vec!["--add-host=v6:2001:db8::3".into(), f.into()],
        // Healthcheck.
        vec!["--health-cmd".into(), "true".into(), "--health-interval".into(), "10s".into(), "--health-timeout".into(), "2s".into(), f.into()],
        vec!["--health-cmd=/check.sh -q".into(), "--health-retries".into(), "3".into(), "--health-start-period".into(), "1m30s".into(), f.into()],
        vec!["--health-interval".into(), "500ms".into(), f.into()],
        vec!["--no-healthcheck".into(), f.into()],
        // Logging.
        vec!["--log-driver".into(), "none".into(), f.into()],
        vec!["--log-driver=json-file".into(), "--log-opt".into(), "max-size=10m".into(), "--log-opt".into(), "max-file=3".into(), f.into()],
        vec!["--log-opt".into(), "mode=non-blocking".into(), "--log-opt".into(), "max-buffer-size=4m".into(), f.into()],
        // Networks.
        vec!["--network".into(), "none".into(), f.into()],
        vec!["--network=host".into(), f.into()],
        vec!["--net".into(), "none".into(), "-h".into(), "isolated".into(), f.into()],
        vec!["--network".into(), "host".into(), "-p".into(), "8089:89".into(), f.into()],
        vec!["--network".into(), "name=none".into(), f.into()],
        vec!["--link".into(), format!("{src}:db"), f.into()],
        // Namespaces.
        vec!["--ipc".into(), "private".into(), f.into()],
        vec!["--ipc=shareable".into(), f.into()],
        vec!["--ipc".into(), "none".into(), "--pid".into(), "host".into(), f.into()],
        vec!["--ipc=host".into(), "--uts=host".into(), f.into()],
        vec!["--userns".into(), "host".into(), f.into()],
        vec!["--cgroupns".into(), "private".into(), f.into()],
        vec!["--cgroupns=host".into(), f.into()],
        vec!["--pid".into(), format!("container:{src}"), f.into()],
        // Everything else.
        vec!["--runtime".into(), "runc".into(), f.into()],
        vec!["--stop-signal".into(), "SIGINT".into(), "--stop-timeout".into(), "5".into(), f.into()],
        vec!["--stop-signal=9".into(), f.into()],
        vec!["--group-add".into(), "10".into(), "--group-add".into(), "audio".into(), f.into()],
        vec!["--platform".into(), "linux/amd64".into(), f.into()],
        vec!["--isolation".into(), "default".into(), f.into()],
        vec!["--gpus".into(), "all".into(), f.into()],
        vec!["--gpus".into(), "2".into(), f.into()],
        vec!["--gpus".into(), "\"device=0,1\",capabilities=compute".into(), f.into()],
        vec!["--pull".into(), "never".into(), "-q".into(), f.into()],
        vec!["--cgroup-parent".into(), "/berth-test".into(), f.into()],
        // A bit of everything at once.
        vec![
            "-it".into(), "--rm".into(), "-e".into(), "A=1".into(), "-l".into(), "k=v".into(),
            "-p".into(), "127.0.0.1:8090:80".into(), "-v".into(), "/tmp:/h:ro".into(),
            "--tmpfs".into(), "/run".into(), "-m".into(), "256m".into(), "--cpus".into(), "1".into(),
            "--cap-drop".into(), "all".into(), "--cap-add".into(), "chown".into(),
            "--read-only".into(), "--init".into(), "--network".into(), "none".into(),
            "-w".into(), "/".into(), "-u".into(), "0".into(), f.into(), "sh".into(), "-c".into(),
            "exit 0".into(),
        ],
    ];
    cases
}

/// Arguments the CLI rejects, with the CLI's wording where the reference gives it (any one of
/// the alternatives: the master wording and the one of the installed v28 CLI may differ).
fn reject_corpus() -> Vec<(Vec<&'static str>, &'static [&'static str])> {
    vec![
        (vec!["--memory=invalid"], &[r#"invalid argument "invalid" for "-m, --memory" flag: invalid size: 'invalid'"#]),
        (vec!["-m", "10x"], &[]),
        (vec!["--shm-size=a128m"], &[r#"invalid argument "a128m" for "--shm-size" flag: strconv.ParseFloat: parsing "a128": invalid syntax"#]),
        (vec!["-p", "published=1500,target:444"], &["invalid publish opts format (should be name=value but got 'target:444')"]),
        (vec!["-p", "80:99999"], &[]),
        (vec!["-p", "80:80/xyz"], &[]),
        (vec!["-p", "1.2.3:80:80"], &[]),
        (
            vec!["--expose=8080:9090"],
            &[
                "invalid range format for --expose: invalid start port '8080:9090': invalid syntax",
                "invalid port format for --expose: 8080:9090",
            ],
        ),
        (vec!["--expose=1234567890-8080/tcp"], &[]),
        (vec!["--restart", ":1"], &["invalid restart policy format: no policy provided before colon"]),
        (vec!["--restart", "always:2:3"], &["invalid restart policy format: maximum retry count must be an integer"]),
        (vec!["--restart", "on-failure:x"], &["invalid restart policy format: maximum retry count must be an integer"]),
        (vec!["--restart", "anything:123"], &[]),
        (vec!["--rm", "--restart=always"], &["conflicting options: cannot specify both --restart and --rm"]),
        (vec!["--no-healthcheck", "--health-cmd=/check.sh -q"], &["--no-healthcheck conflicts with --health-* options"]),
        (vec!["--health-interval", "1d"], &[]),
        (vec!["--health-timeout=-1s"], &[]),
        (vec!["--log-driver=none", "--log-opt=anything"], &["invalid logging opts for driver none"]),
        (vec!["--pid=container:"], &["--pid: invalid PID mode"]),
        (vec!["--uts=container:"], &["--uts: invalid UTS mode"]),
        (vec!["--userns", "bogus"], &[]),
        (vec!["--cgroupns", "bogus"], &[]),
        (vec!["-z"], &["unknown shorthand flag: 'z' in -z"]),
        (vec!["--nope"], &[]),
        (vec!["-a", "invalid"], &[r#"invalid argument "invalid" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR"#]),
        (vec!["--device=./"], &["./ is not an absolute path"]),
        (vec!["--device=a:/b:ro"], &["bad mode specified: ro"]),
        (vec!["--pull", "busybox:latest"], &[r#"invalid pull option: 'busybox:latest': must be one of "always", "missing" or "never""#]),
        (vec!["--network", "name=net1,alias=web1", "--network-alias", "web1"], &["conflicting options: cannot specify both --network-alias and per-network alias"]),
        (vec!["--network", "duplicate", "--network", "name=duplicate"], &[r#"network "duplicate" is specified multiple times"#]),
        (vec!["--network", "name=host", "--network", "net1"], &["conflicting options: cannot attach both user-defined and non-user-defined network-modes"]),
        (vec!["--network", "none", "--network-alias", "foo"], &[]),
        (vec!["--mac-address=invalidMacAddress"], &["invalidMacAddress is not a valid mac address"]),
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
    // Berth's own labels (run id and the like).
    if let Some(labels) = config["Labels"].as_object_mut() {
        labels.retain(|k, _| !k.starts_with(berth_shared::LABEL_PREFIX));
    }
    (config, inspect["HostConfig"].clone())
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
    let resp = http()
        .post(url("/api/runs"))
        .json(&serde_json::json!({"argv": argv, "start": false}))
        .send()
        .await
        .expect("gateway answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
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
