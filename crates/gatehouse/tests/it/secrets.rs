//! Replacing the master secret: values open under either secret during a rotation, new ones are
//! sealed under the new one, `gatehouse secrets rewrap` moves the rest, and afterwards the new
//! secret alone opens everything: signing keys, webhook secrets and vault tokens.

use http::{Method, StatusCode};
use serde_json::json;

use gatehouse_core::sealing::{KeyEncryption, Keyring, SealedKind};
use gatehouse_core::secret::MasterSecret;

use crate::support::app::TestApp;
use crate::support::fake_github::FakeGithub;
use crate::support::oidc::{Browser, PUBLIC_URL};
use crate::support::{TestDb, binary, random_master_secret};

async fn app(db: TestDb, github: &FakeGithub, current: &str, previous: Option<&str>) -> TestApp {
    let providers = github.provider_toml();
    let mut vars = vec![
        ("GATEHOUSE_PUBLIC_URL", PUBLIC_URL),
        ("GATEHOUSE_OAUTH_PROVIDERS", providers.as_str()),
        ("GATEHOUSE_MASTER_SECRET", current),
    ];
    if let Some(previous) = previous {
        vars.push(("GATEHOUSE_MASTER_SECRET_PREVIOUS", previous));
    }
    TestApp::start(db, &vars).await
}

/// Every sealed value of every kind opens under `keyring`; returns how many there are.
async fn all_open(app: &TestApp, keyring: &Keyring) -> usize {
    let store = app.app.database.sealed_values();
    let mut count = 0;
    for kind in SealedKind::ALL {
        let encryption = KeyEncryption::for_purpose(keyring, kind.purpose());
        for value in store.sealed_values(kind, None, 1000).await.expect("values") {
            assert!(encryption.open(&value.label, &value.blob).is_ok(), "{kind:?} {} opens", value.key);
            count += 1;
        }
    }
    count
}

fn secret(text: &str) -> MasterSecret {
    MasterSecret::parse(text).expect("secret")
}

async fn rotation(db: TestDb) {
    let github = FakeGithub::start().await;
    let (old, new) = (random_master_secret(), random_master_secret());
    let before = app(db.shared(), &github, &old, None).await;
    let webhooks = before.service_key(&["webhooks"]).await;
    let endpoint = json!({ "url": "https://hooks.example.com/in", "event_types": ["*"] });
    let created = before.service(Method::POST, "/v1/webhooks/endpoints", &webhooks, Some(endpoint.clone())).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let endpoint_id = created.body["id"].as_str().expect("id").to_owned();
    let rotate = format!("/v1/webhooks/endpoints/{endpoint_id}/rotate-secret");
    let rotated = before.service(Method::POST, &rotate, &webhooks, None).await;
    assert_eq!(rotated.status, StatusCode::OK, "so a previous webhook secret is sealed too");
    let mut browser = Browser::default();
    browser.sign_in(&before, "/v1/oauth/github/start").await;
    let user_id =
        before.get("/v1/session", Some(&browser.session())).await.body["user"]["id"].as_str().expect("id").to_owned();
    let vault_key = before.service_key(&["vault"]).await;
    let token_path = format!("/v1/vault/{user_id}/github/token");
    let token = before.service(Method::GET, &token_path, &vault_key, None).await.body["access_token"].clone();
    assert!(token.is_string());
    let before_health = before.get("/health", None).await;
    assert_eq!(before_health.body["dependencies"]["secrets"]["status"], "not_configured", "no rotation under way");
    before.app.database.close().await;

    // During the rotation: everything opens, new seals use the new secret, /health says so.
    let during = app(db.shared(), &github, &new, Some(&old)).await;
    let both = Keyring::new(secret(&new), Some(secret(&old)));
    let sealed = all_open(&during, &both).await;
    assert!(sealed >= 4, "a signing key, a webhook secret and its predecessor, a vault key: {sealed}");
    assert_eq!(during.service(Method::GET, &token_path, &vault_key, None).await.body["access_token"], token);
    let health = during.get("/health", None).await;
    let secrets = &health.body["dependencies"]["secrets"];
    assert_eq!(secrets["status"], "degraded", "{health:?}");
    assert!(secrets["detail"].as_str().expect("detail").contains("gatehouse secrets rewrap"));
    let fresh = during.service(Method::POST, "/v1/webhooks/endpoints", &webhooks, Some(endpoint)).await;
    let fresh_id = fresh.body["id"].as_str().expect("id").to_owned();
    let new_header = both.current_id().header();
    let values =
        during.app.database.sealed_values().sealed_values(SealedKind::WebhookSecret, None, 100).await.expect("values");
    let fresh_value = values.iter().find(|value| value.key == fresh_id).expect("the new endpoint's secret");
    assert!(fresh_value.blob.starts_with(&new_header), "new seals use the new secret");

    // The rewrap, by the command an operator runs while servers run.
    let dir = tempfile::tempdir().expect("dir");
    let output = binary::command(
        dir.path(),
        &[("DATABASE_URL", &db.url), ("GATEHOUSE_MASTER_SECRET", &new), ("GATEHOUSE_MASTER_SECRET_PREVIOUS", &old)],
    )
    .args(["secrets", "rewrap"])
    .output()
    .expect("run gatehouse secrets rewrap");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&format!("re-sealed {} values", sealed)), "{stdout}");
    assert!(!stdout.contains(&old) && !stdout.contains(&new), "no secret in the output");
    during.app.database.close().await;

    // With the new secret alone, everything still opens: the signing keys (the app builds), the
    // webhook secrets and the vault's tokens.
    let after = app(db.shared(), &github, &new, None).await;
    let only_new = Keyring::new(secret(&new), None);
    assert_eq!(all_open(&after, &only_new).await, sealed + 1);
    assert_eq!(after.service(Method::GET, &token_path, &vault_key, None).await.body["access_token"], token);
    let access = after.post_json("/v1/token", Some(&browser.session()), json!({})).await;
    assert_eq!(access.status, StatusCode::OK, "{:?}", access.body);
    after.app.database.close().await;
    // And the old secret alone opens nothing any more.
    let old_alone =
        gatehouse::app::build(crate::support::config_for(&db.url, &[("GATEHOUSE_MASTER_SECRET", &old)])).await;
    assert!(old_alone.is_err(), "the signing keys moved to the new secret");
    let health_check = app(db, &github, &new, Some(&old)).await;
    let health = health_check.get("/health", None).await;
    assert_eq!(health.body["dependencies"]["secrets"]["status"], "ok", "{health:?}");
    health_check.finish().await;
}

#[tokio::test]
async fn a_rotation_keeps_everything_usable_and_the_new_secret_alone_opens_it_all_on_sqlite() {
    rotation(TestDb::sqlite()).await;
}

#[tokio::test]
async fn a_rotation_keeps_everything_usable_and_the_new_secret_alone_opens_it_all_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    rotation(db).await;
}
