//! `/try/{name}`: a demo template's page (docs/API.md, "Demo environments"). A visitor, with an
//! account or without one (a public template: the gateway gives them a guest cookie on Start),
//! opens a session: a container of the template's command with a terminal, for a limited time.
//! The page says what the template is, then the session's life: "number N in line" while it
//! waits, the terminal (the session's run, followed as the run page follows one, keys and window
//! size going in) with a countdown, Extend and End, a warning a minute before the end, and how
//! it ended, with Start again.
//!
//! Nothing here needs `/api/me`, and no answer sends the visitor to the sign-in page: a 401 only
//! means this template is for signed-in users, and the page says so.

use std::time::Duration;

use berth_shared::wire::{EndedReason, Extended, SessionInfo, SessionRequest, SessionState};
use leptos::prelude::*;

use crate::api::{self, Answer};
use crate::format;
use crate::pages::run_view::TerminalKeys;
use crate::pages::templates::TemplateView as Template;
use crate::route::Link;
use crate::session::Session;

/// How often a queued or running session is asked about: well within the 30 s a queued visitor
/// must ask to keep their place.
const POLL: Duration = Duration::from_secs(3);

/// Where the session is, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    /// No session: the Start button.
    Idle,
    /// Asking for one (or, after a reload, whether the one this browser had goes on).
    Starting,
    Queued {
        id: String,
        position: Option<u32>,
    },
    Running {
        id: String,
        run_id: String,
    },
    Ended {
        reason: Option<EndedReason>,
    },
}

impl Stage {
    /// The session the page follows, while it is queued or running.
    fn session_id(&self) -> Option<&str> {
        match self {
            Stage::Queued { id, .. } | Stage::Running { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// Why no session started, as the page says it.
#[derive(Debug, Clone, PartialEq)]
enum Problem {
    /// The template is for signed-in users, and nobody is.
    SignIn,
    Text(String),
}

/// The template as far as the page knows it.
#[derive(Debug, Clone, PartialEq)]
enum Loaded {
    Loading,
    Found(Box<Template>),
    /// No such template, or not one for this visitor.
    Missing,
    Failed(String),
}

/// The page's state and what it does: cheap to copy into every closure.
#[derive(Clone, Copy)]
struct Demo {
    name: StoredValue<String>,
    template: RwSignal<Loaded>,
    stage: RwSignal<Stage>,
    problem: RwSignal<Option<Problem>>,
    /// A line about the last action (extended, left the queue).
    notice: RwSignal<Option<String>>,
    /// When the running session ends (ms since the epoch), as the gateway last said.
    expires_at: RwSignal<Option<f64>>,
    /// The end the gateway warned of (`expiring`), when it still is the end.
    warned: RwSignal<Option<f64>>,
    /// `extend` said the session is as long as it can be.
    at_cap: RwSignal<bool>,
    /// Extend or End on its way.
    busy: RwSignal<bool>,
    /// The session's terminal: its run, followed; kept after the end with what it printed.
    term: RwSignal<Option<Session>>,
}

impl Demo {
    fn new(name: String) -> Demo {
        Demo {
            name: StoredValue::new(name),
            template: RwSignal::new(Loaded::Loading),
            stage: RwSignal::new(Stage::Idle),
            problem: RwSignal::new(None),
            notice: RwSignal::new(None),
            expires_at: RwSignal::new(None),
            warned: RwSignal::new(None),
            at_cap: RwSignal::new(false),
            busy: RwSignal::new(false),
            term: RwSignal::new(None),
        }
    }

    /// The page is gone: answers arriving now have nowhere to go.
    fn gone(&self) -> bool {
        self.stage.is_disposed()
    }

    fn name(&self) -> String {
        self.name.get_value()
    }

    /// The key under which this browser remembers its session of the template (a reload
    /// resumes it).
    fn storage_key(&self) -> String {
        format!("berth.demo.{}", self.name())
    }

    fn remember(&self, session_id: &str) {
        if let Ok(Some(s)) = window().local_storage() {
            let _ = s.set_item(&self.storage_key(), session_id);
        }
    }

    fn forget(&self) {
        if let Ok(Some(s)) = window().local_storage() {
            let _ = s.remove_item(&self.storage_key());
        }
    }

    fn remembered(&self) -> Option<String> {
        window()
            .local_storage()
            .ok()??
            .get_item(&self.storage_key())
            .ok()?
    }

    fn load_template(self) {
        let path = format!("/api/templates/{}", api::segment(&self.name()));
        leptos::task::spawn_local(async move {
            let loaded = match api::call_get(&path).await {
                Ok(a) if a.ok() => match a.json::<Template>() {
                    Ok(t) => Loaded::Found(Box::new(t)),
                    Err(e) => Loaded::Failed(e.to_string()),
                },
                Ok(a) if matches!(a.status, 401 | 403 | 404) => Loaded::Missing,
                Ok(a) => Loaded::Failed(a.message()),
                Err(e) => Loaded::Failed(e.to_string()),
            };
            if !self.gone() {
                self.template.set(loaded);
            }
        });
    }

    /// Start (or Start again): a new session, or the one the visitor has already (409).
    fn start(self) {
        if matches!(
            self.stage.get_untracked(),
            Stage::Starting | Stage::Queued { .. } | Stage::Running { .. }
        ) {
            return;
        }
        self.drop_terminal();
        self.problem.set(None);
        self.notice.set(None);
        self.stage.set(Stage::Starting);
        let path = format!("/api/templates/{}/sessions", api::segment(&self.name()));
        let (cols, rows) = guess_size();
        let body = SessionRequest {
            cols: Some(cols),
            rows: Some(rows),
        };
        leptos::task::spawn_local(async move {
            let answer = api::call_post(&path, &body).await;
            if self.gone() {
                return;
            }
            match answer {
                Ok(a) if a.ok() => match a.json::<SessionInfo>() {
                    Ok(info) => {
                        self.remember(&info.session_id);
                        self.apply(info);
                    }
                    Err(e) => self.fail(Problem::Text(e.to_string())),
                },
                Ok(a) if a.status == 409 => match a.session_id() {
                    // Already one, queued or running (another tab, a reload): that one goes on.
                    Some(id) => {
                        self.remember(&id);
                        self.resume(id);
                    }
                    None => self.fail(Problem::Text(a.message())),
                },
                Ok(a) => self.fail(refusal(&a)),
                Err(e) => self.fail(Problem::Text(e.to_string())),
            }
        });
    }

    fn fail(&self, problem: Problem) {
        self.problem.set(Some(problem));
        self.stage.set(Stage::Idle);
    }

    /// Follows the session `id` from where it is now, or says how it ended (the visitor left
    /// and comes back: why it is over); back to Start if it is unknown.
    fn resume(self, id: String) {
        self.stage.set(Stage::Starting);
        leptos::task::spawn_local(async move {
            let answer = api::call_get(&format!("/api/sessions/{}", api::segment(&id))).await;
            if self.gone() {
                return;
            }
            match answer.map(|a| (a.ok(), a.json::<SessionInfo>())) {
                Ok((true, Ok(info))) => self.apply(info),
                _ => {
                    self.forget();
                    self.stage.set(Stage::Idle);
                }
            }
        });
    }

    /// What the gateway says of the session: the page follows.
    fn apply(self, info: SessionInfo) {
        match info.state {
            SessionState::Queued => self.stage.set(Stage::Queued {
                id: info.session_id,
                position: info.position,
            }),
            SessionState::Running => {
                if let Some(at) = info.expires_at.as_deref().and_then(format::parse_time)
                    && self.expires_at.get_untracked() != Some(at)
                {
                    self.expires_at.set(Some(at));
                }
                let Some(run_id) = info.run_id else {
                    return; // not yet told which run: the next poll says
                };
                let followed = matches!(
                    self.stage.get_untracked(),
                    Stage::Running { run_id: ref r, .. } if *r == run_id
                );
                if !followed {
                    self.drop_terminal();
                    self.at_cap.set(false);
                    self.warned.set(None);
                    self.term.set(Some(Session::watch_own(&run_id)));
                    self.stage.set(Stage::Running {
                        id: info.session_id,
                        run_id,
                    });
                }
            }
            SessionState::Ended => self.ended(info.ended_reason),
        }
    }

    fn ended(&self, reason: Option<EndedReason>) {
        self.forget();
        if let Some(t) = self.term.get_untracked() {
            t.stop_following();
        }
        self.warned.set(None);
        self.stage.set(Stage::Ended { reason });
    }

    /// Asks where the session is (and keeps a queued visitor's place).
    fn poll(self) {
        let Some(id) = self.stage.get_untracked().session_id().map(str::to_string) else {
            return;
        };
        leptos::task::spawn_local(async move {
            let answer = api::call_get(&format!("/api/sessions/{}", api::segment(&id))).await;
            // Gone, or no longer the page's session.
            if self.gone() || self.stage.get_untracked().session_id() != Some(id.as_str()) {
                return;
            }
            match answer {
                Ok(a) if a.ok() => {
                    if let Ok(info) = a.json::<SessionInfo>() {
                        self.apply(info);
                    }
                }
                // Not known (any more): it is over, for a reason nobody can say now.
                Ok(a) if a.status == 404 => self.ended(None),
                // A hiccup (the gateway restarting): the next poll asks again.
                _ => {}
            }
        });
    }

    fn extend(self) {
        let Some(id) = self.stage.get_untracked().session_id().map(str::to_string) else {
            return;
        };
        self.busy.set(true);
        leptos::task::spawn_local(async move {
            let path = format!("/api/sessions/{}/extend", api::segment(&id));
            let answer = api::call_post_empty(&path).await;
            if self.gone() {
                return;
            }
            self.busy.set(false);
            match answer {
                Ok(a) if a.ok() => match a.json::<Extended>() {
                    Ok(e) => {
                        let at = format::parse_time(&e.expires_at);
                        self.expires_at.set(at);
                        self.problem.set(None);
                        self.notice.set(at.map(|at| {
                            format!(
                                "Extended: the session now ends at {}.",
                                format::time_of_day(at)
                            )
                        }));
                    }
                    Err(e) => self.problem.set(Some(Problem::Text(e.to_string()))),
                },
                Ok(a) if a.status == 409 => {
                    self.at_cap.set(true);
                    self.notice.set(Some(
                        "This session is as long as it can be: it cannot be extended again.".into(),
                    ));
                }
                Ok(a) => self.problem.set(Some(Problem::Text(a.message()))),
                Err(e) => self.problem.set(Some(Problem::Text(e.to_string()))),
            }
        });
    }

    /// End (running) or Leave the queue (queued).
    fn end(self) {
        let stage = self.stage.get_untracked();
        let Some(id) = stage.session_id().map(str::to_string) else {
            return;
        };
        let queued = matches!(stage, Stage::Queued { .. });
        self.busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::call_delete(&format!("/api/sessions/{}", api::segment(&id))).await;
            if self.gone() {
                return;
            }
            self.busy.set(false);
            match answer {
                Ok(a) if a.ok() || a.status == 404 => {
                    self.notice.set(None);
                    if queued {
                        self.forget();
                        self.stage.set(Stage::Idle);
                        self.notice.set(Some("You left the queue.".into()));
                    } else {
                        self.ended(Some(EndedReason::Ended));
                    }
                }
                Ok(a) => self.problem.set(Some(Problem::Text(a.message()))),
                Err(e) => self.problem.set(Some(Problem::Text(e.to_string()))),
            }
        });
    }

    fn drop_terminal(&self) {
        if let Some(t) = self.term.get_untracked() {
            t.close();
            self.term.set(None);
        }
    }
}

/// What a refused start (not 2xx, not 409) means for the visitor.
fn refusal(a: &Answer) -> Problem {
    Problem::Text(match a.status {
        401 => return Problem::SignIn,
        404 => "This demo does not exist any more.".into(),
        429 => "There are too many sessions open from your address. End one, or wait until one \
                ends, then start again."
            .into(),
        503 => match a.retry_after {
            Some(s) => format!(
                "Everyone's place in line is taken: the queue is full. Try again in {}.",
                format::seconds(s.max(1))
            ),
            None => "Everyone's place in line is taken: the queue is full. Try again in a minute."
                .into(),
        },
        _ => format!("The session could not start: {}", a.message()),
    })
}

/// The terminal's size before it exists, from the window's (the stylesheet's terminal box, a
/// 13 px monospace font): what the session's TTY starts with. The terminal then fits its box
/// and sends its exact size.
fn guess_size() -> (u16, u16) {
    let px = |v: Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>, or: f64| {
        v.ok().and_then(|v| v.as_f64()).unwrap_or(or)
    };
    let (w, h) = (
        px(window().inner_width(), 1024.0),
        px(window().inner_height(), 768.0),
    );
    let phone = w <= 720.0;
    let rem: f64 = if phone { 14.0 } else { 15.0 };
    let main = (72.0 * rem).min(w) - if phone { 1.5 * rem } else { 2.5 * rem };
    let inner = main - if phone { 0.5 * rem } else { 0.9 * rem } - 14.0;
    let height = if phone {
        0.55 * h
    } else {
        (0.62 * h).min(36.0 * rem)
    };
    let cols = (inner / 7.8).floor().clamp(20.0, 500.0) as u16;
    let rows = ((height.max(14.0 * rem) - 1.2 * rem) / 15.0)
        .floor()
        .clamp(5.0, 200.0) as u16;
    (cols, rows)
}

/// How a session ended, in a sentence.
fn ending(reason: Option<EndedReason>, template: &Loaded) -> String {
    match reason {
        Some(EndedReason::Expired) => "This session expired.".into(),
        Some(EndedReason::Idle) => match template {
            Loaded::Found(t) => format!("Ended after {} without input.", words(t.idle_seconds)),
            _ => "Ended after a while without input.".into(),
        },
        Some(EndedReason::Ended) => "You ended this session.".into(),
        Some(EndedReason::Exited) => "The program in this session ended.".into(),
        Some(EndedReason::Engine) => "The session failed on the engine.".into(),
        None => "This session has ended.".into(),
    }
}

/// A length of time in words: "10 minutes", "1 minute", "90 seconds", "2 hours".
fn words(s: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if s >= 3600 && s.is_multiple_of(3600) {
        plural(s / 3600, "hour")
    } else if s >= 60 && s.is_multiple_of(60) {
        plural(s / 60, "minute")
    } else {
        plural(s, "second")
    }
}

#[component]
pub fn DemoPage(name: String) -> impl IntoView {
    let demo = Demo::new(name.clone());
    demo.load_template();
    if let Some(id) = demo.remembered() {
        demo.resume(id);
    }
    // The clock of the countdown, and the poll that keeps the page (and a queued visitor's
    // place) up to date.
    let now = RwSignal::new(format::now_ms());
    let tick =
        set_interval_with_handle(move || now.set(format::now_ms()), Duration::from_secs(1)).ok();
    let poll = set_interval_with_handle(move || demo.poll(), POLL).ok();
    // Leaving the page may keep it whole in the browser's back-forward cache, its socket open:
    // the gateway would count the visitor as there, and the session would never be idle. The
    // socket closes as the page goes; coming back to the page from the cache asks where the
    // session is now (its terminal again, or how it ended meanwhile).
    let hide = window_event_listener(leptos::ev::pagehide, move |_| {
        if let Some(Some(t)) = demo.term.try_get_untracked() {
            t.hang_up();
        }
    });
    let show = window_event_listener(leptos::ev::pageshow, move |e| {
        if e.persisted()
            && let Some(id) = demo.stage.get_untracked().session_id().map(str::to_string)
        {
            demo.resume(id);
        }
    });
    on_cleanup(move || {
        hide.remove();
        show.remove();
        for handle in [tick, poll].into_iter().flatten() {
            handle.clear();
        }
        if let Some(Some(t)) = demo.term.try_get_untracked() {
            t.close();
        }
    });

    // The run's end reached the terminal: ask the session why (at once, and once more in case
    // the gateway had not recorded it yet).
    Effect::new(move |_| {
        let Some(t) = demo.term.get() else {
            return;
        };
        if t.phase.get().is_final() && matches!(demo.stage.get_untracked(), Stage::Running { .. }) {
            demo.poll();
            set_timeout(move || demo.poll(), Duration::from_millis(800));
        }
    });
    // The gateway's `expiring`: the end it names is the end, and the page warns of it.
    Effect::new(move |_| {
        let Some(at) = demo
            .term
            .get()
            .and_then(|t| t.expiring.get())
            .and_then(|at| format::parse_time(&at))
        else {
            return;
        };
        demo.expires_at.set(Some(at));
        demo.warned.set(Some(at));
    });
    // Keys go to the terminal as soon as it takes them.
    Effect::new(move |was: Option<bool>| {
        let takes = demo.term.get().is_some_and(|t| t.takes_input());
        if takes
            && was != Some(true)
            && let Some(t) = demo.term.get_untracked()
        {
            t.focus();
        }
        takes
    });

    let stage = Memo::new(move |_| demo.stage.get());
    // The terminal stays after the end, with what it printed.
    let term_key = Memo::new(move |_| demo.term.get().and_then(|t| t.run_id.get_untracked()));

    view! {
        <section class="page demo-page">
            <Head demo=demo/>
            {move || match stage.get() {
                Stage::Idle | Stage::Starting => view! { <StartCard demo=demo/> }.into_any(),
                Stage::Queued { position, .. } => view! { <QueueCard demo=demo position=position/> }.into_any(),
                Stage::Running { .. } => view! { <SessionBar demo=demo now=now/> }.into_any(),
                Stage::Ended { reason } => view! { <EndedCard demo=demo reason=reason/> }.into_any(),
            }}
            {move || term_key.get().and(demo.term.get_untracked()).map(|s| view! { <Terminal session=s/> })}
        </section>
    }
}

/// The template's title and description, or why there is none.
#[component]
fn Head(demo: Demo) -> impl IntoView {
    let name = demo.name();
    move || {
        match demo.template.get() {
        Loaded::Loading => view! {
            <header class="page-head">
                <h1>{name.clone()}</h1>
                <p class="lead muted">"Loading…"</p>
            </header>
        }
        .into_any(),
        Loaded::Found(t) => view! {
            <header class="page-head demo-head">
                <p class="crumbs">"Demo · " <code>{t.name.clone()}</code></p>
                <h1 data-testid="demo-title">{t.title.clone()}</h1>
                {(!t.description.trim().is_empty()).then(|| view! {
                    <p class="lead demo-description" data-testid="demo-description">
                        {t.description.clone()}
                    </p>
                })}
            </header>
        }
        .into_any(),
        Loaded::Missing => {
            let signed_in = api::connection().me.get().is_some();
            let next = format!("/login?next={}", api::segment(&format!("/try/{name}")));
            view! {
                <header class="page-head">
                    <h1>"No demo here"</h1>
                    <p class="lead" data-testid="demo-missing">
                        "There is no demo called " <code>{name.clone()}</code>
                        {if signed_in {
                            ", or it is not open to you.".into_any()
                        } else {
                            view! {
                                ", or it is only for people with an account: "
                                <Link href=next>"sign in"</Link>
                                "."
                            }
                            .into_any()
                        }}
                    </p>
                </header>
            }
            .into_any()
        }
        Loaded::Failed(e) => view! {
            <header class="page-head">
                <h1>{name.clone()}</h1>
                <p class="callout bad" role="alert">{format!("The demo could not be loaded: {e}")}</p>
            </header>
        }
        .into_any(),
    }
    }
}

/// What a session gets, in a sentence.
fn terms(t: &Template) -> String {
    let r = t;
    let life = format::seconds(r.ttl_seconds);
    let longest = r.max_ttl_seconds.filter(|m| *m > r.ttl_seconds);
    format!(
        "You get your own container with a terminal in the browser for {life}{}. It ends after \
         {} without input.",
        longest
            .map(|m| format!(" (you can extend it to {})", format::seconds(m)))
            .unwrap_or_default(),
        format::seconds(r.idle_seconds),
    )
}

#[component]
fn StartCard(demo: Demo) -> impl IntoView {
    let starting = move || demo.stage.get() == Stage::Starting;
    let available = move || matches!(demo.template.get(), Loaded::Found(_));
    let next = format!(
        "/login?next={}",
        api::segment(&format!("/try/{}", demo.name()))
    );
    view! {
        <Show when=move || !matches!(demo.template.get(), Loaded::Missing)>
            <div class="card demo-start" data-testid="demo-start-card">
                <p class="demo-terms">
                    {move || match demo.template.get() {
                        Loaded::Found(t) => terms(&t),
                        _ => String::new(),
                    }}
                </p>
                <button
                    type="button"
                    class="btn primary demo-go"
                    data-testid="demo-start"
                    on:click=move |_| demo.start()
                    disabled=move || starting() || !available()
                >
                    {move || if starting() { "Starting…" } else { "Start" }}
                </button>
                <Notice demo=demo/>
            </div>
        </Show>
        {
            let next = next.clone();
            move || demo.problem.get().map(|p| match p {
                Problem::SignIn => view! {
                    <p class="callout bad" role="alert" data-testid="demo-problem">
                        "This demo is for people with an account. "
                        <Link href=next.clone()>"Sign in"</Link>
                        " to start it."
                    </p>
                }
                .into_any(),
                Problem::Text(text) => view! {
                    <p class="callout bad" role="alert" data-testid="demo-problem">{text}</p>
                }
                .into_any(),
            })
        }
    }
}

/// The last action's outcome ("Extended: …", "You left the queue.").
#[component]
fn Notice(demo: Demo) -> impl IntoView {
    view! {
        <p class="demo-notice" role="status" data-testid="demo-notice">
            {move || demo.notice.get()}
        </p>
    }
}

#[component]
fn QueueCard(demo: Demo, position: Option<u32>) -> impl IntoView {
    view! {
        <div class="card demo-queue" data-testid="demo-queue">
            <p class="queue-position" role="status" aria-live="polite" aria-atomic="true">
                {match position {
                    Some(n) => view! {
                        "You are number " <strong data-testid="demo-position">{n}</strong> " in line."
                    }
                    .into_any(),
                    None => view! { "You are in line." }.into_any(),
                }}
            </p>
            <p class="muted">
                "Every place is taken right now. Your terminal opens here when one is free: keep \
                 this page open, it keeps your place."
            </p>
            <button
                type="button"
                class="btn"
                data-testid="demo-leave"
                on:click=move |_| demo.end()
                disabled=move || demo.busy.get()
            >
                "Leave the queue"
            </button>
            {move || demo.problem.get().map(|p| {
                let text = match p {
                    Problem::Text(t) => t,
                    Problem::SignIn => "Sign in required.".into(),
                };
                view! { <p class="callout bad" role="alert">{text}</p> }
            })}
        </div>
    }
}

/// The running session: its countdown, Extend and End, and the warning before the end.
#[component]
fn SessionBar(demo: Demo, now: RwSignal<f64>) -> impl IntoView {
    let left = move || demo.expires_at.get().map(|at| at - now.get());
    // Said to screen readers once a minute, not every second.
    let minutes_left = Memo::new(move |_| {
        left().map(|ms| {
            let m = (ms.max(0.0) / 60_000.0).ceil() as u64;
            match m {
                0 => "The session is ending.".to_string(),
                1 => "About a minute left.".to_string(),
                m => format!("{m} minutes left."),
            }
        })
    });
    let warn = Memo::new(move |_| {
        let Some(at) = demo.expires_at.get() else {
            return false;
        };
        let warned = demo.warned.get().is_some_and(|w| (w - at).abs() < 1500.0);
        warned || at - now.get() <= 60_000.0
    });
    view! {
        <div class="card session-bar" data-testid="demo-session">
            <span class="status-badge running">
                <span class="dot" aria-hidden="true"></span>
                "running"
            </span>
            <span class="countdown" class:soon=move || warn.get()>
                <span class="muted">"Time left "</span>
                <span role="timer" aria-live="off" class="mono clock" data-testid="demo-countdown">
                    {move || left().map(format::countdown).unwrap_or_else(|| "…".into())}
                </span>
            </span>
            <span class="visually-hidden" aria-live="polite">{move || minutes_left.get()}</span>
            <div class="actions">
                <button
                    type="button"
                    class="btn"
                    data-testid="demo-extend"
                    title="Start the session's time again, up to its longest"
                    on:click=move |_| demo.extend()
                    disabled=move || demo.busy.get() || demo.at_cap.get()
                >
                    "Extend"
                </button>
                <button
                    type="button"
                    class="btn danger"
                    data-testid="demo-end"
                    title="End the session now: its container is removed"
                    on:click=move |_| demo.end()
                    disabled=move || demo.busy.get()
                >
                    "End session"
                </button>
            </div>
        </div>
        {move || warn.get().then(|| view! {
            <div class="callout warn demo-expiring" role="alert" data-testid="demo-expiring">
                <span>
                    <strong>
                        "This session ends in "
                        {move || left().map(format::countdown).unwrap_or_default()}
                        "."
                    </strong>
                    {move || if demo.at_cap.get() {
                        " It cannot be extended again: save what you need."
                    } else {
                        " Extend it to keep working."
                    }}
                </span>
                <button
                    type="button"
                    class="btn small"
                    data-testid="demo-extend-now"
                    on:click=move |_| demo.extend()
                    disabled=move || demo.busy.get() || demo.at_cap.get()
                >
                    "Extend now"
                </button>
            </div>
        })}
        <Notice demo=demo/>
        {move || demo.problem.get().map(|p| {
            let text = match p {
                Problem::Text(t) => t,
                Problem::SignIn => "Sign in required.".into(),
            };
            view! { <p class="callout bad" role="alert" data-testid="demo-problem">{text}</p> }
        })}
    }
}

#[component]
fn EndedCard(demo: Demo, reason: Option<EndedReason>) -> impl IntoView {
    let button = NodeRef::<leptos::html::Button>::new();
    // The keyboard was in the terminal, which takes no keys now.
    Effect::new(move |_| {
        if let Some(b) = button.get() {
            let _ = b.focus();
        }
    });
    view! {
        <div class="card demo-ended" data-testid="demo-ended">
            <p class="ending" role="status">
                <strong data-testid="demo-ending">{move || ending(reason, &demo.template.get())}</strong>
                <span class="muted">
                    {move || if demo.term.get().is_some() {
                        " Its container is gone; what it printed stays below."
                    } else {
                        " Its container is gone."
                    }}
                </span>
            </p>
            <button
                type="button"
                class="btn primary"
                data-testid="demo-again"
                node_ref=button
                on:click=move |_| demo.start()
            >
                "Start again"
            </button>
        </div>
    }
}

/// The session's terminal: its run's, followed from the first byte.
#[component]
fn Terminal(session: Session) -> impl IntoView {
    let host = NodeRef::<leptos::html::Div>::new();
    {
        let s = session.clone();
        Effect::new(move |_| {
            if let Some(el) = host.get() {
                s.mount(&el);
            }
        });
    }
    view! {
        <div class="terminal-frame">
            <div class="terminal" data-testid="terminal" node_ref=host></div>
        </div>
        <TerminalKeys session=session/>
    }
}
