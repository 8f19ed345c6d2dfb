//! The demo schedule: every quarter second (and whenever a session ends or a template changes)
//! sessions past their time, idle or finished are ended, connected clients are warned of the
//! end, the heads of the queues get containers and the pools are refilled. And at start, what
//! a previous life left: templates, sessions and their deadlines back, pool containers replaced.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use berth_shared::wire::{EndedReason, ServerEvent, SessionState};

use super::{
    EXPIRING_NOTICE_SECONDS, Entry, POOL_OWNER_PREFIX, QUEUE_POLL_SECONDS, Session, StoredTemplate,
    now,
};
use crate::app::AppState;
use crate::run::Run;
use crate::time::rfc3339_at;

const TICK: Duration = Duration::from_millis(250);

impl AppState {
    /// Runs the schedule for as long as the gateway does.
    pub fn schedule_demo(&self) {
        let app = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = app.demo.wake.notified() => {}
                }
                app.demo_tick().await;
            }
        });
    }

    async fn demo_tick(&self) {
        let now = now();
        let mut ends = Vec::new();
        let mut warnings: Vec<(Arc<Run>, i64)> = Vec::new();
        {
            let mut state = self.demo.lock();
            for s in state.sessions.values_mut().filter(|s| s.is_live()) {
                match (&s.run, s.state) {
                    (_, SessionState::Queued) => {
                        if s.last_poll.elapsed() > Duration::from_secs(QUEUE_POLL_SECONDS) {
                            ends.push((s.id.clone(), EndedReason::Idle));
                        }
                    }
                    // Being started.
                    (None, _) => {}
                    (Some(run), _) => {
                        let expires = s.expires_at.unwrap_or(i64::MAX);
                        let reason = if run.has_ended() {
                            Some(match run.failure() {
                                Some(_) => EndedReason::Engine,
                                None => EndedReason::Exited,
                            })
                        } else if now >= expires {
                            Some(EndedReason::Expired)
                        } else if run.idle_for() >= Duration::from_secs(s.idle_seconds) {
                            Some(EndedReason::Idle)
                        } else {
                            None
                        };
                        match reason {
                            Some(reason) => ends.push((s.id.clone(), reason)),
                            None if expires - now <= EXPIRING_NOTICE_SECONDS
                                && s.warned_for != Some(expires) =>
                            {
                                s.warned_for = Some(expires);
                                warnings.push((Arc::clone(run), expires));
                            }
                            None => {}
                        }
                    }
                }
            }
        }
        for (run, at) in warnings {
            run.journal
                .push_event(ServerEvent::Expiring { at: rfc3339_at(at) });
        }
        for (id, reason) in ends {
            self.end_session(&id, reason).await;
        }
        for id in self.promote() {
            let app = self.clone();
            tokio::spawn(async move {
                if let Err(e) = app.start_session(&id).await {
                    tracing::warn!(session = %id, "starting a queued session: {e}");
                }
            });
        }
        self.refill_pools();
    }

    /// Marks the heads of the queues running, as many as each template has room for.
    fn promote(&self) -> Vec<String> {
        let mut state = self.demo.lock();
        let mut promoted = Vec::new();
        let names: Vec<String> = state.templates.keys().cloned().collect();
        for name in names {
            let running = state.running(&name);
            let Some(entry) = state.templates.get_mut(&name) else {
                continue;
            };
            let room = (entry.stored.request.capacity as usize).saturating_sub(running);
            let heads: Vec<String> = (0..room.min(entry.queue.len()))
                .filter_map(|_| entry.queue.pop_front())
                .collect();
            for id in heads {
                if let Some(s) = state.sessions.get_mut(&id) {
                    s.state = SessionState::Running;
                    promoted.push(id);
                }
            }
        }
        promoted
    }

    /// Brings back the templates and the live sessions of the store (after the runs: a running
    /// session is its run, followed again), ends those whose container is gone, and removes
    /// every pool container left (the pools are refilled) and every container of a session
    /// that ended.
    pub async fn restore_demo(&self) {
        let templates = self.store.templates().await.unwrap_or_else(|e| {
            tracing::warn!("loading demo templates: {e}");
            Vec::new()
        });
        let sessions = self.store.live_sessions().await.unwrap_or_else(|e| {
            tracing::warn!("loading demo sessions: {e}");
            Vec::new()
        });
        let mut gone = Vec::new();
        let mut claimed = HashSet::new();
        // Runs of ended sessions that memory no longer holds (the store has them).
        let mut unfound = Vec::new();
        {
            let mut state = self.demo.lock();
            for body in templates {
                match serde_json::from_str::<StoredTemplate>(&body) {
                    Ok(t) => {
                        state.templates.insert(t.name().to_string(), Entry::new(t));
                    }
                    Err(e) => tracing::warn!("a stored demo template is unreadable: {e}"),
                }
            }
            for body in sessions {
                let Ok(mut session) = serde_json::from_str::<Session>(&body) else {
                    tracing::warn!("a stored demo session is unreadable");
                    continue;
                };
                let id = session.id.clone();
                match session.state {
                    SessionState::Queued => match state.templates.get_mut(&session.template) {
                        Some(entry) => entry.queue.push_back(id.clone()),
                        None => gone.push((id.clone(), EndedReason::Ended)),
                    },
                    _ => {
                        let run = session.run_id.as_deref().and_then(|r| self.runs.get(r));
                        match run {
                            Some(run) if !run.has_ended() => {
                                claimed.insert(run.id.clone());
                                session.run = Some(run);
                            }
                            // Its command ended while Berth was away: the session ends, and
                            // its container (which no `--rm` removes) goes with it.
                            Some(run) => {
                                session.run = Some(run);
                                gone.push((id.clone(), EndedReason::Exited));
                            }
                            None => {
                                unfound.extend(session.run_id.clone());
                                gone.push((id.clone(), EndedReason::Exited));
                            }
                        }
                    }
                }
                state.sessions.insert(id, session);
            }
        }
        let (kept, queued) = {
            let state = self.demo.lock();
            let live = state.sessions.values().filter(|s| s.is_live());
            let queued = live.clone().filter(|s| s.state == SessionState::Queued);
            (live.count(), queued.count())
        };
        for (id, reason) in gone {
            self.end_session(&id, reason).await;
        }
        for run_id in unfound {
            if let Some(run) = self.runs.find(&run_id).await
                && let Err(e) = run.remove_container().await
            {
                tracing::warn!(run = %run_id, "removing an ended session's container: {}", e.message());
            }
        }
        let mut left = Vec::new();
        for run in self.runs.list() {
            if claimed.contains(&run.id) {
                continue;
            }
            // A pool container is removed also when its run ended while Berth was away (its
            // command exited, or Berth stopped before it started): nothing else would.
            let pool = run.owner().user_id.starts_with(POOL_OWNER_PREFIX);
            if pool
                || !run.has_ended()
                    && self
                        .store
                        .session_of_run(&run.id)
                        .await
                        .ok()
                        .flatten()
                        .is_some()
            {
                left.push(run);
            }
        }
        if kept > 0 || !left.is_empty() {
            tracing::info!(
                "demo: {kept} sessions back ({queued} queued); {} pool or ended sessions' containers removed",
                left.len()
            );
        }
        self.discard_pool_runs(left);
    }
}
