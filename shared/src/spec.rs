//! The structured run spec: the documented JSON form of `docker run`'s options.
//!
//! One field per flag, named after the long flag (`--cap-add` is `cap_add`), holding the value
//! in the flag's own string grammar: `bool` for a boolean flag, `Option<String>` for a
//! single-valued one (the last occurrence wins), `Vec<String>` for a repeatable one. Values are
//! checked by `plan::build`, not here. `argv::parse` fills it from a command line and
//! `argv::render` turns it back into one; `plan::build` turns it into the Engine API create
//! request. Because both the argv and the JSON form go through `plan::build`, they produce
//! identical create requests by construction.
//!
//! Flags that make the docker CLI read files on its own host (`--env-file`, `--label-file`,
//! `--cidfile`, a seccomp profile path) have no field: Berth refuses them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RunSpec {
    /// The image to run (`IMAGE` in `docker run [OPTIONS] IMAGE [COMMAND] [ARG...]`).
    pub image: String,
    /// `COMMAND [ARG...]`.
    pub command: Vec<String>,

    /// `--add-host`: Add a custom host-to-IP mapping, `host:ip` or `host=ip` (`host-gateway` allowed).
    pub add_host: Vec<String>,
    /// `--annotation`: Annotation for the OCI runtime, `KEY=VALUE`.
    pub annotation: Vec<String>,
    /// `-a, --attach`: Attach to STDIN, STDOUT or STDERR.
    pub attach: Vec<String>,
    /// `--blkio-weight`: Block IO relative weight, 10 to 1000, or 0 to disable.
    pub blkio_weight: Option<String>,
    /// `--blkio-weight-device`: Block IO relative device weight, `/dev/sda:300`.
    pub blkio_weight_device: Vec<String>,
    /// `--cap-add`: Add a Linux capability (`NET_ADMIN`, `cap_net_admin`, `ALL`).
    pub cap_add: Vec<String>,
    /// `--cap-drop`: Drop a Linux capability.
    pub cap_drop: Vec<String>,
    /// `--cgroup-parent`: Parent cgroup for the container.
    pub cgroup_parent: Option<String>,
    /// `--cgroupns`: Cgroup namespace: `host` or `private`.
    pub cgroupns: Option<String>,
    /// `--cpu-period`: CPU CFS period (microseconds).
    pub cpu_period: Option<String>,
    /// `--cpu-quota`: CPU CFS quota (microseconds).
    pub cpu_quota: Option<String>,
    /// `--cpu-rt-period`: CPU real-time period (microseconds).
    pub cpu_rt_period: Option<String>,
    /// `--cpu-rt-runtime`: CPU real-time runtime (microseconds).
    pub cpu_rt_runtime: Option<String>,
    /// `-c, --cpu-shares`: CPU shares (relative weight).
    pub cpu_shares: Option<String>,
    /// `--cpus`: Number of CPUs, e.g. `1.5` (to NanoCpus).
    pub cpus: Option<String>,
    /// `--cpuset-cpus`: CPUs in which to allow execution (`0-3`, `0,1`).
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`: Memory nodes in which to allow execution (`0-3`, `0,1`).
    pub cpuset_mems: Option<String>,
    /// `-d, --detach`: Run in the background and print the container ID.
    pub detach: bool,
    /// `--detach-keys`: Key sequence for detaching, e.g. `ctrl-p,ctrl-q`.
    pub detach_keys: Option<String>,
    /// `--device`: Host device `/dev/x[:/dev/y][:rwm]`, or a CDI device `vendor.com/class=name`.
    pub device: Vec<String>,
    /// `--device-cgroup-rule`: Cgroup device rule, `c 1:3 rwm`.
    pub device_cgroup_rule: Vec<String>,
    /// `--device-read-bps`: Read rate limit, `/dev/sda:1mb`.
    pub device_read_bps: Vec<String>,
    /// `--device-read-iops`: Read IO/s limit, `/dev/sda:1000`.
    pub device_read_iops: Vec<String>,
    /// `--device-write-bps`: Write rate limit, `/dev/sda:1mb`.
    pub device_write_bps: Vec<String>,
    /// `--device-write-iops`: Write IO/s limit, `/dev/sda:1000`.
    pub device_write_iops: Vec<String>,
    /// `--dns`: DNS server IP address.
    pub dns: Vec<String>,
    /// `--dns-option`: DNS option, e.g. `ndots:2` (also `--dns-opt`).
    pub dns_option: Vec<String>,
    /// `--dns-search`: DNS search domain.
    pub dns_search: Vec<String>,
    /// `--domainname`: NIS domain name.
    pub domainname: Option<String>,
    /// `--entrypoint`: Overrides the image's ENTRYPOINT (one word); `Some("")` resets it.
    pub entrypoint: Option<String>,
    /// `-e, --env`: Environment variable, `KEY=VALUE`.
    pub env: Vec<String>,
    /// `--expose`: Expose a port or a range, `80`, `8000-8010/udp`.
    pub expose: Vec<String>,
    /// `--gpus`: GPU request, `all`, `2`, or `count=1,driver=nvidia,capabilities=compute,device=0`.
    pub gpus: Vec<String>,
    /// `--group-add`: Additional group to join.
    pub group_add: Vec<String>,
    /// `--health-cmd`: Health check command (run with the shell).
    pub health_cmd: Option<String>,
    /// `--health-interval`: Time between checks, Go duration (`30s`, `1m30s`).
    pub health_interval: Option<String>,
    /// `--health-retries`: Consecutive failures needed to report unhealthy.
    pub health_retries: Option<String>,
    /// `--health-start-interval`: Time between checks during the start period, Go duration.
    pub health_start_interval: Option<String>,
    /// `--health-start-period`: Start period before failures count, Go duration.
    pub health_start_period: Option<String>,
    /// `--health-timeout`: Maximum time for one check, Go duration.
    pub health_timeout: Option<String>,
    /// `-h, --hostname`: Container host name.
    pub hostname: Option<String>,
    /// `--init`: Run an init process inside the container. `None` leaves the daemon's default; `Some(false)` is `--init=false`, which the CLI sends explicitly.
    pub init: Option<bool>,
    /// `-i, --interactive`: Keep STDIN open even if not attached.
    pub interactive: bool,
    /// `--ip`: IPv4 address on the first network.
    pub ip: Option<String>,
    /// `--ip6`: IPv6 address on the first network.
    pub ip6: Option<String>,
    /// `--ipc`: IPC mode: `none`, `private`, `shareable`, `host`, `container:<name|id>`.
    pub ipc: Option<String>,
    /// `--isolation`: Isolation technology (`default` on Linux).
    pub isolation: Option<String>,
    /// `--kernel-memory`: Kernel memory limit; deprecated and ignored, as by the current CLI.
    pub kernel_memory: Option<String>,
    /// `-l, --label`: Label, `KEY[=VALUE]`.
    pub label: Vec<String>,
    /// `--link`: Link to another container, `name[:alias]`.
    pub link: Vec<String>,
    /// `--link-local-ip`: Link-local address on the first network.
    pub link_local_ip: Vec<String>,
    /// `--log-driver`: Logging driver.
    pub log_driver: Option<String>,
    /// `--log-opt`: Logging driver option, `KEY=VALUE`.
    pub log_opt: Vec<String>,
    /// `--mac-address`: MAC address on the first network.
    pub mac_address: Option<String>,
    /// `-m, --memory`: Memory limit, e.g. `512m`, `1g` (binary units).
    pub memory: Option<String>,
    /// `--memory-reservation`: Memory soft limit.
    pub memory_reservation: Option<String>,
    /// `--memory-swap`: Memory plus swap limit; `-1` for unlimited swap.
    pub memory_swap: Option<String>,
    /// `--memory-swappiness`: Memory swappiness, 0 to 100 (default -1: the daemon's).
    pub memory_swappiness: Option<String>,
    /// `--mount`: Mount, CSV `type=bind|volume|tmpfs|image,src=…,dst=…[,ro][,…]`.
    pub mount: Vec<String>,
    /// `--name`: Container name.
    pub name: Option<String>,
    /// `--network`: Network to connect to: a name, or `name=…,alias=…,ip=…,ip6=…,mac-address=…,link-local-ip=…,driver-opt=k=v,gw-priority=n` (also `--net`).
    pub network: Vec<String>,
    /// `--network-alias`: Network-scoped alias on the first network (also `--net-alias`).
    pub network_alias: Vec<String>,
    /// `--no-healthcheck`: Disable any image-defined HEALTHCHECK.
    pub no_healthcheck: bool,
    /// `--oom-kill-disable`: Disable the OOM killer.
    pub oom_kill_disable: bool,
    /// `--oom-score-adj`: OOM score adjustment, -1000 to 1000.
    pub oom_score_adj: Option<String>,
    /// `--pid`: PID namespace: `host` or `container:<name|id>`.
    pub pid: Option<String>,
    /// `--pids-limit`: Pids limit (`-1` for unlimited).
    pub pids_limit: Option<String>,
    /// `--platform`: Platform, e.g. `linux/amd64`.
    pub platform: Option<String>,
    /// `--privileged`: Give extended privileges to the container.
    pub privileged: bool,
    /// `-p, --publish`: Publish a port, `[ip:][host[-end]:]container[-end][/proto]` or `published=8080,target=80,protocol=udp`.
    pub publish: Vec<String>,
    /// `-P, --publish-all`: Publish all exposed ports to random host ports.
    pub publish_all: bool,
    /// `--pull`: Pull policy: `missing` (default), `always` or `never`.
    pub pull: Option<String>,
    /// `-q, --quiet`: Suppress the pull output.
    pub quiet: bool,
    /// `--read-only`: Mount the root filesystem read-only.
    pub read_only: bool,
    /// `--restart`: Restart policy: `no`, `always`, `unless-stopped`, `on-failure[:max-retries]`.
    pub restart: Option<String>,
    /// `--rm`: Remove the container (and its anonymous volumes) when it exits.
    pub rm: bool,
    /// `--runtime`: OCI runtime.
    pub runtime: Option<String>,
    /// `--security-opt`: Security option: `no-new-privileges`, `seccomp=unconfined`, `apparmor=…`, `label=…`, `systempaths=unconfined`.
    pub security_opt: Vec<String>,
    /// `--shm-size`: Size of /dev/shm, e.g. `64m`.
    pub shm_size: Option<String>,
    /// `--sig-proxy`: Proxy received signals to the process (default true).
    pub sig_proxy: bool,
    /// `--stop-signal`: Signal to stop the container.
    pub stop_signal: Option<String>,
    /// `--stop-timeout`: Seconds to wait for the container to stop.
    pub stop_timeout: Option<String>,
    /// `--storage-opt`: Storage driver option, `size=10G`.
    pub storage_opt: Vec<String>,
    /// `--sysctl`: Namespaced kernel parameter, `net.ipv4.ip_forward=1`.
    pub sysctl: Vec<String>,
    /// `--tmpfs`: tmpfs mount, `/run[:options]`.
    pub tmpfs: Vec<String>,
    /// `-t, --tty`: Allocate a pseudo-TTY.
    pub tty: bool,
    /// `--ulimit`: Ulimit, `nofile=1024[:2048]`.
    pub ulimit: Vec<String>,
    /// `-u, --user`: User, `<name|uid>[:<group|gid>]`.
    pub user: Option<String>,
    /// `--userns`: User namespace: `host`.
    pub userns: Option<String>,
    /// `--uts`: UTS namespace: `host`.
    pub uts: Option<String>,
    /// `-v, --volume`: Volume, `[source:]target[:options]`; a source is a named volume or an absolute host path.
    pub volume: Vec<String>,
    /// `--volume-driver`: Volume driver for the container's volumes.
    pub volume_driver: Option<String>,
    /// `--volumes-from`: Mount the volumes of a container, `name[:ro|rw]`.
    pub volumes_from: Vec<String>,
    /// `-w, --workdir`: Working directory inside the container.
    pub workdir: Option<String>,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            image: String::new(),
            command: Vec::new(),
            add_host: Vec::new(),
            annotation: Vec::new(),
            attach: Vec::new(),
            blkio_weight: None,
            blkio_weight_device: Vec::new(),
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            cgroup_parent: None,
            cgroupns: None,
            cpu_period: None,
            cpu_quota: None,
            cpu_rt_period: None,
            cpu_rt_runtime: None,
            cpu_shares: None,
            cpus: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            detach: false,
            detach_keys: None,
            device: Vec::new(),
            device_cgroup_rule: Vec::new(),
            device_read_bps: Vec::new(),
            device_read_iops: Vec::new(),
            device_write_bps: Vec::new(),
            device_write_iops: Vec::new(),
            dns: Vec::new(),
            dns_option: Vec::new(),
            dns_search: Vec::new(),
            domainname: None,
            entrypoint: None,
            env: Vec::new(),
            expose: Vec::new(),
            gpus: Vec::new(),
            group_add: Vec::new(),
            health_cmd: None,
            health_interval: None,
            health_retries: None,
            health_start_interval: None,
            health_start_period: None,
            health_timeout: None,
            hostname: None,
            init: None,
            interactive: false,
            ip: None,
            ip6: None,
            ipc: None,
            isolation: None,
            kernel_memory: None,
            label: Vec::new(),
            link: Vec::new(),
            link_local_ip: Vec::new(),
            log_driver: None,
            log_opt: Vec::new(),
            mac_address: None,
            memory: None,
            memory_reservation: None,
            memory_swap: None,
            memory_swappiness: None,
            mount: Vec::new(),
            name: None,
            network: Vec::new(),
            network_alias: Vec::new(),
            no_healthcheck: false,
            oom_kill_disable: false,
            oom_score_adj: None,
            pid: None,
            pids_limit: None,
            platform: None,
            privileged: false,
            publish: Vec::new(),
            publish_all: false,
            pull: None,
            quiet: false,
            read_only: false,
            restart: None,
            rm: false,
            runtime: None,
            security_opt: Vec::new(),
            shm_size: None,
            sig_proxy: true,
            stop_signal: None,
            stop_timeout: None,
            storage_opt: Vec::new(),
            sysctl: Vec::new(),
            tmpfs: Vec::new(),
            tty: false,
            ulimit: Vec::new(),
            user: None,
            userns: None,
            uts: None,
            volume: Vec::new(),
            volume_driver: None,
            volumes_from: Vec::new(),
            workdir: None,
        }
    }
}
