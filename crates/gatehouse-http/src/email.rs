//! The flows that mail a one-time link: email verification, password reset and magic-link sign-in.
//!
//! Asking for a link by address answers 202 with the same body whether or not the address has an
//! account, and does the same work either way: it enqueues one `email.link_request` job, whose
//! handler looks the address up (see `gatehouse_core::email::RequestLink`), so not even the
//! response time says who is registered. A signed-in caller asking for its own verification link
//! reveals nothing, so that link and its email job are stored at once, in one transaction. Either
//! way the worker is woken at once. Redeeming a link spends it and applies its effect in one
//! transaction; an unknown, expired, used or superseded link is one 400 `link_invalid`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::{EmailAddress, User};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::email::{EmailJob, LinkKey, LinkLifetimes, LinkPurpose, LinkRequest, NewLink, Redemption};
use gatehouse_core::password::Password;
use gatehouse_core::secret::RandomToken;
use gatehouse_core::sessions::{AuthMethod, ClientContext};
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, body_bytes, json_body};
use crate::mfa::FirstStep;
use crate::rate_limit::{LimitKey, RateLimitHeaders, check, with_headers};
use crate::sessions::{Client, CurrentSession, SignedIn, new_session, session_cookie, signed_in_response};
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

/// How the email flows behave, from the binary's config.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub link_key: LinkKey,
    /// Login refuses accounts whose email is not verified.
    pub require_verified: bool,
    pub lifetimes: LinkLifetimes,
    /// Mail a notice on a sign-in from a device the account has not used (`email.new_device_notice`).
    pub new_device_notice: bool,
}

impl EmailSettings {
    /// The verification link for a new user and the job that mails it, for signup's transaction.
    pub(crate) fn verification_for(
        &self,
        user: &User,
        now: time::OffsetDateTime,
        return_to: Option<&str>,
    ) -> Result<(NewLink, gatehouse_core::jobs::NewJob), ApiError> {
        let link = NewLink::issue(&self.link_key, LinkPurpose::VerifyEmail, user, now, self.lifetimes.verification);
        let job = EmailJob::for_link(&link, user, now, return_to).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok((link, job))
    }
}

/// The answer to every request for a link, whether or not one was sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LinkRequested {
    message: &'static str,
}

fn accepted() -> Response {
    let body = LinkRequested { message: "If an account exists for that address, an email with a link is on its way." };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailRequest {
    #[schema(format = Email, example = "ada@example.com")]
    pub(crate) email: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// The `token` parameter of the emailed link.
    pub(crate) token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    /// The `token` parameter of the emailed link.
    pub(crate) token: String,
    /// The new password: 8 to 128 characters (after Unicode normalization).
    pub(crate) password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Verified {
    /// The user, with `email_verified` now true.
    user: User,
}

/// Mails a verification link to the signed-in `user`, recording `email.link_sent`.
async fn send_verification(state: &AppState, user: &User, client: &ClientContext) -> Result<(), ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let (link, job) = services.email.verification_for(user, now, None)?;
    let event = link.sent_to(user, client);
    services.links.issue_link(&link, &job, &[event]).await?;
    services.enqueued(std::slice::from_ref(&job));
    Ok(())
}

/// Reads `{email}`, checks the per-account policy, and enqueues the job that mails a link if the
/// account exists and is enabled. Neither the answer nor the work done here depends on whether it
/// does.
async fn request_link(
    state: &AppState,
    client: ClientContext,
    request: axum::extract::Request,
    purpose: LinkPurpose,
    account_policy: &str,
    limits: &mut RateLimitHeaders,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let body: EmailRequest = json_body(&headers, &body_bytes(request, state).await?)?;
    let link = LinkAsked { purpose, account_policy, return_to: None };
    ask_for_link(state, client, &body.email, &link, limits).await.map(|()| accepted())
}

/// A request for a link by address: which link, the per-address policy, and where it leads on to.
pub(crate) struct LinkAsked<'a> {
    pub(crate) purpose: LinkPurpose,
    pub(crate) account_policy: &'a str,
    pub(crate) return_to: Option<&'a str>,
}

/// Checks the address and its policy, then enqueues the job that mails the link if the account
/// exists; the same work and the same `Ok` either way.
pub(crate) async fn ask_for_link(
    state: &AppState,
    client: ClientContext,
    email: &str,
    link: &LinkAsked<'_>,
    limits: &mut RateLimitHeaders,
) -> Result<(), ApiError> {
    let LinkAsked { purpose, account_policy, return_to } = *link;
    let email = EmailAddress::parse(email).map_err(|error| {
        ApiError::Validation(vec![FieldError { field: "email".into(), message: error.to_string() }])
    })?;
    let by_account = LimitKey { account: Some(email.normalized()), route: "email", ..LimitKey::default() };
    check(state, &[account_policy], &by_account, limits).await?;
    let services = state.services();
    let now = services.clock.now();
    let job = LinkRequest::job(purpose, email.normalized(), client, now, return_to)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    services.jobs.enqueue(std::slice::from_ref(&job), now).await?;
    services.enqueued(std::slice::from_ref(&job));
    Ok(())
}

/// A signed-in caller needs no body; one that is sent must still be a valid request, or a client bug
/// (a misspelt field, the wrong content type) would pass unnoticed.
async fn optional_body(state: &AppState, request: axum::extract::Request) -> Result<(), ApiError> {
    let headers = request.headers().clone();
    let bytes = body_bytes(request, state).await?;
    if bytes.is_empty() {
        return Ok(());
    }
    let body: EmailRequest = json_body(&headers, &bytes)?;
    EmailAddress::parse(&body.email)
        .map(|_| ())
        .map_err(|error| ApiError::Validation(vec![FieldError { field: "email".into(), message: error.to_string() }]))
}

/// The user an unspent link of `purpose` is good for, or `link_invalid`.
pub(crate) async fn link_user(
    state: &AppState,
    token: &str,
    purpose: LinkPurpose,
) -> Result<(RandomToken, User), ApiError> {
    let (token, holder) = link_holder(state, token, purpose).await?;
    Ok((token, holder.user))
}

/// The user an unspent link of `purpose` is good for, with the address it sets (for an email
/// change), or `link_invalid`.
pub(crate) async fn link_holder(
    state: &AppState,
    token: &str,
    purpose: LinkPurpose,
) -> Result<(RandomToken, gatehouse_core::email::LinkHolder), ApiError> {
    let token = RandomToken::parse(token.trim()).ok_or(ApiError::LinkInvalid)?;
    let services = state.services();
    let holder = services.links.link_user(&token.hash(), purpose, services.clock.now()).await?;
    Ok((token, holder.ok_or(ApiError::LinkInvalid)?))
}

/// `POST /v1/email/verification`: mails a verification link to the signed-in user, or, for a
/// caller who cannot sign in yet (login waits for verification), to the `{email}` in the body.
#[utoipa::path(
    post,
    path = "/v1/email/verification",
    tag = "email",
    request_body(content = Option<EmailRequest>, description = "Only without a session: the address to verify."),
    security((), ("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 202, description = "Sent, if there is an unverified account; the same answer either way.",
            body = LinkRequested),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
        (status = 429, description = "`rate_limited`: too many requests from this address or for this account."),
    ),
)]
pub(crate) async fn request_verification(
    State(state): State<AppState>,
    Client(client): Client,
    current: Result<CurrentSession, ApiError>,
    request: axum::extract::Request,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = match link_ip_limit(&state, &client, "email", "verification_ip", &mut limits).await {
            Err(error) => Err(error),
            Ok(()) => match current {
                Ok(current) => match optional_body(&state, request).await {
                    Err(error) => Err(error),
                    Ok(()) if current.user.email_verified => Ok(accepted()),
                    Ok(()) => {
                        verify_own_address(&state, &current.user, &client, &mut limits).await.map(|()| accepted())
                    }
                },
                Err(ApiError::Unauthenticated(_)) => {
                    request_link(&state, client, request, LinkPurpose::VerifyEmail, "verification_account", &mut limits)
                        .await
                }
                Err(other) => Err(other),
            },
        };
        (result, limits)
    })
    .await
}

/// Mails a new verification link to a signed-in user whose address is unverified, within the
/// per-address policy (the per-IP one is the caller's to check first).
pub(crate) async fn verify_own_address(
    state: &AppState,
    user: &User,
    client: &ClientContext,
    limits: &mut RateLimitHeaders,
) -> Result<(), ApiError> {
    let by_account = LimitKey { account: Some(user.email.normalized()), route: "email", ..LimitKey::default() };
    check(state, &["verification_account"], &by_account, limits).await?;
    send_verification(state, user, client).await
}

/// `POST /v1/email/verify {token}`: marks the address the link was sent to as verified.
#[utoipa::path(
    post,
    path = "/v1/email/verify",
    tag = "email",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The address is verified.", body = Verified),
        (status = 400, description = "`link_invalid`: unknown, expired or already used."),
    ),
)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    let user = verify_address(&state, &client, &body.token).await?;
    Ok(Json(Verified { user }).into_response())
}

/// Spends a verification link and marks its address verified; the user as it now is.
pub(crate) async fn verify_address(state: &AppState, client: &ClientContext, token: &str) -> Result<User, ApiError> {
    let (token, mut user) = link_user(state, token, LinkPurpose::VerifyEmail).await?;
    let services = state.services();
    let now = services.clock.now();
    let event = AuditEvent::new(AuditAction::EmailVerified, Actor::User(user.id), now, client)
        .target("user", user.id)
        .detail("email", user.email.masked());
    let jobs = verification_events(state, &user)?;
    services
        .links
        .redeem_link(&token.hash(), user.id, now, &Redemption::VerifyEmail, &[event], &jobs)
        .await?
        .ok_or(ApiError::LinkInvalid)?;
    services.enqueued(&jobs);
    // Cached sessions carry the user as it was; they would show the address unverified.
    services.sessions.forget_user(user.id).await;
    user.email_verified = true;
    Ok(user)
}

/// `POST /v1/password/forgot {email}`: mails a password-reset link; limited per IP and per address.
#[utoipa::path(
    post,
    path = "/v1/password/forgot",
    tag = "email",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Sent, if the account exists; the same answer either way.", body = LinkRequested),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
        (status = 429, description = "`rate_limited`: too many requests from this address or for this account."),
    ),
)]
pub(crate) async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Response {
    let policies = ["password_reset_ip", "password_reset_account"];
    limited_link_request(&state, client, request, LinkPurpose::ResetPassword, "/v1/password/forgot", policies).await
}

/// The events of a link redemption marking `user`'s address verified: `email.verified`, and
/// `user.updated` with the user as it now is, for apps that keep a copy. None when the address was
/// verified already, since nothing changes.
pub(crate) fn verification_events(
    state: &AppState,
    user: &User,
) -> Result<Vec<gatehouse_core::jobs::NewJob>, ApiError> {
    if user.email_verified {
        return Ok(Vec::new());
    }
    let verified = User { email_verified: true, ..user.clone() };
    let data = json!({ "user_id": user.id, "email": user.email.as_str() });
    Ok(vec![
        gatehouse_event(state, "email.verified", data)?,
        gatehouse_event(state, "user.updated", json!({ "user": verified, "changed": ["email_verified"] }))?,
    ])
}

/// A request for a link by `{email}`, limited by `policies` (per IP, then per address).
async fn limited_link_request(
    state: &AppState,
    client: ClientContext,
    request: axum::extract::Request,
    purpose: LinkPurpose,
    route: &'static str,
    [ip_policy, account_policy]: [&'static str; 2],
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = match link_ip_limit(state, &client, route, ip_policy, &mut limits).await {
            Ok(()) => request_link(state, client, request, purpose, account_policy, &mut limits).await,
            Err(error) => Err(error),
        };
        (result, limits)
    })
    .await
}

/// The per-IP limit of a request for a link, checked before the request is read.
pub(crate) async fn link_ip_limit(
    state: &AppState,
    client: &ClientContext,
    route: &'static str,
    ip_policy: &'static str,
    limits: &mut RateLimitHeaders,
) -> Result<(), ApiError> {
    let by_ip = LimitKey { ip: client.ip, route, ..LimitKey::default() };
    check(state, &[ip_policy], &by_ip, limits).await
}

/// `POST /v1/password/reset {token, password}`: sets the password and ends every session of the
/// user, wherever it was signed in.
#[utoipa::path(
    post,
    path = "/v1/password/reset",
    tag = "email",
    request_body = ResetRequest,
    responses(
        (status = 204, description = "The password is set and every session of the user ended.",
            headers(("set-cookie" = String, description = "Clears the session cookie."))),
        (status = 400, description = "`link_invalid`: unknown, expired or already used."),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
    ),
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<Response, ApiError> {
    reset_with_link(&state, &client, &body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    // The caller's own session, if any, ended with the others.
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&state, None));
    Ok(response)
}

/// `POST /v1/magic-link {email}`: mails a sign-in link; limited per IP and per address.
#[utoipa::path(
    post,
    path = "/v1/magic-link",
    tag = "email",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Sent, if the account exists; the same answer either way.", body = LinkRequested),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
        (status = 429, description = "`rate_limited`: too many requests from this address or for this account."),
    ),
)]
pub(crate) async fn request_magic_link(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Response {
    let policies = ["magic_link_ip", "magic_link_account"];
    limited_link_request(&state, client, request, LinkPurpose::MagicLink, "/v1/magic-link", policies).await
}

/// `POST /v1/magic-link/verify {token}`: signs the user in, as login does. Reading the email proves
/// the address, so it is marked verified too.
#[utoipa::path(
    post,
    path = "/v1/magic-link/verify",
    tag = "email",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set.", body = SignedIn,
            headers(("set-cookie" = String, description = "The session cookie."))),
        (status = 202, description = "The link was right and the account has a second factor: no session yet, \
            as with login.", body = crate::mfa::SecondFactorRequired,
            headers(("set-cookie" = String, description = "The second step's cookie (HttpOnly)."))),
        (status = 400, description = "`link_invalid`: unknown, expired or already used."),
    ),
)]
pub(crate) async fn redeem_magic_link(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    Ok(match sign_in_with_link(&state, &client, &body.token, None).await? {
        FirstStep::SignedIn { user, session, token } => signed_in_response(
            StatusCode::OK,
            Some(session_cookie(&state, Some(&token))),
            SignedIn { user, session: session.session, workspace: None },
        ),
        FirstStep::SecondStep { step, token, methods } => {
            crate::mfa::second_factor_response(&state, &step, &token, methods)
        }
    })
}

/// Spends a reset link: sets the password and ends every session of the user.
pub(crate) async fn reset_with_link(
    state: &AppState,
    client: &ClientContext,
    body: &ResetRequest,
) -> Result<(), ApiError> {
    let password = Password::new(&body.password).map_err(|error| {
        ApiError::Validation(vec![FieldError { field: "password".into(), message: error.to_string() }])
    })?;
    // The link is checked before the expensive hash, so a wrong token costs one lookup.
    let (token, user) = link_user(state, &body.token, LinkPurpose::ResetPassword).await?;
    let services = state.services();
    services.breached.refuse_breached(&password, "password").await?;
    let password_hash = services.passwords.hash(password).await?;
    let now = services.clock.now();
    let event = AuditEvent::new(AuditAction::PasswordReset, Actor::User(user.id), now, client)
        .target("user", user.id)
        .detail("sessions_revoked", "all");
    let data = json!({ "user_id": user.id, "method": "reset_link", "sessions_revoked": "all" });
    let mut jobs = verification_events(state, &user)?;
    jobs.push(gatehouse_event(state, "password.changed", data)?);
    let revoked = services
        .links
        .redeem_link(&token.hash(), user.id, now, &Redemption::ResetPassword { password_hash }, &[event], &jobs)
        .await?
        .ok_or(ApiError::LinkInvalid)?;
    services.enqueued(&jobs);
    services.sessions.forget(&revoked).await;
    Ok(())
}

/// Spends a sign-in link and starts a session; the link proves the address, so it is verified too.
/// For an account with a second factor, the link is spent (and the address verified) and the
/// second step starts instead, leading on to `return_to` (already allowlisted).
pub(crate) async fn sign_in_with_link(
    state: &AppState,
    client: &ClientContext,
    token: &str,
    return_to: Option<&str>,
) -> Result<FirstStep, ApiError> {
    let (token, mut user) = link_user(state, token, LinkPurpose::MagicLink).await?;
    let services = state.services();
    let now = services.clock.now();
    if let Some(methods) = crate::mfa::second_step_methods(state, user.id).await? {
        let jobs = verification_events(state, &user)?;
        services
            .links
            .redeem_link(&token.hash(), user.id, now, &Redemption::VerifyEmail, &[], &jobs)
            .await?
            .ok_or(ApiError::LinkInvalid)?;
        services.enqueued(&jobs);
        services.sessions.forget_user(user.id).await;
        user.email_verified = true;
        let (step, token) = crate::mfa::start_second_step(state, user.id, AuthMethod::Email, client, return_to).await?;
        return Ok(FirstStep::SecondStep { step, token, methods });
    }
    let (session, cookie_token) = new_session(state, user.id, client, &[AuthMethod::Email])?;
    let event = AuditEvent::new(AuditAction::LoginSucceeded, Actor::User(user.id), now, client)
        .target("session", session.session.id)
        .detail("method", "magic_link");
    let redemption = Redemption::SignIn { session: session.clone() };
    let data = json!({ "session_id": session.session.id, "user_id": user.id, "method": "magic_link" });
    let mut jobs = verification_events(state, &user)?;
    jobs.push(gatehouse_event(state, "session.created", data)?);
    services
        .links
        .redeem_link(&token.hash(), user.id, now, &redemption, &[event], &jobs)
        .await?
        .ok_or(ApiError::LinkInvalid)?;
    services.enqueued(&jobs);
    services.sessions.forget_user(user.id).await;
    user.email_verified = true;
    Ok(FirstStep::SignedIn { user, session, token: cookie_token })
}
