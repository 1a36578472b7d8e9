//! The rights of access and erasure: `GET /v1/me/export` and `DELETE /v1/me`, and the two
//! functions behind them that the admin API and the CLI call too.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::jobs::NewJob;
use gatehouse_core::password::{Password, Verification};
use gatehouse_core::privacy::{Erased, Erasure, PersonalData};
use gatehouse_core::sessions::ClientContext;
use gatehouse_core::vault::{Revoke, RevokeJob, SealRandom, SealedConnection};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::error::{ApiError, os_random};
use crate::rate_limit::{LimitKey, RateLimitHeaders, check, with_headers};
use crate::sessions::{CurrentSession, session_cookie};
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

/// Everything held about `user_id`, with its `user.data_exported` audit event recorded.
pub async fn export_user(
    state: &AppState,
    user_id: Uuid,
    actor: Actor,
    client: &ClientContext,
) -> Result<PersonalData, ApiError> {
    let services = state.services();
    let now = services.clock.now();
    // Recorded first, so the document lists its own export.
    let event = AuditEvent::new(AuditAction::DataExported, actor, now, client).target("user", user_id);
    services.audit.append(&[event]).await?;
    services.privacy.personal_data(user_id, now).await?.ok_or(ApiError::NotFound)
}

/// Erases `user_id` and everything tied to them in one transaction (see `PrivacyStore::erase`):
/// their vault tokens are re-sealed without a link to them and revoked at the provider by the job
/// queue, `user.deleted` is emitted, and a tombstone names them only by a keyed hash. Their
/// sessions end on every instance at once.
pub async fn erase_user(state: &AppState, user_id: Uuid, actor: Actor, client: &ClientContext) -> Result<(), ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let user = services.user_admin.user(user_id).await?.ok_or(ApiError::NotFound)?;
    let email = user.email;

    let vault = &services.vault;
    let mut revocations = Vec::new();
    let mut jobs: Vec<NewJob> = Vec::new();
    for connection in vault.store.all_connections_of_user(user_id).await? {
        // A record that no longer opens has nothing left to revoke.
        let Ok(tokens) = vault.vault.open(&connection) else { continue };
        let id = Uuid::new_v4();
        let random = SealRandom { data_key: os_random()?, wrap_nonce: os_random()?, data_nonce: os_random()? };
        let (wrapped_key, ciphertext) = vault
            .vault
            .seal(id, Uuid::nil(), &connection.provider, &tokens, random)
            .map_err(|error| ApiError::Internal(format!("re-sealing for revocation: {error}")))?;
        revocations.push(SealedConnection {
            id,
            user_id: Uuid::nil(),
            wrapped_key,
            ciphertext,
            created_at: now,
            updated_at: now,
            ..connection
        });
        jobs.push(
            NewJob::of::<Revoke>(&RevokeJob { connection_id: id }, now)
                .map_err(|error| ApiError::Internal(error.to_string()))?,
        );
    }
    jobs.push(gatehouse_event(state, "user.deleted", json!({ "user_id": user_id, "reason": "erased" }))?);
    // The person's own request is recorded without their address or agent: the tombstone keeps
    // nothing about them.
    let (actor, client) = match actor {
        Actor::User(id) if id == user_id => (Actor::Erased, ClientContext::default()),
        other => (other, client.clone()),
    };
    let tombstone = AuditEvent::new(AuditAction::UserErased, actor, now, &client)
        .target("subject", services.tombstones.subject(user_id))
        .detail("revoked_connections", revocations.len());
    let erasure = Erasure {
        user_id,
        email_normalized: email.normalized().to_owned(),
        revocations,
        events: vec![tombstone],
        jobs,
    };
    match services.privacy.erase(&erasure).await? {
        Erased::Done { token_hashes, workspaces_deleted } => {
            services.sessions.forget(&token_hashes).await;
            services.sessions.forget_user(user_id).await;
            services.enqueued(&erasure.jobs);
            tracing::info!(workspaces_deleted = workspaces_deleted.len(), "an account was erased");
            Ok(())
        }
        Erased::LastOwner { .. } => Err(ApiError::LastOwner(
            "the account is the last owner of a workspace with other members: make another member an owner, or \
             delete the workspace, first",
        )),
        Erased::NotFound => Err(ApiError::NotFound),
    }
}

/// `GET /v1/me/export`: everything Gatehouse holds about the signed-in person, as one versioned
/// JSON document (never a token or a secret), offered as a download.
#[utoipa::path(
    get,
    path = "/v1/me/export",
    tag = "privacy",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The personal data document (`format` `gatehouse.personal_data`).",
        body = PersonalData,
        headers(("content-disposition" = String, description = "`attachment`, with a file name.")))),
)]
pub(crate) async fn export(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let data = export_user(&state, current.user.id, Actor::User(current.user.id), &current.client).await?;
    let mut response = Json(data).into_response();
    let name = format!("attachment; filename=\"gatehouse-export-{}.json\"", current.user.id);
    if let Ok(value) = HeaderValue::from_str(&name) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EraseRequest {
    /// The current password. Not needed when the session signed in or reauthenticated
    /// (`POST /v1/me/reauthenticate`) within `session.reauth_window_secs` (5 minutes by default).
    password: Option<String>,
}

/// Whether the person just proved who they are: the password now when one is given, else a
/// sign-in or step-up within the step-up window (the session's `auth_time`). Password attempts count
/// against the login limits.
pub(crate) async fn reauthenticate(
    state: &AppState,
    current: &CurrentSession,
    password: Option<&str>,
    limits: &mut RateLimitHeaders,
) -> Result<(), ApiError> {
    // A password typed is checked even in a fresh session: a wrong one is never waved through.
    if password.is_none() && crate::mfa::require_recent(state, current).is_ok() {
        return Ok(());
    }
    let services = state.services();
    let credentials = services.accounts.credentials_by_email(current.user.email.normalized()).await?;
    let stored = credentials.and_then(|c| c.password_hash);
    match (stored, password) {
        (Some(stored), Some(password)) => {
            let account = current.user.email.normalized();
            let key = LimitKey { account: Some(account), route: "/v1/login", ..LimitKey::default() };
            check(state, &["login_account"], &key, limits).await?;
            match services.passwords.verify(Some(stored), Password::for_login(password)).await? {
                Verification::Valid { .. } => Ok(()),
                Verification::Invalid => Err(ApiError::ReauthenticationRequired("the password is not right")),
            }
        }
        (Some(_), None) => Err(ApiError::ReauthenticationRequired("confirm with the account's current password")),
        (None, _) => Err(ApiError::ReauthenticationRequired(
            "this account has no password: sign in again, or confirm with a code at POST /v1/me/reauthenticate, \
             and try again within the step-up window",
        )),
    }
}

/// `DELETE /v1/me`: erases the signed-in account and everything tied to it, at once and for good.
#[utoipa::path(
    delete,
    path = "/v1/me",
    tag = "privacy",
    request_body(content = EraseRequest, description = "Optional: `{}` or no body for accounts without a password."),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "Erased; the session cookie is cleared.",
            headers(("set-cookie" = String, description = "Clears the session cookie."))),
        (status = 403, description = "`reauthentication_required`: the session did not sign in or reauthenticate \
            within 5 minutes, and the password is missing or wrong."),
        (status = 409, description = "`last_owner`: the account is the last owner of a workspace with other \
            members."),
        (status = 429, description = "`rate_limited`: too many password attempts on this account."),
    ),
)]
pub(crate) async fn erase(
    State(state): State<AppState>,
    current: CurrentSession,
    request: axum::extract::Request,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = async {
            let headers = request.headers().clone();
            let bytes = crate::extract::body_bytes(request, &state).await?;
            let request: EraseRequest =
                if bytes.is_empty() { EraseRequest::default() } else { crate::extract::json_body(&headers, &bytes)? };
            reauthenticate(&state, &current, request.password.as_deref(), &mut limits).await?;
            erase_user(&state, current.user.id, Actor::User(current.user.id), &current.client).await?;
            let mut response = StatusCode::NO_CONTENT.into_response();
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, None));
            Ok(response)
        }
        .await;
        (result, limits)
    })
    .await
}
