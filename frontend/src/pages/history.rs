//! The runs the gateway remembers, newest first; each opens its page with the full transcript.

use berth_shared::argv;
use berth_shared::wire::{RunInfo, RunState};
use leptos::prelude::*;

use crate::engines;
use crate::format;
use crate::pages::list::{self, Table, refresh_every};
use crate::pages::status_badge;
use crate::route::Link;

fn status(r: &RunInfo) -> (&'static str, String) {
    match (r.state, r.exit_code) {
        (RunState::Exited, Some(0)) => ("ok", "exited 0".into()),
        (RunState::Exited, Some(c)) => ("bad", format::exit_status(c)),
        (RunState::Failed, code) => ("bad", format!("error {}", code.unwrap_or(125))),
        (RunState::Running, _) if r.detach => ("running", "running (detached)".into()),
        (RunState::Running, _) => ("running", "running".into()),
        (RunState::Pulling, _) => ("pending", "pulling".into()),
        (RunState::Created, _) => ("pending", "created".into()),
        (RunState::Pending, _) => ("pending", "pending".into()),
        (RunState::Exited, None) => ("muted", "exited".into()),
    }
}

fn took(r: &RunInfo) -> String {
    let start = r.started_at.as_deref().and_then(format::parse_time);
    let end = r.finished_at.as_deref().and_then(format::parse_time);
    match (start, end) {
        (Some(s), Some(e)) => format::duration(e - s),
        (Some(s), None) => format!("{}…", format::duration(format::now_ms() - s)),
        _ => "—".into(),
    }
}

#[component]
pub fn HistoryPage() -> impl IntoView {
    // The gateway lists them newest first already.
    let (runs, load) = list::load::<RunInfo>("/api/runs", |_| {});
    refresh_every(3, load);
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"History"</h1>
                <p class="lead">
                    "Runs this gateway remembers, newest first. Open one for its status and full output."
                </p>
            </header>
            // The engine's column only when there are several to tell apart.
            {move || {
                let several = engines::several();
                view! {
                    <Table
                        list=runs
                        testid="run-history"
                        empty="No runs yet."
                        columns=if several { WITH_ENGINE } else { COLUMNS }
                        row=move |r| row(r, several)
                    />
                }
            }}
        </section>
    }
}

const COLUMNS: &[&str] = &["Status", "Command", "Started", "Duration", "Output"];
const WITH_ENGINE: &[&str] = &[
    "Status", "Engine", "Command", "Started", "Duration", "Output",
];

fn row(r: RunInfo, several: bool) -> impl IntoView {
    let (kind, text) = status(&r);
    let line = argv::parse(&r.argv)
        .map(|s| argv::render_command_line(&s))
        .unwrap_or_else(|_| format!("docker run {}", r.argv.join(" ")));
    let href = format!("/runs/{}", r.run_id);
    view! {
        <tr data-run=r.run_id.clone()>
            <td data-label="Status">{status_badge(kind, text)}</td>
            {several.then(|| view! {
                <td data-label="Engine">{engines::chip(engines::of_run(&r.engine))}</td>
            })}
            <td data-label="Command" class="mono cmd-cell">
                <Link href=href>{line}</Link>
                {r.error.clone().map(|e| view! { <div class="sub error">{e}</div> })}
            </td>
            <td data-label="Started">
                {format::parse_time(&r.created_at).map(format::ago).unwrap_or_default()}
            </td>
            <td data-label="Duration">{took(&r)}</td>
            <td data-label="Output">{format::bytes(r.output_bytes)}</td>
        </tr>
    }
}
