//! Rate limits over HTTP: checking a route's policies, the IETF `RateLimit-Policy` and `RateLimit`
//! headers, 429 answers, and the decision API (`POST /v1/rate-limit/check`) for apps.
//!
//! A policy's quota `q` is its burst and its window `w` the time a drained key takes to refill, so
//! `q` per `w` describes GCRA's limit in the draft's terms.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::rate_limit::{Decision, KeyPart, Policy};
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};
use crate::extract::ApiJson;
use crate::service_keys::{Scoped, scopes};
use crate::state::AppState;

/// Which policies apply to routes, and whether they are enforced.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub policies: BTreeMap<String, Policy>,
}

/// What a request can be counted by; parts a policy needs but the request lacks skip that policy.
#[derive(Debug, Clone, Default)]
pub struct LimitKey<'a> {
    pub ip: Option<IpAddr>,
    pub user: Option<Uuid>,
    pub account: Option<&'a str>,
    pub route: &'a str,
    pub api_key: Option<Uuid>,
}

impl LimitKey<'_> {
    /// `policy:part:part…`, each part escaped so that no value can pass for another's: an
    /// account `a:b` with route `c` is not the account `a` with route `b:c`.
    fn for_policy(&self, policy: &Policy) -> Option<String> {
        let mut key = String::with_capacity(64);
        push_escaped(&mut key, &policy.name);
        for part in &policy.key {
            key.push(':');
            match part {
                // An unknown client IP (no socket, as in-process) still counts, as one client.
                KeyPart::Ip => match self.ip {
                    Some(ip) => push_escaped(&mut key, &ip.to_string()),
                    None => key.push_str("unknown"),
                },
                KeyPart::User => key.push_str(&self.user?.to_string()),
                KeyPart::Account => push_escaped(&mut key, self.account?),
                KeyPart::Route => push_escaped(&mut key, self.route),
                KeyPart::ApiKey => key.push_str(&self.api_key?.to_string()),
            }
        }
        Some(key)
    }
}

/// Appends `value` with `%` and `:` percent-encoded, so a part never contains the separator.
fn push_escaped(key: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '%' => key.push_str("%25"),
            ':' => key.push_str("%3A"),
            c => key.push(c),
        }
    }
}

/// The state of each policy that applied, for the response headers.
#[derive(Debug, Clone, Default)]
pub struct RateLimitHeaders(Vec<(String, Decision, u64)>);

fn ceil_secs(ms: i64) -> i64 {
    (ms.max(0) + 999) / 1000
}

impl RateLimitHeaders {
    pub fn apply(&self, response: &mut Response) {
        if self.0.is_empty() {
            return;
        }
        let policy =
            self.0.iter().map(|(name, d, window)| format!("\"{name}\";q={};w={window}", d.limit)).collect::<Vec<_>>();
        let state = self
            .0
            .iter()
            .map(|(name, d, _)| format!("\"{name}\";r={};t={}", d.remaining, ceil_secs(d.reset_after_ms)))
            .collect::<Vec<_>>();
        let headers = response.headers_mut();
        for (name, items) in [("ratelimit-policy", policy), ("ratelimit", state)] {
            if let Ok(value) = HeaderValue::from_str(&items.join(", ")) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

/// Decides `names` for this request, adding each policy's state to `headers`. A refusal is an
/// error carrying every header gathered so far and the longest wait.
pub async fn check(
    state: &AppState,
    names: &[&str],
    key: &LimitKey<'_>,
    headers: &mut RateLimitHeaders,
) -> Result<(), ApiError> {
    let settings = &state.services().rate_limits;
    if !settings.enabled {
        return Ok(());
    }
    let mut retry_after_ms = None;
    for name in names {
        let Some(policy) = settings.policies.get(*name) else { continue };
        let Some(bucket) = key.for_policy(policy) else { continue };
        let decision = state.services().limiter.decide(policy, &bucket, 1).await;
        if !decision.allowed {
            retry_after_ms = Some(retry_after_ms.unwrap_or(0).max(decision.retry_after_ms));
        }
        let window_secs = u64::try_from(ceil_secs(policy.tolerance_ms())).unwrap_or(0);
        headers.0.push((policy.name.clone(), decision, window_secs));
    }
    match retry_after_ms {
        Some(ms) => Err(ApiError::RateLimited {
            retry_after_secs: u64::try_from(ceil_secs(ms)).unwrap_or(1).max(1),
            headers: headers.clone(),
        }),
        None => Ok(()),
    }
}

/// Runs a limited route's handler and puts the policies' headers on whatever it answers.
pub async fn with_headers<F>(work: F) -> Response
where
    F: std::future::Future<Output = (Result<Response, ApiError>, RateLimitHeaders)>,
{
    let (result, headers) = work.await;
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    headers.apply(&mut response);
    response
}

/// Either `policy` (a configured name) or an inline `limit` and `period_secs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest {
    /// A policy named in Gatehouse's config.
    policy: Option<String>,
    /// Inline policy: requests allowed per period.
    #[schema(minimum = 1, maximum = 1_000_000)]
    limit: Option<u32>,
    /// Inline policy: the period in seconds, up to 30 days.
    #[schema(minimum = 1, maximum = 2_592_000)]
    period_secs: Option<u64>,
    /// Inline policy: how many at once (default: `limit`).
    #[schema(minimum = 1, maximum = 1_000_000)]
    burst: Option<u32>,
    /// What is limited, such as a user id or an IP address: 1 to 512 bytes.
    #[schema(min_length = 1, max_length = 512)]
    key: String,
    /// How much this request uses (default 1).
    #[schema(minimum = 1, maximum = 1_000_000)]
    cost: Option<u32>,
}

/// One decision.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DecisionView {
    allowed: bool,
    /// The burst: how many requests a fresh key may make at once.
    limit: u32,
    remaining: u32,
    /// Until the key is back to its full burst.
    reset_after_ms: i64,
    /// Until a request of this cost would be allowed; 0 when allowed.
    retry_after_ms: i64,
}

/// `POST /v1/rate-limit/check`: one decision for an app's own key (scope `rate_limit`), under a
/// named policy from the config or an inline one. Apps' keys live apart from Gatehouse's own.
#[utoipa::path(
    post,
    path = "/v1/rate-limit/check",
    tag = "service",
    request_body = CheckRequest,
    security(("service_key" = ["rate_limit"])),
    responses(
        (status = 200, description = "The decision; a refusal is still a 200.", body = DecisionView),
        (status = 422, description = "`validation_failed`: invalid fields, listed in `errors`."),
    ),
)]
pub(crate) async fn decide(
    State(state): State<AppState>,
    _key: Scoped<scopes::RateLimit>,
    ApiJson(body): ApiJson<CheckRequest>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let field = |name: &str, message: &str| FieldError { field: name.into(), message: message.into() };
    if body.key.is_empty() || body.key.len() > 512 {
        errors.push(field("key", "must be 1 to 512 bytes"));
    }
    let cost = body.cost.unwrap_or(1);
    if !(1..=1_000_000).contains(&cost) {
        errors.push(field("cost", "must be from 1 to 1000000"));
    }
    let policy = match (&body.policy, body.limit, body.period_secs) {
        (Some(name), None, None) => match state.services().rate_limits.policies.get(name) {
            Some(policy) => Some(policy.clone()),
            None => {
                errors.push(field("policy", "no policy of that name is configured"));
                None
            }
        },
        (None, Some(limit), Some(period_secs))
            if (1..=1_000_000).contains(&limit) && (1..=2_592_000).contains(&period_secs) =>
        {
            let burst = body.burst.unwrap_or(limit);
            if !(1..=1_000_000).contains(&burst) {
                errors.push(field("burst", "must be from 1 to 1000000"));
            }
            Some(Policy {
                name: format!("app:{limit}:{period_secs}:{burst}"),
                limit,
                period: Duration::from_secs(period_secs),
                burst,
                key: vec![],
            })
        }
        (None, Some(_), Some(_)) => {
            errors.push(field("limit", "limit must be 1 to 1000000 and period_secs 1 to 2592000"));
            None
        }
        _ => {
            errors.push(field("policy", "give either `policy` (a configured name) or `limit` and `period_secs`"));
            None
        }
    };
    let (Some(policy), true) = (policy, errors.is_empty()) else { return Err(ApiError::Validation(errors)) };
    let bucket = format!("app:{}:{}", policy.name, body.key);
    let decision = state.services().limiter.decide(&policy, &bucket, cost).await;
    Ok(Json(DecisionView {
        allowed: decision.allowed,
        limit: decision.limit,
        remaining: decision.remaining,
        reset_after_ms: decision.reset_after_ms,
        retry_after_ms: decision.retry_after_ms,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn parts() -> impl Strategy<Value = Vec<KeyPart>> {
        let part = prop_oneof![
            Just(KeyPart::Ip),
            Just(KeyPart::User),
            Just(KeyPart::Account),
            Just(KeyPart::Route),
            Just(KeyPart::ApiKey),
        ];
        proptest::collection::vec(part, 1..4)
    }

    /// Values from a tiny alphabet holding the separator and the escape, so that values which
    /// would run together (`a:` + `b` and `a` + `:b`, or `:` and a literal `%3A`) come up often.
    fn text() -> impl Strategy<Value = String> {
        const PIECES: [&str; 10] = ["", "a", ":", "a:", ":a", "a:a", "%", "%3A", "%25", "a%3Aa"];
        proptest::sample::select(PIECES.as_slice()).prop_map(str::to_owned)
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Owned {
        ip: Option<IpAddr>,
        user: Option<Uuid>,
        account: Option<String>,
        route: String,
        api_key: Option<Uuid>,
    }

    fn keys() -> impl Strategy<Value = Owned> {
        let ip = proptest::option::of(prop_oneof![
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
            (0_u16..4).prop_map(|n| IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, n))),
        ]);
        let id = proptest::option::of((0_u128..4).prop_map(Uuid::from_u128));
        (ip, id.clone(), proptest::option::of(text()), text(), id)
            .prop_map(|(ip, user, account, route, api_key)| Owned { ip, user, account, route, api_key })
    }

    impl Owned {
        fn key(&self) -> LimitKey<'_> {
            LimitKey {
                ip: self.ip,
                user: self.user,
                account: self.account.as_deref(),
                route: &self.route,
                api_key: self.api_key,
            }
        }

        /// What the policy counts by: the values of its parts.
        fn counted(&self, parts: &[KeyPart]) -> Vec<Option<String>> {
            parts
                .iter()
                .map(|part| match part {
                    KeyPart::Ip => Some(self.ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())),
                    KeyPart::User => self.user.map(|id| id.to_string()),
                    KeyPart::Account => self.account.clone(),
                    KeyPart::Route => Some(self.route.clone()),
                    KeyPart::ApiKey => self.api_key.map(|id| id.to_string()),
                })
                .collect()
        }
    }

    /// Undoes the escaping of one key segment.
    fn unescape(segment: &str) -> String {
        let mut out = String::new();
        let mut rest = segment;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            let code = rest.get(at + 1..at + 3).expect("an escape is % and two hex digits");
            out.push(char::from(u8::from_str_radix(code, 16).expect("hex")));
            rest = &rest[at + 3..];
        }
        out.push_str(rest);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// Two requests share a bucket exactly when the parts the policy counts by are equal, and
        /// a request lacking a part the policy needs is not counted by it.
        #[test]
        fn requests_share_a_bucket_exactly_when_what_is_counted_is_equal(
            parts in parts(),
            name in proptest::sample::select(["a", "a:", "%3A"].as_slice()),
            a in keys(),
            b in keys(),
        ) {
            let policy = Policy { name: name.to_owned(), limit: 1, period: Duration::from_secs(1), burst: 1, key: parts.clone() };
            let (counted_a, counted_b) = (a.counted(&parts), b.counted(&parts));
            let (key_a, key_b) = (a.key().for_policy(&policy), b.key().for_policy(&policy));
            prop_assert_eq!(key_a.is_some(), counted_a.iter().all(Option::is_some));
            prop_assert_eq!(key_b.is_some(), counted_b.iter().all(Option::is_some));
            if let (Some(key_a), Some(key_b)) = (&key_a, &key_b) {
                prop_assert_eq!(key_a == key_b, counted_a == counted_b, "{} vs {}", key_a, key_b);
            }
            // Stronger: a key reads back as the policy and each counted value, so no two
            // different requests can ever share one.
            if let Some(key) = key_a {
                let segments: Vec<String> = key.split(':').map(unescape).collect();
                let mut expected = vec![policy.name.clone()];
                expected.extend(counted_a.into_iter().flatten());
                prop_assert_eq!(segments, expected, "{}", key);
            }
        }
    }
}
