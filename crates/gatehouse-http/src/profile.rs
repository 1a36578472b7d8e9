//! Account self-service: a signed-in person changes their password, their name and their email
//! address. The hosted account page calls the same functions.
//!
//! An address change is two links: one to the new address confirms it (nothing changes before),
//! and then one to the old address can undo it for 7 days, which also locks out whoever made the
//! change (every session ended, the password removed, a reset link mailed to the old address).
//! Asking to move to an address another account has reveals nothing: the same answer, and the
//! mail to that address says only that someone tried.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::{EmailAddress, User, parse_name};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::email::{
    EmailJob, LinkPurpose, NewLink, Notice, NoticeContext, NoticeJob, PendingEmailChange, Redemption,
};
use gatehouse_core::jobs::NewJob;
use gatehouse_core::password::{Password, Verification};
use gatehouse_core::sessions::ClientContext;
use gatehouse_core::store::StoreError;
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{ApiError, FieldError};
use crate::extract::ApiJson;
use crate::rate_limit::{LimitKey, RateLimitHeaders, check, with_headers};
use crate::sessions::{Client, CurrentSession, session_cookie};
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

fn invalid(field: &str, message: impl ToString) -> ApiError {
    ApiError::Validation(vec![FieldError { field: field.to_owned(), message: message.to_string() }])
}

fn job_error(error: serde_json::Error) -> ApiError {
    ApiError::Internal(error.to_string())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePasswordRequest {
    /// Required when the account has a password. An account without one (made by a provider
    /// sign-in or a passkey) sets its first password after a fresh sign-in or step-up instead.
    pub(crate) current_password: Option<String>,
    /// 8 to 128 characters; not a common or breached password, and not the current one.
    pub(crate) new_password: String,
    /// End every other session of the account (default `true`); this one stays signed in.
    pub(crate) sign_out_other_sessions: Option<bool>,
}

/// What a password change did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PasswordChanged {
    /// How many other sessions were ended.
    pub(crate) sessions_ended: usize,
}

/// `POST /v1/me/password`: changes (or sets a first) password. Attempts count against the
/// account's login limit (`login_account`).
#[utoipa::path(
    post,
    path = "/v1/me/password",
    tag = "profile",
    request_body = ChangePasswordRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "Changed; other sessions ended unless asked not to, earlier reset and \
            sign-in links retired, and a notice mailed to the account's address.", body = PasswordChanged),
        (status = 401, description = "`invalid_credentials`: the current password is wrong."),
        (status = 403, description = "`reauthentication_required`: the account has no password yet and the \
            session did not sign in or step up within the step-up window."),
        (status = 422, description = "`validation_failed`: the new password is too short, too long, common or \
            the current one, or the current password is missing; `password_breached`: it appears in a breach."),
        (status = 429, description = "`rate_limited`: too many attempts on this account."),
    ),
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = change(&state, &current, &body, &mut limits)
            .await
            .map(|sessions_ended| Json(PasswordChanged { sessions_ended }).into_response());
        (result, limits)
    })
    .await
}

/// Checks the current password (or a fresh proof), then sets the new one: the change the
/// account page and the API share. How many other sessions it ended.
pub(crate) async fn change(
    state: &AppState,
    current: &CurrentSession,
    body: &ChangePasswordRequest,
    limits: &mut RateLimitHeaders,
) -> Result<usize, ApiError> {
    let services = state.services();
    let account = current.user.email.normalized();
    let key = LimitKey { account: Some(account), route: "/v1/login", ..LimitKey::default() };
    check(state, &["login_account"], &key, limits).await?;
    let new_password = Password::new(&body.new_password).map_err(|error| invalid("new_password", error))?;
    let stored = services.accounts.credentials_by_email(account).await?.and_then(|c| c.password_hash);
    let now = services.clock.now();
    match (&stored, body.current_password.as_deref()) {
        (Some(_), None) => {
            return Err(invalid("current_password", "is required to change the password"));
        }
        (Some(stored), Some(typed)) => {
            services.passwords.admit()?;
            let typed = Password::for_login(typed);
            if services.passwords.verify(Some(stored.clone()), typed.clone()).await? == Verification::Invalid {
                let event =
                    AuditEvent::new(AuditAction::LoginFailed, Actor::User(current.user.id), now, &current.client)
                        .detail("email", current.user.email.masked())
                        .detail("reason", "wrong_password")
                        .detail("during", "password_change");
                services.audit.append(&[event]).await?;
                return Err(ApiError::InvalidCredentials);
            }
            if typed.expose() == new_password.expose() {
                return Err(invalid("new_password", "is the current password; choose a new one"));
            }
        }
        (None, _) => crate::mfa::require_recent(state, current)?,
    }
    services.breached.refuse_breached(&new_password, "new_password").await?;
    services.passwords.admit()?;
    let hash = services.passwords.hash(new_password).await?;
    let end_others = body.sign_out_other_sessions.unwrap_or(true);
    let revoked = if end_others { "others" } else { "none" };
    let method = if stored.is_some() { "change" } else { "first_password" };
    let event = AuditEvent::new(AuditAction::PasswordChanged, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("method", method)
        .detail("sessions_revoked", revoked);
    let data = json!({ "user_id": current.user.id, "method": method, "sessions_revoked": revoked });
    let notice = NoticeJob::job_with_context(
        Notice::PasswordChanged,
        current.user.email.as_str(),
        current.user.name.as_deref(),
        NoticeContext::new(now, &current.client),
        now,
    )
    .map_err(job_error)?;
    let jobs = [gatehouse_event(state, "password.changed", data)?, notice];
    let user = current.user.id;
    let ended =
        services.profiles.change_password(user, &hash, current.session.id, end_others, now, &[event], &jobs).await?;
    services.enqueued(&jobs);
    services.sessions.forget(&ended).await;
    Ok(ended.len())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileRequest {
    /// Shown to the user; up to 200 characters after trimming. Empty or `null` clears it.
    pub(crate) name: Option<String>,
}

/// The account as it now is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Profile {
    pub(crate) user: User,
}

/// `PATCH /v1/me`: edits the profile (the display name).
#[utoipa::path(
    patch,
    path = "/v1/me",
    tag = "profile",
    request_body = ProfileRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "Saved; `user.updated` is sent with `changed: [\"name\"]`.", body = Profile),
        (status = 422, description = "`validation_failed`: the name is too long or has control characters."),
    ),
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(body): ApiJson<ProfileRequest>,
) -> Result<Response, ApiError> {
    let user = set_name(&state, &current, body.name.as_deref()).await?;
    Ok(Json(Profile { user }).into_response())
}

/// Sets the display name, with its audit event and `user.updated`; the user as it now is.
pub(crate) async fn set_name(state: &AppState, current: &CurrentSession, name: Option<&str>) -> Result<User, ApiError> {
    let name = parse_name(name).map_err(|error| invalid("name", error))?;
    if name == current.user.name {
        return Ok(current.user.clone());
    }
    let services = state.services();
    let now = services.clock.now();
    let event = AuditEvent::new(AuditAction::ProfileUpdated, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("changed", "name");
    let updated = User { name: name.clone(), ..current.user.clone() };
    let jobs = [gatehouse_event(state, "user.updated", json!({ "user": updated, "changed": ["name"] }))?];
    let user = services
        .profiles
        .set_name(current.user.id, name.as_deref(), now, &[event], &jobs)
        .await?
        .ok_or(ApiError::Unauthenticated("the account no longer exists"))?;
    services.enqueued(&jobs);
    services.sessions.forget_user(current.user.id).await;
    Ok(user)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailChangeRequest {
    #[schema(format = Email, example = "ada@new.example.com")]
    pub(crate) new_email: String,
    /// The account's password. Not needed when the session signed in or stepped up within the
    /// step-up window (`session.reauth_window_secs`).
    pub(crate) current_password: Option<String>,
}

/// The account's pending email change, if any.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EmailChangeStatus {
    pub(crate) pending: Option<PendingEmailChange>,
}

/// `POST /v1/me/email`: asks to move the account to a new address. Nothing changes until the
/// link mailed there is opened; a new request replaces a pending one.
#[utoipa::path(
    post,
    path = "/v1/me/email",
    tag = "profile",
    request_body = EmailChangeRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 202, description = "A confirmation link is on its way to the new address (the same answer \
            whether or not another account has it).", body = EmailChangeStatus),
        (status = 403, description = "`reauthentication_required`: the password is missing or wrong and the \
            session did not sign in or step up within the step-up window."),
        (status = 422, description = "`validation_failed`: the address is invalid or already the account's."),
        (status = 429, description = "`rate_limited`: too many attempts or requests on this account."),
    ),
)]
pub(crate) async fn request_email_change(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(body): ApiJson<EmailChangeRequest>,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = ask_email_change(&state, &current, &body, &mut limits)
            .await
            .map(|pending| (StatusCode::ACCEPTED, Json(EmailChangeStatus { pending: Some(pending) })).into_response());
        (result, limits)
    })
    .await
}

/// Checks the proof and mails the confirmation link (or, when the address is taken, a notice
/// that says so to that address): the request the account page and the API share.
pub(crate) async fn ask_email_change(
    state: &AppState,
    current: &CurrentSession,
    body: &EmailChangeRequest,
    limits: &mut RateLimitHeaders,
) -> Result<PendingEmailChange, ApiError> {
    let new_email = EmailAddress::parse(&body.new_email).map_err(|error| invalid("new_email", error))?;
    if new_email.normalized() == current.user.email.normalized() {
        return Err(invalid("new_email", "is the account's address already"));
    }
    // Each request mails an address the requester chose: limited like a verification email.
    let account = current.user.email.normalized();
    let by_account = LimitKey { account: Some(account), route: "email", ..LimitKey::default() };
    check(state, &["verification_account"], &by_account, limits).await?;
    crate::privacy::reauthenticate(state, current, body.current_password.as_deref(), limits).await?;
    let services = state.services();
    let now = services.clock.now();
    let link = NewLink::issue(
        &services.email.link_key,
        LinkPurpose::EmailChange,
        &current.user,
        now,
        services.email.lifetimes.of(LinkPurpose::EmailChange),
    )
    .with_target(&new_email);
    let taken = services.accounts.credentials_by_email(new_email.normalized()).await?.is_some();
    // The link is stored either way, so the account page shows the same pending change; when the
    // address is taken its token is never mailed, and it can never be confirmed.
    let mail = if taken {
        let context = NoticeContext::new(now, &current.client);
        NoticeJob::job_with_context(Notice::EmailInUse, new_email.as_str(), None, context, now)
    } else {
        EmailJob::for_change_link(&link, new_email.as_str(), new_email.as_str(), &current.user, now)
    }
    .map_err(job_error)?;
    let event = AuditEvent::new(AuditAction::EmailChangeRequested, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("new_email", new_email.masked());
    let jobs = [mail];
    services.links.request_email_change(&link, &jobs, &[event]).await?;
    services.enqueued(&jobs);
    Ok(PendingEmailChange { new_email: new_email.as_str().to_owned(), requested_at: now, expires_at: link.expires_at })
}

/// `GET /v1/me/email`: the pending email change, if any.
#[utoipa::path(
    get,
    path = "/v1/me/email",
    tag = "profile",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The change waiting for its link, or `null`.", body = EmailChangeStatus)),
)]
pub(crate) async fn email_change(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let services = state.services();
    let pending = services.links.pending_email_change(current.user.id, services.clock.now()).await?;
    Ok(Json(EmailChangeStatus { pending }).into_response())
}

/// `DELETE /v1/me/email`: cancels the pending email change; its link stops working.
#[utoipa::path(
    delete,
    path = "/v1/me/email",
    tag = "profile",
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "Cancelled."),
        (status = 404, description = "`not_found`: no change is pending."),
    ),
)]
pub(crate) async fn cancel_email_change(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Response, ApiError> {
    cancel(&state, &current).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Retires the pending email change, or `not_found`.
pub(crate) async fn cancel(state: &AppState, current: &CurrentSession) -> Result<(), ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let event = AuditEvent::new(AuditAction::EmailChangeCancelled, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id);
    if services.links.cancel_email_change(current.user.id, now, &[event]).await? {
        Ok(())
    } else {
        Err(ApiError::Missing("no email change is pending"))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailTokenRequest {
    /// The token from the emailed link.
    pub(crate) token: String,
}

/// The account a change link applied to, as it now is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EmailChanged {
    pub(crate) user: User,
    /// The address the account had before.
    #[schema(format = Email)]
    pub(crate) previous_email: String,
}

/// `POST /v1/email/change/confirm {token}`: opens the link mailed to the new address and makes the
/// change. It applies to the account the link was issued for, whoever is signed in.
#[utoipa::path(
    post,
    path = "/v1/email/change/confirm",
    tag = "email",
    request_body = EmailTokenRequest,
    responses(
        (status = 200, description = "The address is changed and verified; the old one gets a link that undoes \
            it for 7 days.", body = EmailChanged),
        (status = 400, description = "`link_invalid`: unknown, expired, used, cancelled, or the account's \
            address changed since it was asked for."),
        (status = 409, description = "`email_taken`: another account has this address now."),
    ),
)]
pub(crate) async fn confirm_email_change(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<EmailTokenRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(confirm(&state, &client, &body.token).await?).into_response())
}

/// Spends a change link: the account's address becomes the new one, verified.
pub(crate) async fn confirm(state: &AppState, client: &ClientContext, token: &str) -> Result<EmailChanged, ApiError> {
    let (token, holder) = crate::email::link_holder(state, token, LinkPurpose::EmailChange).await?;
    let new_email = holder.target_email.as_deref().and_then(|email| EmailAddress::parse(email).ok());
    let new_email = new_email.ok_or(ApiError::LinkInvalid)?;
    let services = state.services();
    let now = services.clock.now();
    let before = holder.user;
    let after = User { email: new_email.clone(), email_verified: true, ..before.clone() };
    let undo = NewLink::issue(
        &services.email.link_key,
        LinkPurpose::EmailChangeUndo,
        &after,
        now,
        services.email.lifetimes.of(LinkPurpose::EmailChangeUndo),
    )
    .with_target(&before.email);
    let mut changed = vec!["email"];
    if !before.email_verified {
        changed.push("email_verified");
    }
    let jobs: Vec<NewJob> = vec![
        EmailJob::for_change_link(&undo, before.email.as_str(), after.email.as_str(), &after, now)
            .map_err(job_error)?,
        gatehouse_event(state, "user.updated", json!({ "user": after, "changed": changed }))?,
    ];
    let event = AuditEvent::new(AuditAction::EmailChanged, Actor::User(before.id), now, client)
        .target("user", before.id)
        .detail("from", before.email.masked())
        .detail("to", new_email.masked());
    let redemption = Redemption::ChangeEmail { email: new_email, undo };
    redeem(state, &token, before.id, &redemption, &[event], &jobs).await?;
    services.sessions.forget_user(before.id).await;
    Ok(EmailChanged { user: after, previous_email: before.email.as_str().to_owned() })
}

/// Spends a link with its redemption; a taken address is `email_taken`.
async fn redeem(
    state: &AppState,
    token: &gatehouse_core::sessions::RandomToken,
    user_id: uuid::Uuid,
    redemption: &Redemption,
    events: &[AuditEvent],
    jobs: &[NewJob],
) -> Result<Vec<gatehouse_core::sessions::TokenHash>, ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let revoked = match services.links.redeem_link(&token.hash(), user_id, now, redemption, events, jobs).await {
        Ok(Some(revoked)) => revoked,
        Ok(None) => return Err(ApiError::LinkInvalid),
        Err(StoreError::Duplicate { .. }) => return Err(ApiError::EmailTaken),
        Err(other) => return Err(other.into()),
    };
    services.enqueued(jobs);
    Ok(revoked)
}

/// `POST /v1/email/change/undo {token}`: opens the link mailed to the old address after a change.
/// The old address comes back, every session ends, every link is retired, the password is removed,
/// and a reset link goes to the restored address.
#[utoipa::path(
    post,
    path = "/v1/email/change/undo",
    tag = "email",
    request_body = EmailTokenRequest,
    responses(
        (status = 200, description = "Undone; a password-reset link is on its way to the restored address. The \
            session cookie is cleared.", body = EmailChanged,
            headers(("set-cookie" = String, description = "Clears the session cookie."))),
        (status = 400, description = "`link_invalid`: unknown, expired (after 7 days), used, or the address \
            changed again since."),
        (status = 409, description = "`email_taken`: another account has the old address now."),
    ),
)]
pub(crate) async fn undo_email_change(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<EmailTokenRequest>,
) -> Result<Response, ApiError> {
    let undone = undo(&state, &client, &body.token).await?;
    let mut response = Json(undone).into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&state, None));
    Ok(response)
}

/// Spends an undo link: restores the old address and locks out whoever made the change.
pub(crate) async fn undo(state: &AppState, client: &ClientContext, token: &str) -> Result<EmailChanged, ApiError> {
    let (token, holder) = crate::email::link_holder(state, token, LinkPurpose::EmailChangeUndo).await?;
    let old_email = holder.target_email.as_deref().and_then(|email| EmailAddress::parse(email).ok());
    let old_email = old_email.ok_or(ApiError::LinkInvalid)?;
    let services = state.services();
    let now = services.clock.now();
    let changed = holder.user;
    let restored = User { email: old_email.clone(), email_verified: true, ..changed.clone() };
    let reset = NewLink::issue(
        &services.email.link_key,
        LinkPurpose::ResetPassword,
        &restored,
        now,
        services.email.lifetimes.reset,
    );
    let jobs: Vec<NewJob> = vec![
        EmailJob::for_link(&reset, &restored, now, None).map_err(job_error)?,
        gatehouse_event(state, "user.updated", json!({ "user": restored, "changed": ["email"] }))?,
        gatehouse_event(
            state,
            "password.changed",
            json!({ "user_id": changed.id, "method": "email_change_undone", "sessions_revoked": "all" }),
        )?,
    ];
    let event = AuditEvent::new(AuditAction::EmailChangeUndone, Actor::User(changed.id), now, client)
        .target("user", changed.id)
        .detail("from", changed.email.masked())
        .detail("to", old_email.masked())
        .detail("sessions_revoked", "all");
    let redemption = Redemption::UndoEmailChange { email: old_email, reset };
    let revoked = redeem(state, &token, changed.id, &redemption, &[event], &jobs).await?;
    services.sessions.forget(&revoked).await;
    services.sessions.forget_user(changed.id).await;
    Ok(EmailChanged { user: restored, previous_email: changed.email.as_str().to_owned() })
}
