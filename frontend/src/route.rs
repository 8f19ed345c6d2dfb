//! Client-side routes. The gateway answers every non-API path with index.html, so each of these
//! URLs works when opened directly, reloaded or shared.

use std::sync::LazyLock;

use leptos::ev;
use leptos::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/`: the run form.
    Run,
    /// `/runs/{id}`: one run, live or finished.
    RunView(String),
    Containers,
    Images,
    /// `/engines`: the engines the gateway drives, their health and load.
    Engines,
    History,
    /// `/login?next=/where/you/were`: the sign-in page.
    Login,
    /// `/setup`: the first admin, before anyone has an account.
    Setup,
    /// `/tokens`: your API tokens (admins: everyone's).
    Tokens,
    /// `/registries`: registry credentials (admins manage them; others see their team's).
    Registries,
    /// `/console/{engine}/{container}`: a shell inside a running container.
    Console(String, String),
    /// `/admin/users`: users (admins).
    Users,
    /// `/admin/audit`: the audit log (admins).
    Audit,
    /// `/admin/templates`: demo templates (admins).
    Templates,
    /// `/try/{name}`: a demo template's page, where a visitor (an account or not) opens a
    /// session of it.
    Try(String),
    NotFound,
}

impl Route {
    pub fn parse(path: &str) -> Route {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            [""] => Route::Run,
            ["runs"] | ["history"] => Route::History,
            ["runs", id] if !id.is_empty() => Route::RunView(id.to_string()),
            ["containers"] => Route::Containers,
            ["images"] => Route::Images,
            ["engines"] => Route::Engines,
            ["login"] => Route::Login,
            ["setup"] => Route::Setup,
            ["tokens"] => Route::Tokens,
            ["registries"] => Route::Registries,
            ["console", engine, container] if !container.is_empty() => {
                let decode = |s: &str| {
                    js_sys::decode_uri_component(s)
                        .map(String::from)
                        .unwrap_or_else(|_| s.to_string())
                };
                Route::Console(decode(engine), decode(container))
            }
            ["admin", "users"] => Route::Users,
            ["admin", "audit"] => Route::Audit,
            ["admin", "templates"] => Route::Templates,
            ["try", name] if !name.is_empty() => Route::Try(
                js_sys::decode_uri_component(name)
                    .map(String::from)
                    .unwrap_or_else(|_| name.to_string()),
            ),
            _ => Route::NotFound,
        }
    }

    /// Pages for who has not signed in: no trip to the sign-in page from them, whatever the API
    /// answers (a demo's visitor may have no account at all).
    pub fn is_public(&self) -> bool {
        matches!(self, Route::Login | Route::Setup | Route::Try(_))
    }
}

static CURRENT: LazyLock<ArcRwSignal<Route>> =
    LazyLock::new(|| ArcRwSignal::new(Route::parse(&location_path())));

fn location_path() -> String {
    window().location().pathname().unwrap_or_default()
}

pub fn current() -> ArcRwSignal<Route> {
    CURRENT.clone()
}

/// Follows browser back/forward.
pub fn listen() {
    let route = current();
    let handle = window_event_listener(ev::popstate, move |_| {
        route.set(Route::parse(&location_path()));
    });
    // The app lives as long as the page.
    std::mem::forget(handle);
}

/// Goes to `path` in the app without reloading.
pub fn navigate(path: &str) {
    push(path);
}

/// Goes to `path` in place of the current entry (back does not return to it).
pub fn replace(path: &str) {
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path));
    }
    current().set(Route::parse(path));
}

/// The current path with its query, e.g. `/runs/abc` (where to come back to after signing in).
pub fn here() -> String {
    let loc = window().location();
    format!(
        "{}{}",
        loc.pathname().unwrap_or_default(),
        loc.search().unwrap_or_default()
    )
}

fn push(path: &str) {
    if let Ok(history) = window().history() {
        let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path));
    }
    window().scroll_to_with_x_and_y(0.0, 0.0);
    current().set(Route::parse(path));
}

/// An in-app link: a real `<a href>` (open in new tab, copy link work) that navigates without
/// a reload on a plain click.
#[component]
pub fn Link(
    href: String,
    #[prop(optional, into)] class: String,
    children: Children,
) -> impl IntoView {
    let target = href.clone();
    view! {
        <a
            href=href
            class=class
            on:click=move |e: ev::MouseEvent| {
                if e.button() == 0 && !(e.ctrl_key() || e.meta_key() || e.shift_key() || e.alt_key()) {
                    e.prevent_default();
                    navigate(&target);
                }
            }
        >
            {children()}
        </a>
    }
}
