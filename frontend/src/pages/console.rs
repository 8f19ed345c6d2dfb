//! `/console/{engine}/{container}`: a shell inside a running container (`docker exec -it … sh`)
//! in a terminal, over `/api/containers/{id}/exec`. Each console is its own page, so several
//! can be open at once (the Console buttons open one in a new tab); closing the tab, or leaving
//! the page, closes its socket, and with it the shell (a TTY's process gets SIGHUP).

use std::cell::RefCell;
use std::rc::Rc;

use berth_shared::wire::{ClientMessage, ExecRequest, STREAM_STDERR, ServerEvent};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::api;
use crate::engines::{self, with_engine};
use crate::format;
use crate::route::Link;
use crate::terminal::BerthTerminal;

/// The console page of `container` on `engine`.
pub fn href(engine: &str, container: &str) -> String {
    format!(
        "/console/{}/{}",
        api::segment(engine),
        api::segment(container)
    )
}

/// A "Console" button (a link that opens the console in a new tab), for who may act on the
/// container; nothing for viewers (the gateway would refuse them before the upgrade).
#[component]
pub fn ConsoleButton(
    engine: String,
    container: String,
    /// Named for screen readers: which container.
    #[prop(into)]
    label: String,
    #[prop(optional)] small: bool,
) -> impl IntoView {
    let target = href(&engine, &container);
    let class = if small { "btn small" } else { "btn" };
    move || {
        api::may_act().then(|| {
            view! {
                <a
                    class=class
                    href=target.clone()
                    target="_blank"
                    rel="noopener"
                    data-action="console"
                    aria-label=format!("Console in {label} (opens a new tab)")
                    title="A shell inside the container, in a new tab"
                >
                    "Console"
                </a>
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Connecting,
    Running,
    Exited(i64),
    Failed(String),
    /// The socket closed before the process said how it ended (or the page closed it).
    Closed,
}

impl State {
    fn is_final(&self) -> bool {
        !matches!(self, State::Connecting | State::Running)
    }
}

/// One exec's socket and terminal; dropped with the page.
struct Console {
    term: BerthTerminal,
    ws: RefCell<Option<WebSocket>>,
    callbacks: RefCell<Vec<Box<dyn std::any::Any>>>,
    sent_size: RefCell<Option<(u16, u16)>>,
    state: ArcRwSignal<State>,
}

impl Console {
    fn new(state: ArcRwSignal<State>) -> Rc<Console> {
        let term = BerthTerminal::new();
        term.set_tty(true);
        term.set_input(false);
        let c = Rc::new(Console {
            term,
            ws: RefCell::new(None),
            callbacks: RefCell::new(Vec::new()),
            sent_size: RefCell::new(None),
            state,
        });
        let me = Rc::downgrade(&c);
        let on_data = Closure::<dyn FnMut(String)>::new(move |d: String| {
            if let Some(me) = me.upgrade() {
                me.stdin(d.as_bytes());
            }
        });
        c.term.on_data(&on_data);
        let me = Rc::downgrade(&c);
        let on_resize = Closure::<dyn FnMut(u16, u16)>::new(move |cols, rows| {
            if let Some(me) = me.upgrade() {
                me.resized(cols, rows);
            }
        });
        c.term.on_resize(&on_resize);
        c.callbacks.borrow_mut().push(Box::new(on_data));
        c.callbacks.borrow_mut().push(Box::new(on_resize));
        c
    }

    /// Opens the socket and asks for `sh` with a TTY of the terminal's size.
    fn connect(self: &Rc<Self>, path: &str) {
        self.close_socket();
        self.term.clear();
        self.state.set(State::Connecting);
        let ws = match WebSocket::new(&api::ws_url(path)) {
            Ok(ws) => ws,
            Err(e) => {
                self.state
                    .set(State::Failed(format!("cannot open a WebSocket: {e:?}")));
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let me = Rc::downgrade(self);
        let on_open = Closure::<dyn FnMut()>::new(move || {
            let Some(me) = me.upgrade() else { return };
            let (cols, rows) = (me.term.cols(), me.term.rows());
            *me.sent_size.borrow_mut() = Some((cols, rows));
            me.send(&ClientMessage::Exec(Box::new(ExecRequest {
                cmd: vec!["sh".into()],
                tty: true,
                interactive: true,
                cols: Some(cols),
                rows: Some(rows),
                ..Default::default()
            })));
        });
        let me = Rc::downgrade(self);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(me) = me.upgrade() {
                me.message(e.data());
            }
        });
        let me = Rc::downgrade(self);
        let socket = ws.clone();
        let on_close = Closure::<dyn FnMut()>::new(move || {
            let Some(me) = me.upgrade() else { return };
            if me.ws.borrow().as_ref() != Some(&socket) {
                return;
            }
            me.ws.borrow_mut().take();
            me.term.set_input(false);
            if !me.state.get_untracked().is_final() {
                me.state.set(State::Closed);
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut cb = self.callbacks.borrow_mut();
        cb.push(Box::new(on_open));
        cb.push(Box::new(on_message));
        cb.push(Box::new(on_close));
        *self.ws.borrow_mut() = Some(ws);
    }

    fn message(&self, data: JsValue) {
        if let Some(text) = data.as_string() {
            let Ok(event) = serde_json::from_str::<ServerEvent>(&text) else {
                return;
            };
            match event {
                ServerEvent::ExecStarted { .. } => {
                    self.state.set(State::Running);
                    self.term.set_input(true);
                    self.term.focus();
                    self.resized(self.term.cols(), self.term.rows());
                }
                ServerEvent::Exit { code } => {
                    self.term.set_input(false);
                    self.state.set(State::Exited(code));
                }
                ServerEvent::Error { message, .. } => {
                    self.term.set_input(false);
                    self.term
                        .write_text(&format!("\x1b[31m{message}\x1b[39m\r\n"));
                    self.state.set(State::Failed(message));
                }
                _ => {}
            }
        } else if let Ok(buf) = data.dyn_into::<js_sys::ArrayBuffer>() {
            let frame = js_sys::Uint8Array::new(&buf);
            let len = frame.length();
            if len >= 2 {
                let stderr = frame.get_index(0) == STREAM_STDERR;
                self.term.write(&frame.subarray(1, len), stderr);
            }
        }
    }

    fn send(&self, msg: &ClientMessage) {
        if let Some(ws) = &*self.ws.borrow() {
            let _ = ws.send_with_str(&serde_json::to_string(msg).unwrap_or_default());
        }
    }

    fn stdin(&self, bytes: &[u8]) {
        if self.state.get_untracked() != State::Running {
            return;
        }
        if let Some(ws) = &*self.ws.borrow() {
            let _ = ws.send_with_u8_array(bytes);
        }
    }

    fn resized(&self, cols: u16, rows: u16) {
        if self.state.get_untracked() != State::Running
            || *self.sent_size.borrow() == Some((cols, rows))
        {
            return;
        }
        *self.sent_size.borrow_mut() = Some((cols, rows));
        self.send(&ClientMessage::Resize { cols, rows });
    }

    fn close_socket(&self) {
        if let Some(ws) = self.ws.borrow_mut().take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        self.term.set_input(false);
    }

    /// Closes the socket and frees the terminal, for good.
    fn dispose(&self) {
        self.close_socket();
        self.term.dispose();
        let callbacks = std::mem::take(&mut *self.callbacks.borrow_mut());
        drop(callbacks);
    }
}

#[component]
pub fn ConsolePage(engine: String, container: String) -> impl IntoView {
    let state = ArcRwSignal::new(State::Connecting);
    let console = SendWrapper::new(Console::new(state.clone()));
    let exec_path = with_engine(
        &format!("/api/containers/{}/exec", api::segment(&container)),
        &engine,
    );
    let host = NodeRef::<leptos::html::Div>::new();
    {
        let console = console.clone();
        let path = exec_path.clone();
        Effect::new(move |mounted: Option<bool>| {
            if mounted == Some(true) {
                return true;
            }
            let Some(el) = host.get() else { return false };
            console.term.mount(&el);
            console.connect(&path);
            true
        });
    }
    {
        let console = console.clone();
        on_cleanup(move || console.dispose());
    }

    // What the container is, for the heading.
    let info = RwSignal::new(None::<(String, String)>);
    {
        let path = with_engine(
            &format!("/api/containers/{}", api::segment(&container)),
            &engine,
        );
        leptos::task::spawn_local(async move {
            if let Ok(doc) = api::get::<serde_json::Value>(&path).await
                && !info.is_disposed()
            {
                let name = doc["Name"].as_str().unwrap_or_default();
                let image = doc["Config"]["Image"].as_str().unwrap_or_default();
                info.set(Some((
                    name.trim_start_matches('/').to_string(),
                    image.to_string(),
                )));
            }
        });
    }
    let title_container = container.clone();
    let name = move || {
        info.get()
            .map(|(n, _)| n)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format::short_id(&title_container).to_string())
    };
    {
        let name = name.clone();
        Effect::new(move |_| {
            document().set_title(&format!("Console · {} · Berth", name()));
        });
    }
    let status = {
        let state = state.clone();
        move || match state.get() {
            State::Connecting => ("pending", "connecting…".to_string()),
            State::Running => ("running", "shell running".to_string()),
            State::Exited(code) => (
                if code == 0 { "ok" } else { "bad" },
                format!("exited with {code}"),
            ),
            State::Failed(message) => ("bad", format!("error: {message}")),
            State::Closed => ("muted", "disconnected".to_string()),
        }
    };
    let running = {
        let state = state.clone();
        move || state.get() == State::Running
    };
    let ended = {
        let state = state.clone();
        move || state.get().is_final()
    };
    let c = console.clone();
    let disconnect = move |_| {
        c.close_socket();
        c.state.set(State::Closed);
    };
    let c = console.clone();
    let again = move |_| {
        c.connect(&exec_path);
    };
    let several = engines::several;
    let engine_label = engine.clone();

    view! {
        <section class="page console-view">
            <header class="run-head">
                <div class="run-title">
                    <p class="crumbs">
                        <Link href="/containers".into()>"Containers"</Link>
                        " / console"
                    </p>
                    <h1 class="cmdline">
                        "Console in " <code data-testid="console-container">{name.clone()}</code>
                    </h1>
                </div>
            </header>
            <div class="statusbar">
                {move || {
                    let (kind, text) = status();
                    view! {
                        <span class=format!("status-badge {kind}") data-testid="console-status" role="status">
                            <span class="dot" aria-hidden="true"></span>
                            {text}
                        </span>
                    }
                }}
                {move || several().then(|| view! {
                    <span class="run-engine">
                        <span class="muted">"on "</span>
                        {engines::chip(engine_label.clone())}
                    </span>
                })}
                <span class="meta muted mono">
                    "sh · "
                    {move || info.get().map(|(_, image)| image).unwrap_or_default()}
                </span>
            </div>
            <div class="terminal-frame">
                <div class="terminal" data-testid="terminal" node_ref=host role="group" aria-label="Console terminal"></div>
            </div>
            {
                let running = running.clone();
                move || running().then(|| view! {
                    <p class="terminal-keys muted">
                        <kbd>"Ctrl"</kbd>"+"<kbd>"Shift"</kbd>"+"<kbd>"↓"</kbd>
                        " leaves the terminal for the controls below ("
                        <kbd>"↑"</kbd>" for those above)."
                    </p>
                })
            }
            <div class="controls" role="toolbar" aria-label="Console controls">
                {
                    let running = running.clone();
                    move || running().then(|| view! {
                        <button class="btn" data-testid="console-disconnect" on:click=disconnect.clone()
                            title="Close the connection: the shell gets SIGHUP">
                            "Disconnect"
                        </button>
                    })
                }
                {
                    let ended = ended.clone();
                    move || ended().then(|| view! {
                        <button class="btn primary" data-testid="console-again" on:click=again.clone()>
                            "Open a new shell"
                        </button>
                    })
                }
                <span class="hint muted">
                    {move || if running() {
                        "Keys go to a shell inside the container. Closing this tab ends it."
                    } else if ended() {
                        "The shell has ended; the container goes on."
                    } else {
                        "Starting a shell inside the container…"
                    }}
                </span>
            </div>
        </section>
    }
}
