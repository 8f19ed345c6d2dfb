//! The engines Berth drives: from `--engines FILE` (TOML, one table per engine, in file order)
//! or, without it, one engine named `local` from `DOCKER_HOST`. Each has its labels, its limit
//! of Berth runs, and its health, checked in the background so that nothing waits on an engine
//! that does not answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use crate::config::Config;
use crate::engine::{Engine, EngineError, TlsOptions};

/// How often every engine's health is looked at, and how long one look may take.
const HEALTH_EVERY: Duration = Duration::from_secs(2);
const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);

/// The name of the one engine of a Berth without an engines file.
pub const DEFAULT_ENGINE: &str = "local";

#[derive(Debug, thiserror::Error)]
pub enum EnginesError {
    #[error("cannot read the engines file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid engines file: {0}")]
    Toml(String),
    #[error("engine {name}: {message}")]
    Invalid { name: String, message: String },
    /// The engine of `DOCKER_HOST` (no engines file), in the words Berth always used.
    #[error(transparent)]
    Default(EngineError),
    #[error("engine {name}: {source}")]
    Engine {
        name: String,
        #[source]
        source: EngineError,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnginesFile {
    engines: indexmap::IndexMap<String, EngineEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineEntry {
    host: String,
    #[serde(default)]
    tls_verify: bool,
    cert_path: Option<PathBuf>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    max_runs: Option<u32>,
}

/// What the last look at an engine found.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub reachable: bool,
    pub version: Option<String>,
    pub api_version: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    /// `docker`, or `podman` for Podman's Docker-compatible API (told by its `/version`).
    pub kind: Option<String>,
    pub containers_running: u64,
    pub error: Option<String>,
}

/// What kind of engine a `/version` answer comes from: Podman names a "Podman Engine"
/// component.
fn kind_of(version: &berth_shared::models::SystemVersion) -> &'static str {
    let podman = version
        .components
        .iter()
        .flatten()
        .any(|c| c.name.starts_with("Podman"));
    if podman { "podman" } else { "docker" }
}

/// One engine of the fleet.
pub struct Member {
    pub name: String,
    /// As configured (`unix:///…`, `tcp://…`): shown to admins only.
    pub host: String,
    pub engine: Engine,
    pub labels: BTreeMap<String, String>,
    /// The most Berth runs in progress on it at once.
    pub max_runs: Option<u32>,
    health: Mutex<Health>,
    /// Bumped each time it answers again after it did not.
    returned: tokio::sync::watch::Sender<()>,
}

impl Member {
    pub fn health(&self) -> Health {
        self.health.lock().expect("health lock").clone()
    }

    /// Changes each time the engine answers again after it did not.
    pub fn returns(&self) -> tokio::sync::watch::Receiver<()> {
        self.returned.subscribe()
    }

    /// Whether it answered the last look (an engine not looked at yet counts as answering,
    /// so that the first requests after start are not refused).
    pub fn is_reachable(&self) -> bool {
        let health = self.health.lock().expect("health lock");
        health.reachable || (health.error.is_none() && health.version.is_none())
    }

    async fn check(&self) {
        let looked = tokio::time::timeout(HEALTH_TIMEOUT, async {
            let ping = self.engine.ping().await?;
            let version = self.engine.version().await?;
            let running = self.engine.containers_running().await?;
            Ok::<_, EngineError>((ping, version, running))
        })
        .await;
        let health = match looked {
            Ok(Ok((ping, version, running))) => Health {
                reachable: true,
                kind: Some(kind_of(&version).into()),
                version: version.version,
                api_version: Some(ping.api_version),
                os: version.os,
                arch: version.arch,
                containers_running: running,
                error: None,
            },
            Ok(Err(e)) => unreachable(e.message()),
            Err(_) => unreachable(format!("no answer within {HEALTH_TIMEOUT:?}")),
        };
        let mut current = self.health.lock().expect("health lock");
        let came_back = current.error.is_some() && health.reachable;
        if current.reachable != health.reachable {
            match &health.error {
                None => tracing::info!(engine = %self.name, "engine reachable"),
                Some(e) => tracing::warn!(engine = %self.name, "engine unreachable: {e}"),
            }
        }
        *current = health;
        drop(current);
        if came_back {
            self.returned.send_replace(());
        }
    }
}

fn unreachable(error: String) -> Health {
    Health {
        error: Some(error),
        ..Health::default()
    }
}

/// Every engine, in the order of the file (the order placement breaks ties in).
pub struct Engines {
    members: Vec<Arc<Member>>,
}

/// Engine (and demo template) names: short, lowercase, safe in labels and URLs.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

impl Engines {
    /// The engines file's, or `local` from `DOCKER_HOST`. Certificates are read now; an
    /// engine that does not answer is not an error (it is reported unreachable and retried).
    pub fn from_config(config: &Config) -> Result<Engines, EnginesError> {
        let Some(path) = &config.engines else {
            let engine = Engine::with_tls(&config.docker_host, &config.engine_tls())
                .map_err(EnginesError::Default)?;
            return Ok(Engines::one(DEFAULT_ENGINE, &config.docker_host, engine));
        };
        Engines::load(path)
    }

    fn load(path: &Path) -> Result<Engines, EnginesError> {
        let text = std::fs::read_to_string(path).map_err(|source| EnginesError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let file: EnginesFile =
            toml::from_str(&text).map_err(|e| EnginesError::Toml(e.to_string()))?;
        if file.engines.is_empty() {
            return Err(EnginesError::Toml("no [engines.NAME] table".into()));
        }
        let mut members = Vec::new();
        for (name, entry) in file.engines {
            let invalid = |message: &str| EnginesError::Invalid {
                name: name.clone(),
                message: message.into(),
            };
            if !valid_name(&name) {
                return Err(invalid("names are 1 to 32 of a-z, 0-9, '.', '_', '-'"));
            }
            if entry.max_runs == Some(0) {
                return Err(invalid(
                    "max_runs must be greater than 0 (leave it out for no limit)",
                ));
            }
            let tls = TlsOptions {
                verify: entry.tls_verify,
                cert_path: entry.cert_path.clone(),
            };
            let engine =
                Engine::with_tls(&entry.host, &tls).map_err(|source| EnginesError::Engine {
                    name: name.clone(),
                    source,
                })?;
            members.push(member(
                &name,
                &entry.host,
                engine,
                entry.labels,
                entry.max_runs,
            ));
        }
        Ok(Engines::of(members))
    }

    /// One engine, named `name`.
    pub fn one(name: &str, host: &str, engine: Engine) -> Engines {
        Engines::of(vec![member(name, host, engine, BTreeMap::new(), None)])
    }

    fn of(members: Vec<Member>) -> Engines {
        Engines {
            members: members.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn all(&self) -> &[Arc<Member>] {
        &self.members
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Member>> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The first engine: where runs of a record without an engine ran, and whose health
    /// `/api/health` reports in its original shape.
    pub fn first(&self) -> &Arc<Member> {
        &self.members[0]
    }

    /// Looks at every engine now, then every [`HEALTH_EVERY`] in the background.
    pub async fn watch_health(self: &Arc<Self>) {
        self.check_all().await;
        let engines = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEALTH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(engines) = engines.upgrade() else {
                    return;
                };
                engines.check_all().await;
            }
        });
    }

    async fn check_all(&self) {
        futures_util::future::join_all(self.members.iter().map(|m| m.check())).await;
    }
}

fn member(
    name: &str,
    host: &str,
    engine: Engine,
    labels: BTreeMap<String, String>,
    max_runs: Option<u32>,
) -> Member {
    Member {
        name: name.into(),
        host: host.into(),
        engine,
        labels,
        max_runs,
        health: Mutex::default(),
        returned: tokio::sync::watch::Sender::new(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Engines, EnginesError> {
        let path =
            std::env::temp_dir().join(format!("berth-engines-{}.toml", rand::random::<u64>()));
        std::fs::write(&path, text).unwrap();
        let loaded = Engines::load(&path);
        std::fs::remove_file(&path).unwrap();
        loaded
    }

    #[test]
    fn engines_come_in_file_order_with_their_labels_and_limits() {
        let engines = load(
            r#"
            [engines.zeta]
            host = "unix:///var/run/a.sock"
            [engines.alpha]
            host = "tcp://127.0.0.1:2375"
            labels = { zone = "b" }
            max_runs = 3
            "#,
        )
        .unwrap();
        let names: Vec<&str> = engines.all().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        let alpha = engines.get("alpha").unwrap();
        assert_eq!(alpha.labels.get("zone").map(String::as_str), Some("b"));
        assert_eq!(alpha.max_runs, Some(3));
        assert_eq!(engines.first().name, "zeta");
    }

    #[test]
    fn bad_files_name_the_engine() {
        let err = |text: &str| load(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err("[engines.a]\nhost = \"unix:///x\"\ncolour = 1\n").contains("colour"));
        assert!(err("[engines.A]\nhost = \"unix:///x\"\n").starts_with("engine A:"));
        assert!(err("[engines.a]\nhost = \"ftp://x\"\n").starts_with("engine a:"));
        assert!(err("[engines.a]\nhost = \"unix:///x\"\nmax_runs = 0\n").contains("max_runs"));
        assert!(
            err("[engines.a]\nhost = \"tcp://127.0.0.1:1\"\ntls_verify = true\ncert_path = \"/nonexistent\"\n")
                .starts_with("engine a:")
        );
        assert!(
            err("[engines.a]\nhost = \"unix:///x\"\n[engines.a]\nhost = \"unix:///y\"\n")
                .contains("duplicate")
        );
        assert!(err("engines = {}\n").contains("no [engines.NAME]"));
    }
}
