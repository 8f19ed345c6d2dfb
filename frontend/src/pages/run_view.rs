//! A run's page, `/runs/{id}`: its status, pull progress and terminal, live or replayed. The
//! same URL works in any browser: it watches the run from its first byte.

use std::time::Duration;

use berth_shared::argv;
use berth_shared::wire::RunInfo;
use leptos::prelude::*;

use crate::api;
use crate::engines;
use crate::format;
use crate::pages::run::open_with;
use crate::route::Link;
use crate::session::{self, Layer, LinkState, Phase, Session};

#[component]
pub fn RunView(id: String) -> impl IntoView {
    let session = session::for_run(&id);
    let host = NodeRef::<leptos::html::Div>::new();
    {
        let s = session.clone();
        Effect::new(move |_| {
            if let Some(el) = host.get() {
                s.mount(&el);
            }
        });
    }
    // A ticking clock for the running time.
    let now = RwSignal::new(format::now_ms());
    let tick =
        set_interval_with_handle(move || now.set(format::now_ms()), Duration::from_secs(1)).ok();
    {
        let s = session.clone();
        on_cleanup(move || {
            if let Some(t) = tick {
                t.clear();
            }
            s.close();
        });
    }

    let s = session.clone();
    let info = session.info.clone();
    let cmdline = move || {
        info.get()
            .and_then(|i| argv::parse(&i.argv).ok())
            .map(|spec| argv::render_command_line(&spec))
    };
    let title_id = id.clone();

    view! {
        <section class="page run-view">
            <header class="run-head">
                <div class="run-title">
                    <p class="crumbs">
                        <Link href="/history".into()>"History"</Link>
                        " / run "
                        <code>{format::short_id(&title_id).to_string()}</code>
                    </p>
                    <h1 class="mono cmdline">{move || cmdline().unwrap_or_else(|| "docker run …".into())}</h1>
                </div>
                <RunActions session=s.clone()/>
            </header>
            <StatusBar session=s.clone() now=now/>
            <PullProgress session=s.clone()/>
            <Notices session=s.clone()/>
            <div class="terminal-frame">
                <div class="terminal" data-testid="terminal" node_ref=host></div>
            </div>
            <TerminalKeys session=s.clone()/>
            <Controls session=s.clone()/>
            <crate::pages::inside::RunInside session=s/>
        </section>
    }
}

/// "Copy link" to share the run, "Run again" to open the form with its command.
#[component]
fn RunActions(session: Session) -> impl IntoView {
    let copied = RwSignal::new(false);
    let info = session.info.clone();
    let copy_link = move |_| {
        if let Ok(href) = window().location().href() {
            crate::clipboard::copy_and_flash(href, copied);
        }
    };
    let again = move |_| {
        if let Some(spec) = info.get_untracked().and_then(|i| argv::parse(&i.argv).ok()) {
            open_with(argv::render_command_line(&spec));
        }
    };
    view! {
        <div class="actions">
            <button class="btn" on:click=copy_link title="Anyone with this link can watch the run">
                {move || if copied.get() { "Link copied ✓" } else { "Copy link" }}
            </button>
            <Show when=crate::api::may_run>
                <button class="btn" on:click=again.clone()>"Run again"</button>
            </Show>
        </div>
    }
}

fn elapsed(info: &Option<RunInfo>, now: f64) -> Option<String> {
    let info = info.as_ref()?;
    let start = format::parse_time(info.started_at.as_deref()?)?;
    let end = match info.finished_at.as_deref() {
        Some(f) => format::parse_time(f)?,
        None => now,
    };
    Some(format::duration((end - start).max(0.0)))
}

#[component]
fn StatusBar(session: Session, now: RwSignal<f64>) -> impl IntoView {
    let phase = session.phase.clone();
    let info = session.info.clone();
    let link = session.link.clone();
    let status = {
        let info = info.clone();
        move || {
            let info = info.get();
            let took = |prefix: &str| {
                elapsed(&info, now.get())
                    .map(|d| format!(" · {prefix}{d}"))
                    .unwrap_or_default()
            };
            match phase.get() {
                Phase::Connecting => ("pending", "connecting…".to_string()),
                Phase::Pending => ("pending", "starting…".to_string()),
                Phase::Pulling => ("pending", "pulling the image…".to_string()),
                Phase::Created => ("pending", "created".to_string()),
                Phase::Running => ("running", format!("running{}", took(""))),
                Phase::Exited(code) => (
                    if code == 0 { "ok" } else { "bad" },
                    format!("{}{}", format::exit_status(code), took("ran ")),
                ),
                Phase::Failed { code, message } => ("bad", format::error_status(code, &message)),
                Phase::Detached => (
                    "muted",
                    "detached · the container goes on in the background".to_string(),
                ),
                Phase::Gone(why) => ("muted", format!("unknown run: {why}")),
            }
        }
    };
    // The engine it runs on, when there are several it could be on.
    let engine = {
        let info = info.clone();
        move || {
            engines::several()
                .then(|| info.get().map(|i| engines::of_run(&i.engine)))
                .flatten()
        }
    };
    let meta = move || {
        info.get().map(|i| {
            let container = i
                .container_id
                .as_deref()
                .map(|c| format!(" · container {}", format::short_id(c)))
                .unwrap_or_default();
            let when = format::parse_time(&i.created_at)
                .map(|t| format!(" · started {}", format::ago(t)))
                .unwrap_or_default();
            format!("{}{container}{when}", i.image)
        })
    };
    view! {
        <div class="statusbar">
            {move || {
                let (kind, text) = status();
                view! {
                    <span class=format!("status-badge {kind}") data-testid="run-status" role="status">
                        <span class="dot" aria-hidden="true"></span>
                        {text}
                    </span>
                }
            }}
            {move || engine().map(|name| view! {
                <span class="run-engine" data-testid="run-engine">
                    <span class="muted">"on "</span>
                    {engines::chip(name)}
                </span>
            })}
            <span class="meta muted">{meta}</span>
            {move || (link.get() == LinkState::Reconnecting && !matches!(session.phase.get(), Phase::Connecting)).then(|| view! {
                <span class="reconnecting" role="status">"connection lost · reconnecting…"</span>
            })}
        </div>
    }
}

#[component]
fn PullProgress(session: Session) -> impl IntoView {
    let layers = session.layers.clone();
    let lines = session.pull_lines.clone();
    let phase = session.phase.clone();
    move || {
        let layers = layers.get();
        let lines = lines.get();
        if layers.is_empty() && lines.is_empty() {
            return ().into_any();
        }
        let done = layers.iter().filter(|l| l.done).count();
        let downloaded: u64 = layers.iter().map(|l| l.downloaded).sum();
        let size: u64 = layers.iter().filter_map(|l| l.size).sum();
        let pulling = phase.get() == Phase::Pulling;
        let overall = if size > 0 {
            downloaded as f64 / size as f64
        } else if !layers.is_empty() {
            done as f64 / layers.len() as f64
        } else {
            0.0
        };
        view! {
            <section class="card pull" data-testid="pull-progress" aria-label="Image pull">
                <header class="pull-head">
                    <strong>{if pulling { "Pulling image" } else { "Image pulled" }}</strong>
                    <span class="muted">
                        {format!("{done} of {} layers", layers.len())}
                        {(size > 0).then(|| format!(" · {} of {}", format::bytes(downloaded), format::bytes(size)))}
                    </span>
                </header>
                <Bar fraction=overall label="all layers".to_string()/>
                <ul class="layers">
                    {layers.into_iter().map(|l| view! { <LayerRow layer=l/> }).collect_view()}
                </ul>
                <ul class="pull-lines mono">
                    {lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}
                </ul>
            </section>
        }
        .into_any()
    }
}

#[component]
fn LayerRow(layer: Layer) -> impl IntoView {
    let bytes = match layer.size {
        Some(size) if !layer.done => format!(
            "{} / {}",
            format::bytes(layer.downloaded),
            format::bytes(size)
        ),
        Some(size) => format::bytes(size),
        None => String::new(),
    };
    view! {
        <li class="layer" class:done=layer.done>
            <code class="layer-id">{layer.id.clone()}</code>
            <Bar fraction=layer.fraction label=format!("layer {}", layer.id)/>
            <span class="layer-status">{layer.status}</span>
            <span class="layer-bytes muted">{bytes}</span>
        </li>
    }
}

#[component]
fn Bar(fraction: f64, label: String) -> impl IntoView {
    let pct = (fraction * 100.0).clamp(0.0, 100.0);
    view! {
        <div
            class="bar"
            role="progressbar"
            aria-label=label
            aria-valuemin="0"
            aria-valuemax="100"
            aria-valuenow=format!("{pct:.0}")
        >
            <div class="bar-fill" style=format!("width: {pct:.1}%")></div>
        </div>
    }
}

#[component]
fn Notices(session: Session) -> impl IntoView {
    let notices = session.notices.clone();
    move || {
        let n = notices.get();
        (!n.is_empty()).then(|| {
            view! {
                <ul class="notices">
                    {n.into_iter().map(|m| view! { <li class="callout warn">{m}</li> }).collect_view()}
                </ul>
            }
        })
    }
}

/// How a keyboard gets past the terminal while it takes keys (Tab is then the container's); see
/// `key` in js/terminal.js. Without input, Tab moves on as anywhere else, and this is not shown.
#[component]
pub fn TerminalKeys(session: Session) -> impl IntoView {
    let takes_keys = move || session.takes_input();
    move || {
        takes_keys().then(|| {
            view! {
                <p class="terminal-keys muted" data-testid="terminal-keys">
                    <kbd>"Ctrl"</kbd>"+"<kbd>"Shift"</kbd>"+"<kbd>"↓"</kbd>
                    " leaves the terminal for the controls below ("
                    <kbd>"↑"</kbd>" for those above)."
                </p>
            }
        })
    }
}

/// Signal, stop, detach, end of input; "follow again" after a detach.
#[component]
fn Controls(session: Session) -> impl IntoView {
    let signal = RwSignal::new("INT".to_string());
    let error = RwSignal::new(None::<String>);
    let phase: RwSignal<Phase> = session.phase.clone().into();
    let mode: RwSignal<crate::session::Mode> = session.mode.clone().into();
    let live = move || !phase.get().is_final();
    let s = session.clone();
    let send_signal = move |_| s.signal(&signal.get_untracked());
    let s = session.clone();
    let stop = move |_| {
        let Some(id) = s.run_id.get_untracked() else {
            return;
        };
        leptos::task::spawn_local(async move {
            let path = format!("/api/runs/{}/stop", api::segment(&id));
            error.set(api::post(&path).await.err().map(|e| format!("stop: {e}")));
        });
    };
    let s = session.clone();
    let detach = move |_| s.detach();
    let s = session.clone();
    let eof = move |_| s.close_stdin();
    let s = session.clone();
    let follow = move |_| s.follow();
    view! {
        <div
            class="controls"
            role="toolbar"
            aria-label="Run controls"
            class:ended=move || !live()
            class:readonly=move || !crate::api::may_act()
        >
            <div class="control-group">
                <label for="signal" class="visually-hidden">"Signal"</label>
                <select
                    id="signal"
                    prop:value=signal
                    on:change=move |e| signal.set(event_target_value(&e))
                    disabled=move || !live()
                >
                    <option value="INT">"SIGINT"</option>
                    <option value="TERM">"SIGTERM"</option>
                    <option value="HUP">"SIGHUP"</option>
                    <option value="KILL">"SIGKILL"</option>
                    <option value="USR1">"SIGUSR1"</option>
                    <option value="USR2">"SIGUSR2"</option>
                </select>
                <button class="btn" on:click=send_signal disabled=move || !live()>"Send signal"</button>
            </div>
            <button class="btn danger" data-testid="run-stop" on:click=stop disabled=move || !live()>"Stop"</button>
            {
                move || (live() && mode.get().interactive).then(|| view! {
                    <button class="btn needs-role" on:click=eof.clone() title="Close the container's stdin (Ctrl-D)">"End input"</button>
                })
            }
            {
                move || live().then(|| view! {
                    <button class="btn" on:click=detach.clone() title="Stop following; the container keeps running">"Detach"</button>
                })
            }
            {
                move || (phase.get() == Phase::Detached).then(|| view! {
                    <button class="btn primary" on:click=follow.clone()>"Follow output again"</button>
                })
            }
            {move || {
                let m = mode.get();
                let hint = match (m.interactive, m.tty) {
                    _ if !live() => "The run has ended; its output stays here.",
                    _ if !crate::api::may_act() => "You can watch this run; viewers cannot act on it.",
                    (true, true) => "Keys go to the container's terminal.",
                    (true, false) => "Type a line and press Enter; Ctrl-D ends input.",
                    _ => "Output only: the run was not started with -i.",
                };
                view! { <span class="hint muted">{hint}</span> }
            }}
            {move || error.get().map(|e| view! { <p class="callout bad" role="alert">{e}</p> })}
        </div>
    }
}
