//! One run as this browser follows it: the terminal it writes to, and the little state the page
//! shows (phase, pull progress, notices), kept up to date from the run's events.
//!
//! The socket (`socket.rs`) is not the run: when it drops, the session reconnects as a watcher
//! of the same run and the gateway replays the run's events, but only the output after what the
//! terminal has, so nothing is lost or doubled. Replayed events (pull progress, created,
//! started) land on state they already set, and change nothing the second time. The page's
//! phase is derived in one place, [`Session::event`]: the fold of the events received
//! (`RunInfo::apply`, the gateway's own), never moving backwards. Pull progress is folded in
//! `progress.rs`, and keys typed into a run without a TTY go through `line.rs`.

mod line;
mod progress;
mod socket;

use std::cell::RefCell;
use std::rc::Rc;

use berth_shared::wire::{ClientMessage, RunInfo, RunRequest, RunState, ServerEvent};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::prelude::*;
use web_sys::WebSocket;

pub use self::progress::Layer;
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

    /// Where the run's events so far (`record`, their fold) have put it. `Connecting`,
    /// `Detached` and `Gone` are this browser's, never the run's.
    fn of(record: &RunInfo) -> Phase {
        match record.state {
            RunState::Pending => Phase::Pending,
            RunState::Pulling => Phase::Pulling,
            RunState::Created => Phase::Created,
            RunState::Running => Phase::Running,
            RunState::Exited => Phase::Exited(record.exit_code.unwrap_or_default()),
            RunState::Failed => Phase::Failed {
                code: record.exit_code.unwrap_or_default(),
                message: record.error.clone().unwrap_or_default(),
            },
        }
    }
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
    /// A demo session's run said it ends at this time (RFC 3339), a minute ahead (`expiring`).
    pub expiring: ArcRwSignal<Option<String>>,
    inner: SendWrapper<Rc<Inner>>,
}

struct Inner {
    term: BerthTerminal,
    /// The browser's visitor owns the run (a demo session's): its keys go in whatever the
    /// signed-in role, guests included, who have no `/api/me` at all.
    own: bool,
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
    /// The run as its events received so far make it (`RunInfo::apply` over them): what the
    /// page's phase is derived from.
    record: RunInfo,
    /// Input typed since the last Enter, for runs without a TTY.
    line: line::Line,
    retries: u32,
    /// The TTY size last sent to the gateway.
    sent_size: Option<(u16, u16)>,
    /// No more (re)connections: the page closed it, or stopped following.
    closed: bool,
    /// The terminal is disposed (`close`).
    disposed: bool,
}

thread_local! {
    /// The terminal size of the last mounted terminal: the best guess for a run's first size.
    static LAST_SIZE: RefCell<(u16, u16)> = const { RefCell::new((100, 30)) };
}

impl Session {
    fn new(mode: Mode) -> Session {
        Session::new_as(mode, false)
    }

    fn new_as(mode: Mode, own: bool) -> Session {
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
            expiring: ArcRwSignal::new(None),
            inner: SendWrapper::new(Rc::new(Inner {
                term,
                own,
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

    /// Starts `docker run <args>` on `/api/runs/ws`, on `engine` (`None`: where the gateway
    /// places it).
    pub fn start(args: Vec<String>, mode: Mode, engine: Option<String>) -> Session {
        let s = Session::new(mode);
        let (cols, rows) = LAST_SIZE.with(|l| *l.borrow());
        s.inner.state.borrow_mut().sent_size = Some((cols, rows));
        s.inner.state.borrow_mut().hello = Some(ClientMessage::Run(Box::new(RunRequest {
            argv: Some(args),
            cols: Some(cols),
            rows: Some(rows),
            engine,
            ..Default::default()
        })));
        s.connect("/api/runs/ws".into());
        s
    }

    /// Follows an existing run from its start (`/api/runs/{id}/ws`).
    pub fn watch(run_id: &str) -> Session {
        Session::watch_as(run_id, false)
    }

    /// Follows the run of the visitor's own demo session from its start: the terminal takes
    /// their keys (and follows their window) whatever their role.
    pub fn watch_own(run_id: &str) -> Session {
        Session::watch_as(run_id, true)
    }

    fn watch_as(run_id: &str, own: bool) -> Session {
        let s = Session::new_as(Mode::default(), own);
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

    /// One event from the gateway: the page's phase follows the fold of the events (the one
    /// place it is derived from them), then what else the event tells the page.
    fn event(&self, event: ServerEvent) {
        let reached = {
            let mut st = self.inner.state.borrow_mut();
            st.record.apply(&event, "");
            Phase::of(&st.record)
        };
        let phase = self.phase.get_untracked();
        if let ServerEvent::Error { message, .. } = &event
            && !phase.is_final()
        {
            self.inner
                .term
                .write_text(&format!("\x1b[31mdocker: {message}\x1b[39m\r\n"));
        }
        if reached != phase {
            if reached.is_final() {
                self.finish(reached);
            } else if reached.rank() > phase.rank() {
                self.phase.set(reached);
            }
        }
        match event {
            ServerEvent::Accepted { run_id, .. } => {
                if self.run_id.get_untracked().is_none() {
                    self.run_id.set(Some(run_id));
                    self.refresh_info();
                }
            }
            ServerEvent::Pull(p) => self.pull(p),
            ServerEvent::Created { warnings, .. } => {
                for w in warnings {
                    self.notice(w);
                }
            }
            ServerEvent::Started => {
                self.refresh_info(); // for its start time
                let mode = self.mode.get_untracked();
                self.inner.term.set_input(self.takes_input_untracked());
                if mode.tty {
                    let t = &self.inner.term;
                    self.resized(t.cols(), t.rows());
                }
            }
            // The run goes on; this browser stopped following it.
            ServerEvent::Detached { .. } => {
                if !phase.is_final() {
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
            ServerEvent::ResumeRefused { .. } => self.replay_all(),
            ServerEvent::Expiring { at } => self.expiring.set(Some(at)),
            // Not on a run's socket (an exec console's first answer).
            ServerEvent::ExecStarted { .. } => {}
            ServerEvent::Exit { .. } | ServerEvent::Error { .. } => {}
        }
    }

    /// Whether the terminal takes keys: a run with `-i`, running, watched by someone who may act
    /// on it (a viewer's keys would only be refused) or who owns it (a demo session). Reactive.
    pub fn takes_input(&self) -> bool {
        self.phase.get() == Phase::Running
            && self.mode.get().interactive
            && (self.inner.own || api::may_act())
    }

    fn takes_input_untracked(&self) -> bool {
        untrack(|| self.takes_input())
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
                // The TTY follows the terminal: `started` may have come before the run's mode.
                if mode.tty {
                    let t = &me.inner.term;
                    me.resized(t.cols(), t.rows());
                }
            }
        });
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

    /// Puts the keyboard in the terminal.
    pub fn focus(&self) {
        self.inner.term.focus();
    }

    /// Closes the socket now, without reconnecting, keeping the terminal: the page goes away
    /// (into the browser's back-forward cache, where a socket would stay open and the gateway
    /// would count the visitor as there).
    pub fn hang_up(&self) {
        let mut st = self.inner.state.borrow_mut();
        st.closed = true;
        if let Some(ws) = st.ws.take() {
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
    }

    /// Follows no further than the socket that is open: what is still on its way (the run's
    /// last output and final event) arrives, and no reconnection follows when the gateway
    /// closes it. The terminal and what it shows stay (a demo session that ended: its output
    /// stays on the page) until [`Session::close`].
    pub fn stop_following(&self) {
        self.inner.state.borrow_mut().closed = true;
        self.inner.term.set_input(false);
    }

    /// Stops following (the run goes on) and frees the terminal. Breaks the reference cycles
    /// between the session and its callbacks.
    pub fn close(&self) {
        let mut st = self.inner.state.borrow_mut();
        if st.disposed {
            return;
        }
        st.closed = true;
        st.disposed = true;
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
