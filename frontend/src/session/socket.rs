//! The session's WebSocket to the gateway: the first message (a run, or a watch from where the
//! terminal is), events and output frames in, and reconnecting when the socket drops.
//!
//! A reconnect says how much output the terminal already has (`{"type":"watch","from":N}`).
//! Should the gateway have less than that (it was restarted and read the run back from the
//! engine), it answers `resume_refused`: the session then clears the terminal and watches once
//! more from the start (`replay_all`), which cannot be refused that way.

use berth_shared::wire::{ClientMessage, RunInfo, STREAM_STDERR, ServerEvent};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use super::{LinkState, Session};
use crate::api;

impl Session {
    pub(super) fn connect(&self, path: String) {
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
            let hello = me.inner.state.borrow().hello.clone();
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
        self.inner.state.borrow_mut().retries = 0;
        if let Some(text) = data.as_string() {
            match serde_json::from_str::<ServerEvent>(&text) {
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
        let stderr = frame.get_index(0) == STREAM_STDERR;
        self.inner.state.borrow_mut().pos += u64::from(len - 1);
        self.inner.term.write(&frame.subarray(1, len), stderr);
    }

    /// The gateway refused to resume from where the terminal is (`resume_refused`: it has less
    /// output than that). Starts over: an empty terminal, and the whole run again, once (a watch
    /// from the start cannot be refused that way).
    pub(super) fn replay_all(&self) {
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

    pub(super) fn send(&self, msg: &ClientMessage) {
        if let Some(ws) = &self.inner.state.borrow().ws {
            let _ = ws.send_with_str(&serde_json::to_string(msg).unwrap_or_default());
        }
    }

    pub(super) fn send_stdin(&self, bytes: &[u8]) {
        if let Some(ws) = &self.inner.state.borrow().ws {
            let _ = ws.send_with_u8_array(bytes);
        }
    }

    /// The terminal's new size: sent to the gateway while a TTY run is running, and kept as the
    /// best guess for the next run's first size.
    pub(super) fn resized(&self, cols: u16, rows: u16) {
        super::LAST_SIZE.with(|l| *l.borrow_mut() = (cols, rows));
        if !self.mode.get_untracked().tty || self.phase.get_untracked() != super::Phase::Running {
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
}
