//! Second factors end to end, with `pyotp` (PyPI) as the authenticator app: enrolment from the
//! URI it parses, sign-in with its codes, a replayed code refused, recovery codes working once,
//! wrong codes counted, audited and limited, step-up before removing the factor, `amr` and
//! `auth_time` in sessions and access tokens, and provider sign-ins and emailed links ending at
//! the second step too.

use std::process::Command;
use std::time::Duration;

use gatehouse_core::clock::Clock as _;
use gatehouse_core::jobs::JobState;
use http::{Method, StatusCode};
use serde_json::json;

use crate::support::app::{PASSWORD, TestApp};

/// What the authenticator app shows for `secret` at the app's (frozen) time.
pub(crate) fn app_code(app: &TestApp, secret: &str) -> String {
    let at = app.clock.now().unix_timestamp().to_string();
    python(&["import pyotp, sys", "print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))"], &[secret, &at])
}

fn python(lines: &[&str], args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(lines.join("\n"))
        .args(args)
        .output()
        .expect("python3 runs (pyotp is installed by .ci/run)");
    assert!(output.status.success(), "pyotp failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    app.app.database.audit().recent(100).await.expect("audit").into_iter().map(|e| e.action).collect()
}

/// Enrols an authenticator app for the signed-in `cookie`; returns its base32 secret and the
/// recovery codes.
async fn enrol(app: &TestApp, cookie: &str) -> (String, Vec<String>) {
    let started = app.post_json("/v1/me/mfa/totp", Some(cookie), json!({})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let secret = started.body["secret"].as_str().expect("secret").to_owned();
    let confirmed =
        app.post_json("/v1/me/mfa/totp/confirm", Some(cookie), json!({ "code": app_code(app, &secret) })).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes = confirmed.body["recovery_codes"].as_array().expect("codes");
    (secret, codes.iter().map(|c| c.as_str().expect("code").to_owned()).collect())
}

/// Logs in with the password of an account with a factor: the 202 and its step token.
async fn first_step(app: &TestApp, email: &str) -> String {
    let reply = app.login(email, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    reply.body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

async fn second_step(app: &TestApp, token: &str, answer: serde_json::Value) -> crate::support::app::Reply {
    let mut body = answer;
    body["mfa_token"] = json!(token);
    app.post_json("/v1/login/mfa", None, body).await
}

async fn totp_sign_in_story(app: TestApp) {
    let ada = app.signup("ada@example.com").await.cookie();
    let none = app.get("/v1/me/mfa", Some(&ada)).await;
    assert_eq!((none.body["totp"].clone(), none.body["recovery_codes_left"].clone()), (json!(null), json!(0)));

    // Enrolment: the URI is what a real authenticator library reads.
    let started = app.post_json("/v1/me/mfa/totp", Some(&ada), json!({})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    assert_eq!(started.headers["cache-control"], "no-store");
    let secret = started.body["secret"].as_str().expect("secret").to_owned();
    let uri = started.body["otpauth_uri"].as_str().expect("uri").to_owned();
    let parsed = python(
        &[
            "import pyotp, sys",
            "t = pyotp.parse_uri(sys.argv[1])",
            "print(t.secret, t.name, t.issuer, t.digits, t.interval)",
        ],
        &[&uri],
    );
    assert_eq!(parsed, format!("{secret} ada@example.com Gatehouse 6 30"));
    // Until confirmed, the factor guards nothing, and a wrong first code confirms nothing.
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, StatusCode::OK);
    let wrong = app.post_json("/v1/me/mfa/totp/confirm", Some(&ada), json!({ "code": "000000" })).await;
    assert_eq!((wrong.status, wrong.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_code")));
    let confirmed =
        app.post_json("/v1/me/mfa/totp/confirm", Some(&ada), json!({ "code": app_code(&app, &secret) })).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let recovery: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let again = app.post_json("/v1/me/mfa/totp", Some(&ada), json!({})).await;
    assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("mfa_already_enabled")));
    // The session that confirmed it now counts as established with a second factor.
    let whoami = app.get("/v1/session", Some(&ada)).await;
    assert_eq!(whoami.body["session"]["amr"], json!(["pwd", "otp"]), "{}", whoami.body);
    let summary = app.get("/v1/me/mfa", Some(&ada)).await;
    assert_eq!(summary.body["recovery_codes_left"], 10);
    assert!(summary.body["totp"]["confirmed_at"].is_string());

    // A correct password is only the first step now: no session, a step cookie and token.
    let first = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert_eq!(first.body["methods"], json!(["totp", "recovery_code"]));
    let step_cookie = first.set_cookie();
    assert!(step_cookie.starts_with("gatehouse_session_mfa="), "{step_cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Max-Age=300"] {
        assert!(step_cookie.contains(attribute), "{attribute} missing from {step_cookie}");
    }
    let token = first.body["mfa_token"].as_str().expect("token").to_owned();
    assert_eq!(app.get("/v1/session", Some(&first.cookie())).await.status, StatusCode::UNAUTHORIZED);

    let wrong = second_step(&app, &token, json!({ "code": "123456" })).await;
    assert_eq!((wrong.status, wrong.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_code")));
    // The code that confirmed the app was for this 30-second step: it does not work twice.
    let replayed = second_step(&app, &token, json!({ "code": app_code(&app, &secret) })).await;
    assert_eq!(replayed.body["code"], "invalid_code", "a code is accepted once");

    app.advance(Duration::from_secs(30));
    let code = app_code(&app, &secret);
    // The step's cookie works as well as the token in the body (as a browser sends it).
    let request = http::Request::post("/v1/login/mfa")
        .header("content-type", "application/json")
        .header("cookie", first.cookie())
        .header("origin", app.origin())
        .body(axum::body::Body::from(json!({ "code": code }).to_string()))
        .expect("request");
    let signed_in = app.send(request).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let session_cookie = signed_in.cookie();
    assert!(session_cookie.starts_with("gatehouse_session="));
    assert_eq!(signed_in.body["session"]["amr"], json!(["pwd", "otp"]));
    let clears = signed_in.headers.get_all("set-cookie").iter().any(|v| {
        let v = v.to_str().expect("ascii");
        v.starts_with("gatehouse_session_mfa=;") && v.contains("Max-Age=0")
    });
    assert!(clears, "the step's cookie is cleared");
    // The step is spent: the same token cannot sign in twice.
    let spent = second_step(&app, &token, json!({ "code": code })).await;
    assert_eq!(spent.body["code"], "second_step_invalid");

    // Access tokens carry how and when.
    let issued = app.post_json("/v1/token", Some(&session_cookie), json!({})).await;
    let jwt = issued.body["access_token"].as_str().expect("token");
    let payload = jwt.split('.').nth(1).expect("payload");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).expect("base64"),
    )
    .expect("claims");
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims["auth_time"], json!(app.clock.now().unix_timestamp()));

    // The same code again, in a new sign-in within its window: refused.
    let token = first_step(&app, "ada@example.com").await;
    assert_eq!(second_step(&app, &token, json!({ "code": code })).await.body["code"], "invalid_code");

    // A recovery code works once, typed however.
    let typed = recovery[3].to_uppercase().replace('-', " ");
    let recovered = second_step(&app, &token, json!({ "recovery_code": typed })).await;
    assert_eq!(recovered.status, StatusCode::OK, "{}", recovered.body);
    let token = first_step(&app, "ada@example.com").await;
    let reused = second_step(&app, &token, json!({ "recovery_code": recovery[3] })).await;
    assert_eq!(reused.body["code"], "invalid_code", "a recovery code works once");
    assert_eq!(app.get("/v1/me/mfa", Some(&ada)).await.body["recovery_codes_left"], 9);
    let both = second_step(&app, &token, json!({ "code": "1", "recovery_code": "2" })).await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Five wrong codes end the step: even the right one is refused then.
    let token = first_step(&app, "ada@example.com").await;
    for attempt in 1..=5 {
        let reply = second_step(&app, &token, json!({ "code": "000001" })).await;
        let expected = if attempt < 5 { "invalid_code" } else { "second_step_invalid" };
        assert_eq!(reply.body["code"], expected, "attempt {attempt}");
    }
    app.advance(Duration::from_secs(30));
    let dead = second_step(&app, &token, json!({ "code": app_code(&app, &secret) })).await;
    assert_eq!(dead.body["code"], "second_step_invalid");

    let actions = audit_actions(&app).await;
    for action in ["mfa.enrolment_started", "mfa.enabled", "mfa.recovery_code_used"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited: {actions:?}");
    }
    let failures = actions.iter().filter(|a| *a == "mfa.failed").count();
    assert!(failures >= 8, "each wrong or replayed code is audited ({failures})");
    let ready = app.app.database.jobs().jobs_in(JobState::Ready, 500).await.expect("jobs");
    let events: Vec<String> =
        ready.iter().filter(|job| job.kind == "webhook.fan_out").map(|job| job.payload.to_string()).collect();
    for event in ["mfa.enabled", "mfa.recovery_code_used"] {
        let quoted = format!("\"{event}\"");
        assert!(events.iter().any(|e| e.contains(&quoted)), "{event} published: {events:?}");
    }

    // Step-up: an old sign-in cannot remove the factor until it proves itself again.
    app.advance(Duration::from_secs(6 * 60));
    let stale = app.delete("/v1/me/mfa/totp", &ada).await;
    assert_eq!((stale.status, stale.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("reauthentication_required")));
    let wrong = app.post_json("/v1/me/reauthenticate", Some(&ada), json!({ "password": "not it" })).await;
    assert_eq!(wrong.body["code"], "reauthentication_required");
    let fresh = app.post_json("/v1/me/reauthenticate", Some(&ada), json!({ "code": app_code(&app, &secret) })).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(app.get("/v1/session", Some(&ada)).await.body["session"]["auth_time"], fresh.body["auth_time"]);
    let removed = app.delete("/v1/me/mfa/totp", &ada).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert!(audit_actions(&app).await.iter().any(|a| a == "mfa.disabled"));
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, StatusCode::OK, "no second step any more");
    let summary = app.get("/v1/me/mfa", Some(&ada)).await;
    assert_eq!((summary.body["totp"].clone(), summary.body["recovery_codes_left"].clone()), (json!(null), json!(0)));
    app.finish().await;
}

async fn wrong_codes_are_limited_per_account(app: TestApp) {
    let ada = app.signup("ada@example.com").await.cookie();
    let (secret, _) = enrol(&app, &ada).await;
    // One sign-in, so the password logins stay within the same policy's budget.
    let token = first_step(&app, "ada@example.com").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(second_step(&app, &token, json!({ "code": "999999" })).await.status);
    }
    assert_eq!(
        statuses,
        [StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS],
        "two wrong codes are counted, the third attempt is limited"
    );
    // Limited before the code is looked at: the right code waits too.
    app.advance(Duration::from_secs(30));
    let limited = second_step(&app, &token, json!({ "code": app_code(&app, &secret) })).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key("retry-after"));
    app.finish().await;
}

async fn the_second_step_belongs_to_its_browser_and_expires(app: TestApp) {
    let ada = app.signup("ada@example.com").await.cookie();
    let (secret, _) = enrol(&app, &ada).await;
    let token = first_step(&app, "ada@example.com").await;
    app.advance(Duration::from_secs(30));
    // Another user agent holding the token gets nowhere.
    let request = http::Request::post("/v1/login/mfa")
        .header("content-type", "application/json")
        .header("user-agent", "another browser")
        .body(axum::body::Body::from(json!({ "mfa_token": token, "code": app_code(&app, &secret) }).to_string()))
        .expect("request");
    assert_eq!(app.send(request).await.body["code"], "second_step_invalid");
    // Five minutes later the step is gone.
    app.advance(Duration::from_secs(5 * 60));
    let late = second_step(&app, &token, json!({ "code": app_code(&app, &secret) })).await;
    assert_eq!(late.body["code"], "second_step_invalid");
    // Garbage is the same answer, never a 500.
    for token in ["", "x", &"a".repeat(43), "%00"] {
        let reply = second_step(&app, token, json!({ "code": "123456" })).await;
        assert_eq!(reply.body["code"], "second_step_invalid", "{token:?}");
    }
    let anonymous = app.post_json("/v1/me/mfa/totp", None, json!({})).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // Erasure removes the factors and steps with the account.
    first_step(&app, "ada@example.com").await;
    let erased = app.call_json(Method::DELETE, "/v1/me", &ada, Some(json!({ "password": PASSWORD }))).await;
    assert_eq!(erased.status, StatusCode::NO_CONTENT, "{}", erased.body);
    for table in ["mfa_totp", "mfa_recovery_codes", "mfa_steps"] {
        let left = gatehouse_store::schema_walk::count_rows(&app.app.database, table).await.expect("count");
        assert_eq!(left, 0, "{table} is empty after the erasure");
    }
    app.finish().await;
}

crate::support::on_every_backend!(
    // More attempts than the default per-account login budget (10 a quarter hour) allows; the
    // limit has its own story below.
    totp_sign_in_story
        with ("GATEHOUSE_RATE_LIMIT_POLICIES", "login_account = { limit = 50, period_secs = 900, burst = 50 }"),
    wrong_codes_are_limited_per_account
        with ("GATEHOUSE_RATE_LIMIT_POLICIES", "login_account = { limit = 2, period_secs = 3600, burst = 2 }"),
    the_second_step_belongs_to_its_browser_and_expires,
);

/// A provider sign-in of an account with an authenticator app ends at the second step: to the
/// hosted page (with pages on) or back to the app with `mfa_required=true` (pages off), never with
/// a session; the step's cookie then takes the code.
async fn provider_sign_in_with_a_factor(pages: bool) {
    use crate::support::fake_github::FakeGithub;
    use crate::support::oidc::{Browser, PUBLIC_URL, location};
    let github = FakeGithub::start().await;
    let pages_enabled = if pages { "true" } else { "false" };
    let app = TestApp::sqlite(&[
        ("GATEHOUSE_PUBLIC_URL", PUBLIC_URL),
        ("GATEHOUSE_OAUTH_PROVIDERS", &github.provider_toml()),
        ("GATEHOUSE_PAGES_ENABLED", pages_enabled),
    ])
    .await;
    let start = "/v1/oauth/github/start?redirect_to=http%3A%2F%2Fgatehouse.test%2Fin";
    let mut first = Browser::default();
    first.sign_in(&app, start).await;
    let (secret, _) = enrol(&app, &first.session()).await;

    let mut browser = Browser::default();
    let done = browser.sign_in(&app, start).await;
    let expected = if pages {
        "http://gatehouse.test/login/mfa?return_to=http%3A%2F%2Fgatehouse.test%2Fin"
    } else {
        "http://gatehouse.test/in?mfa_required=true"
    };
    assert_eq!(location(&done), expected, "{:?}", done.body);
    assert!(!browser.cookies.contains_key("gatehouse_session"), "no session before the code");
    assert!(browser.cookies.contains_key("gatehouse_session_mfa"), "the step is bound to this browser");

    app.advance(Duration::from_secs(30));
    let request = http::Request::post("/v1/login/mfa")
        .header("content-type", "application/json")
        .header("cookie", browser.cookie_header())
        .header("origin", app.origin())
        .body(axum::body::Body::from(json!({ "code": app_code(&app, &secret) }).to_string()))
        .expect("request");
    let signed_in = app.send(request).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.body["session"]["amr"], json!(["oauth", "otp"]));
    app.finish().await;
}

#[tokio::test]
async fn a_provider_sign_in_ends_at_the_hosted_second_step() {
    provider_sign_in_with_a_factor(true).await;
}

#[tokio::test]
async fn a_provider_sign_in_without_pages_tells_the_app_a_code_is_needed() {
    provider_sign_in_with_a_factor(false).await;
}

/// An emailed sign-in link of an account with an authenticator app is spent (and proves the
/// address) but gives a second step, not a session; recovery codes and removal send notices.
#[tokio::test]
async fn an_emailed_sign_in_link_ends_at_the_second_step() {
    let api = crate::support::mail::EmailApi::start().await;
    let mut app = TestApp::sqlite(&api.env()).await;
    app.run_jobs();
    let ada = app.signup("ada@example.com").await.cookie();
    api.next().await;
    let (secret, recovery) = enrol(&app, &ada).await;
    app.post_json("/v1/magic-link", None, json!({ "email": "ada@example.com" })).await;
    let token = api.next().await.token();
    let redeemed = app.post_json("/v1/magic-link/verify", None, json!({ "token": token })).await;
    assert_eq!(redeemed.status, StatusCode::ACCEPTED, "{}", redeemed.body);
    assert!(!redeemed.set_cookie().starts_with("gatehouse_session="), "no session yet");
    let again = app.post_json("/v1/magic-link/verify", None, json!({ "token": token })).await;
    assert_eq!(again.body["code"], "link_invalid", "the link is spent");
    app.advance(Duration::from_secs(30));
    let step = redeemed.body["mfa_token"].as_str().expect("mfa_token");
    let signed_in = second_step(&app, step, json!({ "code": app_code(&app, &secret) })).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.body["session"]["amr"], json!(["email", "otp"]));
    assert_eq!(signed_in.body["user"]["email_verified"], true);

    // Using a recovery code and removing the app are each told to the account's address.
    let step = first_step(&app, "ada@example.com").await;
    let recovered = second_step(&app, &step, json!({ "recovery_code": recovery[0] })).await;
    assert_eq!(recovered.status, StatusCode::OK, "{}", recovered.body);
    let notice = api.next().await;
    assert_eq!(notice.body["to"], json!(["ada@example.com"]), "{:?}", notice.body);
    assert_eq!(notice.body["subject"], "A recovery code was used on your Gatehouse account");
    assert!(!notice.body.to_string().contains(&recovery[0]), "the code is not in the email");
    let removed = app.delete("/v1/me/mfa/totp", &recovered.cookie()).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(api.next().await.body["subject"], "Two-step sign-in is off for your Gatehouse account");
    app.finish().await;
}
