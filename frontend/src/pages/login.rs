//! `/login`: username and password (`POST /api/login` sets the session cookie that REST calls
//! and WebSockets then carry), then back to where the user was (`?next=`).

use berth_shared::wire::{Login, Me, SetupStatus};
use leptos::ev;
use leptos::prelude::*;

use crate::api::{self, ApiErr};
use crate::route;

/// Where to go after signing in: the `next` parameter when it is a path of this app.
fn next_path() -> String {
    let search = window().location().search().unwrap_or_default();
    let next = search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix("next="))
        .and_then(|v| js_sys::decode_uri_component(v).ok())
        .map(String::from)
        .unwrap_or_default();
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/login") {
        next
    } else {
        "/".into()
    }
}

fn message(e: &ApiErr) -> String {
    match e {
        ApiErr::Unauthorized => "Wrong username or password.".into(),
        ApiErr::Status { code: 429, .. } => {
            "Too many attempts: sign-in is paused for this user. Wait a few minutes, then try again."
                .into()
        }
        ApiErr::Unreachable(_) => {
            "The Berth gateway is unreachable. Check your connection and try again.".into()
        }
        other => other.to_string(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let user_field = NodeRef::<leptos::html::Input>::new();
    let password_field = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = user_field.get() {
            let _ = el.focus();
        }
    });
    // The very first visit: nobody can sign in before the first admin is made.
    leptos::task::spawn_local(async {
        if let Ok(SetupStatus { needed: true }) = api::get::<SetupStatus>("/api/setup").await {
            route::replace("/setup");
        }
    });

    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let name = username.get_untracked().trim().to_string();
        if name.is_empty() || password.get_untracked().is_empty() {
            error.set(Some("Enter your username and password.".into()));
            return;
        }
        let body = Login {
            username: name,
            password: password.get_untracked(),
        };
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let answer = api::post_json::<_, Me>("/api/login", &body).await;
            busy.set(false);
            match answer {
                Ok(me) => {
                    let conn = api::connection();
                    conn.me.set(Some(me));
                    conn.auth_required.set(false);
                    route::replace(&next_path());
                }
                Err(e) => {
                    error.set(Some(message(&e)));
                    password.set(String::new());
                    if let Some(el) = password_field.get_untracked() {
                        let _ = el.focus();
                    }
                }
            }
        });
    };

    view! {
        <section class="login-page">
            <form class="card login-card" on:submit=submit novalidate data-testid="login-form">
                <div class="login-logo" aria-hidden="true">"⚓"</div>
                <h1>"Sign in to Berth"</h1>
                <p class="lead">"Use the username and password an admin gave you."</p>
                {move || error.get().map(|e| view! {
                    <p class="callout bad" role="alert" data-testid="login-error">{e}</p>
                })}
                {field("login-user", "Username", "text", "username", user_field, username)}
                {field("login-password", "Password", "password", "current-password", password_field, password)}
                <button
                    type="submit"
                    class="btn primary block"
                    data-testid="login-submit"
                    disabled=move || busy.get()
                >
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
                <p class="login-foot muted">
                    "Scripts and CI use an API token instead: create one on the Tokens page once signed in."
                </p>
            </form>
        </section>
    }
}

/// A labelled, required field of the sign-in form, editing `value`.
pub(super) fn field(
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    node_ref: NodeRef<leptos::html::Input>,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                type=kind
                node_ref=node_ref
                autocomplete=autocomplete
                autocapitalize="off"
                spellcheck="false"
                required
                prop:value=value
                on:input=move |e| value.set(event_target_value(&e))
            />
        </div>
    }
}
