//! CSRF: cookie-authenticated unsafe requests need a trusted Origin and the session's token;
//! login and signup need a trusted Origin; Bearer-authenticated requests need neither.

use axum::body::Body;
use http::{StatusCode, header};

use crate::support::app::{Reply, TestApp};
use crate::support::csrf_token;

async fn logout(app: &TestApp, cookie: &str, extra: &[(&str, &str)]) -> Reply {
    let mut request = http::Request::post("/v1/logout").header(header::COOKIE, cookie);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    app.send(request.body(Body::empty()).expect("request")).await
}

fn assert_refused(reply: &Reply, check: &str) {
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(reply.body["code"], "csrf_failed");
    assert!(reply.body["detail"].as_str().expect("detail").contains(check), "{}", reply.body);
}

#[tokio::test]
async fn cookie_requests_need_a_trusted_origin_and_the_sessions_token() {
    let app = TestApp::sqlite(&[("GATEHOUSE_SERVER_CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let cookie = app.signup("csrf@example.com").await.cookie();
    let token = csrf_token(&app.app.router, &cookie).await.expect("token for a live session");
    let origin = app.origin();
    let with_token = format!("{cookie}; gatehouse_csrf={token}");

    let cross = logout(&app, &with_token, &[("origin", "https://evil.example.net"), ("x-csrf-token", &token)]).await;
    assert_refused(&cross, "Origin is not");
    let no_origin = logout(&app, &with_token, &[("x-csrf-token", &token)]).await;
    assert_refused(&no_origin, "must send an Origin or Referer");
    let no_token = logout(&app, &cookie, &[("origin", &origin)]).await;
    assert_refused(&no_token, "X-CSRF-Token header");
    let mismatch =
        logout(&app, &format!("{cookie}; gatehouse_csrf=other"), &[("origin", &origin), ("x-csrf-token", &token)])
            .await;
    assert_refused(&mismatch, "does not match the gatehouse_csrf cookie");

    let other_cookie = app.signup("other@example.com").await.cookie();
    let other_token = csrf_token(&app.app.router, &other_cookie).await.expect("token");
    let stolen = logout(
        &app,
        &format!("{cookie}; gatehouse_csrf={other_token}"),
        &[("origin", &origin), ("x-csrf-token", &other_token)],
    )
    .await;
    assert_refused(&stolen, "does not belong to this session");
    assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::OK, "nothing was done");

    let allowed_app =
        logout(&app, &with_token, &[("origin", "https://app.example.com"), ("x-csrf-token", &token)]).await;
    assert_eq!(allowed_app.status, StatusCode::NO_CONTENT, "a CORS-allowed origin is trusted: {}", allowed_app.body);
    app.finish().await;
}

#[tokio::test]
async fn same_origin_requests_with_the_token_pass_by_header_referer_or_form_field() {
    let app = TestApp::sqlite(&[]).await;
    let origin = app.origin();
    for how in ["header", "referer", "form"] {
        let cookie = app.signup(&format!("{how}@example.com")).await.cookie();
        let token = csrf_token(&app.app.router, &cookie).await.expect("token");
        let both = format!("{cookie}; gatehouse_csrf={token}");
        let request = http::Request::post("/v1/logout").header(header::COOKIE, &both);
        let request = match how {
            "header" => request.header("origin", &origin).header("x-csrf-token", &token).body(Body::empty()),
            "referer" => request
                .header("referer", format!("{origin}/account?tab=1"))
                .header("x-csrf-token", &token)
                .body(Body::empty()),
            _ => request
                .header("origin", &origin)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("other=1&csrf_token={token}"))),
        };
        let reply = app.send(request.expect("request")).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{how}: {}", reply.body);
        assert_eq!(app.get("/v1/session", Some(&cookie)).await.status, StatusCode::UNAUTHORIZED, "{how}: logged out");
    }
    app.finish().await;
}

#[tokio::test]
async fn bearer_requests_need_no_token_and_csrf_needs_a_session() {
    let app = TestApp::sqlite(&[]).await;
    let cookie = app.signup("bearer@example.com").await.cookie();
    let access = app.post_json("/v1/token", Some(&cookie), serde_json::json!({})).await.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let renew = http::Request::post("/v1/token").header(header::AUTHORIZATION, format!("Bearer {access}"));
    assert_eq!(app.send(renew.body(Body::empty()).expect("request")).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/csrf", None).await.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

#[tokio::test]
async fn login_and_signup_get_the_origin_check() {
    let app = TestApp::sqlite(&[]).await;
    let signup = |origin: Option<&str>, cookie: Option<&str>| {
        let mut request = http::Request::post("/v1/signup").header(header::CONTENT_TYPE, "application/json");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        request.body(Body::from(
            serde_json::json!({ "email": email, "password": crate::support::app::PASSWORD }).to_string(),
        ))
    };
    let forged = app.send(signup(Some("https://evil.example.net"), None).expect("request")).await;
    assert_refused(&forged, "Origin is not");
    let browser_without_origin = app.send(signup(None, Some("theme=dark")).expect("request")).await;
    assert_refused(&browser_without_origin, "must send an Origin or Referer");
    let script = app.send(signup(None, None).expect("request")).await;
    assert_eq!(script.status, StatusCode::CREATED, "no cookies and no Origin: a backend or a script");
    let own_page = app.send(signup(Some(&app.origin()), Some("theme=dark")).expect("request")).await;
    assert_eq!(own_page.status, StatusCode::CREATED);
    // A stale session cookie does not make login demand a token: there is no session to protect.
    let stale = format!("gatehouse_session={}", "A".repeat(43));
    let relogin = app.send(signup(Some(&app.origin()), Some(&stale)).expect("request")).await;
    assert_eq!(relogin.status, StatusCode::CREATED, "{}", relogin.body);
    app.finish().await;
}
