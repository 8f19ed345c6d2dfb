//! Registry credentials, their passwords sealed by `registries` before they come here.

use rusqlite::params;

use super::{Result, Store};

/// A stored credential. (No `Debug`: `sealed` is a secret, however sealed.)
#[derive(Clone)]
pub struct RegistryRow {
    pub id: String,
    /// The index name (`docker.io`, `host:port`).
    pub server: String,
    pub username: String,
    /// `None`: for everyone.
    pub team: Option<String>,
    pub sealed: Vec<u8>,
    pub created_at: String,
}

impl Store {
    pub async fn create_registry(&self, row: RegistryRow) -> Result<()> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO registries (id, server, username, team, sealed, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![row.id, row.server, row.username, row.team, row.sealed, row.created_at],
            )
            .map(|_| ())
        })
        .await
    }

    /// Oldest first: of two credentials for the same registry and team, the first is used.
    pub async fn registries(&self) -> Result<Vec<RegistryRow>> {
        self.call(|c| {
            let mut stmt = c.prepare(
                "SELECT id, server, username, team, sealed, created_at FROM registries ORDER BY created_at, id",
            )?;
            stmt.query_map([], |r| {
                Ok(RegistryRow {
                    id: r.get(0)?,
                    server: r.get(1)?,
                    username: r.get(2)?,
                    team: r.get(3)?,
                    sealed: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })?
            .collect()
        })
        .await
    }

    pub async fn delete_registry(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.call(move |c| Ok(c.execute("DELETE FROM registries WHERE id = ?1", [id])? > 0))
            .await
    }
}
