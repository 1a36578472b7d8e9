//! The email flows end to end: the real worker sends each link through the `http` provider to a
//! local receiver shaped like Resend's API (and, at the end, through SMTP to `aiosmtpd`), and the
//! tests follow the links as a user would.

use std::time::Duration;

use gatehouse_core::clock::Clock;
use gatehouse_core::jobs::JobState;
use http::StatusCode;
use serde_json::json;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::mail::{API_KEY, EmailApi, SinkTls, SmtpSink, decoded, token_in};
use crate::support::{TestDb, redis};

/// Short polls, so a retry made due by moving the clock is picked up at once.
const FAST_JOBS: &[(&str, &str)] = &[("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "20")];

/// A Gatehouse on `backend` ("sqlite", "postgres", "redis": SQLite plus the Redis fast path) that
/// mails through `api`, with its worker running. `None` when the backend's service is absent
/// outside CI.
async fn app_on(backend: &str, api: &EmailApi, extra: &[(&str, &str)]) -> Option<TestApp> {
    let redis = if backend == "redis" { Some(redis()?) } else { None };
    let db = if backend == "postgres" { TestDb::postgres().await? } else { TestDb::sqlite() };
    let mut vars: Vec<(&str, &str)> = api.env().to_vec();
    vars.extend_from_slice(FAST_JOBS);
    if let Some((url, prefix)) = &redis {
        vars.extend([("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())]);
    }
    vars.extend_from_slice(extra);
    let mut app = TestApp::start(db, &vars).await;
    app.run_jobs();
    Some(app)
}

macro_rules! on_every_backend {
    ($($story:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $story() { super::$story("sqlite").await; })* }
        mod postgres { $(#[tokio::test] async fn $story() { super::$story("postgres").await; })* }
        mod sqlite_with_redis { $(#[tokio::test] async fn $story() { super::$story("redis").await; })* }
    };
}

on_every_backend!(verification_link_verifies_once, password_reset_ends_every_session, magic_link_signs_in_once);

async fn verification_link_verifies_once(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let signup = app.signup("Ada@Example.com").await;
    assert_eq!(signup.status, StatusCode::CREATED);
    assert_eq!(signup.body["user"]["email_verified"], false);
    let cookie = signup.cookie();
    // Read once, so that with Redis the session (and its user) is cached.
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.body["user"]["email_verified"], false);

    let email = api.next().await;
    assert_eq!(email.authorization, format!("Bearer {API_KEY}"));
    assert_eq!(email.body["to"], json!(["Ada@Example.com"]));
    assert_eq!(email.body["from"], "Gatehouse <no-reply@localhost>");
    assert_eq!(email.body["subject"], "Confirm your email for Gatehouse");
    let link = format!("{}/verify-email?token=", app.app.config.public_url.as_str().trim_end_matches('/'));
    assert!(email.body["text"].as_str().expect("text").contains(&link), "{}", email.body["text"]);
    assert!(email.body["html"].as_str().expect("html").contains("<a href=\""), "{}", email.body["html"]);
    assert!(!email.idempotency_key.is_empty());
    let token = email.token();

    let verified = app.post_json("/v1/email/verify", None, json!({ "token": token })).await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    assert_eq!(verified.body["user"]["email_verified"], true);
    let whoami = app.get("/v1/session", Some(&cookie)).await;
    assert_eq!(whoami.body["user"]["email_verified"], true, "no stale cached user: {:?}", whoami.body);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.body["user"]["email_verified"], true);

    let again = app.post_json("/v1/email/verify", None, json!({ "token": token })).await;
    assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("link_invalid")));
    let forged = app.post_json("/v1/email/verify", None, json!({ "token": "A".repeat(43) })).await;
    assert_eq!(forged.body["code"], "link_invalid");
    let malformed = app.post_json("/v1/email/verify", None, json!({ "token": "not a token" })).await;
    assert_eq!(malformed.body["code"], "link_invalid");
    let audit: Vec<String> =
        app.app.state.services().audit.recent(10).await.expect("audit").into_iter().map(|e| e.action).collect();
    assert!(audit.contains(&"email.verified".to_owned()), "{audit:?}");
    app.finish().await;
}

async fn password_reset_ends_every_session(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let first = app.signup("grace@example.com").await.cookie();
    api.next().await; // the verification email
    let second = app.login("grace@example.com", PASSWORD).await.cookie();
    assert_eq!(app.get("/v1/session", Some(&second)).await.status, StatusCode::OK);

    // Known and unknown addresses get the same answer; only the known one gets an email.
    let unknown = app.post_json("/v1/password/forgot", None, json!({ "email": "nobody@example.com" })).await;
    let known = app.post_json("/v1/password/forgot", None, json!({ "email": "Grace@Example.com" })).await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!((unknown.status, &unknown.body), (known.status, &known.body));
    let email = api.next().await;
    assert_eq!(email.body["to"], json!(["grace@example.com"]));
    assert!(email.body["text"].as_str().expect("text").contains("/reset-password?token="));
    assert!(api.quiet_for(Duration::from_millis(300)).await, "the unknown address got no email");

    let weak = app.post_json("/v1/password/reset", None, json!({ "token": email.token(), "password": "short" })).await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY, "a refused password does not spend the link");
    let new_password = "an entirely different passphrase";
    let reset =
        app.post_json("/v1/password/reset", None, json!({ "token": email.token(), "password": new_password })).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{:?}", reset.body);

    for cookie in [&first, &second] {
        assert_eq!(app.get("/v1/session", Some(cookie)).await.status, StatusCode::UNAUTHORIZED, "every session ended");
    }
    assert_eq!(app.login("grace@example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let login = app.login("grace@example.com", new_password).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.body["user"]["email_verified"], true, "following the link proved the address");
    let reused =
        app.post_json("/v1/password/reset", None, json!({ "token": email.token(), "password": new_password })).await;
    assert_eq!(reused.body["code"], "link_invalid");
    app.finish().await;
}

async fn magic_link_signs_in_once(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    app.signup("linus@example.com").await;
    api.next().await;
    let nobody = app.post_json("/v1/magic-link", None, json!({ "email": "ghost@example.com" })).await;
    let asked = app.post_json("/v1/magic-link", None, json!({ "email": "linus@example.com" })).await;
    assert_eq!((nobody.status, &nobody.body), (asked.status, &asked.body));
    let email = api.next().await;
    assert_eq!(email.body["subject"], "Your Gatehouse sign-in link");

    let signed_in = app.post_json("/v1/magic-link/verify", None, json!({ "token": email.token() })).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    assert_eq!(signed_in.body["user"]["email"], "linus@example.com");
    let whoami = app.get("/v1/session", Some(&signed_in.cookie())).await;
    assert_eq!(whoami.status, StatusCode::OK);
    assert_eq!(whoami.body["user"]["email_verified"], true);
    let again = app.post_json("/v1/magic-link/verify", None, json!({ "token": email.token() })).await;
    assert_eq!(again.body["code"], "link_invalid");
    assert!(api.quiet_for(Duration::from_millis(200)).await, "the unknown address got no email");
    app.finish().await;
}

#[tokio::test]
async fn links_expire_and_a_newer_password_retires_older_links() {
    let api = EmailApi::start().await;
    let Some(app) = app_on("sqlite", &api, &[]).await else { return };
    app.signup("ken@example.com").await;
    api.next().await;
    for _ in 0..2 {
        app.post_json("/v1/password/forgot", None, json!({ "email": "ken@example.com" })).await;
    }
    let (older, newer) = (api.next().await.token(), api.next().await.token());
    app.post_json("/v1/magic-link", None, json!({ "email": "ken@example.com" })).await;
    let magic = api.next().await.token();

    let reset =
        app.post_json("/v1/password/reset", None, json!({ "token": newer, "password": "yet another passphrase" }));
    assert_eq!(reset.await.status, StatusCode::NO_CONTENT);
    let stale = app.post_json("/v1/password/reset", None, json!({ "token": older, "password": "a passphrase again" }));
    assert_eq!(stale.await.body["code"], "link_invalid", "links mailed before the reset no longer work");
    let stale_magic = app.post_json("/v1/magic-link/verify", None, json!({ "token": magic })).await;
    assert_eq!(stale_magic.body["code"], "link_invalid");

    app.post_json("/v1/magic-link", None, json!({ "email": "ken@example.com" })).await;
    let late = api.next().await.token();
    app.advance(Duration::from_secs(901));
    let expired = app.post_json("/v1/magic-link/verify", None, json!({ "token": late })).await;
    assert_eq!(expired.body["code"], "link_invalid", "magic links last 15 minutes");
    app.finish().await;
}

#[tokio::test]
async fn required_verification_holds_login_until_the_link_is_followed() {
    let api = EmailApi::start().await;
    let Some(app) = app_on("sqlite", &api, &[("GATEHOUSE_EMAIL_REQUIRE_VERIFIED", "true")]).await else { return };
    let signup = app.signup("barbara@example.com").await;
    assert_eq!(signup.status, StatusCode::CREATED);
    assert_eq!(signup.body["verification_required"], true);
    assert!(signup.headers.get(http::header::SET_COOKIE).is_none(), "no session before verification");
    api.next().await;

    let refused = app.login("barbara@example.com", PASSWORD).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("email_not_verified")));
    let wrong = app.login("barbara@example.com", "not the passphrase at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "a wrong password learns nothing about verification");

    // Lost the first email: ask again without a session.
    let resend = app.post_json("/v1/email/verification", None, json!({ "email": "barbara@example.com" })).await;
    assert_eq!(resend.status, StatusCode::ACCEPTED);
    let token = api.next().await.token();
    assert_eq!(app.post_json("/v1/email/verify", None, json!({ "token": token })).await.status, StatusCode::OK);
    assert_eq!(app.login("barbara@example.com", PASSWORD).await.status, StatusCode::OK);
    app.finish().await;
}

/// Jobs per kind, in any state.
async fn jobs_by_kind(app: &TestApp) -> std::collections::BTreeMap<String, u64> {
    let stats = app.app.database.jobs().stats(app.clock.now()).await.expect("stats");
    let mut kinds = std::collections::BTreeMap::new();
    for (kind, _, count) in stats.counts {
        *kinds.entry(kind).or_default() += count;
    }
    kinds
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let events = app.app.database.audit().recent(100).await.expect("audit");
    events.into_iter().map(|event| event.action).collect()
}

#[tokio::test]
async fn a_request_for_a_link_does_the_same_work_whether_or_not_the_address_is_registered() {
    let api = EmailApi::start().await;
    let mut vars = api.env().to_vec();
    vars.extend_from_slice(FAST_JOBS);
    // The worker is started only later, to see what the requests themselves wrote.
    let mut app = TestApp::sqlite(&vars).await;
    app.signup("ada@example.com").await;
    let (jobs_before, audit_before) = (jobs_by_kind(&app).await, audit_actions(&app).await);

    let mut writes = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let before = jobs_by_kind(&app).await;
        let asked = app.post_json("/v1/password/forgot", None, json!({ "email": email })).await;
        assert_eq!(asked.status, StatusCode::ACCEPTED);
        let after = jobs_by_kind(&app).await;
        let added: Vec<(String, u64)> = after
            .into_iter()
            .filter_map(|(kind, count)| {
                let new = count - before.get(&kind).copied().unwrap_or(0);
                (new > 0).then_some((kind, new))
            })
            .collect();
        writes.push(added);
    }
    assert_eq!(writes[0], [("email.link_request".to_owned(), 1)], "one job, and nothing else, for a known address");
    assert_eq!(writes[0], writes[1], "the same for an unknown one");
    assert_eq!(audit_actions(&app).await, audit_before, "nothing is audited before the worker looks the address up");
    assert_eq!(jobs_before.get("email.send"), Some(&1), "only signup's verification email so far");

    app.run_jobs();
    let mut sent = vec![api.next().await.body["to"].clone(), api.next().await.body["to"].clone()];
    sent.sort_by_key(ToString::to_string);
    assert_eq!(sent, [json!(["ada@example.com"]), json!(["ada@example.com"])]);
    assert!(api.quiet_for(Duration::from_millis(300)).await, "the unknown address got no email");
    let actions = audit_actions(&app).await;
    assert_eq!(actions.iter().filter(|action| *action == "email.link_sent").count(), 1, "{actions:?}");
    app.finish().await;
}

#[tokio::test]
async fn a_link_request_mails_without_waiting_for_the_poll() {
    // With a ten-minute poll, the email arrives within `next`'s wait only if the link request's
    // handler wakes the worker for the email job it enqueues.
    let api = EmailApi::start().await;
    let mut vars = api.env().to_vec();
    vars.push(("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "600000"));
    let mut app = TestApp::sqlite(&vars).await;
    app.run_jobs();
    app.signup("ada@example.com").await;
    api.next().await;
    app.post_json("/v1/magic-link", None, json!({ "email": "ada@example.com" })).await;
    assert!(api.next().await.body["text"].as_str().is_some_and(|text| text.contains("/magic-link?token=")));
    app.finish().await;
}

#[tokio::test]
async fn a_link_request_that_runs_twice_issues_one_link_and_one_email() {
    use gatehouse::email::requests::LinkRequests;
    use gatehouse::worker::Perform;
    use gatehouse_core::email::{LinkPurpose, LinkRequest};

    let app = TestApp::sqlite(&[]).await;
    app.signup("ada@example.com").await;
    let database = &app.app.database;
    let link_key = app.app.state.services().email.link_key.clone();
    let handler = LinkRequests {
        accounts: database.accounts(),
        links: database.links(),
        link_key: link_key.clone(),
        lifetimes: app.app.state.services().email.lifetimes,
        clock: app.clock.clone(),
        wake: std::sync::Arc::default(),
    };
    let request = |purpose| LinkRequest {
        purpose,
        email: "ada@example.com".into(),
        link_id: uuid::Uuid::new_v4(),
        client: gatehouse_core::sessions::ClientContext::default(),
        return_to: None,
    };
    let reset = request(LinkPurpose::ResetPassword);
    handler.perform(reset.clone()).await.expect("first run");
    handler.perform(reset).await.expect("a second run of the same job succeeds");
    assert_eq!(jobs_by_kind(&app).await.get("email.send"), Some(&2), "signup's email and one reset email");

    // Another request is another link; an unknown address, or a verified one asking for
    // verification, gets nothing.
    handler.perform(request(LinkPurpose::MagicLink)).await.expect("magic link");
    let unknown = LinkRequest { email: "nobody@example.com".into(), ..request(LinkPurpose::MagicLink) };
    handler.perform(unknown).await.expect("unknown");
    let signup_email = database
        .jobs()
        .jobs_in(JobState::Ready, 10)
        .await
        .expect("jobs")
        .into_iter()
        .find(|job| job.payload["template"] == "verify_email");
    let link_id = signup_email.expect("signup's email").payload["link_id"].as_str().expect("id").parse().expect("uuid");
    let verify = app.post_json("/v1/email/verify", None, json!({ "token": link_key.token(link_id).encode() }));
    assert_eq!(verify.await.status, StatusCode::OK);
    handler.perform(request(LinkPurpose::VerifyEmail)).await.expect("verified already");
    assert_eq!(jobs_by_kind(&app).await.get("email.send"), Some(&3));
    let links_sent = audit_actions(&app).await.into_iter().filter(|action| action == "email.link_sent").count();
    assert_eq!(links_sent, 2, "the reset and the magic link; signup's own link is audited as the signup");
    app.finish().await;
}

#[tokio::test]
async fn a_signed_in_resend_needs_no_body_but_refuses_a_wrong_one() {
    let api = EmailApi::start().await;
    let Some(app) = app_on("sqlite", &api, &[]).await else { return };
    let cookie = app.signup("grace@example.com").await.cookie();
    api.next().await; // signup's own verification email
    let wrong = app.post_json("/v1/email/verification", Some(&cookie), json!([null, null])).await;
    assert_eq!((wrong.status, wrong.body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")));
    let bad = app.post_json("/v1/email/verification", Some(&cookie), json!({ "email": "not an address" })).await;
    assert_eq!(bad.body["code"], "validation_failed");
    assert!(api.quiet_for(Duration::from_millis(100)).await, "a refused request sends nothing");
    let request = app.signed(http::Request::post("/v1/email/verification"), &cookie).await;
    let resent = app.send(request.body(axum::body::Body::empty()).expect("request")).await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{:?}", resent.body);
    assert_eq!(api.next().await.body["to"], json!(["grace@example.com"]));
    app.finish().await;
}

/// The jobs in `state`, once there are any (the worker records outcomes after the receiver answers).
async fn jobs_in(app: &TestApp, state: JobState) -> Vec<gatehouse_core::jobs::Job> {
    let jobs = app.app.database.jobs();
    let started = std::time::Instant::now();
    loop {
        let found = jobs.jobs_in(state, 10).await.expect("jobs");
        if !found.is_empty() {
            return found;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no {state:?} job appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn provider_errors_are_retried_or_kill_the_job_with_the_reason() {
    let api = EmailApi::start().await;
    let Some(app) = app_on("sqlite", &api, &[]).await else { return };
    // A 500 is retried with the same idempotency key; any 2xx is success.
    api.answer(&[500, 200]);
    app.signup("edsger@example.com").await;
    let failed = api.next().await;
    assert_eq!(failed.status, 500);
    // Move time only once the failure is recorded, or the retry is scheduled after the jump.
    let retrying = jobs_in(&app, JobState::Ready).await;
    assert!(retrying[0].last_error.as_deref().is_some_and(|e| e.contains("500")), "{retrying:?}");
    app.advance(Duration::from_secs(11));
    let delivered = api.next().await;
    assert_eq!(delivered.status, 200);
    assert_eq!(delivered.idempotency_key, failed.idempotency_key);

    // A 429 is a 4xx about the moment, not the email: retried too.
    api.answer(&[429]);
    app.post_json("/v1/magic-link", None, json!({ "email": "edsger@example.com" })).await;
    assert_eq!(api.next().await.status, 429);
    let retrying = jobs_in(&app, JobState::Ready).await;
    assert!(retrying[0].last_error.as_deref().is_some_and(|e| e.contains("429")), "{retrying:?}");
    app.advance(Duration::from_secs(11));
    assert_eq!(api.next().await.status, 202);

    // A 422 says the email itself is wrong: dead at once, with the receiver's reason.
    api.answer(&[422]);
    app.post_json("/v1/magic-link", None, json!({ "email": "edsger@example.com" })).await;
    assert_eq!(api.next().await.status, 422);
    let dead = jobs_in(&app, JobState::Dead).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1);
    let reason = dead[0].last_error.as_deref().expect("reason");
    assert!(reason.contains("422"), "{reason}");
    assert!(!reason.contains(API_KEY));
    assert!(api.quiet_for(Duration::from_millis(200)).await, "a dead job is not retried");
    app.finish().await;
}

#[tokio::test]
async fn smtp_delivers_through_a_real_server_in_clear_with_starttls_and_with_implicit_tls() {
    for (tls, setting) in [(SinkTls::None, "none"), (SinkTls::StartTls, "starttls"), (SinkTls::Implicit, "tls")] {
        let sink = SmtpSink::start(tls, None);
        let port = sink.port.to_string();
        let ca_file = sink.ca_file.as_ref().map(|path| path.display().to_string()).unwrap_or_default();
        let mut vars = vec![
            ("GATEHOUSE_EMAIL_PROVIDER", "smtp"),
            ("GATEHOUSE_EMAIL_SMTP_HOST", "localhost"),
            ("GATEHOUSE_EMAIL_SMTP_PORT", port.as_str()),
            ("GATEHOUSE_EMAIL_FROM", "Acme <accounts@acme.test>"),
            ("GATEHOUSE_EMAIL_APP_NAME", "Acme"),
        ];
        vars.push(("GATEHOUSE_EMAIL_SMTP_TLS", setting));
        if tls != SinkTls::None {
            vars.push(("GATEHOUSE_EMAIL_SMTP_TLS_CA_FILE", ca_file.as_str()));
        }
        vars.extend_from_slice(FAST_JOBS);
        let mut app = TestApp::sqlite(&vars).await;
        app.run_jobs();
        app.signup("margaret@example.com").await;
        let message = decoded(&sink.wait_for(1).await[0]);
        assert!(message.contains("Subject: Confirm your email for Acme"), "{message}");
        assert!(message.contains("To: margaret@example.com"), "{message}");
        assert!(message.contains("From: Acme <accounts@acme.test>"), "{message}");
        assert!(message.contains("text/plain") && message.contains("text/html"), "{message}");
        let token = token_in(&message);
        let verified = app.post_json("/v1/email/verify", None, json!({ "token": token })).await;
        assert_eq!(verified.status, StatusCode::OK, "{tls:?}: {:?}", verified.body);
        app.finish().await;
    }
}

#[tokio::test]
async fn on_postgres_a_job_enqueued_by_one_instance_wakes_the_worker_of_another() {
    let Some(db) = TestDb::postgres().await else { return };
    let api = EmailApi::start().await;
    let mut vars: Vec<(&str, &str)> = api.env().to_vec();
    // Ten minutes between polls: within the test, only a notification can wake the worker.
    vars.push(("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "600000"));
    let url = db.url.clone();
    let front = TestApp::start(db, &vars).await; // serves requests, runs no worker
    vars.extend_from_slice(crate::support::app::FAST_HASHING);
    let back = gatehouse::app::build(crate::support::config_for(&url, &vars)).await.expect("second instance");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = gatehouse::app::run_worker(back.worker.expect("worker"), back.database.clone(), stopped);

    front.signup("notify@example.com").await;
    assert_eq!(api.next().await.body["to"], json!(["notify@example.com"]));
    front.post_json("/v1/magic-link", None, json!({ "email": "notify@example.com" })).await;
    assert!(api.next().await.body["subject"].as_str().expect("subject").contains("sign-in link"));

    let _ = stop.send(true);
    worker.await.expect("worker stops");
    back.database.close().await;
    front.finish().await;
}

#[tokio::test]
async fn smtp_authenticates_after_starttls_and_a_refusal_kills_the_job_with_the_reason() {
    let sink = SmtpSink::start(SinkTls::StartTls, Some("gatehouse:smtp-secret"));
    let port = sink.port.to_string();
    let ca_file = sink.ca_file.as_ref().expect("CA").display().to_string();
    let base = [
        ("GATEHOUSE_EMAIL_PROVIDER", "smtp"),
        ("GATEHOUSE_EMAIL_SMTP_HOST", "localhost"),
        ("GATEHOUSE_EMAIL_SMTP_PORT", port.as_str()),
        ("GATEHOUSE_EMAIL_SMTP_TLS", "starttls"),
        ("GATEHOUSE_EMAIL_SMTP_TLS_CA_FILE", ca_file.as_str()),
        ("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "20"),
    ];
    let mut with_credentials = base.to_vec();
    with_credentials
        .extend([("GATEHOUSE_EMAIL_SMTP_USERNAME", "gatehouse"), ("GATEHOUSE_EMAIL_SMTP_PASSWORD", "smtp-secret")]);
    let mut app = TestApp::sqlite(&with_credentials).await;
    app.run_jobs();
    app.signup("grace@example.com").await;
    assert!(decoded(&sink.wait_for(1).await[0]).contains("To: grace@example.com"));
    app.finish().await;

    // Without credentials the server answers 530: the email itself cannot go, so the job dies.
    let mut app = TestApp::sqlite(&base).await;
    app.run_jobs();
    app.signup("hopper@example.com").await;
    let dead = jobs_in(&app, JobState::Dead).await;
    let reason = dead[0].last_error.as_deref().expect("reason");
    assert!(reason.contains("530"), "{reason}");
    assert_eq!(sink.messages().len(), 1, "nothing more was delivered");
    app.finish().await;
}
