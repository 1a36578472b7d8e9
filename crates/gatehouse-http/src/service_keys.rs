//! Server-to-server authentication with service API keys (`Authorization: Bearer gh_…`), and the
//! first endpoint that uses it, `GET /v1/audit-events`.
//!
//! A missing, malformed, unknown or revoked key is a 401; a valid key without the scope the
//! endpoint needs is a 403 naming that scope.

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

impl ServiceKey {
    pub fn require(&self, scope: &'static str) -> Result<(), ApiError> {
        if self.0.has_scope(scope) { Ok(()) } else { Err(ApiError::MissingScope(scope)) }
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    limit: Option<u32>,
}

/// `GET /v1/audit-events?limit=N` (scope `audit`): the most recent events, newest first.
pub(crate) async fn audit_events(
    State(state): State<AppState>,
    key: ServiceKey,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    key.require("audit")?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidQuery("limit must be between 1 and 500".into()));
    }
    let events = state.services().audit.recent(limit).await?;
    Ok(Json(serde_json::json!({ "events": events })).into_response())
}
