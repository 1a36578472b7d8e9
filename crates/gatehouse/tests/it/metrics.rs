//! `/metrics` is valid Prometheus text, labels routes by template, and can live on its own listener.

use std::collections::HashMap;

use axum::body::Body;
use http::StatusCode;

use crate::support::{TestDb, call, config_for, get};

fn parse(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("valid Prometheus text")
}

fn label_values(scrape: &prometheus_parse::Scrape, metric: &str, label: &str) -> Vec<String> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter_map(|s| s.labels.get(label).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn metrics_parse_and_label_routes_by_template() {
    let db = TestDb::sqlite();
    let app = gatehouse::app::build(config_for(&db.url, &[])).await.expect("app");
    call(&app.router, get("/health/live")).await;
    call(&app.router, get("/v1/users/secret-user-id-42?token=abc")).await;
    call(&app.router, http::Request::post("/health/live").body(Body::empty()).expect("req")).await;
    // Any token is a valid method; made-up ones must not grow the label set.
    let brew = http::Method::from_bytes(b"BREWCOFFEE").expect("method");
    call(&app.router, http::Request::builder().method(brew).uri("/health/live").body(Body::empty()).expect("req"))
        .await;

    let (status, headers, body) = call(&app.router, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[http::header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body).expect("utf-8");
    let scrape = parse(&text);

    let routes = label_values(&scrape, "http_requests_total", "route");
    assert!(routes.iter().any(|r| r == "/health/live"), "{routes:?}");
    assert!(routes.iter().any(|r| r == "unmatched"), "{routes:?}");
    assert!(!text.contains("secret-user-id-42") && !text.contains("token=abc"), "raw paths leaked:\n{text}");

    let live_405 = scrape.samples.iter().any(|s| {
        s.metric == "http_requests_total"
            && s.labels.get("route") == Some("/health/live")
            && s.labels.get("method") == Some("POST")
            && s.labels.get("status") == Some("405")
    });
    assert!(live_405, "{text}");
    let methods = label_values(&scrape, "http_requests_total", "method");
    assert!(methods.iter().any(|m| m == "OTHER"), "{methods:?}");
    assert!(!text.contains("BREWCOFFEE"), "a client-chosen method became a label:\n{text}");

    let names: HashMap<&str, &prometheus_parse::Value> =
        scrape.samples.iter().map(|s| (s.metric.as_str(), &s.value)).collect();
    assert!(
        matches!(names.get("http_request_duration_seconds"), Some(prometheus_parse::Value::Histogram(buckets)) if buckets.len() > 5),
        "the request duration is a histogram with buckets:\n{text}"
    );
    for expected in [
        "http_requests_in_flight",
        "gatehouse_db_pool_connections",
        "gatehouse_db_pool_idle_connections",
        "gatehouse_build_info",
    ] {
        assert!(names.contains_key(expected), "missing {expected} in:\n{text}");
    }
}

#[tokio::test]
async fn metrics_can_move_to_their_own_listener() {
    let db = TestDb::sqlite();
    let config = config_for(&db.url, &[("GATEHOUSE_SERVER_METRICS_LISTEN", "127.0.0.1:0")]);
    let listeners = gatehouse::app::Listeners::bind(&config).await.expect("bind");
    let main = listeners.main.local_addr().expect("addr");
    let metrics = listeners.metrics.as_ref().expect("metrics listener").local_addr().expect("addr");
    let app = gatehouse::app::build(config).await.expect("app");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gatehouse::app::serve(app, listeners, async {
        let _ = stopped.await;
    }));

    let client = crate::support::http_client();
    let public = client.get(format!("http://{main}/metrics")).send().await.expect("main listener");
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let private = client.get(format!("http://{metrics}/metrics")).send().await.expect("metrics listener");
    assert_eq!(private.status(), StatusCode::OK);
    parse(&private.text().await.expect("body"));

    stop.send(()).expect("server still running");
    server.await.expect("join").expect("clean shutdown");
}
