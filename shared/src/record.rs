//! A run's record follows from its events: [`RunInfo::apply`] is the one place that says how,
//! for the gateway (live, and when it replays a stored run) and for the dashboard alike.

use serde::{Deserialize, Serialize};

use crate::wire::{RunInfo, RunState, ServerEvent};

/// One event of a run as the gateway recorded it (and stores it with the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// RFC 3339.
    pub at: String,
    pub event: ServerEvent,
    /// It ended the run for its followers (the first such event stands for them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ends: bool,
}

impl RunInfo {
    /// The record `events` make of `self` as it was before its first event (its request,
    /// owner and notes: what no event says).
    pub fn replay(mut self, events: &[Recorded]) -> RunInfo {
        self.state = RunState::Pending;
        self.exit_code = None;
        self.container_id = None;
        self.warnings = Vec::new();
        self.started_at = None;
        self.finished_at = None;
        for r in events {
            self.apply(&r.event, &r.at);
        }
        self
    }
}

impl RunInfo {
    /// Takes one event of the run, recorded at `at` (RFC 3339; the browser, which keeps no
    /// times, passes ""). Events that say nothing about the run's life (a gap, a warning to
    /// one client, a detach: the container goes on) leave the record as it is.
    pub fn apply(&mut self, event: &ServerEvent, at: &str) {
        let at = || (!at.is_empty()).then(|| at.to_string());
        match event {
            ServerEvent::Pull(_) => self.state = RunState::Pulling,
            ServerEvent::Created {
                container_id,
                warnings,
            } => {
                self.state = RunState::Created;
                self.container_id = Some(container_id.clone());
                self.warnings = warnings.clone();
            }
            ServerEvent::Started => {
                // Followed again after its engine came back: the failure its engine's loss
                // recorded no longer stands.
                if self.state == RunState::Failed {
                    self.exit_code = None;
                    self.error = None;
                    self.finished_at = None;
                }
                self.state = RunState::Running;
                self.started_at = at();
            }
            ServerEvent::Exit { code } => {
                self.state = RunState::Exited;
                self.exit_code = Some(*code);
                self.finished_at = at();
            }
            ServerEvent::Error { code, message } => {
                self.state = RunState::Failed;
                self.exit_code = Some((*code).into());
                self.error = Some(message.clone());
                self.finished_at = at();
            }
            // A new record is pending already; one followed again (after a restart) is where
            // it was.
            ServerEvent::Accepted { .. }
            | ServerEvent::Detached { .. }
            | ServerEvent::Gap { .. }
            | ServerEvent::Warning { .. }
            | ServerEvent::ResumeRefused { .. }
            | ServerEvent::Expiring { .. }
            | ServerEvent::ExecStarted { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PullProgress;

    fn empty() -> RunInfo {
        RunInfo::default()
    }

    #[test]
    fn a_run_is_the_fold_of_its_events() {
        let mut info = empty();
        let events = [
            ServerEvent::Accepted {
                run_id: "r".into(),
                engine: "local".into(),
            },
            ServerEvent::Pull(PullProgress {
                id: String::new(),
                status: "Pulling".into(),
                current: None,
                total: None,
            }),
            ServerEvent::Created {
                container_id: "c".into(),
                warnings: vec!["w".into()],
            },
            ServerEvent::Started,
            ServerEvent::Detached {
                container_id: "c".into(),
            },
            ServerEvent::Exit { code: 3 },
        ];
        let mut states = Vec::new();
        for (i, e) in events.iter().enumerate() {
            info.apply(e, &format!("t{}", i + 1));
            states.push(info.state);
        }
        use RunState::*;
        assert_eq!(
            states,
            [Pending, Pulling, Created, Running, Running, Exited]
        );
        assert_eq!(info.container_id.as_deref(), Some("c"));
        assert_eq!(info.warnings, ["w"]);
        assert_eq!(info.started_at.as_deref(), Some("t4"));
        assert_eq!(info.finished_at.as_deref(), Some("t6"));
        assert_eq!(info.exit_code, Some(3));
    }

    #[test]
    fn a_run_followed_again_after_a_failure_runs_without_its_failure() {
        let mut info = empty();
        let lost = ServerEvent::Error {
            code: 125,
            message: "engine two: gone".into(),
        };
        for e in [ServerEvent::Started, lost, ServerEvent::Started] {
            info.apply(&e, "t");
        }
        assert_eq!(info.state, RunState::Running);
        assert_eq!(
            (info.exit_code, info.error, info.finished_at),
            (None, None, None)
        );
    }

    #[test]
    fn a_failure_records_its_status_and_message() {
        let mut info = empty();
        let failed = ServerEvent::Error {
            code: 125,
            message: "No such image: x".into(),
        };
        info.apply(&failed, "");
        assert_eq!(info.state, RunState::Failed);
        assert_eq!(info.exit_code, Some(125));
        assert_eq!(info.error.as_deref(), Some("No such image: x"));
        assert_eq!(info.finished_at, None, "the browser keeps no times");
    }
}
