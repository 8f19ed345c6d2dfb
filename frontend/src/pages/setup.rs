//! `/setup`: the first visit, before any user exists. The first admin chooses a username and
//! password, proving with the one-time setup token (`scripts/run.sh` prints it; it is in
//! `<data-dir>/admin-token`) that they run this Berth; `POST /api/setup` then signs them in.
//! Once anyone exists the page only says so and leads to the sign-in.

use berth_shared::wire::{Me, Setup, SetupStatus};
use leptos::ev;
use leptos::prelude::*;

use super::login::field;
use crate::api::{self, ApiErr};
use crate::route::{self, Link};

fn message(e: &ApiErr) -> String {
    match e {
        ApiErr::Unauthorized => {
            "That is not the setup token. Copy it from the terminal running scripts/run.sh, or from <data-dir>/admin-token."
                .into()
        }
        ApiErr::Status { code: 429, .. } => {
            "Too many tries from this address. Wait a few minutes, then try again.".into()
        }
        other => other.to_string(),
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let needed = RwSignal::new(None::<Result<SetupStatus, ApiErr>>);
    let load = move || {
        leptos::task::spawn_local(async move {
            let answer = api::get::<SetupStatus>("/api/setup").await;
            if !needed.is_disposed() {
                needed.set(Some(answer));
            }
        })
    };
    load();
    let token = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let token_field = NodeRef::<leptos::html::Input>::new();

    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let name = username.get_untracked().trim().to_string();
        let body = Setup {
            token: token.get_untracked().trim().to_string(),
            username: name,
            password: password.get_untracked(),
        };
        if body.token.is_empty() || body.username.is_empty() || body.password.is_empty() {
            error.set(Some(
                "Enter the setup token, a username and a password.".into(),
            ));
            return;
        }
        if body.password != repeat.get_untracked() {
            error.set(Some("The two passwords differ.".into()));
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let answer = api::post_json::<_, Me>("/api/setup", &body).await;
            busy.set(false);
            match answer {
                Ok(me) => {
                    let conn = api::connection();
                    conn.me.set(Some(me));
                    conn.auth_required.set(false);
                    route::replace("/");
                }
                // Someone else was first: the page says so.
                Err(ApiErr::Status { code: 409, .. }) => load(),
                Err(e) => error.set(Some(message(&e))),
            }
        });
    };

    let form = move || {
        view! {
            <form class="card login-card" on:submit=submit novalidate data-testid="setup-form">
                <div class="login-logo" aria-hidden="true">"⚓"</div>
                <h1>"Set up Berth"</h1>
                <p class="lead">
                    "Nobody has an account yet. Create the first admin: they add everyone else."
                </p>
                {move || error.get().map(|e| view! {
                    <p class="callout bad" role="alert" data-testid="setup-error">{e}</p>
                })}
                {field("setup-token", "Setup token", "password", "off", token_field, token)}
                <p class="hint muted">
                    "Printed by scripts/run.sh, and in <data-dir>/admin-token on the gateway's host (default /var/lib/berth). It works once."
                </p>
                {field("setup-user", "Username", "text", "username", NodeRef::new(), username)}
                {field("setup-password", "Password (at least 8 characters)", "password", "new-password", NodeRef::new(), password)}
                {field("setup-repeat", "Password again", "password", "new-password", NodeRef::new(), repeat)}
                <button
                    type="submit"
                    class="btn primary block"
                    data-testid="setup-submit"
                    disabled=move || busy.get()
                >
                    {move || if busy.get() { "Creating…" } else { "Create the admin and sign in" }}
                </button>
            </form>
        }
    };

    view! {
        <section class="login-page">
            {move || needed.with(|answer| match answer {
                None => view! { <p class="muted" role="status">"Loading…"</p> }.into_any(),
                Some(Ok(SetupStatus { needed: true })) => form().into_any(),
                Some(Ok(SetupStatus { needed: false })) => view! {
                    <div class="card login-card" data-testid="setup-done">
                        <h1>"Berth is set up"</h1>
                        <p class="lead">"Its first admin exists: sign in, or ask an admin for an account."</p>
                        <Link href="/login".into() class="btn primary block">"Sign in"</Link>
                    </div>
                }
                .into_any(),
                Some(Err(e)) => view! {
                    <p class="callout bad" role="alert">{message(e)}</p>
                }
                .into_any(),
            })}
        </section>
    }
}
