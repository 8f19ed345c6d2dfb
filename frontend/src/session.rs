//! One run as this browser follows it: the WebSocket to the gateway, the terminal it writes to,
//! and the little state the page shows (phase, pull progress, notices).
//!
//! The socket is not the run: when it drops, the session reconnects as a watcher of the same
//! run and says how much output it already has (`{"type":"watch","from":N}`): the gateway
//! replays the run's events, but only the output after those N bytes, so nothing is lost or
//! doubled. Replayed events (pull progress, created, started) land on state they already set,
//! and change nothing the second time. Should the gateway have less output than that (it was
//! restarted and read the run back from the engine), it refuses; the session then clears the
//! terminal and watches once more from the start.

use std::cell::RefCell;
use std::rc::Rc;

use berth_shared::wire::{ClientMessage, PullProgress, RunInfo, RunRequest, ServerEvent};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::api;
use crate::terminal::BerthTerminal;

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Connecting,
    /// Accepted by the gateway, being created.
    Pending,
    Pulling,
    Created,
    Running,
    Exited(i64),
    /// Failed before or while starting: 125, 126 or 127.
    Failed {
        code: i64,
        message: String,
    },
    /// This browser stopped following; the run goes on.
    Detached,
    /// The gateway does not know the run (any more).
    Gone(String),
}

impl Phase {
    /// Order of a run's life, so a replay after a reconnect never moves the page backwards.
    fn rank(&self) -> u8 {
        match self {
            Phase::Connecting => 0,
            Phase::Pending => 1,
            Phase::Pulling => 2,
            Phase::Created => 3,
            Phase::Running => 4,
            _ => 5,
        }
    }
    pub fn is_final(&self) -> bool {
        self.rank() == 5
    }
}

/// One image layer of a pull.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub id: String,
    pub status: String,
    /// Progress of the current step (download, then extraction), 0.0 to 1.0.
    pub fraction: f64,
    /// Bytes downloaded and the layer's size, once the daemon said.
    pub downloaded: u64,
    pub size: Option<u64>,
    pub done: bool,
}

/// Whether the socket is up.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    Live,
    Reconnecting,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Mode {
    pub tty: bool,
    pub interactive: bool,
}

/// What the page renders; cheap to clone, usable from any view closure.
#[derive(Clone)]
pub struct Session {
    pub run_id: ArcRwSignal<Option<String>>,
    pub phase: ArcRwSignal<Phase>,
    pub layers: ArcRwSignal<Vec<Layer>>,
    /// Pull messages about no layer ("Unable to find image …", "Digest: …").
    pub pull_lines: ArcRwSignal<Vec<String>>,
    /// Create warnings and what the gateway could not act on.
    pub notices: ArcRwSignal<Vec<String>>,
    pub info: ArcRwSignal<Option<RunInfo>>,
    pub link: ArcRwSignal<LinkState>,
    pub mode: ArcRwSignal<Mode>,
    inner: SendWrapper<Rc<Inner>>,
}

struct Inner {
    term: BerthTerminal,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    ws: Option<WebSocket>,
    /// The socket's and terminal's callbacks, alive as long as the session.
    callbacks: Vec<Box<dyn std::any::Any>>,
    /// The first message for the next connection (a run, or a watch).
    hello: Option<ClientMessage>,
    /// Where the terminal is in the run's output: the bytes written to it, plus those the
    /// gateway said were dropped before them (`gap`). A reconnect asks for output from here.
    pos: u64,
    /// Whether the current connection asked to resume (`from` sent), and has had no message
    /// yet: an `error` then is the gateway refusing `from`, not the run failing.
    resuming: bool,
    /// Input typed since the last Enter, for runs without a TTY (see `input`).
    line: String,
    retries: u32,
    /// The TTY size last sent to the gateway.
    sent_size: Option<(u16, u16)>,
    closed: bool,
}

thread_local! {
    /// The terminal size of the last mounted terminal: the best guess for a run's first size.
    static LAST_SIZE: RefCell<(u16, u16)> = const { RefCell::new((100, 30)) };
}

impl Session {
    fn new(mode: Mode) -> Session {
        let term = BerthTerminal::new();
        term.set_tty(mode.tty);
        let s = Session {
            run_id: ArcRwSignal::new(None),
            phase: ArcRwSignal::new(Phase::Connecting),
            layers: ArcRwSignal::new(Vec::new()),
            pull_lines: ArcRwSignal::new(Vec::new()),
            notices: ArcRwSignal::new(Vec::new()),
            info: ArcRwSignal::new(None),
            link: ArcRwSignal::new(LinkState::Reconnecting),
            mode: ArcRwSignal::new(mode),
            inner: SendWrapper::new(Rc::new(Inner {
                term,
                state: RefCell::new(State::default()),
            })),
        };
        let me = s.clone();
        let on_data = Closure::<dyn FnMut(String)>::new(move |d: String| me.input(&d));
        s.inner.term.on_data(&on_data);
        let me = s.clone();
        let on_resize = Closure::<dyn FnMut(u16, u16)>::new(move |c, r| me.resized(c, r));
        s.inner.term.on_resize(&on_resize);
        let mut st = s.inner.state.borrow_mut();
        st.callbacks.push(Box::new(on_data));
        st.callbacks.push(Box::new(on_resize));
        drop(st);
        s
    }

    /// Starts `docker run <args>` on `/api/runs/ws`.
    pub fn start(args: Vec<String>, mode: Mode) -> Session {
        let s = Session::new(mode);
        let (cols, rows) = LAST_SIZE.with(|l| *l.borrow());
        s.inner.state.borrow_mut().sent_size = Some((cols, rows));
        s.inner.state.borrow_mut().hello = Some(ClientMessage::Run(Box::new(RunRequest {
            argv: Some(args),
            cols: Some(cols),
            rows: Some(rows),
            ..Default::default()
        })));
        s.connect("/api/runs/ws".into());
        s
    }

    /// Follows an existing run from its start (`/api/runs/{id}/ws`).
    pub fn watch(run_id: &str) -> Session {
        let s = Session::new(Mode::default());
        s.run_id.set(Some(run_id.to_string()));
        s.refresh_info();
        s.follow();
        s
    }

    /// (Re)connects as a watcher: after a drop, or to follow a detached run again.
    pub fn follow(&self) {
        let Some(id) = self.run_id.get_untracked() else {
            return;
        };
        if self.phase.get_untracked() == Phase::Detached {
            self.phase.set(Phase::Running);
        }
        let mut st = self.inner.state.borrow_mut();
        // A fresh page asks for everything; a page with output asks for the rest.
        let from = (st.pos > 0).then_some(st.pos);
        st.hello = Some(ClientMessage::Watch { from });
        drop(st);
        self.connect(format!("/api/runs/{}/ws", api::segment(&id)));
    }

    fn connect(&self, path: String) {
        let ws = match WebSocket::new(&api::ws_url(&path)) {
            Ok(ws) => ws,
            Err(e) => {
                self.fail(125, &format!("cannot open a WebSocket: {e:?}"));
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);

        let me = self.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            let mut st = me.inner.state.borrow_mut();
            let hello = st.hello.clone();
            st.resuming = matches!(hello, Some(ClientMessage::Watch { from: Some(_) }));
            drop(st);
            if let Some(msg) = hello {
                me.send(&msg);
            }
            me.link.set(LinkState::Live);
        });
        let me = self.clone();
        let on_message =
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| me.message(e.data()));
        let me = self.clone();
        let socket = ws.clone();
        let on_close = Closure::<dyn FnMut()>::new(move || me.closed(&socket));

        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut st = self.inner.state.borrow_mut();
        st.callbacks.push(Box::new(on_open));
        st.callbacks.push(Box::new(on_message));
        st.callbacks.push(Box::new(on_close));
        st.ws = Some(ws);
    }

    fn message(&self, data: JsValue) {
        let resuming = {
            let mut st = self.inner.state.borrow_mut();
            st.retries = 0;
            std::mem::take(&mut st.resuming)
        };
        if let Some(text) = data.as_string() {
            match serde_json::from_str::<ServerEvent>(&text) {
                // A resumed watch always starts with the run's `accepted`: an error first is the
                // gateway refusing `from`.
                Ok(ServerEvent::Error { .. }) if resuming => self.replay_all(),
                Ok(event) => self.event(event),
                Err(e) => self.notice(format!("unexpected message from the gateway: {e}")),
            }
        } else if let Ok(buf) = data.dyn_into::<js_sys::ArrayBuffer>() {
            self.output(js_sys::Uint8Array::new(&buf));
        }
    }

    fn output(&self, frame: js_sys::Uint8Array) {
        let len = frame.length();
        if len < 2 {
            return;
        }
        let stderr = frame.get_index(0) == berth_shared::wire::STREAM_STDERR;
        self.inner.state.borrow_mut().pos += u64::from(len - 1);
        self.inner.term.write(&frame.subarray(1, len), stderr);
    }

    /// The gateway refused to resume from where the terminal is (it has less output than that:
    /// restarted, it read the run back from the engine's logs). Starts over: an empty terminal,
    /// and the whole run again, once (a watch from the start cannot be refused that way).
    fn replay_all(&self) {
        let mut st = self.inner.state.borrow_mut();
        if let Some(ws) = st.ws.take() {
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        st.pos = 0;
        st.line.clear();
        drop(st);
        self.inner.term.clear();
        self.follow();
    }

    fn event(&self, event: ServerEvent) {
        match event {
            ServerEvent::Accepted { run_id } => {
                if self.run_id.get_untracked().is_none() {
                    self.run_id.set(Some(run_id));
                    self.refresh_info();
                }
                self.advance(Phase::Pending);
            }
            ServerEvent::Pull(p) => {
                self.advance(Phase::Pulling);
                self.pull(p);
            }
            ServerEvent::Created { warnings, .. } => {
                self.advance(Phase::Created);
                for w in warnings {
                    self.notice(w);
                }
            }
            ServerEvent::Started => {
                self.advance(Phase::Running);
                self.refresh_info(); // for its start time
                let mode = self.mode.get_untracked();
                self.inner.term.set_input(self.takes_input_untracked());
                if mode.tty {
                    let t = &self.inner.term;
                    self.resized(t.cols(), t.rows());
                }
            }
            ServerEvent::Exit { code } => {
                self.finish(Phase::Exited(code));
            }
            ServerEvent::Error { code, message } => {
                if !self.phase.get_untracked().is_final() {
                    self.inner
                        .term
                        .write_text(&format!("\x1b[31mdocker: {message}\x1b[39m\r\n"));
                }
                self.finish(Phase::Failed {
                    code: i64::from(code),
                    message,
                });
            }
            ServerEvent::Detached { .. } => {
                if !self.phase.get_untracked().is_final() {
                    self.finish(Phase::Detached);
                }
            }
            ServerEvent::Gap { bytes } => {
                self.inner.state.borrow_mut().pos += bytes;
                self.inner.term.write_text(&format!(
                    "\r\n\x1b[2m[… {} of output dropped here: it was older than the gateway keeps …]\x1b[22m\r\n",
                    crate::format::bytes(bytes)
                ));
            }
            ServerEvent::Warning { message } => self.notice(message),
        }
    }

    /// Whether the terminal takes keys: a run with `-i`, running, watched by someone who may act
    /// on it (a viewer's keys would only be refused). Reactive.
    pub fn takes_input(&self) -> bool {
        self.phase.get() == Phase::Running && self.mode.get().interactive && api::may_act()
    }

    fn takes_input_untracked(&self) -> bool {
        untrack(|| self.takes_input())
    }

    fn advance(&self, phase: Phase) {
        if phase.rank() > self.phase.get_untracked().rank() {
            self.phase.set(phase);
        }
    }

    fn finish(&self, phase: Phase) {
        self.phase.set(phase);
        self.inner.term.set_input(false);
        self.refresh_info();
    }

    fn finish_gone(&self) {
        let mut st = self.inner.state.borrow_mut();
        st.closed = true;
        if let Some(ws) = st.ws.take() {
            ws.set_onclose(None);
            let _ = ws.close();
        }
        drop(st);
        self.phase.set(Phase::Gone(
            "the gateway does not know this run (deleted, or not yours to see)".into(),
        ));
        self.inner.term.set_input(false);
    }

    fn fail(&self, code: i64, message: &str) {
        self.finish(Phase::Failed {
            code,
            message: message.to_string(),
        });
    }

    fn notice(&self, message: String) {
        self.notices.update(|n| {
            if !n.contains(&message) {
                n.push(message);
            }
        });
    }

    fn pull(&self, p: PullProgress) {
        let is_layer = p.id.len() == 12 && p.id.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_layer {
            let line = if p.id.is_empty() {
                p.status
            } else {
                format!("{}: {}", p.id, p.status)
            };
            self.pull_lines.update(|l| {
                if !l.contains(&line) {
                    l.push(line);
                }
            });
            return;
        }
        self.layers.update(|layers| {
            let at = match layers.iter().position(|l| l.id == p.id) {
                Some(at) => at,
                None => {
                    layers.push(Layer {
                        id: p.id.clone(),
                        status: String::new(),
                        fraction: 0.0,
                        downloaded: 0,
                        size: None,
                        done: false,
                    });
                    layers.len() - 1
                }
            };
            let layer = &mut layers[at];
            if layer.done {
                return; // a replay after a reconnect: this layer's progress is all shown
            }
            let step = match (p.current, p.total) {
                (Some(c), Some(t)) if t > 0 => Some((c as f64 / t as f64).min(1.0)),
                _ => None,
            };
            match p.status.as_str() {
                "Downloading" => {
                    layer.downloaded = p.current.unwrap_or(layer.downloaded);
                    layer.size = p.total.or(layer.size);
                    layer.fraction = step.unwrap_or(layer.fraction);
                }
                "Verifying Checksum" | "Download complete" => {
                    if let Some(size) = layer.size {
                        layer.downloaded = size;
                    }
                    layer.fraction = 1.0;
                }
                "Extracting" => layer.fraction = step.unwrap_or(0.0),
                "Pull complete" | "Already exists" => {
                    layer.fraction = 1.0;
                    layer.done = true;
                }
                _ => {}
            }
            layer.status = p.status;
        });
    }

    fn closed(&self, socket: &WebSocket) {
        let mut st = self.inner.state.borrow_mut();
        // A socket we already replaced or dropped.
        if st.ws.as_ref() != Some(socket) {
            return;
        }
        st.ws = None;
        let closed = st.closed;
        st.retries += 1;
        let retries = st.retries;
        drop(st);
        let phase = self.phase.get_untracked();
        if closed || phase.is_final() {
            self.link.set(LinkState::Closed);
            return;
        }
        let Some(id) = self.run_id.get_untracked() else {
            // Refused before it began: say why if the API can tell (a 401 shows the sign-in).
            self.link.set(LinkState::Closed);
            let me = self.clone();
            leptos::task::spawn_local(async move {
                let why = match api::get::<serde_json::Value>("/api/runs").await {
                    Err(api::ApiErr::Unauthorized) => "sign in required".to_string(),
                    Err(e) => e.to_string(),
                    Ok(_) => "the gateway closed the connection before accepting the run".into(),
                };
                me.fail(125, &why);
            });
            return;
        };
        self.link.set(LinkState::Reconnecting);
        let delay = (250u64 << retries.min(5)).min(5000);
        let me = self.clone();
        set_timeout(
            move || {
                if me.inner.state.borrow().closed {
                    return;
                }
                if retries >= 3 {
                    // Still failing: is it the connection, or has the run been forgotten?
                    let me = me.clone();
                    leptos::task::spawn_local(async move {
                        let path = format!("/api/runs/{}", api::segment(&id));
                        if let Err(api::ApiErr::Status { code: 404, .. }) =
                            api::get::<RunInfo>(&path).await
                        {
                            me.link.set(LinkState::Closed);
                            me.finish_gone();
                        } else {
                            me.follow();
                        }
                    });
                } else {
                    me.follow();
                }
            },
            std::time::Duration::from_millis(delay),
        );
    }

    fn refresh_info(&self) {
        let Some(id) = self.run_id.get_untracked() else {
            return;
        };
        let me = self.clone();
        leptos::task::spawn_local(async move {
            let info = match api::get::<RunInfo>(&format!("/api/runs/{}", api::segment(&id))).await
            {
                Ok(info) => info,
                Err(api::ApiErr::Status { code: 404, .. }) => {
                    me.link.set(LinkState::Closed);
                    me.finish_gone();
                    return;
                }
                Err(_) => return,
            };
            {
                let mode = Mode {
                    tty: info.tty,
                    interactive: info.interactive,
                };
                if mode != me.mode.get_untracked() {
                    me.mode.set(mode);
                    me.inner.term.set_tty(mode.tty);
                }
                me.inner.term.set_input(me.takes_input_untracked());
                me.info.set(Some(info));
            }
        });
    }

    fn send(&self, msg: &ClientMessage) {
        if let Some(ws) = &self.inner.state.borrow().ws {
            let _ = ws.send_with_str(&serde_json::to_string(msg).unwrap_or_default());
        }
    }

    fn send_stdin(&self, bytes: &[u8]) {
        if let Some(ws) = &self.inner.state.borrow().ws {
            let _ = ws.send_with_u8_array(bytes);
        }
    }

    /// Keys typed into the terminal. With a TTY they go to the container as they are. Without
    /// one, the page does what a terminal's line discipline does for `docker run -i`: echo,
    /// backspace, send the line on Enter, Ctrl-D for end of input, Ctrl-C to interrupt.
    fn input(&self, data: &str) {
        let mode = self.mode.get_untracked();
        if !mode.interactive || self.phase.get_untracked() != Phase::Running {
            return;
        }
        if mode.tty {
            self.send_stdin(data.as_bytes());
            return;
        }
        if data.starts_with('\x1b') {
            return; // arrow keys and the like: no line editing beyond backspace
        }
        let term = &self.inner.term;
        for c in data.chars() {
            match c {
                '\r' | '\n' => {
                    let mut line = std::mem::take(&mut self.inner.state.borrow_mut().line);
                    line.push('\n');
                    term.write_text("\r\n");
                    self.send_stdin(line.as_bytes());
                }
                '\x7f' | '\x08' => self.backspace(),
                '\x04' => {
                    let line = std::mem::take(&mut self.inner.state.borrow_mut().line);
                    if line.is_empty() {
                        self.send(&ClientMessage::CloseStdin);
                    } else {
                        self.send_stdin(line.as_bytes());
                    }
                }
                '\x03' => {
                    self.inner.state.borrow_mut().line.clear();
                    term.write_text("^C\r\n");
                    self.signal("INT");
                }
                c if !c.is_control() => {
                    self.inner.state.borrow_mut().line.push(c);
                    let mut buf = [0; 4];
                    term.write_text(c.encode_utf8(&mut buf));
                }
                _ => {}
            }
        }
    }

    /// Erases the last typed character of the line, on screen too.
    fn backspace(&self) {
        if self.inner.state.borrow_mut().line.pop().is_some() {
            self.inner.term.write_text("\x08 \x08");
        }
    }

    fn resized(&self, cols: u16, rows: u16) {
        LAST_SIZE.with(|l| *l.borrow_mut() = (cols, rows));
        if !self.mode.get_untracked().tty || self.phase.get_untracked() != Phase::Running {
            return;
        }
        let mut st = self.inner.state.borrow_mut();
        if st.sent_size == Some((cols, rows)) {
            return;
        }
        st.sent_size = Some((cols, rows));
        drop(st);
        self.send(&ClientMessage::Resize { cols, rows });
    }

    pub fn signal(&self, signal: &str) {
        self.send(&ClientMessage::Signal {
            signal: signal.to_string(),
        });
    }

    pub fn close_stdin(&self) {
        self.send(&ClientMessage::CloseStdin);
    }

    pub fn detach(&self) {
        self.send(&ClientMessage::Detach);
    }

    /// Puts the terminal into `parent` (the page's terminal box).
    pub fn mount(&self, parent: &web_sys::Element) {
        self.inner.term.mount(parent);
        if self.takes_input_untracked() {
            self.inner.term.focus();
        }
    }

    /// Stops following (the run goes on) and frees the terminal. Breaks the reference cycles
    /// between the session and its callbacks.
    pub fn close(&self) {
        let mut st = self.inner.state.borrow_mut();
        if st.closed {
            return;
        }
        st.closed = true;
        if let Some(ws) = st.ws.take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        let callbacks = std::mem::take(&mut st.callbacks);
        drop(st);
        self.inner.term.dispose();
        // Dropped after the socket is closed and the terminal disposed: nothing calls them now.
        drop(callbacks);
    }
}

thread_local! {
    /// Sessions started by the run form, waiting for their run page to pick them up.
    static HANDOFF: RefCell<Vec<(String, Session)>> = const { RefCell::new(Vec::new()) };
}

/// Hands a started session to the page of its run (`/runs/{id}`).
pub fn hand_off(run_id: String, session: Session) {
    HANDOFF.with(|h| h.borrow_mut().push((run_id, session)));
}

/// The session for a run page: the one the form just started, or a new watcher.
pub fn for_run(run_id: &str) -> Session {
    let started = HANDOFF.with(|h| {
        let mut h = h.borrow_mut();
        let at = h.iter().position(|(id, _)| id == run_id)?;
        Some(h.remove(at).1)
    });
    started.unwrap_or_else(|| Session::watch(run_id))
}
