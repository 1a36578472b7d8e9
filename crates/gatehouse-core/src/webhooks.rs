//! Webhooks as the Standard Webhooks specification describes them: endpoints with `whsec_` secrets,
//! events, the signature, and the storage port.
//!
//! An event is committed as a `webhook.fan_out` job in the transaction of the change it reports
//! (the outbox). Fanning out creates one delivery per subscribed endpoint, each sent by its own
//! `webhook.deliver` job; both steps are idempotent, so running either twice sends nothing twice.
//! Every attempt is recorded. Endpoint secrets are stored sealed under a key derived from the
//! master secret, since signing needs them in the clear; during a rotation the previous secret
//! keeps signing beside the new one until its grace period ends.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::jobs::{JobType, NewJob, RetryPolicy};
use crate::store::StoreError;

/// Events Gatehouse itself emits.
pub const BUILTIN_EVENTS: [&str; 18] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "session.created",
    "session.revoked",
    "email.verified",
    "password.changed",
    "identity.linked",
    "identity.unlinked",
    "connection.broken",
    "workspace.created",
    "workspace.deleted",
    "member.added",
    "member.removed",
    "member.role_changed",
    "mfa.enabled",
    "mfa.disabled",
    "mfa.recovery_code_used",
];

pub const SECRET_PREFIX: &str = "whsec_";
pub const MAX_EVENT_TYPES: usize = 50;
const MAX_EVENT_TYPE_LEN: usize = 100;

/// An event type: dotted lowercase words (`invoice.paid`), or `*` for every event.
/// The associated data an endpoint's sealed secret is bound to, so it cannot be moved to another
/// endpoint.
pub fn sealing_label(endpoint: Uuid) -> String {
    format!("webhook-endpoint:{endpoint}")
}

pub fn parse_event_type(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_owned());
    }
    let words_ok = text.split('.').count() >= 2
        && text.split('.').all(|word| {
            !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if text.len() > MAX_EVENT_TYPE_LEN || !words_ok {
        return Err("must be dotted lowercase words such as `invoice.paid` (or `*` for every event)");
    }
    Ok(text.to_owned())
}

/// A signing secret: `whsec_` and 24 random bytes in base64, as the specification shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn from_random(bytes: [u8; 24]) -> Self {
        Self(bytes.to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn encode(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// An endpoint as the API shows it (never with its secret, which is shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Gatehouse disabled it (`410 Gone`, failing for too long), if it did.
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
}

impl Endpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|wanted| wanted == "*" || wanted == event_type)
    }
}

/// An endpoint with its sealed secrets, for the sender.
#[derive(Debug, Clone)]
pub struct StoredEndpoint {
    pub endpoint: Endpoint,
    pub sealed_secret: Vec<u8>,
    /// The secret before the last rotation and when it stops signing.
    pub previous: Option<(Vec<u8>, OffsetDateTime)>,
}

/// An event to deliver: what happened, in the body shape the specification recommends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `msg_…`: the `webhook-id` every delivery of this event carries, so receivers can drop repeats.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(event_type: &str, data: serde_json::Value, now: OffsetDateTime) -> Self {
        Self { id: format!("msg_{}", Uuid::new_v4().simple()), event_type: event_type.to_owned(), timestamp: now, data }
    }

    /// The job that fans this event out, to enqueue with the change it reports.
    pub fn job(&self, now: OffsetDateTime) -> Result<NewJob, serde_json::Error> {
        NewJob::of::<FanOut>(self, now)
    }
}

/// Fans an event out to the endpoints subscribed to it.
#[derive(Debug, Clone, Copy)]
pub struct FanOut;

impl JobType for FanOut {
    const NAME: &'static str = "webhook.fan_out";
    type Payload = Event;
}

/// Delivers one event to one endpoint; the retry schedule comes from config, so the handler
/// computes each delay itself and this policy only bounds the count.
#[derive(Debug, Clone, Copy)]
pub struct Deliver;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub delivery_id: Uuid,
}

impl JobType for Deliver {
    const NAME: &'static str = "webhook.deliver";
    type Payload = DeliveryJob;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: MAX_DELIVERY_ATTEMPTS,
            base: Duration::from_millis(10),
            max: Duration::from_millis(10),
        }
    }

    /// The request's own timeout is shorter; this covers resolving and recording too.
    fn timeout() -> Duration {
        Duration::from_secs(120)
    }
}

/// The most attempts any schedule may have.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    Timeout,
    Connect,
    Tls,
    HttpStatus,
    /// The destination resolved to an address the config does not allow.
    Refused,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::HttpStatus => "http_status",
            Self::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Timeout, Self::Connect, Self::Tls, Self::HttpStatus, Self::Refused]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    #[serde(with = "time::serde::rfc3339")]
    pub attempted_at: OffsetDateTime,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// `None` for a success.
    pub error_class: Option<FailureClass>,
    /// The first 200 characters of the response body of a failure.
    pub response_excerpt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub attempts: Vec<Attempt>,
}

/// What a delivery job needs: the delivery, its event and its endpoint.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub delivery: Delivery,
    pub event: Event,
    pub endpoint: StoredEndpoint,
}

/// How an attempt ended, as the store records it.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub attempt: Attempt,
    /// The delivery's status after this attempt.
    pub status: DeliveryStatus,
    /// Disable the endpoint, with this reason (`410 Gone`, failing for too long).
    pub disable: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + std::fmt::Debug {
    async fn create_endpoint(
        &self,
        endpoint: &Endpoint,
        sealed_secret: &[u8],
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;
    async fn endpoint(&self, id: Uuid) -> Result<Option<StoredEndpoint>, StoreError>;
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError>;
    /// Applies `changes`; re-enabling clears the disabled reason and the failure streak.
    async fn update_endpoint(
        &self,
        id: Uuid,
        changes: &EndpointChanges,
        now: OffsetDateTime,
        events: &[AuditEvent],
    ) -> Result<Option<Endpoint>, StoreError>;
    async fn delete_endpoint(&self, id: Uuid, events: &[AuditEvent]) -> Result<bool, StoreError>;
    /// Makes `sealed_secret` the signing secret; the old one keeps signing until `previous_until`.
    async fn rotate_secret(
        &self,
        id: Uuid,
        sealed_secret: &[u8],
        previous_until: OffsetDateTime,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;
    /// Creates a delivery and its job for every enabled endpoint that wants `event`, unless one
    /// exists already (the fan-out ran before); returns how many were created.
    async fn fan_out(&self, event: &Event, now: OffsetDateTime) -> Result<usize, StoreError>;
    async fn pending_delivery(&self, id: Uuid) -> Result<Option<PendingDelivery>, StoreError>;
    /// Records an attempt and its consequences in one transaction.
    async fn record_attempt(
        &self,
        delivery_id: Uuid,
        outcome: &AttemptOutcome,
        now: OffsetDateTime,
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;
    /// Marks a delivery failed without an attempt (its endpoint was disabled before it was sent).
    async fn abandon_delivery(&self, id: Uuid) -> Result<(), StoreError>;
    /// The endpoint's deliveries, newest first, each with its attempts.
    async fn deliveries(&self, endpoint_id: Uuid, limit: u32) -> Result<Vec<Delivery>, StoreError>;
    /// Sends a delivery again with a fresh job; `false` when there is no such delivery.
    async fn retry_delivery(&self, id: Uuid, now: OffsetDateTime, events: &[AuditEvent]) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_specification() {
        // The example from the Standard Webhooks specification's reference implementations.
        let secret = WebhookSecret::from_bytes(STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("b64"));
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(secret.encode().starts_with("whsec_"));
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
    }

    #[test]
    fn event_types_are_dotted_words_or_a_wildcard() {
        assert_eq!(parse_event_type(" invoice.paid "), Ok("invoice.paid".into()));
        assert_eq!(parse_event_type("*"), Ok("*".into()));
        for bad in ["", "paid", "Invoice.Paid", "a..b", "a.b c", &"a.".repeat(60)] {
            assert!(parse_event_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn endpoints_match_their_types_or_everything() {
        let endpoint = |types: &[&str]| Endpoint {
            id: Uuid::nil(),
            url: "https://example.com".into(),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
            enabled: true,
            disabled_reason: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            failing_since: None,
        };
        assert!(endpoint(&["user.created"]).wants("user.created"));
        assert!(!endpoint(&["user.created"]).wants("user.deleted"));
        assert!(endpoint(&["*"]).wants("anything.at_all"));
    }

    mod properties {
        use hmac::{Hmac, Mac as _};
        use proptest::prelude::*;
        use sha2::Sha256;

        use super::*;

        /// What a receiver does (Standard Webhooks): HMAC-SHA256 over `id.timestamp.body`,
        /// compared in constant time by the hmac crate.
        fn verifies(secret: &[u8], id: &str, timestamp: i64, body: &[u8], signature: &str) -> bool {
            let Some(encoded) = signature.strip_prefix("v1,") else { return false };
            let Ok(tag) = STANDARD.decode(encoded) else { return false };
            let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(secret).expect("any key length");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&tag).is_ok()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4_000))]

            /// A signature verifies for exactly what was signed: changing any byte of the body,
            /// the id, the timestamp or the secret fails it.
            #[test]
            fn a_signature_holds_for_what_was_signed_and_nothing_else(
                secret in proptest::collection::vec(any::<u8>(), 1..64),
                id in "msg_[A-Za-z0-9]{1,32}",
                timestamp in 0_i64..=4_000_000_000,
                body in proptest::collection::vec(any::<u8>(), 0..512),
                at in any::<prop::sample::Index>(),
                flip in 1_u8..=255,
            ) {
                let signature = WebhookSecret::from_bytes(secret.clone()).sign(&id, timestamp, &body);
                prop_assert!(verifies(&secret, &id, timestamp, &body, &signature));
                if !body.is_empty() {
                    let mut changed = body.clone();
                    changed[at.index(body.len())] ^= flip;
                    prop_assert!(!verifies(&secret, &id, timestamp, &changed, &signature));
                }
                let mut other_id = id.clone().into_bytes();
                let i = at.index(other_id.len());
                other_id[i] = if other_id[i] == b'x' { b'y' } else { b'x' };
                let other_id = String::from_utf8(other_id).expect("ascii");
                prop_assert!(!verifies(&secret, &other_id, timestamp, &body, &signature));
                prop_assert!(!verifies(&secret, &id, timestamp + 1, &body, &signature));
                let mut other_secret = secret.clone();
                other_secret[at.index(secret.len())] ^= flip;
                prop_assert!(!verifies(&other_secret, &id, timestamp, &body, &signature));
            }
        }
    }
}
