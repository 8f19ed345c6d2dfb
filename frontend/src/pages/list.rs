//! What the list pages (containers, images, history, tokens, users, audit) share: loading a
//! JSON array from the API in a chosen order, and showing it as a table, or in the table's place
//! why there is none (loading, an error, nothing yet). The pages then differ only where they
//! really do: the path, the order, the columns and how one row looks.

use std::time::Duration;

use leptos::prelude::*;
use serde::de::DeserializeOwned;

use crate::api::{self, ApiErr};

/// A list as the page has it: `None` until the first answer, then the answer.
pub type Listing<T> = RwSignal<Option<Result<Vec<T>, ApiErr>>>;

/// A list of what `GET path` answers, sorted with `order`, and the function that (re)loads it:
/// call it once, after a change, or through [`refresh_every`]. A reload keeps showing the old
/// rows until the new ones arrive, so a refreshing table does not flicker.
pub fn load<T>(
    path: &'static str,
    order: fn(&mut Vec<T>),
) -> (Listing<T>, impl Fn() + Copy + Send + Sync + 'static)
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    load_from(move || path.to_string(), order)
}

/// [`load`] from a path that changes (a filter in its query): `path` is asked at each load,
/// untracked, and an answer for a path that is no longer the one asked is dropped (a newer
/// load is on its way), so a slow answer never shows the rows of the previous filter. `path`
/// may run after its page is gone: it should read its signals with `try_get_untracked`.
pub fn load_from<T, P>(
    path: P,
    order: fn(&mut Vec<T>),
) -> (Listing<T>, impl Fn() + Copy + Send + Sync + 'static)
where
    T: DeserializeOwned + Send + Sync + 'static,
    P: Fn() -> String + Copy + Send + Sync + 'static,
{
    let list: Listing<T> = RwSignal::new(None);
    let reload = move || {
        let asked = untrack(path);
        leptos::task::spawn_local(async move {
            let mut answer = api::get::<Vec<T>>(&asked).await;
            // The page is gone, or its filter changed meanwhile.
            if list.is_disposed() || untrack(path) != asked {
                return;
            }
            if let Ok(rows) = &mut answer {
                order(rows);
            }
            list.set(Some(answer));
        });
    };
    (list, reload)
}

/// Calls `load` now and every few seconds while the page is shown: lists of what the engine has
/// follow it without a reload button.
pub fn refresh_every(seconds: u64, load: impl Fn() + Clone + 'static) {
    load();
    if let Ok(handle) = set_interval_with_handle(load, Duration::from_secs(seconds)) {
        on_cleanup(move || handle.clear());
    }
}

/// A list's loading, error or empty state, in the table's place (`Some(Ok(()))`: empty).
fn placeholder(state: Option<Result<(), &ApiErr>>, empty: &'static str) -> AnyView {
    match state {
        None => view! { <p class="empty muted">"Loading…"</p> }.into_any(),
        Some(Err(ApiErr::Unauthorized)) => {
            view! { <p class="empty">"Sign in to see this list."</p> }.into_any()
        }
        Some(Err(e)) => {
            view! { <p class="callout bad" role="alert">{e.to_string()}</p> }.into_any()
        }
        Some(Ok(())) => view! { <p class="empty muted">{empty}</p> }.into_any(),
    }
}

/// A list as a table: one heading per column, one `row` per item, re-rendered when the list
/// changes. At phone width the stylesheet turns each row into a card, labelled by each cell's
/// `data-label`, so rows should set it on their cells.
#[component]
pub fn Table<T, R, V>(
    list: Listing<T>,
    /// The table's `data-testid` (tests and tools find lists by it).
    testid: &'static str,
    /// What to say when the list is empty.
    empty: &'static str,
    columns: &'static [&'static str],
    /// One item's `<tr>`.
    row: R,
    /// Adds a last column without a visible heading, for each row's buttons.
    #[prop(optional)]
    actions: bool,
    /// What the table is, for screen readers.
    #[prop(optional)]
    caption: Option<&'static str>,
    /// More classes for the `<table>`.
    #[prop(optional)]
    class: &'static str,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    R: Fn(T) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let shell = Shell {
        class: format!("table {class}").trim_end().to_string(),
        testid,
        caption,
        columns,
        actions,
    };
    // Only the rows depend on `T`: the rest is built by non-generic code, once in the binary
    // rather than once per list.
    move || {
        list.with(|state| match state {
            Some(Ok(rows)) if !rows.is_empty() => {
                let body = rows.iter().cloned().map(row.clone()).collect_view();
                shell.view(body.into_any())
            }
            other => placeholder(other.as_ref().map(|r| r.as_ref().map(|_| ())), empty),
        })
    }
}

/// A table's markup around its rows.
struct Shell {
    class: String,
    testid: &'static str,
    caption: Option<&'static str>,
    columns: &'static [&'static str],
    actions: bool,
}

impl Shell {
    fn view(&self, body: AnyView) -> AnyView {
        view! {
            <div class="table-wrap">
                <table class=self.class.clone() data-testid=self.testid>
                    {self.caption.map(|c| view! { <caption class="visually-hidden">{c}</caption> })}
                    <thead>
                        <tr>
                            {self.columns.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}
                            {self.actions.then(|| view! {
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            })}
                        </tr>
                    </thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
        }
        .into_any()
    }
}
