//! One module per page (see `route::Route`), and the pieces the list pages share.

pub mod containers;
pub mod history;
pub mod images;
pub mod run;
pub mod run_view;

use std::time::Duration;

use leptos::prelude::*;

use crate::api::ApiErr;

/// Calls `load` now and every few seconds while the page is shown: lists follow the engine
/// without a reload button.
pub fn refresh_every(seconds: u64, load: impl Fn() + Clone + 'static) {
    load();
    if let Ok(handle) = set_interval_with_handle(load, Duration::from_secs(seconds)) {
        on_cleanup(move || handle.clear());
    }
}

/// A list's loading or error state, in the table's place.
pub fn list_state<T>(
    state: &Option<Result<Vec<T>, ApiErr>>,
    empty: &'static str,
) -> Option<AnyView> {
    match state {
        None => Some(view! { <p class="empty muted">"Loading…"</p> }.into_any()),
        Some(Err(ApiErr::Unauthorized)) => Some(
            view! { <p class="empty">"Sign in to see this list (see the banner above)."</p> }
                .into_any(),
        ),
        Some(Err(e)) => {
            Some(view! { <p class="callout bad" role="alert">{e.to_string()}</p> }.into_any())
        }
        Some(Ok(v)) if v.is_empty() => {
            Some(view! { <p class="empty muted">{empty}</p> }.into_any())
        }
        Some(Ok(_)) => None,
    }
}
