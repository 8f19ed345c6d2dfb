//! Who is asking: bearer tokens (the bootstrap admin token or a user's API token) and browser
//! sessions (cookie). Passwords are argon2 hashes; tokens and session ids are stored as SHA-256
//! hashes (they are long random strings, so a fast hash is enough), never in clear.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, Method, header};
use berth_shared::Owner;
use berth_shared::wire::Role;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError, TokenRow, UserRow};
use crate::time::unix_now;

pub mod sign_in;
pub use sign_in::SignInLimiter;

pub const SESSION_COOKIE: &str = "berth_session";
/// Browser sessions last this long.
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// The identity of requests made with `BERTH_ADMIN_TOKEN`.
pub const ADMIN_TOKEN_USER: &str = "admin-token";
const API_TOKEN_PREFIX: &str = "berth_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    AdminToken,
    ApiToken,
    Session,
    /// A demo visitor without an account (the `berth_guest` cookie), or a session's run
    /// checked on a visitor's behalf.
    Guest,
}

/// An authenticated requester.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Stable and never reused: what ownership is decided by.
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub team: String,
    pub via: Via,
    /// The client address, for the audit log.
    pub remote: String,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    fn is(&self, owner: &Owner) -> bool {
        !owner.user_id.is_empty() && owner.user_id == self.user_id
    }

    fn in_team_of(&self, owner: &Owner) -> bool {
        !owner.team.is_empty() && owner.team == self.team
    }

    /// Whether this user may see something of `owner`'s: their own and their team's.
    pub fn sees(&self, owner: &Owner) -> bool {
        self.is_admin() || self.is(owner) || self.in_team_of(owner)
    }

    /// Whether this user may act on (stop, kill, remove, send input to) a run or container
    /// of `owner`'s: their own; a teammate's only when its request was checked under
    /// `policy`, the rules in force — never an admin's, whose requests nothing checked.
    pub fn acts_on(&self, owner: &Owner, policy: Option<&str>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Viewer => false,
            Role::Guest => self.is(owner),
            Role::Operator => self.is(owner) || (self.in_team_of(owner) && checked(owner, policy)),
        }
    }

    /// Whether a request of this user may use `owner`'s container or volume as its own
    /// (`--volumes-from`, `--link`, `container:` namespaces, named volumes): only what passed
    /// `policy`, the rules in force, as a request of this user or their team. What the same
    /// user ran under other rules does not count either: it may have what these rules deny.
    pub fn may_use(&self, owner: &Owner, policy: Option<&str>) -> bool {
        checked(owner, policy) && (self.is(owner) || self.in_team_of(owner))
    }

    /// The owner of a run this user starts, checked under `policy` (`None` for admins).
    pub fn owner(&self, policy: Option<&str>) -> Owner {
        Owner {
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            team: self.team.clone(),
            policy: policy.map(String::from),
        }
    }
}

fn checked(owner: &Owner, policy: Option<&str>) -> bool {
    policy.is_some() && owner.policy.as_deref() == policy
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required: sign in, or send Authorization: Bearer <token>")]
    Missing,
    #[error("invalid or expired credentials")]
    Invalid,
    #[error("cross-site request refused: Origin {0:?} is not this gateway's origin")]
    ForeignOrigin(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Auth {
    store: Store,
    admin_token: std::sync::RwLock<Option<String>>,
    /// Where the generated admin token was written: the token is the one-time setup token,
    /// forgotten (and the file removed) once the first admin exists.
    setup_file: Option<std::path::PathBuf>,
    /// The origin browsers use to reach Berth (`https://berth.example`); without it, the
    /// request's own Host is taken as the origin.
    public_origin: Option<String>,
    sign_ins: SignInLimiter,
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// 32 random bytes as hex.
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Hashes a password (argon2id, random salt). Slow on purpose: call off the async runtime.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Auth {
    /// `setup_file`: where `admin_token` was generated, when it was (not `BERTH_ADMIN_TOKEN`).
    pub fn new(
        store: Store,
        admin_token: Option<String>,
        setup_file: Option<std::path::PathBuf>,
        public_origin: Option<String>,
    ) -> Self {
        Auth {
            store,
            admin_token: std::sync::RwLock::new(admin_token),
            setup_file,
            public_origin,
            sign_ins: SignInLimiter::default(),
        }
    }

    /// How often sign-ins may be tried, per client address and per username.
    pub fn sign_ins(&self) -> &SignInLimiter {
        &self.sign_ins
    }

    /// Authenticates a request from its headers.
    pub async fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
        remote: String,
    ) -> Result<Principal, AuthError> {
        if let Some(token) = bearer(headers) {
            return self.by_token(token, remote).await;
        }
        let Some(session) = cookie(headers, SESSION_COOKIE) else {
            return Err(AuthError::Missing);
        };
        // A cookie comes with every request the browser makes, including ones another site
        // triggers: those that change state or open a WebSocket must come from our origin.
        let upgrade = headers.contains_key(header::UPGRADE);
        if upgrade || !matches!(*method, Method::GET | Method::HEAD) {
            self.check_origin(headers)?;
        }
        let user = self.store.session_user(sha256(session.as_bytes())).await?;
        let user = match user {
            Some(u) => self.store.user(&u).await?.ok_or(AuthError::Invalid)?,
            None => return Err(AuthError::Invalid),
        };
        Ok(principal(user, Via::Session, remote))
    }

    /// Whether `token` is the admin token (the setup token while there is no user).
    pub fn is_admin_token(&self, token: &str) -> bool {
        let admin = self.admin_token.read().expect("admin token lock");
        admin
            .as_deref()
            .is_some_and(|admin| bool::from(token.as_bytes().ct_eq(admin.as_bytes())))
    }

    /// The first admin exists: a generated token was for that alone and stops working (its
    /// file goes too); a configured `BERTH_ADMIN_TOKEN` stays, as its operator chose.
    pub fn end_setup(&self) {
        let Some(file) = &self.setup_file else {
            return;
        };
        *self.admin_token.write().expect("admin token lock") = None;
        if let Err(e) = std::fs::remove_file(file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing the used setup token {}: {e}", file.display());
        }
    }

    async fn by_token(&self, token: &str, remote: String) -> Result<Principal, AuthError> {
        if self.is_admin_token(token) {
            return Ok(Principal {
                user_id: ADMIN_TOKEN_USER.into(),
                username: ADMIN_TOKEN_USER.into(),
                role: Role::Admin,
                team: String::new(),
                via: Via::AdminToken,
                remote,
            });
        }
        let (id, secret) = token
            .strip_prefix(API_TOKEN_PREFIX)
            .and_then(|t| t.split_once('_'))
            .ok_or(AuthError::Invalid)?;
        let row = self.store.token(id).await?.ok_or(AuthError::Invalid)?;
        if !bool::from(sha256(secret.as_bytes()).ct_eq(&row.hash)) {
            return Err(AuthError::Invalid);
        }
        let user = self
            .store
            .user(&row.username)
            .await?
            .ok_or(AuthError::Invalid)?;
        Ok(principal(user, Via::ApiToken, remote))
    }

    /// The guest a request's `berth_guest` cookie names, if it has one: the cookie is a random
    /// secret, the guest's id a digest of it. Requests that change something or open a
    /// WebSocket must come from Berth's own origin, as for sessions.
    pub fn guest(
        &self,
        method: &Method,
        headers: &HeaderMap,
        remote: String,
    ) -> Result<Option<Principal>, AuthError> {
        let Some(secret) = cookie(headers, GUEST_COOKIE).filter(|s| is_guest_secret(s)) else {
            return Ok(None);
        };
        if headers.contains_key(header::UPGRADE) || !matches!(*method, Method::GET | Method::HEAD) {
            self.check_origin(headers)?;
        }
        Ok(Some(guest_principal(secret, remote)))
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            // Browsers always send Origin on these requests; other clients are not CSRF victims.
            return Ok(());
        };
        let allowed = match &self.public_origin {
            Some(public) => origin == public.trim_end_matches('/'),
            None => headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|host| {
                    origin == format!("http://{host}") || origin == format!("https://{host}")
                }),
        };
        if allowed {
            Ok(())
        } else {
            Err(AuthError::ForeignOrigin(origin.to_string()))
        }
    }

    /// Checks a username and password; on success returns the user and a new session id.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(UserRow, String), AuthError> {
        let user = self.store.user(username).await?;
        let password = password.to_string();
        // Verify against a fixed hash when the user does not exist, so timing does not tell.
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || match hash {
            Some(h) => verify_password(&password, &h),
            None => {
                verify_password(&password, dummy_hash());
                false
            }
        })
        .await
        .unwrap_or(false);
        let user = match (ok, user) {
            (true, Some(user)) => user,
            _ => return Err(AuthError::Invalid),
        };
        let session = self.open_session(&user.username).await?;
        Ok((user, session))
    }

    /// A new browser session for `username`: the cookie's value.
    pub async fn open_session(&self, username: &str) -> Result<String, AuthError> {
        let session = random_secret();
        self.store
            .create_session(
                sha256(session.as_bytes()),
                username,
                unix_now() + SESSION_SECONDS,
            )
            .await?;
        Ok(session)
    }

    pub async fn logout(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        if let Some(session) = cookie(headers, SESSION_COOKIE) {
            self.store
                .delete_session(sha256(session.as_bytes()))
                .await?;
        }
        Ok(())
    }

    /// Creates an API token acting as `username`; the clear token is returned once.
    pub async fn create_token(
        &self,
        username: &str,
        name: &str,
    ) -> Result<(TokenRow, String), AuthError> {
        let id = random_secret()[..16].to_string();
        let secret = random_secret();
        let row = TokenRow {
            id: id.clone(),
            username: username.to_string(),
            name: name.to_string(),
            hash: sha256(secret.as_bytes()),
            created_at: crate::time::rfc3339_now(),
        };
        self.store.create_token(row.clone()).await?;
        Ok((row, format!("{API_TOKEN_PREFIX}{id}_{secret}")))
    }
}

/// The cookie of a demo visitor without an account.
pub const GUEST_COOKIE: &str = "berth_guest";
/// How long a guest identity lasts in the browser.
pub const GUEST_SECONDS: i64 = 24 * 3600;

/// A guest cookie's value: 64 hex digits (what [`random_secret`] makes).
fn is_guest_secret(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The guest a cookie secret stands for: `guest-` and a digest of the secret, so that neither
/// the id nor the name (both in records and the audit log) gives the cookie away.
pub fn guest_principal(secret: &str, remote: String) -> Principal {
    let digest: String = sha256(secret.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Principal {
        user_id: format!("guest-{digest}"),
        username: format!("guest-{}", &digest[..8]),
        role: Role::Guest,
        team: String::new(),
        via: Via::Guest,
        remote,
    }
}

fn principal(user: UserRow, via: Via, remote: String) -> Principal {
    Principal {
        user_id: user.id,
        username: user.username,
        role: user.role,
        team: user.team,
        via,
        remote,
    }
}

fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("berth-dummy-password"))
}

/// Usernames and teams: short, lowercase, safe in labels and URLs. A sign-in with a username
/// outside these rules cannot succeed, so it is refused before anything is counted or stored.
pub fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// Counts events per key in a sliding window (run creations per user and minute). Its memory
/// is bounded without pruning: its keys are the usernames of authenticated users, each with at
/// most `limit` instants. Sign-ins, whose keys come from anyone, use [`SignInLimiter`].
#[derive(Default)]
pub struct RateLimiter {
    hits: Mutex<HashMap<String, Vec<Instant>>>,
}

impl RateLimiter {
    /// Records a hit for `key`; `false` when it has had `limit` hits within `window` already.
    pub fn allow(&self, key: &str, limit: u32, window: Duration) -> bool {
        let now = Instant::now();
        let mut hits = self.hits.lock().expect("rate limiter lock");
        let times = hits.entry(key.to_string()).or_default();
        times.retain(|t| now.duration_since(*t) < window);
        if times.len() >= limit as usize {
            return false;
        }
        times.push(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_cookies() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; berth_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn rate_limiter_window() {
        let r = RateLimiter::default();
        assert!(r.allow("u", 2, Duration::from_secs(60)));
        assert!(r.allow("u", 2, Duration::from_secs(60)));
        assert!(!r.allow("u", 2, Duration::from_secs(60)));
        assert!(r.allow("v", 2, Duration::from_secs(60)));
        assert!(r.allow("w", 1, Duration::from_millis(0)));
        assert!(r.allow("w", 1, Duration::from_millis(0)));
    }

    #[test]
    fn principals_see_their_own_and_their_teams() {
        let p = |role| Principal {
            user_id: "ann-id".into(),
            username: "ann".into(),
            role,
            team: "red".into(),
            via: Via::Session,
            remote: String::new(),
        };
        let owner = |id: &str, team: &str, policy: Option<&str>| Owner {
            user_id: id.into(),
            username: "whoever".into(),
            team: team.into(),
            policy: policy.map(String::from),
        };
        let rules = Some("p1");
        assert!(p(Role::Operator).sees(&owner("ann-id", "", None)));
        assert!(p(Role::Operator).sees(&owner("bob-id", "red", None)));
        assert!(!p(Role::Operator).sees(&owner("bob-id", "blue", None)));
        assert!(!p(Role::Operator).sees(&owner("bob-id", "", None)));
        assert!(
            !p(Role::Operator).sees(&owner("", "", None)),
            "no id is nobody's"
        );
        assert!(p(Role::Admin).acts_on(&owner("bob-id", "blue", None), rules));
        assert!(p(Role::Viewer).sees(&owner("bob-id", "red", None)));
        assert!(!p(Role::Viewer).acts_on(&owner("ann-id", "red", rules), rules));
        // A teammate's checked run, yes; a teammate admin's (unchecked) or one checked under
        // other rules, no; their own, always.
        assert!(p(Role::Operator).acts_on(&owner("bob-id", "red", rules), rules));
        assert!(!p(Role::Operator).acts_on(&owner("root-id", "red", None), rules));
        assert!(!p(Role::Operator).acts_on(&owner("bob-id", "red", Some("p0")), rules));
        assert!(p(Role::Operator).acts_on(&owner("ann-id", "red", None), rules));
        // Using as their own needs the rules in force, even for their own.
        assert!(p(Role::Operator).may_use(&owner("ann-id", "", rules), rules));
        assert!(p(Role::Operator).may_use(&owner("bob-id", "red", rules), rules));
        assert!(!p(Role::Operator).may_use(&owner("ann-id", "", Some("p0")), rules));
        assert!(!p(Role::Operator).may_use(&owner("root-id", "red", None), rules));
        assert!(!p(Role::Operator).may_use(&owner("ann-id", "", None), None));
    }
}
