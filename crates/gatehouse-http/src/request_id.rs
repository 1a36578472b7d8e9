//! Request ids: accepted from `X-Request-Id` when well-formed, generated otherwise, echoed on the
//! response, and available to error rendering and logs for the duration of the request.
//!
//! An incoming id is kept only if it is short and made of safe characters, so a client cannot
//! inject text into log lines through it.

use axum::extract::Request;
use http::{HeaderName, HeaderValue};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT_ID.try_with(Clone::clone).ok()
}

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The request's id: its own `X-Request-Id` when acceptable, a new UUID otherwise. The header on
/// the request is replaced with the id, so everything downstream sees the same one.
pub(crate) fn assign(request: &mut Request) -> (String, HeaderValue) {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| acceptable(value))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    // `acceptable` ids and UUIDs only contain visible ASCII, so this never falls back in practice.
    let header = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    request.headers_mut().insert(REQUEST_ID, header.clone());
    (id, header)
}

/// Runs `future` with `id` as the current request id.
pub(crate) async fn scope<F: Future>(id: String, future: F) -> F::Output {
    CURRENT_ID.scope(id, future).await
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_safe_ids_are_accepted() {
        assert!(acceptable("3f2b9c1e-7d4a-4b8e-9a61-0c5d2e8f1a7b"));
        assert!(acceptable("req_01HXYZ.abc:1"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable(&"a".repeat(129)));
    }
}
