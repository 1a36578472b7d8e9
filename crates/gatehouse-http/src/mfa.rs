//! Second factors over HTTP: enrolling an authenticator app, the second step of a sign-in,
//! recovery codes, and step-up (a fresh proof of identity before a sensitive action).
//!
//! The second step is the one place a sign-in of an account with a factor becomes a session,
//! whichever way the first step was passed (password, provider, emailed link): the first step
//! stores a [`SecondStep`] and hands its token to the client (an HttpOnly cookie, and in the JSON
//! body for API clients); `POST /v1/login/mfa` spends it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::User;
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::email::{Notice, NoticeJob};
use gatehouse_core::jobs::NewJob;
use gatehouse_core::mfa::{
    FactorSummary, MAX_STEP_FAILURES, MfaStore, RECOVERY_CODE_COUNT, RecoveryCode, STEP_LIFETIME, SecondStep,
    StoredTotp, TOTP_SECRET_BYTES, TotpFactor, TotpSecret, recovery_code_hash, sealing_label,
};
use gatehouse_core::password::{Password, Verification};
use gatehouse_core::sealing::KeyEncryption;
use gatehouse_core::sessions::{AuthMethod, ClientContext, NewSession, RandomToken, SessionToken};
use gatehouse_core::store::StoreError;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{ApiError, os_random};
use crate::extract::{ApiJson, body_bytes, json_body};
use crate::rate_limit::{LimitKey, RateLimitHeaders, check, with_headers};
use crate::sessions::{
    Client, CurrentSession, SignedIn, cookie_value, new_session, session_cookie, signed_in_response,
};
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

/// What the second factors need: their store, the key that seals app secrets, the name an
/// authenticator app shows, and the passkeys' relying party.
#[derive(Debug, Clone)]
pub struct MfaSettings {
    pub store: Arc<dyn MfaStore>,
    pub sealing: Arc<KeyEncryption>,
    pub issuer: String,
    /// The relying party passkeys are made for, or why they are off.
    pub passkeys: crate::passkeys::Passkeys,
}

/// The cookie that holds a second step's token: the session cookie's name with `_mfa`.
pub(crate) fn step_cookie_name(state: &AppState) -> String {
    format!("{}_mfa", state.cookie().name)
}

/// `Set-Cookie` for a second step's token, or for clearing it.
pub(crate) fn step_cookie(state: &AppState, token: Option<&RandomToken>) -> HeaderValue {
    let (value, max_age) = match token {
        Some(token) => (token.encode(), STEP_LIFETIME.as_secs()),
        None => (String::new(), 0),
    };
    crate::sessions::set_cookie(state, &step_cookie_name(state), &value, max_age)
}

/// A first step that passed: a session at once, or (for an account with a factor) a second step.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "built once per sign-in and taken apart at once")]
pub(crate) enum FirstStep {
    SignedIn {
        user: User,
        session: NewSession,
        token: SessionToken,
    },
    /// `methods`: what the second step accepts (`totp`, `passkey`, `recovery_code`).
    SecondStep {
        step: SecondStep,
        token: RandomToken,
        methods: Vec<&'static str>,
    },
}

/// What the second step of the account's sign-in accepts, or `None` when it has none.
pub(crate) async fn second_step_methods(
    state: &AppState,
    user_id: Uuid,
) -> Result<Option<Vec<&'static str>>, ApiError> {
    let factors = state.services().mfa.store.factors(user_id).await?;
    Ok(factors.guards_sign_in().then(|| factors.methods()))
}

/// Stores the second step of a sign-in whose first step (`first`) passed.
pub(crate) async fn start_second_step(
    state: &AppState,
    user_id: Uuid,
    first: AuthMethod,
    client: &ClientContext,
    return_to: Option<&str>,
) -> Result<(SecondStep, RandomToken), ApiError> {
    let now = state.services().clock.now();
    let token = RandomToken::from_random(os_random()?);
    let step = SecondStep {
        id: Uuid::new_v4(),
        user_id,
        first_factor: first,
        return_to: return_to.map(str::to_owned),
        user_agent: client.user_agent.clone(),
        created_at: now,
        expires_at: now + time::Duration::try_from(STEP_LIFETIME).unwrap_or(time::Duration::MINUTE),
        failures: 0,
    };
    state.services().mfa.store.create_step(&step, &token.hash()).await?;
    Ok((step, token))
}

/// Login's answer when a second factor is needed: no session yet.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SecondFactorRequired {
    /// Always `true`: send a code to `POST /v1/login/mfa`.
    mfa_required: bool,
    /// The second step's token, for clients without cookies: send it as `mfa_token`. Browsers
    /// also get it as an HttpOnly cookie.
    mfa_token: String,
    /// What the second step accepts: `totp` (an authenticator app's code), `passkey` and
    /// `recovery_code`, as far as the account has them.
    methods: Vec<&'static str>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// The 202 that tells a client the first step passed and a second factor is needed.
pub(crate) fn second_factor_response(
    state: &AppState,
    step: &SecondStep,
    token: &RandomToken,
    methods: Vec<&'static str>,
) -> Response {
    let body =
        SecondFactorRequired { mfa_required: true, mfa_token: token.encode(), methods, expires_at: step.expires_at };
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    response.headers_mut().append(header::SET_COOKIE, step_cookie(state, Some(token)));
    response
}

/// A second factor as a person gives it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer<'a> {
    /// Six digits from the authenticator app.
    Code(&'a str),
    RecoveryCode(&'a str),
    /// A passkey's assertion (the `toJSON()` of `navigator.credentials.get()`).
    Passkey(&'a serde_json::Value),
}

impl Answer<'_> {
    fn kind(self) -> &'static str {
        match self {
            Self::Code(_) => "totp",
            Self::RecoveryCode(_) => "recovery_code",
            Self::Passkey(_) => "passkey",
        }
    }
}

/// Checks a second factor for `user` and, when right, records its use: the code's step (so it
/// works once), the recovery code spent with its audit event and webhook, or the passkey's new
/// counter. The `amr` method it proves, or `None` when wrong.
pub(crate) async fn check_answer(
    state: &AppState,
    user: &User,
    answer: Answer<'_>,
    client: &ClientContext,
) -> Result<Option<AuthMethod>, ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let otp = |accepted: bool| accepted.then_some(AuthMethod::Otp);
    match answer {
        Answer::Code(code) => {
            let Some(stored) = services.mfa.store.totp(user.id).await? else { return Ok(None) };
            if stored.factor.confirmed_at.is_none() {
                return Ok(None);
            }
            let secret = open_secret(state, &stored)?;
            let Some(step) = secret.matching_step(code, now) else { return Ok(None) };
            // Refused when this step or a later one was accepted already: a replayed code.
            Ok(otp(services.mfa.store.use_totp_step(user.id, step, now).await?))
        }
        Answer::Passkey(credential) => {
            match crate::passkeys::verify_assertion(state, credential.clone(), Some(user.id), client).await {
                Ok(asserted) => Ok(Some(asserted.method)),
                Err(ApiError::PasskeyInvalid(_)) => Ok(None),
                Err(other) => Err(other),
            }
        }
        Answer::RecoveryCode(code) => {
            let Some(hash) = recovery_code_hash(code) else { return Ok(None) };
            let event = AuditEvent::new(AuditAction::MfaRecoveryCodeUsed, Actor::User(user.id), now, client)
                .target("user", user.id);
            let jobs = [
                gatehouse_event(state, "mfa.recovery_code_used", json!({ "user_id": user.id }))?,
                notice(Notice::RecoveryCodeUsed, user, now)?,
            ];
            let used = services.mfa.store.use_recovery_code(user.id, &hash, now, &[event], &jobs).await?;
            if used {
                services.enqueued(&jobs);
            }
            Ok(otp(used))
        }
    }
}

/// The security notice email to `user`, committed with the change it reports.
pub(crate) fn notice(notice: Notice, user: &User, now: OffsetDateTime) -> Result<NewJob, ApiError> {
    NoticeJob::job(notice, user, now).map_err(|error| ApiError::Internal(format!("a notice email job: {error}")))
}

fn open_secret(state: &AppState, stored: &StoredTotp) -> Result<TotpSecret, ApiError> {
    let label = sealing_label(stored.factor.id, stored.user_id);
    let bytes = state
        .services()
        .mfa
        .sealing
        .open(&label, &stored.sealed_secret)
        .map_err(|error| ApiError::Internal(format!("opening an authenticator secret: {error}")))?;
    TotpSecret::from_stored(bytes).ok_or_else(|| ApiError::Internal("a stored authenticator secret is short".into()))
}

/// The code, recovery code or passkey in a request body: exactly one of them.
fn answer_of<'a>(
    code: Option<&'a str>,
    recovery_code: Option<&'a str>,
    passkey: Option<&'a serde_json::Value>,
) -> Result<Answer<'a>, ApiError> {
    match (code.filter(|c| !c.trim().is_empty()), recovery_code.filter(|c| !c.trim().is_empty()), passkey) {
        (Some(code), None, None) => Ok(Answer::Code(code)),
        (None, Some(code), None) => Ok(Answer::RecoveryCode(code)),
        (None, None, Some(passkey)) => Ok(Answer::Passkey(passkey)),
        _ => Err(ApiError::Validation(vec![crate::error::FieldError {
            field: "code".into(),
            message: "give one of `code` (from the authenticator app), `recovery_code` or `passkey`".into(),
        }])),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecondStepRequest {
    /// The token from login's 202 answer; browsers may leave it out (the cookie carries it).
    mfa_token: Option<String>,
    /// Six digits from the authenticator app.
    #[schema(example = "123456")]
    code: Option<String>,
    /// One of the account's recovery codes, instead of `code`.
    recovery_code: Option<String>,
    /// A passkey's assertion, instead of a code: the `toJSON()` of `navigator.credentials.get()`
    /// with the options of `POST /v1/passkeys/authenticate/start`.
    #[schema(value_type = Option<Object>)]
    passkey: Option<serde_json::Value>,
}

/// `POST /v1/login/mfa`: completes a sign-in with the second factor; limited per IP (`login_ip`)
/// and per account (`login_account`), and five wrong codes end the step.
#[utoipa::path(
    post,
    path = "/v1/login/mfa",
    tag = "accounts",
    request_body = SecondStepRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set and the step's cookie cleared.",
            body = SignedIn, headers(("set-cookie" = String, description = "The session cookie."))),
        (status = 401, description = "`invalid_code`: the code is wrong or was used already; `passkey_invalid`: \
            the passkey is not this account's or did not verify; `second_step_invalid`: the step is unknown, \
            expired, used up or from another browser (sign in again)."),
        (status = 422, description = "`validation_failed`: not exactly one of `code`, `recovery_code` and `passkey`."),
        (status = 409, description = "`passkeys_unavailable`: a passkey was given, but passkeys are off here."),
        (status = 429, description = "`rate_limited`: too many attempts from this address or on this account."),
    ),
)]
pub(crate) async fn complete(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = async {
            crate::accounts::login_limit(&state, &client, &mut limits).await?;
            let headers = request.headers().clone();
            let body: SecondStepRequest = json_body(&headers, &body_bytes(request, &state).await?)?;
            let answer = answer_of(body.code.as_deref(), body.recovery_code.as_deref(), body.passkey.as_ref())?;
            let (user, session, token) =
                complete_second_step(&state, &headers, body.mfa_token.as_deref(), answer, &client, &mut limits).await?;
            let mut response = signed_in_response(
                StatusCode::OK,
                Some(session_cookie(&state, Some(&token))),
                SignedIn { user, session: session.session, workspace: None },
            );
            response.headers_mut().append(header::SET_COOKIE, step_cookie(&state, None));
            Ok(response)
        }
        .await;
        (result, limits)
    })
    .await
}

/// The second step named by `explicit` (a body's token) or the request's cookie, if it is live
/// and from the browser that passed the first step.
pub(crate) async fn live_step(
    state: &AppState,
    headers: &HeaderMap,
    explicit: Option<&str>,
    client: &ClientContext,
) -> Result<SecondStep, ApiError> {
    let cookie_name = step_cookie_name(state);
    let text = explicit.or_else(|| cookie_value(headers, &cookie_name)).ok_or(ApiError::SecondStepInvalid)?;
    let token = RandomToken::parse(text).ok_or(ApiError::SecondStepInvalid)?;
    let step = state.services().mfa.store.step(&token.hash()).await?.ok_or(ApiError::SecondStepInvalid)?;
    let now = state.services().clock.now();
    if !step.is_live(now) || step.user_agent != client.user_agent {
        return Err(ApiError::SecondStepInvalid);
    }
    Ok(step)
}

/// Checks the second factor against the live step and, when right, spends the step and starts
/// the session (`amr`: the first factor, then `otp`). Shared by the API and the hosted page.
pub(crate) async fn complete_second_step(
    state: &AppState,
    headers: &HeaderMap,
    explicit: Option<&str>,
    answer: Answer<'_>,
    client: &ClientContext,
    limits: &mut RateLimitHeaders,
) -> Result<(User, NewSession, SessionToken), ApiError> {
    let step = live_step(state, headers, explicit, client).await?;
    let account = step.user_id.to_string();
    let key = LimitKey { account: Some(&account), route: "/v1/login/mfa", ..LimitKey::default() };
    check(state, &["login_account"], &key, limits).await?;
    let services = state.services();
    let user = services.user_admin.user(step.user_id).await?.filter(|user| !user.disabled);
    let Some(user) = user else { return Err(ApiError::SecondStepInvalid) };
    let now = services.clock.now();
    let Some(method) = check_answer(state, &user, answer, client).await? else {
        let failures = step.failures + 1;
        let event = AuditEvent::new(AuditAction::MfaFailed, Actor::User(user.id), now, client)
            .target("user", user.id)
            .detail("method", answer.kind())
            .detail("failures", failures.to_string());
        services.mfa.store.step_failed(step.id, &[event]).await?;
        if failures >= MAX_STEP_FAILURES {
            return Err(ApiError::SecondStepInvalid);
        }
        return Err(match answer {
            Answer::Passkey(_) => ApiError::PasskeyInvalid("that passkey is not this account's, or did not verify"),
            _ => ApiError::InvalidCode,
        });
    };
    let (session, token) = new_session(state, user.id, client, &[step.first_factor, method])?;
    let event = AuditEvent::new(AuditAction::LoginSucceeded, Actor::User(user.id), now, client)
        .target("session", session.session.id)
        .detail("second_factor", answer.kind());
    let data = json!({
        "session_id": session.session.id,
        "user_id": user.id,
        "method": method_name(step.first_factor),
        "second_factor": answer.kind(),
    });
    let jobs = [gatehouse_event(state, "session.created", data)?];
    if !services.mfa.store.finish_step(step.id, &session, &[event], &jobs).await? {
        return Err(ApiError::SecondStepInvalid);
    }
    services.enqueued(&jobs);
    Ok((user, session, token))
}

/// The `method` a `session.created` event names for a first factor.
fn method_name(first: AuthMethod) -> &'static str {
    match first {
        AuthMethod::Hwk | AuthMethod::Swk => "passkey",
        AuthMethod::Pwd | AuthMethod::Otp => "password",
        AuthMethod::Oauth => "oauth",
        AuthMethod::Email => "magic_link",
    }
}

/// Whether the session proved who its person is within the step-up window; 403
/// `reauthentication_required` otherwise.
pub(crate) fn require_recent(state: &AppState, current: &CurrentSession) -> Result<(), ApiError> {
    if current.session.authenticated_within(state.services().clock.now(), state.session_policy().reauth_window) {
        Ok(())
    } else {
        Err(ApiError::ReauthenticationRequired(
            "this needs a fresh sign-in: confirm who you are at POST /v1/me/reauthenticate (password, or a code) \
             and try again within the step-up window (session.reauth_window_secs)",
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReauthenticateRequest {
    /// The account's password.
    password: Option<String>,
    /// Six digits from the authenticator app.
    code: Option<String>,
    /// One of the account's recovery codes.
    recovery_code: Option<String>,
    /// A passkey's assertion (see `POST /v1/passkeys/authenticate/start`).
    #[schema(value_type = Option<Object>)]
    passkey: Option<serde_json::Value>,
}

/// What the session now says about how and when its person proved who they are.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Reauthenticated {
    amr: Vec<AuthMethod>,
    #[serde(with = "time::serde::rfc3339")]
    auth_time: OffsetDateTime,
    /// Until when sensitive actions are allowed without asking again.
    #[serde(with = "time::serde::rfc3339")]
    fresh_until: OffsetDateTime,
}

/// `POST /v1/me/reauthenticate`: a fresh proof of identity (step-up) for the next
/// `session.reauth_window_secs` (5 minutes by default) of sensitive actions; attempts count against the account's login limit (`login_account`).
#[utoipa::path(
    post,
    path = "/v1/me/reauthenticate",
    tag = "mfa",
    request_body = ReauthenticateRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "Confirmed; the session's `auth_time` is now.", body = Reauthenticated),
        (status = 403, description = "`reauthentication_required`: the password or code is wrong."),
        (status = 422, description = "`validation_failed`: not exactly one of `password`, `code`, `recovery_code`, `passkey`."),
        (status = 409, description = "`passkeys_unavailable`: a passkey was given, but passkeys are off here."),
        (status = 429, description = "`rate_limited`: too many attempts on this account."),
    ),
)]
pub(crate) async fn reauthenticate(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(body): ApiJson<ReauthenticateRequest>,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = async {
            let factor = (body.code.as_deref(), body.recovery_code.as_deref(), body.passkey.as_ref());
            let proof = match (body.password.as_deref(), factor) {
                (Some(password), (None, None, None)) => Proof::Password(password),
                (None, (code, recovery, passkey)) => Proof::Factor(answer_of(code, recovery, passkey)?),
                _ => Proof::Factor(answer_of(None, None, None)?),
            };
            let session = step_up(&state, &current, proof, &mut limits).await?;
            Ok(Json(session).into_response())
        }
        .await;
        (result, limits)
    })
    .await
}

/// A proof of identity for a step-up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Proof<'a> {
    Password(&'a str),
    Factor(Answer<'a>),
}

/// Checks a proof and records it on the session (its `auth_time`, and its method in `amr`).
pub(crate) async fn step_up(
    state: &AppState,
    current: &CurrentSession,
    proof: Proof<'_>,
    limits: &mut RateLimitHeaders,
) -> Result<Reauthenticated, ApiError> {
    let services = state.services();
    let account = current.user.email.normalized();
    let key = LimitKey { account: Some(account), route: "/v1/login", ..LimitKey::default() };
    check(state, &["login_account"], &key, limits).await?;
    let (ok, method) = match proof {
        Proof::Password(password) => {
            let stored = services.accounts.credentials_by_email(account).await?.and_then(|c| c.password_hash);
            let Some(stored) = stored else {
                return Err(ApiError::ReauthenticationRequired(
                    "this account has no password: confirm with a code, or sign in again",
                ));
            };
            services.passwords.admit()?;
            let valid = matches!(
                services.passwords.verify(Some(stored), Password::for_login(password)).await?,
                Verification::Valid { .. }
            );
            (valid, AuthMethod::Pwd)
        }
        Proof::Factor(answer) => match check_answer(state, &current.user, answer, &current.client).await? {
            Some(method) => (true, method),
            None => (false, AuthMethod::Otp),
        },
    };
    let now = services.clock.now();
    if !ok {
        let event = AuditEvent::new(AuditAction::MfaFailed, Actor::User(current.user.id), now, &current.client)
            .target("session", current.session.id)
            .detail("method", method.as_str())
            .detail("during", "reauthentication");
        services.audit.append(&[event]).await?;
        return Err(ApiError::ReauthenticationRequired("the password or code is not right"));
    }
    let event = AuditEvent::new(AuditAction::Reauthenticated, Actor::User(current.user.id), now, &current.client)
        .target("session", current.session.id)
        .detail("method", method.as_str());
    if !services.sessions.reauthenticated(current.session.id, now, method, &[event]).await? {
        return Err(ApiError::Unauthenticated("the session has ended; sign in again"));
    }
    services.sessions.forget(&[current.token_hash]).await;
    let mut amr = current.session.amr.clone();
    if !amr.contains(&method) {
        amr.push(method);
    }
    let window = time::Duration::try_from(state.session_policy().reauth_window).unwrap_or(time::Duration::MINUTE);
    Ok(Reauthenticated { amr, auth_time: now, fresh_until: now + window })
}

/// `GET /v1/me/mfa`: the account's second factors.
#[utoipa::path(
    get,
    path = "/v1/me/mfa",
    tag = "mfa",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The authenticator app (if any) and how many recovery codes are left.",
        body = FactorSummary)),
)]
pub(crate) async fn factors(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    Ok(Json(state.services().mfa.store.factors(current.user.id).await?).into_response())
}

/// A new authenticator app's secret, shown once to be scanned or typed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TotpEnrolment {
    factor: TotpFactor,
    /// The shared secret in base32, for typing into the app.
    secret: String,
    /// `otpauth://totp/…`, for a QR code.
    otpauth_uri: String,
}

/// Starts adding an authenticator app (replacing one not yet confirmed).
pub(crate) async fn begin_enrolment(state: &AppState, current: &CurrentSession) -> Result<TotpEnrolment, ApiError> {
    require_recent(state, current)?;
    let services = state.services();
    let now = services.clock.now();
    let secret = TotpSecret::from_random(os_random::<TOTP_SECRET_BYTES>()?);
    let factor = TotpFactor { id: Uuid::new_v4(), created_at: now, confirmed_at: None, last_used_at: None };
    let sealed = services
        .mfa
        .sealing
        .seal(&sealing_label(factor.id, current.user.id), secret.expose_bytes(), os_random()?)
        .map_err(|error| ApiError::Internal(format!("sealing an authenticator secret: {error}")))?;
    let stored =
        StoredTotp { factor: factor.clone(), user_id: current.user.id, sealed_secret: sealed, last_step: None };
    let event = AuditEvent::new(AuditAction::MfaEnrolmentStarted, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("method", "totp");
    match services.mfa.store.begin_totp(&stored, &[event]).await {
        Ok(()) => {}
        Err(StoreError::Duplicate { .. }) => return Err(ApiError::MfaAlreadyEnabled),
        Err(other) => return Err(other.into()),
    }
    Ok(TotpEnrolment {
        factor,
        secret: secret.base32(),
        otpauth_uri: secret.otpauth_uri(&services.mfa.issuer, current.user.email.as_str()),
    })
}

/// The secret (base32) and `otpauth://` URI of an authenticator app added but not yet confirmed,
/// for the account page to show again until its first code arrives.
pub(crate) async fn pending_enrolment(
    state: &AppState,
    current: &CurrentSession,
) -> Result<Option<(String, String)>, ApiError> {
    let stored = state.services().mfa.store.totp(current.user.id).await?;
    let Some(stored) = stored.filter(|stored| stored.factor.confirmed_at.is_none()) else { return Ok(None) };
    let secret = open_secret(state, &stored)?;
    let uri = secret.otpauth_uri(&state.services().mfa.issuer, current.user.email.as_str());
    Ok(Some((secret.base32(), uri)))
}

/// `POST /v1/me/mfa/totp`: starts adding an authenticator app; needs a fresh sign-in (step-up).
#[utoipa::path(
    post,
    path = "/v1/me/mfa/totp",
    tag = "mfa",
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 201, description = "The secret to scan or type into the app; confirm it with a code.",
            body = TotpEnrolment),
        (status = 403, description = "`reauthentication_required`: reauthenticate first."),
        (status = 409, description = "`mfa_already_enabled`: the account has an authenticator app; remove it first."),
    ),
)]
pub(crate) async fn enrol(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let enrolment = begin_enrolment(&state, &current).await?;
    let mut response = (StatusCode::CREATED, Json(enrolment)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmRequest {
    /// Six digits the app shows for the new secret.
    #[schema(example = "123456")]
    code: String,
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RecoveryCodes {
    /// Ten single-use codes, each good for one sign-in without the app. Only their hashes are kept.
    recovery_codes: Vec<String>,
}

pub(crate) fn new_recovery_codes() -> Result<Vec<RecoveryCode>, ApiError> {
    (0..RECOVERY_CODE_COUNT).map(|_| os_random::<10>().map(RecoveryCode::from_random)).collect()
}

/// Confirms the enrolment with a first code; the recovery codes it returns are shown once. The
/// session that confirmed it counts as established with a second factor from now.
pub(crate) async fn confirm_enrolment(
    state: &AppState,
    current: &CurrentSession,
    code: &str,
) -> Result<Vec<String>, ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let stored = services.mfa.store.totp(current.user.id).await?;
    let Some(stored) = stored.filter(|stored| stored.factor.confirmed_at.is_none()) else {
        return Err(ApiError::Missing("no authenticator app is waiting for confirmation; start again"));
    };
    let secret = open_secret(state, &stored)?;
    let Some(step) = secret.matching_step(code, now) else { return Err(ApiError::InvalidCode) };
    let codes = new_recovery_codes()?;
    let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
    let event = AuditEvent::new(AuditAction::MfaEnabled, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("method", "totp");
    let jobs = [gatehouse_event(state, "mfa.enabled", json!({ "user_id": current.user.id, "method": "totp" }))?];
    let user = current.user.id;
    if !services.mfa.store.confirm_totp(user, stored.factor.id, step, now, &hashes, &[event], &jobs).await? {
        return Err(ApiError::Missing("no authenticator app is waiting for confirmation; start again"));
    }
    services.enqueued(&jobs);
    if services.sessions.reauthenticated(current.session.id, now, AuthMethod::Otp, &[]).await? {
        services.sessions.forget(&[current.token_hash]).await;
    }
    Ok(codes.iter().map(|code| code.as_str().to_owned()).collect())
}

/// `POST /v1/me/mfa/totp/confirm`: turns the authenticator app on with its first code.
#[utoipa::path(
    post,
    path = "/v1/me/mfa/totp/confirm",
    tag = "mfa",
    request_body = ConfirmRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "On; sign-in asks for a code from now. The recovery codes are shown only now.",
            body = RecoveryCodes),
        (status = 401, description = "`invalid_code`: the code does not match the new secret."),
        (status = 404, description = "`not_found`: no enrolment is waiting for confirmation."),
    ),
)]
pub(crate) async fn confirm(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<Response, ApiError> {
    let recovery_codes = confirm_enrolment(&state, &current, &body.code).await?;
    let mut response = Json(RecoveryCodes { recovery_codes }).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Removes the authenticator app and the recovery codes; needs a fresh sign-in.
pub(crate) async fn remove(state: &AppState, current: &CurrentSession) -> Result<(), ApiError> {
    require_recent(state, current)?;
    let services = state.services();
    let now = services.clock.now();
    let Some(stored) = services.mfa.store.totp(current.user.id).await? else {
        return Err(ApiError::Missing("the account has no authenticator app"));
    };
    // An app never confirmed guarded nothing: removing it is audited, not reported.
    let confirmed = stored.factor.confirmed_at.is_some();
    let event = AuditEvent::new(AuditAction::MfaDisabled, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("method", "totp")
        .detail("confirmed", confirmed.to_string());
    let jobs = if confirmed {
        vec![
            gatehouse_event(state, "mfa.disabled", json!({ "user_id": current.user.id, "method": "totp" }))?,
            notice(Notice::MfaDisabled, &current.user, now)?,
        ]
    } else {
        Vec::new()
    };
    if !services.mfa.store.remove_totp(current.user.id, now, &[event], &jobs).await? {
        return Err(ApiError::Missing("the account has no authenticator app"));
    }
    services.enqueued(&jobs);
    Ok(())
}

/// `DELETE /v1/me/mfa/totp`: removes the authenticator app (and the recovery codes); needs a
/// fresh sign-in.
#[utoipa::path(
    delete,
    path = "/v1/me/mfa/totp",
    tag = "mfa",
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "Removed; sign-in no longer asks for a code."),
        (status = 403, description = "`reauthentication_required`: reauthenticate first."),
        (status = 404, description = "`not_found`: the account has no authenticator app."),
    ),
)]
pub(crate) async fn disable(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    remove(&state, &current).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// New recovery codes in place of the old ones; needs a fresh sign-in.
pub(crate) async fn regenerate(state: &AppState, current: &CurrentSession) -> Result<Vec<String>, ApiError> {
    require_recent(state, current)?;
    let services = state.services();
    let now = services.clock.now();
    let codes = new_recovery_codes()?;
    let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
    let event =
        AuditEvent::new(AuditAction::MfaRecoveryCodesRegenerated, Actor::User(current.user.id), now, &current.client)
            .target("user", current.user.id);
    if !services.mfa.store.replace_recovery_codes(current.user.id, &hashes, now, &[event]).await? {
        return Err(ApiError::Missing("recovery codes come with an authenticator app; add one first"));
    }
    Ok(codes.iter().map(|code| code.as_str().to_owned()).collect())
}

/// `POST /v1/me/mfa/recovery-codes`: ten new recovery codes; the old ones stop working. Needs a
/// fresh sign-in.
#[utoipa::path(
    post,
    path = "/v1/me/mfa/recovery-codes",
    tag = "mfa",
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The new codes, shown only now.", body = RecoveryCodes),
        (status = 403, description = "`reauthentication_required`: reauthenticate first."),
        (status = 404, description = "`not_found`: the account has no authenticator app."),
    ),
)]
pub(crate) async fn recovery_codes(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Response, ApiError> {
    let recovery_codes = regenerate(&state, &current).await?;
    let mut response = Json(RecoveryCodes { recovery_codes }).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
