//! Accounts and sessions through HTTP, on every SQL backend: signup, login, logout, whoami,
//! session management, binding, expiry, and the audit trail they leave.

use gatehouse_core::clock::Clock as _;
use http::StatusCode;

use crate::support::app::{PASSWORD, TestApp};

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let events = app.app.database.audit().recent(50).await.expect("audit");
    events.into_iter().map(|e| e.action).collect()
}

async fn signup_sets_a_safe_cookie_and_whoami_knows_the_user(app: TestApp) {
    let reply = app
        .post_json(
            "/v1/signup",
            None,
            serde_json::json!({ "email": "  Ada@Example.com ", "password": PASSWORD, "name": " Ada " }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let set_cookie = reply.set_cookie();
    assert!(set_cookie.starts_with("gatehouse_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing from {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "development cookies work over plain HTTP");
    assert_eq!(reply.body["user"]["email"], "Ada@Example.com");
    assert_eq!(reply.body["user"]["name"], "Ada");
    assert_eq!(reply.body["user"]["email_verified"], false);
    assert!(reply.body["user"].get("password_hash").is_none());

    let whoami = app.get("/v1/session", Some(&reply.cookie())).await;
    assert_eq!(whoami.status, StatusCode::OK);
    assert_eq!(whoami.body["user"]["id"], reply.body["user"]["id"]);
    assert_eq!(whoami.body["session"]["id"], reply.body["session"]["id"]);

    let events = app.app.database.audit().recent(5).await.expect("audit");
    assert_eq!(events[0].action, "user.signed_up");
    assert_eq!(events[0].details["email"], "A***@Example.com", "emails in audit details are masked");
    app.finish().await;
}

async fn the_same_email_in_another_case_is_a_duplicate(app: TestApp) {
    assert_eq!(app.signup("grace@example.com").await.status, StatusCode::CREATED);
    let again = app.signup(" GRACE@example.COM").await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["code"], "duplicate_entry");
    app.finish().await;
}

async fn signup_reports_every_invalid_field(app: TestApp) {
    let reply = app
        .post_json(
            "/v1/signup",
            None,
            serde_json::json!({ "email": "not-an-email", "password": "short", "name": "x".repeat(201) }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.body["code"], "validation_failed");
    let fields: Vec<&str> =
        reply.body["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().expect("field")).collect();
    assert_eq!(fields, ["email", "password", "name"]);

    let common = app
        .post_json("/v1/signup", None, serde_json::json!({ "email": "a@example.com", "password": "Password123" }))
        .await;
    assert_eq!(common.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(common.body["errors"][0]["message"].as_str().expect("message").contains("most common passwords"));

    let unknown_field = app
        .post_json(
            "/v1/signup",
            None,
            serde_json::json!({ "email": "a@example.com", "password": PASSWORD, "admin": true }),
        )
        .await;
    assert_eq!(
        (unknown_field.status, unknown_field.body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body"))
    );
    app.finish().await;
}

async fn wrong_password_unknown_email_and_disabled_account_look_the_same(app: TestApp) {
    let signup = app.signup("lin@example.com").await;
    let wrong_password = app.login("lin@example.com", "not the passphrase").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    let malformed = app.login("nobody", PASSWORD).await;
    for reply in [&wrong_password, &unknown, &malformed] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.body["code"], "invalid_credentials");
        assert_eq!(reply.body["detail"], wrong_password.body["detail"]);
        assert!(reply.headers.get(http::header::SET_COOKIE).is_none());
    }

    let user_id = signup.body["user"]["id"].as_str().expect("id").to_owned();
    disable(&app, &user_id).await;
    let disabled = app.login("lin@example.com", PASSWORD).await;
    assert_eq!(
        (disabled.status, disabled.body["detail"].clone()),
        (StatusCode::UNAUTHORIZED, wrong_password.body["detail"].clone())
    );
    let whoami = app.get("/v1/session", Some(&signup.cookie())).await;
    assert_eq!(whoami.status, StatusCode::UNAUTHORIZED, "a disabled account's sessions stop working");

    let failures = app.app.database.audit().recent(10).await.expect("audit");
    let reasons: Vec<_> =
        failures.iter().filter(|e| e.action == "login.failed").map(|e| e.details["reason"].clone()).collect();
    assert_eq!(reasons, ["disabled", "unknown_account", "unknown_account", "wrong_password"]);
    app.finish().await;
}

async fn disable(app: &TestApp, user_id: &str) {
    let url = &app.db.url;
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        sqlx::query("UPDATE users SET disabled = 1 WHERE id = $1").bind(user_id).execute(&pool).await.expect("disable");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::query("UPDATE users SET disabled = TRUE WHERE id = $1")
            .bind(user_id)
            .execute(&pool)
            .await
            .expect("disable");
        pool.close().await;
    }
}

async fn login_starts_a_new_session_and_logout_ends_it(app: TestApp) {
    let signup = app.signup("mo@example.com").await;
    let login = app.login("MO@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_ne!(login.cookie(), signup.cookie(), "every login gets a new session id");
    assert_ne!(login.body["session"]["id"], signup.body["session"]["id"]);

    let logout = app.post_json("/v1/logout", Some(&login.cookie()), serde_json::json!({})).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert!(logout.set_cookie().contains("Max-Age=0"), "the cookie is cleared");
    assert_eq!(app.get("/v1/session", Some(&login.cookie())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/v1/session", Some(&signup.cookie())).await.status, StatusCode::OK, "other sessions live on");
    let again = app.post_json("/v1/logout", Some(&login.cookie()), serde_json::json!({})).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "logging out twice is fine");
    assert!(audit_actions(&app).await.contains(&"session.logged_out".to_owned()));
    app.finish().await;
}

async fn whoami_refuses_missing_and_forged_cookies(app: TestApp) {
    let missing = app.get("/v1/session", None).await;
    assert_eq!((missing.status, missing.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    assert!(missing.headers.contains_key(http::header::WWW_AUTHENTICATE));
    let forged = format!("gatehouse_session={}", "A".repeat(43));
    assert_eq!(app.get("/v1/session", Some(&forged)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/v1/session", Some("gatehouse_session=garbage")).await.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn sessions_can_be_listed_and_revoked(app: TestApp) {
    let first = app.signup("kim@example.com").await;
    let second = app.login("kim@example.com", PASSWORD).await;
    let third = app.login("kim@example.com", PASSWORD).await;
    let other_user = app.signup("lee@example.com").await;

    let list = app.get("/v1/sessions", Some(&third.cookie())).await;
    let sessions = list.body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 3);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], third.body["session"]["id"]);

    let second_id = second.body["session"]["id"].as_str().expect("id");
    assert_eq!(app.delete(&format!("/v1/sessions/{second_id}"), &third.cookie()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/session", Some(&second.cookie())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete(&format!("/v1/sessions/{second_id}"), &third.cookie()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete("/v1/sessions/not-a-uuid", &third.cookie()).await.status, StatusCode::NOT_FOUND);

    let foreign = other_user.body["session"]["id"].as_str().expect("id");
    assert_eq!(app.delete(&format!("/v1/sessions/{foreign}"), &third.cookie()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/session", Some(&other_user.cookie())).await.status,
        StatusCode::OK,
        "nobody ends another user's session"
    );

    let revoked = app.post_json("/v1/sessions/revoke-others", Some(&third.cookie()), serde_json::json!({})).await;
    assert_eq!((revoked.status, revoked.body["revoked"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(app.get("/v1/session", Some(&first.cookie())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/v1/session", Some(&third.cookie())).await.status, StatusCode::OK);
    app.finish().await;
}

async fn idle_sessions_expire_and_activity_slides_them(app: TestApp) {
    let signup = app.signup("ida@example.com").await;
    let cookie = signup.cookie();
    let created = signup.body["session"]["last_seen_at"].clone();

    app.clock.advance(time::Duration::seconds(30));
    let soon = app.get("/v1/session", Some(&cookie)).await;
    assert_eq!(soon.body["session"]["last_seen_at"], created, "within a minute nothing is written");

    app.clock.advance(time::Duration::seconds(31));
    app.get("/v1/session", Some(&cookie)).await;
    let touched = app.get("/v1/session", Some(&cookie)).await;
    assert_ne!(touched.body["session"]["last_seen_at"], created, "after a minute last-seen moves");

    // Active every six days, the session outlives the seven-day idle timeout…
    for _ in 0..3 {
        app.clock.advance(time::Duration::days(6));
        assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::OK);
    }
    // …but not eight idle days.
    app.clock.advance(time::Duration::days(8));
    let expired = app.get("/v1/session", Some(&cookie)).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.body["detail"].as_str().expect("detail").contains("expired"));
    app.finish().await;
}

async fn sessions_end_at_the_absolute_lifetime_however_active(app: TestApp) {
    let cookie = app.signup("abe@example.com").await.cookie();
    for _ in 0..4 {
        app.clock.advance(time::Duration::days(6));
        assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::OK);
    }
    app.clock.advance(time::Duration::days(6));
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::UNAUTHORIZED, "30 days is the limit");
    app.finish().await;
}

crate::support::on_every_backend! {
    signup_sets_a_safe_cookie_and_whoami_knows_the_user,
    the_same_email_in_another_case_is_a_duplicate,
    signup_reports_every_invalid_field,
    wrong_password_unknown_email_and_disabled_account_look_the_same,
    login_starts_a_new_session_and_logout_ends_it,
    whoami_refuses_missing_and_forged_cookies,
    sessions_can_be_listed_and_revoked,
    idle_sessions_expire_and_activity_slides_them,
    sessions_end_at_the_absolute_lifetime_however_active,
}

#[tokio::test]
async fn a_session_used_from_another_client_is_ended_and_audited() {
    let app = TestApp::sqlite(&[("GATEHOUSE_SESSION_BINDING", "user_agent")]).await;
    let request = |ua: &str, cookie: Option<&str>| {
        let mut builder = http::Request::get("/v1/session").header(http::header::USER_AGENT, ua);
        if let Some(cookie) = cookie {
            builder = builder.header(http::header::COOKIE, cookie);
        }
        builder.body(axum::body::Body::empty()).expect("request")
    };
    let signup = app
        .send(
            http::Request::post("/v1/signup")
                .header(http::header::USER_AGENT, "browser/1")
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(
                    serde_json::json!({ "email": "bo@example.com", "password": PASSWORD }).to_string(),
                ))
                .expect("request"),
        )
        .await;
    let cookie = signup.cookie();
    assert_eq!(app.send(request("browser/1", Some(&cookie))).await.status, StatusCode::OK);
    let stolen = app.send(request("curl/8", Some(&cookie))).await;
    assert_eq!(stolen.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.send(request("browser/1", Some(&cookie))).await.status,
        StatusCode::UNAUTHORIZED,
        "the session is gone"
    );
    assert!(audit_actions(&app).await.contains(&"session.binding_mismatch".to_owned()));
    app.finish().await;
}

#[tokio::test]
async fn login_rehashes_when_the_parameters_change() {
    let app = TestApp::sqlite(&[]).await;
    app.signup("rey@example.com").await;
    let stored = |app: &TestApp| {
        let accounts = app.app.database.accounts();
        async move {
            accounts
                .credentials_by_email("rey@example.com")
                .await
                .expect("read")
                .expect("user")
                .password_hash
                .expect("hash")
        }
    };
    let before = stored(&app).await;
    assert!(before.contains("m=64,t=1"), "{before}");
    let db = app.db;
    let stronger = TestApp::start(db, &[("GATEHOUSE_PASSWORD_ARGON2_MEMORY_KIB", "128")]).await;
    stronger.clock.advance(time::Duration::days(10));
    assert_eq!(stronger.login("rey@example.com", PASSWORD).await.status, StatusCode::OK);
    let after = stored(&stronger).await;
    assert!(after.contains("m=128,t=1"), "{after}");
    let pool = sqlx::SqlitePool::connect(&stronger.db.url).await.expect("open the database");
    let updated_at: i64 = sqlx::query_scalar("SELECT updated_at FROM users WHERE email_normalized = 'rey@example.com'")
        .fetch_one(&pool)
        .await
        .expect("read");
    let now = stronger.clock.now();
    assert_eq!(
        i128::from(updated_at),
        now.unix_timestamp_nanos() / 1_000_000,
        "the rehash is stamped with the service's clock, ten days ahead of the system's"
    );
    pool.close().await;
    assert_eq!(stronger.login("rey@example.com", PASSWORD).await.status, StatusCode::OK, "the new hash verifies");
    stronger.finish().await;
}

/// 200 logins at once, at the default (OWASP) cost, on a 2-core machine: all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_logins_all_succeed() {
    let db = crate::support::TestDb::sqlite();
    let app = std::sync::Arc::new(
        // Rate limits would (rightly) stop 200 logins to one account; this test is about hashing.
        gatehouse::app::build(crate::support::config_for(&db.url, &[("GATEHOUSE_RATE_LIMIT_ENABLED", "false")]))
            .await
            .expect("app with default hashing"),
    );
    let signup = crate::support::call(
        &app.router,
        http::Request::post("/v1/signup")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(
                serde_json::json!({ "email": "crowd@example.com", "password": PASSWORD }).to_string(),
            ))
            .expect("request"),
    )
    .await;
    assert_eq!(signup.0, StatusCode::CREATED);
    let logins = (0..200).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            let request = http::Request::post("/v1/login")
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(
                    serde_json::json!({ "email": "crowd@example.com", "password": PASSWORD }).to_string(),
                ))
                .expect("request");
            crate::support::call(&app.router, request).await.0
        })
    });
    let mut statuses = Vec::new();
    for login in logins {
        statuses.push(login.await.expect("join"));
    }
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    let sessions = app.database.audit().recent(500).await.expect("audit");
    assert_eq!(sessions.iter().filter(|e| e.action == "login.succeeded").count(), 200);
    drop(db);
}
