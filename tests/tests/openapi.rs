//! `GET /api/openapi.json`: public, the same for everyone, describing exactly the routes the
//! router serves (`berth_server::api::routes()`, the table the router is built from, each route
//! of which is asked here to prove the router has it), valid OpenAPI 3.1 for a real validator
//! (PyPI's `openapi-spec-validator`, in a virtualenv of its own), with real schemas.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_tests::{ADMIN_TOKEN, DOCKER_HOST, http, http_as, url};
use serde_json::{Value, json};

/// The validator, pinned: a release that knows OpenAPI 3.1.
const VALIDATOR: &str = "openapi-spec-validator==0.7.2";

async fn document() -> Value {
    let resp = http_as("")
        .get(url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the document needs no credentials");
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("application/json"), "{kind}");
    resp.json().await.unwrap()
}

/// `(METHOD, path)` of every operation the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                ops.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_document_describes_every_route_of_the_router_and_nothing_else() {
    let doc = document().await;
    let routes: BTreeSet<(String, String)> = berth_server::api::routes().into_iter().collect();
    assert!(routes.len() > 40, "the router's table: {routes:?}");
    let described = operations(&doc);
    let missing: Vec<_> = routes.difference(&described).collect();
    let extra: Vec<_> = described.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes of the router missing from /api/openapi.json (annotate their handlers with \
         #[utoipa::path] and list them in server/src/api/openapi.rs): {missing:?}"
    );
    assert!(extra.is_empty(), "described but not routed: {extra:?}");

    // The table is what the router serves: each of its routes is answered by its handler, never
    // by the API's fallback or with 405. Asked without credentials, it says 401 exactly when the
    // document says it needs some (no `security` of its own: the document's, credentials;
    // `{}` among its own: anyone).
    let anonymous = http_as("");
    for (method, path) in &routes {
        let concrete = path.replace(['{', '}'], "").replace("run_id", "nope");
        let operation = &doc["paths"][path][method.to_ascii_lowercase()];
        let open_to_anyone = operation["security"]
            .as_array()
            .is_some_and(|s| s.contains(&json!({})));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = anonymous
            .request(method.clone(), url(&concrete))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert!(
            status != 405 && !body.contains("no such API route"),
            "{method} {concrete} is not routed: {status} {body}"
        );
        assert_eq!(
            status == 401,
            !open_to_anyone,
            "{method} {concrete} answers {status} without credentials, but its security is {}",
            operation["security"]
        );
    }
    let (status, body) = {
        let resp = anonymous
            .get(url("/api/no-such-route"))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    assert!(
        status == 404 && body.contains("no such API route"),
        "{status} {body}"
    );
}

#[tokio::test]
async fn the_document_is_public_the_same_for_everyone_and_holds_no_secret() {
    let anonymous = document().await;
    let admin: Value = http()
        .get(url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anonymous, admin);
    let text = anonymous.to_string();
    for secret in [ADMIN_TOKEN, DOCKER_HOST, "/var/run/docker.sock"] {
        assert!(!text.contains(secret), "the document names {secret:?}");
    }
    assert_eq!(anonymous["openapi"], "3.1.0");
    let schemes = &anonymous["components"]["securitySchemes"];
    assert_eq!(
        schemes["bearer"],
        json!({"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]})
    );
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "berth_session");
    assert_eq!(schemes["guest"]["name"], "berth_guest");
    // Credentials by default; none for what anyone may ask.
    assert_eq!(
        anonymous["security"],
        json!([{"bearer": []}, {"session": []}])
    );
    for path in [
        "/api/health",
        "/api/ready",
        "/api/setup",
        "/api/login",
        "/api/openapi.json",
    ] {
        let op = anonymous["paths"][path]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        assert_eq!(op["security"], json!([{}]), "{path}");
    }
}

/// A virtualenv with the validator, made once (under the target directory) and kept: a fresh
/// Debian 12 has `python3` but may lack `venv`, which root gets from apt as scripts/run.sh does.
fn validator() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi-validator");
    let script = r#"
set -eu
venv=$1 requirement=$2
if "$venv/bin/python" -c 'import openapi_spec_validator' 2>/dev/null; then exit 0; fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  else
    echo "python3 with its venv module is needed: apt-get install python3-venv" >&2
    exit 1
  fi
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$requirement"
"#;
    let out = Command::new("bash")
        .args(["-c", script, "install"])
        .arg(&venv)
        .arg(VALIDATOR)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "installing {VALIDATOR}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    venv.join("bin/python")
}

/// What the validator says of `doc`: `Ok` when valid, its complaint otherwise.
fn validate(python: &Path, doc: &Value, name: &str) -> Result<(), String> {
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let check = r#"
import json, sys
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
with open(sys.argv[1]) as f:
    validate(json.load(f), cls=OpenAPIV31SpecValidator)
"#;
    let out = Command::new(python)
        .args(["-c", check])
        .arg(&file)
        .output()
        .expect("the validator runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let doc = document().await;
    let python = tokio::task::spawn_blocking(validator).await.unwrap();
    let checked = doc.clone();
    let py = python.clone();
    let verdict =
        tokio::task::spawn_blocking(move || validate(&py, &checked, "openapi.json")).await;
    if let Err(complaint) = verdict.unwrap() {
        panic!("openapi-spec-validator refuses /api/openapi.json:\n{complaint}");
    }
    // The validator does refuse a broken document: an operation without answers.
    let mut broken = doc;
    broken["paths"]["/api/health"]["get"]["responses"] = json!("none");
    let verdict =
        tokio::task::spawn_blocking(move || validate(&python, &broken, "openapi-broken.json"))
            .await
            .unwrap();
    assert!(verdict.is_err(), "the validator took a broken document");
}

/// `#/components/schemas/NAME` of a `$ref`.
fn schema<'a>(doc: &'a Value, reference: &Value) -> &'a Value {
    let name = reference["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("not a schema reference: {reference}"));
    let found = &doc["components"]["schemas"][name];
    assert!(found.is_object(), "no schema {name}");
    found
}

#[tokio::test]
async fn schemas_are_the_wire_types() {
    let doc = document().await;
    let runs = &doc["paths"]["/api/runs"]["post"];

    // The run request: its fields, unknown ones refused, the spec its own schema.
    let body = &runs["requestBody"]["content"]["application/json"]["schema"];
    let request = schema(&doc, body);
    assert_eq!(request["additionalProperties"], false);
    let props = request["properties"].as_object().unwrap();
    for field in ["argv", "spec", "start", "engine", "engine_labels"] {
        assert!(
            props.contains_key(field),
            "RunRequest lacks {field}: {request}"
        );
    }
    assert!(request["required"].as_array().is_none_or(|r| r.is_empty()));
    let argv = &props["argv"];
    assert!(argv.to_string().contains("\"array\""), "{argv}");
    let spec_ref = props["spec"]["oneOf"]
        .as_array()
        .and_then(|alts| alts.iter().find(|a| a.get("$ref").is_some()))
        .unwrap_or(&props["spec"]);
    let spec = schema(&doc, spec_ref);
    for field in [
        "image", "command", "rm", "env", "cap_add", "memory", "publish",
    ] {
        assert!(
            spec["properties"].get(field).is_some(),
            "RunSpec lacks {field}"
        );
    }
    assert!(
        spec["properties"]["cap_add"]["description"]
            .as_str()
            .unwrap()
            .contains("--cap-add"),
        "the field's doc comment is its description"
    );

    // Its answers: the created run, and the one error shape behind every error status.
    let created = schema(
        &doc,
        &runs["responses"]["201"]["content"]["application/json"]["schema"],
    );
    assert_eq!(
        created["required"],
        json!(["run_id", "container_id", "warnings"])
    );
    let error_ref =
        &doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"];
    let error = schema(&doc, error_ref);
    let inner = schema(&doc, &error["properties"]["error"]);
    assert_eq!(inner["required"], json!(["code", "message"]));
    assert!(inner["properties"].get("exit_code").is_some());
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let responses = &op["responses"];
            assert_eq!(
                responses["4XX"]["$ref"], "#/components/responses/Error",
                "{method} {path}"
            );
            for (status, answer) in responses.as_object().unwrap() {
                if status.starts_with('4') && !status.ends_with("XX") {
                    let content = &answer["content"]["application/json"]["schema"];
                    assert_eq!(schema(&doc, content), error, "{method} {path} {status}");
                }
            }
        }
    }

    // A run as listed: its state an enum of the wire's states.
    let run_info = schema(
        &doc,
        &doc["paths"]["/api/runs/{run_id}"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"],
    );
    let state = schema(&doc, &run_info["properties"]["state"]);
    assert_eq!(
        state["enum"],
        json!([
            "pending", "pulling", "created", "running", "exited", "failed"
        ])
    );

    // The WebSockets: upgrades, naming their messages, which are real schemas.
    for path in [
        "/api/runs/ws",
        "/api/runs/{run_id}/ws",
        "/api/containers/{id}/exec",
        "/api/containers/{id}/stats/ws",
    ] {
        let op = &doc["paths"][path]["get"];
        assert!(op["responses"].get("101").is_some(), "{path}");
        let ws = &op["x-websocket"];
        assert!(schema(&doc, &ws["server"]).is_object(), "{path}");
    }
    let events = schema(
        &doc,
        &doc["paths"]["/api/runs/ws"]["get"]["x-websocket"]["server"],
    );
    let text = events.to_string();
    for kind in [
        "accepted",
        "pull",
        "created",
        "started",
        "exit",
        "error",
        "resume_refused",
    ] {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "ServerEvent lacks {kind}"
        );
    }
    let client = schema(
        &doc,
        &doc["paths"]["/api/runs/ws"]["get"]["x-websocket"]["client"],
    );
    let text = client.to_string();
    for kind in [
        "run",
        "watch",
        "resize",
        "signal",
        "close_stdin",
        "detach",
        "exec",
    ] {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "ClientMessage lacks {kind}"
        );
    }
}
