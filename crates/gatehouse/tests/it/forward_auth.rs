//! Forward-auth behind real proxies: nginx (`auth_request`) and Caddy (`forward_auth`) from
//! Debian, run with the configs in `docs/forward-auth/`, in front of an app that echoes the
//! headers it gets, with the real Gatehouse binary deciding. Also the decision endpoint alone.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use http::{StatusCode, header};
use serde_json::{Value, json};

use crate::support::app::{FAST_HASHING, PASSWORD, TestApp};
use crate::support::binary::Server;
use crate::support::proxies::{Proxy, available, echo_app, free_port};
use crate::support::{call, http_client};

const RULES: &str = r#"[
  { host = "app.test", require = "signed_in" },
  { host = "app.test", path = "/verified", require = "verified_email" },
  { host = "app.test", path = "/public", require = "public" },
]"#;

struct Setup {
    gatehouse: Server,
    proxy: Proxy,
    /// Requests to `app.test` reach the proxy; nothing follows redirects.
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start(kind: &str) -> Option<Self> {
        let (program, package) = if kind == "nginx" { ("nginx", "nginx") } else { ("caddy", "caddy") };
        if !available(program, package) {
            return None;
        }
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let public = format!("http://{listen}");
        let database = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
        let mut env: Vec<(&str, &str)> = FAST_HASHING.to_vec();
        env.extend([
            ("DATABASE_URL", database.as_str()),
            ("GATEHOUSE_SERVER_LISTEN", listen.as_str()),
            ("GATEHOUSE_PUBLIC_URL", public.as_str()),
            ("GATEHOUSE_SERVER_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("GATEHOUSE_FORWARD_AUTH_RULES", RULES),
        ]);
        let gatehouse = Server::start(dir.path(), &env);
        let app = echo_app().await;
        let proxy = if kind == "nginx" { Proxy::nginx(gatehouse.addr, app) } else { Proxy::caddy(gatehouse.addr, app) };
        gatehouse::cli::install_tls_provider();
        let client = reqwest::Client::builder()
            .resolve("app.test", proxy.addr)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Some(Self { gatehouse, proxy, client, _dir: dir })
    }

    fn app_url(&self, path: &str) -> String {
        format!("http://app.test:{}{path}", self.proxy.addr.port())
    }

    async fn get(&self, path: &str, cookie: Option<&str>, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(self.app_url(path)).header(header::ACCEPT, "text/html");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request through the proxy")
    }

    /// Signs up through Gatehouse's API; the session cookie.
    async fn sign_up(&self, email: &str) -> (String, Value) {
        let reply = http_client()
            .post(self.gatehouse.url("/v1/signup"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("signup");
        assert_eq!(reply.status(), StatusCode::CREATED);
        let cookie = reply.headers()[header::SET_COOKIE].to_str().expect("ascii").split(';').next().expect("pair");
        let cookie = cookie.to_owned();
        (cookie, reply.json().await.expect("json"))
    }

    /// A JSON call to Gatehouse as the signed-in `cookie`, with its CSRF token.
    async fn api(&self, cookie: &str, path: &str, body: Value) -> Value {
        let csrf = http_client().get(self.gatehouse.url("/v1/csrf")).header(header::COOKIE, cookie).send().await;
        let token =
            csrf.expect("csrf").json::<Value>().await.expect("json")["token"].as_str().expect("token").to_owned();
        let reply = http_client()
            .post(self.gatehouse.url(path))
            .header(header::COOKIE, format!("{cookie}; gatehouse_csrf={token}"))
            .header("x-csrf-token", &token)
            .header(header::ORIGIN, self.gatehouse.url("").trim_end_matches('/'))
            .json(&body)
            .send()
            .await
            .expect("api call");
        assert!(reply.status().is_success(), "{path}: {}", reply.status());
        reply.json().await.expect("json")
    }
}

fn seen_by_app(body: &Value, name: &str) -> Option<String> {
    body["headers"][name].as_str().map(str::to_owned)
}

async fn a_browser_without_a_session_is_sent_to_sign_in_and_back(kind: &str) {
    let Some(setup) = Setup::start(kind).await else { return };
    let asked = setup.app_url("/dashboard?tab=2");
    let reply = setup.get("/dashboard?tab=2", None, &[]).await;
    assert_eq!(reply.status(), StatusCode::FOUND, "{kind}");
    let location = reply.headers()[header::LOCATION].to_str().expect("ascii").to_owned();
    let expected = format!("{}?return_to={}", setup.gatehouse.url("/login"), urlencode(&asked));
    assert_eq!(location, expected, "{kind}");

    // An API call gets a 401, not a redirect.
    let api = setup.client.get(setup.app_url("/api/items")).header(header::ACCEPT, "application/json").send().await;
    assert_eq!(api.expect("api").status(), StatusCode::UNAUTHORIZED, "{kind}");

    // Signing in on the hosted page with that return_to lands on the original URL.
    setup.sign_up("ada@example.com").await;
    let page = http_client().get(&location).send().await.expect("login page");
    let form_cookie = page.headers()[header::SET_COOKIE].to_str().expect("ascii").split(';').next().expect("pair");
    let form_cookie = form_cookie.to_owned();
    let html = page.text().await.expect("html");
    let token = html.split("name=\"csrf_token\" value=\"").nth(1).expect("token").split('"').next().expect("end");
    assert!(html.contains("name=\"return_to\""), "the page keeps the protected URL");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let signed_in = client
        .post(setup.gatehouse.url("/login"))
        .header(header::COOKIE, form_cookie)
        .header(header::ORIGIN, setup.gatehouse.url(""))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("email", "ada@example.com"), ("password", PASSWORD), ("csrf_token", token)])
                .append_pair("return_to", &asked)
                .finish(),
        )
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[header::LOCATION], asked.as_str(), "{kind}");
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn the_app_sees_who_is_signed_in_and_never_what_the_client_claims(kind: &str) {
    let Some(setup) = Setup::start(kind).await else { return };
    let (cookie, signed_up) = setup.sign_up("ada@example.com").await;
    let forged = [
        ("Remote-User", "admin"),
        ("Remote-Email", "admin@example.com"),
        ("Remote-Groups", "owner"),
        ("X-Gatehouse-Workspace", "0b7e4c1e-3f0a-4d55-9d7a-2f1c9a8e6b10"),
        ("X-Forwarded-Host", "elsewhere.test"),
        ("X-Forwarded-Uri", "/public"),
        ("X-Original-URL", "http://app.test/public"),
    ];
    let reply = setup.get("/dashboard", Some(&cookie), &forged).await;
    assert_eq!(reply.status(), StatusCode::OK, "{kind}");
    let body: Value = reply.json().await.expect("echo");
    assert_eq!(
        seen_by_app(&body, "remote-user"),
        signed_up["user"]["id"].as_str().map(str::to_owned),
        "{kind}: {body}"
    );
    assert_eq!(seen_by_app(&body, "remote-email").as_deref(), Some("ada@example.com"), "{kind}");
    assert!(seen_by_app(&body, "remote-groups").unwrap_or_default().is_empty(), "{kind}: no workspace yet: {body}");
    assert!(seen_by_app(&body, "x-gatehouse-workspace").unwrap_or_default().is_empty(), "{kind}: {body}");

    // With an active workspace, the app learns the role in it from the proxy.
    let workspace = setup.api(&cookie, "/v1/workspaces", json!({ "name": "Ops" })).await;
    let id = workspace["id"].as_str().expect("id").to_owned();
    setup.api(&cookie, "/v1/session/workspace", json!({ "workspace_id": id })).await;
    let body: Value = setup.get("/dashboard", Some(&cookie), &forged).await.json().await.expect("echo");
    assert_eq!(seen_by_app(&body, "remote-groups").as_deref(), Some("owner"), "{kind}: {body}");
    assert_eq!(seen_by_app(&body, "x-gatehouse-workspace").as_deref(), Some(id.as_str()), "{kind}: {body}");

    // Signed out, on a public path: the client's claims do not reach the app either.
    let reply = setup.get("/public/page", None, &forged).await;
    assert_eq!(reply.status(), StatusCode::OK, "{kind}");
    let body: Value = reply.json().await.expect("echo");
    assert!(seen_by_app(&body, "remote-user").unwrap_or_default().is_empty(), "{kind}: {body}");
    assert!(seen_by_app(&body, "remote-email").unwrap_or_default().is_empty(), "{kind}: {body}");
    // A forged X-Forwarded-Uri cannot turn a protected path into the public one.
    let reply = setup.get("/dashboard", None, &forged).await;
    assert_eq!(reply.status(), StatusCode::FOUND, "{kind}: the forged /public was not believed");
}

async fn a_revoked_session_and_an_unmet_rule_are_refused(kind: &str) {
    let Some(setup) = Setup::start(kind).await else { return };
    let (cookie, _) = setup.sign_up("ada@example.com").await;
    assert_eq!(setup.get("/dashboard", Some(&cookie), &[]).await.status(), StatusCode::OK);
    let denied = setup.get("/verified/report", Some(&cookie), &[]).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN, "{kind}: the address is not verified");

    let csrf: Value = http_client()
        .get(setup.gatehouse.url("/v1/csrf"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("csrf")
        .json()
        .await
        .expect("json");
    let token = csrf["token"].as_str().expect("token");
    let logout = http_client()
        .post(setup.gatehouse.url("/v1/logout"))
        .header(header::COOKIE, format!("{cookie}; gatehouse_csrf={token}"))
        .header("x-csrf-token", token)
        .header(header::ORIGIN, setup.gatehouse.url(""))
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = setup.get("/dashboard", Some(&cookie), &[]).await;
    assert_eq!(after.status(), StatusCode::FOUND, "{kind}: the revoked session is refused at once");
}

macro_rules! through_each_proxy {
    ($($story:ident),* $(,)?) => {
        mod nginx { $(#[tokio::test(flavor = "multi_thread")] async fn $story() { super::$story("nginx").await; })* }
        mod caddy { $(#[tokio::test(flavor = "multi_thread")] async fn $story() { super::$story("caddy").await; })* }
    };
}

through_each_proxy!(
    a_browser_without_a_session_is_sent_to_sign_in_and_back,
    the_app_sees_who_is_signed_in_and_never_what_the_client_claims,
    a_revoked_session_and_an_unmet_rule_are_refused,
);

async fn decide(app: &TestApp, from: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let router = app.app.router.clone().layer(MockConnectInfo(from.parse::<SocketAddr>().expect("addr")));
    let mut request = http::Request::get("/v1/forward-auth");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, _, body) = call(&router, request.body(Body::empty()).expect("request")).await;
    (status, if body.is_empty() { Value::Null } else { crate::support::json(&body) })
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_address_are_refused() {
    let app = TestApp::sqlite(&[
        ("GATEHOUSE_SERVER_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("GATEHOUSE_FORWARD_AUTH_RULES", r#"[{ host = "app.test", require = "public" }]"#),
    ])
    .await;
    let forged = [("X-Forwarded-Host", "app.test"), ("X-Forwarded-Uri", "/")];
    let (status, body) = decide(&app, "10.1.2.3:5000", &forged).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("untrusted_proxy")));
    let nginx_style = [("X-Original-URL", "http://app.test/")];
    assert_eq!(decide(&app, "10.1.2.3:5000", &nginx_style).await.0, StatusCode::FORBIDDEN);
    assert_eq!(decide(&app, "127.0.0.1:5000", &forged).await.0, StatusCode::OK, "from the proxy it is believed");
    let (status, body) = decide(&app, "127.0.0.1:5000", &[]).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_forwarded_request")));
    let (status, body) = decide(&app, "127.0.0.1:5000", &[("X-Forwarded-Host", "other.test")]).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forward_auth_denied")), "no rule");

    let (_, _, metrics) = call(&app.app.router, crate::support::get("/metrics")).await;
    let metrics = String::from_utf8(metrics).expect("utf-8");
    for outcome in ["untrusted_proxy", "allowed", "no_rule"] {
        let counted = metrics.lines().any(|line| {
            line.starts_with("gatehouse_forward_auth_decisions_total{")
                && line.contains(&format!("outcome=\"{outcome}\""))
        });
        assert!(counted, "no {outcome} decision counted:\n{metrics}");
    }
    assert!(!metrics.contains("other.test"), "a host no rule names is not a label");
    app.finish().await;
}

#[tokio::test]
async fn bad_rules_are_refused_at_start_all_at_once() {
    let db = crate::support::TestDb::sqlite();
    let rules = r#"[{ host = "https://app.test", require = "signed_in" }, { host = "a.test", require = "admin" }, { host = "b.test", require = "public" }, { host = "b.test", require = "signed_in" }]"#;
    let env = crate::support::env(&[("DATABASE_URL", db.url.as_str()), ("GATEHOUSE_FORWARD_AUTH_RULES", rules)]);
    let problems = gatehouse::config::load(None, &env).expect_err("refused");
    let error = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(error.contains("rule 1") && error.contains("not a host name"), "{error}");
    assert!(error.contains("rule 2") && error.contains("`admin` is not a requirement"), "{error}");
    assert!(error.contains("two rules cover b.test/"), "{error}");
}

/// `require = "mfa"`: a session signed in with the password alone is denied, even after the
/// account added an authenticator app; one signed in with its code is allowed.
#[tokio::test]
async fn a_rule_can_require_a_second_factor() {
    let app = TestApp::sqlite(&[
        ("GATEHOUSE_SERVER_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("GATEHOUSE_FORWARD_AUTH_RULES", r#"[{ host = "admin.test", require = "mfa" }]"#),
    ])
    .await;
    let before = app.signup("ada@example.com").await.cookie();
    let asks = |cookie: &str| {
        let cookie = cookie.to_owned();
        let app = &app;
        async move {
            let headers = [("X-Forwarded-Host", "admin.test"), ("X-Forwarded-Uri", "/"), ("Cookie", cookie.as_str())];
            decide(app, "127.0.0.1:5000", &headers).await
        }
    };
    let (status, body) = asks(&before).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forward_auth_denied")));
    // Another device adds the app; this older session still has only its password.
    let other = app.login("ada@example.com", crate::support::app::PASSWORD).await.cookie();
    let started = app.post_json("/v1/me/mfa/totp", Some(&other), serde_json::json!({})).await;
    let secret = started.body["secret"].as_str().expect("secret").to_owned();
    let code = crate::mfa::app_code(&app, &secret);
    let confirmed = app.post_json("/v1/me/mfa/totp/confirm", Some(&other), serde_json::json!({ "code": code })).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(asks(&before).await.0, StatusCode::FORBIDDEN, "the password-only session stays denied");
    assert_eq!(asks(&other).await.0, StatusCode::OK, "the session that proved the code is allowed");
    app.finish().await;
}
