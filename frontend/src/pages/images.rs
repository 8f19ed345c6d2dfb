//! The engine's images, each with a shortcut to run it.

use leptos::prelude::*;
use serde::Deserialize;

use crate::api;
use crate::format;
use crate::pages::list::{self, Table, refresh_every};
use crate::pages::run::open_with;

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

#[component]
pub fn ImagesPage() -> impl IntoView {
    let (images, load) = list::load("/api/images", |v: &mut Vec<Image>| {
        v.sort_by_key(|i| std::cmp::Reverse(i.created));
    });
    refresh_every(10, load);
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Images"</h1>
                <p class="lead">"Images the engine has locally. Runs pull what is missing."</p>
            </header>
            <Table
                list=images
                testid="images-table"
                empty="No images yet."
                columns=&["Repository:tag", "ID", "Created", "Size"]
                actions=true
                row=row
            />
        </section>
    }
}

fn row(i: Image) -> impl IntoView {
    let tags = i
        .repo_tags
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t != "<none>:<none>")
        .collect::<Vec<_>>();
    // "Run…" only for those who may run something (the form would explain why not, anyway).
    let first = tags.first().cloned().filter(|_| api::may_run());
    view! {
        <tr>
            <td data-label="Tags" class="mono">
                {if tags.is_empty() { "<none>".to_string() } else { tags.join(", ") }}
            </td>
            <td data-label="ID" class="mono muted">{format::short_id(&i.id).to_string()}</td>
            <td data-label="Created">{format::ago(i.created as f64 * 1000.0)}</td>
            <td data-label="Size">{format::bytes(i.size.max(0) as u64)}</td>
            <td class="row-actions">
                {first.map(|t| view! {
                    <button class="btn small" on:click=move |_| open_with(format!("docker run --rm {t}"))>"Run…"</button>
                })}
            </td>
        </tr>
    }
}
