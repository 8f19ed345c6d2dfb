//! One module per page (see `route::Route`), and the pieces the list pages share.

pub mod audit;
pub mod containers;
pub mod history;
pub mod images;
pub mod login;
pub mod run;
pub mod run_view;
pub mod tokens;
pub mod users;

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
        Some(Err(ApiErr::Unauthorized)) => {
            Some(view! { <p class="empty">"Sign in to see this list."</p> }.into_any())
        }
        Some(Err(e)) => {
            Some(view! { <p class="callout bad" role="alert">{e.to_string()}</p> }.into_any())
        }
        Some(Ok(v)) if v.is_empty() => {
            Some(view! { <p class="empty muted">{empty}</p> }.into_any())
        }
        Some(Ok(_)) => None,
    }
}

/// A destructive action that asks once more: the first press turns the button into "Really …?"
/// for a few seconds, the second acts. Keyboard-friendly (no modal dialog).
#[component]
pub fn ConfirmButton(
    label: &'static str,
    confirm: &'static str,
    /// Named for screen readers: what the button acts on.
    #[prop(into)]
    aria_label: String,
    on_confirm: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let armed = RwSignal::new(false);
    view! {
        <button
            type="button"
            class="btn small danger"
            class:armed=move || armed.get()
            data-action=label.to_lowercase()
            aria-label=move || if armed.get() { format!("{confirm} {aria_label}") } else { aria_label.clone() }
            on:click=move |_| {
                if armed.get_untracked() {
                    armed.set(false);
                    on_confirm();
                } else {
                    armed.set(true);
                    set_timeout(move || armed.set(false), Duration::from_secs(4));
                }
            }
        >
            {move || if armed.get() { confirm } else { label }}
        </button>
    }
}

/// A role as a small coloured badge.
pub fn role_badge(role: berth_shared::wire::Role) -> impl IntoView {
    let r = role.as_str();
    view! { <span class=format!("role-badge {r}")>{r}</span> }
}
