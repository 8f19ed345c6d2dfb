//! Registry credentials: which `X-Registry-Auth` a pull sends. Admins store credentials per
//! team (or for everyone); a run's pull uses its owner's team's for the image's registry, else
//! a global one, else none (anonymous). Passwords are sealed at rest with ChaCha20-Poly1305
//! under a key of the gateway's own (`BERTH_SECRET_KEY`, or `<data-dir>/secret.key`), and never
//! leave the gateway but towards the engine.
//!
//! With `BERTH_USE_HOST_DOCKER_CONFIG=1`, admins' runs may also use the gateway host's docker
//! CLI configuration (`auths`, `credHelpers`, `credsStore`), as the CLI would; nobody else's.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::store::{RegistryRow, Store, StoreError};

/// The Docker Hub's index name, which `docker.io`, `index.docker.io` and
/// `registry-1.docker.io` all stand for.
const DOCKER_HUB: &str = "docker.io";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such registry credential: {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed password that does not open (another key, or a changed row).
    #[error("a stored registry credential cannot be read with this gateway's secret key")]
    Sealed,
}

/// The key passwords are sealed with.
pub struct SecretKey(Key);

impl SecretKey {
    /// `BERTH_SECRET_KEY` (64 hex digits), else the one in `<data-dir>/secret.key`, made once
    /// (mode 0600).
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<SecretKey, String> {
        let from_hex = |hex: &str| -> Option<SecretKey> {
            let hex = hex.trim();
            if hex.len() != 64 {
                return None;
            }
            let bytes: Option<Vec<u8>> = (0..32)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect();
            Some(SecretKey(*Key::from_slice(&bytes?)))
        };
        if let Some(configured) = configured.filter(|k| !k.is_empty()) {
            return from_hex(configured)
                .ok_or_else(|| "BERTH_SECRET_KEY must be 64 hex digits (32 bytes)".to_string());
        }
        let path = data_dir.join("secret.key");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return from_hex(&text)
                .ok_or_else(|| format!("{} does not hold 64 hex digits", path.display()));
        }
        let hex = crate::auth::random_secret();
        write_private(&path, &hex).map_err(|e| format!("{}: {e}", path.display()))?;
        tracing::info!("generated the key for stored secrets in {}", path.display());
        Ok(from_hex(&hex).expect("64 hex digits"))
    }

    fn seal(&self, plain: &str) -> Vec<u8> {
        let nonce: [u8; 12] = rand::random();
        let cipher = ChaCha20Poly1305::new(&self.0);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .expect("ChaCha20-Poly1305 seals any length we store");
        [nonce.as_slice(), &sealed].concat()
    }

    fn open(&self, sealed: &[u8]) -> Result<String, RegistryError> {
        if sealed.len() < 12 {
            return Err(RegistryError::Sealed);
        }
        let (nonce, data) = sealed.split_at(12);
        let plain = ChaCha20Poly1305::new(&self.0)
            .decrypt(Nonce::from_slice(nonce), data)
            .map_err(|_| RegistryError::Sealed)?;
        String::from_utf8(plain).map_err(|_| RegistryError::Sealed)
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// A registry's index name as the docker CLI keys credentials: the Docker Hub's spellings are
/// `docker.io`; others are `host[:port]` as written, lowercased, without a scheme or path.
pub fn index_name(server: &str) -> String {
    let server = server.trim();
    let server = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = server.split('/').next().unwrap_or_default().to_lowercase();
    match host.as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.into(),
        _ => host,
    }
}

/// A valid server for a credential: a host name or address, with an optional port.
pub fn valid_server(index: &str) -> bool {
    !index.is_empty()
        && index.len() <= 253
        && index
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// `X-Registry-Auth` for a user and password: base64url of the Engine API's `AuthConfig`.
fn auth_header(username: &str, password: &str, server: &str) -> String {
    let config = serde_json::json!({
        "username": username,
        "password": password,
        "serveraddress": server,
    });
    URL_SAFE.encode(config.to_string())
}

/// Registry credentials, sealed in the store (and, sealed still, in memory: every run asks).
pub struct Registries {
    store: Store,
    key: SecretKey,
    rows: std::sync::Mutex<Vec<RegistryRow>>,
    /// Admins' runs may use the host's docker CLI configuration.
    host_config: bool,
}

impl Registries {
    pub async fn load(
        store: Store,
        key: SecretKey,
        host_config: bool,
    ) -> Result<Registries, StoreError> {
        let rows = store.registries().await?;
        Ok(Registries {
            store,
            key,
            rows: std::sync::Mutex::new(rows),
            host_config,
        })
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<RegistryRow>> {
        self.rows.lock().expect("registries lock")
    }

    pub async fn create(
        &self,
        server: &str,
        username: &str,
        password: &str,
        team: Option<&str>,
    ) -> Result<RegistryRow, RegistryError> {
        let index = index_name(server);
        if !valid_server(&index) {
            return Err(RegistryError::Invalid(format!(
                "invalid registry server {server:?}: a host name or address, with an optional port"
            )));
        }
        if username.is_empty() || username.len() > 256 || username.contains(':') {
            return Err(RegistryError::Invalid(
                "username: 1-256 characters, without ':'".into(),
            ));
        }
        if password.is_empty() || password.len() > 4096 {
            return Err(RegistryError::Invalid("password: 1-4096 characters".into()));
        }
        if let Some(team) = team
            && !crate::auth::valid_name(team)
        {
            return Err(RegistryError::Invalid(format!(
                "invalid team {team:?}: 1-32 of a-z 0-9 . _ -"
            )));
        }
        let row = RegistryRow {
            id: crate::auth::random_secret()[..16].to_string(),
            server: index,
            username: username.to_string(),
            team: team.map(str::to_string),
            sealed: self.key.seal(password),
            created_at: crate::time::rfc3339_now(),
        };
        self.store.create_registry(row.clone()).await?;
        self.rows().push(row.clone());
        Ok(row)
    }

    /// Oldest first.
    pub fn list(&self) -> Vec<RegistryRow> {
        self.rows().clone()
    }

    pub async fn delete(&self, id: &str) -> Result<(), RegistryError> {
        match self.store.delete_registry(id).await? {
            true => {
                self.rows().retain(|r| r.id != id);
                Ok(())
            }
            false => Err(RegistryError::NotFound(id.into())),
        }
    }

    /// The `X-Registry-Auth` a pull from `registry` (an image's domain) sends for a run of a
    /// user in `team`: their team's credential, else a global one; for admins, with
    /// `BERTH_USE_HOST_DOCKER_CONFIG`, the host's; else `None` (anonymous). Another team's is
    /// never used.
    pub fn auth_for(
        &self,
        registry: &str,
        team: &str,
        admin: bool,
    ) -> Result<Option<String>, RegistryError> {
        let index = index_name(registry);
        let found = {
            let rows = self.rows();
            let of_team = rows
                .iter()
                .filter(|r| r.server == index)
                .find(|r| !team.is_empty() && r.team.as_deref() == Some(team));
            let global = || rows.iter().find(|r| r.server == index && r.team.is_none());
            of_team.or_else(global).cloned()
        };
        if let Some(row) = found {
            let password = self.key.open(&row.sealed)?;
            return Ok(Some(auth_header(&row.username, &password, registry)));
        }
        if admin && self.host_config {
            return Ok(host_credential(&index).map(|(u, p)| auth_header(&u, &p, registry)));
        }
        Ok(None)
    }
}

/// The host's docker CLI credential for `index` (`$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`): a credential helper's (`credHelpers`, then `credsStore`), else
/// `auths`.
fn host_credential(index: &str) -> Option<(String, String)> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    // The CLI keys the Hub as its v1 URL.
    let keys: Vec<String> = match index {
        DOCKER_HUB => vec!["https://index.docker.io/v1/".into(), DOCKER_HUB.into()],
        other => vec![
            other.into(),
            format!("https://{other}"),
            format!("http://{other}"),
        ],
    };
    let helper = keys
        .iter()
        .find_map(|k| config["credHelpers"][k].as_str())
        .or_else(|| config["credsStore"].as_str());
    if let Some(helper) = helper
        && let Some(found) = from_helper(helper, &keys[0])
    {
        return Some(found);
    }
    let auth = keys
        .iter()
        .find_map(|k| config["auths"][k]["auth"].as_str())?;
    let decoded = String::from_utf8(STANDARD.decode(auth).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// `docker-credential-<helper> get`, as the CLI runs it: the server on stdin, JSON out.
fn from_helper(helper: &str, server: &str) -> Option<(String, String)> {
    use std::io::Write;
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let mut child = std::process::Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(server.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        found["Username"].as_str()?.to_string(),
        found["Secret"].as_str()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_as_the_cli_keys_them() {
        for hub in [
            "docker.io",
            "index.docker.io",
            "https://index.docker.io/v1/",
            "registry-1.docker.io",
        ] {
            assert_eq!(index_name(hub), "docker.io", "{hub}");
        }
        assert_eq!(index_name("127.0.0.1:5001"), "127.0.0.1:5001");
        assert_eq!(index_name("Registry.Example.com/"), "registry.example.com");
        assert!(!valid_server(&index_name("a b")));
    }

    #[test]
    fn sealed_passwords_open_only_with_their_key() {
        let dir = std::env::temp_dir().join(format!("berth-key-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = SecretKey::load(None, &dir).unwrap();
        let again = SecretKey::load(None, &dir).unwrap();
        let sealed = key.seal("hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(again.open(&sealed).unwrap(), "hunter2");
        let other = SecretKey::load(Some(&"ab".repeat(32)), &dir).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&tampered).is_err());
        assert!(SecretKey::load(Some("short"), &dir).is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
