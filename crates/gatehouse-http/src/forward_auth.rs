//! Forward-auth: a reverse proxy (nginx `auth_request`, Caddy `forward_auth`, Traefik
//! `forwardAuth`) asks, for each request to an app behind it, whether to let it through.
//!
//! The original request is read from `X-Forwarded-Method`/`-Proto`/`-Host`/`-Uri` (Traefik,
//! Caddy) or `X-Original-URL`/`X-Original-Method` (nginx), believed only from
//! `server.trusted_proxies`. Its path is decoded and its dot-segments resolved before the rules
//! see it, so `/%61dmin` and `/public/../admin` meet the `/admin` rule, as the app will. The
//! credential goes through [`CurrentSession`], the same check as every signed-in route. Nothing is
//! written and no body is read: this is on the path of every request to every protected app.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts as _, State};
use axum::response::{IntoResponse, Response};
use gatehouse_core::forward_auth::{Decision, Rules, header_safe};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::client_ip::PeerIp;
use crate::error::ApiError;
use crate::sessions::CurrentSession;
use crate::state::AppState;

/// The rules and the names of the identity headers, from `[forward_auth]`.
#[derive(Debug, Clone)]
pub struct ForwardAuthSettings {
    pub rules: Rules,
    pub user_header: HeaderName,
    pub email_header: HeaderName,
    pub name_header: HeaderName,
    pub session_header: HeaderName,
    pub groups_header: HeaderName,
    pub workspace_header: HeaderName,
    /// When each (rule, reason) was last logged, so denials log once a minute, not per request.
    pub denials_logged: Arc<Mutex<HashMap<(String, &'static str), Instant>>>,
}

const X_FORWARDED_METHOD: &str = "x-forwarded-method";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_FORWARDED_URI: &str = "x-forwarded-uri";
const X_ORIGINAL_URL: &str = "x-original-url";
const X_ORIGINAL_METHOD: &str = "x-original-method";
/// Every header that names the original request.
const ORIGINAL_REQUEST_HEADERS: [&str; 6] =
    [X_FORWARDED_METHOD, X_FORWARDED_PROTO, X_FORWARDED_HOST, X_FORWARDED_URI, X_ORIGINAL_URL, X_ORIGINAL_METHOD];

/// How the proxy wants to be told "sign in first".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Traefik, Caddy: they pass a 302 on to the browser.
    Forwarded,
    /// nginx `auth_request`, which turns anything but 2xx, 401 and 403 into a 500: a 401 whose
    /// `Location` its `error_page 401` turns into the redirect.
    OriginalUrl,
}

/// The request the proxy is asking about.
#[derive(Debug)]
struct Original {
    method: String,
    /// `scheme://host[:port]/path?query`, as the browser asked for it.
    url: url::Url,
    /// The decoded, normalised path the rules are matched against.
    path: String,
    style: Style,
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim).filter(|value| !value.is_empty())
}

fn carries_original(headers: &HeaderMap) -> bool {
    ORIGINAL_REQUEST_HEADERS.iter().any(|name| headers.contains_key(*name))
}

fn invalid(detail: &str) -> ApiError {
    ApiError::InvalidForwardedRequest(detail.to_owned())
}

fn original(headers: &HeaderMap) -> Result<Original, ApiError> {
    // Two values of one of these mean a client's own was passed on beside the proxy's: which one
    // the proxy meant cannot be told, so neither is believed.
    for name in ORIGINAL_REQUEST_HEADERS {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(invalid("a forwarded request header came more than once; strip the client's in the proxy"));
        }
    }
    let (method, url, style) = if let Some(full) = text(headers, X_ORIGINAL_URL) {
        let url = url::Url::parse(full).map_err(|_| invalid("X-Original-URL is not an absolute URL"))?;
        (text(headers, X_ORIGINAL_METHOD).unwrap_or("GET"), url, Style::OriginalUrl)
    } else if let Some(host) = text(headers, X_FORWARDED_HOST) {
        let proto = text(headers, X_FORWARDED_PROTO).unwrap_or("http");
        if !matches!(proto, "http" | "https") {
            return Err(invalid("X-Forwarded-Proto must be http or https"));
        }
        let uri = text(headers, X_FORWARDED_URI).unwrap_or("/");
        if !uri.starts_with('/') {
            return Err(invalid("X-Forwarded-Uri must start with /"));
        }
        let url = url::Url::parse(&format!("{proto}://{host}{uri}"))
            .map_err(|_| invalid("X-Forwarded-Host and X-Forwarded-Uri do not make a URL"))?;
        (text(headers, X_FORWARDED_METHOD).unwrap_or("GET"), url, Style::Forwarded)
    } else {
        return Err(invalid(
            "name the original request with X-Forwarded-Host (and -Uri, -Proto, -Method) or X-Original-URL",
        ));
    };
    let plain = matches!(url.scheme(), "http" | "https") && url.username().is_empty() && url.password().is_none();
    if !plain || url.host_str().is_none() {
        return Err(invalid("the original URL must be http(s) with a host and no user name"));
    }
    if !method.chars().all(|c| c.is_ascii_alphabetic()) || method.is_empty() || method.len() > 16 {
        return Err(invalid("the original method is not an HTTP method"));
    }
    Ok(Original { method: method.to_ascii_uppercase(), path: normalised_path(&url)?, url, style })
}

/// The path as the app will see it: percent-decoded once, dot-segments resolved.
fn normalised_path(url: &url::Url) -> Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode_str(url.path())
        .decode_utf8()
        .map_err(|_| invalid("the original path is not UTF-8 once decoded"))?;
    if decoded.chars().any(|c| c.is_control() || c == '\\') {
        return Err(invalid("the original path holds a control character or a backslash"));
    }
    // Parsing again resolves `..` and `.` that decoding revealed (`%2e%2e`).
    let again = url::Url::parse("http://h/").and_then(|base| base.join(&decoded.replace(['?', '#'], "_")));
    again.map(|url| url.path().to_owned()).map_err(|_| invalid("the original path cannot be normalised"))
}

/// Whether the original request is a browser navigation (a GET that takes HTML).
fn is_navigation(original: &Original, headers: &HeaderMap) -> bool {
    matches!(original.method.as_str(), "GET" | "HEAD")
        && text(headers, header::ACCEPT.as_str()).is_some_and(|accept| accept.contains("text/html"))
}

/// `GET /v1/forward-auth`: whether the proxy may pass the original request to the app.
#[utoipa::path(
    get,
    path = "/v1/forward-auth",
    tag = "forward-auth",
    params(
        ("X-Forwarded-Host" = Option<String>, Header, description = "The original request's host (Traefik, Caddy)."),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "Its path and query."),
        ("X-Forwarded-Proto" = Option<String>, Header, description = "`http` or `https`."),
        ("X-Forwarded-Method" = Option<String>, Header, description = "Its method; GET when absent."),
        ("X-Original-URL" = Option<String>, Header, description = "The original absolute URL (nginx)."),
        ("X-Original-Method" = Option<String>, Header, description = "Its method (nginx)."),
    ),
    security((), ("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "Allowed; the identity headers (`Remote-User`, `Remote-Email`, `Remote-Name`, \
            `X-Gatehouse-Session` by default) are for the proxy to copy to the app.",
            headers(("remote-user" = String, description = "The user's id, when signed in."))),
        (status = 302, description = "Not signed in, a browser navigation, asked with X-Forwarded-*: to the \
            hosted sign-in page, which comes back to the original URL.",
            headers(("location" = String, description = "The sign-in page."))),
        (status = 400, description = "`invalid_forwarded_request`: the original request is missing or malformed."),
        (status = 401, description = "`unauthenticated`: not signed in; asked with X-Original-URL, a browser \
            navigation also gets `Location` naming the sign-in page.",
            headers(("location" = String, description = "The sign-in page, for nginx's error_page."))),
        (status = 403, description = "`forward_auth_denied`: no rule allows this request. `untrusted_proxy`: the \
            caller is not in server.trusted_proxies."),
    ),
)]
pub(crate) async fn decide(State(state): State<AppState>, mut parts: http::request::Parts) -> Response {
    match decision(&state, &mut parts).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The cheap checks first (who is asking, about what, under which rule), so an untrusted caller
/// or a request no rule covers costs no session lookup.
async fn decision(state: &AppState, parts: &mut http::request::Parts) -> Result<Response, ApiError> {
    let peer = parts.extensions.get::<PeerIp>().copied().unwrap_or(PeerIp(None));
    if carries_original(&parts.headers) && !peer.is_trusted(&state.settings().trusted_proxies) {
        count("none", "untrusted_proxy");
        return Err(ApiError::UntrustedProxy);
    }
    let original = original(&parts.headers)?;
    let settings = &state.services().forward_auth;
    let host = original.url.host_str().unwrap_or_default();
    let Some(rule) = settings.rules.rule_for(host, &original.path, &original.method) else {
        count("none", "no_rule");
        log_denial(settings, host, "no_rule", "no rule covers this host, path and method");
        return denied(state, &original, &parts.headers);
    };
    let current = match CurrentSession::from_request_parts(parts, state).await {
        Ok(current) => Some(current),
        Err(ApiError::Unauthenticated(_)) => None,
        Err(other) => return Err(other),
    };
    let role = current.as_ref().and_then(|c| c.workspace).map(|active| active.role);
    let second_factor = current.as_ref().is_some_and(|c| c.session.has_second_factor());
    match rule.decide(current.as_ref().map(|c| &c.user), role, second_factor) {
        Decision::Allow(rule) => {
            count(&rule.name, "allowed");
            Ok(allowed(settings, current.as_ref()))
        }
        Decision::SignIn(rule) => {
            count(&rule.name, "sign_in");
            Ok(sign_in(state, &original, &parts.headers))
        }
        Decision::Deny(rule) => {
            count(&rule.name, "denied");
            log_denial(settings, &rule.name, "requirement_not_met", &rule.require.as_text());
            denied(state, &original, &parts.headers)
        }
        // A rule's own decision is never this; the lookup above answered it.
        Decision::NoRule => denied(state, &original, &parts.headers),
    }
}

/// 403: a page for a browser (Caddy and Traefik pass it on), problem+json otherwise.
fn denied(state: &AppState, original: &Original, headers: &HeaderMap) -> Result<Response, ApiError> {
    match is_navigation(original, headers).then(|| crate::pages::denied_page(state)).flatten() {
        Some(page) => Ok(page),
        None => Err(ApiError::ForwardAuthDenied),
    }
}

fn count(rule: &str, outcome: &'static str) {
    metrics::counter!("gatehouse_forward_auth_decisions_total", "rule" => rule.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// One log line per rule and reason per minute.
fn log_denial(settings: &ForwardAuthSettings, rule: &str, reason: &'static str, detail: &str) {
    let Ok(mut logged) = settings.denials_logged.lock() else { return };
    let now = Instant::now();
    let key = (rule.to_owned(), reason);
    if logged.get(&key).is_some_and(|at| now.duration_since(*at) < Duration::from_secs(60)) {
        return;
    }
    // A host nobody wrote a rule for comes from the request; bound what one client can grow.
    if logged.len() > 1024 {
        logged.clear();
    }
    logged.insert(key, now);
    tracing::warn!(rule, reason, detail, "forward-auth denied a request (logged once a minute per rule and reason)");
}

/// 200 with the identity headers, empty when nobody is signed in (a public rule): a proxy that
/// copies them (Caddy's `copy_headers`) then overwrites whatever the client sent, rather than
/// passing the client's own or a placeholder on to the app.
fn allowed(settings: &ForwardAuthSettings, current: Option<&CurrentSession>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    let (user, email, name, session, groups, workspace) = match current {
        Some(current) => (
            current.user.id.to_string(),
            current.user.email.as_str().to_owned(),
            current.user.name.clone().unwrap_or_default(),
            current.session.id.to_string(),
            current.workspace.map(|active| active.role.as_str().to_owned()).unwrap_or_default(),
            current.workspace.map(|active| active.id.to_string()).unwrap_or_default(),
        ),
        None => Default::default(),
    };
    for (header, value) in [
        (&settings.user_header, user),
        (&settings.email_header, email),
        (&settings.name_header, name),
        (&settings.session_header, session),
        (&settings.groups_header, groups),
        (&settings.workspace_header, workspace),
    ] {
        if let Ok(value) = HeaderValue::from_str(&header_safe(&value)) {
            headers.insert(header.clone(), value);
        }
    }
    response
}

/// Not signed in: for a browser, the way to the hosted sign-in page and back; for an API call,
/// a plain 401.
fn sign_in(state: &AppState, original: &Original, headers: &HeaderMap) -> Response {
    let unauthenticated = ApiError::Unauthenticated("sign in first");
    if !is_navigation(original, headers) {
        return unauthenticated.into_response();
    }
    let return_to: String = form_urlencoded::byte_serialize(original.url.as_str().as_bytes()).collect();
    let login = format!("{}/login?return_to={return_to}", state.services().oauth.public_url);
    let mut response = match original.style {
        Style::Forwarded => StatusCode::FOUND.into_response(),
        Style::OriginalUrl => unauthenticated.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&login) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn paths_are_matched_as_the_app_will_see_them() {
        for (uri, path) in [
            ("/%61dmin/x", "/admin/x"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/a?q=1", "/a"),
            ("/", "/"),
        ] {
            let value = HeaderValue::from_str(uri).expect("value");
            let mut map = headers(&[("x-forwarded-host", "app.example.com")]);
            map.insert("x-forwarded-uri", value);
            assert_eq!(original(&map).expect("parses").path, path, "{uri}");
        }
        assert!(original(&headers(&[("x-forwarded-host", "a.test"), ("x-forwarded-uri", "/%00")])).is_err());
        assert!(
            original(&headers(&[("x-forwarded-host", "a.test"), ("x-forwarded-uri", "//evil")]))
                .is_ok_and(|o| o.url.host_str() == Some("a.test"))
        );
    }

    #[test]
    fn nginx_and_traefik_styles_are_told_apart() {
        let nginx = original(&headers(&[("x-original-url", "https://app.example.com:8443/x?y=1")])).expect("nginx");
        assert_eq!(
            (nginx.style, nginx.method.as_str(), nginx.url.as_str()),
            (Style::OriginalUrl, "GET", "https://app.example.com:8443/x?y=1")
        );
        let traefik = original(&headers(&[
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-method", "post"),
        ]))
        .expect("traefik");
        assert_eq!((traefik.style, traefik.method.as_str()), (Style::Forwarded, "POST"));
        assert!(original(&headers(&[])).is_err(), "no original request");
        assert!(original(&headers(&[("x-original-url", "https://user:pw@a.test/")])).is_err());
        assert!(original(&headers(&[("x-forwarded-host", "a.test"), ("x-forwarded-proto", "ftp")])).is_err());
        let mut twice = headers(&[("x-forwarded-host", "a.test"), ("x-forwarded-uri", "/public")]);
        twice.append("x-forwarded-uri", HeaderValue::from_static("/admin"));
        assert!(original(&twice).is_err(), "a client's own beside the proxy's");
    }
}
