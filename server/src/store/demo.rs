//! Demo templates and sessions, each stored as the JSON document the `demo` module keeps.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};

impl Store {
    pub async fn save_template(&self, name: &str, body: String) -> Result<()> {
        let name = name.to_string();
        self.call(move |c| {
            c.execute(
                "INSERT INTO templates (name, body) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET body = ?2",
                params![name, body],
            )
            .map(|_| ())
        })
        .await
    }

    pub async fn delete_template(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.call(move |c| {
            c.execute("DELETE FROM templates WHERE name = ?1", [name])
                .map(|_| ())
        })
        .await
    }

    /// Every template's document, in name order.
    pub async fn templates(&self) -> Result<Vec<String>> {
        self.call(|c| {
            let mut stmt = c.prepare("SELECT body FROM templates ORDER BY name")?;
            stmt.query_map([], |r| r.get(0))?.collect()
        })
        .await
    }

    pub async fn save_session(
        &self,
        id: &str,
        template: &str,
        ended: bool,
        created: i64,
        body: String,
    ) -> Result<()> {
        let (id, template) = (id.to_string(), template.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO demo_sessions (id, template, ended, created, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET ended = ?3, body = ?5",
                params![id, template, ended, created, body],
            )
            .map(|_| ())
        })
        .await
    }

    /// The sessions not ended yet, oldest first (the queue's order).
    pub async fn live_sessions(&self) -> Result<Vec<String>> {
        self.call(|c| {
            let mut stmt =
                c.prepare("SELECT body FROM demo_sessions WHERE ended = 0 ORDER BY created, id")?;
            stmt.query_map([], |r| r.get(0))?.collect()
        })
        .await
    }

    pub async fn session(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_string();
        self.call(move |c| {
            c.query_row("SELECT body FROM demo_sessions WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
        })
        .await
    }

    /// The newest `limit` sessions (of `template`, or of every template), newest first.
    pub async fn sessions(&self, template: Option<&str>, limit: u32) -> Result<Vec<String>> {
        let template = template.map(str::to_string);
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT body FROM demo_sessions WHERE ?1 IS NULL OR template = ?1
                 ORDER BY created DESC, id DESC LIMIT ?2",
            )?;
            stmt.query_map(params![template, limit], |r| r.get(0))?
                .collect()
        })
        .await
    }

    /// The session whose run `run_id` is, if any.
    pub async fn session_of_run(&self, run_id: &str) -> Result<Option<String>> {
        let run_id = run_id.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT id FROM demo_sessions WHERE json_extract(body, '$.run_id') = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }
}
