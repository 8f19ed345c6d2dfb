//! `/admin/audit` (admins): the append-only audit log, newest first, a page at a time, and the
//! whole log as JSON lines.

use berth_shared::wire::AuditEntry;
use leptos::prelude::*;

use crate::api;
use crate::format;
use crate::pages::list::{Listing, Table};
use crate::pages::status_badge;

const PAGE: usize = 100;
const EXPORT: &str = "/api/audit?format=jsonl&limit=100000";

#[component]
pub fn AuditPage() -> impl IntoView {
    // Loaded a page at a time (not with `list::load`): older pages are appended.
    let list: Listing<AuditEntry> = RwSignal::new(None);
    let more = RwSignal::new(false);
    let loading = RwSignal::new(false);
    let more_error = RwSignal::new(None::<String>);

    // `before`: the oldest id shown, to append the page before it; `None` starts over.
    let load = move |before: Option<i64>| {
        loading.set(true);
        leptos::task::spawn_local(async move {
            let path = match before {
                Some(id) => format!("/api/audit?limit={PAGE}&before={id}"),
                None => format!("/api/audit?limit={PAGE}"),
            };
            let page = api::get::<Vec<AuditEntry>>(&path).await;
            loading.set(false);
            match (before, page) {
                (Some(_), Ok(entries)) => {
                    more.set(entries.len() == PAGE);
                    more_error.set(None);
                    list.update(|l| {
                        if let Some(Ok(v)) = l {
                            v.extend(entries);
                        }
                    });
                }
                (Some(_), Err(e)) => more_error.set(Some(e.to_string())),
                (None, page) => {
                    more.set(page.as_ref().is_ok_and(|v| v.len() == PAGE));
                    list.set(Some(page));
                }
            }
        });
    };
    load(None);
    let load_more = move |_| {
        let last = list.with_untracked(|l| match l {
            Some(Ok(v)) => v.last().map(|e| e.id),
            _ => None,
        });
        if let Some(id) = last {
            load(Some(id));
        }
    };

    view! {
        <section class="page">
            <header class="page-head head-row">
                <div>
                    <h1>"Audit log"</h1>
                    <p class="lead">
                        "Every sign-in, user and token change, run and container action, and refused credential, newest first. Append-only."
                    </p>
                </div>
                <div class="actions">
                    <button class="btn" on:click=move |_| load(None) disabled=move || loading.get()>"Refresh"</button>
                    <a class="btn" href=EXPORT download="berth-audit.jsonl" data-testid="audit-export">
                        "Export JSON lines"
                    </a>
                </div>
            </header>
            <Table
                list=list
                testid="audit-table"
                class="audit"
                caption="Audit log, newest first"
                empty="Nothing recorded yet."
                columns=&["Time", "Actor", "Action", "Target", "Outcome", "Detail", "Remote"]
                row=row
            />
            <div class="list-foot">
                {move || more_error.get().map(|e| view! { <p class="callout bad" role="alert">{e}</p> })}
                {move || if more.get() {
                    view! {
                        <button class="btn" data-testid="audit-more" on:click=load_more disabled=move || loading.get()>
                            {move || if loading.get() { "Loading…" } else { "Load older entries" }}
                        </button>
                    }.into_any()
                } else if list.with(|l| matches!(l, Some(Ok(v)) if !v.is_empty())) {
                    view! { <p class="muted small">"The beginning of the log."</p> }.into_any()
                } else {
                    ().into_any()
                }}
            </div>
        </section>
    }
}

fn row(e: AuditEntry) -> impl IntoView {
    let outcome = match e.outcome.as_str() {
        "ok" => "ok",
        "denied" => "denied",
        _ => "bad",
    };
    let dash = |s: String| if s.is_empty() { "—".to_string() } else { s };
    view! {
        <tr data-audit=e.id.to_string()>
            <td data-label="Time" class="nowrap" title=e.at.clone()>{format::datetime_rfc3339(&e.at)}</td>
            <td data-label="Actor">
                {if e.actor == "-" {
                    view! { <span class="muted" title="No valid credentials">"anonymous"</span> }.into_any()
                } else {
                    view! { <strong class="name">{e.actor}</strong> }.into_any()
                }}
            </td>
            <td data-label="Action" class="mono nowrap">{e.action}</td>
            <td data-label="Target" class="mono wrap-any">{dash(e.target)}</td>
            <td data-label="Outcome">{status_badge(outcome, e.outcome)}</td>
            <td data-label="Detail" class="wrap-any">{dash(e.detail)}</td>
            <td data-label="Remote" class="mono nowrap muted">{dash(e.remote)}</td>
        </tr>
    }
}
