//! Live resource use: the engine's stats documents made into samples the way `docker stats`
//! computes them (docker/cli `stats_helpers.go`), and one engine stream per container shared
//! by everyone watching it, closed when the last watcher leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_shared::wire::StatsSample;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::engine::Engine;

/// A stats stream without a sample for this long is looked at: its container may have stopped.
const QUIET: std::time::Duration = std::time::Duration::from_millis(2500);

/// A sample from one stats document (`cpu_stats` and `precpu_stats` give the CPU delta).
pub fn sample(doc: &Value) -> StatsSample {
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    let cpu = &doc["cpu_stats"];
    let pre = &doc["precpu_stats"];
    let online = match u(&cpu["online_cpus"]) {
        0 => cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, |a| a.len() as u64),
        n => n,
    };
    let cpu_delta =
        u(&cpu["cpu_usage"]["total_usage"]) as f64 - u(&pre["cpu_usage"]["total_usage"]) as f64;
    let system_delta = u(&cpu["system_cpu_usage"]) as f64 - u(&pre["system_cpu_usage"]) as f64;
    let cpu_percent = if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online as f64 * 100.0
    } else {
        0.0
    };
    let memory = &doc["memory_stats"];
    let usage = u(&memory["usage"]);
    // The page cache is not counted: `total_inactive_file` on cgroup v1, `inactive_file` on v2.
    let cache = [
        &memory["stats"]["total_inactive_file"],
        &memory["stats"]["inactive_file"],
    ]
    .into_iter()
    .find_map(Value::as_u64)
    .filter(|c| *c < usage)
    .unwrap_or(0);
    let (mut rx, mut tx) = (0, 0);
    for net in doc["networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        rx += u(&net["rx_bytes"]);
        tx += u(&net["tx_bytes"]);
    }
    let (mut read, mut write) = (0, 0);
    let entries = doc["blkio_stats"]["io_service_bytes_recursive"].as_array();
    for entry in entries.into_iter().flatten() {
        match entry["op"].as_str().map(str::to_lowercase).as_deref() {
            Some("read") => read += u(&entry["value"]),
            Some("write") => write += u(&entry["value"]),
            _ => {}
        }
    }
    StatsSample {
        at: doc["read"].as_str().unwrap_or_default().to_string(),
        cpu_percent,
        online_cpus: online as u32,
        memory_bytes: usage - cache,
        memory_limit_bytes: u(&memory["limit"]),
        pids: u(&doc["pids_stats"]["current"]),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
        block_read_bytes: read,
        block_write_bytes: write,
    }
}

/// The containers being watched: one engine stream each, fanned out.
#[derive(Default)]
pub struct StatsHub {
    streams: Mutex<HashMap<String, broadcast::Sender<Arc<StatsSample>>>>,
}

impl StatsHub {
    /// Samples of `container` (a full id) on `engine` (named `engine_name`), one a second until
    /// it stops: the stream of whoever asked first, else a new one.
    pub fn watch(
        self: &Arc<Self>,
        engine_name: &str,
        engine: &Engine,
        container: &str,
    ) -> broadcast::Receiver<Arc<StatsSample>> {
        let key = format!("{engine_name}/{container}");
        let mut streams = self.streams.lock().expect("stats lock");
        if let Some(tx) = streams.get(&key) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(4);
        streams.insert(key.clone(), tx.clone());
        let (hub, engine, container) = (Arc::clone(self), engine.clone(), container.to_string());
        tokio::spawn(async move {
            hub.pump(&engine, &container, &tx).await;
            hub.streams.lock().expect("stats lock").remove(&key);
        });
        rx
    }

    async fn pump(
        &self,
        engine: &Engine,
        container: &str,
        tx: &broadcast::Sender<Arc<StatsSample>>,
    ) {
        let mut stream = match engine.stats_stream(container).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(container, "stats stream: {}", e.message());
                return;
            }
        };
        loop {
            // Once the container stops, the engine's stream goes on with empty readings (read
            // at the zero time) or goes quiet, without ending.
            let doc = match tokio::time::timeout(QUIET, stream.next()).await {
                Ok(Ok(Some(doc)))
                    if !doc["read"].as_str().unwrap_or("0001-").starts_with("0001-") =>
                {
                    doc
                }
                Ok(_) => return,
                Err(_) => {
                    let running = engine.inspect(container).await.ok().and_then(|c| c.state);
                    if running.and_then(|s| s.running) != Some(true) {
                        return;
                    }
                    continue;
                }
            };
            // Nobody watches any more: the stream closes (checked under the lock, so that a
            // watcher arriving now gets a stream of its own instead of this ending one).
            let streams = self.streams.lock().expect("stats lock");
            if tx.receiver_count() == 0 {
                drop(streams);
                return;
            }
            drop(streams);
            let _ = tx.send(Arc::new(sample(&doc)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn samples_are_computed_as_docker_stats_computes_them() {
        // cgroup v1: the cache is total_inactive_file; blkio ops capitalised.
        let v1 = json!({
            "read": "2026-12-01T10:00:01Z",
            "cpu_stats": {"cpu_usage": {"total_usage": 300_000_000u64, "percpu_usage": [1, 2]},
                          "system_cpu_usage": 20_000_000_000u64},
            "precpu_stats": {"cpu_usage": {"total_usage": 100_000_000u64},
                             "system_cpu_usage": 18_000_000_000u64},
            "memory_stats": {"usage": 50_000_000u64, "limit": 67_108_864u64,
                             "stats": {"total_inactive_file": 10_000_000u64}},
            "pids_stats": {"current": 3},
            "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"op": "Read", "value": 4096}, {"op": "Write", "value": 8192}, {"op": "Total", "value": 12288}]},
        });
        let s = sample(&v1);
        // 0.2 s of CPU over 2 s of system time on 2 CPUs: 20 %.
        assert!((s.cpu_percent - 20.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.online_cpus, 2);
        assert_eq!(s.memory_bytes, 40_000_000);
        assert_eq!(s.memory_limit_bytes, 67_108_864);
        assert_eq!((s.pids, s.net_rx_bytes, s.net_tx_bytes), (3, 11, 22));
        assert_eq!((s.block_read_bytes, s.block_write_bytes), (4096, 8192));
        // cgroup v2: inactive_file, online_cpus given, lower-case ops; without a previous
        // reading the delta is from zero, as the CLI takes it.
        let v2 = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 10, "online_cpus": 4},
            "precpu_stats": {},
            "memory_stats": {"usage": 1000, "stats": {"inactive_file": 2000}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 1}]},
        });
        let s = sample(&v2);
        assert_eq!((s.cpu_percent, s.online_cpus), (200.0, 4));
        assert_eq!(
            s.memory_bytes, 1000,
            "a cache figure above the usage is not subtracted"
        );
        assert_eq!(s.block_read_bytes, 1);
    }
}
