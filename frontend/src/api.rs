//! The gateway's REST API (docs/API.md), and what the whole app needs to know about reaching it:
//! whether the gateway answers at all, and whether it wants a token we do not have.

use std::sync::LazyLock;

use berth_shared::wire::{ApiError, Me};
use gloo_net::http::{Request, RequestBuilder, Response};
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a call failed, in the terms the UI shows.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiErr {
    /// 401: the API wants a token (see [`Connection::auth_required`]).
    Unauthorized,
    /// No HTTP answer at all: the gateway is down or the network is.
    Unreachable(String),
    /// The gateway answered with an error.
    Status {
        code: u16,
        message: String,
        exit_code: Option<i32>,
    },
}

impl std::fmt::Display for ApiErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiErr::Unauthorized => f.write_str("sign in required"),
            ApiErr::Unreachable(e) => write!(f, "the gateway is unreachable ({e})"),
            ApiErr::Status { message, .. } => f.write_str(message),
        }
    }
}

/// App-wide connection state, shown in the header and the banner.
#[derive(Clone)]
pub struct Connection {
    /// `false` once a request got no answer; `true` again on the next answer.
    pub gateway_up: ArcRwSignal<bool>,
    /// The API answered 401: the app goes to the sign-in page instead of failing.
    pub auth_required: ArcRwSignal<bool>,
    /// Who is signed in, once `/api/me` or `/api/login` said so; `None` before and after.
    pub me: ArcRwSignal<Option<Me>>,
}

static CONNECTION: LazyLock<Connection> = LazyLock::new(|| Connection {
    gateway_up: ArcRwSignal::new(true),
    auth_required: ArcRwSignal::new(false),
    me: ArcRwSignal::new(None),
});

pub fn connection() -> Connection {
    CONNECTION.clone()
}

async fn send(req: RequestBuilder) -> Result<Response, ApiErr> {
    send_request(
        req.build()
            .map_err(|e| ApiErr::Unreachable(e.to_string()))?,
    )
    .await
}

/// Sends a request; the browser adds the session cookie (same origin) by itself.
async fn send_request(req: gloo_net::http::Request) -> Result<Response, ApiErr> {
    let conn = connection();
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            conn.gateway_up.set(false);
            return Err(ApiErr::Unreachable(e.to_string()));
        }
    };
    conn.gateway_up.set(true);
    if resp.status() == 401 {
        conn.me.set(None);
        conn.auth_required.set(true);
        return Err(ApiErr::Unauthorized);
    }
    if !resp.ok() {
        let code = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(match serde_json::from_str::<ApiError>(&text) {
            Ok(e) => ApiErr::Status {
                code,
                message: e.error.message,
                exit_code: e.error.exit_code,
            },
            // Not the gateway's JSON: a proxy in front of it failed.
            Err(_) => ApiErr::Status {
                code,
                message: format!("HTTP {code} {}", resp.status_text()),
                exit_code: None,
            },
        });
    }
    if resp.url().contains("/api/") {
        conn.auth_required.set(false);
    }
    Ok(resp)
}

/// The answer's JSON as `T` (one of the wire's answer types).
async fn answer<T: DeserializeOwned>(resp: Response) -> Result<T, ApiErr> {
    resp.json::<T>()
        .await
        .map_err(|e| ApiErr::Unreachable(format!("unexpected answer: {e}")))
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiErr> {
    answer(send(Request::get(path)).await?).await
}

pub async fn get_text(path: &str) -> Result<String, ApiErr> {
    let resp = send(Request::get(path)).await?;
    resp.text()
        .await
        .map_err(|e| ApiErr::Unreachable(e.to_string()))
}

/// A POST of `body` (one of the wire's request types, e.g. `Login`); returns its answer.
pub async fn post_json<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
) -> Result<T, ApiErr> {
    let req = Request::post(path)
        .json(body)
        .map_err(|e| ApiErr::Unreachable(e.to_string()))?;
    answer(send_request(req).await?).await
}

/// A POST without a body that answers `T`, e.g. `/attach`.
pub async fn post_for<T: DeserializeOwned>(path: &str) -> Result<T, ApiErr> {
    answer(send(Request::post(path)).await?).await
}

/// A POST without a body whose answer says nothing more than its status, e.g. `/stop` (204).
pub async fn post(path: &str) -> Result<(), ApiErr> {
    send(Request::post(path)).await.map(|_| ())
}

pub async fn delete(path: &str) -> Result<(), ApiErr> {
    send(Request::delete(path)).await.map(|_| ())
}

/// An answer whatever its status, with what an error says beyond its message: for the demo
/// page, whose visitor may have no account (a 401 there is said on the page, never a trip to
/// the sign-in page) and which reads a 409's `session_id` and a 503's `Retry-After`.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// The body as it came (empty for none, e.g. a 204).
    text: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T` (one of the wire's answer types).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiErr> {
        serde_json::from_str(&self.text)
            .map_err(|e| ApiErr::Unreachable(format!("unexpected answer: {e}")))
    }

    /// The error's message (the gateway's `{"error":{"message":…}}`).
    pub fn message(&self) -> String {
        match serde_json::from_str::<ApiError>(&self.text) {
            Ok(e) => e.error.message,
            Err(_) => format!("HTTP {}", self.status),
        }
    }

    /// The `session_id` an error names (a 409: the session the visitor has already).
    pub fn session_id(&self) -> Option<String> {
        serde_json::from_str::<ApiError>(&self.text)
            .ok()?
            .error
            .session_id
    }
}

/// Sends `req` and returns its answer whatever the status; `Err` only without an answer.
async fn call(req: Result<Request, gloo_net::Error>) -> Result<Answer, ApiErr> {
    let req = req.map_err(|e| ApiErr::Unreachable(e.to_string()))?;
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            connection().gateway_up.set(false);
            return Err(ApiErr::Unreachable(e.to_string()));
        }
    };
    connection().gateway_up.set(true);
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.trim().parse().ok());
    Ok(Answer {
        status: resp.status(),
        retry_after,
        text: resp.text().await.unwrap_or_default(),
    })
}

/// `GET path`, answered whatever the status (see [`Answer`]).
pub async fn call_get(path: &str) -> Result<Answer, ApiErr> {
    call(Request::get(path).build()).await
}

/// `POST path` with `body` as JSON, answered whatever the status.
pub async fn call_post<B: Serialize>(path: &str, body: &B) -> Result<Answer, ApiErr> {
    call(Request::post(path).json(body)).await
}

/// `POST path` without a body, answered whatever the status.
pub async fn call_post_empty(path: &str) -> Result<Answer, ApiErr> {
    call(Request::post(path).build()).await
}

/// `DELETE path`, answered whatever the status.
pub async fn call_delete(path: &str) -> Result<Answer, ApiErr> {
    call(Request::delete(path).build()).await
}

/// A PUT of `body` (e.g. a template); returns its answer.
pub async fn put_json<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
) -> Result<T, ApiErr> {
    let req = Request::put(path)
        .json(body)
        .map_err(|e| ApiErr::Unreachable(e.to_string()))?;
    answer(send_request(req).await?).await
}

/// Who is signed in, if anyone, without asking anyone to sign in: pages open to visitors
/// without an account (`/try/…`) show the header's user when there is one.
pub async fn peek_me() {
    if let Ok(a) = call_get("/api/me").await
        && a.ok()
        && let Ok(me) = a.json::<Me>()
    {
        connection().me.set(Some(me));
    }
}

/// Whether the signed-in user may act on containers and runs (not a viewer). Reactive; `true`
/// until `/api/me` answered, the API refusing anyway.
pub fn may_act() -> bool {
    connection().me.with(|m| m.as_ref().is_none_or(Me::may_act))
}

/// Whether the signed-in user may start runs at all ([`Me::may_run`]). Reactive; `true` until
/// `/api/me` answered, the API refusing anyway.
pub fn may_run() -> bool {
    connection()
        .me
        .with(|m| m.as_ref().is_none_or(|m| m.may_run))
}

/// Asks the gateway who is signed in and remembers it (a 401 sends the app to `/login`).
pub async fn load_me() -> Result<Me, ApiErr> {
    let me = get::<Me>("/api/me").await?;
    connection().me.set(Some(me.clone()));
    Ok(me)
}

/// Percent-encodes a path segment (container names are safe, but IDs typed by hand may not be).
pub fn segment(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// `ws://` or `wss://` URL of an API path on this origin.
pub fn ws_url(path: &str) -> String {
    let loc = window().location();
    let scheme = if loc.protocol().as_deref() == Ok("https:") {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}{path}", loc.host().unwrap_or_default())
}
