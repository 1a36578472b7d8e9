//! The account page's self-service forms (name, password, email address) and the pages the
//! email-change links open. Each calls the function its JSON twin calls (`profile::set_name`,
//! `profile::change`, `profile::ask_email_change`, `profile::confirm`, `profile::undo`); a form
//! that fails shows the account page again with the error next to its field.

use axum::extract::State;
use axum::response::Response;
use gatehouse_core::email::LinkPurpose;
use http::HeaderMap;

use super::account::{back, render_account, sign_in_first};
use super::forms::{Form, Query};
use super::sign_in::{PageResult, link_page, press};
use super::with_return_to;
use crate::error::ApiError;
use crate::profile::{ChangePasswordRequest, EmailChangeRequest};
use crate::rate_limit::RateLimitHeaders;
use crate::sessions::{Client, CurrentSession, session_cookie};
use crate::state::AppState;

/// Runs a form's action; on success back to the page with `notice`, on failure the page again
/// with the error shown where it belongs and what was typed (never a password) kept.
async fn form_action<F, Fut>(
    state: AppState,
    current: Result<CurrentSession, ApiError>,
    kept: &[(&str, &str)],
    action: F,
) -> Response
where
    F: FnOnce(AppState, CurrentSession) -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, ApiError>>,
{
    let current = match current {
        Ok(current) => current,
        Err(ApiError::Unauthenticated(_)) => return sign_in_first(&state),
        Err(other) => return back(&state, Err(other)),
    };
    match action(state.clone(), current.clone()).await {
        Ok(notice) => back(&state, Ok(notice)),
        Err(error) => match render_account(&state, &current, None, Some((&error, kept))).await {
            Ok(page) => page,
            Err(failure) => back(&state, Err(failure)),
        },
    }
}

/// `POST /account/profile`: saves the display name.
pub(super) async fn save_profile(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> Response {
    let name = form.text("name").to_owned();
    let typed = name.clone();
    form_action(state, current, &[("name", &typed)], |state, current| async move {
        crate::profile::set_name(&state, &current, Some(&name)).await?;
        Ok("profile_saved")
    })
    .await
}

/// `POST /account/password`: changes the password, or sets a first one.
pub(super) async fn change_password(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> Response {
    let body = ChangePasswordRequest {
        current_password: form.get("current_password").filter(|p| !p.is_empty()).map(str::to_owned),
        new_password: form.text("new_password").to_owned(),
        // A checkbox: present when ticked (the default), absent when not.
        sign_out_other_sessions: Some(form.get("sign_out_other_sessions").is_some()),
    };
    form_action(state, current, &[], |state, current| async move {
        let mut limits = RateLimitHeaders::default();
        crate::profile::change(&state, &current, &body, &mut limits).await.map_err(|error| match error {
            // Shown at the form's own field, not at the other forms' `password`.
            ApiError::InvalidCredentials => ApiError::Validation(vec![crate::error::FieldError {
                field: "current_password".into(),
                message: "is not right".into(),
            }]),
            other => other,
        })?;
        Ok("password_changed")
    })
    .await
}

/// `POST /account/email`: mails a confirmation link to the new address.
pub(super) async fn change_email(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> Response {
    let body = EmailChangeRequest {
        new_email: form.text("new_email").to_owned(),
        current_password: form.get("email_password").filter(|p| !p.is_empty()).map(str::to_owned),
    };
    let typed = body.new_email.clone();
    form_action(state, current, &[("new_email", &typed)], |state, current| async move {
        let mut limits = RateLimitHeaders::default();
        crate::profile::ask_email_change(&state, &current, &body, &mut limits).await?;
        Ok("email_change_sent")
    })
    .await
}

/// `POST /account/email/cancel`: cancels the pending change.
pub(super) async fn cancel_email_change(
    State(state): State<AppState>,
    current: Result<CurrentSession, ApiError>,
) -> Response {
    form_action(state, current, &[], |state, current| async move {
        crate::profile::cancel(&state, &current).await?;
        Ok("email_change_cancelled")
    })
    .await
}

/// `GET /email-change?token=…`: the button that confirms a new address.
pub(super) async fn confirm_page(State(state): State<AppState>, query: Query, headers: HeaderMap) -> PageResult {
    link_page(&state, &query, &headers, "email_change.html", LinkPurpose::EmailChange).await
}

/// `POST /email-change`: makes the change. It applies to the account the link was issued for,
/// whoever is signed in here; the notice says when that is another account.
pub(super) async fn confirm(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> PageResult {
    let (state, client, token) = (&state, &client, form.text("token"));
    press(state, &headers, &form, "email_change.html", move |_| async move {
        let changed = crate::profile::confirm(state, client, token).await?;
        let location = match current {
            Ok(current) if current.user.id == changed.user.id => {
                with_return_to("/account", None, &[("notice", "email_changed")])
            }
            Ok(_) => with_return_to("/account", None, &[("notice", "email_changed_other_account")]),
            Err(_) => with_return_to("/login", None, &[("notice", "email_changed")]),
        };
        Ok((location, Vec::new()))
    })
    .await
}

/// `GET /email-change/undo?token=…`: the button that undoes a change, from the old inbox.
pub(super) async fn undo_page(State(state): State<AppState>, query: Query, headers: HeaderMap) -> PageResult {
    link_page(&state, &query, &headers, "email_change_undo.html", LinkPurpose::EmailChangeUndo).await
}

/// `POST /email-change/undo`: restores the old address, signs everyone out, and on to sign in
/// (a reset link is on its way to the restored address).
pub(super) async fn undo(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    let (state, client, token) = (&state, &client, form.text("token"));
    press(state, &headers, &form, "email_change_undo.html", move |_| async move {
        crate::profile::undo(state, client, token).await?;
        let location = with_return_to("/login", None, &[("notice", "email_change_undone")]);
        Ok((location, vec![session_cookie(state, None)]))
    })
    .await
}
