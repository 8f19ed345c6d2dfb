//! One module per page (see `route::Route`), the list pages' common part (`list`), and the
//! small pieces several pages show alike.

pub mod audit;
pub mod console;
pub mod containers;
pub mod demo;
pub mod engines;
pub mod history;
pub mod images;
pub mod inside;
pub mod list;
pub mod login;
pub mod registries;
pub mod run;
pub mod run_view;
pub mod setup;
pub mod templates;
pub mod tokens;
pub mod users;

use std::time::Duration;

use leptos::prelude::*;

use crate::format;

/// A destructive action that asks once more: the first press turns the button into "Really …?"
/// for a few seconds, the second acts. Keyboard-friendly (no modal dialog).
#[component]
pub fn ConfirmButton(
    label: &'static str,
    confirm: &'static str,
    /// Named for screen readers: what the button acts on ("token ci"), read after its text.
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
            // The name says what it acts on, after the words it shows (WCAG 2.5.3: the visible
            // label is part of the accessible name).
            <span class="visually-hidden">{format!(" {aria_label}")}</span>
        </button>
    }
}

/// A role as a small coloured badge.
/// What a failed change says, by status: the server's message, with what it means; `taken`
/// says what a 409 means on the page ("Already taken").
pub fn problem(e: &crate::api::ApiErr, taken: &str) -> String {
    use crate::api::ApiErr;
    match e {
        ApiErr::Status {
            code: 409, message, ..
        } => format!("{taken}: {message}."),
        ApiErr::Status {
            code: 400, message, ..
        } => format!("Not valid: {message}."),
        other => other.to_string(),
    }
}

pub fn role_badge(role: berth_shared::wire::Role) -> impl IntoView {
    let r = role.as_str();
    view! { <span class=format!("role-badge {r}")>{r}</span> }
}

/// A status as a small coloured badge with a dot (`kind`: ok, bad, running, pending, muted…).
pub fn status_badge(kind: &str, text: String) -> impl IntoView {
    view! {
        <span class=format!("status-badge small {kind}")>
            <span class="dot" aria-hidden="true"></span>
            {text}
        </span>
    }
}

/// A "Created" cell: how long ago, with the exact time on hover (`at`: RFC 3339).
pub fn created_cell(at: &str) -> impl IntoView + use<> {
    let (exact, ago) = (format::datetime_rfc3339(at), format::ago_rfc3339(at));
    view! { <td data-label="Created" class="nowrap" title=exact>{ago}</td> }
}
