//! The webhook API for services (scope `webhooks`): endpoints, their secrets and deliveries, and
//! events published by apps.
//!
//! A secret is shown once, when an endpoint is created or its secret rotated; the store keeps it
//! sealed. After a rotation the old secret keeps signing beside the new one for the grace period,
//! so a receiver can switch without dropping a delivery.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::sessions::ClientContext;
use gatehouse_core::tokens::KeyEncryption;
use gatehouse_core::webhooks::{
    Delivery, Endpoint, EndpointChanges, Event, MAX_EVENT_TYPES, WebhookSecret, WebhookStore, parse_event_type,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, FieldError, os_random};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service_keys::{Scoped, scopes};
use crate::sessions::Client;
use crate::state::AppState;

/// Every endpoint here needs a key with scope `webhooks`.
type Key = Scoped<scopes::Webhooks>;
const MAX_URL_LEN: usize = 2000;

/// What the webhook API needs, from the binary's wiring.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub store: Arc<dyn WebhookStore>,
    /// Seals endpoint secrets; derived from the master secret for this purpose only.
    pub sealing: Arc<KeyEncryption>,
    /// How long a rotated-out secret keeps signing.
    pub rotation_grace: Duration,
}

pub use gatehouse_core::webhooks::sealing_label;

fn field(field: &str, message: impl ToString) -> FieldError {
    FieldError { field: field.to_owned(), message: message.to_string() }
}

fn parse_url(text: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match url::Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() && text.len() <= MAX_URL_LEN => {
            if url.username().is_empty() && url.password().is_none() {
                Some(url.to_string())
            } else {
                errors.push(field("url", "must not carry credentials; the signature authenticates Gatehouse"));
                None
            }
        }
        _ => {
            errors.push(field("url", "must be an http(s) URL such as https://app.example.com/webhooks"));
            None
        }
    }
}

fn parse_types(types: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    if types.is_empty() || types.len() > MAX_EVENT_TYPES {
        errors.push(field("event_types", format!("must list 1 to {MAX_EVENT_TYPES} event types")));
        return None;
    }
    let before = errors.len();
    let mut parsed = Vec::new();
    for (i, text) in types.iter().enumerate() {
        match parse_event_type(text) {
            Ok(event_type) => parsed.push(event_type),
            Err(message) => errors.push(field(&format!("event_types[{i}]"), message)),
        }
    }
    parsed.sort();
    parsed.dedup();
    (errors.len() == before).then_some(parsed)
}

fn new_secret() -> Result<WebhookSecret, ApiError> {
    Ok(WebhookSecret::from_random(os_random::<24>()?))
}

fn seal(settings: &WebhookSettings, endpoint: Uuid, secret: &WebhookSecret) -> Result<Vec<u8>, ApiError> {
    settings
        .sealing
        .seal(&sealing_label(endpoint), secret.expose_bytes(), os_random()?)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn audit(action: AuditAction, key: &Key, now: time::OffsetDateTime, client: &ClientContext, id: Uuid) -> AuditEvent {
    AuditEvent::new(action, Actor::ApiKey(key.0.id), now, client).target("webhook_endpoint", id)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateEndpoint {
    /// Where deliveries go: an http(s) URL without credentials.
    #[schema(max_length = 2000, example = "https://app.example.com/webhooks/gatehouse")]
    url: String,
    /// Event types, such as `user.created`, or `*` for all.
    #[schema(min_items = 1, max_items = 50, example = json!(["user.created", "session.revoked"]))]
    event_types: Vec<String>,
    /// Default `true`.
    enabled: Option<bool>,
}

/// A new endpoint, with its signing secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: Endpoint,
    /// `whsec_…`: verifies the `webhook-signature` of every delivery (Standard Webhooks).
    secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EndpointList {
    endpoints: Vec<Endpoint>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RotatedSecret {
    /// The new `whsec_…` secret.
    secret: String,
    /// Until then, deliveries are signed with the old secret too.
    #[serde(with = "time::serde::rfc3339")]
    previous_secret_expires_at: time::OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DeliveryList {
    deliveries: Vec<Delivery>,
}

/// A delivery queued to be sent again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RetryQueued {
    id: Uuid,
}

/// A published event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Published {
    /// `msg_…`: the `webhook-id` of every delivery of this event.
    id: String,
}

/// `POST /v1/webhooks/endpoints`: creates an endpoint; answers 201 with it and its secret (shown
/// this once).
#[utoipa::path(
    post,
    path = "/v1/webhooks/endpoints",
    tag = "webhooks",
    request_body = CreateEndpoint,
    security(("service_key" = ["webhooks"])),
    responses(
        (status = 201, description = "The endpoint and its secret, shown this once.", body = CreatedEndpoint),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
    ),
)]
pub(crate) async fn create_endpoint(
    State(state): State<AppState>,
    key: Key,
    Client(client): Client,
    ApiJson(body): ApiJson<CreateEndpoint>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let url = parse_url(&body.url, &mut errors);
    let types = parse_types(&body.event_types, &mut errors);
    let (Some(url), Some(event_types), true) = (url, types, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let services = state.services();
    let settings = &services.webhooks;
    let now = services.clock.now();
    let endpoint = Endpoint {
        id: Uuid::new_v4(),
        url,
        event_types,
        enabled: body.enabled.unwrap_or(true),
        disabled_reason: None,
        created_at: now,
        failing_since: None,
    };
    let secret = new_secret()?;
    let sealed = seal(settings, endpoint.id, &secret)?;
    let event = audit(AuditAction::WebhookEndpointCreated, &key, now, &client, endpoint.id);
    settings.store.create_endpoint(&endpoint, &sealed, &[event]).await?;
    Ok((StatusCode::CREATED, Json(CreatedEndpoint { endpoint, secret: secret.encode() })).into_response())
}

/// `GET /v1/webhooks/endpoints`: every endpoint, without secrets.
#[utoipa::path(
    get,
    path = "/v1/webhooks/endpoints",
    tag = "webhooks",
    security(("service_key" = ["webhooks"])),
    responses((status = 200, description = "Every endpoint (without secrets).", body = EndpointList)),
)]
pub(crate) async fn list_endpoints(State(state): State<AppState>, _key: Key) -> Result<Response, ApiError> {
    let endpoints = state.services().webhooks.store.endpoints().await?;
    Ok(Json(EndpointList { endpoints }).into_response())
}

/// `GET /v1/webhooks/endpoints/{id}`: one endpoint, without its secret.
#[utoipa::path(
    get,
    path = "/v1/webhooks/endpoints/{id}",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id.")),
    security(("service_key" = ["webhooks"])),
    responses(
        (status = 200, description = "The endpoint.", body = Endpoint),
        (status = 404, description = "`not_found`: no such endpoint."),
    ),
)]
pub(crate) async fn endpoint(
    State(state): State<AppState>,
    _key: Key,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let stored = state.services().webhooks.store.endpoint(id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(stored.endpoint).into_response())
}

/// The fields to change; absent ones stay.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateEndpoint {
    #[schema(max_length = 2000)]
    url: Option<String>,
    #[schema(min_items = 1, max_items = 50)]
    event_types: Option<Vec<String>>,
    /// `true` also clears a reason Gatehouse disabled it for, and its failure streak.
    enabled: Option<bool>,
}

/// `PATCH /v1/webhooks/endpoints/{id}`: any of url, event_types, enabled. Enabling an endpoint
/// Gatehouse disabled clears the reason and the failure streak.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/endpoints/{id}",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id.")),
    request_body = UpdateEndpoint,
    security(("service_key" = ["webhooks"])),
    responses(
        (status = 200, description = "The endpoint as changed.", body = Endpoint),
        (status = 404, description = "`not_found`: no such endpoint."),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
    ),
)]
pub(crate) async fn update_endpoint(
    State(state): State<AppState>,
    key: Key,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateEndpoint>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let url = body.url.as_deref().and_then(|url| parse_url(url, &mut errors));
    let event_types = body.event_types.as_deref().and_then(|types| parse_types(types, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let services = state.services();
    let now = services.clock.now();
    let changes = EndpointChanges { url, event_types, enabled: body.enabled };
    let event = audit(AuditAction::WebhookEndpointUpdated, &key, now, &client, id);
    let updated = services.webhooks.store.update_endpoint(id, &changes, now, &[event]).await?;
    Ok(Json(updated.ok_or(ApiError::NotFound)?).into_response())
}

/// `DELETE /v1/webhooks/endpoints/{id}`: the endpoint and its delivery history.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/endpoints/{id}",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id.")),
    security(("service_key" = ["webhooks"])),
    responses(
        (status = 204, description = "Deleted, with its deliveries."),
        (status = 404, description = "`not_found`: no such endpoint."),
    ),
)]
pub(crate) async fn delete_endpoint(
    State(state): State<AppState>,
    key: Key,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let services = state.services();
    let event = audit(AuditAction::WebhookEndpointDeleted, &key, services.clock.now(), &client, id);
    if services.webhooks.store.delete_endpoint(id, &[event]).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `POST /v1/webhooks/endpoints/{id}/rotate-secret`: a new secret; the old one keeps signing beside
/// it for the grace period.
#[utoipa::path(
    post,
    path = "/v1/webhooks/endpoints/{id}/rotate-secret",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id.")),
    security(("service_key" = ["webhooks"])),
    responses(
        (status = 200, description = "The new secret, shown this once.", body = RotatedSecret),
        (status = 404, description = "`not_found`: no such endpoint."),
    ),
)]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    key: Key,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let services = state.services();
    let settings = &services.webhooks;
    let now = services.clock.now();
    let secret = new_secret()?;
    let sealed = seal(settings, id, &secret)?;
    let until = gatehouse_core::jobs::after(now, settings.rotation_grace);
    let event = audit(AuditAction::WebhookSecretRotated, &key, now, &client, id);
    if !settings.store.rotate_secret(id, &sealed, until, &[event]).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(RotatedSecret { secret: secret.encode(), previous_secret_expires_at: until }).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveriesQuery {
    /// How many deliveries, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// `GET /v1/webhooks/endpoints/{id}/deliveries?limit=N`: newest first, each with its attempts.
#[utoipa::path(
    get,
    path = "/v1/webhooks/endpoints/{id}/deliveries",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id."), DeliveriesQuery),
    security(("service_key" = ["webhooks"])),
    responses(
        (status = 200, description = "Deliveries, newest first, each with every attempt.", body = DeliveryList),
        (status = 404, description = "`not_found`: no such endpoint."),
    ),
)]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    _key: Key,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidQuery("limit must be between 1 and 500".into()));
    }
    let store = &state.services().webhooks.store;
    store.endpoint(id).await?.ok_or(ApiError::NotFound)?;
    let deliveries = store.deliveries(id, limit).await?;
    Ok(Json(DeliveryList { deliveries }).into_response())
}

/// `POST /v1/webhooks/deliveries/{id}/retry`: sends the delivery again now (202).
#[utoipa::path(
    post,
    path = "/v1/webhooks/deliveries/{id}/retry",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The delivery's id.")),
    security(("service_key" = ["webhooks"])),
    responses(
        (status = 202, description = "Queued to be sent again now.", body = RetryQueued),
        (status = 404, description = "`not_found`: no such delivery."),
    ),
)]
pub(crate) async fn retry_delivery(
    State(state): State<AppState>,
    key: Key,
    Client(client): Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let services = state.services();
    let now = services.clock.now();
    let event = AuditEvent::new(AuditAction::WebhookDeliveryRetried, Actor::ApiKey(key.0.id), now, &client)
        .target("webhook_delivery", id);
    if !services.webhooks.store.retry_delivery(id, now, &[event]).await? {
        return Err(ApiError::NotFound);
    }
    services.jobs_waker.notify_one();
    Ok((StatusCode::ACCEPTED, Json(RetryQueued { id })).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishEvent {
    /// Dotted lowercase words, such as `invoice.paid`.
    #[serde(rename = "type")]
    #[schema(example = "invoice.paid")]
    event_type: String,
    /// Any JSON: delivered as the event's `data`.
    payload: serde_json::Value,
}

/// `POST /v1/webhooks/events {type, payload}`: publishes an app's own event to every endpoint
/// subscribed to its type (202 `{id}`).
#[utoipa::path(
    post,
    path = "/v1/webhooks/events",
    tag = "webhooks",
    request_body = PublishEvent,
    security(("service_key" = ["webhooks"])),
    responses(
        (status = 202, description = "Accepted for delivery to every subscribed endpoint.", body = Published),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
    ),
)]
pub(crate) async fn publish(
    State(state): State<AppState>,
    _key: Key,
    ApiJson(body): ApiJson<PublishEvent>,
) -> Result<Response, ApiError> {
    let event_type =
        parse_event_type(&body.event_type).ok().filter(|event_type| event_type != "*").ok_or_else(|| {
            ApiError::Validation(vec![field("type", "must be dotted lowercase words such as `invoice.paid`")])
        })?;
    let services = state.services();
    let now = services.clock.now();
    let event = Event::new(&event_type, body.payload, now);
    let job = event.job(now).map_err(|e| ApiError::Internal(e.to_string()))?;
    services.jobs.enqueue(std::slice::from_ref(&job), now).await?;
    services.enqueued(std::slice::from_ref(&job));
    Ok((StatusCode::ACCEPTED, Json(Published { id: event.id })).into_response())
}

/// The fan-out job of an event Gatehouse itself reports, to commit with the change it describes.
pub(crate) fn gatehouse_event(
    state: &AppState,
    event_type: &'static str,
    data: serde_json::Value,
) -> Result<gatehouse_core::jobs::NewJob, ApiError> {
    debug_assert!(gatehouse_core::webhooks::BUILTIN_EVENTS.contains(&event_type), "{event_type}");
    let now = state.services().clock.now();
    Event::new(event_type, data, now).job(now).map_err(|e| ApiError::Internal(e.to_string()))
}
