//! Talking to sign-in providers over HTTP: OpenID Connect discovery, the authorization URL, the
//! token endpoint (code exchange and refresh), ID-token validation against the provider's JWKS,
//! GitHub's user and emails API, and RFC 7009 revocation.
//!
//! Written over the project's reqwest client and jsonwebtoken rather than the `oauth2` and
//! `openidconnect` crates: the calls are a handful of form posts, jsonwebtoken already verifies
//! the signatures, and openidconnect alone would add some fifty crates to the build.
//!
//! Discovery is lazy and retried: a provider that cannot be discovered at start is `degraded` in
//! `/health` (named, never with its secret), every sign-in with it tries again, and the
//! background loop of `serve` retries every 30 s. The JWKS is cached and fetched again when a token
//! names an unknown key, at most once a minute.

mod client;
mod health;
pub mod revoke;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_core::accounts::EmailAddress;
use gatehouse_core::clock::Clock;
use gatehouse_core::oauth::id_token::{self, Expected, IdTokenError};
use gatehouse_core::oauth::{
    Authorization, CodeExchange, ProviderClient, ProviderError, ProviderIdentity, ProviderInfo, ProviderKind, Secret,
    TokenSet,
};
use serde::Deserialize;
use tokio::sync::RwLock;

pub use health::OAuthCheck;

use crate::config::{ClientAuth, Endpoints, ProviderConfig};
use client::{Grant, TokenEndpoint};

/// Longest a provider call may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A JWKS is fetched again on an unknown `kid` at most this often.
const JWKS_REFETCH: Duration = Duration::from_secs(60);

/// What discovery found (or GitHub's fixed endpoints).
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    revocation_endpoint: Option<String>,
    /// RFC 9207.
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

#[derive(Debug, Default)]
struct Jwks {
    keys: Option<serde_json::Value>,
    fetched: Option<Instant>,
}

/// One configured provider.
#[derive(Debug)]
pub struct HttpProvider {
    info: ProviderInfo,
    config: ProviderConfig,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    metadata: RwLock<Option<Metadata>>,
    /// The last discovery failure, for `/health`; `None` once discovered.
    last_failure: std::sync::Mutex<Option<String>>,
    jwks: RwLock<Jwks>,
}

impl HttpProvider {
    pub fn new(config: ProviderConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| anyhow::anyhow!("building the OAuth client: {error}"))?;
        let info = ProviderInfo {
            name: config.name.clone(),
            kind: config.kind,
            display_name: config.display_name.clone(),
            extra_scopes: config.scopes.clone(),
            link_verified_email: config.link_verified_email,
        };
        let metadata = match &config.endpoints {
            Endpoints::Github { authorize_url, token_url, .. } => Some(Metadata {
                issuer: String::new(),
                authorization_endpoint: authorize_url.to_string(),
                token_endpoint: token_url.to_string(),
                jwks_uri: None,
                userinfo_endpoint: None,
                revocation_endpoint: None,
                authorization_response_iss_parameter_supported: false,
            }),
            Endpoints::Discovery { .. } => None,
        };
        let not_yet = metadata.is_none().then(|| "not discovered yet".to_owned());
        Ok(Arc::new(Self {
            info,
            config,
            http,
            clock,
            metadata: RwLock::new(metadata),
            last_failure: std::sync::Mutex::new(not_yet),
            jwks: RwLock::default(),
        }))
    }

    pub fn name(&self) -> &str {
        self.info.name.as_str()
    }

    /// Why the provider is not usable, if it is not.
    fn failure(&self) -> Option<String> {
        self.last_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set_failure(&self, failure: Option<String>) {
        let mut last = self.last_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // One log line per change of state, not one per attempt.
        match (&*last, &failure) {
            (Some(_), None) => tracing::info!(provider = self.name(), "provider discovered"),
            (None, Some(reason)) | (Some(_), Some(reason)) if last.as_deref() != Some(reason.as_str()) => {
                tracing::warn!(
                    provider = self.name(),
                    reason = reason.as_str(),
                    "provider cannot be discovered; retrying"
                );
            }
            _ => {}
        }
        *last = failure;
    }

    /// The provider's metadata, discovering it first when needed.
    async fn metadata(&self) -> Result<Metadata, ProviderError> {
        if let Some(found) = self.metadata.read().await.as_ref() {
            return Ok(found.clone());
        }
        let Endpoints::Discovery { issuer } = &self.config.endpoints else {
            return Err(ProviderError::Invalid("no endpoints".into()));
        };
        let outcome = self.discover(issuer).await;
        match &outcome {
            Ok(found) => {
                *self.metadata.write().await = Some(found.clone());
                self.set_failure(None);
            }
            Err(error) => self.set_failure(Some(error.to_string())),
        }
        outcome
    }

    /// Tries discovery when it has not succeeded yet; the background retry.
    pub async fn ensure_discovered(&self) {
        let _ = self.metadata().await;
    }

    async fn discover(&self, issuer: &url::Url) -> Result<Metadata, ProviderError> {
        let configured = issuer.as_str().trim_end_matches('/');
        let url = format!("{configured}/.well-known/openid-configuration");
        let found: Metadata = client::get_json(&self.http, &url, None).await?;
        // OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer we asked.
        if found.issuer.trim_end_matches('/') != configured {
            return Err(ProviderError::Invalid(format!("discovery names issuer {}", found.issuer)));
        }
        if found.jwks_uri.is_none() {
            return Err(ProviderError::Invalid("discovery has no jwks_uri".into()));
        }
        Ok(found)
    }

    fn token_endpoint<'a>(&'a self, metadata: &'a Metadata) -> TokenEndpoint<'a> {
        // GitHub takes the client's credentials in the form.
        let auth = if self.info.kind == ProviderKind::Github { ClientAuth::Post } else { self.config.auth_method };
        TokenEndpoint {
            http: &self.http,
            url: &metadata.token_endpoint,
            client_id: &self.config.client_id,
            client_secret: self.config.client_secret.expose(),
            auth,
        }
    }

    /// The JWKS, fetched when not cached or (`refetch`) when a token named an unknown key and the
    /// last fetch is over a minute old. `None` when a refetch is not allowed yet.
    async fn jwks(&self, metadata: &Metadata, refetch: bool) -> Result<Option<serde_json::Value>, ProviderError> {
        {
            let cached = self.jwks.read().await;
            match (&cached.keys, refetch) {
                (Some(keys), false) => return Ok(Some(keys.clone())),
                (Some(_), true) if cached.fetched.is_some_and(|at| at.elapsed() < JWKS_REFETCH) => return Ok(None),
                _ => {}
            }
        }
        let uri = metadata.jwks_uri.as_deref().ok_or_else(|| ProviderError::Invalid("no jwks_uri".into()))?;
        let keys: serde_json::Value = client::get_json(&self.http, uri, None).await?;
        let mut cached = self.jwks.write().await;
        cached.keys = Some(keys.clone());
        cached.fetched = Some(Instant::now());
        Ok(Some(keys))
    }

    async fn oidc_identity(
        &self,
        metadata: &Metadata,
        tokens: &client::TokenResponse,
        nonce: &str,
    ) -> Result<ProviderIdentity, ProviderError> {
        let token =
            tokens.id_token.as_deref().ok_or_else(|| ProviderError::Invalid("no id_token in the answer".into()))?;
        let expected =
            Expected { issuer: &metadata.issuer, client_id: &self.config.client_id, nonce, now: self.clock.now() };
        let keys = self.jwks(metadata, false).await?.unwrap_or_default();
        let claims = match id_token::validate(token, &keys, &expected) {
            Err(IdTokenError::UnknownKey) => match self.jwks(metadata, true).await? {
                Some(keys) => id_token::validate(token, &keys, &expected),
                None => Err(IdTokenError::UnknownKey),
            },
            other => other,
        }
        .map_err(|error| ProviderError::Invalid(error.to_string()))?;
        let mut identity = ProviderIdentity {
            email: claims.email.as_deref().and_then(|email| EmailAddress::parse(email).ok()),
            email_verified: claims.email_verified.unwrap_or(false),
            name: claims.name.clone(),
            subject: claims.sub.clone(),
        };
        // Some providers keep the address out of the ID token when an access token is issued
        // (OpenID Connect Core 5.4); the userinfo endpoint has it, for the same subject.
        if identity.email.is_none()
            && let Some(userinfo) = &metadata.userinfo_endpoint
        {
            let info: UserInfo = client::get_json(&self.http, userinfo, Some(&tokens.access_token)).await?;
            if info.sub == claims.sub {
                identity.email = info.email.as_deref().and_then(|email| EmailAddress::parse(email).ok());
                identity.email_verified = info.email_verified.unwrap_or(false);
                identity.name = identity.name.or(info.name);
            }
        }
        Ok(identity)
    }

    async fn github_identity(&self, access_token: &str) -> Result<ProviderIdentity, ProviderError> {
        let Endpoints::Github { api_url, .. } = &self.config.endpoints else {
            return Err(ProviderError::Invalid("not a GitHub provider".into()));
        };
        let base = api_url.as_str().trim_end_matches('/');
        let user: GithubUser = client::get_json(&self.http, &format!("{base}/user"), Some(access_token)).await?;
        let emails: Vec<GithubEmail> =
            client::get_json(&self.http, &format!("{base}/user/emails"), Some(access_token)).await?;
        let verified = emails.iter().filter(|email| email.verified);
        let chosen = verified.clone().find(|email| email.primary).or_else(|| verified.clone().next());
        Ok(ProviderIdentity {
            subject: user.id.to_string(),
            email: chosen.and_then(|email| EmailAddress::parse(&email.email).ok()),
            email_verified: chosen.is_some(),
            name: user.name.or(user.login),
        })
    }
}

#[derive(Debug, Deserialize)]
struct UserInfo {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GithubUser {
    id: u64,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GithubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

#[async_trait]
impl ProviderClient for HttpProvider {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn authorization_url(&self, authorization: &Authorization<'_>) -> Result<String, ProviderError> {
        let metadata = self.metadata().await?;
        let mut url = url::Url::parse(&metadata.authorization_endpoint)
            .map_err(|_| ProviderError::Invalid("the authorization endpoint is not a URL".into()))?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", authorization.redirect_uri)
                .append_pair("scope", &authorization.scopes.join(" "))
                .append_pair("state", authorization.state)
                .append_pair("code_challenge", authorization.code_challenge)
                .append_pair("code_challenge_method", "S256");
            match self.info.kind {
                ProviderKind::Github => {
                    if let Some(hint) = authorization.login_hint {
                        query.append_pair("login", hint);
                    }
                }
                ProviderKind::Google | ProviderKind::Oidc => {
                    query.append_pair("nonce", authorization.nonce);
                    if let Some(hint) = authorization.login_hint {
                        query.append_pair("login_hint", hint);
                    }
                }
            }
            // Google grants a refresh token only for offline access, and again only on consent;
            // OpenID Connect ignores `offline_access` without `prompt=consent` (Core 1.0, 11).
            let offline = authorization.scopes.iter().any(|scope| scope == "offline_access");
            if self.info.kind == ProviderKind::Google && self.info.wants_vault(authorization.scopes) {
                query.append_pair("access_type", "offline").append_pair("prompt", "consent");
            } else if offline {
                query.append_pair("prompt", "consent");
            }
        }
        Ok(url.into())
    }

    async fn callback_issuer(&self) -> Result<(Option<String>, bool), ProviderError> {
        if self.info.kind == ProviderKind::Github {
            return Ok((None, false));
        }
        let metadata = self.metadata().await?;
        Ok((Some(metadata.issuer.clone()), metadata.authorization_response_iss_parameter_supported))
    }

    async fn complete(&self, exchange: &CodeExchange<'_>) -> Result<(ProviderIdentity, TokenSet), ProviderError> {
        let metadata = self.metadata().await?;
        let grant =
            Grant::Code { code: exchange.code, redirect_uri: exchange.redirect_uri, verifier: &exchange.pkce.verifier };
        let tokens = self.token_endpoint(&metadata).call(grant).await?;
        let identity = match self.info.kind {
            ProviderKind::Github => self.github_identity(&tokens.access_token).await?,
            ProviderKind::Google | ProviderKind::Oidc => self.oidc_identity(&metadata, &tokens, exchange.nonce).await?,
        };
        Ok((identity, tokens.into_set(self.clock.now())))
    }

    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, ProviderError> {
        let metadata = self.metadata().await?;
        let tokens = self.token_endpoint(&metadata).call(Grant::Refresh { refresh_token: &refresh_token.0 }).await?;
        Ok(tokens.into_set(self.clock.now()))
    }

    async fn supports_revocation(&self) -> bool {
        match self.metadata().await {
            Ok(metadata) => metadata.revocation_endpoint.is_some(),
            // Unknown yet: queue the revocation; its job retries until the provider answers.
            Err(_) => self.info.kind != ProviderKind::Github,
        }
    }

    async fn revoke(&self, token: &Secret, hint: &str) -> Result<(), ProviderError> {
        let metadata = self.metadata().await?;
        let Some(endpoint) = metadata.revocation_endpoint.as_deref() else { return Ok(()) };
        let mut at = self.token_endpoint(&metadata);
        at.url = endpoint;
        at.revoke(&token.0, hint).await
    }
}
