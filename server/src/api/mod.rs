//! The HTTP and WebSocket API (docs/API.md) and the dashboard's static files.

mod auth;
mod error;
mod rest;
mod users;
mod ws;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use berth_shared::plan::{self, Plan};
use berth_shared::wire::RunRequest;
use berth_shared::{argv, spec::RunSpec};
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::StartError;
use crate::auth::{Auth, Principal, RateLimiter};
use crate::config::Config;
use crate::engine::Engine;
use crate::policy::{Context, ExistingVolume, Policy, RolePolicy};
use crate::run::{Owner, Runs};
use crate::store::{AuditEntry, Store};
pub use error::ApiError;

/// Request bodies larger than this are refused with 413.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub runs: Arc<Runs>,
    pub store: Store,
    pub auth: Arc<Auth>,
    pub policy: Arc<Policy>,
    pub limits: Arc<RateLimiter>,
    /// Browsers reach Berth over TLS: session cookies are `Secure`.
    pub public_https: bool,
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

impl AppState {
    /// Opens the store, loads the policy, sets up the bootstrap admin token and brings back
    /// the runs of a previous life.
    pub async fn new(config: &Config) -> Result<Self, StartError> {
        let engine = Engine::with_tls(&config.docker_host, &config.engine_tls())?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
        let store = Store::open(&config.data_dir.join("berth.db"))?;
        let policy = match &config.policy {
            Some(path) => Policy::load(path)?,
            None => {
                tracing::info!("no policy file: non-admins may run nothing (default-deny)");
                Policy::deny_all()
            }
        };
        let admin_token = match config.admin_token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => Some(t.to_string()),
            None if store.user_count().await? == 0 => Some(bootstrap_token(&config.data_dir)?),
            None => None,
        };
        let runs = Arc::new(Runs::new(
            engine.clone(),
            Some(store.clone()),
            instance_id(&config.data_dir)?,
            config.output_limit,
            config.max_finished_runs,
        ));
        if let Err(e) = runs.restore().await {
            tracing::warn!(
                "engine unreachable at start: running containers are not followed again ({})",
                e.message()
            );
        }
        Ok(AppState {
            auth: Arc::new(Auth::new(
                store.clone(),
                admin_token,
                config.public_origin.clone(),
            )),
            public_https: config
                .public_origin
                .as_deref()
                .is_some_and(|o| o.starts_with("https://")),
            runs,
            engine,
            store,
            policy: Arc::new(policy),
            limits: Arc::new(RateLimiter::default()),
        })
    }

    /// Appends to the audit log. A failure to record is logged, never hidden.
    pub async fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        outcome: Outcome,
        detail: &str,
    ) {
        self.append_audit(&who.username, action, target, outcome, detail, &who.remote)
            .await;
    }

    /// Audits a denial of an unauthenticated request.
    pub async fn audit_anonymous(&self, action: &str, target: &str, detail: &str, remote: &str) {
        self.append_audit("-", action, target, Outcome::Denied, detail, remote)
            .await;
    }

    async fn append_audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: Outcome,
        detail: &str,
        remote: &str,
    ) {
        let entry = AuditEntry {
            id: 0,
            at: crate::run::now(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.as_str().into(),
            detail: detail.into(),
            remote: remote.into(),
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!(
                "audit log: {e}: {actor} {action} {target} {}",
                outcome.as_str()
            );
        }
    }

    /// The containers `plan` refers to (`--volumes-from`, `--link`, `container:X`) that are
    /// Berth runs of `user` or their team.
    async fn own_containers(&self, user: &Principal, plan: &Plan) -> HashSet<String> {
        let mut own = HashSet::new();
        for name in RolePolicy::referenced_containers(plan) {
            if let Ok(c) = self.engine.inspect(&name).await {
                let labels = c.config.and_then(|c| c.labels).unwrap_or_default();
                let label = |k| labels.get(k).map_or("", String::as_str);
                let (owner, team) = (
                    label(berth_shared::LABEL_OWNER),
                    label(berth_shared::LABEL_TEAM),
                );
                if labels.contains_key(berth_shared::LABEL_RUN_ID) && user.acts_on(owner, team) {
                    own.insert(name);
                }
            }
        }
        own
    }

    /// The named volumes `plan` mounts that already exist, with their driver and whether they
    /// were created with options. A volume the engine does not know is created by the request
    /// itself; any other failure to look one up refuses the run.
    async fn existing_volumes(
        &self,
        plan: &Plan,
    ) -> Result<HashMap<String, ExistingVolume>, ApiError> {
        let mut volumes = HashMap::new();
        for name in RolePolicy::referenced_volumes(plan) {
            match self.engine.inspect_volume(&name).await {
                Ok(v) => {
                    let existing = ExistingVolume {
                        driver: v.driver,
                        has_options: v.options.is_some_and(|o| !o.is_empty()),
                    };
                    volumes.insert(name, existing);
                }
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(volumes)
    }

    /// Whether `user` may launch `plan`: role, policy (which may also fill in defaults),
    /// concurrent runs and rate. A refusal is audited. Returns the run-time limit.
    pub async fn authorize_run(
        &self,
        user: &Principal,
        plan: &mut Plan,
    ) -> Result<Option<u64>, ApiError> {
        let rules = self.policy.for_role(user.role);
        let result = self.check_run(user, rules, plan).await;
        if let Err(e) = &result {
            let image = plan.body.image.clone().unwrap_or_default();
            self.audit(user, "run.create", &image, Outcome::Denied, &e.message())
                .await;
        }
        result.map(|()| rules.max_run_seconds())
    }

    async fn check_run(
        &self,
        user: &Principal,
        rules: &RolePolicy,
        plan: &mut Plan,
    ) -> Result<(), ApiError> {
        if !rules.may_run() {
            return Err(ApiError::Forbidden(format!(
                "role {} may not run containers",
                user.role.as_str()
            )));
        }
        // The engine is asked about the containers and volumes only when the rules use them.
        let (own, volumes) = if rules.checks_requests() {
            (
                self.own_containers(user, plan).await,
                self.existing_volumes(plan).await?,
            )
        } else {
            Default::default()
        };
        rules.check(
            plan,
            &Context {
                role: user.role,
                own_containers: &own,
                volumes: &volumes,
            },
        )?;
        if let Some(max) = rules.max_concurrent_runs()
            && self.runs.active_of(&user.username) >= max as usize
        {
            return Err(ApiError::TooManyRequests(format!(
                "you have {max} runs in progress, the most your role allows; wait for one to end"
            )));
        }
        if let Some(per_minute) = rules.runs_per_minute()
            && !self.limits.allow(
                &format!("run:{}", user.username),
                per_minute,
                Duration::from_secs(60),
            )
        {
            return Err(ApiError::TooManyRequests(format!(
                "more than {per_minute} runs in a minute; try again shortly"
            )));
        }
        Ok(())
    }
}

impl From<&Principal> for Owner {
    fn from(p: &Principal) -> Owner {
        Owner {
            username: p.username.clone(),
            team: p.team.clone(),
        }
    }
}

/// This gateway's identity on its containers' labels: generated once per data directory.
fn instance_id(data_dir: &Path) -> Result<String, StartError> {
    let path = data_dir.join("instance-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let id = crate::auth::random_secret()[..16].to_string();
            std::fs::write(&path, &id).map_err(|e| StartError::DataDir(path, e))?;
            Ok(id)
        }
    }
}

/// With no users yet and no `BERTH_ADMIN_TOKEN`, the first admin signs in with a token
/// generated once into `<data-dir>/admin-token` (readable by the gateway's user only).
fn bootstrap_token(data_dir: &Path) -> Result<String, StartError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("admin-token");
    if let Ok(token) = std::fs::read_to_string(&path)
        && !token.trim().is_empty()
    {
        tracing::info!("no users yet: the admin token is in {}", path.display());
        return Ok(token.trim().to_string());
    }
    let token = crate::auth::random_secret();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(token.as_bytes()).map(|()| f))
        .map_err(|e| StartError::DataDir(path.clone(), e))?;
    file.flush()
        .map_err(|e| StartError::DataDir(path.clone(), e))?;
    tracing::info!(
        "no users yet: generated an admin token in {} (use it as a bearer token to create users)",
        path.display()
    );
    Ok(token)
}

pub fn router(state: AppState, config: &Config) -> Router {
    let api = Router::new()
        .route("/health", get(rest::health))
        .route("/login", post(users::login))
        .route("/logout", post(users::logout))
        .route("/me", get(users::me))
        .route("/users", post(users::create_user).get(users::list_users))
        .route("/users/{username}", delete(users::delete_user))
        .route("/tokens", post(users::create_token).get(users::list_tokens))
        .route("/tokens/{id}", delete(users::delete_token))
        .route("/audit", get(users::audit))
        .route("/runs", post(rest::create_run).get(rest::list_runs))
        .route("/runs/ws", get(ws::run))
        .route(
            "/runs/{run_id}",
            get(rest::get_run).delete(rest::delete_run),
        )
        .route("/runs/{run_id}/ws", get(ws::watch))
        .route("/runs/{run_id}/output", get(rest::run_output))
        .route("/runs/{run_id}/stop", post(rest::stop_run))
        .route("/runs/{run_id}/kill", post(rest::kill_run))
        .route("/containers", get(rest::list_containers))
        .route(
            "/containers/{id}",
            get(rest::inspect_container).delete(rest::remove_container),
        )
        .route("/containers/{id}/stop", post(rest::stop_container))
        .route("/containers/{id}/kill", post(rest::kill_container))
        .route("/containers/{id}/logs", get(rest::container_logs))
        .route("/containers/{id}/attach", post(rest::attach_container))
        .route("/images", get(rest::list_images))
        .fallback(rest::no_such_route)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);

    let index = config.static_dir.join("index.html");
    if !Path::new(&index).exists() {
        tracing::warn!(
            "no dashboard at {}: build it with `trunk build --release`; the API works without it",
            config.static_dir.display()
        );
    }
    let dashboard = ServeDir::new(&config.static_dir).fallback(ServeFile::new(index));
    let dashboard = Router::new()
        .fallback_service(dashboard)
        .layer(axum::middleware::from_fn(cache_control));
    Router::new()
        .nest("/api", api)
        .merge(dashboard)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Trunk names built files with a content hash (`app-0123456789abcdef.js`,
/// `app-0123456789abcdef_bg.wasm`): those never change and are cached for good; everything else
/// (`index.html`, the SPA fallback, vendored files) is revalidated.
fn is_hashed(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .and_then(|file| file.split('.').next())
        .and_then(|stem| stem.rsplit_once('-'))
        .map(|(_, hash)| hash.trim_end_matches("_bg"))
        .is_some_and(|hash| hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn cache_control(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let hashed = is_hashed(req.uri().path());
    let mut resp = next.run(req).await;
    let value = if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static(value),
    );
    resp
}

/// A run request's plan and the argv it is recorded with, or why it is invalid.
pub fn plan_for(req: &RunRequest) -> Result<(Plan, Vec<String>), ApiError> {
    let bad = |e: &dyn std::fmt::Display| ApiError::BadRequest(e.to_string());
    let (spec, argv): (RunSpec, Vec<String>) = match (&req.argv, &req.spec) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either \"argv\" or \"spec\", not both".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "a run needs \"argv\" (the arguments after `docker run`) or \"spec\"".into(),
            ));
        }
        (Some(a), None) => (argv::parse(a).map_err(|e| bad(&e))?, a.clone()),
        (None, Some(s)) => (s.clone(), argv::render(s)),
    };
    let plan = plan::build(&spec).map_err(|e| bad(&e))?;
    Ok((plan, argv))
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn only_content_hashed_files_are_immutable() {
        assert!(is_hashed("/berth-frontend-6a5ea7c67e17a82f.js"));
        assert!(is_hashed("/berth-frontend-6a5ea7c67e17a82f_bg.wasm"));
        assert!(is_hashed("/main-7c197f8b127a6846.css"));
        assert!(!is_hashed("/"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/runs/0123456789abcdef"));
        assert!(!is_hashed("/vendor/xterm.mjs"));
        assert!(!is_hashed("/my-page"));
    }
}
