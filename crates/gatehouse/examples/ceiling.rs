//! The machine's ceilings for the benchmark harness, listening on 127.0.0.1:$PORT:
//!
//! - `GET /`: the smallest axum server, answering a fixed small body. Nothing serves HTTP faster
//!   on the same machine, so every other result is reported as a fraction of this one.
//! - `GET /same-bytes`: a fixed answer of the size and shape of Gatehouse's whoami (the same
//!   security headers and a JSON body of the same length), so a comparison with it shows what
//!   Gatehouse's own work costs beyond sending that much.
//! - `GET /evalsha` (when `REDIS_URL` is set): the same, plus one `EVALSHA` of a trivial Lua script
//!   per request. That is the physical limit of any exact rate limiter shared through Redis here.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

#[derive(Clone)]
struct Shared {
    redis: Option<redis::aio::MultiplexedConnection>,
    script: Arc<redis::Script>,
}

async fn evalsha(State(shared): State<Shared>) -> Result<&'static str, StatusCode> {
    let mut connection = shared.redis.ok_or(StatusCode::NOT_FOUND)?;
    let one: i64 = shared.script.invoke_async(&mut connection).await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    if one == 1 { Ok("ok") } else { Err(StatusCode::BAD_GATEWAY) }
}

/// The shape of a whoami answer: its headers, and a body of its length (495 bytes).
async fn same_bytes() -> impl axum::response::IntoResponse {
    const BODY: &str = concat!(
        r#"{"user":{"id":"43992c0b-3a8e-4c52-ac68-753ec9d90704","email":"a@example.com","name":null,"#,
        r#""email_verified":false,"disabled":false,"created_at":"2026-12-03T15:15:41.562Z"},"session":"#,
        r#"{"id":"c08ffcc5-109f-46be-a2f9-e492e1cb6c15","user_id":"43992c0b-3a8e-4c52-ac68-753ec9d90704","#,
        r#""created_at":"2026-12-03T15:17:48.595Z","last_seen_at":"2026-12-03T15:17:48.595Z","#,
        r#""idle_expires_at":"2026-12-10T15:17:48.595Z","absolute_expires_at":"2027-01-02T15:17:48.595Z","#,
        r#""user_agent":"curl/7.88.1","ip":"127.0.0.1"}}"#
    );
    (
        [
            ("content-type", "application/json"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
            ("x-frame-options", "DENY"),
            ("cache-control", "no-store"),
            ("x-request-id", "5b51f481-b739-4cec-b3e8-4e08d630a800"),
        ],
        BODY,
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(9999);
    let redis = match std::env::var("REDIS_URL") {
        Ok(url) => Some(redis::Client::open(url)?.get_multiplexed_async_connection().await?),
        Err(_) => None,
    };
    let shared = Shared { redis, script: Arc::new(redis::Script::new("return 1")) };
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .route("/same-bytes", axum::routing::get(same_bytes))
        .route("/evalsha", axum::routing::get(evalsha))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
