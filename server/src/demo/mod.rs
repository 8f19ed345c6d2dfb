//! Demo environments (docs/API.md, "Demo environments"): templates an admin defines, and the
//! sessions visitors open on them. A session is a run of the template's command, owned by its
//! visitor, with a time limit, idle reaping, a first-come-first-served queue and a pool of
//! containers started ahead of demand.
//!
//! This module holds the state and its rules (what a template may be, who sees what, the
//! queue's order); `sessions` starts and ends sessions, `pool` keeps the warm containers,
//! `schedule` is the loop that reaps, warns, promotes and refills.

mod pool;
mod schedule;
mod sessions;
mod templates;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use berth_shared::Owner;
use berth_shared::wire::{
    EndedReason, PoolStatus, RunRequest, SessionCounts, SessionInfo, SessionState, Template,
    TemplateAccess, TemplateRequest,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::run::Run;
use crate::store::Store;
use crate::time::{rfc3339_at, unix_now};

pub use pool::{POOL_OWNER_PREFIX, pool_owner};
pub use sessions::{Opened, SessionError, Visitor};
pub use templates::TemplateError;

/// A queued visitor who has not polled for this long loses its place.
pub const QUEUE_POLL_SECONDS: u64 = 30;
/// Connected clients are told this long before a session's end.
pub const EXPIRING_NOTICE_SECONDS: i64 = 60;
/// Ended sessions kept in memory for `GET /api/sessions/{id}` (older ones are read back from
/// the store).
const ENDED_KEPT: usize = 1000;

/// The limits a template's numbers must keep.
const TTL_SECONDS: std::ops::RangeInclusive<u64> = 10..=7 * 24 * 3600;
const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;
const IDLE_SECONDS: std::ops::RangeInclusive<u64> = 5..=7 * 24 * 3600;
const CAPACITY: std::ops::RangeInclusive<u32> = 1..=1000;
const WARM: std::ops::RangeInclusive<u32> = 0..=100;
const MAX_QUEUE: u32 = 100_000;

/// A template as stored: the admin's request (with `max_ttl_seconds` filled in) and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTemplate {
    pub request: TemplateRequest,
    pub created_at: String,
    pub updated_at: String,
}

impl StoredTemplate {
    pub fn name(&self) -> &str {
        &self.request.name
    }

    pub fn is_public(&self) -> bool {
        self.request.access == TemplateAccess::Public
    }

    pub fn max_ttl(&self) -> u64 {
        self.request
            .max_ttl_seconds
            .unwrap_or(self.request.ttl_seconds)
    }

    pub fn max_queue(&self) -> usize {
        self.request
            .max_queue
            .unwrap_or(self.request.capacity.saturating_mul(10)) as usize
    }

    /// What each session runs, as a run request.
    pub fn run_request(&self) -> RunRequest {
        RunRequest {
            argv: self.request.argv.clone(),
            spec: self.request.spec.clone(),
            engine: self.request.engine.clone(),
            engine_labels: self.request.engine_labels.clone(),
            ..Default::default()
        }
    }
}

/// What a template's request must be, beyond what its command's parsing and the policy say.
pub fn validate(req: &TemplateRequest) -> Result<(), String> {
    if !crate::engines::valid_name(&req.name) {
        return Err(format!(
            "invalid template name {:?}: 1-32 of a-z 0-9 . _ -",
            req.name
        ));
    }
    if req.title.trim().is_empty() || req.title.chars().count() > 100 {
        return Err("title: 1-100 characters".into());
    }
    if req.description.chars().count() > 4000 {
        return Err("description: at most 4000 characters".into());
    }
    let within = |key: &str, v: u64, lo: u64, hi: u64| {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(format!("{key}: {lo}-{hi}, not {v}"))
        }
    };
    within(
        "ttl_seconds",
        req.ttl_seconds,
        *TTL_SECONDS.start(),
        *TTL_SECONDS.end(),
    )?;
    if let Some(max) = req.max_ttl_seconds {
        within("max_ttl_seconds", max, req.ttl_seconds, MAX_TTL_SECONDS)?;
    }
    within(
        "idle_seconds",
        req.idle_seconds,
        *IDLE_SECONDS.start(),
        *IDLE_SECONDS.end(),
    )?;
    within(
        "capacity",
        req.capacity.into(),
        (*CAPACITY.start()).into(),
        (*CAPACITY.end()).into(),
    )?;
    within(
        "warm",
        req.warm.into(),
        (*WARM.start()).into(),
        (*WARM.end()).into(),
    )?;
    if let Some(q) = req.max_queue {
        within("max_queue", q.into(), 0, MAX_QUEUE.into())?;
    }
    Ok(())
}

/// A session: its visitor, where it is in its life and its terms (taken from the template when
/// it was opened, so that a change of the template does not change them).
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub template: String,
    pub visitor: Owner,
    pub guest: bool,
    /// The visitor's address (without the port): for the per-address limit and the audit log.
    pub remote: String,
    pub state: SessionState,
    pub run_id: Option<String>,
    pub warm: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub ended_reason: Option<EndedReason>,
    pub ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    pub idle_seconds: u64,
    pub cols: Option<u16>,
    pub rows: Option<u16>,
    #[serde(skip)]
    run: Option<Arc<Run>>,
    /// When a queued visitor last asked about it.
    #[serde(skip, default = "Instant::now")]
    last_poll: Instant,
    /// The `expires_at` connected clients were last warned of.
    #[serde(skip)]
    warned_for: Option<i64>,
}

impl Session {
    pub fn is_live(&self) -> bool {
        self.state != SessionState::Ended
    }

    pub fn run(&self) -> Option<&Arc<Run>> {
        self.run.as_ref()
    }

    /// How the API describes it; `position` is its place in the queue (1 is next).
    fn info(&self, position: Option<u32>, with_visitor: bool) -> SessionInfo {
        // Taken out of the queue and being given its container: still waiting, at the head.
        let starting = self.state == SessionState::Running && self.run_id.is_none();
        let (state, position) = match starting {
            true => (SessionState::Queued, Some(1)),
            false => (self.state, position),
        };
        SessionInfo {
            session_id: self.id.clone(),
            template: self.template.clone(),
            state,
            position,
            run_id: self.run_id.clone(),
            expires_at: self
                .expires_at
                .filter(|_| self.state == SessionState::Running)
                .map(rfc3339_at),
            warm: (state != SessionState::Queued).then_some(self.warm),
            ended_reason: self.ended_reason,
            created_at: rfc3339_at(self.created_at),
            visitor: with_visitor.then(|| self.visitor.username.clone()),
        }
    }
}

/// A template with its pool and its queue.
struct Entry {
    stored: StoredTemplate,
    /// Started containers waiting for a visitor, oldest first.
    ready: VecDeque<Arc<Run>>,
    /// Pool containers being started.
    warming: u32,
    /// Bumped when the template changes: containers started for an older version are not kept.
    generation: u64,
    /// Session ids, first come first.
    queue: VecDeque<String>,
    /// When a pool container last failed to start: the pool waits a little before trying again.
    pool_failed_at: Option<Instant>,
}

impl Entry {
    fn new(stored: StoredTemplate) -> Entry {
        Entry {
            stored,
            ready: VecDeque::new(),
            warming: 0,
            generation: 0,
            queue: VecDeque::new(),
            pool_failed_at: None,
        }
    }
}

#[derive(Default)]
struct State {
    templates: BTreeMap<String, Entry>,
    sessions: HashMap<String, Session>,
    /// Ended sessions still in `sessions`, oldest first.
    ended: VecDeque<String>,
}

impl State {
    fn running(&self, template: &str) -> usize {
        self.sessions
            .values()
            .filter(|s| s.template == template && s.state == SessionState::Running)
            .count()
    }

    fn position(&self, session: &Session) -> Option<u32> {
        let entry = self.templates.get(&session.template)?;
        let at = entry.queue.iter().position(|id| *id == session.id)?;
        Some(at as u32 + 1)
    }

    fn view(&self, entry: &Entry) -> Template {
        let name = entry.stored.name();
        Template {
            request: entry.stored.request.clone(),
            created_at: entry.stored.created_at.clone(),
            updated_at: entry.stored.updated_at.clone(),
            pool: PoolStatus {
                target: entry.stored.request.warm,
                ready: entry.ready.len() as u32,
            },
            sessions: SessionCounts {
                running: self.running(name) as u32,
                queued: entry.queue.len() as u32,
            },
        }
    }

    /// Marks a session ended and takes it out of its queue; `None` when it had ended already.
    fn end(&mut self, id: &str, reason: EndedReason) -> Option<Session> {
        let session = self.sessions.get_mut(id).filter(|s| s.is_live())?;
        session.state = SessionState::Ended;
        session.ended_reason = Some(reason);
        let ended = session.clone();
        // The ended session keeps no hold on its run: its journal goes with the registry's.
        session.run = None;
        if let Some(entry) = self.templates.get_mut(&ended.template) {
            entry.queue.retain(|q| q != id);
        }
        self.ended.push_back(id.to_string());
        while self.ended.len() > ENDED_KEPT {
            if let Some(old) = self.ended.pop_front() {
                self.sessions.remove(&old);
            }
        }
        Some(ended)
    }
}

/// Every template, session and pool of this gateway.
pub struct Demo {
    state: Mutex<State>,
    /// Wakes the schedule: a session ended, a template changed.
    wake: Notify,
    store: Store,
    /// Held by template changes, one at a time: a change is checked, stored, then applied.
    changes: tokio::sync::Mutex<()>,
    /// Sessions (running or queued) one client address may hold.
    per_address: u32,
}

impl Demo {
    pub fn new(store: Store, per_address: u32) -> Demo {
        Demo {
            state: Mutex::default(),
            wake: Notify::new(),
            store,
            changes: tokio::sync::Mutex::new(()),
            per_address,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("demo lock")
    }

    fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn template(&self, name: &str) -> Option<StoredTemplate> {
        self.lock().templates.get(name).map(|e| e.stored.clone())
    }

    /// The template with its pool and sessions.
    pub fn view(&self, name: &str) -> Option<Template> {
        let state = self.lock();
        state.templates.get(name).map(|e| state.view(e))
    }

    /// Every template (name order) that `may_open` says yes to.
    pub fn views(&self, may_open: impl Fn(&StoredTemplate) -> bool) -> Vec<Template> {
        let state = self.lock();
        state
            .templates
            .values()
            .filter(|e| may_open(&e.stored))
            .map(|e| state.view(e))
            .collect()
    }

    /// A session as the API describes it, and its visitor; a queued visitor asking keeps its
    /// place.
    pub async fn session(&self, id: &str, with_visitor: bool) -> Option<(SessionInfo, Owner)> {
        {
            let mut state = self.lock();
            if let Some(session) = state.sessions.get_mut(id) {
                session.last_poll = Instant::now();
                let session = session.clone();
                let position = state.position(&session);
                return Some((session.info(position, with_visitor), session.visitor));
            }
        }
        let stored = self.store.session(id).await.ok().flatten()?;
        let session: Session = serde_json::from_str(&stored).ok()?;
        Some((session.info(None, with_visitor), session.visitor))
    }

    /// The sessions of `template` (or all), newest first, for admins.
    pub async fn sessions(&self, template: Option<&str>) -> Vec<SessionInfo> {
        let stored = self
            .store
            .sessions(template, 1000)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("listing sessions: {e}");
                Vec::new()
            });
        let state = self.lock();
        stored
            .iter()
            .filter_map(|s| serde_json::from_str::<Session>(s).ok())
            .map(|s| match state.sessions.get(&s.id) {
                Some(live) => live.info(state.position(live), true),
                None => s.info(None, true),
            })
            .collect()
    }

    /// Whether `user_id` is the visitor of the session whose run `run_id` is: the one who types
    /// into it, whatever their role.
    pub fn is_visitor_of_run(&self, run_id: &str, user_id: &str) -> bool {
        self.lock().sessions.values().any(|s| {
            s.is_live() && s.run_id.as_deref() == Some(run_id) && s.visitor.user_id == user_id
        })
    }

    /// Saves a session's document.
    async fn persist(&self, session: &Session) {
        let body = serde_json::to_string(session).expect("sessions serialise");
        let ended = !session.is_live();
        if let Err(e) = self
            .store
            .save_session(
                &session.id,
                &session.template,
                ended,
                session.created_at,
                body,
            )
            .await
        {
            tracing::warn!(session = %session.id, "saving the session: {e}");
        }
    }

    async fn persist_id(&self, id: &str) {
        let session = self.lock().sessions.get(id).cloned();
        if let Some(session) = session {
            self.persist(&session).await;
        }
    }
}

/// Unix seconds now, for sessions' times.
fn now() -> i64 {
    unix_now()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TemplateRequest {
        serde_json::from_value(serde_json::json!({
            "name": "shell", "title": "A shell", "argv": ["-it", "img", "sh"],
            "ttl_seconds": 600, "idle_seconds": 60, "capacity": 3, "access": "public",
        }))
        .unwrap()
    }

    #[test]
    fn template_numbers_and_names_are_checked() {
        assert_eq!(validate(&request()), Ok(()));
        let refused = |change: fn(&mut TemplateRequest), needle: &str| {
            let mut req = request();
            change(&mut req);
            let e = validate(&req).unwrap_err();
            assert!(e.contains(needle), "{e}");
        };
        refused(|r| r.name = "Shell".into(), "template name");
        refused(|r| r.name = "a/b".into(), "template name");
        refused(|r| r.name = "x".repeat(33), "template name");
        refused(|r| r.title = " ".into(), "title");
        refused(|r| r.ttl_seconds = 5, "ttl_seconds");
        refused(|r| r.max_ttl_seconds = Some(300), "max_ttl_seconds");
        refused(|r| r.idle_seconds = 1, "idle_seconds");
        refused(|r| r.capacity = 0, "capacity");
        refused(|r| r.warm = 101, "warm");
        let stored = StoredTemplate {
            request: request(),
            created_at: String::new(),
            updated_at: String::new(),
        };
        assert_eq!((stored.max_ttl(), stored.max_queue()), (600, 30));
    }
}
