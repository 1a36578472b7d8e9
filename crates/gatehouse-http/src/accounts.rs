//! Signup, login and logout.
//!
//! Login answers a wrong password, an unknown email and a disabled account with the same 401 after
//! the same work (one argon2id verification, against a dummy hash when there is no account), so
//! neither the answer nor its timing tells whether an account exists.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::{EmailAddress, NewUser, parse_name};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::password::{Password, Verification};
use gatehouse_core::sessions::ClientContext;
use gatehouse_core::store::StoreError;
use http::{StatusCode, header};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};
use crate::extract::{body_bytes, json_body};
use crate::rate_limit::{LimitKey, RateLimitHeaders, check, with_headers};
use crate::sessions::{Client, CurrentSession, SignedIn, new_session, session_cookie, signed_in_response};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupRequest {
    email: String,
    password: String,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

fn field(field: &str, message: impl ToString) -> FieldError {
    FieldError { field: field.to_owned(), message: message.to_string() }
}

/// `POST /v1/signup`, limited per IP (`signup_ip`).
pub(crate) async fn signup(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let key = LimitKey { ip: client.ip, route: "/v1/signup", ..LimitKey::default() };
        let result = match check(&state, &["signup_ip"], &key, &mut limits).await {
            Ok(()) => signup_flow(&state, client, request).await,
            Err(error) => Err(error),
        };
        (result, limits)
    })
    .await
}

async fn signup_flow(
    state: &AppState,
    client: ClientContext,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let body: SignupRequest = json_body(&headers, &body_bytes(request, state).await?)?;
    let email = EmailAddress::parse(&body.email);
    let password = Password::new(&body.password);
    let name = parse_name(body.name.as_deref());
    let mut errors = Vec::new();
    if let Err(error) = &email {
        errors.push(field("email", error));
    }
    if let Err(error) = &password {
        errors.push(field("password", error));
    }
    if let Err(error) = &name {
        errors.push(field("name", error));
    }
    let (Ok(email), Ok(password), Ok(name)) = (email, password, name) else {
        return Err(ApiError::Validation(errors));
    };

    let services = state.services();
    let password_hash = services.passwords.hash(password).await?;
    let now = services.clock.now();
    let user_id = Uuid::new_v4();
    let (new_session, token) = new_session(state, user_id, &client)?;
    let new_user = NewUser { id: user_id, email: email.clone(), name, password_hash, created_at: now };
    let event = AuditEvent::new(AuditAction::UserSignedUp, Actor::User(user_id), now, &client)
        .target("user", user_id)
        .detail("email", email.masked())
        .detail("session_id", new_session.session.id.to_string());
    let user = services.accounts.create_user(&new_user, &new_session, &[event]).await.map_err(|error| match error {
        StoreError::Duplicate { .. } => ApiError::Store(StoreError::Duplicate { what: "email".into() }),
        other => ApiError::Store(other),
    })?;
    Ok(signed_in_response(
        StatusCode::CREATED,
        Some(session_cookie(state, Some(&token))),
        SignedIn { user, session: new_session.session },
    ))
}

/// `POST /v1/login`, limited per IP (`login_ip`, before the body is read) and per submitted account
/// (`login_account`, before any password work).
pub(crate) async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = login_flow(&state, client, request, &mut limits).await;
        (result, limits)
    })
    .await
}

async fn login_flow(
    state: &AppState,
    client: ClientContext,
    request: axum::extract::Request,
    limits: &mut RateLimitHeaders,
) -> Result<Response, ApiError> {
    let by_ip = LimitKey { ip: client.ip, route: "/v1/login", ..LimitKey::default() };
    check(state, &["login_ip"], &by_ip, limits).await?;
    let headers = request.headers().clone();
    let body: LoginRequest = json_body(&headers, &body_bytes(request, state).await?)?;
    // A malformed address cannot match an account; it still pays for one verification below.
    let email = EmailAddress::parse(&body.email).ok();
    let account = email.as_ref().map_or_else(|| body.email.trim().to_lowercase(), |e| e.normalized().to_owned());
    let by_account = LimitKey { account: Some(&account), route: "/v1/login", ..LimitKey::default() };
    check(state, &["login_account"], &by_account, limits).await?;
    let services = state.services();
    let password = Password::for_login(&body.password);
    let credentials = match &email {
        Some(email) => services.accounts.credentials_by_email(email.normalized()).await?,
        None => None,
    };
    let stored_hash = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let verification = services.passwords.verify(stored_hash, password.clone()).await?;
    let now = services.clock.now();

    let user = match (credentials, verification) {
        (Some(credentials), Verification::Valid { needs_rehash }) if !credentials.user.disabled => {
            if needs_rehash {
                let rehashed = services.passwords.hash(password).await?;
                services.accounts.set_password_hash(credentials.user.id, &rehashed, now).await?;
            }
            credentials.user
        }
        (credentials, _) => {
            let actor = credentials.as_ref().map_or(Actor::Anonymous, |c| Actor::User(c.user.id));
            let reason = match &credentials {
                None => "unknown_account",
                Some(c) if c.user.disabled => "disabled",
                Some(_) => "wrong_password",
            };
            let masked = email.as_ref().map_or_else(|| "***".to_owned(), EmailAddress::masked);
            let event = AuditEvent::new(AuditAction::LoginFailed, actor, now, &client)
                .detail("email", masked)
                .detail("reason", reason);
            services.audit.append(&[event]).await?;
            return Err(ApiError::InvalidCredentials);
        }
    };

    let (new_session, token) = new_session(state, user.id, &client)?;
    let event = AuditEvent::new(AuditAction::LoginSucceeded, Actor::User(user.id), now, &client)
        .target("session", new_session.session.id);
    services.sessions.create_session(&new_session, &[event]).await?;
    Ok(signed_in_response(
        StatusCode::OK,
        Some(session_cookie(state, Some(&token))),
        SignedIn { user, session: new_session.session },
    ))
}

/// `POST /v1/logout`: ends the current session (reached by cookie or access token), if any, and
/// clears the cookie. 204 whether or not a session was signed in, so logging out twice is not an
/// error; but when the session cannot be looked up (the database is down) the error is returned,
/// never a 204 that would claim a logout that did not happen.
pub(crate) async fn logout(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
) -> Result<Response, ApiError> {
    let current = match current {
        Ok(current) => Some(current),
        Err(ApiError::Unauthenticated(_)) => None,
        Err(other) => return Err(other),
    };
    if let Some(current) = current {
        let services = state.services();
        let event =
            AuditEvent::new(AuditAction::Logout, Actor::User(current.user.id), services.clock.now(), &current.client)
                .target("session", current.session.id);
        services.sessions.revoke_session(current.user.id, current.session.id, &[event]).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&state, None));
    Ok(response)
}
