//! The signed-out pages: sign-in (password, provider, email link), sign-up, sign-out, and the
//! pages an emailed link opens (verify, reset, sign in). A link's page checks the link without
//! spending it and asks for a button press, so a mail scanner that fetches the link spends nothing.

use axum::extract::State;
use axum::response::Response;
use gatehouse_core::email::LinkPurpose;
use http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::forms::{Form, Query};
use super::{
    Page, accepts_html, allowed_return_to, destination, form_binding, form_token_valid, pages, see_other,
    with_return_to,
};
use crate::accounts::{LoginRequest, SignupRequest, end_session, log_in, login_limit, sign_up, signup_limit};
use crate::email::{
    LinkAsked, ResetRequest, ask_for_link, link_ip_limit, link_user, reset_with_link, sign_in_with_link, verify_address,
};
use crate::error::ApiError;
use crate::mfa::{Answer, FirstStep, complete_second_step};
use crate::rate_limit::RateLimitHeaders;
use crate::sessions::{Client, CurrentSession, session_cookie};
use crate::state::AppState;

/// A page or the error page: every handler here answers through this.
pub(super) type PageResult = Result<Response, ApiError>;

fn html_only(headers: &HeaderMap) -> Result<(), ApiError> {
    if accepts_html(headers) { Ok(()) } else { Err(ApiError::NotAcceptable) }
}

/// A signed-out page, with this browser's form token (and its cookie when it is new).
fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    template: &'static str,
    extra: serde_json::Value,
    return_to: Option<&str>,
) -> Result<Page, ApiError> {
    let (token, cookie) = form_binding(state, headers)?;
    let mut page = Page::new(template, extra).return_to(return_to).cookie(cookie);
    page.csrf_token = token;
    Ok(page)
}

/// The message for a known key of the wording's `group`, such as a provider's `error=CODE`;
/// unknown keys show nothing (a query string never puts its own text on a page).
pub(super) fn known(state: &AppState, group: &str, key: Option<&str>) -> Option<String> {
    let pages = pages(state).ok()?;
    let key = format!("{group}.{}", key?);
    pages.knows(&key).then(|| pages.say(&key, &[]))
}

/// A signed-out form post whose token is missing or not this browser's: the form again, to
/// submit once more (its new token comes with the page).
fn expired(state: &AppState, page: Page) -> Result<Page, ApiError> {
    Ok(page.failed(pages(state)?, &ApiError::CsrfFailed("form token")))
}

/// `GET /`: the account page, or sign-in when signed out.
pub(super) async fn home(State(state): State<AppState>) -> Response {
    see_other(&state, "/account", Vec::new())
}

fn login_view(state: &AppState, headers: &HeaderMap, return_to: Option<&str>) -> Result<Page, ApiError> {
    let oauth = &state.services().oauth;
    let back = format!("{}{}", oauth.public_url, with_return_to("/login", return_to, &[]));
    let providers: Vec<_> = oauth
        .providers
        .values()
        .map(|provider| {
            let info = provider.info();
            let start = with_return_to(&format!("/v1/oauth/{}/start", info.name), None, &[("redirect_to", &back)]);
            json!({ "name": info.name.as_str(), "display_name": info.display_name, "start_url": start })
        })
        .collect();
    let passkeys = state.services().mfa.passkeys.is_ok();
    let extra = json!({ "providers": providers, "passkeys": passkeys, "next": destination(return_to) });
    form_page(state, headers, "login.html", extra, return_to)
}

/// `GET /login`: the sign-in form; signed in already, straight on to `return_to`.
pub(super) async fn login_page(
    State(state): State<AppState>,
    query: Query,
    headers: HeaderMap,
    current: Result<CurrentSession, ApiError>,
) -> PageResult {
    html_only(&headers)?;
    let return_to = allowed_return_to(&state, query.get("return_to"));
    if current.is_ok() {
        return Ok(see_other(&state, &destination(return_to.as_deref()), Vec::new()));
    }
    let mut page =
        login_view(&state, &headers, return_to.as_deref())?.notice(known(&state, "notices", query.get("notice")));
    // A provider sign-in that failed comes back here with `error=CODE`.
    page.error = known(&state, "errors", query.get("error"));
    Ok(page.render(&state))
}

/// `POST /login`: email and password; on success a 303 to `return_to` with the session cookie.
pub(super) async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    let return_to = allowed_return_to(&state, form.get("return_to"));
    let page = login_view(&state, &headers, return_to.as_deref())?.keep("email", form.text("email"));
    if !form_token_valid(&state, &headers, form.get("csrf_token")) {
        return Ok(expired(&state, page)?.render(&state));
    }
    let mut limits = RateLimitHeaders::default();
    let body = LoginRequest { email: form.text("email").to_owned(), password: form.text("password").to_owned() };
    let outcome = match login_limit(&state, &client, &mut limits).await {
        Ok(()) => log_in(&state, client, &body, &mut limits, return_to.as_deref()).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(first) => {
            let (location, cookie) = after_first_step(&state, first, return_to.as_deref());
            Ok(see_other(&state, &location, vec![cookie]))
        }
        Err(error) => Ok(page.failed(pages(&state)?, &error).render(&state)),
    }
}

/// `GET /signup`: the sign-up form; signed in already, straight on to `return_to`.
pub(super) async fn signup_page(
    State(state): State<AppState>,
    query: Query,
    headers: HeaderMap,
    current: Result<CurrentSession, ApiError>,
) -> PageResult {
    html_only(&headers)?;
    let return_to = allowed_return_to(&state, query.get("return_to"));
    if current.is_ok() {
        return Ok(see_other(&state, &destination(return_to.as_deref()), Vec::new()));
    }
    Ok(form_page(&state, &headers, "signup.html", json!({}), return_to.as_deref())?.render(&state))
}

/// `POST /signup`: creates the account; signed in (unless login waits for verification) and on
/// to `return_to`, which the verification link also leads back to.
pub(super) async fn signup(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    let return_to = allowed_return_to(&state, form.get("return_to"));
    let page = form_page(&state, &headers, "signup.html", json!({}), return_to.as_deref())?
        .keep("email", form.text("email"))
        .keep("name", form.text("name"));
    if !form_token_valid(&state, &headers, form.get("csrf_token")) {
        return Ok(expired(&state, page)?.render(&state));
    }
    let body = SignupRequest {
        email: form.text("email").to_owned(),
        password: form.text("password").to_owned(),
        name: form.get("name").filter(|name| !name.trim().is_empty()).map(str::to_owned),
    };
    let mut limits = RateLimitHeaders::default();
    let outcome = match signup_limit(&state, &client, &mut limits).await {
        Ok(()) => sign_up(&state, client, &body, return_to.as_deref()).await,
        Err(error) => Err(error),
    };
    let pages = pages(&state)?;
    match outcome {
        Ok(signed_up) => match signed_up.session {
            Some((_, token)) => {
                let cookie = session_cookie(&state, Some(&token));
                Ok(see_other(&state, &destination(return_to.as_deref()), vec![cookie]))
            }
            None => {
                let text = pages.say("signup.check_email", &[("email", signed_up.user.email.as_str())]);
                let title = pages.say("signup.check_email_title", &[]);
                Ok(message(title, text, None).render(&state))
            }
        },
        Err(error) => Ok(page.failed(pages, &error).render(&state)),
    }
}

/// The message page: a title, a sentence, perhaps a button.
fn message(title: String, text: String, link: Option<(String, String)>) -> Page {
    let link = link.map(|(href, label)| json!({ "href": href, "label": label }));
    Page::new("message.html", json!({ "title": title, "text": text, "link": link }))
}

/// `POST /logout`: ends the session and goes to the sign-in page.
pub(super) async fn logout(State(state): State<AppState>, current: Result<CurrentSession, ApiError>) -> PageResult {
    match current {
        Ok(current) => end_session(&state, &current).await?,
        Err(ApiError::Unauthenticated(_)) => {}
        Err(other) => return Err(other),
    }
    let location = with_return_to("/login", None, &[("notice", "signed_out")]);
    Ok(see_other(&state, &location, vec![session_cookie(&state, None)]))
}

/// Which link a "mail me a link" page asks for, and under which limits (the JSON API's, so a
/// person has one budget whichever way they ask).
struct LinkPage {
    template: &'static str,
    purpose: LinkPurpose,
    route: &'static str,
    policies: [&'static str; 2],
    sent: [&'static str; 2],
}

const EMAIL_LINK: LinkPage = LinkPage {
    template: "email_link.html",
    purpose: LinkPurpose::MagicLink,
    route: "/v1/magic-link",
    policies: ["magic_link_ip", "magic_link_account"],
    sent: ["email_link.sent_title", "email_link.sent"],
};

const FORGOT: LinkPage = LinkPage {
    template: "forgot_password.html",
    purpose: LinkPurpose::ResetPassword,
    route: "/v1/password/forgot",
    policies: ["password_reset_ip", "password_reset_account"],
    sent: ["forgot.sent_title", "forgot.sent"],
};

async fn link_request_page(state: &AppState, query: &Query, headers: &HeaderMap, kind: &LinkPage) -> PageResult {
    html_only(headers)?;
    let return_to = allowed_return_to(state, query.get("return_to"));
    Ok(form_page(state, headers, kind.template, json!({}), return_to.as_deref())?.render(state))
}

async fn link_request(
    state: &AppState,
    client: gatehouse_core::sessions::ClientContext,
    headers: &HeaderMap,
    form: &Form,
    kind: &LinkPage,
) -> PageResult {
    let return_to = allowed_return_to(state, form.get("return_to"));
    let page =
        form_page(state, headers, kind.template, json!({}), return_to.as_deref())?.keep("email", form.text("email"));
    if !form_token_valid(state, headers, form.get("csrf_token")) {
        return Ok(expired(state, page)?.render(state));
    }
    let mut limits = RateLimitHeaders::default();
    let [ip_policy, account_policy] = kind.policies;
    let asked = LinkAsked { purpose: kind.purpose, account_policy, return_to: return_to.as_deref() };
    let outcome = match link_ip_limit(state, &client, kind.route, ip_policy, &mut limits).await {
        Ok(()) => ask_for_link(state, client, form.text("email"), &asked, &mut limits).await,
        Err(error) => Err(error),
    };
    let pages = pages(state)?;
    match outcome {
        Ok(()) => {
            let [title, text] = kind.sent;
            let text = pages.say(text, &[("email", form.text("email").trim())]);
            let back = (with_return_to("/login", return_to.as_deref(), &[]), pages.say("common.back_to_login", &[]));
            Ok(message(pages.say(title, &[]), text, Some(back)).render(state))
        }
        Err(error) => Ok(page.failed(pages, &error).render(state)),
    }
}

/// `GET /login/email-link`: asks for an address to mail a sign-in link to.
pub(super) async fn email_link_page(State(state): State<AppState>, query: Query, headers: HeaderMap) -> PageResult {
    link_request_page(&state, &query, &headers, &EMAIL_LINK).await
}

/// `POST /login/email-link`: the same answer whether or not the address has an account.
pub(super) async fn email_link(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    link_request(&state, client, &headers, &form, &EMAIL_LINK).await
}

/// `GET /forgot-password`: asks for the address to mail a reset link to.
pub(super) async fn forgot_page(State(state): State<AppState>, query: Query, headers: HeaderMap) -> PageResult {
    link_request_page(&state, &query, &headers, &FORGOT).await
}

/// `POST /forgot-password`: always the same answer.
pub(super) async fn forgot(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    link_request(&state, client, &headers, &form, &FORGOT).await
}

/// A link's page: the button that spends it, or why it cannot be used.
pub(super) async fn link_page(
    state: &AppState,
    query: &Query,
    headers: &HeaderMap,
    template: &'static str,
    purpose: LinkPurpose,
) -> PageResult {
    html_only(headers)?;
    let return_to = allowed_return_to(state, query.get("return_to"));
    let token = query.get("token").unwrap_or_default();
    let checked = link_user(state, token, purpose).await.map(|_| ());
    let page = form_page(
        state,
        headers,
        template,
        json!({ "link_ok": checked.is_ok(), "token": token }),
        return_to.as_deref(),
    )?;
    Ok(match checked {
        Ok(()) => page,
        Err(error) => page.failed(pages(state)?, &error),
    }
    .render(state))
}

/// The page again after a failed press of its button.
fn link_failed(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    template: &'static str,
    error: &ApiError,
) -> PageResult {
    let return_to = allowed_return_to(state, form.get("return_to"));
    let link_ok = !matches!(error, ApiError::LinkInvalid);
    let extra = json!({ "link_ok": link_ok, "token": form.text("token") });
    let page = form_page(state, headers, template, extra, return_to.as_deref())?;
    Ok(page.failed(pages(state)?, error).render(state))
}

/// A press of a link page's button: the form's token is checked, then `spend` runs with the
/// allowed `return_to` and says where to go next and which cookies to set; a failure shows the
/// page again with what went wrong.
pub(super) async fn press<F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    template: &'static str,
    spend: F,
) -> PageResult
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(String, Vec<http::HeaderValue>), ApiError>>,
{
    if !form_token_valid(state, headers, form.get("csrf_token")) {
        return link_failed(state, headers, form, template, &ApiError::CsrfFailed("form token"));
    }
    match spend(allowed_return_to(state, form.get("return_to"))).await {
        Ok((location, cookies)) => Ok(see_other(state, &location, cookies)),
        Err(error) => link_failed(state, headers, form, template, &error),
    }
}

/// `GET /reset-password?token=…`: the new-password form.
pub(super) async fn reset_page(State(state): State<AppState>, query: Query, headers: HeaderMap) -> PageResult {
    link_page(&state, &query, &headers, "reset_password.html", LinkPurpose::ResetPassword).await
}

/// `POST /reset-password`: sets the password, signs out everywhere, and on to sign in.
pub(super) async fn reset(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    let body = ResetRequest { token: form.text("token").to_owned(), password: form.text("password").to_owned() };
    let (state, client) = (&state, &client);
    press(state, &headers, &form, "reset_password.html", move |return_to| async move {
        reset_with_link(state, client, &body).await?;
        let location = with_return_to("/login", return_to.as_deref(), &[("notice", "password_reset")]);
        Ok((location, vec![session_cookie(state, None)]))
    })
    .await
}

/// `GET /verify-email?token=…`: the confirm button.
pub(super) async fn verify_page(State(state): State<AppState>, query: Query, headers: HeaderMap) -> PageResult {
    link_page(&state, &query, &headers, "verify_email.html", LinkPurpose::VerifyEmail).await
}

/// `POST /verify-email`: confirms the address; on to `return_to` when this browser is signed in,
/// to sign in otherwise.
pub(super) async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    current: Result<CurrentSession, ApiError>,
    form: Form,
) -> PageResult {
    let (state, client, token) = (&state, &client, form.text("token"));
    press(state, &headers, &form, "verify_email.html", move |return_to| async move {
        let user = verify_address(state, client, token).await?;
        let location = match current {
            Ok(current) if current.user.id == user.id => match return_to {
                Some(target) => target,
                None => with_return_to("/account", None, &[("notice", "verified_signed_in")]),
            },
            _ => with_return_to("/login", return_to.as_deref(), &[("notice", "verified")]),
        };
        Ok((location, Vec::new()))
    })
    .await
}

/// `GET /magic-link?token=…`: the sign-in button.
pub(super) async fn magic_page(State(state): State<AppState>, query: Query, headers: HeaderMap) -> PageResult {
    link_page(&state, &query, &headers, "magic_link.html", LinkPurpose::MagicLink).await
}

/// `POST /magic-link`: signs in and goes on to `return_to`.
pub(super) async fn magic(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    let (state, client, token) = (&state, &client, form.text("token"));
    press(state, &headers, &form, "magic_link.html", move |return_to| async move {
        let first = sign_in_with_link(state, client, token, return_to.as_deref()).await?;
        let (location, cookie) = after_first_step(state, first, return_to.as_deref());
        Ok((location, vec![cookie]))
    })
    .await
}

/// Where a passed first step leads: on to `return_to` signed in, or to the second step's page.
pub(super) fn after_first_step(state: &AppState, first: FirstStep, return_to: Option<&str>) -> (String, HeaderValue) {
    match first {
        FirstStep::SignedIn { token, .. } => (destination(return_to), session_cookie(state, Some(&token))),
        FirstStep::SecondStep { token, .. } => {
            (with_return_to("/login/mfa", return_to, &[]), crate::mfa::step_cookie(state, Some(&token)))
        }
    }
}

/// `GET /login/mfa`: asks for the second factor of a sign-in whose first step passed in this
/// browser (the step's cookie); without a live step, back to sign in.
pub(super) async fn second_step_page(
    State(state): State<AppState>,
    Client(client): Client,
    query: Query,
    headers: HeaderMap,
) -> PageResult {
    html_only(&headers)?;
    let return_to = allowed_return_to(&state, query.get("return_to"));
    let Ok(step) = crate::mfa::live_step(&state, &headers, None, &client).await else {
        return Ok(step_gone(&state, return_to.as_deref()));
    };
    let extra = second_step_view(&state, step.user_id, return_to.as_deref()).await?;
    Ok(form_page(&state, &headers, "login_mfa.html", extra, return_to.as_deref())?.render(&state))
}

/// What the second step's page offers: the app's code field or a recovery code's, and the
/// passkey button when the account has one.
async fn second_step_view(
    state: &AppState,
    user_id: uuid::Uuid,
    return_to: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let factors = state.services().mfa.store.factors(user_id).await?;
    let passkey = state.services().mfa.passkeys.is_ok() && !factors.passkeys.is_empty();
    Ok(json!({ "passkey": passkey, "app": factors.has_app(), "next": destination(return_to) }))
}

/// Back to sign in, saying the second step is gone (expired, used up, or never started here).
fn step_gone(state: &AppState, return_to: Option<&str>) -> Response {
    let location = with_return_to("/login", return_to, &[("notice", "second_step_expired")]);
    see_other(state, &location, vec![crate::mfa::step_cookie(state, None)])
}

/// What a person typed in the one code field: digits are the app's code, anything else a
/// recovery code. Nothing typed is nothing.
pub(super) fn typed_answer(typed: &str) -> Option<Answer<'_>> {
    let typed = typed.trim();
    if typed.is_empty() {
        None
    } else if typed.chars().all(|c| c.is_ascii_digit() || c == ' ') {
        Some(Answer::Code(typed))
    } else {
        Some(Answer::RecoveryCode(typed))
    }
}

/// `POST /login/mfa`: a code or a recovery code; right, a 303 to `return_to` signed in.
pub(super) async fn second_step(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    let return_to = allowed_return_to(&state, form.get("return_to"));
    let return_to = return_to.as_deref();
    let failed = if !form_token_valid(&state, &headers, form.get("csrf_token")) {
        ApiError::CsrfFailed("form token")
    } else if let Some(answer) = typed_answer(form.text("code")) {
        let mut limits = RateLimitHeaders::default();
        let outcome = match login_limit(&state, &client, &mut limits).await {
            Ok(()) => complete_second_step(&state, &headers, None, answer, &client, &mut limits).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok((_, _, token)) => {
                let cookies = vec![session_cookie(&state, Some(&token)), crate::mfa::step_cookie(&state, None)];
                return Ok(see_other(&state, &destination(return_to), cookies));
            }
            Err(error) => error,
        }
    } else {
        ApiError::InvalidCode
    };
    // The form again, for a step still live; the step and its factors are read only now.
    let step = crate::mfa::live_step(&state, &headers, None, &client).await;
    let (Ok(step), false) = (step, matches!(failed, ApiError::SecondStepInvalid)) else {
        return Ok(step_gone(&state, return_to));
    };
    let extra = second_step_view(&state, step.user_id, return_to).await?;
    let page = form_page(&state, &headers, "login_mfa.html", extra, return_to)?;
    Ok(page.failed(pages(&state)?, &failed).render(&state))
}
