//! The workspace pages: create one from the account page; a workspace's page lists its members
//! and (for admins and owners) its pending invitations, and carries the forms to invite, change
//! roles, remove members, leave, and (owners) delete it. Every action calls the function the JSON
//! API calls (`workspaces::invite_address`, `change_member_role`, …), so the rules and error codes
//! (last owner, insufficient role) are the API's.

use axum::extract::State;
use axum::response::Response;
use gatehouse_core::workspaces::Role;
use http::HeaderMap;
use serde_json::json;
use uuid::Uuid;

use super::account::{act_on, back, back_to_page, readable, sign_in_first};
use super::forms::{Form, Query};
use super::sign_in::known;
use super::{Page, accepts_html};
use crate::csrf::session_token_and_cookie;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::sessions::CurrentSession;
use crate::state::AppState;
use crate::workspaces::{
    change_member_role, create_workspace, delete_workspace, invite_address, remove_member, require_role,
    withdraw_invitation,
};

/// Back to the workspace's page with a notice, or with the error's code.
fn back_to(state: &AppState, id: Uuid, outcome: Result<&str, ApiError>) -> Response {
    back_to_page(state, &format!("/workspaces/{id}"), outcome)
}

/// `POST /account/workspaces`: creates a workspace, then its page.
pub(super) async fn create(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> Response {
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => return sign_in_first(&state),
        Err(other) => return back(&state, Err(other)),
    };
    match create_workspace(&state, &current, form.text("workspace_name")).await {
        Ok(workspace) => back_to(&state, workspace.id, Ok("workspace_created")),
        Err(error) => back(&state, Err(error)),
    }
}

/// `GET /workspaces/{id}`: the workspace for a member; 404 for anyone else.
pub(super) async fn page(
    State(state): State<AppState>,
    query: Query,
    headers: HeaderMap,
    current: Result<CurrentSession, ApiError>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    if !accepts_html(&headers) {
        return Err(ApiError::NotAcceptable);
    }
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => return Ok(sign_in_first(&state)),
        Err(other) => return Err(other),
    };
    let role = require_role(&state, &current, id, Role::Member).await?;
    let store = &state.services().workspaces;
    let workspace = store.workspace(id).await?.ok_or(ApiError::NotFound)?;
    let members: Vec<_> = store
        .members(id)
        .await?
        .iter()
        .map(|member| {
            json!({
                "user_id": member.user_id,
                "email": member.email,
                "name": member.name,
                "role": member.role.as_str(),
                "you": member.user_id == current.user.id,
                // What this viewer may do to this member, as the API decides it.
                "manageable": role >= Role::Admin && member.user_id != current.user.id && role.may_assign(member.role),
                "joined_text": readable(member.joined_at),
            })
        })
        .collect();
    let invitations: Vec<_> = if role >= Role::Admin {
        store
            .invitations(id)
            .await?
            .iter()
            .map(|invitation| {
                json!({
                    "id": invitation.id,
                    "email": invitation.email,
                    "role": invitation.role.as_str(),
                    "expires_text": readable(invitation.expires_at),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let assignable: Vec<&str> = Role::ALL.into_iter().filter(|r| role.may_assign(*r)).map(Role::as_str).collect();
    let extra = json!({
        "workspace": { "id": workspace.id, "name": workspace.name },
        "role": role.as_str(),
        "is_admin": role >= Role::Admin,
        "is_owner": role == Role::Owner,
        "members": members,
        "invitations": invitations,
        "assignable": assignable,
    });
    let (token, cookie) = session_token_and_cookie(&state, &current);
    let mut page =
        Page::new("workspace.html", extra).cookie(cookie).notice(known(&state, "workspace", query.get("notice")));
    page.csrf_token = token;
    page.error = known(&state, "errors", query.get("error"));
    Ok(page.render(&state))
}

/// Runs a workspace action for the signed-in user and goes back to the workspace's page.
async fn act<F, Fut>(state: AppState, current: Result<CurrentSession, ApiError>, id: Uuid, action: F) -> Response
where
    F: FnOnce(AppState, CurrentSession) -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, ApiError>>,
{
    act_on(state, current, &format!("/workspaces/{id}"), action).await
}

/// A role from a form, or `validation_failed`.
fn role_of(form: &Form) -> Result<Role, ApiError> {
    let text = form.text("role");
    Role::ALL.into_iter().find(|role| role.as_str() == text).ok_or_else(|| {
        ApiError::Validation(vec![crate::error::FieldError {
            field: "role".into(),
            message: "is not one of member, admin, owner".into(),
        }])
    })
}

/// `POST /workspaces/{id}/invitations`: invites an address.
pub(super) async fn invite(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(id): ApiPath<Uuid>,
    form: Form,
) -> Response {
    let email = form.text("email").to_owned();
    let role = role_of(&form);
    act(state, current, id, |state, current| async move {
        invite_address(&state, &current, id, &email, role?).await?;
        Ok("invited")
    })
    .await
}

/// `POST /workspaces/{id}/invitations/{invitation_id}/withdraw`.
pub(super) async fn withdraw(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath((id, invitation_id)): ApiPath<(Uuid, Uuid)>,
) -> Response {
    act(state, current, id, |state, current| async move {
        withdraw_invitation(&state, &current, id, invitation_id).await?;
        Ok("invitation_withdrawn")
    })
    .await
}

/// `POST /workspaces/{id}/members/{user_id}/role`.
pub(super) async fn change_role(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
    form: Form,
) -> Response {
    let role = role_of(&form);
    act(state, current, id, |state, current| async move {
        change_member_role(&state, &current, id, user_id, role?).await?;
        Ok("role_changed")
    })
    .await
}

/// `POST /workspaces/{id}/members/{user_id}/remove`.
pub(super) async fn remove(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> Response {
    act(state, current, id, |state, current| async move {
        remove_member(&state, &current, id, user_id).await?;
        Ok("member_removed")
    })
    .await
}

/// Runs an action that ends the viewer's membership; back to the account page when it worked.
async fn away<F, Fut>(state: AppState, current: Result<CurrentSession, ApiError>, id: Uuid, action: F) -> Response
where
    F: FnOnce(AppState, CurrentSession) -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, ApiError>>,
{
    match current {
        Ok(current) => match action(state.clone(), current).await {
            Ok(notice) => back(&state, Ok(notice)),
            Err(error) => back_to(&state, id, Err(error)),
        },
        Err(ApiError::Unauthenticated(_)) => sign_in_first(&state),
        Err(other) => back_to(&state, id, Err(other)),
    }
}

/// `POST /workspaces/{id}/leave`: the viewer leaves (not the last owner).
pub(super) async fn leave(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(id): ApiPath<Uuid>,
) -> Response {
    away(state, current, id, |state, current| async move {
        remove_member(&state, &current, id, current.user.id).await?;
        Ok("workspace_left")
    })
    .await
}

/// `POST /workspaces/{id}/delete`: owners delete the workspace.
pub(super) async fn delete(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(id): ApiPath<Uuid>,
) -> Response {
    away(state, current, id, |state, current| async move {
        delete_workspace(&state, &current, id).await?;
        Ok("workspace_deleted")
    })
    .await
}
