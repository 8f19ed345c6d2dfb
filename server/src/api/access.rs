//! Who may see and act on runs and containers (docs/POLICY.md, "Yours and your team's").
//!
//! Runs and Berth's containers: their owner and team see them; their owner acts on them, and
//! so does a teammate when the run's request was checked under the rules in force — never on
//! an admin's. Containers Berth did not create: admins only; others see them only when their
//! policy says `show_foreign_containers`, read-only, with what may hold secrets (environment,
//! command, labels, mounts, logs) left out.

use std::collections::HashMap;
use std::sync::Arc;

use berth_shared::models::{ContainerInspectResponse, ContainerSummary};
use berth_shared::wire::OnEngine;
use berth_shared::{Owner, RunLabels};

use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::engines::Member;
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
/// containers, and those Berth did not create when their policy shows them (redacted).
fn sees_container(
    app: &AppState,
    user: &Principal,
    labels: Option<&HashMap<String, String>>,
) -> bool {
    match berth_owner(labels) {
        Some(owner) => user.sees(&owner),
        None => {
            user.is_admin()
                || app
                    .policy
                    .for_user(user.role, &user.team)
                    .shows_foreign_containers()
        }
    }
}

/// A container as the engine that has it describes it.
pub struct Found {
    pub engine: Arc<Member>,
    pub container: ContainerInspectResponse,
}

/// The engine named `name` (`?engine=`), or 400.
pub fn engine_named(app: &AppState, name: &str) -> ApiResult<Arc<Member>> {
    app.engines
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::BadRequest(format!("no such engine: {name}")))
}

/// Inspects container `id` on the engine `engine` names, or on whichever engine has it: on
/// one engine it is found there; on several it is 409, asking which.
async fn find(app: &AppState, id: &str, engine: Option<&str>) -> ApiResult<Found> {
    let candidates: Vec<Arc<Member>> = match engine {
        Some(name) => vec![engine_named(app, name)?],
        None => app.engines.all().to_vec(),
    };
    if let [only] = candidates.as_slice() {
        let container = only.engine.inspect(id).await?;
        return Ok(Found {
            engine: Arc::clone(only),
            container,
        });
    }
    let looks = candidates
        .iter()
        .filter(|m| m.is_reachable())
        .map(|m| async move { (m, m.engine.inspect(id).await) });
    let mut found = Vec::new();
    let mut failure = None;
    for (member, looked) in futures_util::future::join_all(looks).await {
        match looked {
            Ok(container) => found.push((member, container)),
            Err(e) if e.status() == Some(404) => {}
            Err(e) => failure = Some(e),
        }
    }
    match found.len() {
        1 => {
            let (member, container) = found.pop().expect("one");
            Ok(Found {
                engine: Arc::clone(member),
                container,
            })
        }
        0 => Err(failure.map_or_else(
            || ApiError::NotFound(format!("No such container: {id}")),
            ApiError::from,
        )),
        _ => {
            let names: Vec<&str> = found.iter().map(|(m, _)| m.name.as_str()).collect();
            Err(ApiError::Conflict(format!(
                "container {id} exists on the engines {}: say which with ?engine=NAME",
                names.join(", ")
            )))
        }
    }
}

/// Inspects a container `user` sees; one they do not is 404, as if it did not exist. For
/// non-admins, a container Berth did not create comes without its environment and mounts.
pub async fn visible_container(
    app: &AppState,
    user: &Principal,
    id: &str,
    engine: Option<&str>,
) -> ApiResult<Found> {
    let mut found = find(app, id, engine).await?;
    let labels = labels_of(&found.container);
    if !sees_container(app, user, labels) {
        return Err(ApiError::NotFound(format!("No such container: {id}")));
    }
    if !user.is_admin() && berth_owner(labels).is_none() {
        redact(&mut found.container);
    }
    Ok(found)
}

/// Inspects a container `user` may act on.
pub async fn actionable_container(
    app: &AppState,
    user: &Principal,
    id: &str,
    engine: Option<&str>,
) -> ApiResult<Found> {
    let found = visible_container(app, user, id, engine).await?;
    let allowed = user.is_admin()
        || berth_owner(labels_of(&found.container)).is_some_and(|o| acts_on(app, user, &o));
    if !allowed {
        return Err(ApiError::Forbidden(format!(
            "container {id} is read-only for you"
        )));
    }
    Ok(found)
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

/// The containers `user` sees, those Berth did not create redacted for non-admins.
pub fn visible_containers(
    app: &AppState,
    user: &Principal,
    all: Vec<OnEngine<ContainerSummary>>,
) -> Vec<OnEngine<ContainerSummary>> {
    all.into_iter()
        .filter(|c| sees_container(app, user, c.item.labels.as_ref()))
        .map(|mut c| {
            if !user.is_admin() && berth_owner(c.item.labels.as_ref()).is_none() {
                c.item.mounts = None;
                c.item.command = None;
                c.item.labels = None;
            }
            c
        })
        .collect()
}

/// Leaves out of a container Berth did not create what commonly holds secrets: the
/// environment, the command, the labels and what it mounts from the host.
fn redact(container: &mut ContainerInspectResponse) {
    if let Some(config) = &mut container.config {
        config.env = None;
        config.cmd = None;
        config.entrypoint = None;
        config.labels = None;
    }
    container.path = None;
    container.args = None;
    if let Some(host) = &mut container.host_config {
        host.binds = None;
        host.mounts = None;
    }
    container.mounts = None;
}
