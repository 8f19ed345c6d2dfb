//! The frame around every page: header with navigation, engine status, who is signed in and the
//! theme switch, the banner that says when something is unreachable, and the current page. A 401
//! from the API sends the app to `/login`, which brings the user back afterwards.

use std::time::Duration;

use berth_shared::wire::Health;
use leptos::prelude::*;

use crate::api::{self, ApiErr};
use crate::engines;
use crate::pages;
use crate::route::{self, Link, Route};
use crate::theme;

/// The last `/api/health` answer, polled while the page is open.
#[derive(Clone)]
struct HealthState(ArcRwSignal<Option<Result<Health, ApiErr>>>);

fn poll_health(state: HealthState) {
    leptos::task::spawn_local(async move {
        let answer = api::get::<Health>("/api/health").await;
        if let Ok(h) = &answer
            && !h.engines.is_empty()
        {
            engines::learn(h.engines.clone());
        }
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
    // Who is signed in (the header says so, and the nav and pages follow the role). A 401 here
    // sends the app to the sign-in page at once, rather than on the first action; on a page for
    // visitors without an account (a demo's), it only means nobody is.
    match route::current().get_untracked() {
        Route::Login | Route::Setup => {}
        r if r.is_public() => leptos::task::spawn_local(api::peek_me()),
        _ => leptos::task::spawn_local(async {
            let _ = api::load_me().await;
        }),
    }
    // Whenever the API answers 401: to the sign-in page, which comes back here afterwards.
    {
        let auth = api::connection().auth_required;
        let route = route::current();
        Effect::new(move |_| {
            if auth.get() && !route.get().is_public() {
                let next = api::segment(&route::here());
                route::replace(&format!("/login?next={next}"));
            }
        });
    }
    let route = route::current();
    let signed_in = {
        let me = api::connection().me;
        move || me.get().is_some()
    };

    // A demo's visitor without an account has no use for the engine's version.
    let show_engine = {
        let signed_in = signed_in.clone();
        move || signed_in() || !route::current().get().is_public()
    };
    let status_health = health.clone();

    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="topbar">
            <Link href="/".into() class="brand">
                <span class="logo" aria-hidden="true">"⚓"</span>
                "Berth"
            </Link>
            <Show when=signed_in.clone()>
                <Nav/>
            </Show>
            <div class="topbar-end">
                <Show when=show_engine>
                    <EngineStatus health=status_health.clone()/>
                </Show>
                <UserMenu/>
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
                Route::Engines => view! { <pages::engines::EnginesPage/> }.into_any(),
                Route::History => view! { <pages::history::HistoryPage/> }.into_any(),
                Route::Login => view! { <pages::login::LoginPage/> }.into_any(),
                Route::Setup => view! { <pages::setup::SetupPage/> }.into_any(),
                Route::Tokens => view! { <pages::tokens::TokensPage/> }.into_any(),
                Route::Registries => view! { <pages::registries::RegistriesPage/> }.into_any(),
                Route::Console(engine, container) => {
                    view! { <pages::console::ConsolePage engine=engine container=container/> }
                        .into_any()
                }
                Route::Users => admin_only(|| view! { <pages::users::UsersPage/> }.into_any()),
                Route::Audit => admin_only(|| view! { <pages::audit::AuditPage/> }.into_any()),
                Route::Templates => {
                    admin_only(|| view! { <pages::templates::TemplatesPage/> }.into_any())
                }
                Route::Try(name) => view! { <pages::demo::DemoPage name=name/> }.into_any(),
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

/// An admin page, or why it is not shown (the API would refuse its data anyway).
fn admin_only(page: fn() -> AnyView) -> AnyView {
    let me = api::connection().me;
    let is_admin = Memo::new(move |_| me.get().map(|m| m.is_admin()));
    (move || match is_admin.get() {
        None => view! { <p class="empty muted">"Loading…"</p> }.into_any(),
        Some(true) => page(),
        Some(false) => view! {
            <section class="page">
                <h1>"Admins only"</h1>
                <p class="callout bad" role="alert" data-testid="admins-only">
                    "This page is for admins. Your role cannot see it."
                </p>
            </section>
        }
        .into_any(),
    })
    .into_any()
}

#[component]
fn Nav() -> impl IntoView {
    let route: RwSignal<Route> = route::current().into();
    let me = api::connection().me;
    let is_admin = Memo::new(move |_| me.get().is_some_and(|m| m.is_admin()));
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
        <nav aria-label="Main" data-testid="nav">
            <ul>
                // Only for who may run something: the others would find just why not.
                <Show when=api::may_run>
                    {item("/", "Run", |r| matches!(r, Route::Run | Route::RunView(_)))}
                </Show>
                {item("/containers", "Containers", |r| *r == Route::Containers)}
                {item("/images", "Images", |r| *r == Route::Images)}
                {item("/engines", "Engines", |r| *r == Route::Engines)}
                {item("/history", "History", |r| *r == Route::History)}
                {item("/tokens", "Tokens", |r| *r == Route::Tokens)}
                {item("/registries", "Registries", |r| *r == Route::Registries)}
                <Show when=move || is_admin.get()>
                    <li class="nav-sep" aria-hidden="true"></li>
                    {item("/admin/users", "Users", |r| *r == Route::Users)}
                    {item("/admin/audit", "Audit", |r| *r == Route::Audit)}
                    {item("/admin/templates", "Templates", |r| *r == Route::Templates)}
                </Show>
            </ul>
        </nav>
    }
}

/// Who is signed in, their role, and the way out.
#[component]
fn UserMenu() -> impl IntoView {
    let me = api::connection().me;
    let busy = RwSignal::new(false);
    let sign_out = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            // Signed out either way: a 401 means the session was already gone.
            let _ = api::post("/api/logout").await;
            busy.set(false);
            let conn = api::connection();
            conn.me.set(None);
            conn.auth_required.set(false);
            route::navigate("/login");
        });
    };
    move || {
        me.get().map(|m| {
            let role = m.role.as_str();
            let title = if m.team.is_empty() {
                format!("Signed in as {} ({role})", m.username)
            } else {
                format!("Signed in as {} ({role}, team {})", m.username, m.team)
            };
            view! {
                <div class="whoami" data-testid="whoami" title=title.clone()>
                    <span class="visually-hidden">"Signed in as "</span>
                    <span class="user-name" data-testid="whoami-name">{m.username.clone()}</span>
                    <span class=format!("role-badge {role}") data-testid="whoami-role">{role}</span>
                    <button
                        class="btn small"
                        data-testid="sign-out"
                        on:click=sign_out
                        disabled=move || busy.get()
                    >
                        "Sign out"
                    </button>
                </div>
            }
        })
    }
}

#[component]
fn EngineStatus(health: HealthState) -> impl IntoView {
    let h = health.0;
    move || {
        // Several engines: how many answer, linking to the Engines page that says more.
        if let Some(Ok(_)) = h.get()
            && let Some((total, down)) = engines::unreachable_of_several()
        {
            let (class, text) = if down.is_empty() {
                ("pill ok", format!("{total} engines"))
            } else {
                (
                    "pill bad",
                    format!("{} of {total} engines unreachable", down.len()),
                )
            };
            let title = if down.is_empty() {
                "Every engine is reachable. Open the Engines page".to_string()
            } else {
                format!("Unreachable: {}. Open the Engines page", down.join(", "))
            };
            return view! {
                <Link href="/engines".into() class=format!("{class} pill-link")>
                    <span data-testid="engine-status" title=title role="status">
                        <span class="dot" aria-hidden="true"></span>
                        {text}
                    </span>
                </Link>
            }
            .into_any();
        }
        // The API version goes where the header is short of room (`pill-more`).
        let (class, text, more, title) = match h.get() {
            None => ("pill", "checking…".to_string(), None, String::new()),
            Some(Ok(h)) if h.engine.reachable => {
                let api = h.engine.api_version.unwrap_or_default();
                (
                    "pill ok",
                    format!("Docker {}", h.engine.version.unwrap_or_default()),
                    Some(format!(" · API {api}")),
                    format!("The Docker engine is reachable (API {api})"),
                )
            }
            Some(Ok(h)) => (
                "pill bad",
                "engine unreachable".to_string(),
                None,
                h.engine.error.unwrap_or_default(),
            ),
            Some(Err(e)) => (
                "pill bad",
                "gateway unreachable".to_string(),
                None,
                e.to_string(),
            ),
        };
        view! {
            <span class=class data-testid="engine-status" title=title role="status">
                <span class="dot" aria-hidden="true"></span>
                {text}
                {more.map(|m| view! { <span class="pill-more">{m}</span> })}
            </span>
        }
        .into_any()
    }
}

/// Says plainly what is wrong when the page cannot work normally.
#[component]
fn Banner(health: HealthState) -> impl IntoView {
    let conn = api::connection();
    let h = health.0;
    let gateway_up = conn.gateway_up.clone();
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
        let several = matches!(h.get(), Some(Ok(_)))
            .then(engines::unreachable_of_several)
            .flatten();
        if let Some((total, down)) = several {
            return match down.len() {
                0 => ().into_any(),
                n if n == total => view! {
                    <div class="banner bad" role="alert" data-testid="banner">
                        <strong>"No engine is reachable."</strong>
                        " Runs cannot start until one answers. "
                        <Link href="/engines".into()>"Engines"</Link>
                    </div>
                }
                .into_any(),
                _ => view! {
                    <div class="banner warn" role="status" data-testid="banner">
                        <strong>
                            {if down.len() == 1 { "Engine " } else { "Engines " }}
                            {down.join(", ")}
                            {if down.len() == 1 { " is unreachable." } else { " are unreachable." }}
                        </strong>
                        " New runs go to the other engines. "
                        <Link href="/engines".into()>"Engines"</Link>
                    </div>
                }
                .into_any(),
            };
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
