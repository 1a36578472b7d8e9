//! The admin API (`/v1/admin/…`, service keys with scope `admin`), the caller's own audit trail
//! (`/v1/me/audit`), and the operations the CLI shares with them.
//!
//! Disabling an account or ending its sessions deletes the sessions in SQL and drops their cached
//! copies, so every instance refuses them from its next request on.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::{EmailAddress, NewUser, User, UserPage, parse_name};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent, AuditFilter, MAX_AUDIT_PAGE, StoredAuditEvent};
use gatehouse_core::password::Password;
use gatehouse_core::sessions::ClientContext;
use gatehouse_core::workspaces::{Member, Membership, Workspace};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service_keys::{Scoped, scopes};
use crate::sessions::{Client, CurrentSession};
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

/// An account an operator creates.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    #[schema(format = Email)]
    pub email: String,
    pub name: Option<String>,
    /// Omitted: the account has no password until its owner sets one through the reset flow.
    pub password: Option<String>,
    /// Mark the address verified (the operator vouches for it). Default false.
    #[serde(default)]
    pub email_verified: bool,
}

/// Creates an account with no session, as signup's checks and events would (`user.created`).
pub async fn create_user(
    state: &AppState,
    account: &NewAccount,
    actor: Actor,
    client: &ClientContext,
) -> Result<User, ApiError> {
    let field = |name: &str, message: String| FieldError { field: name.to_owned(), message };
    let email =
        EmailAddress::parse(&account.email).map_err(|e| ApiError::Validation(vec![field("email", e.to_string())]));
    let name = parse_name(account.name.as_deref()).map_err(|e| ApiError::Validation(vec![field("name", e.to_owned())]));
    let password = account
        .password
        .as_deref()
        .map(Password::new)
        .transpose()
        .map_err(|e| ApiError::Validation(vec![field("password", e.to_string())]));
    let (email, name, password) = (email?, name?, password?);
    let services = state.services();
    let password_hash = match password {
        Some(password) => Some(services.passwords.hash(password).await?),
        None => None,
    };
    let now = services.clock.now();
    let user = NewUser {
        id: Uuid::new_v4(),
        email,
        name,
        password_hash,
        email_verified_at: account.email_verified.then_some(now),
        created_at: now,
    };
    let event = AuditEvent::new(AuditAction::UserCreated, actor, now, client)
        .target("user", user.id)
        .detail("email", user.email.masked());
    let jobs = [gatehouse_event(state, "user.created", json!({ "user": user.as_user() }))?];
    let created = services.accounts.create_user(&user, None, None, &jobs, &[event]).await?;
    services.enqueued(&jobs);
    Ok(created)
}

/// `POST /v1/admin/users`: creates an account (no session, no verification email).
#[utoipa::path(
    post,
    path = "/v1/admin/users",
    tag = "admin",
    request_body = NewAccount,
    security(("service_key" = ["admin"])),
    responses(
        (status = 201, description = "The new user.", body = User),
        (status = 409, description = "`duplicate_entry`: the address has an account."),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
    ),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    key: Scoped<scopes::Admin>,
    Client(client): Client,
    ApiJson(account): ApiJson<NewAccount>,
) -> Result<Response, ApiError> {
    let user = create_user(&state, &account, Actor::ApiKey(key.0.id), &client).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// Disables (ending every session everywhere) or enables an account.
pub async fn set_disabled(
    state: &AppState,
    user_id: Uuid,
    disabled: bool,
    actor: Actor,
    client: &ClientContext,
) -> Result<User, ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let action = if disabled { AuditAction::UserDisabled } else { AuditAction::UserEnabled };
    let event = AuditEvent::new(action, actor, now, client).target("user", user_id);
    // `user.updated` carries the user as it will be and what changed, as for a verification.
    let mut changed = services.user_admin.user(user_id).await?.ok_or(ApiError::NotFound)?;
    changed.disabled = disabled;
    let jobs = [gatehouse_event(state, "user.updated", json!({ "user": changed, "changed": ["disabled"] }))?];
    let ended =
        services.user_admin.set_disabled(user_id, disabled, now, &[event], &jobs).await?.ok_or(ApiError::NotFound)?;
    services.sessions.forget(&ended).await;
    services.sessions.forget_user(user_id).await;
    services.enqueued(&jobs);
    services.user_admin.user(user_id).await?.ok_or(ApiError::NotFound)
}

/// Ends every session of the user, on every instance; how many.
pub async fn revoke_sessions(
    state: &AppState,
    user_id: Uuid,
    actor: Actor,
    client: &ClientContext,
) -> Result<usize, ApiError> {
    let services = state.services();
    services.user_admin.user(user_id).await?.ok_or(ApiError::NotFound)?;
    let event = AuditEvent::new(AuditAction::SessionRevoked, actor, services.clock.now(), client)
        .target("user", user_id)
        .detail("scope", "all");
    let ended = services.user_admin.revoke_all_sessions(user_id, &[event]).await?;
    services.sessions.forget(&ended).await;
    Ok(ended.len())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsersQuery {
    /// Only addresses starting with this (compared lower-cased).
    email_prefix: Option<String>,
    /// The `next` of the page before.
    after: Option<Uuid>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

fn limit(requested: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let limit = requested.unwrap_or(default);
    if (1..=MAX_AUDIT_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::InvalidQuery(format!("limit must be between 1 and {MAX_AUDIT_PAGE}")))
    }
}

/// `GET /v1/admin/users`: users by id, optionally by address prefix, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "admin",
    params(UsersQuery),
    security(("service_key" = ["admin"])),
    responses((status = 200, description = "A page of users and the cursor of the next.", body = UserPage)),
)]
pub(crate) async fn users(
    State(state): State<AppState>,
    _key: Scoped<scopes::Admin>,
    ApiQuery(query): ApiQuery<UsersQuery>,
) -> Result<Response, ApiError> {
    let limit = limit(query.limit, 100)?;
    let page = state.services().user_admin.users(query.email_prefix.as_deref(), query.after, limit).await?;
    Ok(Json(page).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UserDetail {
    user: User,
    workspaces: Vec<Membership>,
    /// How many live sessions the user has.
    sessions: usize,
}

/// `GET /v1/admin/users/{id}`: one user, with their workspaces.
#[utoipa::path(
    get,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id.")),
    security(("service_key" = ["admin"])),
    responses(
        (status = 200, description = "The user.", body = UserDetail),
        (status = 404, description = "`not_found`: no such user."),
    ),
)]
pub(crate) async fn user(
    State(state): State<AppState>,
    _key: Scoped<scopes::Admin>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let services = state.services();
    let user = services.user_admin.user(id).await?.ok_or(ApiError::NotFound)?;
    let workspaces = services.workspaces.memberships_of_user(id).await?;
    let sessions = services.sessions.sessions_of_user(id).await?.len();
    Ok(Json(UserDetail { user, workspaces, sessions }).into_response())
}

/// `POST /v1/admin/users/{id}/disable`: disables the account and ends its sessions everywhere.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/disable",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id.")),
    security(("service_key" = ["admin"])),
    responses(
        (status = 200, description = "The user, disabled.", body = User),
        (status = 404, description = "`not_found`: no such user."),
    ),
)]
pub(crate) async fn disable(
    State(state): State<AppState>,
    key: Scoped<scopes::Admin>,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    Ok(Json(set_disabled(&state, id, true, Actor::ApiKey(key.0.id), &client).await?).into_response())
}

/// `POST /v1/admin/users/{id}/enable`: lets a disabled account sign in again.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/enable",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id.")),
    security(("service_key" = ["admin"])),
    responses(
        (status = 200, description = "The user, enabled.", body = User),
        (status = 404, description = "`not_found`: no such user."),
    ),
)]
pub(crate) async fn enable(
    State(state): State<AppState>,
    key: Scoped<scopes::Admin>,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    Ok(Json(set_disabled(&state, id, false, Actor::ApiKey(key.0.id), &client).await?).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Revoked {
    revoked: usize,
}

/// `POST /v1/admin/users/{id}/revoke-sessions`: ends every session of the user, everywhere.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/revoke-sessions",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id.")),
    security(("service_key" = ["admin"])),
    responses(
        (status = 200, description = "How many sessions ended.", body = Revoked),
        (status = 404, description = "`not_found`: no such user."),
    ),
)]
pub(crate) async fn revoke_user_sessions(
    State(state): State<AppState>,
    key: Scoped<scopes::Admin>,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let revoked = revoke_sessions(&state, id, Actor::ApiKey(key.0.id), &client).await?;
    Ok(Json(Revoked { revoked }).into_response())
}

/// `DELETE /v1/admin/users/{id}`: erases the account, as `DELETE /v1/me` does.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id.")),
    security(("service_key" = ["admin"])),
    responses(
        (status = 204, description = "Erased."),
        (status = 404, description = "`not_found`: no such user."),
        (status = 409, description = "`last_owner`: the user is the last owner of a workspace with other members."),
    ),
)]
pub(crate) async fn erase(
    State(state): State<AppState>,
    key: Scoped<scopes::Admin>,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    crate::privacy::erase_user(&state, id, Actor::ApiKey(key.0.id), &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/admin/users/{id}/export`: the user's personal data document, as `GET /v1/me/export`.
#[utoipa::path(
    get,
    path = "/v1/admin/users/{id}/export",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id.")),
    security(("service_key" = ["admin"])),
    responses(
        (status = 200, description = "The personal data document.", body = gatehouse_core::privacy::PersonalData),
        (status = 404, description = "`not_found`: no such user."),
    ),
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    key: Scoped<scopes::Admin>,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    Ok(Json(crate::privacy::export_user(&state, id, Actor::ApiKey(key.0.id), &client).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// The last id of the page before.
    after: Option<Uuid>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WorkspaceList {
    workspaces: Vec<Workspace>,
}

/// `GET /v1/admin/workspaces`: every workspace, by id, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/workspaces",
    tag = "admin",
    params(PageQuery),
    security(("service_key" = ["admin"])),
    responses((status = 200, description = "A page of workspaces.", body = WorkspaceList)),
)]
pub(crate) async fn workspaces(
    State(state): State<AppState>,
    _key: Scoped<scopes::Admin>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let limit = limit(query.limit, 100)?;
    let workspaces = state.services().workspaces.workspaces(query.after, limit).await?;
    Ok(Json(WorkspaceList { workspaces }).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WorkspaceDetail {
    workspace: Workspace,
    members: Vec<Member>,
}

/// `GET /v1/admin/workspaces/{id}`: one workspace with its members.
#[utoipa::path(
    get,
    path = "/v1/admin/workspaces/{id}",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The workspace's id.")),
    security(("service_key" = ["admin"])),
    responses(
        (status = 200, description = "The workspace.", body = WorkspaceDetail),
        (status = 404, description = "`not_found`: no such workspace."),
    ),
)]
pub(crate) async fn workspace(
    State(state): State<AppState>,
    _key: Scoped<scopes::Admin>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let services = state.services();
    let workspace = services.workspaces.workspace(id).await?.ok_or(ApiError::NotFound)?;
    let members = services.workspaces.members(id).await?;
    Ok(Json(WorkspaceDetail { workspace, members }).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQueryParams {
    /// Events by this user or API key id.
    actor: Option<Uuid>,
    /// Events with this action, such as `login.failed`.
    action: Option<String>,
    /// Events about this target, exactly (`user:<id>`, `session:<id>`, …).
    target: Option<String>,
    /// Events in this workspace.
    workspace: Option<Uuid>,
    /// At or after this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<OffsetDateTime>,
    /// Before this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<OffsetDateTime>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the page before.
    before: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    /// Newest first.
    events: Vec<StoredAuditEvent>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<i64>,
}

async fn audit_page(state: &AppState, mut filter: AuditFilter) -> Result<AuditPage, ApiError> {
    let limit = filter.limit;
    filter.limit = limit + 1;
    let mut events = state.services().audit_query.query(&filter).await?;
    let next = if events.len() > limit as usize {
        events.truncate(limit as usize);
        events.last().map(|event| event.id)
    } else {
        None
    };
    Ok(AuditPage { events, next })
}

/// `GET /v1/admin/audit`: audit events matching every given filter, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "admin",
    params(AuditQueryParams),
    security(("service_key" = ["admin"])),
    responses((status = 200, description = "A page of matching events.", body = AuditPage)),
)]
pub(crate) async fn audit(
    State(state): State<AppState>,
    _key: Scoped<scopes::Admin>,
    ApiQuery(query): ApiQuery<AuditQueryParams>,
) -> Result<Response, ApiError> {
    let filter = AuditFilter {
        actor_id: query.actor,
        action: query.action,
        target: query.target,
        workspace_id: query.workspace,
        from: query.from,
        to: query.to,
        subject: None,
        before_id: query.before,
        limit: limit(query.limit, 100)?,
    };
    Ok(Json(audit_page(&state, filter).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct OwnAuditQuery {
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the page before.
    before: Option<i64>,
}

/// `GET /v1/me/audit`: the events by or about the signed-in user, newest first.
#[utoipa::path(
    get,
    path = "/v1/me/audit",
    tag = "privacy",
    params(OwnAuditQuery),
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "A page of the caller's events.", body = AuditPage)),
)]
pub(crate) async fn own_audit(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiQuery(query): ApiQuery<OwnAuditQuery>,
) -> Result<Response, ApiError> {
    let filter = AuditFilter {
        subject: Some(current.user.id),
        before_id: query.before,
        limit: limit(query.limit, 100)?,
        ..AuditFilter::default()
    };
    Ok(Json(audit_page(&state, filter).await?).into_response())
}
