//! The API contract: the OpenAPI 3.1 document of the route table (`router::routes`). Routes and
//! document come from the same `#[utoipa::path]` attributes on the handlers, so a route cannot be
//! served without being documented, nor documented without being served.
//!
//! Each attribute lists the route's success responses and the errors particular to it, naming the
//! problem `code`s in backticks in the description. [`document`] then adds the errors every route
//! of that shape can answer (a JSON body can be malformed, a signed-in route can be refused, any
//! route can time out) and turns each error status into a problem+json response whose `code` is
//! one of the listed ones.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Security scheme of the signed-in user's session cookie.
pub const SESSION_COOKIE: &str = "session_cookie";
/// Security scheme of a Gatehouse access token (a JWT from `POST /v1/token`).
pub const ACCESS_TOKEN: &str = "access_token";
/// Security scheme of a service API key (`gh_…`); its requirement lists the scope needed.
pub const SERVICE_KEY: &str = "service_key";

/// The path the document itself is served at.
pub const DOCUMENT_PATH: &str = "/openapi.json";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Gatehouse",
        description = "Accounts, sessions, access tokens, provider sign-in, a token vault, webhooks and rate limits for the app that runs beside it. \
            Every error is an RFC 9457 `application/problem+json` document with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "accounts", description = "Signup, login and logout."),
        (name = "email", description = "Links sent by email: verification, password reset, magic links."),
        (name = "sessions", description = "The signed-in user's sessions, CSRF tokens and access tokens."),
        (name = "tokens", description = "Access tokens and the keys that verify them."),
        (name = "oauth", description = "Signing in with Google, GitHub or any OpenID Connect provider, and linked identities."),
        (name = "vault", description = "Connected accounts: third-party tokens kept encrypted, refreshed on demand."),
        (name = "forward-auth", description = "Reverse proxies (nginx, Caddy, Traefik) ask whether to let a request through to the app behind them."),
        (name = "webhooks", description = "Webhook endpoints, deliveries and app events (service API)."),
        (name = "service", description = "The service API for apps: audit log and rate limiting."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    )
)]
struct ApiDoc;

/// The document's parts that are not routes: info, tags, shared schemas. The route table
/// (`router::routes`) adds the operations.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object)),
)]
pub(crate) async fn document_route(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let body = state.openapi_document();
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The finished document of the route table `routes`, whose session cookie is `cookie_name`.
pub fn document(routes: OpenApiRouter<AppState>, cookie_name: &str) -> Value {
    let mut doc = serde_json::to_value(routes.into_openapi()).unwrap_or_default();
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    }
    add_security_schemes(&mut doc, cookie_name);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                if HTTP_METHODS.contains(&method.as_str()) {
                    complete_operation(path, method, operation);
                }
            }
        }
    }
    doc
}

const HTTP_METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Operations that hash or verify a password, so answer `overloaded` when the hashing queue is
/// full (`password.queue_secs`).
const HASHING: [(&str, &str); 5] = [
    ("post", "/v1/signup"),
    ("post", "/v1/login"),
    ("post", "/v1/password/reset"),
    ("delete", "/v1/me"),
    ("post", "/v1/admin/users"),
];

/// Routes that answer without the database, so never `database_unavailable`.
const WITHOUT_DATABASE: [&str; 3] = ["/health/live", "/metrics", DOCUMENT_PATH];

fn add_security_schemes(doc: &mut Value, cookie_name: &str) {
    let schemes = json!({
        SESSION_COOKIE: {
            "type": "apiKey",
            "in": "cookie",
            "name": cookie_name,
            "description": "The session cookie set by signup, login and magic-link sign-in. Unsafe requests \
                (POST, PATCH, DELETE) carrying it must also send an `Origin` of this service and the \
                `X-CSRF-Token` header from `GET /v1/csrf` (the `gatehouse_csrf` cookie's value)."
        },
        ACCESS_TOKEN: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A short-lived access token from `POST /v1/token`, verifiable against \
                `/.well-known/jwks.json`. Requests with `Authorization` need no CSRF token."
        },
        SERVICE_KEY: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "gh_…",
            "description": "A service API key made with `gatehouse api-key create --scope …`; each \
                operation lists the scope it needs."
        }
    });
    let components = doc.as_object_mut().map(|root| root.entry("components").or_insert_with(|| json!({})));
    if let Some(components) = components.and_then(Value::as_object_mut) {
        components.insert("securitySchemes".into(), schemes);
    }
}

/// Adds the errors that follow from the operation's shape and makes every error response a
/// problem+json document restricted to its codes.
fn complete_operation(path: &str, method: &str, operation: &mut Value) {
    let Some(op) = operation.as_object_mut() else { return };
    // The handlers' doc comments start by naming their route, which the document says already.
    if let Some(summary) = op.get("summary").and_then(Value::as_str) {
        let summary = readable_summary(summary);
        op.insert("summary".into(), summary.into());
    }
    let mut errors: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    let mut add = |status: u16, code: &str| {
        errors.entry(status).or_default().insert(code.to_owned());
    };
    add(500, "internal_error");
    add(503, "timeout");
    if !WITHOUT_DATABASE.contains(&path) {
        add(503, "database_unavailable");
    }
    if method != "get" {
        add(403, "csrf_failed");
    }
    if HASHING.contains(&(method, path)) {
        add(503, "overloaded");
    }
    if op.contains_key("requestBody") {
        for (status, code) in
            [(400, "malformed_json"), (413, "body_too_large"), (415, "unsupported_media_type"), (422, "invalid_body")]
        {
            add(status, code);
        }
    }
    let parameters = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
    if parameters.iter().any(|p| p["in"] == "path") {
        add(404, "not_found");
    }
    if parameters.iter().any(|p| p["in"] == "query") {
        add(400, "invalid_query");
    }
    let requirements = op.get("security").and_then(Value::as_array).cloned().unwrap_or_default();
    let optional = requirements.iter().any(|r| r.as_object().is_some_and(Map::is_empty));
    if !requirements.is_empty() && !optional {
        add(401, "unauthenticated");
    }
    if requirements.iter().any(|r| r.get(SERVICE_KEY).is_some()) {
        add(403, "forbidden");
    }

    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    // Codes the attribute named for its own error statuses.
    for (status, response) in responses.iter() {
        let Ok(status) = status.parse::<u16>() else { continue };
        if status < 400 {
            continue;
        }
        // A code is a backticked word that opens a clause: `` `link_invalid`: … ``.
        let description = response["description"].as_str().unwrap_or_default();
        let parts: Vec<&str> = description.split('`').collect();
        for pair in parts.windows(2).skip(1).step_by(2) {
            if pair[1].starts_with(':') {
                errors.entry(status).or_default().insert(pair[0].to_owned());
            }
        }
    }
    for (status, codes) in errors {
        let response = responses.entry(status.to_string()).or_insert_with(|| json!({ "description": "" }));
        complete_error_response(response, status, &codes);
    }
}

/// `` `POST /v1/signup`, limited per IP `` → `Limited per IP`.
fn readable_summary(summary: &str) -> String {
    let summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(rest) = summary.strip_prefix('`').and_then(|s| s.split_once('`')).map(|(_, rest)| rest) else {
        return summary;
    };
    // A body sketch such as `{token}` or `→ 202 {id}` after the route goes too.
    let mut rest = rest.trim_start();
    if rest.starts_with('{') {
        rest = rest.split_once('}').map_or("", |(_, after)| after);
    }
    let rest = rest.trim_start_matches([':', ',', ' ', '.']);
    let mut chars = rest.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => summary,
    }
}

/// What the errors every route of a shape can answer mean.
fn explain(code: &str) -> &'static str {
    match code {
        "internal_error" => "a bug or an unexpected failure; the request id finds it in the log",
        "timeout" => "the request took longer than `server.request_timeout_secs`",
        "database_unavailable" => "the database cannot be reached; retry shortly",
        "overloaded" => {
            "too many requests wait for password hashing (`password.queue_secs`); retry after `Retry-After` seconds"
        }
        "csrf_failed" => "a cookie-authenticated request without a matching Origin or CSRF token",
        "malformed_json" => "the body is not valid JSON",
        "body_too_large" => "the body is over `server.body_limit_bytes`",
        "unsupported_media_type" => "the body is not sent as `application/json`",
        "invalid_body" => "the body is JSON of the wrong shape",
        "not_found" => "nothing has that id",
        "invalid_query" => "a query parameter is invalid",
        "unauthenticated" => "no valid credentials",
        "forbidden" => "the API key lacks the scope",
        _ => "",
    }
}

fn complete_error_response(response: &mut Value, status: u16, codes: &BTreeSet<String>) {
    let Some(response) = response.as_object_mut() else { return };
    let mut description = response.get("description").and_then(Value::as_str).unwrap_or_default().to_owned();
    for code in codes {
        if !description.contains(&format!("`{code}`")) {
            let sentence = format!("`{code}`: {}.", explain(code));
            description = if description.is_empty() { sentence } else { format!("{description} {sentence}") };
        }
    }
    response.insert("description".into(), description.into());
    let schema = json!({
        "allOf": [
            { "$ref": "#/components/schemas/Problem" },
            {
                "type": "object",
                "properties": {
                    "status": { "const": status },
                    "code": { "type": "string", "enum": codes.iter().collect::<Vec<_>>() }
                }
            }
        ]
    });
    let content = response.entry("content").or_insert_with(|| json!({}));
    if let Some(content) = content.as_object_mut() {
        content.insert(crate::error::PROBLEM_JSON.into(), json!({ "schema": schema }));
    }
    if matches!(status, 429 | 503) {
        let headers = response.entry("headers").or_insert_with(|| json!({}));
        if let Some(headers) = headers.as_object_mut() {
            headers.insert(
                "Retry-After".into(),
                json!({ "description": "Seconds to wait before trying again.", "schema": { "type": "integer" } }),
            );
        }
    }
}

/// Every operation, in path order, then method order.
pub fn operations(doc: &Value) -> Vec<(&str, &'static str, &Value)> {
    let mut found = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in HTTP_METHODS {
                if let Some(operation) = item.get(method) {
                    found.push((path.as_str(), method, operation));
                }
            }
        }
    }
    found
}
