//! `docker exec`: an exec instance in a running container (`POST /containers/{id}/exec`),
//! started with the same hijack as attach (`POST /exec/{id}/start`), resized, and inspected
//! for its exit code.

use hyper::Method;
use serde::{Deserialize, Serialize};

use super::attach::{Attached, hijack};
use super::transport::{read_json, segment};
use super::{Engine, Result, json_body};

/// What to run, as the Engine API's `ExecConfig` takes it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    pub privileged: bool,
    /// `[rows, cols]`: the TTY's size from its first byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u16; 2]>,
}

/// `GET /exec/{id}/json`, the fields Berth reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecState {
    pub running: bool,
    pub exit_code: Option<i64>,
}

impl Engine {
    /// Creates an exec instance: its id.
    pub async fn create_exec(&self, container: &str, config: &ExecConfig) -> Result<String> {
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "Id")]
            id: String,
        }
        let path = format!("/containers/{}/exec", segment(container));
        let created: Created = read_json(
            self.call(Method::POST, &path, &[], json_body(config)?)
                .await?,
        )
        .await?;
        Ok(created.id)
    }

    /// Starts it, hijacked: its output and its stdin.
    pub async fn start_exec(&self, exec: &str, tty: bool) -> Result<Attached> {
        let transport = &self.transport;
        let path = transport
            .versioned(&format!("/exec/{}/start", segment(exec)), &[])
            .await?;
        let body = serde_json::json!({"Detach": false, "Tty": tty}).to_string();
        hijack(transport, path, Some(body.into_bytes()), tty).await
    }

    pub async fn resize_exec(&self, exec: &str, rows: u16, cols: u16) -> Result<()> {
        let (h, w) = (rows.to_string(), cols.to_string());
        let path = format!("/exec/{}/resize", segment(exec));
        self.call(Method::POST, &path, &[("h", &h), ("w", &w)], None)
            .await?;
        Ok(())
    }

    pub async fn inspect_exec(&self, exec: &str) -> Result<ExecState> {
        let path = format!("/exec/{}/json", segment(exec));
        read_json(self.call(Method::GET, &path, &[], None).await?).await
    }
}
