//! CSRF protection for browser requests.
//!
//! Every unsafe request (POST, PUT, PATCH, DELETE) that a browser could forge passes two checks:
//!
//! 1. Origin: `Origin` (or, when absent, `Referer`) names the public URL's origin or an allowed
//!    CORS origin. A request with neither is accepted only when it carries no cookie at all: that is
//!    a backend or a script, not a browser acting for a signed-in user.
//! 2. Token, when the session cookie is present: `X-CSRF-Token` (or a `csrf_token` form field)
//!    equals the `gatehouse_csrf` cookie and is the HMAC of this session's token hash. Login and
//!    signup have no session yet and get the origin check only (login CSRF); so do the hosted
//!    pages' signed-out forms, whose own token the page handlers check (`pages`).
//!
//! Requests authenticated with `Authorization` (an access token or an API key) are exempt: a browser
//! never attaches that header cross-site by itself.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, header};

use crate::error::ApiError;
use crate::sessions::{CurrentSession, cookie_value, session_token};
use crate::state::AppState;

pub const CSRF_COOKIE: &str = "gatehouse_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
const CSRF_FIELD: &str = "csrf_token";

/// Routes that have no session to protect yet: they get the origin check only.
const ORIGIN_ONLY: &[&str] = &[
    "/v1/signup",
    "/v1/login",
    "/v1/login/mfa",
    "/v1/passkeys/authenticate/start",
    "/v1/passkeys/authenticate/finish",
];

fn is_unsafe(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// The origin (`scheme://host[:port]`) the request came from, per `Origin` or `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        return Some(origin.to_str().unwrap_or("invalid").to_owned());
    }
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let (scheme, rest) = referer.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    Some(format!("{scheme}://{host}"))
}

fn failed(check: &'static str) -> Response {
    ApiError::CsrfFailed(check).into_response()
}

/// Checks an incoming request; `Ok` hands it back (its body put back if it had to be read),
/// `Err` is the 403 to answer instead.
pub(crate) async fn check(state: &AppState, request: Request) -> Result<Request, Response> {
    if !is_unsafe(request.method()) || request.headers().contains_key(header::AUTHORIZATION) {
        return Ok(request);
    }
    let headers = request.headers();
    match request_origin(headers) {
        Some(origin) if state.settings().trusted_origins.contains(&origin) => {}
        Some(_) => return Err(failed("the request's Origin is not this service's origin or an allowed one")),
        None if headers.contains_key(header::COOKIE) => {
            return Err(failed("a request carrying cookies must send an Origin or Referer header"));
        }
        None => {}
    }
    let Some(session) = session_token(headers, state) else { return Ok(request) };
    let path = request.uri().path();
    if ORIGIN_ONLY.contains(&path) || crate::pages::SIGNED_OUT_FORMS.contains(&path) {
        return Ok(request);
    }
    let cookie_token = cookie_value(headers, CSRF_COOKIE).map(str::to_owned);
    let (request, presented) = match headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned) {
        Some(token) => (request, Some(token)),
        None => match form_token(request, state).await {
            Ok(found) => found,
            Err(response) => return Err(response),
        },
    };
    let Some(presented) = presented else {
        return Err(failed("the X-CSRF-Token header (or csrf_token form field) is missing; get one from GET /v1/csrf"));
    };
    if cookie_token.as_deref() != Some(presented.as_str()) {
        return Err(failed("the CSRF token does not match the gatehouse_csrf cookie"));
    }
    if !state.services().csrf.verify(&session.hash(), &presented) {
        return Err(failed("the CSRF token does not belong to this session"));
    }
    Ok(request)
}

/// For HTML form posts: the `csrf_token` field, read from a buffered body that is then put back.
async fn form_token(request: Request, state: &AppState) -> Result<(Request, Option<String>), Response> {
    if !crate::extract::is_form_post(request.headers()) {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, state.body_limit_bytes())
        .await
        .map_err(|_| ApiError::BodyTooLarge { limit_bytes: state.body_limit_bytes() }.into_response())?;
    let token = form_urlencoded::parse(&bytes).find(|(key, _)| key == CSRF_FIELD).map(|(_, value)| value.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CsrfToken {
    /// Send as `X-CSRF-Token` on unsafe requests made with the session cookie.
    token: String,
}

/// `GET /v1/csrf`: the signed-in session's CSRF token, also set as the `gatehouse_csrf` cookie.

#[utoipa::path(
    get,
    path = "/v1/csrf",
    tag = "sessions",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The session's CSRF token, also set as the `gatehouse_csrf` cookie.",
        body = CsrfToken, headers(("set-cookie" = String, description = "The `gatehouse_csrf` cookie.")))),
)]
pub(crate) async fn token(State(state): State<AppState>, current: CurrentSession) -> Response {
    let (token, cookie) = session_token_and_cookie(&state, &current);
    let mut response = axum::Json(CsrfToken { token }).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The signed-in session's CSRF token and the `gatehouse_csrf` cookie that carries it.
pub(crate) fn session_token_and_cookie(state: &AppState, current: &CurrentSession) -> (String, Option<HeaderValue>) {
    let token = state.services().csrf.token_for(&current.token_hash);
    let mut cookie = format!("{CSRF_COOKIE}={token}; Path=/; SameSite=Lax");
    if state.cookie().secure {
        cookie.push_str("; Secure");
    }
    if let Some(domain) = &state.cookie().domain {
        cookie.push_str("; Domain=");
        cookie.push_str(domain);
    }
    (token, HeaderValue::from_str(&cookie).ok())
}
