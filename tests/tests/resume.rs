//! A watcher that reconnects says how much output it already has (`{"type":"watch","from":N}`)
//! and gets only the rest: against the real engine, after the end and while the run goes on.

use std::time::Duration;

use berth_shared::wire::{ClientMessage, ServerEvent};
use berth_tests::*;

/// Starts `argv` over REST (no client follows it) and returns its run id.
async fn start(argv: &[&str]) -> String {
    let resp = http()
        .post(url("/api/runs"))
        .json(&serde_json::json!({ "argv": argv }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: serde_json::Value = resp.json().await.unwrap();
    created["run_id"].as_str().unwrap().to_string()
}

async fn watch_from(run_id: &str, from: u64) -> Transcript {
    let mut c = Client::connect(&format!("/api/runs/{run_id}/ws")).await;
    c.send(&ClientMessage::Watch { from: Some(from) }).await;
    c.finish().await
}

#[tokio::test]
async fn a_finished_run_resumes_after_the_bytes_the_client_has() {
    // Offsets count stdout and stderr together in arrival order, and the daemon may deliver
    // the two streams in either order when written together: a pause keeps this one fixed.
    let script = "printf 0123456789; sleep 0.3; printf abc >&2; exit 4";
    let run_id = start(&["--rm", FIXTURE, "sh", "-c", script]).await;
    wait_for_exit(&run_id).await;

    let rest = watch_from(&run_id, 4).await;
    assert_eq!(rest.stdout_str(), "456789");
    assert_eq!(rest.stderr_str(), "abc");
    // Events are replayed in full: the client learns the run's state again.
    assert_eq!(rest.kinds(), ["accepted", "created", "started", "exit"]);
    assert_eq!(rest.exit_code(), Some(4));

    // Everything already: only the events.
    let nothing = watch_from(&run_id, 13).await;
    assert_eq!((nothing.stdout.len(), nothing.stderr.len()), (0, 0));
    assert_eq!(nothing.exit_code(), Some(4));

    // More than the run produced: a clear refusal, not a silent replay.
    let past = watch_from(&run_id, 14).await;
    assert_eq!(
        past.events,
        [ServerEvent::ResumeRefused { produced: 13 }],
        "{:?}",
        past.kinds()
    );
    assert!(past.stdout.is_empty());
}

#[tokio::test]
async fn a_live_run_resumes_and_follows() {
    let run_id = start(&[
        "--rm",
        FIXTURE,
        "sh",
        "-c",
        "echo first; sleep 1; echo second",
    ])
    .await;
    // The client had "first\n" when its connection dropped.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resumed = watch_from(&run_id, 6).await;
    assert_eq!(resumed.stdout_str(), "second\n");
    assert_eq!(resumed.exit_code(), Some(0));
}

#[tokio::test]
async fn resuming_before_the_retained_output_reports_the_gap() {
    // The shared gateway keeps the last 1 MiB: 2 MiB of output drops the first MiB.
    let run_id = start(&["--rm", FIXTURE, "sh", "-c", "head -c 2097152 /dev/zero"]).await;
    wait_for_exit(&run_id).await;
    let t = watch_from(&run_id, 1000).await;
    let gap = t
        .events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Gap { bytes } => Some(*bytes),
            _ => None,
        })
        .expect("a gap event");
    assert!(gap > 0);
    assert_eq!(gap + t.stdout.len() as u64, 2097152 - 1000);
    assert!(t.stdout.iter().all(|b| *b == 0));
}
