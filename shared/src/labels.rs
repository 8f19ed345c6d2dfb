//! Berth's `io.berth.*` labels, read and written here only: on the containers of its runs
//! ([`RunLabels`]) and on the named volumes its runs create ([`Owner`] alone).
//!
//! The policy refuses these labels in non-admin requests (and Berth overwrites them on every
//! run), so what they say about a container's owner can be trusted.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Prefix of every label Berth puts on the containers it creates.
pub const LABEL_PREFIX: &str = "io.berth.";
/// The Berth run id of a container.
pub const LABEL_RUN_ID: &str = "io.berth.run-id";
/// The user who started the container through Berth, by name (for people to read).
pub const LABEL_OWNER: &str = "io.berth.owner";
/// That user's stable id: what ownership is decided by (a name can be deleted and reused).
pub const LABEL_OWNER_ID: &str = "io.berth.owner-id";
/// That user's team (may be empty).
pub const LABEL_TEAM: &str = "io.berth.team";
/// The digest of the policy the create request was checked under; absent when it was not
/// checked (an admin's run), so nobody else may ever use that container as their own.
pub const LABEL_POLICY: &str = "io.berth.policy";
/// The Berth instance (its data directory) that started the container: after a restart an
/// instance follows only its own containers again.
pub const LABEL_INSTANCE: &str = "io.berth.instance";
/// When Berth stops the container (Unix seconds), under a run-time limit.
pub const LABEL_DEADLINE: &str = "io.berth.deadline";

/// Who a run, its container or a volume belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub user_id: String,
    pub username: String,
    pub team: String,
    /// The digest of the policy its request was checked under; `None` when unchecked.
    pub policy: Option<String>,
}

impl Owner {
    /// The owner labels of a container or volume; `None` without an owner id (created by
    /// another tool, or by a Berth that did not record ids yet).
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<Owner> {
        let get = |k| labels.get(k).cloned().unwrap_or_default();
        let user_id = labels.get(LABEL_OWNER_ID).filter(|id| !id.is_empty())?;
        Some(Owner {
            user_id: user_id.clone(),
            username: get(LABEL_OWNER),
            team: get(LABEL_TEAM),
            policy: labels.get(LABEL_POLICY).cloned(),
        })
    }

    /// Writes the owner labels into `labels`, replacing any `io.berth.*` owner labels there.
    pub fn write(&self, labels: &mut HashMap<String, String>) {
        labels.insert(LABEL_OWNER_ID.into(), self.user_id.clone());
        labels.insert(LABEL_OWNER.into(), self.username.clone());
        labels.insert(LABEL_TEAM.into(), self.team.clone());
        match &self.policy {
            Some(p) => labels.insert(LABEL_POLICY.into(), p.clone()),
            None => labels.remove(LABEL_POLICY),
        };
    }
}

/// The labels of a Berth run's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLabels {
    pub run_id: String,
    pub instance: String,
    /// `None` on containers of a Berth that did not record owner ids.
    pub owner: Option<Owner>,
    pub deadline: Option<i64>,
}

impl RunLabels {
    /// `None` for a container Berth did not create.
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<RunLabels> {
        Some(RunLabels {
            run_id: labels.get(LABEL_RUN_ID)?.clone(),
            instance: labels.get(LABEL_INSTANCE).cloned().unwrap_or_default(),
            owner: Owner::from_labels(labels),
            deadline: labels.get(LABEL_DEADLINE).and_then(|d| d.parse().ok()),
        })
    }

    /// Sets Berth's labels on a create request's labels: every `io.berth.*` label already
    /// there is dropped first (an admin's request may carry any), so only these remain.
    pub fn write(&self, labels: &mut HashMap<String, String>) {
        labels.retain(|k, _| !k.starts_with(LABEL_PREFIX));
        labels.insert(LABEL_RUN_ID.into(), self.run_id.clone());
        labels.insert(LABEL_INSTANCE.into(), self.instance.clone());
        if let Some(owner) = &self.owner {
            owner.write(labels);
        }
        if let Some(d) = self.deadline {
            labels.insert(LABEL_DEADLINE.into(), d.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_labels_round_trip_and_replace_forged_ones() {
        let labels = RunLabels {
            run_id: "r1".into(),
            instance: "i1".into(),
            owner: Some(Owner {
                user_id: "u1".into(),
                username: "ann".into(),
                team: "red".into(),
                policy: None,
            }),
            deadline: Some(42),
        };
        let mut map = HashMap::from([
            ("io.berth.policy".to_string(), "forged".to_string()),
            ("keep".to_string(), "me".to_string()),
        ]);
        labels.write(&mut map);
        assert_eq!(map.get("keep").map(String::as_str), Some("me"));
        assert!(
            !map.contains_key(LABEL_POLICY),
            "an unchecked run has no policy label"
        );
        assert_eq!(RunLabels::from_labels(&map), Some(labels));
        assert_eq!(RunLabels::from_labels(&HashMap::new()), None);
        map.remove(LABEL_OWNER_ID);
        assert_eq!(RunLabels::from_labels(&map).unwrap().owner, None);
    }
}
