//! The token vault: tokens kept from a sign-in, handed to services with a refresh when due (once,
//! across instances), broken connections, envelope encryption bound to its row, disconnecting.

use std::time::Duration;

use axum::body::Body;
use http::{Method, StatusCode, header};
use serde_json::Value;

use crate::oauth::{oidc_app_on, queued_events};
use crate::support::TestDb;
use crate::support::app::TestApp;
use crate::support::fake_github::{FakeGithub, RefreshMode};
use crate::support::oidc::{Browser, PUBLIC_URL, location};

async fn github_app(db: TestDb, github: &FakeGithub) -> TestApp {
    TestApp::start(db, &[("GATEHOUSE_PUBLIC_URL", PUBLIC_URL), ("GATEHOUSE_OAUTH_PROVIDERS", &github.provider_toml())])
        .await
}

/// Signs in with GitHub; returns the browser and the user's id.
async fn connect(app: &TestApp) -> (Browser, String) {
    let mut browser = Browser::default();
    let done = browser.sign_in(app, "/v1/oauth/github/start").await;
    assert_eq!(done.status, StatusCode::FOUND, "{:?}", done.body);
    assert!(!location(&done).contains("error="), "{}", location(&done));
    let me = app.get("/v1/session", Some(&browser.session())).await;
    (browser, me.body["user"]["id"].as_str().expect("id").to_owned())
}

async fn vault_token(app: &TestApp, key: &str, user_id: &str, provider: &str) -> crate::support::app::Reply {
    app.service(Method::GET, &format!("/v1/vault/{user_id}/{provider}/token"), key, None).await
}

async fn fifty_requests_on_two_instances_refresh_once(db: TestDb) {
    let github = FakeGithub::start().await;
    // Tokens that expire within the refresh margin from the start.
    *github.state.expires_in.lock().expect("expiry") = 30;
    let first = github_app(db.shared(), &github).await;
    let second = github_app(db, &github).await;
    let (_, user_id) = connect(&first).await;
    let key = first.service_key(&["vault"]).await;
    // The refreshed token is good for hours, so one refresh serves every request.
    *github.state.expires_in.lock().expect("expiry") = 3600;

    let mut requests = tokio::task::JoinSet::new();
    for i in 0..50 {
        let router = if i % 2 == 0 { first.app.router.clone() } else { second.app.router.clone() };
        let request = http::Request::get(format!("/v1/vault/{user_id}/github/token"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .expect("request");
        requests.spawn(async move { crate::support::call(&router, request).await });
    }
    let mut tokens = Vec::new();
    while let Some(done) = requests.join_next().await {
        let (status, _, body) = done.expect("request task");
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        tokens.push(crate::support::json(&body)["access_token"].as_str().expect("token").to_owned());
    }
    assert_eq!(github.refreshes(), 1, "one refresh for fifty requests on two instances");
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every request got the refreshed token: {tokens:?}");
    assert_ne!(tokens[0], "gho_access_1", "not the expiring one");
    first.finish().await;
    second.finish().await;
}

#[tokio::test]
async fn fifty_requests_on_two_instances_refresh_once_on_sqlite() {
    fifty_requests_on_two_instances_refresh_once(TestDb::sqlite()).await;
}

#[tokio::test]
async fn fifty_requests_on_two_instances_refresh_once_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    fifty_requests_on_two_instances_refresh_once(db).await;
}

async fn row(app: &TestApp, user_id: &str) -> (Vec<u8>, Vec<u8>, String) {
    let pool = sqlx::SqlitePool::connect(&app.db.url).await.expect("pool");
    let found: (Vec<u8>, Vec<u8>, String) =
        sqlx::query_as("SELECT wrapped_key, ciphertext, status FROM vault_connections WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&pool)
            .await
            .expect("row");
    pool.close().await;
    found
}

#[tokio::test]
async fn a_provider_that_is_down_leaves_the_record_and_a_refused_refresh_breaks_it() {
    let github = FakeGithub::start().await;
    *github.state.expires_in.lock().expect("expiry") = 30;
    let app = github_app(TestDb::sqlite(), &github).await;
    let (browser, user_id) = connect(&app).await;
    let key = app.service_key(&["vault"]).await;
    let before = row(&app, &user_id).await;
    assert!(!String::from_utf8_lossy(&before.1).contains("gho_"), "the token is not stored in the clear");

    github.set_refresh(RefreshMode::Down);
    let down = vault_token(&app, &key, &user_id, "github").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.body["code"], "provider_unavailable");
    assert_eq!(row(&app, &user_id).await, before, "the record is as it was");

    github.set_refresh(RefreshMode::InvalidGrant);
    let broken = vault_token(&app, &key, &user_id, "github").await;
    assert_eq!(broken.status, StatusCode::CONFLICT);
    assert_eq!(broken.body["code"], "connection_broken");
    assert_eq!(row(&app, &user_id).await.2, "broken");
    assert!(queued_events(&app).await.contains(&"connection.broken".to_owned()));
    // Broken stays broken, without asking the provider again.
    let calls = github.refreshes();
    assert_eq!(vault_token(&app, &key, &user_id, "github").await.body["code"], "connection_broken");
    assert_eq!(github.refreshes(), calls);
    let listed = app.get("/v1/me/connections", Some(&browser.session())).await;
    assert_eq!(listed.body["connections"][0]["status"], "broken");

    // Without the vault scope, or with another key kind, no token.
    let audit_key = app.service_key(&["audit"]).await;
    assert_eq!(vault_token(&app, &audit_key, &user_id, "github").await.status, StatusCode::FORBIDDEN);
    app.finish().await;
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_users_row_does_not_open() {
    let github = FakeGithub::start().await;
    let app = github_app(TestDb::sqlite(), &github).await;
    let (_, alice) = connect(&app).await;
    *github.state.user_id.lock().expect("user id") = 99;
    *github.state.emails.lock().expect("emails") =
        serde_json::json!([{ "email": "mallory@example.com", "primary": true, "verified": true }]);
    let (_, mallory) = connect(&app).await;
    let key = app.service_key(&["vault"]).await;
    let alices = vault_token(&app, &key, &alice, "github").await;
    assert_eq!(alices.status, StatusCode::OK);
    let alices_token = alices.body["access_token"].as_str().expect("token").to_owned();

    let pool = sqlx::SqlitePool::connect(&app.db.url).await.expect("pool");
    sqlx::query(
        "UPDATE vault_connections SET wrapped_key = (SELECT wrapped_key FROM vault_connections WHERE user_id = $1), \
         ciphertext = (SELECT ciphertext FROM vault_connections WHERE user_id = $1) WHERE user_id = $2",
    )
    .bind(&alice)
    .bind(&mallory)
    .execute(&pool)
    .await
    .expect("copy");
    pool.close().await;

    let moved = vault_token(&app, &key, &mallory, "github").await;
    assert_eq!(moved.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(moved.body["code"], "internal_error");
    assert!(!moved.body.to_string().contains(&alices_token));
    let record = app.app.database.vault().connection(mallory.parse().expect("uuid"), &provider("github")).await;
    let record = record.expect("read").expect("row");
    let vault = gatehouse_core::vault::Vault::new(&app.app.keyring);
    assert!(vault.open(&record).is_err(), "bound to its record, user and provider");
    assert_eq!(vault_token(&app, &key, &alice, "github").await.body["access_token"], alices_token.as_str());
    app.finish().await;
}

fn provider(name: &str) -> gatehouse_core::oauth::ProviderName {
    gatehouse_core::oauth::ProviderName::parse(name).expect("name")
}

#[tokio::test]
async fn connections_list_without_tokens_and_disconnecting_deletes() {
    let github = FakeGithub::start().await;
    let app = github_app(TestDb::sqlite(), &github).await;
    let (browser, user_id) = connect(&app).await;
    let listed = app.get("/v1/me/connections", Some(&browser.session())).await;
    let connection = &listed.body["connections"][0];
    assert_eq!(connection["provider"], "github");
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["scopes"], serde_json::json!(["repo", "read:user", "user:email"]));
    assert!(!listed.body.to_string().contains("gho_"), "never a token");

    // GitHub has no RFC 7009 endpoint: the record goes at once.
    assert_eq!(app.delete("/v1/me/connections/github", &browser.session()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/me/connections", Some(&browser.session())).await.body["connections"], Value::Array(vec![]));
    let key = app.service_key(&["vault"]).await;
    assert_eq!(vault_token(&app, &key, &user_id, "github").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete("/v1/me/connections/github", &browser.session()).await.status, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test]
async fn an_oidc_connection_refreshes_at_the_provider_and_is_revoked_there_on_disconnect() {
    let fields = ", scopes = [\"offline_access\"]";
    let Some(mut app) = oidc_app_on(TestDb::sqlite(), fields, &[]).await else { return };
    let mut browser = Browser::default();
    let done = browser.sign_in(&app, "/v1/oauth/corp/start?login_hint=vera@example.com").await;
    assert_eq!(location(&done), "http://gatehouse.test/");
    let me = app.get("/v1/session", Some(&browser.session())).await;
    let user_id = me.body["user"]["id"].as_str().expect("id").to_owned();
    let key = app.service_key(&["vault"]).await;
    let first = vault_token(&app, &key, &user_id, "corp").await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert!(first.body["scopes"].as_array().expect("scopes").iter().any(|s| s == "offline_access"), "{:?}", first.body);

    // Within a minute of expiry, the provider's refresh grant gives a new token.
    app.advance(Duration::from_secs(3600 - 30));
    let refreshed = vault_token(&app, &key, &user_id, "corp").await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    assert_ne!(refreshed.body["access_token"], first.body["access_token"]);

    // Disconnecting hides it at once and revokes it at the provider through the queue.
    assert_eq!(app.delete("/v1/me/connections/corp", &browser.session()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/me/connections", Some(&browser.session())).await.body["connections"], Value::Array(vec![]));
    assert_eq!(vault_token(&app, &key, &user_id, "corp").await.status, StatusCode::NOT_FOUND);
    app.run_jobs();
    let store = app.app.database.vault();
    let user = user_id.parse().expect("uuid");
    for _ in 0..200 {
        if store.connection(user, &provider("corp")).await.expect("read").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let pending = app.app.database.jobs().jobs_in(gatehouse_core::jobs::JobState::Ready, 100).await.expect("jobs");
    let pending: Vec<_> = pending.iter().map(|job| (job.kind.clone(), job.last_error.clone())).collect();
    assert!(
        store.connection(user, &provider("corp")).await.expect("read").is_none(),
        "revoked, then deleted: {pending:?}"
    );
    let jobs = app.app.database.jobs().jobs_in(gatehouse_core::jobs::JobState::Succeeded, 100).await.expect("jobs");
    assert!(jobs.iter().any(|job| job.kind == "vault.revoke"), "the revocation ran as a job");
    app.finish().await;
}
