//! The frame around every page: header with navigation, engine status and theme switch, the
//! banner that says when something is unreachable, and the current page.

use std::time::Duration;

use berth_shared::wire::Health;
use leptos::prelude::*;

use crate::api::{self, ApiErr};
use crate::pages;
use crate::route::{self, Link, Route};
use crate::theme;

/// The last `/api/health` answer, polled while the page is open.
#[derive(Clone)]
struct HealthState(ArcRwSignal<Option<Result<Health, ApiErr>>>);

fn poll_health(state: HealthState) {
    leptos::task::spawn_local(async move {
        let answer = api::get::<Health>("/api/health").await;
        state.0.set(Some(answer));
    });
}

#[component]
pub fn App() -> impl IntoView {
    route::listen();
    let health = HealthState(ArcRwSignal::new(None));
    poll_health(health.clone());
    {
        let health = health.clone();
        let handle =
            set_interval_with_handle(move || poll_health(health.clone()), Duration::from_secs(5));
        std::mem::forget(handle); // for the life of the page
    }
    // Find out at once whether the API wants a sign-in (the banner offers it), rather than on
    // the first action. Health is public, so it cannot tell.
    leptos::task::spawn_local(async {
        let _ = api::get::<serde_json::Value>("/api/me").await;
    });
    let route = route::current();

    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="topbar">
            <Link href="/".into() class="brand">
                <span class="logo" aria-hidden="true">"⚓"</span>
                "Berth"
            </Link>
            <Nav/>
            <div class="topbar-end">
                <EngineStatus health=health.clone()/>
                <theme::ThemeToggle/>
            </div>
        </header>
        <Banner health=health/>
        <main id="main" tabindex="-1">
            {move || match route.get() {
                Route::Run => view! { <pages::run::RunPage/> }.into_any(),
                Route::RunView(id) => view! { <pages::run_view::RunView id=id/> }.into_any(),
                Route::Containers => view! { <pages::containers::ContainersPage/> }.into_any(),
                Route::Images => view! { <pages::images::ImagesPage/> }.into_any(),
                Route::History => view! { <pages::history::HistoryPage/> }.into_any(),
                Route::NotFound => view! {
                    <section class="page">
                        <h1>"Not found"</h1>
                        <p>"No page here. " <Link href="/".into()>"Run a container"</Link></p>
                    </section>
                }
                .into_any(),
            }}
        </main>
    }
}

#[component]
fn Nav() -> impl IntoView {
    let route: RwSignal<Route> = route::current().into();
    let item = move |href: &'static str, label: &'static str, active: fn(&Route) -> bool| {
        view! {
            <li>
                <a
                    href=href
                    class:active=move || active(&route.get())
                    aria-current=move || active(&route.get()).then_some("page")
                    on:click=move |e: leptos::ev::MouseEvent| {
                        if e.button() == 0 && !(e.ctrl_key() || e.meta_key() || e.shift_key()) {
                            e.prevent_default();
                            route::navigate(href);
                        }
                    }
                >
                    {label}
                </a>
            </li>
        }
    };
    view! {
        <nav aria-label="Main">
            <ul>
                {item("/", "Run", |r| matches!(r, Route::Run | Route::RunView(_)))}
                {item("/containers", "Containers", |r| *r == Route::Containers)}
                {item("/images", "Images", |r| *r == Route::Images)}
                {item("/history", "History", |r| *r == Route::History)}
            </ul>
        </nav>
    }
}

#[component]
fn EngineStatus(health: HealthState) -> impl IntoView {
    let h = health.0;
    move || {
        let (class, text, title) = match h.get() {
            None => ("pill", "checking…".to_string(), String::new()),
            Some(Ok(h)) if h.engine.reachable => (
                "pill ok",
                format!(
                    "Docker {} · API {}",
                    h.engine.version.unwrap_or_default(),
                    h.engine.api_version.unwrap_or_default()
                ),
                "The Docker engine is reachable".to_string(),
            ),
            Some(Ok(h)) => (
                "pill bad",
                "engine unreachable".to_string(),
                h.engine.error.unwrap_or_default(),
            ),
            Some(Err(e)) => ("pill bad", "gateway unreachable".to_string(), e.to_string()),
        };
        view! {
            <span class=class data-testid="engine-status" title=title role="status">
                <span class="dot" aria-hidden="true"></span>
                {text}
            </span>
        }
    }
}

/// Says plainly what is wrong when the page cannot work normally.
#[component]
fn Banner(health: HealthState) -> impl IntoView {
    let conn = api::connection();
    let h = health.0;
    let gateway_up = conn.gateway_up.clone();
    let auth = conn.auth_required.clone();
    move || {
        if !gateway_up.get() || matches!(h.get(), Some(Err(ApiErr::Unreachable(_)))) {
            return view! {
                <div class="banner bad" role="alert" data-testid="banner">
                    <strong>"The Berth gateway is unreachable."</strong>
                    " Retrying every few seconds; running containers are not affected."
                </div>
            }
            .into_any();
        }
        if auth.get() {
            return view! { <SignIn/> }.into_any();
        }
        match h.get() {
            Some(Ok(h)) if !h.engine.reachable => view! {
                <div class="banner bad" role="alert" data-testid="banner">
                    <strong>"The Docker engine is unreachable."</strong>
                    " " {h.engine.error.unwrap_or_default()}
                </div>
            }
            .into_any(),
            _ => ().into_any(),
        }
    }
}

/// Shown when the API answers 401: signs in with a username and password (`POST /api/login`,
/// which sets the session cookie that REST calls and WebSockets then carry).
#[component]
fn SignIn() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        let body = serde_json::json!({
            "username": username.get_untracked().trim(),
            "password": password.get_untracked(),
        });
        leptos::task::spawn_local(async move {
            match api::post_json("/api/login", &body).await {
                // Every page reloads its data from scratch, now signed in.
                Ok(_) => {
                    let _ = window().location().reload();
                }
                Err(ApiErr::Unauthorized) => {
                    error.set(Some("Wrong username or password.".into()));
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <div class="banner warn" role="alert" data-testid="banner">
            <form class="signin" on:submit=submit>
                <strong>"Sign in required."</strong>
                <label class="visually-hidden" for="signin-user">"Username"</label>
                <input
                    id="signin-user"
                    type="text"
                    autocomplete="username"
                    placeholder="Username"
                    prop:value=username
                    on:input=move |e| username.set(event_target_value(&e))
                />
                <label class="visually-hidden" for="signin-password">"Password"</label>
                <input
                    id="signin-password"
                    type="password"
                    autocomplete="current-password"
                    placeholder="Password"
                    prop:value=password
                    on:input=move |e| password.set(event_target_value(&e))
                />
                <button type="submit" class="btn primary">"Sign in"</button>
                {move || error.get().map(|e| view! { <span class="error">{e}</span> })}
            </form>
        </div>
    }
}
