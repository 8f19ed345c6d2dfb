//! The engines the gateway drives, as every page needs to know them: their names in the
//! gateway's order, whether there are several (with one, the dashboard shows no engine
//! anywhere but the Engines page: it would be the same word on every row), and which answer.
//! Learnt from every `/api/health` answer (the header polls it) and every `/api/engines`
//! answer (the Engines page polls it faster), whichever came last: both say what the
//! gateway's background checks last found, so the header never contradicts the page.

use std::sync::LazyLock;

use berth_shared::wire::{EngineState, EngineView};
use leptos::prelude::*;

/// The engines in the gateway's order; empty until the gateway said.
static KNOWN: LazyLock<ArcRwSignal<Vec<EngineState>>> =
    LazyLock::new(|| ArcRwSignal::new(Vec::new()));

/// Remembers the engines (`/api/health`'s list), telling the pages only when it changed.
pub fn learn(engines: Vec<EngineState>) {
    if KNOWN.with_untracked(|known| *known != engines) {
        KNOWN.set(engines);
    }
}

/// Remembers the engines from an `/api/engines` answer.
pub fn learn_views(views: &[EngineView]) {
    learn(
        views
            .iter()
            .map(|e| EngineState {
                name: e.name.clone(),
                reachable: e.reachable,
            })
            .collect(),
    );
}

/// The engines' names, in the gateway's order. Reactive.
pub fn names() -> Vec<String> {
    KNOWN.with(|k| k.iter().map(|e| e.name.clone()).collect())
}

/// Whether the gateway drives more than one engine. Reactive.
pub fn several() -> bool {
    KNOWN.with(|k| k.len() > 1)
}

/// With several engines, how many there are and the names of those that did not answer the
/// gateway's last look; `None` with one (the header then speaks of "the engine"). Reactive.
pub fn unreachable_of_several() -> Option<(usize, Vec<String>)> {
    KNOWN.with(|k| {
        (k.len() > 1).then(|| {
            let down = k.iter().filter(|e| !e.reachable);
            (k.len(), down.map(|e| e.name.clone()).collect())
        })
    })
}

/// The engine a run's record names: records from before engines were recorded name none, and
/// ran on the first engine.
pub fn of_run(recorded: &str) -> String {
    if recorded.is_empty() {
        KNOWN.with_untracked(|k| {
            k.first()
                .map(|e| e.name.clone())
                .unwrap_or_else(|| "local".into())
        })
    } else {
        recorded.to_string()
    }
}

/// An engine's name as a small label (rows of lists, the run page).
pub fn chip(name: String) -> impl IntoView {
    let title = format!("On engine {name}");
    view! {
        <span class="engine-chip" title=title>
            <span class="visually-hidden">"engine "</span>
            {name}
        </span>
    }
}

/// "All engines" or one, for the lists of what the engines have (containers, images): shown
/// only when there are several. `value` is the chosen engine's name, empty for all;
/// `on_change` runs after it changed.
#[component]
pub fn EngineFilter(
    value: RwSignal<String>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        several().then(|| {
            view! {
                <div class="engine-filter">
                    <label for="engine-filter">"Engine"</label>
                    <select
                        id="engine-filter"
                        data-testid="engine-filter"
                        prop:value=value
                        on:change=move |e| {
                            value.set(event_target_value(&e));
                            on_change();
                        }
                    >
                        <option value="">"All engines"</option>
                        {names()
                            .into_iter()
                            .map(|n| {
                                let chosen = n.clone();
                                view! {
                                    <option value=chosen.clone() prop:selected=move || value.get() == chosen>
                                        {n}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
            }
        })
    }
}

/// `path` with `?engine=NAME` (or `&engine=NAME` when it has a query already).
pub fn with_engine(path: &str, engine: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}engine={}", crate::api::segment(engine))
}
