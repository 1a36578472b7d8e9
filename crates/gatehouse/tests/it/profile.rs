//! Account self-service through the API on every backend: changing the password, the name and
//! the email address (with its undo), the breached-password check against a local range API and
//! a local corpus file, and new-device notices. Email goes through the real worker to the local
//! receiver (`support::mail`), and the tests follow the links as a person would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use gatehouse_core::breached::PasswordSha1;
use gatehouse_core::jobs::JobState;
use gatehouse_core::password::Password;
use http::{StatusCode, header};
use serde_json::json;

use crate::support::app::{PASSWORD, Reply, TestApp};
use crate::support::mail::{ApiRequest, EmailApi};
use crate::support::{TestDb, redis};

const NEW_PASSWORD: &str = "an entirely different passphrase";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                      Version/18.1 Mobile/15E148 Safari/604.1";

/// A Gatehouse on `backend` that mails through `api`, its worker running.
async fn app_on(backend: &str, api: &EmailApi, extra: &[(&str, &str)]) -> Option<TestApp> {
    let redis = if backend == "redis" { Some(redis()?) } else { None };
    let db = if backend == "postgres" { TestDb::postgres().await? } else { TestDb::sqlite() };
    let mut vars: Vec<(&str, &str)> = api.env().to_vec();
    vars.push(("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "20"));
    if let Some((url, prefix)) = &redis {
        vars.extend([("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())]);
    }
    vars.extend_from_slice(extra);
    let mut app = TestApp::start(db, &vars).await;
    app.run_jobs();
    Some(app)
}

/// The emails received so far, to wait for one by address and subject whatever order the
/// worker sent them in.
struct Inbox<'a> {
    api: &'a EmailApi,
    unread: Vec<ApiRequest>,
}

impl<'a> Inbox<'a> {
    fn new(api: &'a EmailApi) -> Self {
        Self { api, unread: Vec::new() }
    }

    /// The next email to `to` whose subject contains `subject`.
    async fn mail(&mut self, to: &str, subject: &str) -> ApiRequest {
        let wanted = |email: &ApiRequest| {
            email.body["to"] == json!([to]) && email.body["subject"].as_str().is_some_and(|s| s.contains(subject))
        };
        loop {
            if let Some(at) = self.unread.iter().position(wanted) {
                return self.unread.remove(at);
            }
            self.unread.push(self.api.next().await);
        }
    }

    /// Whether no email to `to` arrives within `wait` (and none is waiting unread).
    async fn none_to(&mut self, to: &str, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            if !self.api.quiet_for(Duration::from_millis(50)).await {
                // Something arrived; `quiet_for` consumed it, so it cannot be inspected: fail safe.
                return false;
            }
        }
        self.unread.iter().all(|email| email.body["to"] != json!([to]))
    }
}

/// The payloads of the Gatehouse events enqueued so far, in any state: each job once, though it
/// may move on from one state to the next while the states are read.
async fn events_published(app: &TestApp) -> Vec<serde_json::Value> {
    let mut events = std::collections::BTreeMap::new();
    for state in [JobState::Ready, JobState::Running, JobState::Succeeded] {
        let jobs = app.app.database.jobs().jobs_in(state, 500).await.expect("jobs");
        events.extend(jobs.into_iter().filter(|job| job.kind == "webhook.fan_out").map(|job| (job.id, job.payload)));
    }
    events.into_values().collect()
}

macro_rules! on_every_backend {
    ($($story:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $story() { super::$story("sqlite").await; })* }
        mod postgres { $(#[tokio::test] async fn $story() { super::$story("postgres").await; })* }
        mod sqlite_with_redis { $(#[tokio::test] async fn $story() { super::$story("redis").await; })* }
    };
}

on_every_backend!(
    changing_the_password_ends_other_sessions_retires_links_and_tells_the_owner,
    a_password_change_checks_its_input,
    an_account_without_a_password_sets_one_after_a_fresh_proof,
    the_name_is_edited_and_the_change_is_announced,
    an_email_change_is_confirmed_from_the_new_inbox_and_undone_from_the_old,
    an_email_change_reveals_nothing_about_a_taken_address,
    email_change_requests_replace_cancel_and_race_safely,
    a_new_device_is_told_once_and_a_known_one_never,
    a_breached_password_is_refused_everywhere_a_password_is_chosen,
);

async fn change_password(app: &TestApp, cookie: &str, body: serde_json::Value) -> Reply {
    app.post_json("/v1/me/password", Some(cookie), body).await
}

async fn changing_the_password_ends_other_sessions_retires_links_and_tells_the_owner(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let mut inbox = Inbox::new(&api);
    let here = app.signup("ada@example.com").await.cookie();
    let elsewhere = app.login("ada@example.com", PASSWORD).await.cookie();
    let kept = app.login("ada@example.com", PASSWORD).await.cookie();
    // A reset link mailed before the change must stop working after it.
    app.post_json("/v1/password/forgot", None, json!({ "email": "ada@example.com" })).await;
    let reset = inbox.mail("ada@example.com", "Reset your").await.token();

    // Keep one other session first, to see that the choice is honoured.
    let keep = change_password(
        &app,
        &here,
        json!({ "current_password": PASSWORD, "new_password": "a first replacement passphrase",
                "sign_out_other_sessions": false }),
    )
    .await;
    assert_eq!((keep.status, keep.body["sessions_ended"].as_u64()), (StatusCode::OK, Some(0)), "{:?}", keep.body);
    assert_eq!(app.get("/v1/session", Some(&kept)).await.status, StatusCode::OK);
    inbox.mail("ada@example.com", "password was changed").await;

    let changed = change_password(
        &app,
        &here,
        json!({ "current_password": "a first replacement passphrase", "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(
        (changed.status, changed.body["sessions_ended"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{:?}",
        changed.body
    );
    assert_eq!(app.get("/v1/session", Some(&here)).await.status, StatusCode::OK, "the changing session stays");
    for other in [&elsewhere, &kept] {
        assert_eq!(app.session_status_after_change(other, StatusCode::UNAUTHORIZED).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("ada@example.com", NEW_PASSWORD).await.status, StatusCode::OK);
    let stale =
        app.post_json("/v1/password/reset", None, json!({ "token": reset, "password": "yet another long one" })).await;
    assert_eq!(stale.body["code"], "link_invalid", "links mailed before the change are retired");

    let notice = inbox.mail("ada@example.com", "password was changed").await;
    let text = notice.body["text"].as_str().expect("text");
    assert!(text.contains("UTC") && text.contains("/forgot-password"), "{text}");
    assert!(!text.contains("token="), "a notice carries no token");
    let audit: Vec<String> =
        app.app.database.audit().recent(30).await.expect("audit").into_iter().map(|e| e.action).collect();
    assert!(audit.contains(&"password.changed".to_owned()), "{audit:?}");
    app.finish().await;
}

async fn a_password_change_checks_its_input(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let cookie = app.signup("grace@example.com").await.cookie();
    let cases = [
        (
            json!({ "current_password": "wrong password here", "new_password": NEW_PASSWORD }),
            401,
            "invalid_credentials",
        ),
        (json!({ "new_password": NEW_PASSWORD }), 422, "validation_failed"),
        (json!({ "current_password": PASSWORD, "new_password": PASSWORD }), 422, "validation_failed"),
        (json!({ "current_password": PASSWORD, "new_password": "short" }), 422, "validation_failed"),
        (json!({ "current_password": PASSWORD, "new_password": "Password123" }), 422, "validation_failed"),
        (json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD, "admin": true }), 422, "invalid_body"),
        (json!({ "current_password": PASSWORD }), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let reply = change_password(&app, &cookie, body.clone()).await;
        assert_eq!(
            (reply.status.as_u16(), reply.body["code"].as_str()),
            (status, Some(code)),
            "{body}: {:?}",
            reply.body
        );
    }
    let anonymous = app.post_json("/v1/me/password", None, json!({ "new_password": NEW_PASSWORD })).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("grace@example.com", PASSWORD).await.status, StatusCode::OK, "nothing changed");

    // Every attempt counts against the account's login limit.
    let mut limited = None;
    for _ in 0..30 {
        let reply =
            change_password(&app, &cookie, json!({ "current_password": "wrong", "new_password": NEW_PASSWORD })).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
            break;
        }
    }
    assert_eq!(limited.expect("the login_account limit stops guessing").body["code"], "rate_limited");
    app.finish().await;
}

async fn set_no_password(app: &TestApp, email: &str) {
    let url = &app.db.url;
    let sql = "UPDATE users SET password_hash = NULL WHERE email_normalized = $1";
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        sqlx::query(sql).bind(email).execute(&pool).await.expect("update");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::query(sql).bind(email).execute(&pool).await.expect("update");
        pool.close().await;
    }
}

async fn an_account_without_a_password_sets_one_after_a_fresh_proof(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[("GATEHOUSE_SESSION_REAUTH_WINDOW_SECS", "120")]).await else { return };
    let fresh = app.signup("linus@example.com").await.cookie();
    let stale = app.signup("rey@example.com").await.cookie();
    set_no_password(&app, "linus@example.com").await;
    set_no_password(&app, "rey@example.com").await;
    // Within the window (120 s here), the sign-in itself is the proof.
    let first = change_password(&app, &fresh, json!({ "new_password": NEW_PASSWORD })).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(app.login("linus@example.com", NEW_PASSWORD).await.status, StatusCode::OK);

    app.advance(Duration::from_secs(121));
    let late = change_password(&app, &stale, json!({ "new_password": NEW_PASSWORD })).await;
    assert_eq!((late.status, late.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("reauthentication_required")));
    assert_eq!(app.login("rey@example.com", NEW_PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn the_name_is_edited_and_the_change_is_announced(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let cookie = app.signup("mary@example.com").await.cookie();
    app.get("/v1/session", Some(&cookie)).await; // cached, with Redis
    let named = app.call_json(http::Method::PATCH, "/v1/me", &cookie, Some(json!({ "name": "  Mary Jackson " }))).await;
    assert_eq!((named.status, named.body["user"]["name"].as_str()), (StatusCode::OK, Some("Mary Jackson")));
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.body["user"]["name"], "Mary Jackson", "no stale cache");
    let long = app.call_json(http::Method::PATCH, "/v1/me", &cookie, Some(json!({ "name": "x".repeat(201) }))).await;
    assert_eq!(
        (long.status, long.body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    let cleared = app.call_json(http::Method::PATCH, "/v1/me", &cookie, Some(json!({ "name": null }))).await;
    assert_eq!(cleared.body["user"]["name"], serde_json::Value::Null);
    let events = events_published(&app).await;
    let updated: Vec<_> = events.iter().filter(|p| p["type"] == "user.updated").collect();
    assert_eq!(updated.len(), 2, "{events:?}");
    assert_eq!(updated[0]["data"]["changed"], json!(["name"]));
    app.finish().await;
}

async fn request_change(app: &TestApp, cookie: &str, body: serde_json::Value) -> Reply {
    app.post_json("/v1/me/email", Some(cookie), body).await
}

async fn an_email_change_is_confirmed_from_the_new_inbox_and_undone_from_the_old(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let mut inbox = Inbox::new(&api);
    let signup = app.signup("ada@old.example.com").await;
    let cookie = signup.cookie();
    let other_browser = app.login("ada@old.example.com", PASSWORD).await.cookie();
    app.get("/v1/session", Some(&cookie)).await;

    let wrong =
        request_change(&app, &cookie, json!({ "new_email": "ada@new.example.com", "current_password": "nope" })).await;
    assert_eq!((wrong.status, wrong.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("reauthentication_required")));
    let asked =
        request_change(&app, &cookie, json!({ "new_email": "Ada@New.example.com", "current_password": PASSWORD }))
            .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{:?}", asked.body);
    assert_eq!(asked.body["pending"]["new_email"], "Ada@New.example.com");
    let pending = app.get("/v1/me/email", Some(&cookie)).await;
    assert_eq!(pending.body["pending"]["new_email"], "Ada@New.example.com");
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.body["user"]["email"], "ada@old.example.com", "not yet");

    let confirm = inbox.mail("Ada@New.example.com", "Confirm your new email").await;
    assert!(confirm.body["text"].as_str().expect("text").contains("/email-change?token="));
    let confirmed = app.post_json("/v1/email/change/confirm", None, json!({ "token": confirm.token() })).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    assert_eq!(confirmed.body["user"]["email"], "Ada@New.example.com");
    assert_eq!(confirmed.body["user"]["email_verified"], true);
    assert_eq!(confirmed.body["previous_email"], "ada@old.example.com");
    let whoami = app.get("/v1/session", Some(&cookie)).await;
    assert_eq!((whoami.status, whoami.body["user"]["email"].as_str()), (StatusCode::OK, Some("Ada@New.example.com")));
    assert_eq!(app.login("ada@new.example.com", PASSWORD).await.status, StatusCode::OK, "the new address signs in");
    assert_eq!(app.login("ada@old.example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let again = app.post_json("/v1/email/change/confirm", None, json!({ "token": confirm.token() })).await;
    assert_eq!(again.body["code"], "link_invalid");
    assert_eq!(app.get("/v1/me/email", Some(&cookie)).await.body["pending"], serde_json::Value::Null);

    // The old inbox may undo it: the old address comes back and whoever changed it is out.
    let undo = inbox.mail("ada@old.example.com", "email address was changed").await;
    let undo_text = undo.body["text"].as_str().expect("text");
    assert!(
        undo_text.contains("Ada@New.example.com") && undo_text.contains("/email-change/undo?token="),
        "{undo_text}"
    );
    let undone = app.post_json("/v1/email/change/undo", None, json!({ "token": undo.token() })).await;
    assert_eq!(undone.status, StatusCode::OK, "{:?}", undone.body);
    assert_eq!(undone.body["user"]["email"], "ada@old.example.com");
    assert!(undone.set_cookie().contains("Max-Age=0"));
    for session in [&cookie, &other_browser] {
        assert_eq!(app.session_status_after_change(session, StatusCode::UNAUTHORIZED).await, StatusCode::UNAUTHORIZED);
    }
    for address in ["ada@old.example.com", "ada@new.example.com"] {
        assert_eq!(app.login(address, PASSWORD).await.status, StatusCode::UNAUTHORIZED, "{address}: no password");
    }
    let reset = inbox.mail("ada@old.example.com", "Reset your").await;
    let chosen =
        app.post_json("/v1/password/reset", None, json!({ "token": reset.token(), "password": NEW_PASSWORD })).await;
    assert_eq!(chosen.status, StatusCode::NO_CONTENT, "{:?}", chosen.body);
    assert_eq!(app.login("ada@old.example.com", NEW_PASSWORD).await.status, StatusCode::OK);
    let twice = app.post_json("/v1/email/change/undo", None, json!({ "token": undo.token() })).await;
    assert_eq!(twice.body["code"], "link_invalid");

    let audit: Vec<String> =
        app.app.database.audit().recent(60).await.expect("audit").into_iter().map(|e| e.action).collect();
    for action in ["email.change_requested", "email.changed", "email.change_undone"] {
        assert!(audit.contains(&action.to_owned()), "{action} missing: {audit:?}");
    }
    let events = events_published(&app).await;
    assert!(
        events.iter().any(|e| e["type"] == "user.updated" && e["data"]["changed"] == json!(["email"])),
        "{events:?}"
    );
    app.finish().await;
}

async fn an_email_change_reveals_nothing_about_a_taken_address(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let mut inbox = Inbox::new(&api);
    app.signup("grace@example.com").await;
    let cookie = app.signup("lin@example.com").await.cookie();
    let free =
        request_change(&app, &cookie, json!({ "new_email": "lin@other.example.com", "current_password": PASSWORD }))
            .await;
    let taken =
        request_change(&app, &cookie, json!({ "new_email": "grace@example.com", "current_password": PASSWORD })).await;
    assert_eq!((free.status, taken.status), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    let shape = |reply: &Reply| reply.body["pending"].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(shape(&free), shape(&taken), "the same answer either way");
    let notice = inbox.mail("grace@example.com", "Someone tried to use this address").await;
    let text = notice.body["text"].as_str().expect("text");
    assert!(!text.contains("token=") && !text.contains("lin@"), "it names no account and carries no link: {text}");
    assert_eq!(app.login("grace@example.com", PASSWORD).await.status, StatusCode::OK, "grace is untouched");

    // Bad input: each a 4xx with its code.
    for (body, code) in [
        (json!({ "new_email": "not an address", "current_password": PASSWORD }), "validation_failed"),
        (json!({ "new_email": "LIN@example.com", "current_password": PASSWORD }), "validation_failed"),
        (json!({ "new_email": "x@example.com", "password": PASSWORD }), "invalid_body"),
    ] {
        let reply = request_change(&app, &cookie, body.clone()).await;
        assert_eq!(reply.body["code"], code, "{body}: {:?}", reply.body);
        assert!(reply.status.is_client_error());
    }
    for token in ["A".repeat(43), "short".to_owned()] {
        for path in ["/v1/email/change/confirm", "/v1/email/change/undo"] {
            let reply = app.post_json(path, None, json!({ "token": token })).await;
            assert_eq!((reply.status, reply.body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("link_invalid")));
        }
    }
    // Without the password, a sign-in within the step-up window is the proof; after it, not.
    app.advance(Duration::from_secs(301));
    let late = request_change(&app, &cookie, json!({ "new_email": "lin@late.example.com" })).await;
    assert_eq!(late.body["code"], "reauthentication_required");
    app.finish().await;
}

async fn email_change_requests_replace_cancel_and_race_safely(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let mut inbox = Inbox::new(&api);
    let ada = app.signup("ada@example.com").await.cookie();
    let bob = app.signup("bob@example.com").await.cookie();
    let proof = |email: &str| json!({ "new_email": email, "current_password": PASSWORD });

    // A new request replaces the one before.
    request_change(&app, &ada, proof("first@example.com")).await;
    let first = inbox.mail("first@example.com", "Confirm").await.token();
    request_change(&app, &ada, proof("second@example.com")).await;
    let second = inbox.mail("second@example.com", "Confirm").await.token();
    let replaced = app.post_json("/v1/email/change/confirm", None, json!({ "token": first })).await;
    assert_eq!(replaced.body["code"], "link_invalid");

    // Cancelling retires the link.
    let cancelled = app.delete("/v1/me/email", &ada).await;
    assert_eq!(cancelled.status, StatusCode::NO_CONTENT);
    let none = app.delete("/v1/me/email", &ada).await;
    assert_eq!((none.status, none.body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let dead = app.post_json("/v1/email/change/confirm", None, json!({ "token": second })).await;
    assert_eq!(dead.body["code"], "link_invalid");

    // Two accounts ask for the same free address; the first to confirm wins, the other is told.
    request_change(&app, &ada, proof("shared@example.com")).await;
    request_change(&app, &bob, proof("shared@example.com")).await;
    let first_link = inbox.mail("shared@example.com", "Confirm").await.token();
    let second_link = inbox.mail("shared@example.com", "Confirm").await.token();
    let won = app.post_json("/v1/email/change/confirm", None, json!({ "token": first_link })).await;
    assert_eq!(won.status, StatusCode::OK, "{:?}", won.body);
    let lost = app.post_json("/v1/email/change/confirm", None, json!({ "token": second_link })).await;
    assert_eq!((lost.status, lost.body["code"].as_str()), (StatusCode::CONFLICT, Some("email_taken")));

    // A link opened after the address changed some other way does nothing; one opened while
    // signed in as someone else applies to the account it was issued for.
    let winner = won.body["user"]["email"].as_str().expect("email").to_owned();
    let (loser_cookie, loser_email) =
        if winner == "shared@example.com" && won.body["previous_email"] == "ada@example.com" {
            (bob.clone(), "bob@example.com")
        } else {
            (ada.clone(), "ada@example.com")
        };
    request_change(&app, &loser_cookie, proof("third@example.com")).await;
    let third = inbox.mail("third@example.com", "Confirm").await.token();
    let other = app.signup("carol@example.com").await.cookie();
    let signed_in_as_other = {
        let request = app.signed(http::Request::post("/v1/email/change/confirm"), &other).await;
        let request = request.header(header::CONTENT_TYPE, "application/json");
        app.send(request.body(Body::from(json!({ "token": third }).to_string())).expect("request")).await
    };
    assert_eq!(signed_in_as_other.status, StatusCode::OK);
    assert_eq!(signed_in_as_other.body["previous_email"], loser_email);
    assert_eq!(app.get("/v1/session", Some(&other)).await.body["user"]["email"], "carol@example.com");

    request_change(&app, &other, proof("fourth@example.com")).await;
    let fourth = inbox.mail("fourth@example.com", "Confirm").await.token();
    set_email_directly(&app, "carol@example.com", "carol@elsewhere.example.com").await;
    let moved = app.post_json("/v1/email/change/confirm", None, json!({ "token": fourth })).await;
    assert_eq!(moved.body["code"], "link_invalid");
    app.finish().await;
}

async fn set_email_directly(app: &TestApp, from: &str, to: &str) {
    let url = &app.db.url;
    let sql = "UPDATE users SET email = $1, email_normalized = $1 WHERE email_normalized = $2";
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        sqlx::query(sql).bind(to).bind(from).execute(&pool).await.expect("update");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::query(sql).bind(to).bind(from).execute(&pool).await.expect("update");
        pool.close().await;
    }
}

/// Logs in as a browser would: from `ip`, with its user agent and whatever cookies it kept.
async fn browser_login(app: &TestApp, agent: &str, ip: &str, cookies: Option<&str>) -> Reply {
    let mut request = http::Request::post("/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, agent)
        .header(header::ORIGIN, app.origin())
        .extension(peer(ip));
    if let Some(cookies) = cookies {
        request = request.header(header::COOKIE, cookies);
    }
    let body = json!({ "email": "ada@example.com", "password": PASSWORD }).to_string();
    app.send(request.body(Body::from(body)).expect("request")).await
}

fn peer(ip: &str) -> axum::extract::connect_info::MockConnectInfo<std::net::SocketAddr> {
    axum::extract::connect_info::MockConnectInfo(std::net::SocketAddr::new(ip.parse().expect("ip"), 50_000))
}

/// The device cookie a reply sets, as `name=value`.
fn device_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_session_device="))
        .map(|v| v.split(';').next().expect("pair").to_owned())
}

async fn a_new_device_is_told_once_and_a_known_one_never(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api, &[]).await else { return };
    let mut inbox = Inbox::new(&api);
    let signup = {
        let request = http::Request::post("/v1/signup")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, FIREFOX)
            .extension(peer("192.0.2.10"));
        let body = json!({ "email": "ada@example.com", "password": PASSWORD }).to_string();
        app.send(request.body(Body::from(body)).expect("request")).await
    };
    let laptop = device_cookie(&signup).expect("signup sets the device cookie");
    let set = signup
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect::<Vec<_>>();
    assert!(set.iter().any(|c| c.starts_with("gatehouse_session_device=") && c.contains("HttpOnly")), "{set:?}");
    inbox.mail("ada@example.com", "Confirm your email").await;

    // The laptop again, with its cookie, from another network: known, no notice, no new cookie.
    let again = browser_login(&app, FIREFOX, "203.0.113.5", Some(&laptop)).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert!(device_cookie(&again).is_none());
    // The same browser without its cookie (a private window) on the same network: familiar.
    let private = browser_login(&app, FIREFOX, "192.0.2.77", None).await;
    assert!(device_cookie(&private).is_some(), "it gets a cookie to be known by next time");
    // A phone: new, told once.
    let phone_login = browser_login(&app, SAFARI, "198.51.100.7", None).await;
    let phone = device_cookie(&phone_login).expect("a new device gets the cookie");
    let notice = inbox.mail("ada@example.com", "New sign-in").await;
    let text = notice.body["text"].as_str().expect("text");
    assert!(text.contains("Safari on iPhone") && text.contains("198.51.100.7"), "{text}");
    assert!(text.contains("/account") && text.contains("UTC"), "{text}");
    let again = browser_login(&app, SAFARI, "198.51.100.8", Some(&phone)).await;
    assert!(device_cookie(&again).is_none());
    assert!(inbox.none_to("ada@example.com", Duration::from_millis(500)).await, "one notice, for the phone only");

    // The device records are the person's: in the export, never the cookie.
    let export = app.get("/v1/me/export", Some(&again.cookie())).await;
    let devices = export.body["known_devices"].as_array().expect("known_devices");
    assert_eq!(devices.len(), 3, "laptop, private window, phone: {devices:?}");
    assert!(!export.body.to_string().contains(phone.split('=').nth(1).expect("value")));
    let audit: Vec<String> =
        app.app.database.audit().recent(30).await.expect("audit").into_iter().map(|e| e.action).collect();
    assert_eq!(audit.iter().filter(|a| *a == "session.new_device").count(), 1, "{audit:?}");
    app.finish().await;
}

/// A local range API in the format of Pwned Passwords, listing the hashes it is given and
/// recording every prefix asked for.
struct RangeApi {
    url: String,
    asked: Arc<Mutex<Vec<String>>>,
}

impl RangeApi {
    async fn start(listed: &[&str], status: u16, delay: Duration) -> Self {
        let hashes: Vec<String> =
            listed.iter().map(|p| PasswordSha1::of(&Password::new(p).expect("password")).full().to_owned()).collect();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        let router = axum::Router::new().route(
            "/range/{prefix}",
            axum::routing::get(move |axum::extract::Path(prefix): axum::extract::Path<String>| {
                let hashes = hashes.clone();
                seen.lock().expect("asked").push(prefix.clone());
                async move {
                    tokio::time::sleep(delay).await;
                    // Padding as the real service sends it: count-0 lines that match nothing.
                    let mut body = String::from("0000000000000000000000000000000000A:0\r\n");
                    for hash in hashes.iter().filter(|h| h.starts_with(&prefix)) {
                        body.push_str(&format!("{}:12345\r\n", &hash[5..]));
                    }
                    (StatusCode::from_u16(status).expect("status"), body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, asked }
    }
}

const BREACHED: &str = "correct horse battery staple";

async fn signup_with(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post_json("/v1/signup", None, json!({ "email": email, "password": password })).await
}

async fn a_breached_password_is_refused_everywhere_a_password_is_chosen(backend: &str) {
    let api = EmailApi::start().await;
    let range = RangeApi::start(&[BREACHED], 200, Duration::ZERO).await;
    let vars =
        [("GATEHOUSE_PASSWORD_BREACHED_CHECK", "api"), ("GATEHOUSE_PASSWORD_BREACHED_API_URL", range.url.as_str())];
    let Some(app) = app_on(backend, &api, &vars).await else { return };
    let mut inbox = Inbox::new(&api);
    let refused = signup_with(&app, "ada@example.com", BREACHED).await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str(), refused.body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password_breached"), Some("password")),
        "{:?}",
        refused.body
    );
    assert!(refused.body["errors"][0]["message"].as_str().expect("message").contains("breach"));
    let asked = range.asked.lock().expect("asked").clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].len(), 5, "only a 5-character prefix leaves the machine");
    assert!(BREACHED.len() > 5 && !asked[0].contains(&BREACHED[..5]));

    let cookie = signup_with(&app, "ada@example.com", PASSWORD).await.cookie();
    let change =
        change_password(&app, &cookie, json!({ "current_password": PASSWORD, "new_password": BREACHED })).await;
    assert_eq!(
        (change.body["code"].as_str(), change.body["errors"][0]["field"].as_str()),
        (Some("password_breached"), Some("new_password"))
    );
    app.post_json("/v1/password/forgot", None, json!({ "email": "ada@example.com" })).await;
    let reset = inbox.mail("ada@example.com", "Reset your").await.token();
    let by_link = app.post_json("/v1/password/reset", None, json!({ "token": reset, "password": BREACHED })).await;
    assert_eq!(by_link.body["code"], "password_breached");
    let fine = app.post_json("/v1/password/reset", None, json!({ "token": reset, "password": NEW_PASSWORD })).await;
    assert_eq!(fine.status, StatusCode::NO_CONTENT, "a refused password does not spend the link");
    let health = app.get("/health", None).await;
    assert_eq!(health.body["dependencies"]["breached_passwords"]["status"], "ok", "{:?}", health.body);
    app.finish().await;
}

#[tokio::test]
async fn a_corpus_that_cannot_answer_never_blocks_a_signup() {
    let api = EmailApi::start().await;
    for (status, delay) in [(503, Duration::ZERO), (200, Duration::from_secs(3))] {
        let range = RangeApi::start(&[BREACHED], status, delay).await;
        let vars = [
            ("GATEHOUSE_PASSWORD_BREACHED_CHECK", "api"),
            ("GATEHOUSE_PASSWORD_BREACHED_API_URL", range.url.as_str()),
            ("GATEHOUSE_PASSWORD_BREACHED_API_TIMEOUT_MS", "200"),
        ];
        let app = app_on("sqlite", &api, &vars).await.expect("sqlite");
        let started = std::time::Instant::now();
        let accepted = signup_with(&app, "ada@example.com", BREACHED).await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{status}: {:?}", accepted.body);
        assert!(started.elapsed() < Duration::from_secs(2), "the timeout bounds the wait");
        let health = app.get("/health", None).await;
        assert_eq!(health.body["dependencies"]["breached_passwords"]["status"], "degraded", "{:?}", health.body);
        let common = signup_with(&app, "bob@example.com", "Password123").await;
        assert_eq!(common.body["code"], "validation_failed", "the common list still applies");
        let request = http::Request::get("/metrics").body(Body::empty()).expect("request");
        let (_, _, metrics) = crate::support::call(&app.app.router, request).await;
        let text = String::from_utf8(metrics.to_vec()).expect("utf-8");
        assert!(text.contains("gatehouse_breached_check_failures_total"), "{text}");
        app.finish().await;
    }
}

#[tokio::test]
async fn a_local_corpus_file_is_searched_in_place() {
    let dir = tempfile::tempdir().expect("dir");
    let mut hashes: Vec<String> = (0..20_000)
        .map(|i| {
            PasswordSha1::of(&Password::new(&format!("generated password {i}")).expect("password")).full().to_owned()
        })
        .collect();
    hashes.push(PasswordSha1::of(&Password::new(BREACHED).expect("password")).full().to_owned());
    hashes.sort();
    let corpus: String = hashes.iter().enumerate().map(|(i, h)| format!("{h}:{}\r\n", i % 997 + 1)).collect();
    let path = dir.path().join("pwned-passwords-sha1-ordered-by-hash.txt");
    std::fs::write(&path, corpus).expect("write");
    let api = EmailApi::start().await;
    let file = path.to_str().expect("utf-8");
    let vars = [("GATEHOUSE_PASSWORD_BREACHED_CHECK", "file"), ("GATEHOUSE_PASSWORD_BREACHED_FILE", file)];
    let app = app_on("sqlite", &api, &vars).await.expect("sqlite");
    assert_eq!(signup_with(&app, "a@example.com", BREACHED).await.body["code"], "password_breached");
    assert_eq!(signup_with(&app, "b@example.com", "generated password 12345").await.body["code"], "password_breached");
    assert_eq!(signup_with(&app, "c@example.com", PASSWORD).await.status, StatusCode::CREATED);
    app.finish().await;
}
