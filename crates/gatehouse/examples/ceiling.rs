//! The machine's ceilings for the benchmark harness, listening on 127.0.0.1:$PORT:
//!
//! - `GET /`: the smallest axum server, answering a fixed small body. Nothing serves HTTP faster
//!   on the same machine, so every other result is reported as a fraction of this one.
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
        .route("/evalsha", axum::routing::get(evalsha))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
