//! Durable state in an embedded SQLite database (`<data-dir>/berth.db`): users, API tokens,
//! sessions, the audit log and run history with transcripts.
//!
//! SQLite calls block, so each runs on tokio's blocking pool, one at a time on one connection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_shared::record::Recorded;
use berth_shared::wire::{self, Role, RunInfo};
use rusqlite::{Connection, OptionalExtension, params};

use crate::time::unix_now;
use rusqlite_migration::{M, Migrations};

mod demo;
mod registries;
mod writes;

pub use registries::RegistryRow;
pub use writes::WriteFailure;
use writes::{RunRow, Write, Writes};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Corrupt(String),
    #[error("database task failed: {0}")]
    Task(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The schema; `user_version` says which of these steps a database already has.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE users (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL,
        team          TEXT NOT NULL DEFAULT '',
        created_at    TEXT NOT NULL
    );
    CREATE TABLE tokens (
        id         TEXT PRIMARY KEY,
        username   TEXT NOT NULL,
        name       TEXT NOT NULL,
        hash       BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        hash       BLOB PRIMARY KEY,
        username   TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      TEXT NOT NULL,
        actor   TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail  TEXT NOT NULL,
        remote  TEXT NOT NULL
    );
    -- Audit rows are never changed or deleted.
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    CREATE TABLE runs (
        run_id   TEXT PRIMARY KEY,
        owner    TEXT NOT NULL,
        team     TEXT NOT NULL,
        created  TEXT NOT NULL,
        info     TEXT NOT NULL,
        finished INTEGER NOT NULL,
        output   BLOB
    );
    CREATE INDEX runs_by_created ON runs (created);
"#,
    // Stable user ids: ownership by name let a new account of a deleted user's name inherit their
    // runs and containers. Existing runs get the id of the user who has their owner's name now.
    r#"
    ALTER TABLE users ADD COLUMN id TEXT NOT NULL DEFAULT '';
    UPDATE users SET id = lower(hex(randomblob(16)));
    CREATE UNIQUE INDEX users_by_id ON users (id);
    ALTER TABLE runs ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
    UPDATE runs SET owner_id = coalesce((SELECT id FROM users WHERE users.username = runs.owner), '');
"#,
    // A run's events, which its record is the fold of: a restart replays them.
    r#"
    ALTER TABLE runs ADD COLUMN events TEXT;
"#,
    // Demo environments: templates, and the sessions opened on them (each a JSON document).
    r#"
    CREATE TABLE templates (
        name TEXT PRIMARY KEY,
        body TEXT NOT NULL
    );
    CREATE TABLE demo_sessions (
        id       TEXT PRIMARY KEY,
        template TEXT NOT NULL,
        ended    INTEGER NOT NULL,
        created  INTEGER NOT NULL,
        body     TEXT NOT NULL
    );
    CREATE INDEX demo_sessions_live ON demo_sessions (ended, created);
"#,
    // Registry credentials: the password sealed (ChaCha20-Poly1305, nonce first).
    r#"
    CREATE TABLE registries (
        id         TEXT PRIMARY KEY,
        server     TEXT NOT NULL,
        username   TEXT NOT NULL,
        team       TEXT,
        sealed     BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
"#,
];

/// [`MIGRATIONS`] as `rusqlite_migration` applies them: the missing steps in one transaction,
/// `user_version` counting the steps done (the scheme this store used before the crate).
fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|step| M::up(step)).collect())
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
    /// Whether the disk takes writes, and what waits for it (`store/writes.rs`).
    writes: Arc<Mutex<Writes>>,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    /// Stable and never reused (128 random bits), unlike the username.
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub team: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub username: String,
    pub name: String,
    /// SHA-256 of the secret: never leaves the store.
    pub hash: Vec<u8>,
    pub created_at: String,
}

/// The audit log's rows are its answers: `id` is the database's (0 in one not appended yet).
pub use berth_shared::wire::AuditEntry;

/// A run as stored: its record and, once finished, its transcript.
pub struct StoredRun {
    pub info: RunInfo,
    /// What the run recorded; `None` for runs stored before events were.
    pub events: Option<Vec<Recorded>>,
    pub finished: bool,
    /// `[stream][u32 BE length][bytes]…`, the retained output.
    pub output: Option<Vec<u8>>,
}

fn role_from(s: &str) -> rusqlite::Result<Role> {
    Role::parse(s).ok_or_else(|| {
        rusqlite::Error::InvalidColumnType(0, format!("role {s}"), rusqlite::types::Type::Text)
    })
}

// What the API answers for each row: the wire types, without what never leaves the store
// (password hashes, token hashes, user ids).

impl From<UserRow> for wire::UserView {
    fn from(u: UserRow) -> wire::UserView {
        wire::UserView {
            username: u.username,
            role: u.role,
            team: u.team,
            created_at: u.created_at,
        }
    }
}

impl From<TokenRow> for wire::TokenView {
    fn from(t: TokenRow) -> wire::TokenView {
        wire::TokenView {
            id: t.id,
            username: t.username,
            name: t.name,
            created_at: t.created_at,
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn = connect(path)?;
        migrations().to_latest(&mut conn).map_err(|e| {
            use rusqlite_migration::{Error, MigrationDefinitionError::DatabaseTooFarAhead};
            match e {
                Error::MigrationDefinition(DatabaseTooFarAhead) => StoreError::Corrupt(format!(
                    "the schema is newer than this Berth knows ({} steps): a newer Berth made it",
                    MIGRATIONS.len()
                )),
                e => StoreError::Corrupt(format!("bringing the schema up to date: {e}")),
            }
        })?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
            writes: Arc::default(),
        })
    }

    /// Runs `f` on the connection, off the async runtime.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|e| StoreError::Task(e.to_string()))?;
            f(&conn).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    // Users.

    pub async fn user_count(&self) -> Result<i64> {
        self.call(|c| c.query_row("SELECT count(*) FROM users", [], |r| r.get(0)))
            .await
    }

    /// `false` when the username is taken.
    pub async fn create_user(&self, user: UserRow) -> Result<bool> {
        self.call(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO users (id, username, password_hash, role, team, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![user.id, user.username, user.password_hash, user.role.as_str(), user.team, user.created_at],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Creates `user` only if there is no user at all (one statement, so two first visitors
    /// cannot both become the first admin); `false` when there was one already.
    pub async fn create_first_user(&self, user: UserRow) -> Result<bool> {
        self.call(move |c| {
            let n = c.execute(
                "INSERT INTO users (id, username, password_hash, role, team, created_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM users)",
                params![user.id, user.username, user.password_hash, user.role.as_str(), user.team, user.created_at],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn user(&self, username: &str) -> Result<Option<UserRow>> {
        let username = username.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT id, username, password_hash, role, team, created_at FROM users WHERE username = ?1",
                [username],
                user_row,
            )
            .optional()
        })
        .await
    }

    pub async fn users(&self) -> Result<Vec<UserRow>> {
        self.call(|c| {
            let mut stmt = c.prepare(
                "SELECT id, username, password_hash, role, team, created_at FROM users ORDER BY username",
            )?;
            stmt.query_map([], user_row)?.collect()
        })
        .await
    }

    /// Deletes a user with their tokens and sessions; `false` if there was no such user.
    pub async fn delete_user(&self, username: &str) -> Result<bool> {
        let username = username.to_string();
        self.call(move |c| {
            c.execute("DELETE FROM tokens WHERE username = ?1", [&username])?;
            c.execute("DELETE FROM sessions WHERE username = ?1", [&username])?;
            Ok(c.execute("DELETE FROM users WHERE username = ?1", [&username])? == 1)
        })
        .await
    }

    // API tokens.

    pub async fn create_token(&self, token: TokenRow) -> Result<()> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO tokens (id, username, name, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token.id, token.username, token.name, token.hash, token.created_at],
            )
            .map(|_| ())
        })
        .await
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        let id = id.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT id, username, name, hash, created_at FROM tokens WHERE id = ?1",
                [id],
                token_row,
            )
            .optional()
        })
        .await
    }

    /// Tokens of one user, or of everyone.
    pub async fn tokens(&self, username: Option<&str>) -> Result<Vec<TokenRow>> {
        let username = username.map(str::to_string);
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, username, name, hash, created_at FROM tokens WHERE ?1 IS NULL OR username = ?1 ORDER BY created_at",
            )?;
            stmt.query_map([username], token_row)?.collect()
        })
        .await
    }

    pub async fn delete_token(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.call(move |c| Ok(c.execute("DELETE FROM tokens WHERE id = ?1", [id])? == 1))
            .await
    }

    // Sessions.

    pub async fn create_session(
        &self,
        hash: Vec<u8>,
        username: &str,
        expires_at: i64,
    ) -> Result<()> {
        let username = username.to_string();
        self.call(move |c| {
            c.execute("DELETE FROM sessions WHERE expires_at < ?1", [unix_now()])?;
            c.execute(
                "INSERT INTO sessions (hash, username, expires_at) VALUES (?1, ?2, ?3)",
                params![hash, username, expires_at],
            )
            .map(|_| ())
        })
        .await
    }

    /// The user of an unexpired session.
    pub async fn session_user(&self, hash: Vec<u8>) -> Result<Option<String>> {
        self.call(move |c| {
            c.query_row(
                "SELECT username FROM sessions WHERE hash = ?1 AND expires_at >= ?2",
                params![hash, unix_now()],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    pub async fn delete_session(&self, hash: Vec<u8>) -> Result<()> {
        self.call(move |c| {
            c.execute("DELETE FROM sessions WHERE hash = ?1", [hash])
                .map(|_| ())
        })
        .await
    }

    // Audit.

    /// Appends an entry, each of its fields cut to 256 characters: they come from requests (a
    /// path, a username, an Origin header), and the log is append-only, so an unbounded field
    /// would let anyone who can send a request fill the disk, megabytes per row.
    pub async fn append_audit(&self, entry: AuditEntry) -> Result<()> {
        const MAX_CHARS: usize = 256;
        /// At most `MAX_CHARS` characters; a longer text keeps its first ones and a "…".
        fn bounded(mut text: String) -> String {
            if let Some((cut, _)) = text.char_indices().nth(MAX_CHARS - 1)
                && text[cut..].chars().nth(1).is_some()
            {
                text.truncate(cut);
                text.push('…');
            }
            text
        }
        let e = AuditEntry {
            id: entry.id,
            at: bounded(entry.at),
            actor: bounded(entry.actor),
            action: bounded(entry.action),
            target: bounded(entry.target),
            outcome: bounded(entry.outcome),
            detail: bounded(entry.detail),
            remote: bounded(entry.remote),
        };
        // Waits in memory while the disk refuses writes (`store/writes.rs`).
        self.write(Write::Audit(e)).await
    }

    /// Newest first: at most `limit` entries with an id below `before`.
    pub async fn audit(&self, limit: u32, before: Option<i64>) -> Result<Vec<AuditEntry>> {
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, at, actor, action, target, outcome, detail, remote FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            stmt.query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    outcome: r.get(5)?,
                    detail: r.get(6)?,
                    remote: r.get(7)?,
                })
            })?
            .collect()
        })
        .await
    }

    // Runs.

    pub async fn save_run(&self, run: StoredRun) -> Result<()> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
        let info = serde_json::to_string(&run.info).map_err(corrupt)?;
        let events = run
            .events
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(corrupt)?;
        // Waits in memory while the disk refuses writes (`store/writes.rs`): runs go on.
        self.write(Write::Run(RunRow {
            run_id: run.info.run_id,
            owner: run.info.owner,
            team: run.info.team,
            created: run.info.created_at,
            info,
            finished: run.finished,
            output: run.output,
            owner_id: run.info.owner_id,
            events,
        }))
        .await
    }

    /// The newest `limit` runs, newest first, with their transcripts when `with_output`.
    pub async fn runs(&self, limit: u32, with_output: bool) -> Result<Vec<StoredRun>> {
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT owner_id, info, finished, CASE WHEN ?2 THEN output END, events FROM runs ORDER BY created DESC LIMIT ?1",
            )?;
            stmt.query_map(params![limit, with_output], stored_run)?.collect()
        })
        .await
    }

    /// One run with its transcript.
    pub async fn run(&self, run_id: &str) -> Result<Option<StoredRun>> {
        let run_id = run_id.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT owner_id, info, finished, output, events FROM runs WHERE run_id = ?1",
                [run_id],
                stored_run,
            )
            .optional()
        })
        .await
    }

    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        let run_id = run_id.to_string();
        self.call(move |c| {
            c.execute("DELETE FROM runs WHERE run_id = ?1", [run_id])
                .map(|_| ())
        })
        .await
    }
}

/// Opens the database at `path` with the store's settings.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn stored_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRun> {
    let info: String = r.get(1)?;
    let mut info: RunInfo = serde_json::from_str(&info).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    // Records written before owner ids: the id the migration found for the owner's name.
    if info.owner_id.is_empty() {
        info.owner_id = r.get(0)?;
    }
    let events: Option<String> = r.get(4)?;
    let events = events
        .map(|e| serde_json::from_str(&e))
        .transpose()
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
        })?;
    Ok(StoredRun {
        info,
        events,
        finished: r.get(2)?,
        output: r.get(3)?,
    })
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        username: r.get(1)?,
        password_hash: r.get(2)?,
        role: role_from(&r.get::<_, String>(3)?)?,
        team: r.get(4)?,
        created_at: r.get(5)?,
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        username: r.get(1)?,
        name: r.get(2)?,
        hash: r.get(3)?,
        created_at: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn users_of_an_older_database_get_ids_and_keep_their_runs() {
        let dir = std::env::temp_dir().join(format!("berth-store-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("berth.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                r#"INSERT INTO users VALUES ('ann', 'h', 'operator', 'red', 't');
                   INSERT INTO runs VALUES ('r1', 'ann', 'red', 't', '{"run_id":"r1","owner":"ann","team":"red","state":"exited","exit_code":0,"error":null,"image":"i","argv":[],"container_id":null,"warnings":[],"tty":false,"interactive":false,"detach":false,"created_at":"t","started_at":null,"finished_at":null,"output_bytes":0}', 1, NULL);"#,
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let ann = store.user("ann").await.unwrap().unwrap();
        assert_eq!(ann.id.len(), 32);
        let run = store.run("r1").await.unwrap().unwrap();
        assert_eq!(run.info.owner_id, ann.id);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn audit_is_append_only_and_migrations_are_idempotent() {
        let dir = std::env::temp_dir().join(format!("berth-store-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("berth.db");
        let store = Store::open(&path).unwrap();
        let entry = AuditEntry {
            id: 0,
            at: "t".into(),
            actor: "a".into(),
            action: "x".into(),
            target: "y".into(),
            outcome: "ok".into(),
            detail: String::new(),
            remote: "r".into(),
        };
        store.append_audit(entry.clone()).await.unwrap();
        let err = store
            .call(|c| c.execute("DELETE FROM audit", []))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        let err = store
            .call(|c| c.execute("UPDATE audit SET actor = 'b'", []))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        drop(store);
        let store = Store::open(&path).unwrap();
        let rows = store.audit(10, None).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].actor, "a");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
