//! The engine's images, each with a shortcut to run it.

use leptos::prelude::*;
use serde::Deserialize;

use crate::api::{self, ApiErr};
use crate::format;
use crate::pages::run::open_with;
use crate::pages::{list_state, refresh_every};

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
    let list: RwSignal<Option<Result<Vec<Image>, ApiErr>>> = RwSignal::new(None);
    refresh_every(10, move || {
        leptos::task::spawn_local(async move {
            let mut images = api::get::<Vec<Image>>("/api/images").await;
            if let Ok(v) = &mut images {
                v.sort_by_key(|i| std::cmp::Reverse(i.created));
            }
            list.set(Some(images));
        });
    });
    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Images"</h1>
                <p class="lead">"Images the engine has locally. Runs pull what is missing."</p>
            </header>
            {move || {
                let state = list.get();
                if let Some(v) = list_state(&state, "No images yet.") {
                    return v;
                }
                let rows = state.and_then(Result::ok).unwrap_or_default();
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="images-table">
                            <thead>
                                <tr>
                                    <th scope="col">"Repository:tag"</th>
                                    <th scope="col">"ID"</th>
                                    <th scope="col">"Created"</th>
                                    <th scope="col">"Size"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows.into_iter().map(|i| {
                                    let tags = i.repo_tags.clone().unwrap_or_default()
                                        .into_iter()
                                        .filter(|t| t != "<none>:<none>")
                                        .collect::<Vec<_>>();
                                    let first = tags.first().cloned();
                                    view! {
                                        <tr>
                                            <td data-label="Tags" class="mono">
                                                {if tags.is_empty() { "<none>".to_string() } else { tags.join(", ") }}
                                            </td>
                                            <td data-label="ID" class="mono muted">{format::short_id(&i.id).to_string()}</td>
                                            <td data-label="Created">{format::ago(i.created as f64 * 1000.0)}</td>
                                            <td data-label="Size">{format::bytes(i.size.max(0) as u64)}</td>
                                            <td class="row-actions">
                                                {first.filter(|_| crate::api::may_act()).map(|t| view! {
                                                    <button class="btn small" on:click=move |_| open_with(format!("docker run --rm {t}"))>"Run…"</button>
                                                })}
                                            </td>
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
