//! Workspaces over HTTP: `/v1/workspaces…`, accepting an invitation, and choosing the session's
//! active workspace.
//!
//! A workspace the caller is not a member of is a 404, whatever it holds, so ids reveal nothing;
//! a member whose role is too low gets 403 `insufficient_role`. Every change is audited with its
//! workspace, and a change to someone's membership drops that person's cached sessions, whose
//! snapshot carries the role, so it holds from their next request on every instance.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::EmailAddress;
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::email::EmailJob;
use gatehouse_core::sessions::RandomToken;
use gatehouse_core::workspaces::{
    Acceptance, ActiveWorkspace, INVITATION_LIFETIME, Invitation, Member, MemberOutcome, Membership, NewInvitation,
    Role, Workspace, parse_workspace_name,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiPath};
use crate::sessions::CurrentSession;
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

const LAST_OWNER: &str = "the workspace would be left without an owner: make another member an owner first, or \
                          delete the workspace";

fn field(name: &str, message: impl ToString) -> ApiError {
    ApiError::Validation(vec![FieldError { field: name.to_owned(), message: message.to_string() }])
}

/// The caller's role in `workspace_id` if it is at least `needed`: 404 for a non-member, 403 for
/// a lower role.
pub(crate) async fn require_role(
    state: &AppState,
    current: &CurrentSession,
    workspace_id: Uuid,
    needed: Role,
) -> Result<Role, ApiError> {
    let role = state.services().workspaces.role_of(workspace_id, current.user.id).await?.ok_or(ApiError::NotFound)?;
    if role < needed {
        return Err(ApiError::InsufficientRole(match needed {
            Role::Owner => "only an owner of the workspace may do that",
            _ => "only an admin or owner of the workspace may do that",
        }));
    }
    Ok(role)
}

fn event(current: &CurrentSession, action: AuditAction, workspace_id: Uuid, state: &AppState) -> AuditEvent {
    AuditEvent::new(action, Actor::User(current.user.id), state.services().clock.now(), &current.client)
        .workspace(workspace_id)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MembershipList {
    workspaces: Vec<Membership>,
}

/// `GET /v1/workspaces`: the workspaces the caller belongs to, with their role in each.
#[utoipa::path(
    get,
    path = "/v1/workspaces",
    tag = "workspaces",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The caller's workspaces, by name.", body = MembershipList)),
)]
pub(crate) async fn list(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let workspaces = state.services().workspaces.memberships_of_user(current.user.id).await?;
    Ok(Json(MembershipList { workspaces }).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameRequest {
    /// 1 to 100 characters.
    name: String,
}

/// `POST /v1/workspaces`: creates a workspace with the caller as its owner.
#[utoipa::path(
    post,
    path = "/v1/workspaces",
    tag = "workspaces",
    request_body = NameRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 201, description = "The new workspace.", body = Workspace),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
    ),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(request): ApiJson<NameRequest>,
) -> Result<Response, ApiError> {
    let workspace = create_workspace(&state, &current, &request.name).await?;
    Ok((StatusCode::CREATED, Json(workspace)).into_response())
}

/// Creates a workspace named `name` with the caller as its owner (the API and the account page).
pub(crate) async fn create_workspace(
    state: &AppState,
    current: &CurrentSession,
    name: &str,
) -> Result<Workspace, ApiError> {
    let name = parse_workspace_name(name).map_err(|message| field("name", message))?;
    let now = state.services().clock.now();
    let workspace = Workspace { id: Uuid::new_v4(), name, created_at: now, members: 1 };
    let audit = event(current, AuditAction::WorkspaceCreated, workspace.id, state).target("workspace", workspace.id);
    let jobs = [gatehouse_event(
        state,
        "workspace.created",
        json!({ "workspace_id": workspace.id, "name": workspace.name, "owner_id": current.user.id }),
    )?];
    state.services().workspaces.create_workspace(&workspace, current.user.id, &[audit], &jobs).await?;
    state.services().enqueued(&jobs);
    Ok(workspace)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WorkspaceView {
    #[serde(flatten)]
    workspace: Workspace,
    /// The caller's role in it.
    role: Role,
}

/// `GET /v1/workspaces/{id}`: one of the caller's workspaces.
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = Uuid, Path, description = "The workspace's id.")),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The workspace and the caller's role.", body = WorkspaceView),
        (status = 404, description = "`not_found`: no such workspace, or the caller is not a member."),
    ),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let role = require_role(&state, &current, id, Role::Member).await?;
    let workspace = state.services().workspaces.workspace(id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(WorkspaceView { workspace, role }).into_response())
}

/// `PATCH /v1/workspaces/{id}`: renames a workspace (admins).
#[utoipa::path(
    patch,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = Uuid, Path, description = "The workspace's id.")),
    request_body = NameRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The renamed workspace.", body = Workspace),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
        (status = 403, description = "`insufficient_role`: only admins and owners rename."),
        (status = 404, description = "`not_found`: no such workspace, or the caller is not a member."),
    ),
)]
pub(crate) async fn rename(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<NameRequest>,
) -> Result<Response, ApiError> {
    require_role(&state, &current, id, Role::Admin).await?;
    let name = parse_workspace_name(&request.name).map_err(|message| field("name", message))?;
    let now = state.services().clock.now();
    let audit = event(&current, AuditAction::WorkspaceRenamed, id, &state).target("workspace", id);
    if !state.services().workspaces.rename_workspace(id, &name, now, &[audit]).await? {
        return Err(ApiError::NotFound);
    }
    let workspace = state.services().workspaces.workspace(id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(workspace).into_response())
}

/// `DELETE /v1/workspaces/{id}`: deletes a workspace with its memberships and invitations (owners).
#[utoipa::path(
    delete,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = Uuid, Path, description = "The workspace's id.")),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "The workspace is deleted."),
        (status = 403, description = "`insufficient_role`: only owners delete a workspace."),
        (status = 404, description = "`not_found`: no such workspace, or the caller is not a member."),
    ),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    delete_workspace(&state, &current, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes a workspace (owners).
pub(crate) async fn delete_workspace(state: &AppState, current: &CurrentSession, id: Uuid) -> Result<(), ApiError> {
    require_role(state, current, id, Role::Owner).await?;
    let audit = event(current, AuditAction::WorkspaceDeleted, id, state).target("workspace", id);
    let jobs = [gatehouse_event(state, "workspace.deleted", json!({ "workspace_id": id }))?];
    let members = state.services().workspaces.delete_workspace(id, &[audit], &jobs).await?.ok_or(ApiError::NotFound)?;
    state.services().enqueued(&jobs);
    for member in members {
        state.services().sessions.forget_user(member).await;
    }
    Ok(())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MemberList {
    members: Vec<Member>,
}

/// `GET /v1/workspaces/{id}/members`: the members (any member may read them).
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}/members",
    tag = "workspaces",
    params(("id" = Uuid, Path, description = "The workspace's id.")),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The members, longest-standing first.", body = MemberList),
        (status = 404, description = "`not_found`: no such workspace, or the caller is not a member."),
    ),
)]
pub(crate) async fn members(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    require_role(&state, &current, id, Role::Member).await?;
    let members = state.services().workspaces.members(id).await?;
    Ok(Json(MemberList { members }).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleRequest {
    role: Role,
}

/// `PATCH /v1/workspaces/{id}/members/{user_id}`: changes a member's role. Admins change members
/// and admins; only owners make or unmake owners.
#[utoipa::path(
    patch,
    path = "/v1/workspaces/{id}/members/{user_id}",
    tag = "workspaces",
    params(
        ("id" = Uuid, Path, description = "The workspace's id."),
        ("user_id" = Uuid, Path, description = "The member's user id."),
    ),
    request_body = RoleRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The member with the new role.", body = Member),
        (status = 403, description = "`insufficient_role`: the caller's role may not make this change."),
        (status = 404, description = "`not_found`: no such workspace or member, or the caller is not a member."),
        (status = 409, description = "`last_owner`: the change would leave the workspace without an owner."),
    ),
)]
pub(crate) async fn change_role(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<RoleRequest>,
) -> Result<Response, ApiError> {
    let member = change_member_role(&state, &current, id, user_id, request.role).await?;
    Ok(Json(member).into_response())
}

/// Gives a member a new role: admins change members and admins, only owners make or unmake owners.
pub(crate) async fn change_member_role(
    state: &AppState,
    current: &CurrentSession,
    id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<Member, ApiError> {
    let mine = require_role(state, current, id, Role::Admin).await?;
    let workspaces = &state.services().workspaces;
    let theirs = workspaces.role_of(id, user_id).await?.ok_or(ApiError::NotFound)?;
    if !mine.may_assign(theirs) || !mine.may_assign(role) {
        return Err(ApiError::InsufficientRole("only an owner may make or unmake owners"));
    }
    let audit = event(current, AuditAction::MemberRoleChanged, id, state)
        .target("user", user_id)
        .detail("from", theirs.as_str())
        .detail("to", role.as_str());
    let data = json!({ "workspace_id": id, "user_id": user_id, "from": theirs, "to": role });
    let jobs = [gatehouse_event(state, "member.role_changed", data)?];
    match workspaces.change_role(id, user_id, role, &[audit], &jobs).await? {
        MemberOutcome::Done { previous } => {
            if previous != role {
                state.services().enqueued(&jobs);
                state.services().sessions.forget_user(user_id).await;
            }
        }
        MemberOutcome::NotMember => return Err(ApiError::NotFound),
        MemberOutcome::LastOwner => return Err(ApiError::LastOwner(LAST_OWNER)),
    }
    workspaces.members(id).await?.into_iter().find(|m| m.user_id == user_id).ok_or(ApiError::NotFound)
}

/// `DELETE /v1/workspaces/{id}/members/{user_id}`: removes a member (admins; owners only by an
/// owner), or, with the caller's own id, leaves the workspace (any member).
#[utoipa::path(
    delete,
    path = "/v1/workspaces/{id}/members/{user_id}",
    tag = "workspaces",
    params(
        ("id" = Uuid, Path, description = "The workspace's id."),
        ("user_id" = Uuid, Path, description = "The member's user id; the caller's own to leave."),
    ),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "The member is removed."),
        (status = 403, description = "`insufficient_role`: the caller's role may not remove this member."),
        (status = 404, description = "`not_found`: no such workspace or member, or the caller is not a member."),
        (status = 409, description = "`last_owner`: the member is the workspace's last owner."),
    ),
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    remove_member(&state, &current, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Removes a member (admins; owners only by an owner), or with the caller's own id, leaves.
pub(crate) async fn remove_member(
    state: &AppState,
    current: &CurrentSession,
    id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let leaving = user_id == current.user.id;
    let mine = require_role(state, current, id, if leaving { Role::Member } else { Role::Admin }).await?;
    let workspaces = &state.services().workspaces;
    if !leaving {
        let theirs = workspaces.role_of(id, user_id).await?.ok_or(ApiError::NotFound)?;
        if !mine.may_assign(theirs) {
            return Err(ApiError::InsufficientRole("only an owner may remove an owner"));
        }
    }
    let audit = event(current, AuditAction::MemberRemoved, id, state).target("user", user_id).detail("left", leaving);
    let data = json!({ "workspace_id": id, "user_id": user_id, "reason": if leaving { "left" } else { "removed" } });
    let jobs = [gatehouse_event(state, "member.removed", data)?];
    match workspaces.remove_member(id, user_id, &[audit], &jobs).await? {
        MemberOutcome::Done { .. } => {
            state.services().enqueued(&jobs);
            state.services().sessions.forget_user(user_id).await;
            Ok(())
        }
        MemberOutcome::NotMember => Err(ApiError::NotFound),
        MemberOutcome::LastOwner => Err(ApiError::LastOwner(LAST_OWNER)),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct InvitationList {
    invitations: Vec<Invitation>,
}

/// `GET /v1/workspaces/{id}/invitations`: pending invitations (admins).
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}/invitations",
    tag = "workspaces",
    params(("id" = Uuid, Path, description = "The workspace's id.")),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "Invitations not yet accepted (expired ones included), newest first.",
            body = InvitationList),
        (status = 403, description = "`insufficient_role`: only admins and owners see invitations."),
        (status = 404, description = "`not_found`: no such workspace, or the caller is not a member."),
    ),
)]
pub(crate) async fn invitations(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    require_role(&state, &current, id, Role::Admin).await?;
    let invitations = state.services().workspaces.invitations(id).await?;
    Ok(Json(InvitationList { invitations }).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteRequest {
    #[schema(format = Email)]
    email: String,
    /// Defaults to `member`; only owners invite owners.
    role: Option<Role>,
}

/// `POST /v1/workspaces/{id}/invitations`: invites an address (admins). The invitation is mailed
/// through the job queue and works once, for 7 days, for a signed-in account with that verified
/// address. Inviting an address again replaces its pending invitation.
#[utoipa::path(
    post,
    path = "/v1/workspaces/{id}/invitations",
    tag = "workspaces",
    params(("id" = Uuid, Path, description = "The workspace's id.")),
    request_body = InviteRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 201, description = "The invitation (its token is only in the email).", body = Invitation),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
        (status = 403, description = "`insufficient_role`: the caller's role may not invite with this role."),
        (status = 404, description = "`not_found`: no such workspace, or the caller is not a member."),
    ),
)]
pub(crate) async fn invite(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<InviteRequest>,
) -> Result<Response, ApiError> {
    let invitation = invite_address(&state, &current, id, &request.email, request.role.unwrap_or(Role::Member)).await?;
    Ok((StatusCode::CREATED, Json(invitation)).into_response())
}

/// Invites `email` to the workspace with `role` (admins; owners only by an owner).
pub(crate) async fn invite_address(
    state: &AppState,
    current: &CurrentSession,
    id: Uuid,
    email: &str,
    role: Role,
) -> Result<Invitation, ApiError> {
    let mine = require_role(state, current, id, Role::Admin).await?;
    let email = EmailAddress::parse(email).map_err(|error| field("email", error))?;
    if !mine.may_assign(role) {
        return Err(ApiError::InsufficientRole("only an owner may invite an owner"));
    }
    let workspaces = &state.services().workspaces;
    let workspace = workspaces.workspace(id).await?.ok_or(ApiError::NotFound)?;
    let now = state.services().clock.now();
    let invitation = Invitation {
        id: Uuid::new_v4(),
        workspace_id: id,
        email: email.as_str().to_owned(),
        role,
        invited_by: Some(current.user.id),
        created_at: now,
        expires_at: now + INVITATION_LIFETIME,
    };
    let token_hash = state.services().email.link_key.token(invitation.id).hash();
    let audit = event(current, AuditAction::InvitationCreated, id, state)
        .target("invitation", invitation.id)
        .detail("email", email.masked())
        .detail("role", role.as_str());
    let jobs = [EmailJob::for_invitation(&invitation, &workspace.name, now)
        .map_err(|error| ApiError::Internal(error.to_string()))?];
    workspaces
        .create_invitation(&NewInvitation { invitation: invitation.clone(), email, token_hash }, &[audit], &jobs)
        .await?;
    state.services().enqueued(&jobs);
    Ok(invitation)
}

/// `DELETE /v1/workspaces/{id}/invitations/{invitation_id}`: withdraws an invitation (admins).
#[utoipa::path(
    delete,
    path = "/v1/workspaces/{id}/invitations/{invitation_id}",
    tag = "workspaces",
    params(
        ("id" = Uuid, Path, description = "The workspace's id."),
        ("invitation_id" = Uuid, Path, description = "The invitation's id."),
    ),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "The invitation no longer works."),
        (status = 403, description = "`insufficient_role`: only admins and owners withdraw invitations."),
        (status = 404, description = "`not_found`: no such workspace or invitation, or the caller is not a member."),
    ),
)]
pub(crate) async fn withdraw(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath((id, invitation_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    withdraw_invitation(&state, &current, id, invitation_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Withdraws a pending invitation (admins).
pub(crate) async fn withdraw_invitation(
    state: &AppState,
    current: &CurrentSession,
    id: Uuid,
    invitation_id: Uuid,
) -> Result<(), ApiError> {
    require_role(state, current, id, Role::Admin).await?;
    let audit = event(current, AuditAction::InvitationRevoked, id, state).target("invitation", invitation_id);
    if state.services().workspaces.delete_invitation(id, invitation_id, &[audit]).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptRequest {
    /// The `token` from the invitation's link.
    token: String,
}

/// `POST /v1/invitations/accept`: joins the workspace an invitation is for. The caller must be
/// signed in with the address it was sent to; accepting verifies that address.
#[utoipa::path(
    post,
    path = "/v1/invitations/accept",
    tag = "workspaces",
    request_body = AcceptRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The caller's membership (unchanged if they were a member already).",
            body = Membership),
        (status = 400, description = "`invitation_invalid`: unknown, expired or already used."),
        (status = 403, description = "`invitation_email_mismatch`: sent to another address."),
    ),
)]
pub(crate) async fn accept(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(request): ApiJson<AcceptRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(accept_invitation(&state, &current, &request.token).await?).into_response())
}

/// The invitation a token names, with its workspace's name, while it can be accepted.
pub(crate) async fn pending_invitation(state: &AppState, token: &str) -> Result<(Invitation, String), ApiError> {
    let token = RandomToken::parse(token).ok_or(ApiError::InvitationInvalid)?;
    let now = state.services().clock.now();
    state.services().workspaces.invitation_by_token(&token.hash(), now).await?.ok_or(ApiError::InvitationInvalid)
}

/// Accepts the invitation `token` names for the signed-in user.
pub(crate) async fn accept_invitation(
    state: &AppState,
    current: &CurrentSession,
    token: &str,
) -> Result<Membership, ApiError> {
    let (invitation, _) = pending_invitation(state, token).await?;
    let invited = EmailAddress::parse(&invitation.email).map_err(|_| ApiError::InvitationInvalid)?;
    if invited.normalized() != current.user.email.normalized() {
        return Err(ApiError::InvitationEmailMismatch);
    }
    let token_hash = RandomToken::parse(token).ok_or(ApiError::InvitationInvalid)?.hash();
    let id = invitation.workspace_id;
    let audit = event(current, AuditAction::MemberAdded, id, state)
        .target("user", current.user.id)
        .detail("invitation_id", invitation.id.to_string())
        .detail("role", invitation.role.as_str());
    let data = json!({ "workspace_id": id, "user_id": current.user.id, "role": invitation.role });
    let mut jobs = vec![gatehouse_event(state, "member.added", data)?];
    let mut events = vec![audit];
    if !current.user.email_verified {
        // Accepting proves the address: the same events as following a verification link.
        jobs.extend(crate::email::verification_events(state, &current.user)?);
        events.push(
            AuditEvent::new(
                AuditAction::EmailVerified,
                Actor::User(current.user.id),
                state.services().clock.now(),
                &current.client,
            )
            .target("user", current.user.id)
            .detail("email", current.user.email.masked())
            .detail("by", "invitation"),
        );
    }
    let now = state.services().clock.now();
    let outcome = state
        .services()
        .workspaces
        .accept_invitation(&token_hash, current.user.id, current.user.email.normalized(), now, &events, &jobs)
        .await?;
    match outcome {
        Acceptance::Joined(membership) => {
            state.services().enqueued(&jobs);
            state.services().sessions.forget_user(current.user.id).await;
            Ok(membership)
        }
        Acceptance::Invalid => Err(ApiError::InvitationInvalid),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchRequest {
    /// A workspace the user is a member of, or `null` for none.
    workspace_id: Option<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ActiveWorkspaceView {
    /// The active workspace and the role in it; absent when none is chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace: Option<ActiveWorkspace>,
}

/// `POST /v1/session/workspace`: chooses the workspace this session acts in. `GET /v1/session`,
/// access tokens (`wid`, `role`) and forward-auth (`Remote-Groups`) then carry it.
#[utoipa::path(
    post,
    path = "/v1/session/workspace",
    tag = "sessions",
    request_body = SwitchRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The session's active workspace.", body = ActiveWorkspaceView),
        (status = 404, description = "`not_found`: the user is not a member of that workspace."),
    ),
)]
pub(crate) async fn switch(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(request): ApiJson<SwitchRequest>,
) -> Result<Response, ApiError> {
    let services = state.services();
    let workspace = match request.workspace_id {
        Some(id) => {
            let role = services.workspaces.role_of(id, current.user.id).await?.ok_or(ApiError::NotFound)?;
            Some(ActiveWorkspace { id, role })
        }
        None => None,
    };
    if !services.workspaces.set_active_workspace(current.session.id, request.workspace_id).await? {
        return Err(ApiError::NotFound);
    }
    services.sessions.forget(&[current.token_hash]).await;
    Ok(Json(ActiveWorkspaceView { workspace }).into_response())
}
