//! The real binary: zero-config start, PostgreSQL by URL, graceful shutdown, and logs that never
//! carry a secret.

use std::time::Duration;

use http::StatusCode;

use crate::support::binary::Server;
use crate::support::proxy::{Mode, TcpProxy};
use crate::support::{TestDb, random_master_secret};

#[tokio::test]
async fn zero_config_serves_ready_on_sqlite_and_keeps_its_secret_across_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("PORT", "0")]);
    let ready = crate::support::http_client().get(server.url("/health/ready")).send().await.expect("ready");
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(dir.path().join("gatehouse.db").exists(), "the default database is ./gatehouse.db");
    let (status, log) = server.stop();
    assert!(status.success(), "{log:#?}");
    let text = log.join("\n");
    assert!(text.contains("development mode, sqlite database"), "{text}");
    assert!(text.contains("generated development master secret"), "{text}");

    let db_url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let stored = |url: String| async move {
        let db = gatehouse_store::Database::connect(
            &url,
            &gatehouse_store::PoolOptions {
                max_connections: 1,
                min_connections: 0,
                acquire_timeout: Duration::from_secs(5),
            },
        )
        .await
        .expect("open");
        let value = db.instance_secrets().instance_secret(gatehouse::app::DEVELOPMENT_SECRET_NAME).await.expect("read");
        db.close().await;
        value.expect("secret stored")
    };
    let first = stored(db_url.clone()).await;
    let again = Server::start(dir.path(), &[("PORT", "0")]);
    let (status, _) = again.stop();
    assert!(status.success());
    assert_eq!(stored(db_url).await, first, "a restart reuses the stored development secret");
}

#[tokio::test]
async fn database_url_selects_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("PORT", "0"), ("DATABASE_URL", &db.url)]);
    let ready = crate::support::http_client().get(server.url("/health/ready")).send().await.expect("ready");
    assert_eq!(ready.status(), StatusCode::OK);
    let health: serde_json::Value = crate::support::http_client()
        .get(server.url("/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["dependencies"]["database"]["backend"], "postgres");
    let (status, _) = server.stop();
    assert!(status.success());
    assert!(!dir.path().join("gatehouse.db").exists(), "no SQLite file when PostgreSQL is configured");
    db.finish().await;
}

/// SIGTERM while a request waits on a slow database: the request completes, then the process
/// exits 0. The proxy runs on a second worker while this test blocks on the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_in_flight_request_finish() {
    let Some(db) = TestDb::postgres().await else { return };
    let (proxy, url) = TcpProxy::in_front_of(&db.url, 5432).await;
    let dir = tempfile::tempdir().expect("dir");
    // No worker and no session cache: their polls (jobs, the invalidation log) would be the first
    // queries the slowed proxy sees, not the request's.
    let server = Server::start(
        dir.path(),
        &[
            ("PORT", "0"),
            ("DATABASE_URL", &url),
            ("GATEHOUSE_JOBS_ENABLED", "false"),
            ("GATEHOUSE_SESSION_LOCAL_CACHE", "false"),
        ],
    );

    proxy.set(Mode::DelayReplies(Duration::from_millis(150)));
    let slow = tokio::spawn(crate::support::http_client().get(server.url("/health/ready")).send());
    proxy.delayed_request_sent().await;
    server.signal("TERM");

    let response = slow.await.expect("join").expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap_or_default());
    let (status, log) = server.wait(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}; log:\n{}", log.join("\n"));
    let text = log.join("\n");
    assert!(text.contains("shutdown requested") && text.contains("gatehouse stopped"), "{text}");
    db.finish().await;
}

#[tokio::test]
async fn logs_never_contain_credentials_or_whole_emails() {
    let dir = tempfile::tempdir().expect("dir");
    let master_secret = random_master_secret();
    let db_url = format!("sqlite://{}", dir.path().join("gh.db").display());
    let mut vars = vec![
        ("PORT", "0"),
        ("DATABASE_URL", db_url.as_str()),
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_MASTER_SECRET", master_secret.as_str()),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.test"),
        ("GATEHOUSE_LOG_LEVEL", "debug"),
    ];
    vars.extend_from_slice(crate::support::PRODUCTION_EMAIL);
    let server = Server::start(dir.path(), &vars);
    let secrets = [
        "query-token-value-1",
        "bearer-token-value-2",
        "session-cookie-value-3",
        "password-value-4",
        "api-key-value-5",
        "jane.doe",
    ];
    let client = crate::support::http_client();
    let paths = ["/v1/login?token=query-token-value-1&email=jane.doe@example.com", "/health/ready", "/health"];
    for (i, path) in paths.iter().enumerate() {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let response = client
                .request(method, server.url(path))
                .header("x-request-id", format!("log-test-{i}"))
                .header("authorization", "Bearer bearer-token-value-2")
                .header("cookie", "gatehouse_session=session-cookie-value-3")
                .header("x-api-key", "api-key-value-5")
                .header("content-type", "application/json")
                .body(r#"{"email":"jane.doe@example.com","password":"password-value-4"}"#)
                .send()
                .await
                .expect("request");
            assert!(response.status().as_u16() < 500, "{path}: {}", response.status());
        }
    }
    // The real account flows: the password and email in the bodies, and the session token and
    // access token the server hands out, must not reach the log either.
    let credentials = serde_json::json!({ "email": "jane.doe@example.com", "password": "password-value-4 but long" });
    let signup = client.post(server.url("/v1/signup")).json(&credentials).send().await.expect("signup");
    assert_eq!(signup.status(), StatusCode::CREATED);
    let login = client.post(server.url("/v1/login")).json(&credentials).send().await.expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    let set_cookie = login.headers()["set-cookie"].to_str().expect("ascii").to_owned();
    let session_token =
        set_cookie.split(';').next().and_then(|pair| pair.split_once('=')).expect("cookie").1.to_owned();
    let wrong = serde_json::json!({ "email": "jane.doe@example.com", "password": "wrong-password-value-6" });
    assert_eq!(
        client.post(server.url("/v1/login")).json(&wrong).send().await.expect("login").status(),
        StatusCode::UNAUTHORIZED
    );
    let csrf: serde_json::Value = client
        .get(server.url("/v1/csrf"))
        .header("cookie", format!("gatehouse_session={session_token}"))
        .send()
        .await
        .expect("csrf")
        .json()
        .await
        .expect("json");
    let csrf = csrf["token"].as_str().expect("csrf token").to_owned();
    let token_reply: serde_json::Value = client
        .post(server.url("/v1/token"))
        .header("cookie", format!("gatehouse_session={session_token}; gatehouse_csrf={csrf}"))
        .header("x-csrf-token", &csrf)
        .header("origin", "https://auth.example.test")
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let access_token = token_reply["access_token"].as_str().expect("access token").to_owned();

    let (status, log) = server.stop();
    assert!(status.success());
    let text = log.join("\n");
    for secret in [session_token.as_str(), access_token.as_str(), "wrong-password-value-6"] {
        assert!(!text.contains(secret), "{secret} leaked into the log:\n{text}");
    }
    for i in 0..paths.len() {
        assert!(text.contains(&format!("log-test-{i}")), "the request lines were not logged:\n{text}");
    }
    for line in &log {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("production logs are JSON lines: {line}"));
    }
    for secret in secrets.iter().chain([&master_secret.as_str()]) {
        assert!(!text.contains(secret), "{secret} leaked into the log:\n{text}");
    }
}

#[tokio::test]
async fn a_job_cut_off_by_a_crash_is_finished_by_the_next_server() {
    use crate::support::mail::{EmailApi, HANG};
    let dir = tempfile::tempdir().expect("dir");
    let db_url = format!("sqlite://{}", dir.path().join("gh.db").display());
    let api = EmailApi::start().await;
    let mut vars = vec![
        ("PORT", "0"),
        ("DATABASE_URL", db_url.as_str()),
        ("GATEHOUSE_JOBS_LEASE_SECS", "3"),
        ("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "100"),
    ];
    vars.extend(api.env());
    // The first server's email hangs at the provider, so the job is mid-attempt when it dies.
    api.answer(&[HANG]);
    let first = Server::start(dir.path(), &vars);
    let signup = crate::support::http_client()
        .post(first.url("/v1/signup"))
        .json(&serde_json::json!({ "email": "kill@example.com", "password": "a long enough passphrase" }))
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), StatusCode::CREATED);
    let cut_off = api.next().await;
    assert_eq!(cut_off.status, HANG);
    first.signal("KILL");
    let _ = first.wait(Duration::from_secs(10));

    let second = Server::start(dir.path(), &vars);
    let finished = api.next().await;
    assert_eq!(finished.status, 202, "the restarted server sends the email once the lease runs out");
    assert_eq!(finished.idempotency_key, cut_off.idempotency_key, "the same job, not a new one");
    let verify = crate::support::http_client()
        .post(second.url("/v1/email/verify"))
        .json(&serde_json::json!({ "token": finished.token() }))
        .send()
        .await
        .expect("verify");
    assert_eq!(verify.status(), StatusCode::OK, "the link the second server mailed works");

    let magic = crate::support::http_client()
        .post(second.url("/v1/magic-link"))
        .json(&serde_json::json!({ "email": "kill@example.com" }))
        .send()
        .await
        .expect("magic link");
    assert_eq!(magic.status(), StatusCode::ACCEPTED);
    assert_eq!(api.next().await.status, 202);
    // Counters move after the provider answers, so wait for them (bounded).
    let wanted = [
        r#"gatehouse_jobs_enqueued_total{kind="email.send"} 1"#,
        r#"gatehouse_emails_sent_total{template="magic_link"} 1"#,
        r#"gatehouse_emails_sent_total{template="verify_email"} 1"#,
        "gatehouse_jobs_oldest_ready_age_seconds 0",
    ];
    let started = std::time::Instant::now();
    loop {
        let metrics = crate::support::http_client().get(second.url("/metrics")).send().await.expect("metrics");
        let text = metrics.text().await.expect("text");
        if wanted.iter().all(|line| text.contains(line)) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "missing one of {wanted:?} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = second.stop();
    assert!(status.success());
    let stats = crate::support::binary::cli(&db_url, &["jobs", "stats"]);
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.contains("succeeded"), "{stats}");
}
