//! The host config's resources: memory, CPUs, blkio, pids, ulimits and devices, from the values
//! `values.rs` checked and the devices `host.rs` parsed.

use bollard_stubs::models::{
    DeviceMapping, DeviceRequest, HostConfig, ResourcesBlkioWeightDevice, ResourcesUlimits,
    ThrottleDevice,
};

use super::non_empty;
use crate::spec::RunSpec;

/// The resource flags' values, checked.
pub(super) struct ResourceValues {
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    /// -1 when not given; its range is a check of `parse`.
    pub swappiness: i64,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_rt_period: Option<i64>,
    pub cpu_rt_runtime: Option<i64>,
    /// Checked as 16 bits wide.
    pub blkio_weight: Option<u64>,
    /// 0 when not given.
    pub pids_limit: i64,
    pub weight_devices: Vec<ResourcesBlkioWeightDevice>,
    pub read_bps: Vec<ThrottleDevice>,
    pub write_bps: Vec<ThrottleDevice>,
    pub read_iops: Vec<ThrottleDevice>,
    pub write_iops: Vec<ThrottleDevice>,
    pub ulimits: Vec<ResourcesUlimits>,
    /// `--gpus`, one device request each.
    pub gpus: Vec<DeviceRequest>,
}

impl ResourceValues {
    /// A host config with only its resources set: these values, the fields of `spec` that are
    /// taken as given, and `--device`'s host `devices` and CDI devices (which the CLI requests
    /// from the `cdi` driver, after the GPUs).
    pub(super) fn into_host_config(
        self,
        spec: &RunSpec,
        devices: Vec<DeviceMapping>,
        cdi_devices: Vec<String>,
    ) -> HostConfig {
        let mut device_requests = self.gpus;
        if !cdi_devices.is_empty() {
            device_requests.push(DeviceRequest {
                driver: Some("cdi".into()),
                count: Some(0),
                device_ids: Some(cdi_devices),
                ..Default::default()
            });
        }
        HostConfig {
            cgroup_parent: spec.cgroup_parent.clone(),
            memory: self.memory,
            memory_reservation: self.memory_reservation,
            memory_swap: self.memory_swap,
            memory_swappiness: Some(self.swappiness),
            oom_kill_disable: Some(spec.oom_kill_disable),
            nano_cpus: self.nano_cpus,
            cpu_shares: self.cpu_shares,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpu_realtime_period: self.cpu_rt_period,
            cpu_realtime_runtime: self.cpu_rt_runtime,
            cpuset_cpus: spec.cpuset_cpus.clone(),
            cpuset_mems: spec.cpuset_mems.clone(),
            pids_limit: Some(self.pids_limit),
            blkio_weight: self.blkio_weight.map(|w| w as u16),
            blkio_weight_device: Some(self.weight_devices),
            blkio_device_read_bps: Some(self.read_bps),
            blkio_device_write_bps: Some(self.write_bps),
            blkio_device_read_iops: Some(self.read_iops),
            blkio_device_write_iops: Some(self.write_iops),
            ulimits: Some(self.ulimits),
            device_cgroup_rules: non_empty(spec.device_cgroup_rule.clone()),
            devices: Some(devices),
            device_requests: non_empty(device_requests),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::plan::tests::{host, plan};

    #[test]
    fn resources() {
        let h = host(&[
            "-m",
            "1G",
            "--memory-swap=-1",
            "--memory-reservation",
            "512m",
            "--cpus",
            "1.5",
            "-c",
            "512",
            "--pids-limit",
            "100",
            "--shm-size",
            "128m",
            "--blkio-weight",
            "300",
            "--oom-kill-disable",
            "img",
        ]);
        assert_eq!(h["Memory"], 1073741824);
        assert_eq!(h["MemorySwap"], -1);
        assert_eq!(h["MemoryReservation"], 536870912);
        assert_eq!(h["NanoCpus"], 1_500_000_000i64);
        assert_eq!(h["CpuShares"], 512);
        assert_eq!(h["PidsLimit"], 100);
        assert_eq!(h["ShmSize"], 134217728);
        assert_eq!(h["BlkioWeight"], 300);
        assert_eq!(h["OomKillDisable"], true);
        assert_eq!(
            plan(&["--memory=invalid", "img"]).unwrap_err(),
            r#"invalid argument "invalid" for "-m, --memory" flag: invalid size: 'invalid'"#
        );
        assert_eq!(
            plan(&["-m", "lots", "img"]).unwrap_err(),
            r#"invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'"#
        );
        assert_eq!(
            plan(&["--shm-size=a128m", "img"]).unwrap_err(),
            r#"invalid argument "a128m" for "--shm-size" flag: strconv.ParseFloat: parsing "a128": invalid syntax"#
        );
        assert_eq!(
            plan(&["--cpu-shares", "x", "img"]).unwrap_err(),
            r#"invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax"#
        );
        assert_eq!(
            plan(&["--memory-swappiness", "200", "img"]).unwrap_err(),
            "invalid value: 200. Valid memory swappiness range is 0-100"
        );
        assert_eq!(
            plan(&["--ulimit", "nofile", "img"]).unwrap_err(),
            r#"invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile"#
        );
        assert_eq!(
            host(&["--ulimit", "nofile=1024:2048", "img"])["Ulimits"],
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
        );
        // --kernel-memory is accepted (and checked) but, as in the current CLI, not sent.
        assert!(
            host(&["--kernel-memory", "10m", "img"])
                .get("KernelMemory")
                .is_none()
        );
    }
}
