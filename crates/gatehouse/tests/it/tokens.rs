//! Access tokens: issued from a session, verified against the JWKS, dead with their session,
//! expiring on time, and surviving key rotation.

use axum::body::Body;
use base64::Engine as _;
use http::{StatusCode, header};

use crate::support::app::TestApp;

async fn token(app: &TestApp, auth: &str) -> crate::support::app::Reply {
    let request = http::Request::post("/v1/token");
    let request = if auth.starts_with("gatehouse_session=") {
        app.signed(request, auth).await
    } else {
        request.header(header::AUTHORIZATION, format!("Bearer {auth}"))
    };
    app.send(request.body(Body::empty()).expect("request")).await
}

async fn whoami_bearer(app: &TestApp, token: &str) -> crate::support::app::Reply {
    let request = http::Request::get("/v1/session").header(header::AUTHORIZATION, format!("Bearer {token}"));
    app.send(request.body(Body::empty()).expect("request")).await
}

fn header_of(token: &str) -> serde_json::Value {
    let part = token.split('.').next().expect("header part");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64"))
        .expect("json")
}

async fn a_session_buys_a_token_that_the_jwks_verifies(app: TestApp) {
    let signup = app.signup("tok@example.com").await;
    let reply = token(&app, &signup.cookie()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 600);
    let access = reply.body["access_token"].as_str().expect("token").to_owned();
    let header = header_of(&access);
    assert_eq!(header["alg"], "ES256");

    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.headers[header::CACHE_CONTROL], "public, max-age=300");
    let keys = jwks.body["keys"].as_array().expect("keys");
    let key = keys.iter().find(|k| k["kid"] == header["kid"]).expect("the signing key is published");
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["use"].as_str()),
        (Some("EC"), Some("P-256"), Some("sig"))
    );
    assert!(key.get("d").is_none(), "no private material in the JWKS");

    let whoami = whoami_bearer(&app, &access).await;
    assert_eq!(whoami.status, StatusCode::OK, "{}", whoami.body);
    assert_eq!(whoami.body["user"]["id"], signup.body["user"]["id"]);
    assert_eq!(whoami.body["session"]["id"], signup.body["session"]["id"]);

    let renewed = token(&app, &access).await;
    assert_eq!(renewed.status, StatusCode::OK, "a token renews itself while its session lives");
    app.finish().await;
}

async fn a_token_dies_with_its_session(app: TestApp) {
    let cookie = app.signup("dies@example.com").await.cookie();
    let access = token(&app, &cookie).await.body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(app.post_json("/v1/logout", Some(&cookie), serde_json::json!({})).await.status, StatusCode::NO_CONTENT);
    let whoami = whoami_bearer(&app, &access).await;
    assert_eq!((whoami.status, whoami.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    assert_eq!(
        token(&app, &access).await.status,
        StatusCode::UNAUTHORIZED,
        "a revoked session's token cannot be renewed"
    );
    app.finish().await;
}

async fn logout_with_an_access_token_ends_its_session(app: TestApp) {
    let cookie = app.signup("bye@example.com").await.cookie();
    let access = token(&app, &cookie).await.body["access_token"].as_str().expect("token").to_owned();
    let logout = http::Request::post("/v1/logout").header(header::AUTHORIZATION, format!("Bearer {access}"));
    assert_eq!(app.send(logout.body(Body::empty()).expect("request")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami_bearer(&app, &access).await.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

async fn tokens_expire_and_forgeries_fail(app: TestApp) {
    let cookie = app.signup("exp@example.com").await.cookie();
    let access = token(&app, &cookie).await.body["access_token"].as_str().expect("token").to_owned();
    let mut tampered = access.clone();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(whoami_bearer(&app, &tampered).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami_bearer(&app, "not.a.jwt").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami_bearer(&app, &access).await.status, StatusCode::OK);
    app.clock.advance(time::Duration::minutes(11));
    assert_eq!(
        whoami_bearer(&app, &access).await.status,
        StatusCode::UNAUTHORIZED,
        "ten minutes and leeway have passed"
    );
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::OK, "the session itself lives on");
    app.finish().await;
}

crate::support::on_every_backend! {
    a_session_buys_a_token_that_the_jwks_verifies,
    a_token_dies_with_its_session,
    logout_with_an_access_token_ends_its_session,
    tokens_expire_and_forgeries_fail,
}

#[tokio::test]
async fn websocket_upgrades_may_carry_the_token_in_the_query_and_nothing_else_may() {
    let app = TestApp::sqlite(&[]).await;
    let cookie = app.signup("ws@example.com").await.cookie();
    let access = token(&app, &cookie).await.body["access_token"].as_str().expect("token").to_owned();
    let path = format!("/v1/session?access_token={access}");
    let upgrade = http::Request::get(&path).header(header::UPGRADE, "websocket").body(Body::empty()).expect("request");
    assert_eq!(app.send(upgrade).await.status, StatusCode::OK);
    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED, "plain requests ignore query tokens");
    app.finish().await;
}

#[tokio::test]
async fn eddsa_can_be_chosen() {
    let app = TestApp::sqlite(&[("GATEHOUSE_TOKENS_ALGORITHM", "EdDSA")]).await;
    let cookie = app.signup("ed@example.com").await.cookie();
    let access = token(&app, &cookie).await.body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(header_of(&access)["alg"], "EdDSA");
    assert_eq!(app.get("/.well-known/jwks.json", None).await.body["keys"][0]["kty"], "OKP");
    assert_eq!(whoami_bearer(&app, &access).await.status, StatusCode::OK);
    app.finish().await;
}

/// Rotation on one instance: old tokens keep working everywhere, new tokens use the new key, and
/// an instance that has not reloaded yet picks the new key up when it first sees it.
#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_reaches_other_instances() {
    let first = TestApp::sqlite(&[]).await;
    let second = gatehouse::app::build(crate::support::config_for(&first.db.url, crate::support::app::FAST_HASHING))
        .await
        .expect("second instance");
    let cookie = first.signup("rot@example.com").await.cookie();
    let old = token(&first, &cookie).await.body["access_token"].as_str().expect("token").to_owned();

    let store = first.app.database.signing_keys();
    let encryption = gatehouse_core::tokens::KeyEncryption::new(&first.app.master_secret);
    let kid = gatehouse::keys::rotate(
        store.as_ref(),
        &encryption,
        gatehouse_core::tokens::SigningAlgorithm::Es256,
        gatehouse_core::audit::Actor::Operator,
    )
    .await
    .expect("rotate");
    first.app.state.services().tokens.reload().await.expect("reload");

    let new = token(&first, &cookie).await.body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(header_of(&new)["kid"], kid.as_str());
    assert_ne!(header_of(&old)["kid"], kid.as_str());
    assert_eq!(first.get("/.well-known/jwks.json", None).await.body["keys"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        whoami_bearer(&first, &old).await.status,
        StatusCode::OK,
        "tokens signed before the rotation still work"
    );

    // The second instance has not reloaded; the unknown kid makes it reload (at most once a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let request = http::Request::get("/v1/session").header(header::AUTHORIZATION, format!("Bearer {new}"));
        let status = crate::support::call(&second.router, request.body(Body::empty()).expect("request")).await.0;
        if status == StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the second instance never learned the new key");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let audit = first.app.database.audit().recent(10).await.expect("audit");
    assert!(audit.iter().any(|e| e.action == "signing_key.rotated"));
    first.finish().await;
}

#[tokio::test]
async fn a_different_master_secret_cannot_open_the_keys_and_says_so() {
    let db = crate::support::TestDb::sqlite();
    let secret = crate::support::random_master_secret();
    gatehouse::app::build(crate::support::config_for(&db.url, &[("GATEHOUSE_MASTER_SECRET", &secret)]))
        .await
        .expect("first start");
    let other = crate::support::random_master_secret();
    let error = gatehouse::app::build(crate::support::config_for(&db.url, &[("GATEHOUSE_MASTER_SECRET", &other)]))
        .await
        .expect_err("the keys were sealed with the first secret");
    assert!(format!("{error:#}").contains("was the master secret changed?"), "{error:#}");
}

#[tokio::test]
async fn api_keys_do_not_sign_users_in() {
    let app = TestApp::sqlite(&[]).await;
    let reply = whoami_bearer(&app, &format!("gh_{}", "A".repeat(43))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.body["detail"].as_str().expect("detail").contains("API key"));
    app.finish().await;
}
