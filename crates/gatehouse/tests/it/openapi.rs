//! The API document against the router that serves it: every route is documented, every documented
//! operation is served and enforces the security the document claims, and `docs/api.md` is the
//! document's current rendering.

use std::collections::BTreeSet;

use axum::body::Body;
use http::{Method, StatusCode, header};
use serde_json::Value;

use crate::support::app::TestApp;

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    gatehouse_http::openapi::operations(doc)
        .into_iter()
        .map(|(path, method, _)| (method.to_uppercase(), path.to_owned()))
        .collect()
}

/// `(METHOD, path)` of every route the router serves, read from its `Debug` output (axum has no
/// other way to list routes): the path table `RouteId(n): "/path"` and each route's
/// `allow_header: Bytes(b"GET,HEAD")`. HEAD comes with GET and is not listed.
fn served(router: &axum::Router) -> BTreeSet<(String, String)> {
    let text = format!("{router:?}");
    let table_start = text.find("node: Node { paths: {").expect("the router's path table in its Debug output");
    let table_end = table_start + text[table_start..].find("\"} }").expect("end of the path table") + 1;
    let mut routes = BTreeSet::new();
    for entry in text[table_start..table_end].split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): \"").expect("RouteId(n): \"path\"");
        let path = rest.split('"').next().expect("a quoted path");
        let marker = format!("RouteId({id}): MethodRouter(");
        let route = &text[text.find(&marker).unwrap_or_else(|| panic!("the method router of {path}"))..];
        let allow = route.split("allow_header: Bytes(b\"").nth(1).expect("allow_header").split('"').next();
        for method in allow.expect("methods").split(',').filter(|m| *m != "HEAD") {
            routes.insert((method.to_owned(), path.to_owned()));
        }
    }
    routes
}

#[tokio::test]
async fn every_served_route_is_documented_and_every_documented_one_is_served() {
    let app = TestApp::sqlite(&[]).await;
    let reply = app.get("/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(reply.body["openapi"], "3.1.0");
    let documented = documented(&reply.body);
    let (served, pages) = api_and_pages(&app.app.router);
    assert!(served.len() >= 30, "the route table was not read: {served:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in the document: {undocumented:?}");
    assert!(unserved.is_empty(), "in the document but not served: {unserved:?}");
    // The rule for pages: HTML for people, listed in PAGE_ROUTES (and docs/pages.md), never in
    // the API document, and each one served.
    let listed: BTreeSet<_> = gatehouse_http::pages::PAGE_ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(pages, listed, "the served pages are exactly PAGE_ROUTES");
    assert!(documented.is_disjoint(&listed), "a page is in the API document");
    app.finish().await;
}

/// `(METHOD, path)` pairs.
type Routes = BTreeSet<(String, String)>;

/// The router's routes split into the API's and the hosted pages' (PAGE_ROUTES).
fn api_and_pages(router: &axum::Router) -> (Routes, Routes) {
    let is_page = |(method, path): &(String, String)| {
        gatehouse_http::pages::PAGE_ROUTES.iter().any(|(m, p)| m == method && p == path)
    };
    served(router).into_iter().partition(|route| !is_page(route))
}

#[tokio::test]
async fn switching_the_pages_off_serves_the_api_alone() {
    let app = TestApp::sqlite(&[("GATEHOUSE_PAGES_ENABLED", "false")]).await;
    let (_, pages) = api_and_pages(&app.app.router);
    assert!(pages.is_empty(), "pages served while switched off: {pages:?}");
    assert_eq!(app.get("/login", None).await.status, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test]
async fn moving_metrics_to_their_own_listener_takes_them_out_of_the_document() {
    let app = TestApp::sqlite(&[("GATEHOUSE_SERVER_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let reply = app.get("/openapi.json", None).await;
    let documented = documented(&reply.body);
    assert!(!documented.contains(&("GET".to_owned(), "/metrics".to_owned())));
    assert_eq!(documented, api_and_pages(&app.app.router).0);
    app.finish().await;
}

/// Without credentials, each documented operation answers with a status the document lists, a
/// secured one with 401 `unauthenticated`, and none with the router's 404 or 405.
#[tokio::test]
async fn each_operation_answers_as_documented_without_credentials() {
    // A provider, so provider routes have one to name.
    let github = crate::support::fake_github::FakeGithub::start().await;
    let app = TestApp::sqlite(&[("GATEHOUSE_OAUTH_PROVIDERS", &github.provider_toml())]).await;
    let doc = app.get("/openapi.json", None).await.body;
    for (path, method, operation) in gatehouse_http::openapi::operations(&doc) {
        let uri = path
            .replace("{id}", "0b7e4c1e-3f0a-4d55-9d7a-2f1c9a8e6b10")
            .replace("{user_id}", "0b7e4c1e-3f0a-4d55-9d7a-2f1c9a8e6b10")
            .replace("{provider}", "github");
        let mut request = http::Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"))
            .uri(&uri);
        let body = if operation.get("requestBody").is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from("{}")
        } else {
            Body::empty()
        };
        let (status, headers, body) = crate::support::call(&app.app.router, request.body(body).expect("request")).await;
        let status = status.as_u16();
        let is_json = headers.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().ends_with(b"json"));
        let body: Value = if is_json { crate::support::json(&body) } else { Value::Null };
        let documented_statuses: Vec<&String> =
            operation["responses"].as_object().map(|r| r.keys().collect()).unwrap_or_default();
        assert!(
            documented_statuses.iter().any(|s| s.as_str() == status.to_string()),
            "{method} {path} answered {status}, not among {documented_statuses:?}: {body}"
        );
        let requirements = operation["security"].as_array().cloned().unwrap_or_default();
        let optional = requirements.iter().any(|r| r.as_object().is_some_and(serde_json::Map::is_empty));
        if !requirements.is_empty() && !optional {
            assert_eq!(status, 401, "{method} {path} is secured");
            assert_eq!(body["code"], "unauthenticated", "{method} {path}");
        } else {
            assert!(status < 500 && status != 404 && status != 405, "{method} {path} answered {status}");
        }
    }
    app.finish().await;
}

#[test]
fn docs_api_md_is_the_current_rendering_of_the_document() {
    let routes = gatehouse_http::routes(true);
    let document = gatehouse_http::openapi::document(routes, "gatehouse_session");
    let rendered = gatehouse_http::api_reference::markdown(&document);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/api.md is stale: run `cargo run -q -- openapi --format markdown > docs/api.md`"
    );
}

/// The scope each service operation names in the document is the one it enforces: a key with every
/// other scope is refused with 403 `forbidden`, a key with only that scope is let through.
#[tokio::test]
async fn service_operations_enforce_the_scope_the_document_names() {
    const SCOPES: [&str; 4] = ["admin", "audit", "rate_limit", "webhooks"];
    let app = TestApp::sqlite(&[]).await;
    let doc = app.get("/openapi.json", None).await.body;
    let mut checked = 0;
    for (path, method, operation) in gatehouse_http::openapi::operations(&doc) {
        let requirements = operation["security"].as_array().cloned().unwrap_or_default();
        let Some(scopes) = requirements.iter().find_map(|r| r.get(gatehouse_http::openapi::SERVICE_KEY)) else {
            continue;
        };
        let needed: Vec<&str> = scopes.as_array().expect("scopes").iter().filter_map(Value::as_str).collect();
        assert_eq!(needed.len(), 1, "{method} {path} names one scope: {needed:?}");
        let others: Vec<&str> = SCOPES.iter().copied().filter(|s| *s != needed[0]).collect();
        let uri = path.replace("{id}", "0b7e4c1e-3f0a-4d55-9d7a-2f1c9a8e6b10");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let body = operation.get("requestBody").map(|_| serde_json::json!({}));
        let refused = app.service(method.clone(), &uri, &app.service_key(&others).await, body.clone()).await;
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{method} {path} without `{}`",
            needed[0]
        );
        let allowed = app.service(method.clone(), &uri, &app.service_key(&needed).await, body).await;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&allowed.status),
            "{method} {path} with `{}` answered {}: {:?}",
            needed[0],
            allowed.status,
            allowed.body
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} service operations found");
    app.finish().await;
}
