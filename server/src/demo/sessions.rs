//! Opening a session (at once, or in the queue), starting it (a warm container, or a new one),
//! extending and ending it.

use std::sync::Arc;
use std::time::Instant;

use berth_shared::Owner;
use berth_shared::wire::{EndedReason, RunState, SessionInfo, SessionState};

use super::{Session, now};
use crate::admission::Refusal;
use crate::app::AppState;
use crate::audit::{Action, Outcome};
use crate::run::{Failure, Input, Run};

/// What `POST /api/templates/{name}/sessions` did.
pub enum Opened {
    Running(SessionInfo),
    Queued(SessionInfo),
}

/// Why a session could not be opened, started or extended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no such template: {0}")]
    NoTemplate(String),
    #[error("no such session: {0}")]
    NoSession(String),
    #[error("you already have session {0} on this template")]
    Exists(String),
    #[error("{0} demo sessions from your address are running or queued, the most allowed")]
    PerAddress(u32),
    #[error("the queue for this template is full ({0} waiting); try again in a minute")]
    QueueFull(usize),
    #[error("session {0} is not running")]
    NotRunning(String),
    #[error("session {0} is at its longest already")]
    AtCap(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Its container did not start.
    #[error("{}", .0.message)]
    Failed(Failure),
}

/// Who opens a session.
pub struct Visitor {
    pub owner: Owner,
    pub guest: bool,
    pub admin: bool,
    /// The client address, without the port.
    pub address: String,
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl AppState {
    /// Opens a session of `visitor` on `template`: running now when there is room and nobody
    /// waits, queued otherwise.
    pub async fn open_session(
        &self,
        template: &str,
        visitor: Visitor,
        cols: Option<u16>,
        rows: Option<u16>,
    ) -> Result<Opened, SessionError> {
        let id = new_id();
        let start_now = {
            let mut state = self.demo.lock();
            let per_address = self.demo.per_address;
            let live = || state.sessions.values().filter(|s| s.is_live());
            if let Some(existing) = live()
                .find(|s| s.template == template && s.visitor.user_id == visitor.owner.user_id)
            {
                return Err(SessionError::Exists(existing.id.clone()));
            }
            if !visitor.admin
                && live().filter(|s| s.remote == visitor.address).count() >= per_address as usize
            {
                return Err(SessionError::PerAddress(per_address));
            }
            let running = state.running(template);
            let entry = state
                .templates
                .get_mut(template)
                .ok_or_else(|| SessionError::NoTemplate(template.into()))?;
            let terms = &entry.stored;
            let start_now = running < terms.request.capacity as usize && entry.queue.is_empty();
            if !start_now && entry.queue.len() >= terms.max_queue() {
                return Err(SessionError::QueueFull(entry.queue.len()));
            }
            let session = Session {
                id: id.clone(),
                template: template.to_string(),
                visitor: visitor.owner.clone(),
                guest: visitor.guest,
                remote: visitor.address.clone(),
                state: if start_now {
                    SessionState::Running
                } else {
                    SessionState::Queued
                },
                run_id: None,
                warm: false,
                created_at: now(),
                started_at: None,
                expires_at: None,
                ended_reason: None,
                ttl_seconds: terms.request.ttl_seconds,
                max_ttl_seconds: terms.max_ttl(),
                idle_seconds: terms.request.idle_seconds,
                cols,
                rows,
                run: None,
                last_poll: Instant::now(),
                warned_for: None,
            };
            if !start_now {
                entry.queue.push_back(id.clone());
            }
            state.sessions.insert(id.clone(), session);
            start_now
        };
        self.demo.persist_id(&id).await;
        let detail = if start_now { "running" } else { "queued" };
        self.append_audit(
            &visitor.owner.username,
            Action::SessionStart,
            &format!("{template}/{id}"),
            Outcome::Ok,
            detail,
            &visitor.address,
        )
        .await;
        if start_now {
            self.start_session(&id).await?;
        }
        let (info, _) = self
            .demo
            .session(&id, false)
            .await
            .ok_or_else(|| SessionError::NoSession(id.clone()))?;
        Ok(match info.state {
            SessionState::Queued => Opened::Queued(info),
            _ => Opened::Running(info),
        })
    }

    /// Gives a session marked running its container: a ready one from the pool, or a new
    /// one. A failure ends the session (`engine`).
    pub(super) async fn start_session(&self, id: &str) -> Result<(), SessionError> {
        let (template, visitor, cols, rows, ready) = {
            let mut state = self.demo.lock();
            let session = state
                .sessions
                .get(id)
                .filter(|s| s.is_live())
                .ok_or_else(|| SessionError::NoSession(id.into()))?;
            let (name, visitor) = (session.template.clone(), session.visitor.clone());
            let (cols, rows) = (session.cols, session.rows);
            let entry = state
                .templates
                .get_mut(&name)
                .ok_or_else(|| SessionError::NoTemplate(name.clone()))?;
            // Ready containers that ended meanwhile are dropped by the schedule.
            let position = entry.ready.iter().position(|r| !r.has_ended());
            let ready = position.and_then(|at| entry.ready.remove(at));
            (entry.stored.clone(), visitor, cols, rows, ready)
        };
        let warm = ready.is_some();
        let run = match ready {
            Some(run) => {
                // Idle from now on, not from when the pool started it.
                run.touch();
                run.set_owner(&visitor, &self.store).await;
                run
            }
            None => match self.admit_template(&template, &visitor, true).await {
                Ok(a) => self.launch(a, true),
                Err(e) => {
                    self.end_session(id, EndedReason::Engine).await;
                    return Err(e.into());
                }
            },
        };
        if let (Some(cols), Some(rows)) = (cols, rows)
            && run.info().tty
        {
            run.send_input(Input::Resize { cols, rows }).await;
        }
        self.demo.wake();
        if !warm && run.launched().await.state == RunState::Failed {
            let failure = run.failure().expect("a failed run records its failure");
            self.end_session(id, EndedReason::Engine).await;
            return Err(SessionError::Failed(failure));
        }
        let taken = {
            let mut state = self.demo.lock();
            match state.sessions.get_mut(id).filter(|s| s.is_live()) {
                Some(session) => {
                    let started = now();
                    session.run_id = Some(run.id.clone());
                    session.run = Some(Arc::clone(&run));
                    session.warm = warm;
                    session.started_at = Some(started);
                    session.expires_at = Some(started + session.ttl_seconds as i64);
                    true
                }
                None => false,
            }
        };
        if !taken {
            // Ended while its container was being started (deleted, or its template was).
            remove_soon(run);
            return Err(SessionError::NoSession(id.into()));
        }
        self.demo.persist_id(id).await;
        Ok(())
    }

    /// Ends a live session: recorded and audited, its container removed. `false` when it had
    /// ended already.
    pub async fn end_session(&self, id: &str, reason: EndedReason) -> bool {
        let ended = self.demo.lock().end(id, reason);
        let Some(mut session) = ended else {
            return false;
        };
        self.demo.persist(&session).await;
        self.append_audit(
            &session.visitor.username,
            Action::SessionEnd,
            &format!("{}/{id}", session.template),
            Outcome::Ok,
            reason.as_str(),
            &session.remote,
        )
        .await;
        if let Some(run) = session.run.take() {
            remove_soon(run);
        }
        self.demo.wake();
        true
    }

    /// Extends a running session by its `ttl_seconds` from now, up to its start plus its
    /// `max_ttl_seconds`: the new `expires_at`.
    pub async fn extend_session(&self, id: &str, actor: &str) -> Result<i64, SessionError> {
        let (expires, template, address) = {
            let mut state = self.demo.lock();
            let session = state
                .sessions
                .get_mut(id)
                .filter(|s| s.is_live())
                .ok_or_else(|| SessionError::NoSession(id.into()))?;
            let (Some(started), Some(expires)) = (session.started_at, session.expires_at) else {
                return Err(SessionError::NotRunning(id.into()));
            };
            let cap = started + session.max_ttl_seconds as i64;
            if expires >= cap {
                return Err(SessionError::AtCap(id.into()));
            }
            let extended = (now() + session.ttl_seconds as i64).min(cap).max(expires);
            session.expires_at = Some(extended);
            (extended, session.template.clone(), session.remote.clone())
        };
        self.demo.persist_id(id).await;
        let at = crate::time::rfc3339_at(expires);
        self.append_audit(
            actor,
            Action::SessionExtend,
            &format!("{template}/{id}"),
            Outcome::Ok,
            &at,
            &address,
        )
        .await;
        Ok(expires)
    }
}

/// Removes a run's container once it has one (a run still being created gets it first).
fn remove_soon(run: Arc<Run>) {
    tokio::spawn(async move {
        run.launched().await;
        if let Err(e) = run.remove_container().await {
            tracing::warn!(run = %run.id, "removing a demo session's container: {}", e.message());
        }
    });
}
