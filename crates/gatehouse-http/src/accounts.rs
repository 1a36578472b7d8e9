//! Signup, login and logout.
//!
//! Login answers a wrong password, an unknown email and a disabled account with the same 401 after
//! the same work (one argon2id verification, against a dummy hash when there is no account), so
//! neither the answer nor its timing tells whether an account exists.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::{EmailAddress, NewUser, User, parse_name};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::password::{Password, Verification};
use gatehouse_core::sessions::{AuthMethod, ClientContext, NewSession, SessionToken};
use gatehouse_core::store::StoreError;
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};
use crate::extract::{body_bytes, json_body};
use crate::mfa::{FirstStep, second_factor_response};
use crate::rate_limit::{LimitKey, RateLimitHeaders, check, with_headers};
use crate::sessions::{Client, CurrentSession, SignedIn, new_session, session_cookie, signed_in_response};
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupRequest {
    #[schema(format = Email, example = "ada@example.com")]
    pub(crate) email: String,
    /// 8 to 128 characters (after Unicode normalization); not a commonly breached password.
    #[schema(example = "correct horse battery staple")]
    pub(crate) password: String,
    /// Shown to the user; up to 200 characters after trimming.
    pub(crate) name: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub(crate) email: String,
    pub(crate) password: String,
}

/// Signup's answer when login waits for a verified address: the account, not signed in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PendingVerification {
    user: User,
    /// Always `true`: follow the emailed link, then log in.
    verification_required: bool,
}

/// What signup answers: signed in, or (with `email.require_verified`) waiting for verification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "describes signup's two answers in the API document; each is built as its own type")]
pub(crate) enum SignupAnswer {
    SignedIn(SignedIn),
    PendingVerification(PendingVerification),
}

fn field(field: &str, message: impl ToString) -> FieldError {
    FieldError { field: field.to_owned(), message: message.to_string() }
}

/// `POST /v1/signup`: creates an account and signs it in; limited per IP (`signup_ip`).
#[utoipa::path(
    post,
    path = "/v1/signup",
    tag = "accounts",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "The account, signed in (the session cookie is set) unless email \
            verification must come first.", body = SignupAnswer,
            headers(("set-cookie" = String, description = "The session cookie."))),
        (status = 409, description = "`duplicate_entry`: an account already uses this email."),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
        (status = 429, description = "`rate_limited`: too many signups from this address."),
    ),
)]
pub(crate) async fn signup(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = match signup_limit(&state, &client, &mut limits).await {
            Ok(()) => signup_json(&state, client, request).await,
            Err(error) => Err(error),
        };
        (result, limits)
    })
    .await
}

/// The per-IP signup limit, checked before the request is read.
pub(crate) async fn signup_limit(
    state: &AppState,
    client: &ClientContext,
    limits: &mut RateLimitHeaders,
) -> Result<(), ApiError> {
    let key = LimitKey { ip: client.ip, route: "/v1/signup", ..LimitKey::default() };
    check(state, &["signup_ip"], &key, limits).await
}

async fn signup_json(
    state: &AppState,
    client: ClientContext,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let body: SignupRequest = json_body(&headers, &body_bytes(request, state).await?)?;
    let signed_up = sign_up(state, client, &body, None).await?;
    Ok(match signed_up.session {
        Some((session, token)) => signed_in_response(
            StatusCode::CREATED,
            Some(session_cookie(state, Some(&token))),
            SignedIn { user: signed_up.user, session: session.session, workspace: None },
        ),
        None => {
            let body = PendingVerification { user: signed_up.user, verification_required: true };
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
    })
}

/// The signup body's fields, parsed, or every invalid one named in one `validation_failed`.
pub(crate) fn validate_signup(body: &SignupRequest) -> Result<(EmailAddress, Password, Option<String>), ApiError> {
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
    match (email, password, name) {
        (Ok(email), Ok(password), Ok(name)) => Ok((email, password, name)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// A new account, and its session unless login waits for a verified address.
pub(crate) struct SignedUp {
    pub(crate) user: User,
    pub(crate) session: Option<(NewSession, SessionToken)>,
}

/// Creates the account, its verification link (leading on to `return_to`, already checked against
/// the allowlist) and, unless login waits for verification, its session, in one transaction.
pub(crate) async fn sign_up(
    state: &AppState,
    client: ClientContext,
    body: &SignupRequest,
    return_to: Option<&str>,
) -> Result<SignedUp, ApiError> {
    let (email, password, name) = validate_signup(body)?;
    state.services().breached.refuse_breached(&password, "password").await?;
    state.services().passwords.admit()?;

    let services = state.services();
    let password_hash = services.passwords.hash(password).await?;
    let now = services.clock.now();
    let user_id = Uuid::new_v4();
    let new_user = NewUser {
        id: user_id,
        email: email.clone(),
        name,
        password_hash: Some(password_hash),
        email_verified_at: None,
        created_at: now,
    };
    let (verification, email_job) = services.email.verification_for(&new_user.as_user(), now, return_to)?;
    // When login waits for a verified address, signup does not sign in either.
    let signed_in = if services.email.require_verified {
        None
    } else {
        Some(new_session(state, user_id, &client, &[AuthMethod::Pwd])?)
    };
    let mut event = AuditEvent::new(AuditAction::UserSignedUp, Actor::User(user_id), now, &client)
        .target("user", user_id)
        .detail("email", email.masked());
    if let Some((session, _)) = &signed_in {
        event = event.detail("session_id", session.session.id.to_string());
    }
    let mut jobs = vec![email_job, gatehouse_event(state, "user.created", json!({ "user": new_user.as_user() }))?];
    if let Some((session, _)) = &signed_in {
        let data = json!({ "session_id": session.session.id, "user_id": user_id, "method": "signup" });
        jobs.push(gatehouse_event(state, "session.created", data)?);
    }
    let session = signed_in.as_ref().map(|(session, _)| session);
    let user = services.accounts.create_user(&new_user, session, Some(&verification), &jobs, &[event]).await.map_err(
        |error| match error {
            StoreError::Duplicate { .. } => ApiError::Store(StoreError::Duplicate { what: "email".into() }),
            other => ApiError::Store(other),
        },
    )?;
    services.enqueued(&jobs);
    Ok(SignedUp { user, session: signed_in })
}

/// `POST /v1/login`: signs in with email and password; limited per IP (`login_ip`, before the body
/// is read) and per submitted account (`login_account`, before any password work).
#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set.", body = SignedIn,
            headers(("set-cookie" = String, description = "The session cookie."))),
        (status = 202, description = "The password was right and the account has a second factor: no session \
            yet. Send a code with `mfa_token` to `POST /v1/login/mfa` within 5 minutes.",
            body = crate::mfa::SecondFactorRequired,
            headers(("set-cookie" = String, description = "The second step's cookie (HttpOnly)."))),
        (status = 401, description = "`invalid_credentials`: wrong email or password, or a disabled account."),
        (status = 403, description = "`email_not_verified`: the password was right, but login waits for the \
            emailed link."),
        (status = 429, description = "`rate_limited`: too many attempts from this address or on this account."),
    ),
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = login_json(&state, client, request, &mut limits).await;
        (result, limits)
    })
    .await
}

async fn login_json(
    state: &AppState,
    client: ClientContext,
    request: axum::extract::Request,
    limits: &mut RateLimitHeaders,
) -> Result<Response, ApiError> {
    login_limit(state, &client, limits).await?;
    let headers = request.headers().clone();
    let body: LoginRequest = json_body(&headers, &body_bytes(request, state).await?)?;
    Ok(match log_in(state, client, &body, limits, None).await? {
        FirstStep::SignedIn { user, session, token } => signed_in_response(
            StatusCode::OK,
            Some(session_cookie(state, Some(&token))),
            SignedIn { user, session: session.session, workspace: None },
        ),
        FirstStep::SecondStep { step, token, methods } => second_factor_response(state, &step, &token, methods),
    })
}

/// The per-IP login limit, checked before the request is read.
pub(crate) async fn login_limit(
    state: &AppState,
    client: &ClientContext,
    limits: &mut RateLimitHeaders,
) -> Result<(), ApiError> {
    let by_ip = LimitKey { ip: client.ip, route: "/v1/login", ..LimitKey::default() };
    check(state, &["login_ip"], &by_ip, limits).await
}

/// Checks the password (after the per-account limit) and starts a session, stored with its audit
/// event and webhook; or, for an account with a second factor, the second step (which leads on to
/// `return_to`, already allowlisted).
pub(crate) async fn log_in(
    state: &AppState,
    client: ClientContext,
    body: &LoginRequest,
    limits: &mut RateLimitHeaders,
    return_to: Option<&str>,
) -> Result<FirstStep, ApiError> {
    // A malformed address cannot match an account; it still pays for one verification below.
    let email = EmailAddress::parse(&body.email).ok();
    let account = email.as_ref().map_or_else(|| body.email.trim().to_lowercase(), |e| e.normalized().to_owned());
    let by_account = LimitKey { account: Some(&account), route: "/v1/login", ..LimitKey::default() };
    check(state, &["login_account"], &by_account, limits).await?;
    let services = state.services();
    // Shed before the account lookup, whose only use is the hash.
    services.passwords.admit()?;
    let password = Password::for_login(&body.password);
    let credentials = match &email {
        Some(email) => services.accounts.credentials_by_email(email.normalized()).await?,
        None => None,
    };
    let stored_hash = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let verification = services.passwords.verify(stored_hash, password.clone()).await?;
    let now = services.clock.now();

    let user = match (credentials, verification) {
        (Some(credentials), Verification::Valid { .. })
            if !credentials.user.disabled && services.email.require_verified && !credentials.user.email_verified =>
        {
            // Only after the right password, so this answer reveals nothing to a guesser.
            let event = AuditEvent::new(AuditAction::LoginFailed, Actor::User(credentials.user.id), now, &client)
                .detail("email", credentials.user.email.masked())
                .detail("reason", "email_not_verified");
            services.audit.append(&[event]).await?;
            return Err(ApiError::EmailNotVerified);
        }
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

    if let Some(methods) = crate::mfa::second_step_methods(state, user.id).await? {
        let (step, token) = crate::mfa::start_second_step(state, user.id, AuthMethod::Pwd, &client, return_to).await?;
        return Ok(FirstStep::SecondStep { step, token, methods });
    }
    let (new_session, token) = new_session(state, user.id, &client, &[AuthMethod::Pwd])?;
    let event = AuditEvent::new(AuditAction::LoginSucceeded, Actor::User(user.id), now, &client)
        .target("session", new_session.session.id);
    let data = json!({ "session_id": new_session.session.id, "user_id": user.id, "method": "password" });
    let jobs = [gatehouse_event(state, "session.created", data)?];
    services.sessions.create_session(&new_session, &[event], &jobs).await?;
    services.enqueued(&jobs);
    Ok(FirstStep::SignedIn { user, session: new_session, token })
}

/// `POST /v1/logout`: ends the current session (reached by cookie or access token), if any, and
/// clears the cookie. 204 whether or not a session was signed in, so logging out twice is not an
/// error; but when the session cannot be looked up (the database is down) the error is returned,
/// never a 204 that would claim a logout that did not happen.
#[utoipa::path(
    post,
    path = "/v1/logout",
    tag = "accounts",
    security((), ("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "Signed out (or was not signed in); the session cookie is cleared.",
            headers(("set-cookie" = String, description = "Clears the session cookie."))),
    ),
)]
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
        end_session(&state, &current).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&state, None));
    Ok(response)
}

/// Ends the current session, with its audit event and webhook.
pub(crate) async fn end_session(state: &AppState, current: &CurrentSession) -> Result<(), ApiError> {
    let services = state.services();
    let event =
        AuditEvent::new(AuditAction::Logout, Actor::User(current.user.id), services.clock.now(), &current.client)
            .target("session", current.session.id);
    let data = json!({ "session_id": current.session.id, "user_id": current.user.id, "reason": "logout" });
    let jobs = [gatehouse_event(state, "session.revoked", data)?];
    if services.sessions.revoke_session(current.user.id, current.session.id, &[event], &jobs).await?.is_some() {
        services.enqueued(&jobs);
    }
    Ok(())
}
