//! Passkeys without a browser: the relying party from config, the ceremonies' options and their
//! single use, what is refused before any signature is looked at, and the storage rules (the
//! first factor's recovery codes, the last factor's going). Chromium's virtual authenticator
//! signs real ceremonies in the browser suite (`tests/browser`).

use std::time::Duration;

use base64::Engine as _;
use gatehouse_core::clock::Clock as _;
use gatehouse_core::mfa::{Ceremony, CeremonyKind, Passkey, RecoveryCode, StoredPasskey};
use http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::app::TestApp;

fn passkey(user_id: Uuid, byte: u8, now: time::OffsetDateTime) -> StoredPasskey {
    StoredPasskey {
        passkey: Passkey {
            id: Uuid::new_v4(),
            name: "Key".into(),
            backup_eligible: false,
            backed_up: false,
            created_at: now,
            last_used_at: None,
        },
        user_id,
        credential_id: vec![byte; 16],
        static_state: vec![1],
        dynamic_state: vec![0; 7],
        transports: 0,
    }
}

async fn options_and_ceremonies(app: TestApp) {
    let signed_up = app.signup("ada@example.com").await;
    let ada = signed_up.cookie();
    let user_id = signed_up.body["user"]["id"].as_str().expect("id").to_owned();
    let started = app.post_json("/v1/me/passkeys/register/start", Some(&ada), json!({})).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.headers["cache-control"], "no-store");
    let options = &started.body;
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(options["user"]["name"], "ada@example.com");
    // The user handle is the account's id, nothing else.
    let handle = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(options["user"]["id"].as_str().expect("handle"))
        .expect("base64url");
    assert_eq!(Uuid::from_slice(&handle).expect("16 bytes").to_string(), user_id);
    assert_eq!(
        gatehouse_store::schema_walk::count_rows(&app.app.database, "webauthn_ceremonies").await.expect("count"),
        1
    );

    // Bad bodies are a 422, never a 500, and spend nothing.
    for credential in [json!({}), json!("x"), json!({ "id": "AAAA", "type": "public-key" })] {
        let reply =
            app.post_json("/v1/me/passkeys/register/finish", Some(&ada), json!({ "credential": credential })).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    }
    let long = "x".repeat(65);
    let reply =
        app.post_json("/v1/me/passkeys/register/finish", Some(&ada), json!({ "name": long, "credential": {} })).await;
    assert_eq!(reply.body["errors"][0]["field"], "name", "{}", reply.body);
    let signed_in = app.post_json("/v1/passkeys/authenticate/start", None, json!({})).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.body["rpId"], "localhost");
    assert_eq!(signed_in.body["allowCredentials"], json!([]), "discoverable: the passkey names its account");
    let reply = app.post_json("/v1/passkeys/authenticate/finish", None, json!({ "credential": { "id": 1 } })).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);

    // A ceremony works once and not after it expires.
    let store = &app.app.state.services().mfa.store;
    let now = app.clock.now();
    let ceremony = Ceremony {
        challenge: vec![9; 16],
        kind: CeremonyKind::Authenticate,
        user_id: None,
        state: vec![1],
        expires_at: now + time::Duration::minutes(5),
    };
    store.create_ceremony(&ceremony).await.expect("create");
    assert_eq!(store.take_ceremony(&[9; 16], now).await.expect("take"), Some(ceremony.clone()));
    assert_eq!(store.take_ceremony(&[9; 16], now).await.expect("take"), None, "spent");
    store.create_ceremony(&ceremony).await.expect("create");
    let later = now + time::Duration::minutes(6);
    assert_eq!(store.take_ceremony(&[9; 16], later).await.expect("take"), None, "expired");

    // Registering needs a fresh sign-in, like the other factors.
    app.advance(Duration::from_secs(6 * 60));
    let stale = app.post_json("/v1/me/passkeys/register/start", Some(&ada), json!({})).await;
    assert_eq!(stale.body["code"], "reauthentication_required");
    let unknown = format!("/v1/me/passkeys/{}", Uuid::new_v4());
    let renamed = app.call_json(http::Method::PATCH, &unknown, &ada, Some(json!({ "name": "Other" }))).await;
    assert_eq!(renamed.status, StatusCode::NOT_FOUND);
    app.finish().await;
}

/// The first factor brings recovery codes; they stay while any factor does and go with the last.
async fn recovery_codes_follow_the_factors(app: TestApp) {
    let signed_up = app.signup("bea@example.com").await;
    let bea = signed_up.cookie();
    let user_id = Uuid::parse_str(signed_up.body["user"]["id"].as_str().expect("id")).expect("uuid");
    let store = &app.app.state.services().mfa.store;
    let now = app.clock.now();
    let hashes: Vec<_> = (0..10_u8).map(|i| RecoveryCode::from_random([i; 10]).hash()).collect();
    let first = passkey(user_id, 1, now);
    store.add_passkey(&first, &hashes, &[], &[]).await.expect("add");
    let again = store.add_passkey(&passkey(user_id, 1, now), &[], &[], &[]).await;
    assert!(
        matches!(again, Err(gatehouse_core::store::StoreError::Duplicate { .. })),
        "a credential id is registered once: {again:?}"
    );
    let second = passkey(user_id, 2, now);
    store.add_passkey(&second, &[], &[], &[]).await.expect("add");
    let summary = app.get("/v1/me/mfa", Some(&bea)).await;
    assert_eq!(summary.body["recovery_codes_left"], 10);
    assert_eq!(summary.body["passkeys"].as_array().map(Vec::len), Some(2));
    let login = app.login("bea@example.com", crate::support::app::PASSWORD).await;
    assert_eq!(login.status, StatusCode::ACCEPTED, "a passkey guards the password: {}", login.body);
    assert_eq!(login.body["methods"], json!(["passkey", "recovery_code"]));

    let path = format!("/v1/me/passkeys/{}", first.passkey.id);
    let renamed = app.call_json(http::Method::PATCH, &path, &bea, Some(json!({ "name": " Phone " }))).await;
    assert_eq!((renamed.status, renamed.body["name"].as_str()), (StatusCode::OK, Some("Phone")));
    assert_eq!(app.delete(&path, &bea).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/me/mfa", Some(&bea)).await.body["recovery_codes_left"], 10, "one passkey is left");
    let last = format!("/v1/me/passkeys/{}", second.passkey.id);
    assert_eq!(app.delete(&last, &bea).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/me/mfa", Some(&bea)).await.body["recovery_codes_left"], 0, "the last factor took them");
    assert_eq!(app.delete(&last, &bea).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.login("bea@example.com", crate::support::app::PASSWORD).await.status, StatusCode::OK);
    app.finish().await;
}

crate::support::on_every_backend!(
    options_and_ceremonies with ("GATEHOUSE_PUBLIC_URL", "http://localhost:8080"),
    recovery_codes_follow_the_factors with ("GATEHOUSE_PUBLIC_URL", "http://localhost:8080"),
);

#[tokio::test]
async fn at_an_ip_address_passkeys_are_off_and_on_is_refused_at_start() {
    let app = TestApp::sqlite(&[]).await;
    let ada = app.signup("ada@example.com").await.cookie();
    let reply = app.post_json("/v1/me/passkeys/register/start", Some(&ada), json!({})).await;
    assert_eq!((reply.status, reply.body["code"].as_str()), (StatusCode::CONFLICT, Some("passkeys_unavailable")));
    assert!(reply.body["detail"].as_str().expect("detail").contains("IP address"), "{}", reply.body);
    let anonymous = app.post_json("/v1/passkeys/authenticate/start", None, json!({})).await;
    assert_eq!(anonymous.body["code"], "passkeys_unavailable");
    app.finish().await;

    let env = crate::support::env(&[
        ("GATEHOUSE_PUBLIC_URL", "http://127.0.0.1:8080"),
        ("GATEHOUSE_PASSKEYS_ENABLED", "on"),
        ("DATABASE_URL", "sqlite::memory:"),
    ]);
    let problems = gatehouse::config::load(None, &env).expect_err("refused");
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|p| p.contains("passkeys.enabled") && p.contains("IP address") && p.contains("localhost")),
        "{text:?}"
    );
}
