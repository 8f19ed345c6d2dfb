//! The engines' images (or one engine's), each with a shortcut to run it there.

use berth_shared::wire::OnEngine;
use leptos::prelude::*;
use serde::Deserialize;

use crate::api;
use crate::engines::{self, EngineFilter, with_engine};
use crate::format;
use crate::pages::list::{self, Table, refresh_every};
use crate::pages::run::open_with_on;

/// The fields of the Engine API's `ImageSummary` this page shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Image {
    id: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    size: i64,
}

const COLUMNS: &[&str] = &["Repository:tag", "ID", "Created", "Size"];
const WITH_ENGINE: &[&str] = &["Repository:tag", "Engine", "ID", "Created", "Size"];

#[component]
pub fn ImagesPage() -> impl IntoView {
    // Every engine's, or the one the filter names.
    let engine = RwSignal::new(String::new());
    // (Asked again when an answer arrives, maybe after the page is gone.)
    let path = move || match engine.try_get_untracked().unwrap_or_default() {
        e if e.is_empty() => "/api/images".to_string(),
        e => with_engine("/api/images", &e),
    };
    let (images, load) = list::load_from(path, |v: &mut Vec<OnEngine<Image>>| {
        v.sort_by_key(|i| std::cmp::Reverse(i.item.created));
    });
    refresh_every(10, load);
    view! {
        <section class="page">
            <header class="page-head head-row">
                <div>
                    <h1>"Images"</h1>
                    <p class="lead">
                        {move || if engines::several() {
                            "Images each engine has locally. Runs pull what is missing."
                        } else {
                            "Images the engine has locally. Runs pull what is missing."
                        }}
                    </p>
                </div>
                <EngineFilter value=engine on_change=load/>
            </header>
            {move || {
                let several = engines::several();
                view! {
                    <Table
                        list=images
                        testid="images-table"
                        empty="No images yet."
                        columns=if several { WITH_ENGINE } else { COLUMNS }
                        actions=true
                        row=move |i| row(i, several)
                    />
                }
            }}
        </section>
    }
}

/// One image's row; `several`: the engines are told apart (its engine's column, and "Run…"
/// runs it on that engine, where it already is).
fn row(OnEngine { item: i, engine }: OnEngine<Image>, several: bool) -> impl IntoView {
    let tags = i
        .repo_tags
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t != "<none>:<none>")
        .collect::<Vec<_>>();
    // "Run…" only for those who may run something (the form would explain why not, anyway).
    let first = tags.first().cloned().filter(|_| api::may_run());
    let run_on = several.then(|| engine.clone());
    view! {
        <tr data-engine=engine.clone()>
            <td data-label="Tags" class="mono">
                {if tags.is_empty() { "<none>".to_string() } else { tags.join(", ") }}
            </td>
            {several.then(|| view! { <td data-label="Engine">{engines::chip(engine.clone())}</td> })}
            <td data-label="ID" class="mono muted">{format::short_id(&i.id).to_string()}</td>
            <td data-label="Created">{format::ago(i.created as f64 * 1000.0)}</td>
            <td data-label="Size">{format::bytes(i.size.max(0) as u64)}</td>
            <td class="row-actions">
                {first.map(|t| view! {
                    <button
                        class="btn small"
                        on:click=move |_| open_with_on(format!("docker run --rm {t}"), run_on.clone())
                    >
                        "Run…"
                    </button>
                })}
            </td>
        </tr>
    }
}
