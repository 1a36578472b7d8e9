//! The one HTTP error type: every failure becomes an RFC 9457 `application/problem+json` body
//! with a stable machine `code` and the request id.
//!
//! Each variant maps explicitly to a status and a code; there is no catch-all. Server errors
//! (5xx) are logged once here, with the request id, and their details never reach the client.

use axum::Json;
use axum::response::{IntoResponse, Response};
use gatehouse_core::store::StoreError;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::request_id::current_request_id;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's path in the request body, such as `email` or `members[2].role`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no route matches this path")]
    NotFound,
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the body does not match what this endpoint expects: {0}")]
    InvalidBody(String),
    #[error("the body must be JSON, sent with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("this is a page for browsers (Accept: text/html); the JSON API is under /v1")]
    NotAcceptable,
    #[error("the body is larger than the limit of {limit_bytes} bytes")]
    BodyTooLarge { limit_bytes: usize },
    #[error("some fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("the request took longer than {timeout_ms} ms to process")]
    Timeout { timeout_ms: u64 },
    #[error("{detail}")]
    NotReady { detail: String, checks: serde_json::Value },
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("this link is unknown, expired or already used; ask for a new one")]
    LinkInvalid,
    #[error("this account's email address is not verified yet; follow the link we sent, or ask for a new one")]
    EmailNotVerified,
    #[error("this API key lacks the `{0}` scope")]
    MissingScope(&'static str),
    #[error("the query string is invalid: {0}")]
    InvalidQuery(String),
    #[error("CSRF check failed: {0}")]
    CsrfFailed(&'static str),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64, headers: crate::rate_limit::RateLimitHeaders },
    #[error("{0}")]
    Missing(&'static str),
    #[error("redirect_to is not an allowed redirect target (server.redirect_allowlist)")]
    RedirectNotAllowed,
    #[error("the scope `{0}` is not configured for this provider")]
    ScopeNotAllowed(String),
    #[error("the sign-in state is invalid: {0}; start the sign-in again")]
    OAuthStateInvalid(&'static str),
    #[error("the provider cannot be reached right now; try again shortly")]
    ProviderUnavailable,
    #[error("the connection is broken: {0}; the user must connect the account again")]
    ConnectionBroken(&'static str),
    #[error("this is the account's last way to sign in; set a password or link another provider first")]
    LastSignInMethod,
    #[error("the forwarded request headers come from an address not in server.trusted_proxies")]
    UntrustedProxy,
    #[error("the original request is missing or malformed: {0}")]
    InvalidForwardedRequest(String),
    #[error("no forward-auth rule allows this request")]
    ForwardAuthDenied,
    #[error("{0}")]
    InsufficientRole(&'static str),
    #[error("{0}")]
    LastOwner(&'static str),
    #[error("{0}")]
    ReauthenticationRequired(&'static str),
    #[error("the sign-in's second step is unknown, expired, used up or from another browser; sign in again")]
    SecondStepInvalid,
    #[error("the code is wrong or was used already")]
    InvalidCode,
    #[error("the account has an authenticator app already; remove it before adding another")]
    MfaAlreadyEnabled,
    #[error("{0}")]
    PasskeysUnavailable(String),
    #[error("{0}")]
    PasskeyInvalid(&'static str),
    #[error("the invitation is unknown, expired or already used; ask for a new one")]
    InvitationInvalid,
    #[error("the invitation was sent to another address; sign in with the address it was sent to")]
    InvitationEmailMismatch,
    #[error("the password appears in a list of passwords leaked in data breaches; choose another")]
    PasswordBreached(Vec<FieldError>),
    #[error("another account uses this email address now; the change cannot be made")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hashing(#[from] gatehouse_core::password::HashError),
    #[error("too many sign-ins are waiting for password hashing; retry in {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    /// A bug: the message is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The parts of a problem document that vary by error.
struct ProblemKind {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
}

impl ApiError {
    fn kind(&self) -> ProblemKind {
        let (status, code, title) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed"),
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON"),
            ApiError::InvalidBody(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "Invalid request body"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type")
            }
            ApiError::NotAcceptable => (StatusCode::NOT_ACCEPTABLE, "not_acceptable", "Not acceptable"),
            ApiError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "Body too large"),
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed"),
            ApiError::Timeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, "timeout", "Request timed out"),
            ApiError::NotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_ready", "Not ready"),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated", "Not signed in"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials", "Invalid credentials"),
            ApiError::MissingScope(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::LinkInvalid => (StatusCode::BAD_REQUEST, "link_invalid", "Invalid link"),
            ApiError::EmailNotVerified => (StatusCode::FORBIDDEN, "email_not_verified", "Email not verified"),
            ApiError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query", "Invalid query"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many requests"),
            ApiError::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", "Overloaded"),
            ApiError::CsrfFailed(_) => (StatusCode::FORBIDDEN, "csrf_failed", "CSRF check failed"),
            ApiError::Missing(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::RedirectNotAllowed => {
                (StatusCode::BAD_REQUEST, "redirect_not_allowed", "Redirect target not allowed")
            }
            ApiError::ScopeNotAllowed(_) => (StatusCode::BAD_REQUEST, "scope_not_allowed", "Scope not allowed"),
            ApiError::OAuthStateInvalid(_) => (StatusCode::BAD_REQUEST, "oauth_state_invalid", "Invalid sign-in state"),
            ApiError::ProviderUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable", "Provider unavailable")
            }
            ApiError::ConnectionBroken(_) => (StatusCode::CONFLICT, "connection_broken", "Connection broken"),
            ApiError::LastSignInMethod => (StatusCode::CONFLICT, "last_sign_in_method", "Last sign-in method"),
            ApiError::UntrustedProxy => (StatusCode::FORBIDDEN, "untrusted_proxy", "Untrusted proxy"),
            ApiError::InvalidForwardedRequest(_) => {
                (StatusCode::BAD_REQUEST, "invalid_forwarded_request", "Invalid forwarded request")
            }
            ApiError::ForwardAuthDenied => (StatusCode::FORBIDDEN, "forward_auth_denied", "Access denied"),
            ApiError::InsufficientRole(_) => (StatusCode::FORBIDDEN, "insufficient_role", "Insufficient role"),
            ApiError::LastOwner(_) => (StatusCode::CONFLICT, "last_owner", "Last owner"),
            ApiError::ReauthenticationRequired(_) => {
                (StatusCode::FORBIDDEN, "reauthentication_required", "Reauthentication required")
            }
            ApiError::SecondStepInvalid => (StatusCode::UNAUTHORIZED, "second_step_invalid", "Sign-in step invalid"),
            ApiError::InvalidCode => (StatusCode::UNAUTHORIZED, "invalid_code", "Invalid code"),
            ApiError::MfaAlreadyEnabled => (StatusCode::CONFLICT, "mfa_already_enabled", "Already enabled"),
            ApiError::PasskeysUnavailable(_) => (StatusCode::CONFLICT, "passkeys_unavailable", "Passkeys unavailable"),
            ApiError::PasskeyInvalid(_) => (StatusCode::UNAUTHORIZED, "passkey_invalid", "Passkey not accepted"),
            ApiError::InvitationInvalid => (StatusCode::BAD_REQUEST, "invitation_invalid", "Invalid invitation"),
            ApiError::InvitationEmailMismatch => {
                (StatusCode::FORBIDDEN, "invitation_email_mismatch", "Invitation for another address")
            }
            ApiError::PasswordBreached(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "password_breached", "Password found in a breach")
            }
            ApiError::EmailTaken => (StatusCode::CONFLICT, "email_taken", "Email address taken"),
            ApiError::Store(StoreError::Duplicate { .. }) => {
                (StatusCode::CONFLICT, "duplicate_entry", "Duplicate entry")
            }
            ApiError::Store(StoreError::NotFound) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::Store(StoreError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "Database unavailable")
            }
            ApiError::Store(StoreError::Backend(_)) | ApiError::Hashing(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Internal error")
            }
        };
        ProblemKind { status, code, title }
    }

    pub fn status(&self) -> StatusCode {
        self.kind().status
    }

    pub fn code(&self) -> &'static str {
        self.kind().code
    }

    /// What the client is told. Server-side failures say only that something went wrong.
    fn public_detail(&self) -> String {
        match self {
            ApiError::Store(StoreError::Duplicate { .. }) => {
                "A record with the same unique value already exists.".to_owned()
            }
            ApiError::Store(StoreError::Unavailable(_)) => "The database is unavailable; try again shortly.".to_owned(),
            ApiError::Store(StoreError::Backend(_)) | ApiError::Hashing(_) | ApiError::Internal(_) => {
                "Something went wrong on our side; the request id identifies it in the server log.".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// An RFC 9457 problem document: every error this API answers.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    /// `urn:gatehouse:problem:<code>`.
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    /// What went wrong, for a person; server errors say no more than that one happened.
    detail: String,
    /// The stable machine-readable code, such as `validation_failed`.
    code: &'a str,
    /// The request's id, also in the `x-request-id` header and the server log.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// With `validation_failed`: each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldError>>)]
    errors: Option<&'a [FieldError]>,
    /// With `not_ready`: the readiness checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    checks: Option<&'a serde_json::Value>,
}

/// Lets one line through per second and counts the rest.
#[derive(Debug)]
struct OncePerSecond {
    last_second: std::sync::atomic::AtomicU64,
    unlogged: std::sync::atomic::AtomicU64,
}

static UNAVAILABLE_LOG: OncePerSecond =
    OncePerSecond { last_second: std::sync::atomic::AtomicU64::new(0), unlogged: std::sync::atomic::AtomicU64::new(0) };

impl OncePerSecond {
    /// True for the first call in each second of the process's life; false (and counted) after.
    fn due(&self) -> bool {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        self.due_at(START.get_or_init(std::time::Instant::now).elapsed().as_secs() + 1)
    }

    /// As [`due`](Self::due), in the given second (counted from 1).
    fn due_at(&self, second: u64) -> bool {
        use std::sync::atomic::Ordering;
        let last = self.last_second.load(Ordering::Relaxed);
        if second > last
            && self.last_second.compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            return true;
        }
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        false
    }

    fn take_unlogged(&self) -> u64 {
        self.unlogged.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

impl From<crate::password::PasswordError> for ApiError {
    fn from(error: crate::password::PasswordError) -> Self {
        match error {
            crate::password::PasswordError::Overloaded { retry_after_secs } => {
                ApiError::Overloaded { retry_after_secs }
            }
            crate::password::PasswordError::Hash(error) => ApiError::Hashing(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let request_id = current_request_id();
        // Load being shed is counted (gatehouse_password_hash_refused_total), and readiness saying
        // "not ready" is its answer, not a failure: neither is logged once per request, or a flood
        // or a probe every second would flood the log too.
        // A database outage fails every request that needs it: logged at most once a second, with
        // how many went unlogged since.
        let unavailable = matches!(self, ApiError::Store(StoreError::Unavailable(_)));
        let shed = matches!(self, ApiError::Overloaded { .. } | ApiError::NotReady { .. });
        if kind.status.is_server_error() && !shed && (!unavailable || UNAVAILABLE_LOG.due()) {
            // Logged once, here. The Display of store and internal errors carries the cause for the
            // operator; it is built from our own messages and driver errors, never from secrets.
            let unlogged = if unavailable { UNAVAILABLE_LOG.take_unlogged() } else { 0 };
            tracing::error!(
                request_id = request_id.as_deref().unwrap_or("-"),
                code = kind.code,
                error = %self,
                unlogged_since_last = unlogged,
                "request failed"
            );
        }
        let problem = Problem {
            type_uri: format!("urn:gatehouse:problem:{}", kind.code),
            title: kind.title,
            status: kind.status.as_u16(),
            detail: self.public_detail(),
            code: kind.code,
            request_id,
            errors: match &self {
                ApiError::Validation(errors) | ApiError::PasswordBreached(errors) => Some(errors),
                _ => None,
            },
            checks: match &self {
                ApiError::NotReady { checks, .. } => Some(checks),
                _ => None,
            },
        };
        let mut response = (kind.status, Json(problem)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let ApiError::Timeout { .. }
        | ApiError::NotReady { .. }
        | ApiError::ProviderUnavailable
        | ApiError::Store(StoreError::Unavailable(_)) = self
        {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::Overloaded { retry_after_secs } = &self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let ApiError::RateLimited { retry_after_secs, headers } = &self {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            headers.apply(&mut response);
        }
        if let ApiError::Unauthenticated(_) | ApiError::InvalidCredentials = self {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gatehouse\""));
        }
        response
    }
}

/// `N` bytes from the OS random source; its failure is an internal error.
pub(crate) fn os_random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0_u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("OS randomness failed: {e}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).expect("problem json"))
    }

    #[tokio::test]
    async fn duplicates_are_409_without_the_constraint_name() {
        let (status, body) = body_of(ApiError::Store(StoreError::Duplicate { what: "users_email_key".into() })).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["code"], "duplicate_entry");
        assert_eq!(body["type"], "urn:gatehouse:problem:duplicate_entry");
        assert!(!body.to_string().contains("users_email_key"));
    }

    #[tokio::test]
    async fn internal_details_never_reach_the_client() {
        let (status, body) =
            body_of(ApiError::Store(StoreError::Backend("relation secret_table missing".into()))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "internal_error");
        assert!(!body.to_string().contains("secret_table"));
    }

    #[tokio::test]
    async fn validation_errors_list_each_field() {
        let errors = vec![FieldError { field: "email".into(), message: "is not an email address".into() }];
        let (status, body) = body_of(ApiError::Validation(errors)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["field"], "email");
        assert_eq!(body["status"], 422);
    }

    #[test]
    fn an_outage_is_logged_once_a_second_with_what_went_unlogged() {
        let log = OncePerSecond {
            last_second: std::sync::atomic::AtomicU64::new(0),
            unlogged: std::sync::atomic::AtomicU64::new(0),
        };
        assert!(log.due_at(1), "the first one is logged");
        assert!(!log.due_at(1) && !log.due_at(1), "the rest of the second is not");
        assert_eq!(log.take_unlogged(), 2);
        assert!(log.due_at(2), "the next second's first is");
        assert!(!log.due_at(2));
        assert_eq!(log.take_unlogged(), 1);
    }

    mod properties {
        use std::collections::BTreeSet;

        use proptest::prelude::*;

        use super::*;
        use crate::accounts::{SignupRequest, validate_signup};
        use crate::extract::json_body;

        fn answer(error: ApiError) -> (StatusCode, serde_json::Value) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            runtime.block_on(body_of(error))
        }

        fn leaf() -> impl Strategy<Value = serde_json::Value> {
            prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<String>().prop_map(serde_json::Value::from),
                "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,3}".prop_map(serde_json::Value::from),
                "[ -~]{0,140}".prop_map(serde_json::Value::from),
            ]
        }

        /// Signup bodies: objects with the expected keys and others, values of any type, and
        /// bytes that are not JSON at all.
        fn bodies() -> impl Strategy<Value = Vec<u8>> {
            let key = prop_oneof![Just("email"), Just("password"), Just("name"), Just("extra")];
            let object = proptest::collection::btree_map(key, leaf(), 0..4)
                .prop_map(|fields| serde_json::to_vec(&fields).expect("json"));
            prop_oneof![
                4 => object,
                1 => proptest::collection::vec(any::<u8>(), 0..64),
                1 => leaf().prop_map(|value| serde_json::to_vec(&value).expect("json")),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4_000))]

            /// Every signup body is accepted or refused with a stable 4xx code as problem+json; a
            /// validation failure names each bad field once, and only fields the body has.
            #[test]
            fn every_body_is_accepted_or_refused_with_a_stable_code(body in bodies()) {
                let mut headers = http::HeaderMap::new();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                let outcome = json_body::<SignupRequest>(&headers, &body).and_then(|request| validate_signup(&request));
                if let Err(error) = outcome {
                    let code = error.code();
                    prop_assert!(["malformed_json", "invalid_body", "validation_failed"].contains(&code), "{}", code);
                    let (status, problem) = answer(error);
                    prop_assert!(status.is_client_error());
                    prop_assert_eq!(problem["status"].as_u64(), Some(u64::from(status.as_u16())));
                    prop_assert_eq!(problem["code"].as_str(), Some(code));
                    if code == "validation_failed" {
                        let errors = problem["errors"].as_array().expect("errors");
                        prop_assert!(!errors.is_empty());
                        let fields: Vec<&str> = errors.iter().map(|e| e["field"].as_str().expect("field")).collect();
                        let unique: BTreeSet<&str> = fields.iter().copied().collect();
                        prop_assert_eq!(unique.len(), fields.len(), "each field once: {:?}", fields);
                        prop_assert!(fields.iter().all(|f| ["email", "password", "name"].contains(f)), "{:?}", fields);
                        prop_assert!(errors.iter().all(|e| !e["message"].as_str().unwrap_or_default().is_empty()));
                    } else {
                        prop_assert!(problem.get("errors").is_none());
                    }
                }
            }

            /// Field errors reach the client exactly as made, whatever characters they hold.
            #[test]
            fn field_errors_round_trip_through_problem_json(
                made in proptest::collection::vec((any::<String>(), any::<String>()), 1..6),
            ) {
                let errors: Vec<FieldError> =
                    made.iter().map(|(field, message)| FieldError { field: field.clone(), message: message.clone() }).collect();
                let (status, problem) = answer(ApiError::Validation(errors));
                prop_assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
                let back: Vec<(String, String)> = problem["errors"]
                    .as_array()
                    .expect("errors")
                    .iter()
                    .map(|e| (e["field"].as_str().expect("field").to_owned(), e["message"].as_str().expect("message").to_owned()))
                    .collect();
                prop_assert_eq!(back, made);
            }
        }
    }
}
