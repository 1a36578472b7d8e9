//! The signed-in user's linked identities: list, link another, unlink.
//!
//! Linking starts the same flow as signing in, bound to the current session; its callback links
//! the identity to this account instead of signing in. Unlinking refuses to leave an account with
//! no password and no identity, which would lock its owner out.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::oauth::{Identity, StatePurpose, Unlinked};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::sessions::CurrentSession;
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct IdentityList {
    identities: Vec<Identity>,
}

/// `GET /v1/me/identities`: the provider identities linked to the signed-in account.
#[utoipa::path(
    get,
    path = "/v1/me/identities",
    tag = "oauth",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The linked identities, oldest first.", body = IdentityList)),
)]
pub(crate) async fn list(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let identities = state.services().oauth.identities.identities_of_user(current.user.id).await?;
    Ok(Json(IdentityList { identities }).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkRequest {
    /// Where the provider's callback sends the browser; must match `server.redirect_allowlist`.
    /// Defaults to the public URL.
    redirect_to: Option<String>,
    /// Space-separated scopes beyond sign-in, each configured for the provider; default all.
    scopes: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LinkStarted {
    /// Send the browser here (a top-level navigation, so the binding cookie set by this answer
    /// comes back with the callback).
    url: String,
}

/// `POST /v1/me/identities/{provider}`: starts linking a provider identity to this account.
///
/// The path segment is named `id` in the route table because `DELETE` on the same path takes an
/// identity's id, and one path may have only one parameter name.
#[utoipa::path(
    post,
    path = "/v1/me/identities/{id}",
    tag = "oauth",
    params(("id" = String, Path, description = "The name of a configured provider to link, such as `google`.")),
    request_body = LinkRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The provider URL to send the browser to; sets the `gatehouse_oauth` cookie.",
            body = LinkStarted, headers(("set-cookie" = String, description = "The browser-binding cookie."))),
        (status = 400, description = "`redirect_not_allowed`: `redirect_to` is not in the allowlist. \
            `scope_not_allowed`: a scope is not configured for the provider."),
        (status = 503, description = "`provider_unavailable`: the provider cannot be reached."),
    ),
)]
pub(crate) async fn start_link(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(provider): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LinkRequest>,
) -> Result<Response, ApiError> {
    let (url, cookie) =
        begin_link(&state, &current, &provider, body.redirect_to.as_deref(), body.scopes.as_deref(), &headers).await?;
    let mut response = Json(LinkStarted { url }).into_response();
    response.headers_mut().append(http::header::SET_COOKIE, cookie);
    Ok(response)
}

/// Starts a flow that links `provider` to the signed-in account: the provider URL and the cookie
/// that binds the flow to this browser.
pub(crate) async fn begin_link(
    state: &AppState,
    current: &CurrentSession,
    provider: &str,
    redirect_to: Option<&str>,
    scopes: Option<&str>,
    headers: &HeaderMap,
) -> Result<(String, http::HeaderValue), ApiError> {
    let oauth = &state.services().oauth;
    let provider = oauth.provider(provider)?;
    let redirect_to = oauth.allowlist.check(redirect_to).map_err(|_| ApiError::RedirectNotAllowed)?;
    let scopes = provider.info().scopes_for(scopes).map_err(ApiError::ScopeNotAllowed)?;
    let purpose = StatePurpose::Link { user_id: current.user.id, session_id: current.session.id };
    crate::oauth::begin(state, provider.as_ref(), redirect_to.as_str(), scopes, None, purpose, headers).await
}

/// `DELETE /v1/me/identities/{id}`: unlinks an identity, unless it is the account's last way to
/// sign in.
#[utoipa::path(
    delete,
    path = "/v1/me/identities/{id}",
    tag = "oauth",
    params(("id" = Uuid, Path, description = "The identity's id.")),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "Unlinked."),
        (status = 409, description = "`last_sign_in_method`: the account has no password and no other identity."),
    ),
)]
pub(crate) async fn unlink(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    unlink_identity(&state, &current, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Unlinks one of the account's identities, unless it is the last way to sign in.
pub(crate) async fn unlink_identity(state: &AppState, current: &CurrentSession, id: Uuid) -> Result<(), ApiError> {
    let services = state.services();
    let not_linked = ApiError::Missing("no identity with that id is linked to this account");
    let identities = services.oauth.identities.identities_of_user(current.user.id).await?;
    let Some(identity) = identities.into_iter().find(|identity| identity.id == id) else { return Err(not_linked) };
    let now = services.clock.now();
    let event = AuditEvent::new(AuditAction::IdentityUnlinked, Actor::User(current.user.id), now, &current.client)
        .target("identity", id)
        .detail("provider", identity.provider.as_str());
    let data = json!({ "user_id": current.user.id, "identity_id": id, "provider": identity.provider });
    let jobs = [gatehouse_event(state, "identity.unlinked", data)?];
    match services.oauth.identities.unlink_identity(current.user.id, id, &jobs, &[event]).await? {
        Unlinked::Done(_) => {
            services.enqueued(&jobs);
            Ok(())
        }
        Unlinked::NotFound => Err(not_linked),
        Unlinked::LastSignInMethod => Err(ApiError::LastSignInMethod),
    }
}
