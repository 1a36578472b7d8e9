//! Signing in with providers, end to end: against a real OpenID Connect provider (`oidc-provider`
//! on loopback) and a fake of GitHub's endpoints; every refused callback; the linking rules.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::support::app::TestApp;
use crate::support::fake_github::FakeGithub;
use crate::support::oidc::{self, Browser, PUBLIC_URL, location, query_param};

pub const APP: &str = "https://app.example.com/";

/// An app on `db` with the test provider as `corp` and `trusted` (and `extra` providers and
/// settings); `None` when the provider cannot run here (outside CI without Node.js).
pub async fn oidc_app_on(db: TestDb, provider_fields: &str, extra: &[(&str, &str)]) -> Option<TestApp> {
    let provider = oidc::provider()?;
    let providers = oidc::providers_toml(&provider.issuer, provider_fields);
    let mut vars = vec![
        ("GATEHOUSE_PUBLIC_URL", PUBLIC_URL),
        ("GATEHOUSE_OAUTH_PROVIDERS", providers.as_str()),
        ("GATEHOUSE_SERVER_REDIRECT_ALLOWLIST", APP),
    ];
    vars.extend_from_slice(extra);
    Some(TestApp::start(db, &vars).await)
}

async fn oidc_app() -> Option<TestApp> {
    oidc_app_on(TestDb::sqlite(), "", &[]).await
}

/// The types of the Gatehouse events queued so far.
pub async fn queued_events(app: &TestApp) -> Vec<String> {
    let jobs = app.app.database.jobs().jobs_in(gatehouse_core::jobs::JobState::Ready, 500).await.expect("jobs");
    let mut types: Vec<String> = jobs
        .iter()
        .filter(|job| job.kind == "webhook.fan_out")
        .filter_map(|job| job.payload["type"].as_str().map(str::to_owned))
        .collect();
    types.sort();
    types
}

async fn audit_actions(app: &TestApp) -> Vec<Value> {
    let key = app.service_key(&["audit"]).await;
    let reply = app.service(Method::GET, "/v1/audit-events?limit=500", &key, None).await;
    reply.body["events"].as_array().cloned().unwrap_or_default()
}

fn start(provider: &str, hint: &str) -> String {
    format!("/v1/oauth/{provider}/start?redirect_to=https%3A%2F%2Fapp.example.com%2Fwelcome&login_hint={hint}")
}

async fn whoami(app: &TestApp, browser: &Browser) -> Value {
    let reply = app.get("/v1/session", Some(&browser.session())).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

async fn sign_up_and_in(app: TestApp) {
    let providers = app.get("/v1/oauth/providers", None).await;
    let names: Vec<&str> =
        providers.body["providers"].as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["corp", "trusted"]);
    assert_eq!(providers.body["providers"][0]["kind"], "oidc");

    let mut browser = Browser::default();
    let started = browser.gatehouse(&app, &start("corp", "ada@example.com")).await;
    assert_eq!(started.status, StatusCode::FOUND);
    let to_provider = location(&started);
    assert_eq!(query_param(&to_provider, "code_challenge_method").as_deref(), Some("S256"));
    assert!(query_param(&to_provider, "nonce").is_some_and(|nonce| nonce.len() >= 43));
    assert_eq!(
        query_param(&to_provider, "redirect_uri").as_deref(),
        Some("http://gatehouse.test/v1/oauth/corp/callback")
    );
    assert!(browser.cookies.contains_key("gatehouse_oauth"), "the flow is bound to this browser");
    let callback = browser.follow_to_gatehouse(&to_provider).await;
    assert!(query_param(&callback, "iss").is_some(), "the provider sends RFC 9207 iss");
    let done = browser.gatehouse(&app, &callback).await;
    assert_eq!(done.status, StatusCode::FOUND, "{:?}", done.body);
    assert_eq!(location(&done), "https://app.example.com/welcome");

    let me = whoami(&app, &browser).await;
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!(me["user"]["email_verified"], true, "verified as the provider says");
    let identities = app.get("/v1/me/identities", Some(&browser.session())).await;
    assert_eq!(identities.body["identities"][0]["provider"], "corp");
    assert_eq!(identities.body["identities"][0]["subject"], "ada@example.com");
    assert_eq!(queued_events(&app).await, ["identity.linked", "session.created", "user.created"]);
    let actions: Vec<String> =
        audit_actions(&app).await.iter().filter_map(|e| e["action"].as_str().map(str::to_owned)).collect();
    assert!(
        actions.contains(&"user.signed_up".to_owned()) && actions.contains(&"login.succeeded".to_owned()),
        "{actions:?}"
    );

    // The same identity, in another browser, signs the same user in.
    let mut again = Browser::default();
    let second = again.sign_in(&app, &start("corp", "ada@example.com")).await;
    assert_eq!(second.status, StatusCode::FOUND);
    assert_eq!(whoami(&app, &again).await["user"]["id"], me["user"]["id"]);
    app.finish().await;
}

#[tokio::test]
async fn an_oidc_sign_in_creates_the_user_and_signs_in_on_sqlite() {
    let Some(app) = oidc_app().await else { return };
    sign_up_and_in(app).await;
}

#[tokio::test]
async fn an_oidc_sign_in_creates_the_user_and_signs_in_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    let Some(app) = oidc_app_on(db, "", &[]).await else { return };
    sign_up_and_in(app).await;
}

/// Starts a flow and follows it to the callback URL, without calling it.
async fn callback_url(app: &TestApp, browser: &mut Browser, hint: &str) -> String {
    let started = browser.gatehouse(app, &start("corp", hint)).await;
    browser.follow_to_gatehouse(&location(&started)).await
}

fn assert_state_invalid(reply: &crate::support::app::Reply, what: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}: {:?}", reply.body);
    assert_eq!(reply.body["code"], "oauth_state_invalid", "{what}");
}

fn replace_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut parsed = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> =
        parsed.query_pairs().filter(|(key, _)| key != name).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    {
        let mut query = parsed.query_pairs_mut();
        query.clear();
        for (key, existing) in &pairs {
            query.append_pair(key, existing);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    parsed.to_string()
}

#[tokio::test]
async fn callbacks_that_are_not_this_browsers_fresh_state_are_refused() {
    let Some(app) = oidc_app().await else { return };

    // A tampered state.
    let mut browser = Browser::default();
    let url = callback_url(&app, &mut browser, "eve@example.com").await;
    let state = query_param(&url, "state").expect("state");
    let mut tampered = state.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = replace_param(&url, "state", Some(&String::from_utf8(tampered).expect("ascii")));
    assert_state_invalid(&browser.gatehouse(&app, &tampered).await, "tampered");
    assert_state_invalid(&browser.gatehouse(&app, &replace_param(&url, "state", None)).await, "missing");

    // A replayed callback: the first works, the second does not.
    assert_eq!(browser.gatehouse(&app, &url).await.status, StatusCode::FOUND);
    assert_state_invalid(&browser.gatehouse(&app, &url).await, "replayed");

    // A callback in a second browser, which has no binding cookie.
    let mut first = Browser::default();
    let url = callback_url(&app, &mut first, "eve@example.com").await;
    let mut second = Browser::default();
    assert_state_invalid(&second.gatehouse(&app, &url).await, "second browser");
    // The state was spent by that attempt: not even the right browser can use it now.
    assert_state_invalid(&first.gatehouse(&app, &url).await, "spent by the other browser");

    // An expired state.
    let mut browser = Browser::default();
    let url = callback_url(&app, &mut browser, "eve@example.com").await;
    app.advance(std::time::Duration::from_secs(601));
    assert_state_invalid(&browser.gatehouse(&app, &url).await, "expired");
    app.finish().await;
}

#[tokio::test]
async fn provider_errors_and_a_wrong_issuer_come_back_to_the_app_as_error_codes() {
    let Some(app) = oidc_app().await else { return };
    let mut browser = Browser::default();
    let denied = browser.sign_in(&app, &start("corp", "deny")).await;
    assert_eq!(denied.status, StatusCode::FOUND);
    assert_eq!(location(&denied), "https://app.example.com/welcome?error=access_denied");

    let url = callback_url(&app, &mut browser, "eve@example.com").await;
    let wrong = replace_param(&url, "iss", Some("https://evil.example.com"));
    assert_eq!(
        location(&browser.gatehouse(&app, &wrong).await),
        "https://app.example.com/welcome?error=issuer_mismatch"
    );
    // The provider promises `iss` (RFC 9207), so a response without one is refused too.
    let url = callback_url(&app, &mut browser, "eve@example.com").await;
    let without = replace_param(&url, "iss", None);
    assert_eq!(
        location(&browser.gatehouse(&app, &without).await),
        "https://app.example.com/welcome?error=issuer_mismatch"
    );
    // A code the provider never issued.
    let url = callback_url(&app, &mut browser, "eve@example.com").await;
    let forged = replace_param(&url, "code", Some("not-a-code"));
    assert_eq!(
        location(&browser.gatehouse(&app, &forged).await),
        "https://app.example.com/welcome?error=provider_error"
    );
    assert!(whoami_fails(&app, &browser).await, "none of these signed anyone in");
    app.finish().await;
}

async fn whoami_fails(app: &TestApp, browser: &Browser) -> bool {
    !browser.cookies.contains_key("gatehouse_session")
        || app.get("/v1/session", Some(&browser.session())).await.status == StatusCode::UNAUTHORIZED
}

#[tokio::test]
async fn redirect_targets_outside_the_allowlist_are_refused_before_anything_starts() {
    let Some(app) = oidc_app().await else { return };
    for target in [
        "https://app.example.com.evil.com/",
        "//evil.com",
        "https://evil.com/",
        "https://app.example.com@evil.com/",
        "http://app.example.com/",
        "javascript:alert(1)",
        "/relative",
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        let reply = app.get(&format!("/v1/oauth/corp/start?redirect_to={encoded}"), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{target}");
        assert_eq!(reply.body["code"], "redirect_not_allowed", "{target}");
    }
    let own = app.get("/v1/oauth/corp/start?redirect_to=http%3A%2F%2Fgatehouse.test%2Faccount", None).await;
    assert_eq!(own.status, StatusCode::FOUND, "the public URL's origin is always allowed");
    let default = app.get("/v1/oauth/corp/start", None).await;
    assert_eq!(default.status, StatusCode::FOUND);
    let unknown = app.get("/v1/oauth/corp/start?scopes=admin", None).await;
    assert_eq!(unknown.body["code"], "scope_not_allowed");
    let hint = app.get("/v1/oauth/corp/start?login_hint=a%01b", None).await;
    assert_eq!((hint.status, hint.body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    assert_eq!(app.get("/v1/oauth/nope/start", None).await.status, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test]
async fn a_provider_that_is_down_or_answers_garbage_is_a_clear_error_and_degrades_health() {
    let github = FakeGithub::start().await;
    // Nothing listens on port 1; the fake GitHub answers 404 to discovery.
    let providers = format!(
        "down = {{ kind = \"oidc\", issuer = \"http://127.0.0.1:1\", client_id = \"c\", client_secret = \"s3cr3t-value\" }}\n\
         garbage = {{ kind = \"oidc\", issuer = \"{}\", client_id = \"c\", client_secret = \"s3cr3t-value\" }}\n",
        github.base
    );
    let app = TestApp::sqlite(&[("GATEHOUSE_OAUTH_PROVIDERS", &providers)]).await;
    for name in ["down", "garbage"] {
        let reply = app.get(&format!("/v1/oauth/{name}/start"), None).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{name}: {:?}", reply.body);
        assert_eq!(reply.body["code"], "provider_unavailable");
        assert!(reply.headers.contains_key(http::header::RETRY_AFTER));
    }
    let health = app.get("/health", None).await;
    let oauth = &health.body["dependencies"]["oauth"];
    assert_eq!(oauth["status"], "degraded", "{health:?}");
    let detail = oauth["detail"].as_str().expect("detail");
    assert!(detail.contains("down") && detail.contains("garbage"), "{detail}");
    assert!(!health.body.to_string().contains("s3cr3t-value"), "never the secret");
    app.finish().await;
}

#[tokio::test]
async fn a_verified_address_links_only_when_the_provider_is_trusted_and_both_are_verified() {
    let Some(app) = oidc_app().await else { return };
    let signup = app.signup("grace@example.com").await;
    let user_id = signup.body["user"]["id"].as_str().expect("id").to_owned();

    // The account's address is not verified yet: no provider may take it over.
    let mut browser = Browser::default();
    let refused = browser.sign_in(&app, &start("trusted", "grace@example.com")).await;
    assert_eq!(location(&refused), "https://app.example.com/welcome?error=email_conflict");

    mark_verified(&app, &user_id).await;
    // Verified now, but `corp` is not trusted to link.
    let refused = browser.sign_in(&app, &start("corp", "grace@example.com")).await;
    assert_eq!(location(&refused), "https://app.example.com/welcome?error=email_conflict");
    // `trusted` links, because both sides say the address is verified.
    let linked = browser.sign_in(&app, &start("trusted", "grace@example.com")).await;
    assert_eq!(location(&linked), "https://app.example.com/welcome");
    assert_eq!(whoami(&app, &browser).await["user"]["id"], user_id.as_str());
    assert!(queued_events(&app).await.contains(&"identity.linked".to_owned()));
    app.finish().await;
}

#[tokio::test]
async fn an_address_the_provider_has_not_verified_never_links() {
    let Some(app) = oidc_app().await else { return };
    let signup = app.signup("unverified-hopper@example.com").await;
    mark_verified(&app, signup.body["user"]["id"].as_str().expect("id")).await;
    let mut browser = Browser::default();
    let refused = browser.sign_in(&app, &start("trusted", "unverified-hopper@example.com")).await;
    assert_eq!(location(&refused), "https://app.example.com/welcome?error=email_conflict");
    app.finish().await;
}

async fn mark_verified(app: &TestApp, user_id: &str) {
    let at = gatehouse_core::clock::Clock::now(app.clock.as_ref()).unix_timestamp() * 1000;
    let pool = sqlx::SqlitePool::connect(&app.db.url).await.expect("pool");
    sqlx::query("UPDATE users SET email_verified_at = $1 WHERE id = $2")
        .bind(at)
        .bind(user_id)
        .execute(&pool)
        .await
        .expect("verify");
    pool.close().await;
}

#[tokio::test]
async fn linking_from_the_account_and_never_unlinking_the_last_way_in() {
    let Some(app) = oidc_app().await else { return };
    // An account with a password links `corp` from its settings.
    let password_user = app.signup("linus@example.com").await.cookie();
    let started = app.post_json("/v1/me/identities/corp", Some(&password_user), json!({ "redirect_to": APP })).await;
    assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
    let mut browser = Browser::default();
    browser.keep(&started);
    browser.cookies.insert("gatehouse_session".into(), password_user.split_once('=').expect("pair").1.to_owned());
    let url = started.body["url"].as_str().expect("url").to_owned();
    let callback = browser.follow_to_gatehouse(&format!("{url}&login_hint=linus-at-corp")).await;
    let done = browser.gatehouse(&app, &callback).await;
    assert_eq!(location(&done), APP);
    let identities = app.get("/v1/me/identities", Some(&password_user)).await.body["identities"].clone();
    assert_eq!(identities[0]["subject"], "linus-at-corp");
    // It has a password, so the identity can go.
    let id = identities[0]["id"].as_str().expect("id");
    assert_eq!(app.delete(&format!("/v1/me/identities/{id}"), &password_user).await.status, StatusCode::NO_CONTENT);
    assert!(queued_events(&app).await.contains(&"identity.unlinked".to_owned()));

    // An account made by a provider has no password: its only identity stays.
    let mut provider_user = Browser::default();
    provider_user.sign_in(&app, &start("corp", "ken@example.com")).await;
    let session = provider_user.session();
    let identities = app.get("/v1/me/identities", Some(&session)).await.body["identities"].clone();
    let only = identities[0]["id"].as_str().expect("id").to_owned();
    let refused = app.delete(&format!("/v1/me/identities/{only}"), &session).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.body["code"], "last_sign_in_method");
    // With a second identity linked, either may go.
    let started = app.post_json("/v1/me/identities/trusted", Some(&session), json!({})).await;
    provider_user.keep(&started);
    let url = started.body["url"].as_str().expect("url").to_owned();
    let callback = provider_user.follow_to_gatehouse(&format!("{url}&login_hint=ken-elsewhere")).await;
    assert_eq!(location(&provider_user.gatehouse(&app, &callback).await), "http://gatehouse.test/");
    assert_eq!(app.delete(&format!("/v1/me/identities/{only}"), &session).await.status, StatusCode::NO_CONTENT);
    let unknown = app.delete(&format!("/v1/me/identities/{only}"), &session).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Someone else's identity cannot be linked to this account.
    Browser::default().sign_in(&app, &start("corp", "taken@example.com")).await;
    let started = app.post_json("/v1/me/identities/corp", Some(&session), json!({ "redirect_to": APP })).await;
    provider_user.keep(&started);
    let url = started.body["url"].as_str().expect("url").to_owned();
    let callback = provider_user.follow_to_gatehouse(&format!("{url}&login_hint=taken@example.com")).await;
    assert_eq!(location(&provider_user.gatehouse(&app, &callback).await), format!("{APP}?error=identity_in_use"));
    app.finish().await;
}

#[tokio::test]
async fn github_signs_in_with_the_primary_verified_email() {
    let github = FakeGithub::start().await;
    let app = TestApp::sqlite(&[
        ("GATEHOUSE_PUBLIC_URL", PUBLIC_URL),
        ("GATEHOUSE_OAUTH_PROVIDERS", &github.provider_toml()),
    ])
    .await;
    let mut browser = Browser::default();
    let done = browser.sign_in(&app, "/v1/oauth/github/start").await;
    assert_eq!(location(&done), "http://gatehouse.test/", "{:?}", done.body);
    let me = whoami(&app, &browser).await;
    assert_eq!(me["user"]["email"], "Octo@Example.com");
    assert_eq!(me["user"]["email_verified"], true);
    assert_eq!(me["user"]["name"], "Octo Cat");
    let identities = app.get("/v1/me/identities", Some(&browser.session())).await;
    assert_eq!(identities.body["identities"][0]["subject"], "4242");

    // The same GitHub user signs in again, whatever its addresses are now.
    *github.state.emails.lock().expect("emails") =
        json!([{ "email": "x@example.com", "primary": true, "verified": false }]);
    let done =
        Browser::default().sign_in(&app, "/v1/oauth/github/start?redirect_to=http%3A%2F%2Fgatehouse.test%2Fin").await;
    assert_eq!(location(&done), "http://gatehouse.test/in");
    // Another GitHub user without a verified address has no account to make.
    *github.state.user_id.lock().expect("user id") = 777;
    let done = Browser::default().sign_in(&app, "/v1/oauth/github/start").await;
    assert_eq!(location(&done), "http://gatehouse.test/?error=email_required");
    app.finish().await;
}

#[tokio::test]
async fn an_account_made_by_a_provider_can_set_a_password_through_the_reset_flow() {
    let api = crate::support::mail::EmailApi::start().await;
    let Some(mut app) = oidc_app_on(TestDb::sqlite(), "", &api.env()).await else { return };
    app.run_jobs();
    let mut browser = Browser::default();
    browser.sign_in(&app, &start("corp", "rosa@example.com")).await;
    assert_eq!(
        app.login("rosa@example.com", crate::support::app::PASSWORD).await.status,
        StatusCode::UNAUTHORIZED,
        "no password yet"
    );
    app.post_json("/v1/password/forgot", None, json!({ "email": "rosa@example.com" })).await;
    let token = api.next().await.token();
    let reset =
        app.post_json("/v1/password/reset", None, json!({ "token": token, "password": "a fresh passphrase here" }));
    assert_eq!(reset.await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.login("rosa@example.com", "a fresh passphrase here").await.status, StatusCode::OK);
    app.finish().await;
}
