//! Sessions over HTTP: the cookie, the [`CurrentSession`] extractor every authenticated route uses,
//! and the session endpoints (`/v1/session`, `/v1/sessions…`).
//!
//! The extractor is the one code path that decides whether a request is signed in: it reads the
//! cookie, looks the session up by the token's hash, checks expiry and binding, and refreshes
//! last-seen at most once per touch interval (so most checks write nothing).

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::User;
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::sessions::{ClientContext, NewSession, Session, SessionCheck, SessionToken, TokenHash};
use gatehouse_core::workspaces::ActiveWorkspace;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

/// The signed-in session of this request.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub session: Session,
    pub user: User,
    pub token_hash: TokenHash,
    /// The active workspace and the user's role in it.
    pub workspace: Option<ActiveWorkspace>,
    pub client: ClientContext,
}

/// The request's user agent and client IP, for binding and audit.
#[derive(Debug, Clone)]
pub struct Client(pub ClientContext);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok());
        let ip = parts.extensions.get::<ClientIp>().and_then(|ip| ip.0);
        Ok(Self(ClientContext::new(user_agent, ip)))
    }
}

/// The value of the cookie called `name`, from any `Cookie` header.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// The session token in the request's cookie, if it holds a well-formed one.
pub(crate) fn session_token(headers: &HeaderMap, state: &AppState) -> Option<SessionToken> {
    cookie_value(headers, &state.cookie().name).and_then(SessionToken::parse)
}

/// How a request claims to be signed in.
enum Credential {
    Cookie(SessionToken),
    AccessToken(String),
}

/// `Authorization: Bearer …` (an access token, not an API key), or on a WebSocket upgrade, where
/// browsers cannot set headers, an `access_token` query parameter.
fn access_token(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let text = value.to_str().map_err(|_| ApiError::Unauthenticated("malformed Authorization header"))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthenticated("use `Authorization: Bearer <access token>`"))?
            .trim();
        if token.starts_with(gatehouse_core::api_keys::KEY_PREFIX) {
            return Err(ApiError::Unauthenticated("an API key does not sign a user in; use a session or access token"));
        }
        return Ok(Some(token.to_owned()));
    }
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    if is_upgrade && let Some(query) = parts.uri.query() {
        let token = query.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == "access_token");
        if let Some((_, token)) = token {
            return Ok(Some(token.to_owned()));
        }
    }
    Ok(None)
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(current) = parts.extensions.get::<CurrentSession>() {
            return Ok(current.clone());
        }
        let credential = match access_token(parts)? {
            Some(token) => Credential::AccessToken(token),
            None => Credential::Cookie(
                session_token(&parts.headers, state)
                    .ok_or(ApiError::Unauthenticated("no valid session cookie or access token; sign in first"))?,
            ),
        };
        let Ok(Client(client)) = Client::from_request_parts(parts, state).await;
        let current = authenticate(state, credential, client).await?;
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

/// The one path that turns a credential into a live session: it finds the session, then enforces
/// account state, expiry and (for cookies) binding, and records activity at most once a minute.
async fn authenticate(
    state: &AppState,
    credential: Credential,
    client: ClientContext,
) -> Result<CurrentSession, ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let ended = ApiError::Unauthenticated("the session has ended; sign in again");
    let (found, from_cookie) = match credential {
        Credential::Cookie(token) => (services.sessions.session_by_token(&token.hash()).await?, true),
        Credential::AccessToken(token) => {
            let claims = services
                .tokens
                .verify(&token, now)
                .await
                .map_err(|_| ApiError::Unauthenticated("the access token is invalid or expired"))?;
            let found = services.sessions.session_by_id(claims.sid).await?;
            (found.filter(|found| found.user.id == claims.sub), false)
        }
    };
    let Some(mut found) = found else { return Err(ended) };
    if found.user.disabled {
        return Err(ended);
    }
    let mut policy = *state.session_policy();
    if !from_cookie {
        // Access tokens are meant to be handed to other services, which call from elsewhere.
        policy.binding = gatehouse_core::sessions::Binding::Off;
    }
    match found.session.check(now, &policy, &client) {
        SessionCheck::Valid => {}
        SessionCheck::ValidRefresh { last_seen_at, idle_expires_at } => {
            found.session.last_seen_at = last_seen_at;
            found.session.idle_expires_at = idle_expires_at;
            // A failed refresh costs the session a minute of sliding, not the request.
            if let Err(error) = services.sessions.touch_session(&found).await {
                tracing::warn!(%error, "could not record session activity");
            }
        }
        SessionCheck::Expired => {
            let _ = services.sessions.revoke_session(found.user.id, found.session.id, &[], &[]).await;
            return Err(ApiError::Unauthenticated("the session has expired; sign in again"));
        }
        SessionCheck::BindingMismatch => {
            let event = AuditEvent::new(AuditAction::SessionBindingMismatch, Actor::User(found.user.id), now, &client)
                .target("session", found.session.id);
            let data =
                json!({ "session_id": found.session.id, "user_id": found.user.id, "reason": "binding_mismatch" });
            let jobs = [gatehouse_event(state, "session.revoked", data)?];
            if services.sessions.revoke_session(found.user.id, found.session.id, &[event], &jobs).await?.is_some() {
                services.enqueued(&jobs);
            }
            return Err(ApiError::Unauthenticated("the session was used from another client and has been ended"));
        }
    }
    Ok(CurrentSession {
        session: found.session,
        user: found.user,
        token_hash: found.token_hash,
        workspace: found.workspace,
        client,
    })
}

/// A new session for `user_id`, established by `amr`: the record to store and the token for the
/// cookie.
pub fn new_session(
    state: &AppState,
    user_id: Uuid,
    client: &ClientContext,
    amr: &[gatehouse_core::sessions::AuthMethod],
) -> Result<(NewSession, SessionToken), ApiError> {
    let token = SessionToken::from_random(crate::error::os_random()?);
    let now = state.services().clock.now();
    let session = Session::start(Uuid::new_v4(), user_id, now, state.session_policy(), client, amr);
    Ok((NewSession { session, token_hash: token.hash() }, token))
}

/// `Set-Cookie` for a session token, or for clearing the cookie when `token` is `None`.
pub fn session_cookie(state: &AppState, token: Option<&SessionToken>) -> HeaderValue {
    let cookie = state.cookie();
    let (value, max_age) = match token {
        Some(token) => (token.encode(), state.session_policy().absolute_lifetime.as_secs()),
        None => (String::new(), 0),
    };
    set_cookie(state, &cookie.name, &value, max_age)
}

/// `Set-Cookie` for one of Gatehouse's cookies (session, second step, device): HttpOnly, Lax, on
/// the whole site, `Secure` and `Domain` as `cookies.*` say.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let cookie = state.cookie();
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}");
    if cookie.secure {
        text.push_str("; Secure");
    }
    if let Some(domain) = &cookie.domain {
        text.push_str("; Domain=");
        text.push_str(domain);
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid-cookie=; Max-Age=0"))
}

/// `{user, session}`, as signup, login and whoami answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub user: User,
    pub session: Session,
    /// The workspace the session acts in and the user's role there, when one is chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<ActiveWorkspace>,
}

pub fn signed_in_response(status: StatusCode, cookie: Option<HeaderValue>, body: SignedIn) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /v1/session`: who is signed in.
#[utoipa::path(
    get,
    path = "/v1/session",
    tag = "sessions",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The signed-in user and the session.", body = SignedIn)),
)]
pub(crate) async fn whoami(current: CurrentSession) -> Response {
    signed_in_response(
        StatusCode::OK,
        None,
        SignedIn { user: current.user, session: current.session, workspace: current.workspace },
    )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionView {
    #[serde(flatten)]
    session: Session,
    /// Whether this is the session making the request.
    current: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionList {
    sessions: Vec<SessionView>,
}

/// `GET /v1/sessions`: the caller's sessions.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "sessions",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "Every live session of the user, newest first.", body = SessionList)),
)]
pub(crate) async fn list(state: axum::extract::State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let sessions = state.services().sessions.sessions_of_user(current.user.id).await?;
    let views: Vec<SessionView> = sessions
        .into_iter()
        .map(|session| SessionView { current: session.id == current.session.id, session })
        .collect();
    Ok(Json(SessionList { sessions: views }).into_response())
}

/// `DELETE /v1/sessions/{id}`: ends one of the caller's sessions (the current one included).
#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id.")),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "The session is ended."),
        (status = 404, description = "`not_found`: the user has no such live session."),
    ),
)]
pub(crate) async fn revoke(
    state: axum::extract::State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    revoke_one(&state, &current, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Ends one of the caller's sessions, or `not_found` when it has no such live session.
pub(crate) async fn revoke_one(state: &AppState, current: &CurrentSession, id: Uuid) -> Result<(), ApiError> {
    let now = state.services().clock.now();
    let event = AuditEvent::new(AuditAction::SessionRevoked, Actor::User(current.user.id), now, &current.client)
        .target("session", id);
    let data = json!({ "session_id": id, "user_id": current.user.id, "reason": "revoked" });
    let jobs = [gatehouse_event(state, "session.revoked", data)?];
    match state.services().sessions.revoke_session(current.user.id, id, &[event], &jobs).await? {
        Some(_) => {
            state.services().enqueued(&jobs);
            Ok(())
        }
        None => Err(ApiError::NotFound),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Revoked {
    /// How many sessions ended.
    revoked: usize,
}

/// `POST /v1/sessions/revoke-others`: ends every session of the caller but this one.
#[utoipa::path(
    post,
    path = "/v1/sessions/revoke-others",
    tag = "sessions",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The other sessions are ended.", body = Revoked)),
)]
pub(crate) async fn revoke_others(
    state: axum::extract::State<AppState>,
    current: CurrentSession,
) -> Result<Response, ApiError> {
    let revoked = revoke_all_others(&state, &current).await?;
    Ok(Json(Revoked { revoked }).into_response())
}

/// Ends every session of the caller but this one; how many ended.
pub(crate) async fn revoke_all_others(state: &AppState, current: &CurrentSession) -> Result<usize, ApiError> {
    let now = state.services().clock.now();
    let event = AuditEvent::new(AuditAction::SessionRevoked, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("scope", "all_but_current");
    let data = json!({ "user_id": current.user.id, "reason": "revoked_others", "kept_session_id": current.session.id });
    let jobs = [gatehouse_event(state, "session.revoked", data)?];
    let revoked =
        state.services().sessions.revoke_other_sessions(current.user.id, current.session.id, &[event], &jobs).await?;
    if !revoked.is_empty() {
        state.services().enqueued(&jobs);
    }
    Ok(revoked.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_cookie_among_several() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark; gatehouse_session=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("other=1"));
        assert_eq!(cookie_value(&headers, "gatehouse_session"), Some("abc"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn names() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("gatehouse_session".to_owned()),
                Just("gatehouse_sessionx".to_owned()),
                Just("xgatehouse_session".to_owned()),
                Just("Gatehouse_Session".to_owned()),
                "[A-Za-z0-9_-]{1,10}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4_000))]

            /// The value of the first cookie with exactly the wanted name, across any number of
            /// `Cookie` headers and however the pairs are spaced; look-alike names never match.
            #[test]
            fn the_first_cookie_with_exactly_that_name_is_found(
                cookies in proptest::collection::vec((names(), "[A-Za-z0-9%._~+/=-]{0,24}"), 0..8),
                separators in proptest::collection::vec(prop_oneof![Just("; "), Just(";"), Just(";  ")], 8),
                headers_at in proptest::collection::vec(any::<bool>(), 8),
            ) {
                let mut headers = HeaderMap::new();
                let mut current = String::new();
                for (i, (name, value)) in cookies.iter().enumerate() {
                    if !current.is_empty() {
                        if headers_at[i] {
                            headers.append(header::COOKIE, HeaderValue::from_str(&current).expect("header"));
                            current.clear();
                        } else {
                            current.push_str(separators[i]);
                        }
                    }
                    current.push_str(&format!("{name}={value}"));
                }
                if !current.is_empty() {
                    headers.append(header::COOKIE, HeaderValue::from_str(&current).expect("header"));
                }
                let expected = cookies.iter().find(|(name, _)| name == "gatehouse_session").map(|(_, value)| value.as_str());
                prop_assert_eq!(cookie_value(&headers, "gatehouse_session"), expected);
            }

            /// Any bytes a client sends as a `Cookie` header are read without a panic, and what
            /// is found is a substring of what was sent.
            #[test]
            fn any_cookie_header_is_read_safely(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
                if let Ok(value) = HeaderValue::from_bytes(&raw) {
                    let mut headers = HeaderMap::new();
                    headers.append(header::COOKIE, value);
                    if let Some(found) = cookie_value(&headers, "gatehouse_session") {
                        let sent = String::from_utf8_lossy(&raw);
                        let pair = format!("gatehouse_session={found}");
                        prop_assert!(sent.contains(&pair), "{} not in {}", pair, sent);
                    }
                }
            }
        }
    }
}
