//! Sending webhooks: the fan-out and delivery job handlers, and the guard on destinations.
//!
//! Each attempt signs the body afresh (a new `webhook-timestamp`, so the signature is new too), with
//! the endpoint's secret and, during a rotation's grace period, the previous one as well. It is
//! recorded whatever happens: time, status, latency, and for a failure its class and the start of
//! the response. Redirects are not followed. Retries follow the configured schedule, never sooner
//! than the receiver's `Retry-After`; `410 Gone` disables the endpoint, and so does failing for
//! longer than `webhooks.disable_after_secs`, with an audit event either way.
//!
//! Unless private destinations are allowed (development, or `webhooks.allow_private_destinations`),
//! the resolver drops loopback, private, link-local and other internal addresses, so the check
//! holds for the address actually connected to, not only for the URL's name.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::clock::Clock;
use gatehouse_core::jobs::JobType;
use gatehouse_core::sessions::ClientContext;
use gatehouse_core::tokens::KeyEncryption;
use gatehouse_core::webhooks::{
    Attempt, AttemptOutcome, Deliver, DeliveryJob, DeliveryStatus, Event, FailureClass, FanOut, PendingDelivery,
    WebhookSecret, WebhookStore,
};
use gatehouse_http::webhooks::sealing_label;

use crate::worker::{JobError, Perform};

/// Response bodies are read up to this many bytes, and this many characters are kept.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
const EXCERPT_CHARS: usize = 200;

/// Settings from `[webhooks]`.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    pub timeout: Duration,
    /// The wait after each failed attempt; its length bounds the attempts.
    pub schedule: Vec<Duration>,
    pub allow_private: bool,
    pub disable_after: Duration,
}

/// Whether a destination address is one that webhooks may reach when private ones are refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 198 && (b == 18 || b == 19))) // benchmarking
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link-local
        }
    }
}

/// The refusal the resolver gives, found again in the error chain to classify the attempt.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to private or internal addresses, which webhooks may not reach")]
struct Refused(String);

/// Resolves with the system resolver and keeps only public addresses.
#[derive(Debug, Clone, Copy)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = found.filter(|addr| is_public(addr.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The `webhook.fan_out` handler.
#[derive(Debug, Clone)]
pub struct FanOutHandler {
    pub store: Arc<dyn WebhookStore>,
    pub clock: Arc<dyn Clock>,
    /// This instance's worker, woken for the deliveries an event fans out to.
    pub wake: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Perform for FanOutHandler {
    type Job = FanOut;

    async fn perform(&self, event: Event) -> Result<(), JobError> {
        let deliveries = self
            .store
            .fan_out(&event, self.clock.now())
            .await
            .map_err(|error| JobError::Retry(format!("could not fan the event out: {error}")))?;
        let count = u64::try_from(deliveries).unwrap_or(u64::MAX);
        gatehouse_http::state::count_enqueued(&self.wake, Deliver::NAME, count);
        Ok(())
    }
}

/// The `webhook.deliver` handler.
#[derive(Debug, Clone)]
pub struct DeliveryHandler {
    store: Arc<dyn WebhookStore>,
    clock: Arc<dyn Clock>,
    sealing: Arc<KeyEncryption>,
    client: reqwest::Client,
    settings: SenderSettings,
}

impl DeliveryHandler {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        clock: Arc<dyn Clock>,
        sealing: Arc<KeyEncryption>,
        settings: SenderSettings,
    ) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatehouse-webhooks/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder.build().map_err(|error| anyhow::anyhow!("building the webhook client: {error}"))?;
        Ok(Self { store, clock, sealing, client, settings })
    }

    /// `v1,<sig>` for the current secret and, within its grace period, the previous one.
    fn signatures(
        &self,
        pending: &PendingDelivery,
        message_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String, JobError> {
        let label = sealing_label(pending.endpoint.endpoint.id);
        let open = |sealed: &[u8]| {
            self.sealing
                .open(&label, sealed)
                .map(WebhookSecret::from_bytes)
                .map_err(|error| JobError::Permanent(format!("the endpoint's secret cannot be opened: {error}")))
        };
        let mut signatures = vec![open(&pending.endpoint.sealed_secret)?.sign(message_id, timestamp, body)];
        if let Some((sealed, until)) = &pending.endpoint.previous
            && *until > self.clock.now()
        {
            signatures.push(open(sealed)?.sign(message_id, timestamp, body));
        }
        Ok(signatures.join(" "))
    }

    /// Sends once; returns the attempt and the `Retry-After` the receiver asked for, if any.
    async fn attempt(&self, pending: &PendingDelivery) -> Result<(Attempt, Option<Duration>), JobError> {
        let event = &pending.event;
        let body = serde_json::to_vec(&serde_json::json!({
            "type": event.event_type,
            "timestamp": event.timestamp.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "data": event.data,
        }))
        .map_err(|error| JobError::Permanent(error.to_string()))?;
        let now = self.clock.now();
        let timestamp = now.unix_timestamp();
        let signature = self.signatures(pending, &event.id, timestamp, &body)?;
        let url = &pending.endpoint.endpoint.url;
        let mut attempt =
            Attempt { attempted_at: now, status_code: None, latency_ms: 0, error_class: None, response_excerpt: None };
        if !self.settings.allow_private
            && let Some(ip) = url::Url::parse(url).ok().and_then(|u| u.host_str().and_then(literal_ip))
            && !is_public(ip)
        {
            attempt.error_class = Some(FailureClass::Refused);
            attempt.response_excerpt = Some(format!("{ip} is a private or internal address"));
            return Ok((attempt, None));
        }
        let started = Instant::now();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut retry_after = None;
        match sent {
            Ok(mut response) => {
                let status = response.status();
                attempt.status_code = Some(status.as_u16());
                retry_after = crate::worker::retry_after(response.headers());
                if !status.is_success() {
                    attempt.error_class = Some(FailureClass::HttpStatus);
                    attempt.response_excerpt = Some(read_excerpt(&mut response).await);
                }
            }
            Err(error) => {
                attempt.error_class = Some(classify(&error));
                attempt.response_excerpt =
                    Some(crate::worker::error_chain(&error).chars().take(EXCERPT_CHARS).collect());
            }
        }
        attempt.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok((attempt, retry_after))
    }
}

fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// The start of a response body, reading no more than [`MAX_RESPONSE_BYTES`].
async fn read_excerpt(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes).chars().take(EXCERPT_CHARS).collect()
}

/// Whether `error` is a rustls error, looking inside `io::Error`s, whose `source` skips what they
/// wrap: tokio-rustls reports a failed handshake as an `io::Error` (sometimes in another one).
fn is_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    if let Some(inner) = error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
        return is_tls(inner);
    }
    false
}

fn classify(error: &reqwest::Error) -> FailureClass {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<Refused>() {
            return FailureClass::Refused;
        }
        if is_tls(cause) {
            return FailureClass::Tls;
        }
        source = cause.source();
    }
    if error.is_timeout() { FailureClass::Timeout } else { FailureClass::Connect }
}

#[async_trait]
impl Perform for DeliveryHandler {
    type Job = Deliver;

    async fn perform(&self, job: DeliveryJob) -> Result<(), JobError> {
        let store_error = |error: gatehouse_core::store::StoreError| JobError::Retry(format!("webhook store: {error}"));
        let Some(pending) = self.store.pending_delivery(job.delivery_id).await.map_err(store_error)? else {
            return Err(JobError::Permanent("the delivery or its endpoint no longer exists".into()));
        };
        if pending.delivery.status == DeliveryStatus::Succeeded {
            return Ok(());
        }
        let endpoint = &pending.endpoint.endpoint;
        if !endpoint.enabled {
            // Failed, not pending: it can still be sent with a retry once the endpoint is enabled.
            self.store.abandon_delivery(pending.delivery.id).await.map_err(store_error)?;
            return Err(JobError::Permanent("the endpoint is disabled".into()));
        }
        let (attempt, retry_after) = self.attempt(&pending).await?;
        let now = self.clock.now();
        let number = pending.delivery.attempts.len() + 1;
        let failing_for = endpoint.failing_since.map(|since| now - since);
        let (status, disable, next) = match attempt.error_class {
            None => (DeliveryStatus::Succeeded, None, Ok(())),
            Some(_) if attempt.status_code == Some(410) => (
                DeliveryStatus::Failed,
                Some("the endpoint answered 410 Gone".to_owned()),
                Err(JobError::Permanent("410 Gone: the endpoint is disabled".into())),
            ),
            Some(_) if failing_for.is_some_and(|f| f >= self.settings.disable_after) => (
                DeliveryStatus::Failed,
                Some(format!("failing for over {} s", self.settings.disable_after.as_secs())),
                Err(JobError::Permanent("the endpoint has failed for too long and is disabled".into())),
            ),
            Some(class) => {
                let error = format!(
                    "attempt {number} failed ({}): {}",
                    class.as_str(),
                    attempt.response_excerpt.as_deref().unwrap_or_default()
                );
                match self.settings.schedule.get(number - 1) {
                    Some(wait) => {
                        let after = retry_after.map_or(*wait, |asked| asked.max(*wait));
                        (DeliveryStatus::Pending, None, Err(JobError::RetryAfter { error, after }))
                    }
                    None => (DeliveryStatus::Failed, None, Err(JobError::Permanent(format!("gave up: {error}")))),
                }
            }
        };
        let events: Vec<AuditEvent> = disable
            .iter()
            .map(|reason| {
                AuditEvent::new(AuditAction::WebhookEndpointDisabled, Actor::Operator, now, &ClientContext::default())
                    .target("webhook_endpoint", endpoint.id)
                    .detail("reason", reason.clone())
            })
            .collect();
        let outcome = AttemptOutcome { attempt, status, disable };
        self.store.record_attempt(pending.delivery.id, &outcome, now, &events).await.map_err(store_error)?;
        metrics::counter!("gatehouse_webhook_attempts_total", "outcome" => outcome.attempt.error_class.map_or("success", FailureClass::as_str)).increment(1);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(internal.parse().expect("ip")), "{internal}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }
}
