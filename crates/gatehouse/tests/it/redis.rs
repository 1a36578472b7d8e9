//! The Redis fast path: used when Redis answers, bypassed at once when it does not, never the only
//! copy, and never a source of revoked sessions.

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::support::app::TestApp;
use crate::support::proxy::{Mode, TcpProxy};
use crate::support::{TestDb, redis};

async fn redis_client(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).expect("client").get_multiplexed_async_connection().await.expect("connect to Redis")
}

async fn cached_keys(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    redis::cmd("KEYS").arg(format!("{prefix}session:*")).query_async(conn).await.expect("KEYS")
}

fn fallbacks(app: &TestApp) -> f64 {
    let text = gatehouse_http::AppState::metrics(&app.app.state).render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("metrics");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == "gatehouse_cache_fallbacks_total")
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

async fn redis_status(app: &TestApp) -> serde_json::Value {
    app.get("/health", None).await.body["dependencies"]["redis"]["status"].clone()
}

#[tokio::test]
async fn without_redis_health_says_not_configured() {
    let app = TestApp::sqlite(&[]).await;
    assert_eq!(redis_status(&app).await, "not_configured");
    app.finish().await;
}

#[tokio::test]
async fn sessions_are_read_from_redis_once_cached() {
    let Some((url, prefix)) = redis() else { return };
    let app = TestApp::sqlite(&[("GATEHOUSE_REDIS_URL", &url), ("GATEHOUSE_REDIS_KEY_PREFIX", &prefix)]).await;
    let mut conn = redis_client(&url).await;
    let cookie = app.signup("cache@example.com").await.cookie();
    assert!(cached_keys(&mut conn, &prefix).await.is_empty(), "nothing is cached before the first check");
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::OK);
    let keys = cached_keys(&mut conn, &prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = redis::cmd("TTL").arg(&keys[0]).query_async(&mut conn).await.expect("TTL");
    assert!((1..=300).contains(&ttl), "cached entries expire: {ttl}");
    let value: String = redis::cmd("GET").arg(&keys[0]).query_async(&mut conn).await.expect("GET");
    assert!(!value.contains(cookie.split('=').nth(1).expect("token")), "the token itself is never stored");
    assert_eq!(redis_status(&app).await, "ok");
    app.finish().await;
}

/// Redis made unreachable mid-test: every request keeps being answered from SQL quickly, health
/// says degraded while readiness stays green, a logout during the outage is not undone by a stale
/// cache entry, and once Redis is back it is used again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_costs_latency_never_sessions() {
    let Some((url, prefix)) = redis() else { return };
    let (proxy, via_proxy) = TcpProxy::in_front_of(&url, 6379).await;
    // Redis's own path under test: no in-process cache in front of it.
    let app = TestApp::sqlite(&[
        ("GATEHOUSE_REDIS_URL", &via_proxy),
        ("GATEHOUSE_REDIS_KEY_PREFIX", &prefix),
        ("GATEHOUSE_SESSION_LOCAL_CACHE", "false"),
        ("GATEHOUSE_REDIS_TIMEOUT_MS", "250"),
    ])
    .await;
    // The promise: a Redis call that does not answer costs at most redis.timeout_ms, then SQL
    // answers. Half a second more covers scheduling on two shared cores; a request that waited on
    // Redis until the request timeout would take 30 s.
    let bound = Duration::from_millis(250 + 500);

    let mut cookies = Vec::new();
    for i in 0..5 {
        let cookie = app.signup(&format!("outage{i}@example.com")).await.cookie();
        assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::OK);
        cookies.push(cookie);
    }
    let to_log_out = cookies.pop().expect("a cookie");
    let before = fallbacks(&app);

    proxy.set(Mode::Down);
    for round in 0..20 {
        for cookie in &cookies {
            let started = Instant::now();
            let reply = app.get("/v1/session", Some(cookie)).await;
            assert_eq!(reply.status, StatusCode::OK, "round {round}: {}", reply.body);
            assert!(started.elapsed() < bound, "round {round} took {:?}", started.elapsed());
        }
    }
    let logout = app.post_json("/v1/logout", Some(&to_log_out), serde_json::json!({})).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(redis_status(&app).await, "degraded");
    assert_eq!(app.get("/health/ready", None).await.status, StatusCode::OK, "SQL serves, so Gatehouse is ready");
    assert!(fallbacks(&app) > before, "fallbacks are counted");

    proxy.set(Mode::Pass);
    // The breaker lets a probe through after its cool-down; poll for that, bounded.
    let deadline = Instant::now() + Duration::from_secs(15);
    while redis_status(&app).await != "ok" {
        assert!(Instant::now() < deadline, "Redis was not used again after it came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stale = app.get("/v1/session", Some(&to_log_out)).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "a session revoked during the outage stays revoked");

    let mut conn = redis_client(&url).await;
    let _: () = redis::cmd("DEL").arg(cached_keys(&mut conn, &prefix).await).query_async(&mut conn).await.expect("DEL");
    assert_eq!(app.get("/v1/session", Some(&cookies[0])).await.status, StatusCode::OK);
    assert_eq!(cached_keys(&mut conn, &prefix).await.len(), 1, "the fast path fills Redis again");
    app.finish().await;
}

/// A change to a user drops the user's cached sessions (they carry a snapshot of the user). When
/// Redis cannot be told, no cached entry is trusted until all could have expired: after the outage,
/// the session shows the change, not the snapshot cached before it.
#[tokio::test]
async fn a_user_change_during_an_outage_never_shows_the_snapshot_cached_before_it() {
    let Some((url, prefix)) = redis() else { return };
    let api = crate::support::mail::EmailApi::start().await;
    let (proxy, via_proxy) = TcpProxy::in_front_of(&url, 6379).await;
    let mut vars = api.env().to_vec();
    vars.extend([("GATEHOUSE_REDIS_URL", via_proxy.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())]);
    let mut app = TestApp::sqlite(&vars).await;
    app.run_jobs();
    let cookie = app.signup("lin@example.com").await.cookie();
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.body["user"]["email_verified"], false);
    let mut conn = redis_client(&url).await;
    assert_eq!(cached_keys(&mut conn, &prefix).await.len(), 1, "the session and its user snapshot are cached");
    let token = api.next().await.token();

    proxy.set(Mode::Down);
    let verified = app.post_json("/v1/email/verify", None, serde_json::json!({ "token": token })).await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.body["user"]["email_verified"], true);

    proxy.set(Mode::Pass);
    let deadline = Instant::now() + Duration::from_secs(15);
    while redis_status(&app).await != "ok" {
        assert!(Instant::now() < deadline, "Redis was not used again after it came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!cached_keys(&mut conn, &prefix).await.is_empty(), "the stale entry is still in Redis");
    let after = app.get("/v1/session", Some(&cookie)).await;
    assert_eq!(after.body["user"]["email_verified"], true, "not the snapshot from before: {:?}", after.body);
    app.finish().await;
}

#[tokio::test]
async fn a_revocation_on_one_instance_holds_on_every_other_at_once() {
    let Some((url, prefix)) = redis() else { return };
    let db = TestDb::sqlite();
    let shared = [("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())];
    let config = |extra: &[(&str, &str)]| {
        let mut vars = crate::support::app::FAST_HASHING.to_vec();
        vars.extend_from_slice(extra);
        crate::support::config_for(&db.url, &vars)
    };
    let first = gatehouse::app::build(config(&shared)).await.expect("first instance");
    // The second reads Redis alone (no in-process cache), where the first's delete lands before
    // the logout answers; in-process caches follow the log instead (tests/it/coherence.rs).
    let mut redis_only = shared.to_vec();
    redis_only.push(("GATEHOUSE_SESSION_LOCAL_CACHE", "false"));
    let second = gatehouse::app::build(config(&redis_only)).await.expect("second instance");
    let signup = crate::support::call(
        &first.router,
        http::Request::post("/v1/signup")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(
                serde_json::json!({ "email": "two@example.com", "password": crate::support::app::PASSWORD })
                    .to_string(),
            ))
            .expect("request"),
    )
    .await;
    let cookie =
        signup.1[http::header::SET_COOKIE].to_str().expect("ascii").split(';').next().expect("pair").to_owned();
    let whoami = |router: axum::Router| {
        let cookie = cookie.clone();
        async move {
            let request =
                http::Request::get("/v1/session").header(http::header::COOKIE, cookie).body(axum::body::Body::empty());
            crate::support::call(&router, request.expect("request")).await.0
        }
    };
    assert_eq!(whoami(second.router.clone()).await, StatusCode::OK, "the second instance cached the session");
    let token = crate::support::csrf_token(&first.router, &cookie).await;
    let origin = first.config.public_url.origin().ascii_serialization();
    let logout = crate::support::with_csrf(http::Request::post("/v1/logout"), &cookie, token.as_deref(), &origin);
    let (status, _, body) =
        crate::support::call(&first.router, logout.body(axum::body::Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{}", String::from_utf8_lossy(&body));
    assert_eq!(whoami(second.router.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(first.router.clone()).await, StatusCode::UNAUTHORIZED);
}

async fn sign_up_and_check(app: &TestApp, count: usize) {
    for i in 0..count {
        let cookie = app.signup(&format!("spread{i}@example.com")).await.cookie();
        for _ in 0..2 {
            let reply = app.get("/v1/session", Some(&cookie)).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
    }
}

/// `rediss://` with a private CA: the TLS handshake (ring provider) works and the fast path is
/// used; without the CA the certificate is refused and Gatehouse serves from SQL instead.
#[tokio::test]
async fn rediss_with_a_private_ca_is_trusted_and_an_unknown_one_is_not() {
    if redis().is_none() {
        return;
    }
    let (server, ca_file) = crate::support::redis_server::RedisServer::tls();
    let url = format!("rediss://localhost:{}", server.ports[0]);
    let ca = ca_file.display().to_string();
    let app = TestApp::sqlite(&[("GATEHOUSE_REDIS_URL", &url), ("GATEHOUSE_REDIS_TLS_CA_FILE", &ca)]).await;
    sign_up_and_check(&app, 3).await;
    assert_eq!(redis_status(&app).await, "ok");
    app.finish().await;

    let untrusting = TestApp::sqlite(&[("GATEHOUSE_REDIS_URL", &url)]).await;
    sign_up_and_check(&untrusting, 2).await;
    assert_eq!(redis_status(&untrusting).await, "degraded", "an untrusted certificate is never accepted");
    untrusting.finish().await;
    drop(server);
}

#[tokio::test]
async fn a_redis_cluster_spreads_the_sessions() {
    if redis().is_none() {
        return;
    }
    let cluster = crate::support::redis_server::RedisServer::cluster();
    let url = format!("redis://127.0.0.1:{}", cluster.ports[0]);
    // Twelve signups from one client would meet signup_ip; this test is about the cluster. A call
    // slower than the default 250 ms (the whole suite running on two cores) would fall back to SQL
    // and leave a key out of the count, so the timeout here is generous.
    let app = TestApp::sqlite(&[
        ("GATEHOUSE_REDIS_URL", &url),
        ("GATEHOUSE_REDIS_CLUSTER", "true"),
        ("GATEHOUSE_RATE_LIMIT_ENABLED", "false"),
        ("GATEHOUSE_REDIS_TIMEOUT_MS", "5000"),
    ])
    .await;
    sign_up_and_check(&app, 12).await;
    assert_eq!(redis_status(&app).await, "ok");
    let per_node = cluster.keys_per_node();
    // Each of the twelve users has one cached session and the set that lists it.
    assert_eq!(per_node.iter().sum::<u64>(), 24, "{per_node:?}");
    assert!(per_node.iter().filter(|n| **n > 0).count() >= 2, "keys land on several nodes: {per_node:?}");
    app.finish().await;
}

/// A password from `REDIS_PASSWORD` (here for an ACL user named in the URL) is used, and a wrong
/// one degrades to SQL rather than failing requests.
#[tokio::test]
async fn redis_password_comes_from_its_own_setting() {
    let Some((url, prefix)) = redis() else { return };
    let user = format!("gh-test-{}", uuid::Uuid::new_v4().simple());
    let mut admin = redis_client(&url).await;
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", user.as_str(), "on", ">s3cret-acl-password", "~*", "+@all"][..])
        .query_async(&mut admin)
        .await
        .expect("create ACL user");
    let mut with_user = url::Url::parse(&url).expect("url");
    with_user.set_username(&user).expect("user");
    for (password, expected) in [("s3cret-acl-password", "ok"), ("wrong-password", "degraded")] {
        let app = TestApp::sqlite(&[
            ("GATEHOUSE_REDIS_URL", with_user.as_str()),
            ("REDIS_PASSWORD", password),
            ("GATEHOUSE_REDIS_KEY_PREFIX", &prefix),
        ])
        .await;
        sign_up_and_check(&app, 1).await;
        assert_eq!(redis_status(&app).await, expected, "password {password}");
        app.finish().await;
    }
    let _: () =
        redis::cmd("ACL").arg(&["DELUSER", user.as_str()][..]).query_async(&mut admin).await.expect("delete ACL user");
}
