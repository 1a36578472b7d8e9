//! Server-to-server authentication with service API keys (`Authorization: Bearer gh_…`), and the
//! first endpoint that uses it, `GET /v1/audit-events`.
//!
//! A missing, malformed, unknown or revoked key is a 401; a valid key without the scope the
//! endpoint needs is a 403 naming that scope. Handlers take a [`Scoped`] key, so both are decided
//! while the request's head is read, before its body or path is looked at: an under-scoped key
//! learns nothing about what the endpoint would have made of the rest.

use std::marker::PhantomData;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use gatehouse_core::api_keys::{ApiKey, ApiKeySecret};
use http::header;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Last-used times are written at most this often per key, so key checks rarely write.
const LAST_USED_GRANULARITY: time::Duration = time::Duration::minutes(1);

/// The API key a request authenticated with.
#[derive(Debug, Clone)]
pub struct ServiceKey(pub ApiKey);

/// A scope an endpoint requires, as a type, so the extractor can check it.
pub trait Scope: Send + Sync + 'static {
    const NAME: &'static str;
}

/// The scopes, one type each.
pub mod scopes {
    macro_rules! scope {
        ($name:ident, $text:literal) => {
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl super::Scope for $name {
                const NAME: &'static str = $text;
            }
        };
    }
    scope!(Admin, "admin");
    scope!(Audit, "audit");
    scope!(RateLimit, "rate_limit");
    scope!(Webhooks, "webhooks");
    scope!(Vault, "vault");
}

/// A service key that holds scope `S`: 401 without a valid key, 403 without the scope.
#[derive(Debug, Clone)]
pub struct Scoped<S>(pub ApiKey, PhantomData<S>);

impl<S: Scope> FromRequestParts<AppState> for Scoped<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ServiceKey(key) = ServiceKey::from_request_parts(parts, state).await?;
        if key.has_scope(S::NAME) { Ok(Self(key, PhantomData)) } else { Err(ApiError::MissingScope(S::NAME)) }
    }
}

impl FromRequestParts<AppState> for ServiceKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated("this endpoint needs an API key: `Authorization: Bearer gh_…`"))?;
        let secret = ApiKeySecret::parse(secret).ok_or(ApiError::Unauthenticated("that is not a Gatehouse API key"))?;
        let services = state.services();
        let key = services
            .api_keys
            .api_key_by_hash(&secret.hash())
            .await?
            .ok_or(ApiError::Unauthenticated("unknown or revoked API key"))?;
        let now = services.clock.now();
        if key.last_used_at.is_none_or(|last| now - last >= LAST_USED_GRANULARITY)
            && let Err(error) = services.api_keys.record_api_key_use(key.id, now).await
        {
            tracing::warn!(%error, "could not record API key use");
        }
        Ok(Self(key))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// How many events, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditEvents {
    events: Vec<gatehouse_core::audit::StoredAuditEvent>,
}

/// `GET /v1/audit-events?limit=N`: the most recent audit events, newest first (scope `audit`).
#[utoipa::path(
    get,
    path = "/v1/audit-events",
    tag = "service",
    params(AuditQuery),
    security(("service_key" = ["audit"])),
    responses((status = 200, description = "The most recent events, newest first.", body = AuditEvents)),
)]
pub(crate) async fn audit_events(
    State(state): State<AppState>,
    _key: Scoped<scopes::Audit>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidQuery("limit must be between 1 and 500".into()));
    }
    let events = state.services().audit.recent(limit).await?;
    Ok(Json(AuditEvents { events }).into_response())
}
