//! The runs the gateway remembers, newest first; each opens its page with the full transcript.

use berth_shared::argv;
use berth_shared::wire::{RunInfo, RunState};
use leptos::prelude::*;

use crate::api::{self, ApiErr};
use crate::format;
use crate::pages::{list_state, refresh_every};
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
    let list: RwSignal<Option<Result<Vec<RunInfo>, ApiErr>>> = RwSignal::new(None);
    refresh_every(3, move || {
        leptos::task::spawn_local(async move {
            list.set(Some(api::get::<Vec<RunInfo>>("/api/runs").await));
        });
    });
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"History"</h1>
                <p class="lead">
                    "Runs this gateway remembers, newest first. Open one for its status and full output."
                </p>
            </header>
            {move || {
                let state = list.get();
                if let Some(v) = list_state(&state, "No runs yet.") {
                    return v;
                }
                let rows = state.and_then(Result::ok).unwrap_or_default();
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="run-history">
                            <thead>
                                <tr>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Command"</th>
                                    <th scope="col">"Started"</th>
                                    <th scope="col">"Duration"</th>
                                    <th scope="col">"Output"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows.into_iter().map(|r| {
                                    let (kind, text) = status(&r);
                                    let line = argv::parse(&r.argv)
                                        .map(|s| argv::render_command_line(&s))
                                        .unwrap_or_else(|_| format!("docker run {}", r.argv.join(" ")));
                                    let href = format!("/runs/{}", r.run_id);
                                    view! {
                                        <tr data-run=r.run_id.clone()>
                                            <td data-label="Status">
                                                <span class=format!("status-badge small {kind}")>
                                                    <span class="dot" aria-hidden="true"></span>
                                                    {text}
                                                </span>
                                            </td>
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
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                .into_any()
            }}
        </section>
    }
}
