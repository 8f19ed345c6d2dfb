//! The gateway's state and start-up: the engines, the runs, the demo sessions, the store,
//! identities, the policy and the limits every request shares.

use std::path::Path;
use std::sync::Arc;

use crate::StartError;
use crate::auth::{Auth, RateLimiter};
use crate::config::Config;
use crate::demo::Demo;
use crate::engines::Engines;
use crate::policy::Policy;
use crate::registries::{Registries, SecretKey};
use crate::run::Runs;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub engines: Arc<Engines>,
    pub runs: Arc<Runs>,
    /// Demo templates, their sessions and pools.
    pub demo: Arc<Demo>,
    /// Credentials for private registries.
    pub registries: Arc<Registries>,
    /// Containers' live resource use, one engine stream per watched container.
    pub stats: Arc<crate::stats::StatsHub>,
    pub store: Store,
    pub auth: Arc<Auth>,
    pub policy: Arc<Policy>,
    pub limits: Arc<RateLimiter>,
    /// May read `/metrics` (`BERTH_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// Browsers reach Berth over TLS: session cookies are `Secure`.
    pub public_https: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<crate::clients::TrustedProxies>,
    /// How often one client may open a WebSocket.
    pub upgrades: Arc<crate::clients::UpgradeLimiter>,
    /// Set when Berth is stopping: WebSockets close with 1001, connections drain.
    pub shutdown: crate::shutdown::Shutdown,
    /// Taken in turn by the admissions that count runs in progress (see `admission`).
    pub(crate) admission: Arc<tokio::sync::Mutex<()>>,
}

impl AppState {
    /// Opens the store, loads the policy, sets up the bootstrap admin token and brings back
    /// the runs of a previous life.
    pub async fn new(config: &Config) -> Result<Self, StartError> {
        crate::metrics::install();
        let engines = Arc::new(Engines::from_config(config)?);
        // A first look at every engine (each bounded by a short timeout), then in the background.
        engines.watch_health().await;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
        let store = Store::open(&config.data_dir.join("berth.db"))?;
        let key = SecretKey::load(config.secret_key.as_deref(), &config.data_dir)
            .map_err(StartError::SecretKey)?;
        let registries =
            Registries::load(store.clone(), key, config.use_host_docker_config).await?;
        let policy = match &config.policy {
            Some(path) => Policy::load(path)?,
            None => {
                tracing::info!("no policy file: non-admins may run nothing (default-deny)");
                Policy::deny_all()
            }
        };
        let setup_file = config.data_dir.join("admin-token");
        let (admin_token, setup_file) =
            match config.admin_token.as_deref().filter(|t| !t.is_empty()) {
                Some(t) => (Some(t.to_string()), None),
                None if store.user_count().await? == 0 => {
                    (Some(bootstrap_token(&setup_file)?), Some(setup_file))
                }
                None => (None, None),
            };
        let runs = Arc::new(Runs::new(
            Arc::clone(&engines),
            store.clone(),
            instance_id(&config.data_dir)?,
            config.output_limit,
            config.max_finished_runs,
        ));
        if let Err(e) = runs.restore().await {
            tracing::warn!(
                "no engine reachable at start: running containers are not followed again ({})",
                e.message()
            );
        }
        runs.sweep_deadlines();
        runs.follow_returns();
        let state = AppState {
            auth: Arc::new(Auth::new(
                store.clone(),
                admin_token,
                setup_file,
                config.public_origin.clone(),
            )),
            public_https: config
                .public_origin
                .as_deref()
                .is_some_and(|o| o.starts_with("https://")),
            runs,
            engines,
            demo: Arc::new(Demo::new(store.clone(), config.guest_sessions_per_ip)),
            registries: Arc::new(registries),
            stats: Arc::default(),
            metrics_token: config.metrics_token.clone().filter(|t| !t.is_empty()),
            store,
            policy: Arc::new(policy),
            limits: Arc::new(RateLimiter::default()),
            admission: Arc::default(),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            upgrades: Arc::new(crate::clients::UpgradeLimiter::new(
                config.max_websockets_per_second,
            )),
            shutdown: Default::default(),
        };
        state.restore_demo().await;
        state.schedule_demo();
        Ok(state)
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

/// With no users yet and no `BERTH_ADMIN_TOKEN`, the first admin is created with a token
/// generated once into `path`, `<data-dir>/admin-token` (readable by the gateway's user only):
/// the setup page asks for it, so that nobody else on the network claims Berth first.
fn bootstrap_token(path: &Path) -> Result<String, StartError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = path.to_path_buf();
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
        "no users yet: generated the setup token in {} (open /setup, or use it as a bearer token to create users)",
        path.display()
    );
    Ok(token)
}
