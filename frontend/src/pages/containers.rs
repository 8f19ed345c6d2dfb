//! All containers of the engine, with stop / kill / remove / logs / attach.

use berth_shared::wire::AttachedRun;
use leptos::prelude::*;
use serde::Deserialize;

use crate::api;
use crate::format;
use crate::pages::list::{self, Table, refresh_every};
use crate::route::{self, Link};

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

#[component]
pub fn ContainersPage() -> impl IntoView {
    // Running ones first (what you act on), then newest first.
    let (containers, load) = list::load("/api/containers", |v: &mut Vec<Container>| {
        v.sort_by_key(|c| (!c.running(), std::cmp::Reverse(c.created)));
    });
    refresh_every(3, load);
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
            <header class="page-head">
                <h1>"Containers"</h1>
                <p class="lead">"Every container of the engine, refreshed every few seconds."</p>
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
            <Table
                list=containers
                testid="containers-table"
                empty="No containers. Run one from the Run page."
                columns=&["Name", "State", "Image", "Created", "Ports"]
                actions=true
                row=move |c| row(c, act, logs)
            />
        </section>
    }
}

fn row(
    c: Container,
    act: impl Fn(&'static str, String, bool) + Copy + Send + Sync + 'static,
    logs: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    let name = c.name();
    let id = api::segment(&c.id);
    let running = c.running();
    let run_id = c.labels.get(berth_shared::LABEL_RUN_ID).cloned();
    let base = format!("/api/containers/{id}");
    let (stop, kill, remove, attach, log_path) = (
        format!("{base}/stop"),
        format!("{base}/kill?signal=KILL"),
        format!("{base}?force=true"),
        format!("{base}/attach"),
        format!("{base}/logs?tail=500"),
    );
    let confirm_remove = RwSignal::new(false);
    let log_name = name.clone();
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
        <tr data-container=name.clone()>
            <td data-label="Name">
                <strong class="name">{name.clone()}</strong>
                <div class="sub mono muted">{format::short_id(&c.id).to_string()}</div>
                {run_id.map(|r| view! { <Link href=format!("/runs/{r}") class="sub">"view run"</Link> })}
            </td>
            <td data-label="State">
                <span class=state_class>{c.state.clone()}</span>
                <div class="sub muted">{c.status.clone()}</div>
            </td>
            <td data-label="Image" class="mono nowrap">{c.image.clone()}</td>
            <td data-label="Created" class="nowrap">{format::ago(c.created as f64 * 1000.0)}</td>
            <td data-label="Ports" class="mono">{c.ports()}</td>
            <td class="row-actions">
                <button class="btn small" on:click=show_logs>"Logs"</button>
                {(running && may_act).then(|| view! {
                    <button class="btn small" on:click=do_attach.clone()>"Attach"</button>
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
