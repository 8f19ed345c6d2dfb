//! `/engines`: the engines the gateway runs containers on, whether each answers, what it is,
//! its labels (what runs can ask for) and its load, refreshed while the page is open. How the
//! gateway reaches each (its host) is for admins: the API gives it to no one else.

use berth_shared::wire::EngineView;
use leptos::prelude::*;

use crate::engines;
use crate::pages::list::{self, Table, refresh_every};
use crate::pages::status_badge;

const COLUMNS: &[&str] = &["Name", "State", "Version", "OS/arch", "Labels", "Load"];
const WITH_HOST: &[&str] = &[
    "Name", "Host", "State", "Version", "OS/arch", "Labels", "Load",
];

#[component]
pub fn EnginesPage() -> impl IntoView {
    // In the gateway's order: the order placement breaks ties in.
    let (list, load) = list::load::<EngineView>("/api/engines", |_| {});
    refresh_every(3, load);
    Effect::new(move |_| {
        list.with(|l| {
            if let Some(Ok(v)) = l {
                engines::learn_views(v);
            }
        })
    });
    let hosts = Memo::new(move |_| {
        list.with(|l| matches!(l, Some(Ok(v)) if v.iter().any(|e| e.host.is_some())))
    });
    let summary = move || {
        list.with(|l| match l {
            Some(Ok(v)) if !v.is_empty() => {
                let up = v.iter().filter(|e| e.reachable).count();
                let runs: u64 = v.iter().map(|e| e.runs).sum();
                Some(format!(
                    "{} · {up} reachable · {}",
                    plural(v.len() as u64, "engine", "engines"),
                    plural(runs, "run in progress", "runs in progress")
                ))
            }
            _ => None,
        })
    };
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Engines"</h1>
                <p class="lead">
                    "The Docker engines this gateway runs containers on, refreshed every few seconds. "
                    "A run without a chosen engine goes to a reachable one with the fewest runs in progress."
                </p>
            </header>
            <p class="muted small list-summary" data-testid="engines-summary" aria-live="polite">{summary}</p>
            {move || {
                let hosts = hosts.get();
                view! {
                    <Table
                        list=list
                        testid="engines-table"
                        caption="Engines"
                        empty="The gateway drives no engine."
                        columns=if hosts { WITH_HOST } else { COLUMNS }
                        row=move |e| row(e, hosts)
                    />
                }
            }}
        </section>
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn row(e: EngineView, hosts: bool) -> impl IntoView {
    let dash = |s: Option<String>| s.filter(|s| !s.is_empty()).unwrap_or_else(|| "—".into());
    let platform = match (&e.os, &e.arch) {
        (Some(os), Some(arch)) => format!("{os}/{arch}"),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => "—".into(),
    };
    let (kind, state) = if e.reachable {
        ("ok", "reachable")
    } else {
        ("bad", "unreachable")
    };
    let runs = match e.max_runs {
        Some(max) => format!("{} of {max} runs", e.runs),
        None => plural(e.runs, "run", "runs"),
    };
    let full = e.max_runs.filter(|max| e.runs >= u64::from(*max)).is_some();
    let fraction = e
        .max_runs
        .filter(|max| *max > 0)
        .map(|max| (e.runs as f64 / f64::from(max)).min(1.0));
    view! {
        <tr data-engine=e.name.clone() data-reachable=e.reachable.to_string()>
            <td data-label="Name"><strong class="name">{e.name.clone()}</strong></td>
            {hosts.then(|| view! {
                <td data-label="Host" class="mono wrap-any">{dash(e.host.clone())}</td>
            })}
            <td data-label="State" data-testid="engine-state">
                {status_badge(kind, state.to_string())}
                {e.error.clone().map(|err| view! { <div class="sub error wrap-any">{err}</div> })}
            </td>
            <td data-label="Version" class="nowrap">
                {dash(e.version.clone())}
                {e.api_version.clone().map(|v| view! { <div class="sub muted">"API " {v}</div> })}
            </td>
            <td data-label="OS/arch" class="mono nowrap">{platform}</td>
            <td data-label="Labels">
                {if e.labels.is_empty() {
                    view! { <span class="muted">"—"</span> }.into_any()
                } else {
                    view! {
                        <ul class="labels" aria-label="Labels">
                            {e.labels.iter().map(|(k, v)| view! {
                                <li class="label-chip mono">{format!("{k}={v}")}</li>
                            }).collect_view()}
                        </ul>
                    }
                    .into_any()
                }}
            </td>
            <td data-label="Load" class="load">
                <span class:error=full>{runs}</span>
                {fraction.map(|f| view! {
                    <div
                        class="bar load-bar"
                        role="progressbar"
                        aria-label=format!("runs on {}", e.name)
                        aria-valuemin="0"
                        aria-valuemax="100"
                        aria-valuenow=format!("{:.0}", f * 100.0)
                    >
                        <div class="bar-fill" class:full=full style=format!("width: {:.1}%", f * 100.0)></div>
                    </div>
                })}
                <div class="sub muted">
                    {plural(e.containers_running, "container running", "containers running")}
                </div>
            </td>
        </tr>
    }
}
