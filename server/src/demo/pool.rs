//! Warm pools: containers of a template created, attached and started ahead of demand, owned
//! by the pool until a session takes one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_shared::Owner;
use berth_shared::wire::RunState;

use super::StoredTemplate;
use crate::app::AppState;
use crate::run::Run;

/// Owner ids of pool containers start with this (`pool-<template>`).
pub const POOL_OWNER_PREFIX: &str = "pool-";
/// After a pool container fails to start, its template's pool waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The owner of a template's ready containers.
pub fn pool_owner(template: &str) -> Owner {
    Owner {
        user_id: format!("{POOL_OWNER_PREFIX}{template}"),
        username: "pool".into(),
        team: String::new(),
        policy: None,
    }
}

impl AppState {
    /// Starts, for every template, the containers its pool lacks.
    pub(super) fn refill_pools(&self) {
        let mut wanted: Vec<(StoredTemplate, u64)> = Vec::new();
        let mut dead = Vec::new();
        {
            let mut state = self.demo.lock();
            for entry in state.templates.values_mut() {
                // A ready container whose command ended is no use to a visitor.
                let (alive, ended): (Vec<_>, Vec<_>) =
                    entry.ready.drain(..).partition(|r| !r.has_ended());
                entry.ready = alive.into();
                dead.extend(ended);
                if entry
                    .pool_failed_at
                    .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
                {
                    continue;
                }
                let have = entry.ready.len() as u32 + entry.warming;
                for _ in have..entry.stored.request.warm {
                    entry.warming += 1;
                    wanted.push((entry.stored.clone(), entry.generation));
                }
            }
        }
        self.discard_pool_runs(dead);
        for (template, generation) in wanted {
            let app = self.clone();
            tokio::spawn(async move { app.warm_one(template, generation).await });
        }
    }

    /// Starts one pool container; it joins the pool if the template is still the one it was
    /// started for.
    async fn warm_one(&self, template: StoredTemplate, generation: u64) {
        let name = template.name().to_string();
        let started = match self
            .admit_template(&template, &pool_owner(&name), true)
            .await
        {
            Ok(a) => {
                let run = self.launch(a, true);
                match run.launched().await.state {
                    RunState::Running => Ok(run),
                    _ => {
                        let why = run.failure().map(|f| f.message).unwrap_or_default();
                        self.discard_pool_runs(vec![run]);
                        Err(why)
                    }
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let stale = {
            let mut state = self.demo.lock();
            match state.templates.get_mut(&name) {
                Some(entry) if entry.generation == generation => {
                    entry.warming = entry.warming.saturating_sub(1);
                    match started {
                        Ok(run) => {
                            entry.ready.push_back(run);
                            None
                        }
                        Err(why) => {
                            entry.pool_failed_at = Some(Instant::now());
                            tracing::warn!(template = %name, "a warm container did not start: {why}");
                            None
                        }
                    }
                }
                Some(entry) => {
                    entry.warming = entry.warming.saturating_sub(1);
                    started.ok()
                }
                None => started.ok(),
            }
        };
        if let Some(run) = stale {
            self.discard_pool_runs(vec![run]);
        }
    }

    /// Removes pool containers and forgets their runs (nobody ever used them).
    pub(super) fn discard_pool_runs(&self, runs: impl IntoIterator<Item = Arc<Run>>) {
        for run in runs {
            let app = self.clone();
            tokio::spawn(async move {
                run.launched().await;
                if let Err(e) = app.runs.remove(&run).await {
                    tracing::warn!(run = %run.id, "removing a pool container: {}", e.message());
                }
            });
        }
    }
}
