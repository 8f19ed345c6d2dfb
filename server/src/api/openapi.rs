//! `GET /api/openapi.json`: the API's OpenAPI 3.1 document, generated from the code: each
//! handler's `#[utoipa::path]` (its route, parameters, bodies, answers and who may call it) and
//! the wire types' schemas (`berth_shared::wire`, derived with its `openapi` feature). Every
//! route of `api::router` must be in it: tests/tests/openapi.rs compares it with
//! `api::routes()`.
//!
//! Public, as `/api/health` is: the document is the same for every Berth (built from the code,
//! nothing of the configuration, the engines or the users in it) and tells nothing docs/API.md
//! does not.
//!
//! WebSocket routes are GET operations answering 101; their messages are the components
//! `ClientMessage` (client → server, text), `ServerEvent` and `StatsSample` (server → client,
//! text), named by each operation's `x-websocket` extension. Every operation under `/api`
//! answers its errors as the component response `Error` (the wire's `ApiError`) for `4XX` and
//! `5XX`, besides the statuses it lists.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use berth_shared::wire::{ApiError, ClientMessage, ServerEvent, StatsSample};
use utoipa::openapi::response::{ResponseBuilder, Responses};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Berth",
        description = "Launch containers from a browser the way `docker run` does. The prose \
            (what each route does, limits, policy) is docs/API.md; this document is generated \
            from the gateway's code.",
    ),
    paths(
        super::health::health,
        super::health::ready,
        document,
        super::health::engines,
        super::setup::status,
        super::setup::create_first_admin,
        super::users::login,
        super::users::logout,
        super::users::me,
        super::users::create_user,
        super::users::list_users,
        super::users::delete_user,
        super::users::create_token,
        super::users::list_tokens,
        super::users::delete_token,
        super::users::audit,
        super::runs::create_run,
        super::runs::list_runs,
        super::ws::run,
        super::runs::get_run,
        super::runs::delete_run,
        super::ws::watch,
        super::runs::run_output,
        super::runs::stop_run,
        super::runs::kill_run,
        super::containers::list_containers,
        super::containers::inspect_container,
        super::containers::remove_container,
        super::containers::stop_container,
        super::containers::kill_container,
        super::containers::container_logs,
        super::inside::exec,
        super::inside::stats,
        super::inside::stats_ws,
        super::containers::attach_container,
        super::containers::list_images,
        super::registries::create_registry,
        super::registries::list_registries,
        super::registries::delete_registry,
        super::demo::create_template,
        super::demo::list_templates,
        super::demo::get_template,
        super::demo::put_template,
        super::demo::delete_template,
        super::demo::open_session,
        super::demo::list_sessions,
        super::demo::get_session,
        super::demo::delete_session,
        super::demo::extend_session,
        super::metrics::metrics,
    ),
    components(schemas(ClientMessage, ServerEvent, StatsSample, ApiError)),
    modifiers(&Security, &Errors),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "health", description = "Liveness, readiness, the engines"),
        (name = "users", description = "Signing in, users, API tokens, the audit log"),
        (name = "runs", description = "Runs: `docker run` over REST and WebSocket"),
        (name = "containers", description = "The engines' containers and images: actions, logs, `docker attach`, `docker exec`, stats"),
        (name = "registries", description = "Credentials for private registries"),
        (name = "demo", description = "Demo environments: templates and their sessions"),
        (name = "meta", description = "This document, and the Prometheus metrics"),
    ),
)]
struct ApiDoc;

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// The OpenAPI 3.1 document of this API (generated from the gateway's code).
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    summary = "This OpenAPI document",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json")),
)]
pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// How callers prove who they are (docs/API.md, "Authentication").
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API token (`berth_<id>_<secret>`, `POST /api/tokens`), acting as the user who \
                 created it; or `BERTH_ADMIN_TOKEN`, acting as the admin `admin-token`. \
                 `/metrics` also takes `BERTH_METRICS_TOKEN`.",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "berth_session",
                "The browser session `POST /api/login` sets. Changes and WebSocket upgrades \
                 with it must come from Berth's own origin (403 otherwise).",
            ))),
        );
        components.add_security_scheme(
            "guest",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "berth_guest",
                "A demo visitor without an account, set by the first `POST \
                 /api/templates/{name}/sessions` on a public template: its own sessions and \
                 their runs only.",
            ))),
        );
    }
}

/// Every operation under `/api` answers errors with the one error body: `4XX` and `5XX` refer to
/// the `Error` response, besides the statuses the operation names itself.
struct Errors;

impl Modify for Errors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let error = ResponseBuilder::new()
            .description(
                "An error: `{\"error\":{\"code\":STATUS,\"message\":…}}`, with `exit_code` for a \
                 run that failed before its command ran (125, 126, 127) and `session_id` for a \
                 demo session in the way (409).",
            )
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(ApiError::name()))),
            )
            .build();
        components.responses.insert("Error".into(), error.into());
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_error_ranges(&mut operation.responses);
            }
        }
    }
}

/// The error statuses an operation names answer the one error body; `4XX` and `5XX` cover the
/// others.
fn add_error_ranges(responses: &mut Responses) {
    for (status, response) in responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && (status.starts_with('4') || status.starts_with('5'))
            && response.content.is_empty()
        {
            let body = Content::new(Some(Ref::from_schema_name(ApiError::name())));
            response.content.insert("application/json".into(), body);
        }
    }
    for range in ["4XX", "5XX"] {
        responses
            .responses
            .entry(range.into())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Error")));
    }
}

/// An object of the Engine API (Berth passes it on as the engine answered, with `engine`
/// added): described, not restated, since its model is Docker's.
fn engine_object(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .property(
            "engine",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The engine it is on (`/api/engines`).")),
        )
        .required("engine")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
        .into()
}

/// `GET /api/containers`: a container as the Engine API lists it, with its engine.
pub struct ContainerOnEngine;

impl PartialSchema for ContainerOnEngine {
    fn schema() -> RefOr<Schema> {
        engine_object(
            "The Engine API's `ContainerSummary` (`GET /containers/json`: `Id`, `Names`, \
             `Image`, `State`, `Status`, `Labels`, `Ports`, …), with `engine`.",
        )
    }
}

impl ToSchema for ContainerOnEngine {}

/// `GET /api/images`: an image as the Engine API lists it, with its engine.
pub struct ImageOnEngine;

impl PartialSchema for ImageOnEngine {
    fn schema() -> RefOr<Schema> {
        engine_object(
            "The Engine API's `ImageSummary` (`GET /images/json`: `Id`, `RepoTags`, `Created`, \
             `Size`, …), with `engine`.",
        )
    }
}

impl ToSchema for ImageOnEngine {}

/// `GET /api/containers/{id}`: the Engine API's inspect document, with its engine.
pub struct InspectOnEngine;

impl PartialSchema for InspectOnEngine {
    fn schema() -> RefOr<Schema> {
        engine_object(
            "The Engine API's `ContainerInspectResponse` (`GET /containers/{id}/json`), with \
             `engine`. For a container Berth did not create, shown read-only to a role with \
             `show_foreign_containers`: without its environment, command, labels and mounts.",
        )
    }
}

impl ToSchema for InspectOnEngine {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_router_is_described() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut described = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                described.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let routes = super::super::routes();
        let missing: Vec<_> = routes.iter().filter(|r| !described.contains(r)).collect();
        let extra: Vec<_> = described.iter().filter(|d| !routes.contains(d)).collect();
        assert!(
            missing.is_empty(),
            "routes without a #[utoipa::path] listed in ApiDoc: {missing:?}"
        );
        assert!(extra.is_empty(), "described but not routed: {extra:?}");
    }
}
