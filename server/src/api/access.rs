//! Who may see and act on runs and containers (docs/POLICY.md, "Yours and your team's").
//!
//! Runs and Berth's containers: their owner and team see them; their owner acts on them, and
//! so does a teammate when the run's request was checked under the rules in force — never on
//! an admin's. Containers Berth did not create: admins only act on them; others see them with
//! what may hold secrets (environment, mounts, logs) left out.

use std::collections::HashMap;
use std::sync::Arc;

use berth_shared::models::{ContainerInspectResponse, ContainerSummary};
use berth_shared::{Owner, RunLabels};

use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::run::Run;

type ApiResult<T> = Result<T, ApiError>;

/// A run `user` may see; others' runs are "not found", so their ids leak nothing.
pub async fn visible_run(app: &AppState, user: &Principal, id: &str) -> ApiResult<Arc<Run>> {
    app.runs
        .find(id)
        .await
        .filter(|run| user.sees(&run.owner()))
        .ok_or_else(|| ApiError::NotFound(format!("no such run: {id}")))
}

/// Whether `user` may act on (stop, kill, remove, send input to) something of `owner`'s.
pub fn acts_on(app: &AppState, user: &Principal, owner: &Owner) -> bool {
    user.acts_on(owner, app.policy.digest())
}

/// A run `user` may act on.
pub async fn actionable_run(app: &AppState, user: &Principal, id: &str) -> ApiResult<Arc<Run>> {
    let run = visible_run(app, user, id).await?;
    if acts_on(app, user, &run.owner()) {
        Ok(run)
    } else {
        Err(ApiError::Forbidden(format!(
            "you may watch run {id} but not act on it"
        )))
    }
}

/// What Berth knows of a container: `None` for one it did not create; a Berth container
/// without owner labels (from before owner ids) is nobody's but admins'.
fn berth_owner(labels: Option<&HashMap<String, String>>) -> Option<Owner> {
    let labels = RunLabels::from_labels(labels?)?;
    Some(labels.owner.unwrap_or_default())
}

/// Whether `user` sees a container: admins all; others their own and their team's Berth
/// containers, and containers Berth did not create (redacted, read-only).
pub fn sees_container(user: &Principal, labels: Option<&HashMap<String, String>>) -> bool {
    berth_owner(labels).is_none_or(|owner| user.sees(&owner))
}

/// Inspects a container `user` sees; one they do not is 404, as if it did not exist. For
/// non-admins, a container Berth did not create comes without its environment and mounts.
pub async fn visible_container(
    app: &AppState,
    user: &Principal,
    id: &str,
) -> ApiResult<ContainerInspectResponse> {
    let mut container = app.engine.inspect(id).await?;
    if !sees_container(user, labels_of(&container)) {
        return Err(ApiError::NotFound(format!("No such container: {id}")));
    }
    if !user.is_admin() && berth_owner(labels_of(&container)).is_none() {
        redact(&mut container);
    }
    Ok(container)
}

/// Inspects a container `user` may act on.
pub async fn actionable_container(
    app: &AppState,
    user: &Principal,
    id: &str,
) -> ApiResult<ContainerInspectResponse> {
    let container = visible_container(app, user, id).await?;
    let allowed = user.is_admin()
        || berth_owner(labels_of(&container)).is_some_and(|o| acts_on(app, user, &o));
    if !allowed {
        return Err(ApiError::Forbidden(format!(
            "container {id} is read-only for you"
        )));
    }
    Ok(container)
}

/// Whether `user` may read the logs of `container`: not those of containers Berth did not
/// create, unless an admin (their output is another tool's, secrets included).
pub fn reads_logs(user: &Principal, container: &ContainerInspectResponse) -> ApiResult<()> {
    if user.is_admin() || berth_owner(labels_of(container)).is_some() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "the logs of containers Berth did not create are for admins only".into(),
        ))
    }
}

pub fn labels_of(container: &ContainerInspectResponse) -> Option<&HashMap<String, String>> {
    container.config.as_ref().and_then(|c| c.labels.as_ref())
}

/// The containers `user` sees, those Berth did not create without their mounts for
/// non-admins.
pub fn visible_containers(user: &Principal, all: Vec<ContainerSummary>) -> Vec<ContainerSummary> {
    all.into_iter()
        .filter(|c| sees_container(user, c.labels.as_ref()))
        .map(|mut c| {
            if !user.is_admin() && berth_owner(c.labels.as_ref()).is_none() {
                c.mounts = None;
            }
            c
        })
        .collect()
}

/// Leaves out of a container Berth did not create what commonly holds secrets: the
/// environment and what it mounts from the host.
fn redact(container: &mut ContainerInspectResponse) {
    if let Some(config) = &mut container.config {
        config.env = None;
    }
    if let Some(host) = &mut container.host_config {
        host.binds = None;
        host.mounts = None;
    }
    container.mounts = None;
}
