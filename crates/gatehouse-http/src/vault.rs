//! The token vault over HTTP: keeping the tokens a sign-in granted, handing an access token to a
//! service (refreshing it first when it is about to expire), and the owner's connections.
//!
//! A refresh is single-flight across instances: within an instance, requests for one connection
//! queue on a local mutex; across instances, the first to take the connection's SQL refresh lock
//! calls the provider while the others re-read the record until the new token is there. So a
//! rotating refresh token is spent once, however many requests arrive together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::jobs::NewJob;
use gatehouse_core::oauth::{ProviderClient, ProviderError, ProviderName, TokenSet};
use gatehouse_core::sessions::ClientContext;
use gatehouse_core::vault::{
    ConnectionStatus, Refreshed, Revoke, RevokeJob, SealRandom, SealedConnection, Tokens, Vault, VaultStore,
};
use http::StatusCode;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{ApiError, os_random};
use crate::extract::ApiPath;
use crate::service_keys::{Scoped, scopes};
use crate::sessions::CurrentSession;
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

/// How long a refresh may hold the lock before another instance may take over.
const REFRESH_LOCK: Duration = Duration::from_secs(30);
/// How often a request waiting on another instance's refresh re-reads the record.
const WAIT_POLL: Duration = Duration::from_millis(50);
/// How long a request waits for another instance's refresh before giving up.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct VaultSettings {
    pub store: Arc<dyn VaultStore>,
    pub vault: Arc<Vault>,
    /// One mutex per connection being refreshed on this instance.
    local_locks: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

impl VaultSettings {
    pub fn new(store: Arc<dyn VaultStore>, vault: Arc<Vault>) -> Self {
        Self { store, vault, local_locks: Arc::default() }
    }

    fn local_lock(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.local_locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Entries no one holds any more are dropped as new ones come, so the map stays small.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(id).or_default().clone()
    }
}

fn seal_random() -> Result<SealRandom, ApiError> {
    Ok(SealRandom { data_key: os_random()?, wrap_nonce: os_random()?, data_nonce: os_random()? })
}

fn sealing_failed(error: gatehouse_core::sealing::SealError) -> ApiError {
    ApiError::Internal(format!("vault: {error}"))
}

/// Keeps the tokens of a finished sign-in or link when scopes beyond sign-in were granted.
pub(crate) async fn keep(
    state: &AppState,
    provider: &dyn ProviderClient,
    user_id: Uuid,
    tokens: &TokenSet,
    asked: &[String],
    client: &ClientContext,
) -> Result<(), ApiError> {
    let info = provider.info();
    let scopes = crate::oauth::granted_scopes(tokens, asked);
    if !info.wants_vault(&scopes) {
        return Ok(());
    }
    let services = state.services();
    let settings = &services.vault;
    let now = services.clock.now();
    let id = Uuid::new_v4();
    let plain = Tokens {
        access_token: tokens.access_token.0.clone(),
        refresh_token: tokens.refresh_token.as_ref().map(|token| token.0.clone()),
    };
    let (wrapped_key, ciphertext) =
        settings.vault.seal(id, user_id, &info.name, &plain, seal_random()?).map_err(sealing_failed)?;
    let connection = SealedConnection {
        id,
        user_id,
        provider: info.name.clone(),
        status: ConnectionStatus::Active,
        scopes: scopes.clone(),
        expires_at: tokens.expires_at,
        has_refresh_token: plain.refresh_token.is_some(),
        wrapped_key,
        ciphertext,
        created_at: now,
        updated_at: now,
    };
    let event = AuditEvent::new(AuditAction::ConnectionCreated, Actor::User(user_id), now, client)
        .target("connection", id)
        .detail("provider", info.name.as_str())
        .detail("scopes", scopes);
    settings.store.put_connection(&connection, &[event]).await?;
    Ok(())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct VaultToken {
    access_token: String,
    /// When the access token expires, if the provider said.
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    scopes: Vec<String>,
}

/// `GET /v1/vault/{user_id}/{provider}/token`: a user's access token for a provider (scope
/// `vault`), refreshed first when it expires within 60 s.
#[utoipa::path(
    get,
    path = "/v1/vault/{user_id}/{provider}/token",
    tag = "vault",
    params(
        ("user_id" = Uuid, Path, description = "The user."),
        ("provider" = String, Path, description = "A configured provider's name."),
    ),
    security(("service_key" = ["vault"])),
    responses(
        (status = 200, description = "A usable access token.", body = VaultToken),
        (status = 409, description = "`connection_broken`: the provider refused the refresh token, or the token \
            expired without one; the user must connect again."),
        (status = 503, description = "`provider_unavailable`: the token needed a refresh and the provider cannot \
            be reached; the record is unchanged."),
    ),
)]
pub(crate) async fn token(
    State(state): State<AppState>,
    key: Scoped<scopes::Vault>,
    ApiPath((user_id, provider)): ApiPath<(Uuid, String)>,
) -> Result<Response, ApiError> {
    let client = state.services().oauth.provider(&provider)?.clone();
    let found = state.services().vault.store.connection(user_id, &client.info().name).await?;
    let connection = usable(found)?;
    let connection = if connection.needs_refresh(state.services().clock.now()) {
        refresh(&state, client.as_ref(), connection, key.0.id).await?
    } else {
        connection
    };
    let tokens = state.services().vault.vault.open(&connection).map_err(sealing_failed)?;
    let body =
        VaultToken { access_token: tokens.access_token, expires_at: connection.expires_at, scopes: connection.scopes };
    Ok(Json(body).into_response())
}

fn usable(found: Option<SealedConnection>) -> Result<SealedConnection, ApiError> {
    match found {
        None => Err(ApiError::Missing("the user has no connection to that provider")),
        Some(connection) => match connection.status {
            ConnectionStatus::Active => Ok(connection),
            ConnectionStatus::Broken => Err(ApiError::ConnectionBroken("the provider refused its refresh token")),
            ConnectionStatus::Revoking => Err(ApiError::Missing("the user has no connection to that provider")),
        },
    }
}

/// The connection with a fresh access token: refreshed here, or by whoever held the lock.
async fn refresh(
    state: &AppState,
    provider: &dyn ProviderClient,
    connection: SealedConnection,
    api_key: Uuid,
) -> Result<SealedConnection, ApiError> {
    let services = state.services();
    let settings = &services.vault;
    let local = settings.local_lock(connection.id);
    let _queued = local.lock().await;
    let reread = |id| async move { settings.store.connection_by_id(id).await };
    let started = tokio::time::Instant::now();
    // Whoever held the local lock before us may have refreshed already.
    let mut current = usable(reread(connection.id).await?)?;
    loop {
        let now = services.clock.now();
        if !current.needs_refresh(now) {
            return Ok(current);
        }
        if !current.has_refresh_token {
            return match current.expires_at {
                Some(expires) if expires > now => Ok(current),
                _ => Err(ApiError::ConnectionBroken("the access token expired and there is no refresh token")),
            };
        }
        let holder = Uuid::new_v4();
        let until = now + time::Duration::try_from(REFRESH_LOCK).unwrap_or(time::Duration::SECOND);
        if settings.store.lock_refresh(current.id, holder, until, now).await? {
            // Another holder may have finished between our read and our lock.
            let fresh = usable(reread(current.id).await?)?;
            if !fresh.needs_refresh(now) {
                settings.store.release_refresh(fresh.id, holder).await?;
                return Ok(fresh);
            }
            return refresh_holding(state, provider, fresh, holder, api_key).await;
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(ApiError::ProviderUnavailable);
        }
        tokio::time::sleep(WAIT_POLL).await;
        current = usable(reread(current.id).await?)?;
    }
}

async fn refresh_holding(
    state: &AppState,
    provider: &dyn ProviderClient,
    connection: SealedConnection,
    holder: Uuid,
    api_key: Uuid,
) -> Result<SealedConnection, ApiError> {
    let services = state.services();
    let settings = &services.vault;
    let release = || settings.store.release_refresh(connection.id, holder);
    let tokens = match settings.vault.open(&connection) {
        Ok(tokens) => tokens,
        Err(error) => {
            release().await?;
            return Err(sealing_failed(error));
        }
    };
    let Some(refresh_token) = tokens.refresh() else {
        release().await?;
        return Err(ApiError::ConnectionBroken("there is no refresh token"));
    };
    match provider.refresh(&refresh_token).await {
        Ok(set) => {
            let now = services.clock.now();
            let plain = Tokens {
                access_token: set.access_token.0.clone(),
                // Providers that do not rotate refresh tokens send none back: keep the old one.
                refresh_token: set.refresh_token.map(|token| token.0).or(tokens.refresh_token),
            };
            let (wrapped_key, ciphertext) = settings
                .vault
                .seal(connection.id, connection.user_id, &connection.provider, &plain, seal_random()?)
                .map_err(sealing_failed)?;
            let refreshed = Refreshed {
                wrapped_key,
                ciphertext,
                expires_at: set.expires_at,
                scopes: set.scopes.unwrap_or_else(|| connection.scopes.clone()),
                has_refresh_token: plain.refresh_token.is_some(),
                at: now,
            };
            if !settings.store.finish_refresh(connection.id, holder, &refreshed).await? {
                // Our lock ran out and someone else refreshed; theirs is as good.
                return usable(settings.store.connection_by_id(connection.id).await?);
            }
            count_refresh(&connection.provider, "refreshed");
            Ok(SealedConnection {
                wrapped_key: refreshed.wrapped_key,
                ciphertext: refreshed.ciphertext,
                expires_at: refreshed.expires_at,
                scopes: refreshed.scopes,
                has_refresh_token: refreshed.has_refresh_token,
                updated_at: now,
                ..connection
            })
        }
        // GitHub calls a spent or revoked refresh token `bad_refresh_token`.
        Err(ProviderError::Refused { error }) if error == "invalid_grant" || error == "bad_refresh_token" => {
            let now = services.clock.now();
            let event =
                AuditEvent::new(AuditAction::ConnectionBroken, Actor::ApiKey(api_key), now, &ClientContext::default())
                    .target("connection", connection.id)
                    .detail("provider", connection.provider.as_str())
                    .detail("user_id", connection.user_id.to_string());
            let data =
                json!({ "user_id": connection.user_id, "provider": connection.provider, "reason": "invalid_grant" });
            let jobs = [gatehouse_event(state, "connection.broken", data)?];
            if settings.store.mark_broken(connection.id, holder, now, &jobs, &[event]).await? {
                services.enqueued(&jobs);
            }
            count_refresh(&connection.provider, "broken");
            Err(ApiError::ConnectionBroken("the provider refused the refresh token"))
        }
        Err(error) => {
            release().await?;
            tracing::warn!(provider = %connection.provider, %error, "refreshing a vault token failed");
            count_refresh(&connection.provider, "failed");
            Err(ApiError::ProviderUnavailable)
        }
    }
}

/// `gatehouse_vault_refreshes_total` by provider and outcome.
fn count_refresh(provider: &ProviderName, outcome: &'static str) {
    metrics::counter!("gatehouse_vault_refreshes_total", "provider" => provider.to_string(), "outcome" => outcome)
        .increment(1);
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectionList {
    connections: Vec<gatehouse_core::vault::Connection>,
}

/// `GET /v1/me/connections`: the signed-in user's connected accounts (never a token).
#[utoipa::path(
    get,
    path = "/v1/me/connections",
    tag = "vault",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "Provider, scopes, expiry and status of each connection.", body = ConnectionList)),
)]
pub(crate) async fn connections(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let found = state.services().vault.store.connections_of_user(current.user.id).await?;
    let connections = found.iter().map(SealedConnection::public).collect();
    Ok(Json(ConnectionList { connections }).into_response())
}

/// `DELETE /v1/me/connections/{provider}`: disconnects; the tokens are revoked at the provider
/// (when it supports RFC 7009, by a job) and deleted.
#[utoipa::path(
    delete,
    path = "/v1/me/connections/{provider}",
    tag = "vault",
    params(("provider" = String, Path, description = "A configured provider's name.")),
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 204, description = "Disconnected.")),
)]
pub(crate) async fn disconnect(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(provider): ApiPath<String>,
) -> Result<Response, ApiError> {
    disconnect_provider(&state, &current, &provider).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes the user's connection to `provider`, revoking its tokens at the provider by a job.
pub(crate) async fn disconnect_provider(
    state: &AppState,
    current: &CurrentSession,
    provider: &str,
) -> Result<(), ApiError> {
    let services = state.services();
    let client = services.oauth.provider(provider)?;
    let name: &ProviderName = &client.info().name;
    let Some(existing) = services.vault.store.connection(current.user.id, name).await? else {
        return Err(ApiError::Missing("the user has no connection to that provider"));
    };
    let now = services.clock.now();
    let revocation = if client.supports_revocation().await {
        let job = NewJob::of::<Revoke>(&RevokeJob { connection_id: existing.id }, now)
            .map_err(|error| ApiError::Internal(error.to_string()))?;
        Some(job)
    } else {
        None
    };
    let event = AuditEvent::new(AuditAction::ConnectionDeleted, Actor::User(current.user.id), now, &current.client)
        .target("connection", existing.id)
        .detail("provider", name.as_str())
        .detail("revoked_at_provider", revocation.is_some());
    if services.vault.store.disconnect(current.user.id, name, revocation.as_ref(), &[event]).await?.is_none() {
        return Err(ApiError::Missing("the user has no connection to that provider"));
    }
    if let Some(job) = &revocation {
        services.enqueued(std::slice::from_ref(job));
    }
    Ok(())
}
