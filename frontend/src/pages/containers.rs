//! All containers of the engines (or of one), with stop / kill / remove / logs / attach, each
//! acting on its own row's engine: a name may be on several.

use berth_shared::wire::{AttachedRun, OnEngine};
use leptos::prelude::*;
use serde::Deserialize;

use crate::api;
use crate::engines::{self, EngineFilter, with_engine};
use crate::format;
use crate::pages::console::ConsoleButton;
use crate::pages::list::{self, Table, refresh_every};
use crate::route::{self, Link};
use crate::stats;

/// The fields of the Engine API's `ContainerSummary` this page shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Container {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    ports: Vec<Port>,
    #[serde(default)]
    labels: std::collections::HashMap<String, String>,
    #[serde(default)]
    state: String,
    #[serde(default)]
    status: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Port {
    #[serde(rename = "IP", default)]
    ip: Option<String>,
    #[serde(rename = "PrivatePort")]
    private: u16,
    #[serde(rename = "PublicPort", default)]
    public: Option<u16>,
    #[serde(rename = "Type", default)]
    kind: String,
}

impl Container {
    fn name(&self) -> String {
        self.names
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| format::short_id(&self.id).to_string())
    }
    fn ports(&self) -> String {
        let mut seen: Vec<String> = Vec::new();
        for p in &self.ports {
            let s = match p.public {
                Some(public) => {
                    let ip = p.ip.as_deref().filter(|ip| *ip != "0.0.0.0" && *ip != "::");
                    format!(
                        "{}{public}→{}/{}",
                        ip.map(|ip| format!("{ip}:")).unwrap_or_default(),
                        p.private,
                        p.kind
                    )
                }
                None => format!("{}/{}", p.private, p.kind),
            };
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
        seen.join(", ")
    }
    fn running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "paused" | "restarting")
    }
}

const COLUMNS: &[&str] = &["Name", "State", "Usage", "Image", "Created", "Ports"];
const WITH_ENGINE: &[&str] = &[
    "Name", "Engine", "State", "Usage", "Image", "Created", "Ports",
];

#[component]
pub fn ContainersPage() -> impl IntoView {
    // Every engine's, or the one the filter names.
    let engine = RwSignal::new(String::new());
    // (Asked again when an answer arrives, maybe after the page is gone.)
    let path = move || match engine.try_get_untracked().unwrap_or_default() {
        e if e.is_empty() => "/api/containers".to_string(),
        e => with_engine("/api/containers", &e),
    };
    // Running ones first (what you act on), then newest first.
    let (containers, load) = list::load_from(path, |v: &mut Vec<OnEngine<Container>>| {
        v.sort_by_key(|c| (!c.item.running(), std::cmp::Reverse(c.item.created)));
    });
    refresh_every(3, load);
    // Each running container's CPU and memory, asked again with the list every few refreshes.
    let usage = stats::Cache::new();
    Effect::new(move |_| {
        containers.with(|list| {
            if let Some(Ok(list)) = list {
                let running = list.iter().filter(|c| c.item.state == "running");
                usage.refresh(
                    running
                        .map(|c| (c.engine.clone(), c.item.id.clone()))
                        .collect(),
                );
            }
        })
    });
    let error = RwSignal::new(None::<String>);
    let logs = RwSignal::new(None::<(String, String)>);

    let act = move |label: &'static str, path: String, delete: bool| {
        leptos::task::spawn_local(async move {
            let result = if delete {
                api::delete(&path).await
            } else {
                api::post(&path).await
            };
            error.set(result.err().map(|e| format!("{label}: {e}")));
            load();
        });
    };

    view! {
        <section class="page">
            <header class="page-head head-row">
                <div>
                    <h1>"Containers"</h1>
                    <p class="lead">
                        {move || if engines::several() {
                            "Every container of the engines, refreshed every few seconds."
                        } else {
                            "Every container of the engine, refreshed every few seconds."
                        }}
                    </p>
                </div>
                <EngineFilter value=engine on_change=load/>
            </header>
            {move || error.get().map(|e| view! { <p class="callout bad" role="alert">{e}</p> })}
            {move || logs.get().map(|(name, text)| view! {
                <section class="card logs" aria-label=format!("Logs of {name}")>
                    <header class="logs-head">
                        <strong>"Logs of " <code>{name.clone()}</code></strong>
                        <button class="btn ghost" on:click=move |_| logs.set(None)>"Close"</button>
                    </header>
                    <pre class="mono">{if text.is_empty() { "(no output)".to_string() } else { text }}</pre>
                </section>
            })}
            {move || {
                let several = engines::several();
                view! {
                    <Table
                        list=containers
                        testid="containers-table"
                        empty="No containers. Run one from the Run page."
                        columns=if several { WITH_ENGINE } else { COLUMNS }
                        actions=true
                        row=move |c| row(c, several, act, logs, usage)
                    />
                }
            }}
        </section>
    }
}

/// One container's row; `several`: the engines are told apart (its engine's column).
fn row(
    OnEngine { item: c, engine }: OnEngine<Container>,
    several: bool,
    act: impl Fn(&'static str, String, bool) + Copy + Send + Sync + 'static,
    logs: RwSignal<Option<(String, String)>>,
    usage: stats::Cache,
) -> impl IntoView {
    let name = c.name();
    let id = api::segment(&c.id);
    let running = c.running();
    let run_id = c.labels.get(berth_shared::LABEL_RUN_ID).cloned();
    let base = format!("/api/containers/{id}");
    // Every action names the row's engine: the same name on another engine is another container.
    let on_engine = |path: String| {
        if engine.is_empty() {
            path
        } else {
            with_engine(&path, &engine)
        }
    };
    let (stop, kill, remove, attach, log_path) = (
        on_engine(format!("{base}/stop")),
        on_engine(format!("{base}/kill?signal=KILL")),
        on_engine(format!("{base}?force=true")),
        on_engine(format!("{base}/attach")),
        on_engine(format!("{base}/logs?tail=500")),
    );
    let confirm_remove = RwSignal::new(false);
    let log_name = if several {
        format!("{name} on {engine}")
    } else {
        name.clone()
    };
    let show_logs = move |_| {
        let (path, name) = (log_path.clone(), log_name.clone());
        leptos::task::spawn_local(async move {
            let text = match api::get_text(&path).await {
                Ok(t) => t,
                Err(e) => format!("(could not read the logs: {e})"),
            };
            logs.set(Some((name, text)));
        });
    };
    let do_attach = move |_| {
        let path = attach.clone();
        leptos::task::spawn_local(async move {
            if let Ok(AttachedRun { run_id }) = api::post_for(&path).await {
                route::navigate(&format!("/runs/{run_id}"));
            }
        });
    };
    let state_class = format!("state state-{}", c.state);
    // Viewers act on nothing (the API would refuse): they see the list and the logs.
    let may_act = api::may_act();
    view! {
        <tr data-container=name.clone() data-engine=engine.clone()>
            <td data-label="Name">
                <strong class="name">{name.clone()}</strong>
                <div class="sub mono muted">{format::short_id(&c.id).to_string()}</div>
                {run_id.map(|r| view! { <Link href=format!("/runs/{r}") class="sub">"view run"</Link> })}
            </td>
            {several.then(|| view! { <td data-label="Engine">{engines::chip(engine.clone())}</td> })}
            <td data-label="State">
                <span class=state_class>{c.state.clone()}</span>
                <div class="sub muted">{c.status.clone()}</div>
            </td>
            {usage.cell(&engine, &c.id, c.state == "running")}
            <td data-label="Image" class="mono nowrap">{c.image.clone()}</td>
            <td data-label="Created" class="nowrap">{format::ago(c.created as f64 * 1000.0)}</td>
            <td data-label="Ports" class="mono">{c.ports()}</td>
            <td class="row-actions">
                <button class="btn small" on:click=show_logs>"Logs"</button>
                {(running && may_act).then(|| view! {
                    <button class="btn small" on:click=do_attach.clone()>"Attach"</button>
                    <ConsoleButton engine=engine.clone() container=c.id.clone() label=name.clone() small=true/>
                    <button class="btn small" data-action="stop" on:click=move |_| act("stop", stop.clone(), false)>"Stop"</button>
                    <button class="btn small" data-action="kill" on:click=move |_| act("kill", kill.clone(), false)>"Kill"</button>
                })}
                <button
                    class="btn small danger"
                    data-action="remove"
                    hidden=!may_act
                    on:click=move |_| {
                        if confirm_remove.get_untracked() {
                            act("remove", remove.clone(), true);
                        } else {
                            confirm_remove.set(true);
                            set_timeout(move || confirm_remove.set(false), std::time::Duration::from_secs(4));
                        }
                    }
                >
                    {move || if confirm_remove.get() { "Really remove?" } else { "Remove" }}
                </button>
            </td>
        </tr>
    }
}
