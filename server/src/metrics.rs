//! Prometheus metrics (`GET /metrics`, docs/API.md): counters bumped where things happen,
//! gauges read when scraped. Labels carry only bounded values: route templates, engine names
//! from the engines file, policy rule names, outcomes.

use std::sync::OnceLock;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::AppState;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The recorder, installed once per process (every gateway of a process shares it).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("berth_run_first_byte_seconds".into()),
                &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            )
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics stays empty");
        }
        handle
    })
}

pub fn run_started() {
    counter!("berth_runs_started_total").increment(1);
}

/// `outcome`: `exited`, `failed` or `denied`.
pub fn run_finished(outcome: &'static str) {
    counter!("berth_runs_finished_total", "outcome" => outcome).increment(1);
}

pub fn policy_denial(rule: &'static str) {
    counter!("berth_policy_denials_total", "rule" => rule).increment(1);
}

/// From the request to the run's first output byte.
pub fn first_byte(seconds: f64) {
    histogram!("berth_run_first_byte_seconds").record(seconds);
}

pub fn pull_bytes(bytes: u64) {
    counter!("berth_pull_bytes_total").increment(bytes);
}

pub fn auth_failure() {
    counter!("berth_auth_failures_total").increment(1);
}

pub fn http_request(route: String, status: u16) {
    counter!("berth_http_requests_total", "route" => route, "status" => status.to_string())
        .increment(1);
}

/// The exposition, with the gauges read now.
pub fn render(app: &AppState) -> String {
    let runs = app.runs.list();
    let active = runs.iter().filter(|r| !r.has_ended()).count();
    gauge!("berth_runs_active").set(active as f64);
    let watchers: usize = runs.iter().map(|r| r.watchers()).sum();
    gauge!("berth_watchers_active").set(watchers as f64);
    for m in app.engines.all() {
        let up = if m.health().reachable { 1.0 } else { 0.0 };
        gauge!("berth_engine_up", "engine" => m.name.clone()).set(up);
    }
    install().render()
}
