//! A gateway with users of every role, for authorization and policy tests.

use std::net::SocketAddr;
use std::path::PathBuf;

use berth_server::Config;
use serde_json::{Value, json};

use crate::{DOCKER_HOST, http_as, json_of, run_ids, spawn_gateway, status_and_json, status_of};

pub const ADMIN: &str = "team-admin-token";
pub const PASSWORD: &str = "correct horse battery";

/// A client that keeps cookies, as a browser does: sessions come from password sign-ins.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

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
        Self::with_config(Config::local(DOCKER_HOST), policy).await
    }

    /// The same users on a gateway of `config` (its engines, limits…), with `policy` and the
    /// admin token `ADMIN`.
    pub async fn with_config(mut config: Config, policy: &str) -> Team {
        config.admin_token = Some(ADMIN.into());
        let policy_file = config.data_dir.with_extension("policy.toml");
        std::fs::write(&policy_file, policy).unwrap();
        config.policy = Some(policy_file);
        let data_dir = config.data_dir.clone();
        let addr = spawn_gateway(config);
        let mut team = Team::admin_only(addr, data_dir);
        team.alice = team.user("alice", "operator", "red").await;
        team.bob = team.user("bob", "operator", "blue").await;
        team.vic = team.user("vic", "viewer", "red").await;
        team.root = team.user("root", "admin", "").await;
        team
    }

    /// The admin of a gateway at `addr` on `data_dir` made by other means (a gateway of the
    /// test's own, started again on a data directory): no users of its own here.
    pub fn admin_only(addr: SocketAddr, data_dir: PathBuf) -> Team {
        Team {
            addr,
            data_dir,
            admin: ADMIN.into(),
            alice: String::new(),
            bob: String::new(),
            vic: String::new(),
            root: String::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Creates a user and returns an API token of theirs (made through a password sign-in).
    pub async fn user(&self, name: &str, role: &str, team: &str) -> String {
        let body = json!({"username": name, "password": PASSWORD, "role": role, "team": team});
        let created = status_of(http_as(ADMIN).post(self.url("/api/users")).json(&body)).await;
        assert_eq!(created, 201, "creating {name}");
        let browser = browser();
        let signed_in = self.sign_in(&browser, name, PASSWORD).await;
        assert_eq!(signed_in.status(), 200, "signing in as {name}");
        let tokens = browser.post(self.url("/api/tokens"));
        let (status, token) = status_and_json(tokens.json(&json!({"name": "tests"}))).await;
        assert_eq!(status, 201, "token for {name}");
        token["token"].as_str().unwrap().to_string()
    }

    /// `POST /api/login` with `browser`: the answer, whose cookie `browser` keeps on success.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        name: &str,
        password: &str,
    ) -> reqwest::Response {
        let credentials = json!({"username": name, "password": password});
        let login = browser.post(self.url("/api/login")).json(&credentials);
        login.send().await.unwrap()
    }

    /// `GET path` as `token`, as JSON.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        json_of(http_as(token).get(self.url(path))).await
    }

    /// `POST /api/runs` as `token`: (status, body).
    pub async fn create(&self, token: &str, body: Value) -> (u16, Value) {
        status_and_json(http_as(token).post(self.url("/api/runs")).json(&body)).await
    }

    /// Creates, without starting, a run of `argv` as `token`: (status, body). Policy checks
    /// happen at creation, so most policy and authorization cases need no running container.
    pub async fn create_only(&self, token: &str, argv: &[&str]) -> (u16, Value) {
        self.create(token, json!({"argv": argv, "start": false}))
            .await
    }

    /// `DELETE /api/runs/{run_id}` as `token` (removes the container too): the status.
    pub async fn delete_run(&self, token: &str, run_id: &str) -> u16 {
        status_of(http_as(token).delete(self.url(&format!("/api/runs/{run_id}")))).await
    }

    /// Removes every run of this gateway and its container (test clean-up).
    pub async fn remove_all_runs(&self) {
        let runs = self.get_json(&self.admin, "/api/runs").await;
        for run in run_ids(&runs) {
            self.delete_run(&self.admin, run).await;
        }
    }
}
