//! `GET /metrics` after a few runs, parsed with a real Prometheus text-format parser: the
//! counters and gauges docs/API.md lists, with bounded labels only (route templates, never ids).

use berth_server::Config;
use berth_tests::team::Team;
use berth_tests::{DOCKER_HOST, FIXTURE, http_as, run_id_of, status_of};
use prometheus_parse::{Scrape, Value};
use serde_json::json;

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("the exposition parses")
}

/// The value of `name` with `labels` (all of them must match), summed over its series.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_count_runs_denials_requests_and_engines() {
    let mut config = Config::local(DOCKER_HOST);
    config.metrics_token = Some("metrics-only-token".into());
    let team = Team::with_config(
        config,
        "[operator]\nallowed_images = [\"berth-fixture:*\"]\n",
    )
    .await;
    let (code, created) = team
        .create(&team.alice, json!({"argv": [FIXTURE, "echo", "hi"]}))
        .await;
    assert_eq!(code, 201, "{created}");
    let run_id = run_id_of(&created);
    berth_tests::poll_exit(
        || http_as(&team.alice).get(team.url(&format!("/api/runs/{run_id}"))),
        100,
        std::time::Duration::from_millis(100),
    )
    .await;
    let (code, _) = team
        .create(
            &team.alice,
            json!({"argv": ["--privileged", FIXTURE, "true"]}),
        )
        .await;
    assert_eq!(code, 403);
    assert_eq!(status_of(http_as("").get(team.url("/api/runs"))).await, 401);

    // Who may read them.
    assert_eq!(status_of(http_as("").get(team.url("/metrics"))).await, 401);
    assert_eq!(
        status_of(http_as(&team.alice).get(team.url("/metrics"))).await,
        403
    );
    let by_token = http_as("metrics-only-token")
        .get(team.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_token.status(), 200);
    assert_eq!(
        status_of(http_as("metrics-only-token").get(team.url("/api/runs"))).await,
        401
    );

    let text = http_as(&team.admin)
        .get(team.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = parse(&text);
    assert!(
        value(&scrape, "berth_runs_started_total", &[]) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &scrape,
            "berth_runs_finished_total",
            &[("outcome", "exited")]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &scrape,
            "berth_runs_finished_total",
            &[("outcome", "denied")]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &scrape,
            "berth_policy_denials_total",
            &[("rule", "privileged")]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        value(&scrape, "berth_run_first_byte_seconds_count", &[]) >= 1.0
            || value(&scrape, "berth_run_first_byte_seconds", &[]) >= 1.0,
        "{text}"
    );
    assert_eq!(
        value(&scrape, "berth_engine_up", &[("engine", "local")]),
        1.0,
        "{text}"
    );
    assert!(
        value(&scrape, "berth_auth_failures_total", &[]) >= 1.0,
        "{text}"
    );
    for gauge in ["berth_runs_active", "berth_watchers_active"] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == gauge),
            "{gauge}: {text}"
        );
    }
    assert!(
        value(
            &scrape,
            "berth_http_requests_total",
            &[("route", "/api/runs"), ("status", "201")]
        ) >= 1.0,
        "{text}"
    );
    // Routes by their template (the parser reads labels with braces poorly: checked as text).
    assert!(
        text.contains(r#"berth_http_requests_total{route="/api/runs/{run_id}",status="200"}"#),
        "{text}"
    );
    assert!(
        !text.contains(&format!("/api/runs/{run_id}")),
        "no raw path: {text}"
    );
    // No label carries an id or a raw path.
    for s in &scrape.samples {
        for (_, v) in s.labels.iter() {
            assert!(!v.contains(&run_id), "{}: {v}", s.metric);
        }
    }
    team.remove_all_runs().await;
}
