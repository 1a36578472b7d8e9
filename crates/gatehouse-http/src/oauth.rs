//! Signing in with a provider: the provider list, the start of a flow and its callback.
//!
//! `start` checks `redirect_to` against the one allowlist, stores a one-time state (only its hash)
//! bound to this browser by the `gatehouse_oauth` cookie, and redirects to the provider with PKCE
//! and a nonce. `callback` consumes the state atomically, then checks that it is unexpired, for
//! this provider and from this browser; only then does anything the provider said count. Once the
//! state is known good, every failure sends the browser back to `redirect_to` with `error=CODE`,
//! so the app can show it; before that, the answer is a 400 `oauth_state_invalid`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::{NewUser, User};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::oauth::redirect::RedirectAllowlist;
use gatehouse_core::oauth::{
    Authorization, CodeExchange, Identity, IdentityStore, OAuthState, OAuthStateStore, Pkce, ProviderClient,
    ProviderError, ProviderIdentity, ProviderKind, ProviderName, STATE_LIFETIME, SignInDecision, StatePurpose,
    TokenSet, decide_sign_in,
};
use gatehouse_core::secret::RandomToken;
use gatehouse_core::sessions::{AuthMethod, ClientContext};
use gatehouse_core::store::StoreError;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::error::{ApiError, os_random};
use crate::extract::{ApiPath, ApiQuery};
use crate::rate_limit::{LimitKey, RateLimitHeaders, check, with_headers};
use crate::sessions::{Client, cookie_value, new_session, session_cookie};
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

/// The cookie that binds a started flow to the browser that started it.
pub const BROWSER_COOKIE: &str = "gatehouse_oauth";

/// Providers, stores and the redirect allowlist.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub providers: Arc<BTreeMap<ProviderName, Arc<dyn ProviderClient>>>,
    pub states: Arc<dyn OAuthStateStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub allowlist: RedirectAllowlist,
    /// Without a trailing slash; callbacks are `public_url + /v1/oauth/{provider}/callback`.
    pub public_url: String,
}

impl OAuthSettings {
    pub(crate) fn provider(&self, name: &str) -> Result<&Arc<dyn ProviderClient>, ApiError> {
        ProviderName::parse(name)
            .ok()
            .and_then(|name| self.providers.get(&name))
            .ok_or(ApiError::Missing("no provider of that name is configured"))
    }

    pub fn redirect_uri(&self, provider: &ProviderName) -> String {
        format!("{}/v1/oauth/{provider}/callback", self.public_url)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProviderView {
    /// The name in every URL: `/v1/oauth/{name}/start`.
    name: String,
    kind: ProviderKind,
    display_name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProviderList {
    providers: Vec<ProviderView>,
}

/// `GET /v1/oauth/providers`: the configured providers, to draw sign-in buttons.
#[utoipa::path(
    get,
    path = "/v1/oauth/providers",
    tag = "oauth",
    responses((status = 200, description = "Every configured provider.", body = ProviderList)),
)]
pub(crate) async fn providers(State(state): State<AppState>) -> Response {
    let providers = state
        .services()
        .oauth
        .providers
        .values()
        .map(|provider| {
            let info = provider.info();
            ProviderView { name: info.name.to_string(), kind: info.kind, display_name: info.display_name.clone() }
        })
        .collect();
    axum::Json(ProviderList { providers }).into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StartQuery {
    /// Where to send the browser afterwards; must match `server.redirect_allowlist` (the public
    /// URL's origin is always allowed). Defaults to the public URL.
    redirect_to: Option<String>,
    /// Space-separated scopes to ask for beyond sign-in, each one configured for the provider.
    /// Defaults to every configured one.
    scopes: Option<String>,
    /// Passed to the provider, which may preselect this account.
    #[param(max_length = 254)]
    login_hint: Option<String>,
}

/// `GET /v1/oauth/{provider}/start`: redirects the browser to the provider to sign in; limited
/// per IP (`oauth_ip`).
#[utoipa::path(
    get,
    path = "/v1/oauth/{provider}/start",
    tag = "oauth",
    params(("provider" = String, Path, description = "A configured provider's name."), StartQuery),
    responses(
        (status = 302, description = "To the provider's authorization page; sets the `gatehouse_oauth` cookie \
            that binds the flow to this browser.",
            headers(("location" = String, description = "The provider's authorization URL."),
                ("set-cookie" = String, description = "The browser-binding cookie."))),
        (status = 400, description = "`redirect_not_allowed`: `redirect_to` is not in the allowlist. \
            `scope_not_allowed`: a scope is not configured for the provider."),
        (status = 429, description = "`rate_limited`: too many sign-ins started from this address."),
        (status = 503, description = "`provider_unavailable`: the provider cannot be reached."),
    ),
)]
pub(crate) async fn start(
    State(state): State<AppState>,
    Client(client): Client,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(query): ApiQuery<StartQuery>,
    headers: HeaderMap,
) -> Response {
    limited_per_ip(&state, &client, start_flow(&state, &provider, &query, &headers)).await
}

/// Runs `flow` if the client's address is within `oauth_ip`, with the limit's headers either way.
async fn limited_per_ip(
    state: &AppState,
    client: &ClientContext,
    flow: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let key = LimitKey { ip: client.ip, route: "/v1/oauth", ..LimitKey::default() };
        let result = match check(state, &["oauth_ip"], &key, &mut limits).await {
            Ok(()) => flow.await,
            Err(error) => Err(error),
        };
        (result, limits)
    })
    .await
}

async fn start_flow(
    state: &AppState,
    provider: &str,
    query: &StartQuery,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let oauth = &state.services().oauth;
    let provider = oauth.provider(provider)?;
    let redirect_to = oauth.allowlist.check(query.redirect_to.as_deref()).map_err(|_| ApiError::RedirectNotAllowed)?;
    let scopes = provider.info().scopes_for(query.scopes.as_deref()).map_err(ApiError::ScopeNotAllowed)?;
    let hint = query.login_hint.as_deref().filter(|hint| !hint.is_empty());
    if hint.is_some_and(|hint| hint.len() > 254 || hint.chars().any(char::is_control)) {
        return Err(ApiError::InvalidQuery("login_hint must be up to 254 printable characters".into()));
    }
    let (url, cookie) =
        begin(state, provider.as_ref(), redirect_to.as_str(), scopes, hint, StatePurpose::SignIn, headers).await?;
    Ok(redirect_with(&url, Some(cookie)))
}

/// Stores a new state for a flow and returns the provider's URL and the binding cookie.
pub(crate) async fn begin(
    state: &AppState,
    provider: &dyn ProviderClient,
    redirect_to: &str,
    scopes: Vec<String>,
    login_hint: Option<&str>,
    purpose: StatePurpose,
    headers: &HeaderMap,
) -> Result<(String, HeaderValue), ApiError> {
    let services = state.services();
    let oauth = &services.oauth;
    let name = &provider.info().name;
    let state_token = RandomToken::from_random(os_random()?);
    let nonce = RandomToken::from_random(os_random()?).encode();
    let pkce = Pkce::from_random(os_random()?);
    // Flows started in several tabs of one browser share its binding.
    let browser = match cookie_value(headers, BROWSER_COOKIE).and_then(RandomToken::parse) {
        Some(existing) => existing,
        None => RandomToken::from_random(os_random()?),
    };
    let redirect_uri = oauth.redirect_uri(name);
    let encoded_state = state_token.encode();
    let authorization = Authorization {
        state: &encoded_state,
        nonce: &nonce,
        code_challenge: &pkce.challenge(),
        redirect_uri: &redirect_uri,
        scopes: &scopes,
        login_hint,
    };
    let url = provider.authorization_url(&authorization).await.map_err(provider_unavailable)?;
    let now = services.clock.now();
    let record = OAuthState {
        id_hash: state_token.hash(),
        provider: name.clone(),
        browser_hash: browser.hash(),
        pkce,
        nonce,
        redirect_to: redirect_to.to_owned(),
        scopes,
        purpose,
        created_at: now,
        expires_at: now + time::Duration::try_from(STATE_LIFETIME).unwrap_or(time::Duration::MINUTE),
    };
    oauth.states.insert_state(&record).await?;
    Ok((url, browser_cookie(state, &browser)))
}

fn provider_unavailable(error: ProviderError) -> ApiError {
    tracing::warn!(%error, "provider call failed");
    ApiError::ProviderUnavailable
}

fn browser_cookie(state: &AppState, token: &RandomToken) -> HeaderValue {
    let max_age = STATE_LIFETIME.as_secs();
    let mut text =
        format!("{BROWSER_COOKIE}={}; Path=/v1/oauth; HttpOnly; SameSite=Lax; Max-Age={max_age}", token.encode());
    if state.cookie().secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("gatehouse_oauth=; Max-Age=0"))
}

fn redirect_with(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `redirect_to` with `error=CODE` added to its query.
fn with_error(redirect_to: &str, code: &str) -> String {
    match url::Url::parse(redirect_to) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("error", code);
            url.to_string()
        }
        Err(_) => redirect_to.to_owned(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallbackQuery {
    /// The state `start` sent; works once, for ten minutes, in the browser that started.
    state: Option<String>,
    /// The authorization code.
    code: Option<String>,
    /// RFC 9207: the issuer of the authorization response.
    iss: Option<String>,
    /// The provider's error (`access_denied`, …), instead of a code.
    error: Option<String>,
}

/// `GET /v1/oauth/{provider}/callback`: where the provider sends the browser back; signs in (or
/// links, for a flow started by `POST /v1/me/identities/{provider}`) and redirects to
/// `redirect_to`, with `error=CODE` when the sign-in failed. Limited per IP (`oauth_ip`).
#[utoipa::path(
    get,
    path = "/v1/oauth/{provider}/callback",
    tag = "oauth",
    params(("provider" = String, Path, description = "A configured provider's name."), CallbackQuery),
    responses(
        (status = 302, description = "To `redirect_to`: signed in (the session cookie is set), linked, or with \
            `error` set to `access_denied`, `provider_error`, `provider_unavailable`, `issuer_mismatch`, \
            `email_conflict`, `email_required`, `account_disabled`, `identity_in_use` or `session_ended`.",
            headers(("location" = String, description = "`redirect_to`, perhaps with `error`."),
                ("set-cookie" = String, description = "The session cookie, when signed in."))),
        (status = 400, description = "`oauth_state_invalid`: the state is missing, unknown, used, expired, for \
            another provider, or from another browser."),
        (status = 429, description = "`rate_limited`: too many callbacks from this address."),
    ),
)]
pub(crate) async fn callback(
    State(state): State<AppState>,
    Client(client): Client,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(query): ApiQuery<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    limited_per_ip(&state, &client, finish_flow(&state, &client, &provider, &query, &headers)).await
}

/// A failure after the state checked out: the app learns it from `redirect_to?error=CODE`.
struct FlowError(&'static str);

async fn finish_flow(
    state: &AppState,
    client: &ClientContext,
    provider: &str,
    query: &CallbackQuery,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let services = state.services();
    let oauth = &services.oauth;
    let provider = oauth.provider(provider)?;
    let stored = consume_state(state, provider.as_ref(), query, headers).await?;
    match complete(state, provider.as_ref(), &stored, query, client).await {
        Ok(response) => Ok(response),
        Err(FlowError(code)) => {
            let event = AuditEvent::new(AuditAction::LoginFailed, Actor::Anonymous, services.clock.now(), client)
                .detail("provider", provider.info().name.as_str())
                .detail("reason", code);
            services.audit.append(&[event]).await?;
            Ok(redirect_with(&with_error(&stored.redirect_to, code), None))
        }
    }
}

async fn consume_state(
    state: &AppState,
    provider: &dyn ProviderClient,
    query: &CallbackQuery,
    headers: &HeaderMap,
) -> Result<OAuthState, ApiError> {
    let services = state.services();
    let token = query
        .state
        .as_deref()
        .and_then(RandomToken::parse)
        .ok_or(ApiError::OAuthStateInvalid("the state parameter is missing or malformed"))?;
    let stored = services
        .oauth
        .states
        .take_state(&token.hash())
        .await?
        .ok_or(ApiError::OAuthStateInvalid("the state is unknown or was used already"))?;
    if stored.expires_at <= services.clock.now() {
        return Err(ApiError::OAuthStateInvalid("the state has expired"));
    }
    if stored.provider != provider.info().name {
        return Err(ApiError::OAuthStateInvalid("the state belongs to another provider"));
    }
    let browser = cookie_value(headers, BROWSER_COOKIE).and_then(RandomToken::parse);
    let same_browser = browser.is_some_and(|browser| bool::from(browser.hash().0.ct_eq(&stored.browser_hash.0)));
    if !same_browser {
        return Err(ApiError::OAuthStateInvalid("the sign-in was started in another browser"));
    }
    Ok(stored)
}

async fn complete(
    state: &AppState,
    provider: &dyn ProviderClient,
    stored: &OAuthState,
    query: &CallbackQuery,
    client: &ClientContext,
) -> Result<Response, FlowError> {
    if let Some(error) = &query.error {
        return Err(FlowError(if error == "access_denied" { "access_denied" } else { "provider_error" }));
    }
    let (issuer, promised) = provider.callback_issuer().await.map_err(|_| FlowError("provider_unavailable"))?;
    match (&query.iss, issuer) {
        (Some(given), Some(expected)) if *given != expected => return Err(FlowError("issuer_mismatch")),
        (None, Some(_)) if promised => return Err(FlowError("issuer_mismatch")),
        _ => {}
    }
    let code = query.code.as_deref().filter(|code| !code.is_empty()).ok_or(FlowError("provider_error"))?;
    let redirect_uri = state.services().oauth.redirect_uri(&stored.provider);
    let exchange = CodeExchange {
        code,
        pkce: &stored.pkce,
        nonce: &stored.nonce,
        redirect_uri: &redirect_uri,
        scopes: &stored.scopes,
    };
    let (identity, tokens) = provider.complete(&exchange).await.map_err(|error| {
        tracing::warn!(provider = %stored.provider, %error, "completing a sign-in failed");
        FlowError(match error {
            ProviderError::Unavailable(_) => "provider_unavailable",
            ProviderError::Refused { .. } | ProviderError::Invalid(_) => "provider_error",
        })
    })?;
    let internal = |error: ApiError| {
        tracing::error!(%error, "a sign-in with a provider failed on our side");
        FlowError("server_error")
    };
    let flow_error = |error: SignInError| match error {
        SignInError::Flow(flow) => flow,
        SignInError::Api(api) => internal(api),
    };
    let (user_id, signed_in) = match stored.purpose {
        StatePurpose::SignIn => sign_in(state, provider, &identity, client).await.map_err(flow_error)?,
        StatePurpose::Link { user_id, session_id } => {
            link(state, provider, &identity, user_id, session_id, client).await.map_err(flow_error)?;
            (user_id, ProviderSignIn::Linked)
        }
    };
    crate::vault::keep(state, provider, user_id, &tokens, &stored.scopes, client).await.map_err(internal)?;
    Ok(match signed_in {
        ProviderSignIn::Session(cookie) => redirect_with(&stored.redirect_to, Some(cookie)),
        ProviderSignIn::Linked => redirect_with(&stored.redirect_to, None),
        ProviderSignIn::SecondStep(cookie) => {
            redirect_with(&second_step_location(state, &stored.redirect_to), Some(cookie))
        }
    })
}

/// What a provider callback ends in.
enum ProviderSignIn {
    /// Signed in: the session cookie.
    Session(HeaderValue),
    /// An identity linked to the signed-in account.
    Linked,
    /// The account has a second factor: the second step's cookie.
    SecondStep(HeaderValue),
}

/// Where a provider sign-in that needs a second factor goes: the hosted second-step page, leading on
/// to `redirect_to`; without hosted pages, `redirect_to` itself with `mfa_required=true`, for the
/// app to ask for the code and send it to `POST /v1/login/mfa` (the step's cookie goes with it).
fn second_step_location(state: &AppState, redirect_to: &str) -> String {
    if state.services().pages.is_some() {
        let page = crate::pages::with_return_to("/login/mfa", Some(redirect_to), &[]);
        format!("{}{page}", state.services().oauth.public_url)
    } else {
        match url::Url::parse(redirect_to) {
            Ok(mut url) => {
                url.query_pairs_mut().append_pair("mfa_required", "true");
                url.to_string()
            }
            Err(_) => redirect_to.to_owned(),
        }
    }
}

enum SignInError {
    Flow(FlowError),
    Api(ApiError),
}

impl From<ApiError> for SignInError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<StoreError> for SignInError {
    fn from(error: StoreError) -> Self {
        Self::Api(ApiError::Store(error))
    }
}

fn new_identity(
    provider: &ProviderName,
    identity: &ProviderIdentity,
    user_id: Uuid,
    now: time::OffsetDateTime,
) -> Identity {
    Identity {
        id: Uuid::new_v4(),
        user_id,
        provider: provider.clone(),
        subject: identity.subject.clone(),
        email: identity.email.as_ref().map(|email| email.as_str().to_owned()),
        created_at: now,
    }
}

fn linked_event(state: &AppState, identity: &Identity) -> Result<gatehouse_core::jobs::NewJob, ApiError> {
    let data = json!({ "user_id": identity.user_id, "identity_id": identity.id, "provider": identity.provider });
    gatehouse_event(state, "identity.linked", data)
}

/// Signs the identity's person in: the same session and cookie as a password login.
async fn sign_in(
    state: &AppState,
    provider: &dyn ProviderClient,
    identity: &ProviderIdentity,
    client: &ClientContext,
) -> Result<(Uuid, ProviderSignIn), SignInError> {
    let services = state.services();
    let info = provider.info();
    let identities = &services.oauth.identities;
    let linked = identities.identity(&info.name, &identity.subject).await?.map(|(_, user)| user);
    let same_email = match (&linked, &identity.email) {
        (None, Some(email)) => services.accounts.credentials_by_email(email.normalized()).await?.map(|c| c.user),
        _ => None,
    };
    let decision = decide_sign_in(linked, identity, same_email, info.link_verified_email);
    let now = services.clock.now();
    let user_id = match &decision {
        SignInDecision::Existing(user) | SignInDecision::LinkByEmail(user) => user.id,
        SignInDecision::Create => Uuid::new_v4(),
        SignInDecision::EmailConflict => return Err(SignInError::Flow(FlowError("email_conflict"))),
        SignInDecision::EmailRequired => return Err(SignInError::Flow(FlowError("email_required"))),
        SignInDecision::Disabled => return Err(SignInError::Flow(FlowError("account_disabled"))),
    };
    // An existing account with a second factor gets no session yet (a new one has no factor).
    let second_step = match &decision {
        SignInDecision::Existing(_) | SignInDecision::LinkByEmail(_) => {
            crate::mfa::second_step_methods(state, user_id).await?.is_some()
        }
        _ => false,
    };
    let (session, token) = new_session(state, user_id, client, &[AuthMethod::Oauth])?;
    let login = AuditEvent::new(AuditAction::LoginSucceeded, Actor::User(user_id), now, client)
        .target("session", session.session.id)
        .detail("provider", info.name.as_str());
    let created =
        json!({ "session_id": session.session.id, "user_id": user_id, "method": "oauth", "provider": info.name });
    let mut jobs = vec![gatehouse_event(state, "session.created", created)?];
    match decision {
        SignInDecision::Existing(_) if second_step => {}
        SignInDecision::Existing(_) => {
            services.sessions.create_session(&session, &[login], &jobs).await?;
        }
        SignInDecision::LinkByEmail(_) => {
            let record = new_identity(&info.name, identity, user_id, now);
            if second_step {
                jobs.clear();
            }
            jobs.push(linked_event(state, &record)?);
            let linked = AuditEvent::new(AuditAction::IdentityLinked, Actor::User(user_id), now, client)
                .target("identity", record.id)
                .detail("provider", info.name.as_str())
                .detail("how", "verified_email");
            let (session, events) =
                if second_step { (None, vec![linked]) } else { (Some(&session), vec![linked, login]) };
            match identities.link_identity(&record, session, &jobs, &events).await {
                Ok(()) => {}
                Err(StoreError::Duplicate { .. }) => return Err(SignInError::Flow(FlowError("identity_in_use"))),
                Err(other) => return Err(other.into()),
            }
        }
        SignInDecision::Create => {
            let Some(email) = identity.email.clone() else {
                return Err(SignInError::Flow(FlowError("email_required")));
            };
            let user = NewUser {
                id: user_id,
                email,
                name: identity.name.clone(),
                password_hash: None,
                email_verified_at: identity.email_verified.then_some(now),
                created_at: now,
            };
            let record = new_identity(&info.name, identity, user_id, now);
            jobs.insert(0, gatehouse_event(state, "user.created", json!({ "user": user.as_user() }))?);
            jobs.push(linked_event(state, &record)?);
            let signed_up = AuditEvent::new(AuditAction::UserSignedUp, Actor::User(user_id), now, client)
                .target("user", user_id)
                .detail("email", user.email.masked())
                .detail("provider", info.name.as_str());
            match identities.create_user_with_identity(&user, &record, &session, &jobs, &[signed_up, login]).await {
                Ok(User { .. }) => {}
                // Someone took the address (or the identity) a moment ago: the same answer as
                // if they had been first.
                Err(StoreError::Duplicate { .. }) => return Err(SignInError::Flow(FlowError("email_conflict"))),
                Err(other) => return Err(other.into()),
            }
        }
        SignInDecision::EmailConflict | SignInDecision::EmailRequired | SignInDecision::Disabled => {}
    }
    services.enqueued(&jobs);
    if second_step {
        let (_, step_token) = crate::mfa::start_second_step(state, user_id, AuthMethod::Oauth, client, None).await?;
        return Ok((user_id, ProviderSignIn::SecondStep(crate::mfa::step_cookie(state, Some(&step_token)))));
    }
    Ok((user_id, ProviderSignIn::Session(session_cookie(state, Some(&token)))))
}

/// Links the identity to the account whose session started the flow.
async fn link(
    state: &AppState,
    provider: &dyn ProviderClient,
    identity: &ProviderIdentity,
    user_id: Uuid,
    session_id: Uuid,
    client: &ClientContext,
) -> Result<(), SignInError> {
    let services = state.services();
    let now = services.clock.now();
    let alive = services.sessions.session_by_id(session_id).await?.is_some_and(|found| {
        found.user.id == user_id && !found.user.disabled && found.session.absolute_expires_at > now
    });
    if !alive {
        return Err(SignInError::Flow(FlowError("session_ended")));
    }
    let info = provider.info();
    match services.oauth.identities.identity(&info.name, &identity.subject).await? {
        Some((_, owner)) if owner.id == user_id => return Ok(()),
        Some(_) => return Err(SignInError::Flow(FlowError("identity_in_use"))),
        None => {}
    }
    let record = new_identity(&info.name, identity, user_id, now);
    let jobs = [linked_event(state, &record)?];
    let event = AuditEvent::new(AuditAction::IdentityLinked, Actor::User(user_id), now, client)
        .target("identity", record.id)
        .detail("provider", info.name.as_str())
        .detail("how", "account");
    match services.oauth.identities.link_identity(&record, None, &jobs, &[event]).await {
        Ok(()) => {
            services.enqueued(&jobs);
            Ok(())
        }
        Err(StoreError::Duplicate { .. }) => Err(SignInError::Flow(FlowError("identity_in_use"))),
        Err(other) => Err(other.into()),
    }
}

/// The scopes a grant holds: what the provider said it granted, or else what was asked for.
pub(crate) fn granted_scopes(tokens: &TokenSet, asked: &[String]) -> Vec<String> {
    tokens.scopes.clone().unwrap_or_else(|| asked.to_vec())
}
