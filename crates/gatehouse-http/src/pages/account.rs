//! The account page: profile, sessions, sign-in methods and connected accounts, each action a
//! form post (with the session's CSRF token, checked by the CSRF layer) answered by a 303 back to
//! the page with a notice or an error code, so a reload never repeats an action.

use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use serde_json::json;
use uuid::Uuid;

use super::forms::{Form, Query};
use super::sign_in::known;
use super::sign_in::typed_answer;
use super::{Page, accepts_html, see_other, with_return_to};
use crate::csrf::session_token_and_cookie;
use crate::email::{link_ip_limit, verify_own_address};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::identities::{begin_link, unlink_identity};
use crate::mfa::{Proof, begin_enrolment, confirm_enrolment, regenerate, remove, step_up};
use crate::privacy::{erase_user, reauthenticate};
use crate::rate_limit::RateLimitHeaders;
use crate::sessions::{CurrentSession, revoke_all_others, revoke_one, session_cookie};
use crate::state::AppState;
use crate::vault::disconnect_provider;
use crate::workspaces::pending_invitation;
use gatehouse_core::audit::Actor;
use gatehouse_core::devices::describe_user_agent;

/// Signed out: to sign in, and back here afterwards.
pub(super) fn sign_in_first(state: &AppState) -> Response {
    see_other(state, "/login", Vec::new())
}

/// `GET /account`.
pub(super) async fn page(
    State(state): State<AppState>,
    query: Query,
    headers: HeaderMap,
    current: Result<CurrentSession, ApiError>,
) -> Result<Response, ApiError> {
    if !accepts_html(&headers) {
        return Err(ApiError::NotAcceptable);
    }
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => return Ok(sign_in_first(&state)),
        Err(other) => return Err(other),
    };
    render_account(&state, &current, Some(&query), None).await
}

/// The account page: with the notice or error code a redirect back carried (`query`), or with
/// a form's failure shown next to its field and what was typed in it kept (`failed`).
pub(super) async fn render_account(
    state: &AppState,
    current: &CurrentSession,
    query: Option<&Query>,
    failed: Option<(&ApiError, &[(&str, &str)])>,
) -> Result<Response, ApiError> {
    let services = state.services();
    let pages = super::pages(state)?;
    let sessions = services.sessions.sessions_of_user(current.user.id).await?;
    let identities = services.oauth.identities.identities_of_user(current.user.id).await?;
    let connections = services.vault.store.connections_of_user(current.user.id).await?;
    let display = |provider: &str| {
        services
            .oauth
            .provider(provider)
            .map_or_else(|_| provider.to_owned(), |client| client.info().display_name.clone())
    };
    let unknown_device = pages.say("account.unknown_device", &[]);
    let sessions: Vec<_> = sessions
        .iter()
        .map(|session| {
            json!({
                "id": session.id,
                "current": session.id == current.session.id,
                "device": session.user_agent.as_deref().map_or_else(|| unknown_device.clone(), |agent| describe_user_agent(Some(agent))),
                "created_at": session.created_at.format(&time::format_description::well_known::Rfc3339).ok(),
                "created_at_text": readable(session.created_at),
                "ip": session.ip.map(|ip| ip.to_string()),
            })
        })
        .collect();
    let providers: Vec<_> = services
        .oauth
        .providers
        .values()
        .map(|client| {
            let info = client.info();
            let linked = identities.iter().any(|identity| identity.provider == info.name);
            json!({ "name": info.name.as_str(), "display_name": info.display_name, "linked": linked })
        })
        .collect();
    let identities: Vec<_> = identities
        .iter()
        .map(|identity| {
            json!({ "id": identity.id, "display_name": display(identity.provider.as_str()), "email": identity.email })
        })
        .collect();
    let connections: Vec<_> = connections
        .iter()
        .map(|sealed| {
            let connection = sealed.public();
            json!({
                "provider": connection.provider.as_str(),
                "display_name": display(connection.provider.as_str()),
                "status": connection.status,
                "scopes": connection.scopes,
            })
        })
        .collect();
    let pending_email = services.links.pending_email_change(current.user.id, services.clock.now()).await?;
    let user = json!({
        "email": current.user.email.as_str(),
        "email_verified": current.user.email_verified,
        "name": current.user.name,
        "created_at": current.user.created_at.format(&time::format_description::well_known::Rfc3339).ok(),
        "created_at_text": readable(current.user.created_at),
        "pending_email": pending_email.map(|pending| json!({
            "new_email": pending.new_email,
            "expires_at_text": readable(pending.expires_at),
        })),
    });
    let workspaces: Vec<_> = services
        .workspaces
        .memberships_of_user(current.user.id)
        .await?
        .iter()
        .map(|membership| {
            json!({
                "id": membership.workspace_id,
                "name": membership.name,
                "role": membership.role.as_str(),
                "manages": membership.role >= gatehouse_core::workspaces::Role::Admin,
            })
        })
        .collect();
    let mfa = security_view(state, current).await?;
    let extra = json!({ "user": user, "sessions": sessions, "providers": providers, "identities": identities,
        "connections": connections, "workspaces": workspaces, "mfa": mfa,
        "reauth_minutes": state.session_policy().reauth_window.as_secs().div_ceil(60) });
    let (token, cookie) = session_token_and_cookie(state, current);
    let mut page = Page::new("account.html", extra).cookie(cookie);
    page.csrf_token = token;
    if let Some(query) = query {
        page = page.notice(known(state, "account", query.get("notice")));
        page.error = known(state, "errors", query.get("error"));
    }
    if let Some((error, kept)) = failed {
        for (field, value) in kept {
            page = page.keep(field, value);
        }
        page = page.failed(pages, error);
    }
    Ok(page.render(state))
}

/// The two-step section: whether the sign-in is fresh enough for changes (else the page asks
/// for the password or a code first), the app and its recovery codes, and an app being added
/// (its QR code and secret, shown only to a fresh session).
async fn security_view(state: &AppState, current: &CurrentSession) -> Result<serde_json::Value, ApiError> {
    let services = state.services();
    let fresh = crate::mfa::require_recent(state, current).is_ok();
    let factors = services.mfa.store.factors(current.user.id).await?;
    let has_password = services
        .accounts
        .credentials_by_email(current.user.email.normalized())
        .await?
        .is_some_and(|credentials| credentials.password_hash.is_some());
    let pending = match &factors.totp {
        Some(totp) if totp.confirmed_at.is_none() && fresh => {
            let enrolment = crate::mfa::pending_enrolment(state, current).await?;
            enrolment.map(|(secret, uri)| json!({ "secret": spaced(&secret), "qr_svg": qr_svg(&uri) }))
        }
        _ => None,
    };
    let app = factors.totp.as_ref().filter(|totp| totp.confirmed_at.is_some()).map(|totp| {
        json!({
            "created_at_text": readable(totp.created_at),
            "last_used_text": totp.last_used_at.map(readable),
        })
    });
    let passkeys: Vec<_> = factors
        .passkeys
        .iter()
        .map(|passkey| {
            json!({
                "id": passkey.id,
                "name": passkey.name,
                "backup_eligible": passkey.backup_eligible,
                "created_at_text": readable(passkey.created_at),
                "last_used_text": passkey.last_used_at.map(readable),
            })
        })
        .collect();
    Ok(json!({
        "fresh": fresh,
        "has_password": has_password,
        "app": app,
        "passkeys_on": services.mfa.passkeys.is_ok(),
        "passkeys": passkeys,
        "pending": pending,
        "recovery_codes_left": factors.recovery_codes_left,
    }))
}

/// A base32 secret in groups of four, as a person types it.
fn spaced(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars.chunks(4).map(|chunk| chunk.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// The `otpauth://` URI as an inline SVG QR code (no script, no image request, so the page's CSP
/// stays as it is).
fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build();
    // The XML prolog has no place inside HTML.
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen("<svg ", "<svg role=\"img\" aria-labelledby=\"qr-label\" ", 1))
}

/// "2026-12-03 07:16 UTC".
pub(super) fn readable(at: time::OffsetDateTime) -> String {
    gatehouse_core::clock::readable_utc(at)
}

/// Back to the account page: with a notice on success, an error code otherwise.
pub(super) fn back(state: &AppState, outcome: Result<&str, ApiError>) -> Response {
    back_to_page(state, "/account", outcome)
}

/// Back to `path`, a signed-in page: with a notice on success, an error code otherwise.
pub(super) fn back_to_page(state: &AppState, path: &str, outcome: Result<&str, ApiError>) -> Response {
    let location = match outcome {
        Ok(notice) => with_return_to(path, None, &[("notice", notice)]),
        Err(error) => {
            if error.status().is_server_error() {
                tracing::error!(code = error.code(), error = %error, page = path, "a page action failed");
            }
            with_return_to(path, None, &[("error", error.code())])
        }
    };
    see_other(state, &location, Vec::new())
}

/// Runs `action` for the signed-in user and goes back to the account page.
async fn act<F, Fut>(state: AppState, current: Result<CurrentSession, ApiError>, action: F) -> Response
where
    F: FnOnce(AppState, CurrentSession) -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, ApiError>>,
{
    act_on(state, current, "/account", action).await
}

/// Runs `action` for the signed-in user and goes back to `path`; signed out, to sign in.
pub(super) async fn act_on<F, Fut>(
    state: AppState,
    current: Result<CurrentSession, ApiError>,
    path: &str,
    action: F,
) -> Response
where
    F: FnOnce(AppState, CurrentSession) -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, ApiError>>,
{
    match current {
        Ok(current) => {
            let outcome = action(state.clone(), current).await;
            back_to_page(&state, path, outcome)
        }
        Err(ApiError::Unauthenticated(_)) => sign_in_first(&state),
        Err(other) => back_to_page(&state, path, Err(other)),
    }
}

/// `POST /account/verification`: mails a new confirmation link, within the API's limits.
pub(super) async fn resend_verification(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
) -> Response {
    act(state, current, |state, current| async move {
        if current.user.email_verified {
            return Ok("verified_signed_in");
        }
        let mut limits = RateLimitHeaders::default();
        link_ip_limit(&state, &current.client, "email", "verification_ip", &mut limits).await?;
        verify_own_address(&state, &current.user, &current.client, &mut limits).await?;
        Ok("verification_sent")
    })
    .await
}

/// `POST /account/sessions/{id}/revoke`.
pub(super) async fn revoke_session(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(id): ApiPath<Uuid>,
) -> Response {
    act(state, current, |state, current| async move {
        revoke_one(&state, &current, id).await?;
        Ok("session_ended")
    })
    .await
}

/// `POST /account/sessions/revoke-others`.
pub(super) async fn revoke_others(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
) -> Response {
    act(state, current, |state, current| async move {
        revoke_all_others(&state, &current).await?;
        Ok("others_ended")
    })
    .await
}

/// `POST /account/identities/{provider}/link`: on to the provider, and back to this page.
pub(super) async fn link(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(provider): ApiPath<String>,
    headers: HeaderMap,
) -> Response {
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => return sign_in_first(&state),
        Err(other) => return back(&state, Err(other)),
    };
    let back_here = format!("{}/account", state.services().oauth.public_url);
    match begin_link(&state, &current, &provider, Some(&back_here), None, &headers).await {
        Ok((url, cookie)) => see_other(&state, &url, vec![cookie]),
        Err(error) => back(&state, Err(error)),
    }
}

/// `POST /account/identities/{id}/unlink`.
pub(super) async fn unlink(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(id): ApiPath<Uuid>,
) -> Response {
    act(state, current, |state, current| async move {
        unlink_identity(&state, &current, id).await?;
        Ok("unlinked")
    })
    .await
}

/// `POST /account/connections/{provider}/disconnect`.
pub(super) async fn disconnect(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(provider): ApiPath<String>,
) -> Response {
    act(state, current, |state, current| async move {
        disconnect_provider(&state, &current, &provider).await?;
        Ok("disconnected")
    })
    .await
}

/// `POST /account/reauthenticate`: the password or a code, so the next 5 minutes may change
/// the sign-in settings.
pub(super) async fn confirm_identity(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> Response {
    act(state, current, |state, current| async move {
        let mut limits = RateLimitHeaders::default();
        let proof = match (form.get("password").filter(|p| !p.is_empty()), form.get("code")) {
            (Some(password), _) => Proof::Password(password),
            (None, Some(code)) => Proof::Factor(typed_answer(code).ok_or(ApiError::InvalidCode)?),
            (None, None) => return Err(ApiError::ReauthenticationRequired("no password or code")),
        };
        step_up(&state, &current, proof, &mut limits).await?;
        Ok("reauthenticated")
    })
    .await
}

/// `POST /account/mfa/totp`: starts adding an authenticator app; the page then shows its QR code.
pub(super) async fn start_totp(State(state): State<AppState>, current: Result<CurrentSession, ApiError>) -> Response {
    act(state, current, |state, current| async move {
        begin_enrolment(&state, &current).await?;
        Ok("totp_started")
    })
    .await
}

/// `POST /account/mfa/totp/confirm`: the app's first code turns it on; the recovery codes are
/// shown now, once.
pub(super) async fn confirm_totp(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> Response {
    let code = form.text("code").to_owned();
    show_codes(state, current, |state, current| async move { confirm_enrolment(&state, &current, &code).await }).await
}

/// Runs `make` for the signed-in user and shows the recovery codes it returns: a page, not a
/// redirect, and never cached, so the codes are seen this once. A failure goes back to the page.
async fn show_codes<F, Fut>(state: AppState, current: Result<CurrentSession, ApiError>, make: F) -> Response
where
    F: FnOnce(AppState, CurrentSession) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, ApiError>>,
{
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => return sign_in_first(&state),
        Err(other) => return back(&state, Err(other)),
    };
    match make(state.clone(), current).await {
        Ok(codes) => Page::new("recovery_codes.html", json!({ "codes": codes })).render(&state),
        Err(error) => back(&state, Err(error)),
    }
}

/// `POST /account/mfa/totp/remove`: removes the app (or one being added) and the recovery codes.
pub(super) async fn remove_totp(State(state): State<AppState>, current: Result<CurrentSession, ApiError>) -> Response {
    act(state, current, |state, current| async move {
        remove(&state, &current).await?;
        Ok("totp_removed")
    })
    .await
}

/// `POST /account/mfa/recovery-codes`: ten new recovery codes, shown once.
pub(super) async fn new_recovery_codes(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
) -> Response {
    show_codes(state, current, |state, current| async move { regenerate(&state, &current).await }).await
}

/// `POST /account/passkeys/{id}/rename`.
pub(super) async fn rename_passkey(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(id): ApiPath<Uuid>,
    form: Form,
) -> Response {
    let name = form.text("name").to_owned();
    act(state, current, |state, current| async move {
        crate::passkeys::rename_passkey(&state, &current, id, &name).await?;
        Ok("passkey_renamed")
    })
    .await
}

/// `POST /account/passkeys/{id}/delete`: needs a fresh sign-in, as the API does.
pub(super) async fn delete_passkey(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    ApiPath(id): ApiPath<Uuid>,
) -> Response {
    act(state, current, |state, current| async move {
        crate::passkeys::delete_passkey(&state, &current, id).await?;
        Ok("passkey_deleted")
    })
    .await
}

/// `POST /account/delete`: erases the account, after the same reauthentication as `DELETE /v1/me`.
pub(super) async fn delete(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> Response {
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => return sign_in_first(&state),
        Err(other) => return back(&state, Err(other)),
    };
    let password = form.get("password").filter(|p| !p.is_empty());
    let mut limits = RateLimitHeaders::default();
    let outcome = async {
        reauthenticate(&state, &current, password, &mut limits).await?;
        erase_user(&state, current.user.id, Actor::User(current.user.id), &current.client).await
    }
    .await;
    match outcome {
        Ok(()) => {
            let location = with_return_to("/login", None, &[("notice", "account_deleted")]);
            see_other(&state, &location, vec![session_cookie(&state, None)])
        }
        Err(error) => back(&state, Err(error)),
    }
}

/// `GET /invitation?token=…`: the invitation an email carried, to accept signed in with the
/// address it was sent to. Signed out: sign in first, and back here.
pub(super) async fn invitation_page(
    State(state): State<AppState>,
    query: Query,
    headers: HeaderMap,
    current: Result<CurrentSession, ApiError>,
) -> Result<Response, ApiError> {
    if !accepts_html(&headers) {
        return Err(ApiError::NotAcceptable);
    }
    let token = query.get("token").unwrap_or_default().to_owned();
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => {
            let here = format!("{}/invitation?token={}", state.services().oauth.public_url, urlencode(&token));
            return Ok(see_other(&state, &with_return_to("/login", Some(&here), &[]), Vec::new()));
        }
        Err(other) => return Err(other),
    };
    Ok(invitation_view(&state, &current, &token, None).await)
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The invitation page for `token`, with `error` (from a press of its button) if any.
async fn invitation_view(state: &AppState, current: &CurrentSession, token: &str, error: Option<ApiError>) -> Response {
    let found = pending_invitation(state, token).await;
    let invitation = found.as_ref().ok().map(|(invitation, workspace)| {
        json!({ "workspace": workspace, "role": invitation.role.as_str(), "email": invitation.email })
    });
    let (csrf, cookie) = session_token_and_cookie(state, current);
    let mut page = Page::new("invitation.html", json!({ "token": token, "invitation": invitation })).cookie(cookie);
    page.csrf_token = csrf;
    let error = error.or_else(|| found.err());
    match (error, super::pages(state)) {
        (Some(error), Ok(pages)) => page.failed(pages, &error).render(state),
        _ => page.render(state),
    }
}

/// `POST /invitation`: joins the workspace, then on to the account page.
pub(super) async fn accept_invitation(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> Response {
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => return sign_in_first(&state),
        Err(other) => return back(&state, Err(other)),
    };
    let token = form.text("token").to_owned();
    match crate::workspaces::accept_invitation(&state, &current, &token).await {
        Ok(_) => back(&state, Ok("invitation_accepted")),
        Err(error) => invitation_view(&state, &current, &token, Some(error)).await,
    }
}
