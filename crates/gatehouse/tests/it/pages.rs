//! The hosted pages through the in-process router: their headers, their CSRF protection, where
//! they redirect, what a failed form shows, and templates refused at start. The browser suite
//! (`tests/browser`) drives the same pages in Chromium.

use axum::body::Body;
use http::{HeaderMap, StatusCode, header};

use crate::support::app::{PASSWORD, TestApp};
use crate::support::mail::EmailApi;
use crate::support::{TestDb, call, config_for};

const APP: &str = "https://app.example.com";

/// A page as a browser asks for it.
pub(crate) async fn page(app: &TestApp, path: &str, cookies: &str) -> (StatusCode, HeaderMap, String) {
    let mut request = http::Request::get(path).header(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8");
    if !cookies.is_empty() {
        request = request.header(header::COOKIE, cookies);
    }
    let (status, headers, body) = call(&app.app.router, request.body(Body::empty()).expect("request")).await;
    (status, headers, String::from_utf8(body).expect("utf-8"))
}

/// A form post from the page's own origin.
pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    cookies: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let mut request = http::Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, app.origin());
    if !cookies.is_empty() {
        request = request.header(header::COOKIE, cookies);
    }
    let (status, headers, body) = call(&app.app.router, request.body(Body::from(body)).expect("request")).await;
    (status, headers, String::from_utf8(body).expect("utf-8"))
}

/// Every `name=value` the answer sets, as one `Cookie` header value.
pub(crate) fn cookies_set(headers: &HeaderMap) -> String {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The value of the hidden field `name` in a page.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in {html}")) + marker.len();
    html[start..].split('"').next().expect("quoted").to_owned()
}

pub(crate) fn location(headers: &HeaderMap) -> &str {
    headers.get(header::LOCATION).expect("Location").to_str().expect("ascii")
}

async fn app() -> TestApp {
    TestApp::sqlite(&[("GATEHOUSE_SERVER_REDIRECT_ALLOWLIST", "https://app.example.com/")]).await
}

#[tokio::test]
async fn pages_are_html_with_strict_headers_and_json_clients_get_406() {
    let app = app().await;
    let (status, headers, html) = page(&app, "/login", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self'") && csp.contains(APP), "forms may lead to allowlisted apps: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
    assert!(cookies_set(&headers).starts_with("gatehouse_form="));
    assert!(html.contains("<label for=\"email\">") && html.contains("name=\"password\""));
    let stylesheet = html.split("href=\"").find(|part| part.starts_with("/assets/")).expect("a stylesheet link");
    let stylesheet = stylesheet.split('"').next().expect("quoted").replace("&amp;", "&");
    let (status, headers, css) = page(&app, &stylesheet, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(css.contains("--accent: #2f5bd3"));

    let json = http::Request::get("/login").header(header::ACCEPT, "application/json").body(Body::empty());
    let (status, headers, body) = call(&app.app.router, json.expect("request")).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(crate::support::json(&body)["code"], "not_acceptable");
    // The JSON API is unchanged beside the pages.
    assert_eq!(app.get("/v1/session", None).await.body["code"], "unauthenticated");
    app.finish().await;
}

#[tokio::test]
async fn a_signed_out_form_needs_this_browsers_token_and_its_origin() {
    let app = app().await;
    assert_eq!(app.signup("ada@example.com").await.status, StatusCode::CREATED);
    let (_, headers, html) = page(&app, "/login", "").await;
    let (cookies, token) = (cookies_set(&headers), hidden(&html, "csrf_token"));
    let fields = [("email", "ada@example.com"), ("password", PASSWORD), ("csrf_token", token.as_str())];

    // Without the form cookie (a forged post, or another browser's token): the form again.
    let (status, headers, html) = post_form(&app, "/login", "", &fields).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("This form has expired"), "{html}");
    assert!(html.contains("value=\"ada@example.com\""), "what was typed is kept");
    assert!(!html.contains(PASSWORD), "never the password");
    assert!(!cookies_set(&headers).contains("gatehouse_session="), "not signed in");
    let (_, other, _) = page(&app, "/login", "").await;
    assert_eq!(post_form(&app, "/login", &cookies_set(&other), &fields).await.0, StatusCode::FORBIDDEN);

    // From another site: refused by the origin check before the form is read.
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let forged = http::Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &cookies)
        .body(Body::from(body));
    let (status, _, body) = call(&app.app.router, forged.expect("request")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(crate::support::json(&body)["code"], "csrf_failed");

    let (status, headers, _) = post_form(&app, "/login", &cookies, &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/account");
    assert!(cookies_set(&headers).contains("gatehouse_session="));
    app.finish().await;
}

#[tokio::test]
async fn return_to_is_followed_only_inside_the_allowlist() {
    let app = app().await;
    assert_eq!(app.signup("ada@example.com").await.status, StatusCode::CREATED);
    for (asked, expected) in [
        ("https://app.example.com/dashboard?tab=2", "https://app.example.com/dashboard?tab=2"),
        ("https://evil.example/steal", "/account"),
        ("//evil.example/", "/account"),
        ("https://app.example.com.evil.example/", "/account"),
    ] {
        let (_, headers, html) = page(&app, &format!("/login?return_to={}", urlencoded(asked)), "").await;
        assert_eq!(html.contains("name=\"return_to\""), expected != "/account", "{asked}");
        let token = hidden(&html, "csrf_token");
        let fields = [
            ("email", "ada@example.com"),
            ("password", PASSWORD),
            ("csrf_token", token.as_str()),
            ("return_to", asked),
        ];
        let (status, headers, _) = post_form(&app, "/login", &cookies_set(&headers), &fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{asked}");
        assert_eq!(location(&headers), expected, "{asked}");
    }
    app.finish().await;
}

fn urlencoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_failed_form_says_what_is_wrong_next_to_the_field() {
    let app = app().await;
    let (_, headers, html) = page(&app, "/signup", "").await;
    let cookies = cookies_set(&headers);
    let token = hidden(&html, "csrf_token");
    let fields = [("email", "not-an-address"), ("password", "short"), ("name", "Ada"), ("csrf_token", &token)];
    let (status, _, html) = post_form(&app, "/signup", &cookies, &fields).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"email-error\">The email address is not an email address.</p>"), "{html}");
    assert!(html.contains("aria-describedby=\"email-error\""), "{html}");
    assert!(html.contains("id=\"password-error\">The password must be at least 8 characters.</p>"), "{html}");
    assert!(html.contains("value=\"not-an-address\"") && html.contains("value=\"Ada\""));
    assert!(!html.contains("value=\"short\""), "never the password");

    // An address already in use is the email field's problem.
    assert_eq!(app.signup("ada@example.com").await.status, StatusCode::CREATED);
    let fields = [("email", "ada@example.com"), ("password", PASSWORD), ("csrf_token", token.as_str())];
    let (status, _, html) = post_form(&app, "/signup", &cookies, &fields).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("id=\"email-error\">An account already uses this email address."), "{html}");
    app.finish().await;
}

#[tokio::test]
async fn a_link_page_spends_nothing_until_its_button_is_pressed() {
    let api = EmailApi::start().await;
    let mut vars = api.env().to_vec();
    vars.push(("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "20"));
    let mut app = TestApp::start(TestDb::sqlite(), &vars).await;
    app.run_jobs();
    let signup = app.signup("ada@example.com").await;
    let session = signup.cookie();
    let token = api.next().await.token();

    // A mail scanner's fetch, twice: the link still works after.
    for _ in 0..2 {
        let (status, _, html) = page(&app, &format!("/verify-email?token={token}"), "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Confirm my address"));
    }
    let (_, headers, html) = page(&app, &format!("/verify-email?token={token}"), &session).await;
    let cookies = format!("{session}; {}", cookies_set(&headers));
    let form = hidden(&html, "csrf_token");
    let (status, headers, _) =
        post_form(&app, "/verify-email", &cookies, &[("token", token.as_str()), ("csrf_token", form.as_str())]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/account?notice=verified_signed_in");
    assert_eq!(app.get("/v1/session", Some(&session)).await.body["user"]["email_verified"], true);

    // Spent: the page says so and offers the way on.
    let (status, _, html) = page(&app, &format!("/verify-email?token={token}"), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("This link is unknown, expired or already used."), "{html}");
    app.finish().await;
}

#[tokio::test]
async fn signed_in_forms_carry_the_session_token() {
    let app = app().await;
    let session = app.signup("ada@example.com").await.cookie();
    let (status, headers, html) = page(&app, "/account", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("ada@example.com"));
    let csrf = cookies_set(&headers);
    assert!(csrf.starts_with("gatehouse_csrf="), "{csrf}");
    let token = hidden(&html, "csrf_token");

    let (status, _, _) = post_form(&app, "/logout", &session, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token, no sign-out");
    let cookies = format!("{session}; {csrf}");
    let (status, headers, _) = post_form(&app, "/logout", &cookies, &[("csrf_token", token.as_str())]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/login?notice=signed_out");
    assert_eq!(app.get("/v1/session", Some(&session)).await.status, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = page(&app, "/account", &session).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"));
    app.finish().await;
}

#[tokio::test]
async fn a_replaced_template_changes_its_page_and_a_broken_one_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let custom = "{% extends \"base.html\" %}{% block title %}Welcome to {{ brand.product_name }}{% endblock %}";
    std::fs::write(dir.path().join("signup.html"), custom).expect("write");
    let folder = dir.path().to_str().expect("utf-8 path");
    let app = TestApp::sqlite(&[("GATEHOUSE_PAGES_TEMPLATES_DIR", folder), ("GATEHOUSE_EMAIL_APP_NAME", "Acme")]).await;
    let (_, _, html) = page(&app, "/signup", "").await;
    assert!(html.contains("<h1>Welcome to Acme</h1>"), "{html}");
    assert!(page(&app, "/login", "").await.2.contains("<h1>Sign in</h1>"), "the other pages are the built-in ones");
    app.finish().await;

    for (file, text) in [("login.html", "{% if %}"), ("login.html", "{{ passwrd }}"), ("logn.html", "x")] {
        std::fs::remove_file(dir.path().join("signup.html")).ok();
        std::fs::write(dir.path().join(file), text).expect("write");
        let db = TestDb::sqlite();
        let config = config_for(&db.url, &[("GATEHOUSE_PAGES_TEMPLATES_DIR", folder)]);
        let error = gatehouse::app::build(config).await.expect_err("refused at start");
        let message = format!("{error:#}");
        assert!(message.contains(file), "{file}: {message}");
        std::fs::remove_file(dir.path().join(file)).expect("remove");
    }
}

/// The invitation an email carries: signed out, to sign-in and back; signed in with the invited
/// (verified) address, one press joins; the account page lists the workspace, and deleting the
/// account there needs the password.
#[tokio::test]
async fn an_invitation_is_accepted_on_its_page_and_the_account_can_be_deleted() {
    let app = app().await;
    let owner = app.signup("olive@example.com").await.cookie();
    let created = app.post_json("/v1/workspaces", Some(&owner), serde_json::json!({ "name": "Olive's <team>" })).await;
    let ws = created.body["id"].as_str().expect("id").to_owned();
    let invited = app
        .post_json(
            &format!("/v1/workspaces/{ws}/invitations"),
            Some(&owner),
            serde_json::json!({ "email": "pat@example.com" }),
        )
        .await;
    let invitation: uuid::Uuid = invited.body["id"].as_str().expect("id").parse().expect("uuid");
    let token = app.app.state.services().email.link_key.token(invitation).encode();
    let path = format!("/invitation?token={token}");

    let (status, headers, _) = page(&app, &path, "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let expected = format!(
        "/login?return_to={}",
        urlencoded(&format!("{}{path}", app.app.config.public_url.as_str().trim_end_matches('/')))
    );
    assert_eq!(location(&headers), expected);

    let pat = app.signup("pat@example.com").await;
    let pat_id: uuid::Uuid = pat.body["user"]["id"].as_str().expect("id").parse().expect("uuid");
    let session = pat.cookie();
    let (status, headers, html) = page(&app, &path, &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Olive&#x27;s &lt;team&gt;") || html.contains("Olive&#39;s &lt;team&gt;"), "escaped: {html}");
    let cookies = format!("{session}; {}", cookies_set(&headers));
    let csrf = hidden(&html, "csrf_token");
    // Pat never opened the confirmation email; the invitation, read at that address, proves it.
    let (status, headers, _) =
        post_form(&app, "/invitation", &cookies, &[("csrf_token", &csrf), ("token", &token)]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account?notice=invitation_accepted"));
    let whoami = app.get("/v1/session", Some(&session)).await;
    assert_eq!(
        (whoami.body["user"]["id"].as_str(), whoami.body["user"]["email_verified"].as_bool()),
        (Some(pat_id.to_string().as_str()), Some(true))
    );
    let (_, _, html) = page(&app, "/account?notice=invitation_accepted", &cookies).await;
    assert!(html.contains("You joined the workspace.") && html.contains("&lt;team&gt;"), "{html}");
    let (status, _, html) = page(&app, &path, &session).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "used once");
    assert!(html.contains("already used"), "{html}");

    // Deleting the account: past the 5 minutes after sign-in, the password, then gone.
    app.advance(std::time::Duration::from_secs(6 * 60));
    let (status, headers, _) =
        post_form(&app, "/account/delete", &cookies, &[("csrf_token", &csrf), ("password", "wrong")]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account?error=reauthentication_required"));
    let (status, headers, _) =
        post_form(&app, "/account/delete", &cookies, &[("csrf_token", &csrf), ("password", PASSWORD)]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login?notice=account_deleted"));
    assert!(headers[header::SET_COOKIE].to_str().expect("ascii").contains("Max-Age=0"));
    assert_eq!(app.get("/v1/session", Some(&session)).await.status, StatusCode::UNAUTHORIZED);
    let (_, _, html) = page(&app, "/login?notice=account_deleted", "").await;
    assert!(html.contains("Your account is deleted."), "{html}");
    app.finish().await;
}

/// The cookies a browser holds: each `Set-Cookie` replaces its name (`Max-Age=0` removes it).
#[derive(Default)]
struct Jar(std::collections::BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().expect("ascii");
            let pair = text.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            if text.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
    }
}

/// The authenticator app from the account page to the second step of `/login` and back, with
/// pyotp reading the key the page shows.
#[tokio::test]
async fn an_authenticator_app_is_set_up_on_the_account_page_and_asked_for_at_sign_in() {
    let app = app().await;
    let mut jar = Jar::default();
    jar.take(&app.signup("ada@example.com").await.headers);
    let (_, headers, html) = page(&app, "/account", &jar.header()).await;
    jar.take(&headers);
    assert!(html.contains("Set up an authenticator app"), "a fresh sign-in may add one: {html}");
    let csrf = hidden(&html, "csrf_token");
    let (status, headers, _) = post_form(&app, "/account/mfa/totp", &jar.header(), &[("csrf_token", &csrf)]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account?notice=totp_started"));

    let (_, _, html) = page(&app, "/account?notice=totp_started", &jar.header()).await;
    assert!(html.contains("<svg role=\"img\" aria-labelledby=\"qr-label\""), "an inline QR code: {html}");
    assert!(!html.contains("<?xml"), "no XML prolog inside HTML");
    let marker = "id=\"totp-secret\">";
    let start = html.find(marker).expect("the key is shown") + marker.len();
    let secret: String = html[start..].split('<').next().expect("text").split_whitespace().collect();
    let wrong = [("csrf_token", csrf.as_str()), ("code", "000000")];
    let (status, headers, _) = post_form(&app, "/account/mfa/totp/confirm", &jar.header(), &wrong).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account?error=invalid_code"));
    let code = crate::mfa::app_code(&app, &secret);
    let right = [("csrf_token", csrf.as_str()), ("code", code.as_str())];
    let (status, headers, html) = post_form(&app, "/account/mfa/totp/confirm", &jar.header(), &right).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(html.matches("<li><code>").count(), 10, "ten recovery codes, shown now: {html}");
    let (_, _, html) = page(&app, "/account", &jar.header()).await;
    assert!(html.contains("10 left") && !html.contains("<svg"), "{html}");

    // Signing in again: the password leads to the code, which leads on to `return_to`.
    let mut browser = Jar::default();
    let (_, headers, html) = page(&app, "/login", "").await;
    browser.take(&headers);
    let token = hidden(&html, "csrf_token");
    let fields = [
        ("email", "ada@example.com"),
        ("password", PASSWORD),
        ("csrf_token", token.as_str()),
        ("return_to", "https://app.example.com/home"),
    ];
    let (status, headers, _) = post_form(&app, "/login", &browser.header(), &fields).await;
    assert_eq!(
        (status, location(&headers)),
        (StatusCode::SEE_OTHER, "/login/mfa?return_to=https%3A%2F%2Fapp.example.com%2Fhome")
    );
    browser.take(&headers);
    assert!(!browser.0.contains_key("gatehouse_session"), "no session before the code");
    let (status, _, html) =
        page(&app, "/login/mfa?return_to=https%3A%2F%2Fapp.example.com%2Fhome", &browser.header()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("autocomplete=\"one-time-code\""), "{html}");
    let step = [("csrf_token", token.as_str()), ("code", "000000"), ("return_to", "https://app.example.com/home")];
    let (status, _, html) = post_form(&app, "/login/mfa", &browser.header(), &step).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("code-error") && html.contains("That code is not right"), "{html}");
    app.advance(std::time::Duration::from_secs(30));
    let code = crate::mfa::app_code(&app, &secret);
    let step = [("csrf_token", token.as_str()), ("code", code.as_str()), ("return_to", "https://app.example.com/home")];
    let (status, headers, _) = post_form(&app, "/login/mfa", &browser.header(), &step).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "https://app.example.com/home"));
    browser.take(&headers);
    assert!(browser.0.contains_key("gatehouse_session") && !browser.0.contains_key("gatehouse_session_mfa"));
    // The step is spent: its page sends the browser back to sign in.
    let (status, headers, _) =
        post_form(&app, "/login/mfa", &format!("{}; gatehouse_session_mfa=x", browser.header()), &step).await;
    assert_eq!(
        (status, location(&headers)),
        (StatusCode::SEE_OTHER, "/login?return_to=https%3A%2F%2Fapp.example.com%2Fhome&notice=second_step_expired")
    );

    // Later, removing it asks for a fresh proof in place, then works.
    app.advance(std::time::Duration::from_secs(6 * 60));
    let (_, _, html) = page(&app, "/account", &jar.header()).await;
    assert!(html.contains("first confirm it is you") && !html.contains("/account/mfa/totp/remove"), "{html}");
    let remove = [("csrf_token", csrf.as_str())];
    let (_, headers, _) = post_form(&app, "/account/mfa/totp/remove", &jar.header(), &remove).await;
    assert_eq!(location(&headers), "/account?error=reauthentication_required", "the button is not the only guard");
    let code = crate::mfa::app_code(&app, &secret);
    let proof = [("csrf_token", csrf.as_str()), ("code", code.as_str())];
    let (_, headers, _) = post_form(&app, "/account/reauthenticate", &jar.header(), &proof).await;
    assert_eq!(location(&headers), "/account?notice=reauthenticated");
    let (_, headers, _) = post_form(&app, "/account/mfa/totp/remove", &jar.header(), &remove).await;
    assert_eq!(location(&headers), "/account?notice=totp_removed");
    let (_, _, html) = page(&app, "/account?notice=totp_removed", &jar.header()).await;
    assert!(
        html.contains("The authenticator app is removed") && html.contains("Set up an authenticator app"),
        "{html}"
    );
    app.finish().await;
}
