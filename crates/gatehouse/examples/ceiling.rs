//! The machine's ceiling for the benchmark harness: the smallest axum server, answering a fixed
//! small body. Nothing serves HTTP faster on the same machine, so every other result is reported as
//! a fraction of this one. Listens on 127.0.0.1:$PORT.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(9999);
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
