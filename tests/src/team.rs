//! A gateway with users of every role, for authorization and policy tests.

use std::net::SocketAddr;
use std::path::PathBuf;

use berth_server::Config;
use serde_json::{Value, json};

use crate::{DOCKER_HOST, http_as, spawn_gateway};

pub const ADMIN: &str = "team-admin-token";
pub const PASSWORD: &str = "correct horse battery";

/// A gateway with: alice (operator, team red), bob (operator, team blue), vic (viewer, team
/// red), root (admin user); each with an API token.
pub struct Team {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub admin: String,
    pub alice: String,
    pub bob: String,
    pub vic: String,
    pub root: String,
}

impl Team {
    pub async fn new(policy: &str) -> Team {
        let mut config = Config::local(DOCKER_HOST);
        config.admin_token = Some(ADMIN.into());
        let policy_file = config.data_dir.with_extension("policy.toml");
        std::fs::write(&policy_file, policy).unwrap();
        config.policy = Some(policy_file);
        let data_dir = config.data_dir.clone();
        let addr = spawn_gateway(config);
        let mut team = Team {
            addr,
            data_dir,
            admin: ADMIN.into(),
            alice: String::new(),
            bob: String::new(),
            vic: String::new(),
            root: String::new(),
        };
        team.alice = team.user("alice", "operator", "red").await;
        team.bob = team.user("bob", "operator", "blue").await;
        team.vic = team.user("vic", "viewer", "red").await;
        team.root = team.user("root", "admin", "").await;
        team
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Creates a user and returns an API token of theirs (made through a password sign-in).
    pub async fn user(&self, name: &str, role: &str, team: &str) -> String {
        let body = json!({"username": name, "password": PASSWORD, "role": role, "team": team});
        let resp = http_as(ADMIN)
            .post(self.url("/api/users"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "creating {name}");
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let resp = browser
            .post(self.url("/api/login"))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "signing in as {name}");
        let resp = browser
            .post(self.url("/api/tokens"))
            .json(&json!({"name": "tests"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "token for {name}");
        resp.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `POST /api/runs` as `token`: (status, body).
    pub async fn create(&self, token: &str, body: Value) -> (u16, Value) {
        let resp = http_as(token)
            .post(self.url("/api/runs"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Removes every run of this gateway and its container (test clean-up).
    pub async fn remove_all_runs(&self) {
        let admin = http_as(&self.admin);
        let runs: Value = admin
            .get(self.url("/api/runs"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for run in runs.as_array().unwrap() {
            let path = format!("/api/runs/{}", run["run_id"].as_str().unwrap());
            admin.delete(self.url(&path)).send().await.unwrap();
        }
    }
}
