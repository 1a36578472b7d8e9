//! The account page's self-service forms and the workspace pages, through the in-process router
//! as a browser posts them: what each form does, what a failed one shows and where, and that the
//! workspace pages keep the API's rules. The browser suite drives the same pages in Chromium.

use http::StatusCode;

use crate::pages::{cookies_set, hidden, location, page, post_form};
use crate::support::app::{PASSWORD, TestApp};

/// A signed-in browser: its cookies (session and CSRF) and the page's form token.
struct Browser {
    cookies: String,
    csrf: String,
}

async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let session = app.signup(email).await.cookie();
    let (status, headers, html) = page(app, "/account", &session).await;
    assert_eq!(status, StatusCode::OK);
    Browser { cookies: format!("{session}; {}", cookies_set(&headers)), csrf: hidden(&html, "csrf_token") }
}

impl Browser {
    async fn post(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (StatusCode, http::HeaderMap, String) {
        let mut all = vec![("csrf_token", self.csrf.as_str())];
        all.extend_from_slice(fields);
        post_form(app, path, &self.cookies, &all).await
    }

    async fn get(&self, app: &TestApp, path: &str) -> (StatusCode, String) {
        let (status, _, html) = page(app, path, &self.cookies).await;
        (status, html)
    }
}

#[tokio::test]
async fn the_name_password_and_address_are_changed_from_the_account_page() {
    let app = TestApp::sqlite(&[]).await;
    let ada = signed_in(&app, "ada@example.com").await;
    let elsewhere = app.login("ada@example.com", PASSWORD).await.cookie();

    let (status, headers, _) = ada.post(&app, "/account/profile", &[("name", "Ada Lovelace")]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account?notice=profile_saved"));
    let (_, html) = ada.get(&app, "/account?notice=profile_saved").await;
    assert!(html.contains("Ada Lovelace") && html.contains("Your name is saved."), "{html}");
    let (status, _, html) = ada.post(&app, "/account/profile", &[("name", &"x".repeat(201))]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("id=\"name-error\"") && html.contains("longer than 200"),
        "the error is at its field: {html}"
    );

    // A wrong current password is shown at that field; a breached or short one at the new one.
    let (status, _, html) = ada
        .post(&app, "/account/password", &[("current_password", "wrong"), ("new_password", "a brand new passphrase")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"current_password-error\""), "{html}");
    let (status, _, html) =
        ada.post(&app, "/account/password", &[("current_password", PASSWORD), ("new_password", "short")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"new_password-error\""), "{html}");
    let (status, headers, _) = ada
        .post(
            &app,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase"),
                ("sign_out_other_sessions", "on"),
            ],
        )
        .await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account?notice=password_changed"));
    assert_eq!(
        app.get("/v1/session", Some(&elsewhere)).await.status,
        StatusCode::UNAUTHORIZED,
        "the other browser is out"
    );
    assert_eq!(app.login("ada@example.com", "a brand new passphrase").await.status, StatusCode::OK);

    // The address: a pending change is shown with a way to cancel it.
    let (status, _, html) = ada.post(&app, "/account/email", &[("new_email", "not an address")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"new_email-error\"") && html.contains("value=\"not an address\""), "{html}");
    let (status, headers, html) = ada
        .post(
            &app,
            "/account/email",
            &[("new_email", "ada@new.example.com"), ("email_password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert_eq!(location(&headers), "/account?notice=email_change_sent");
    let (_, html) = ada.get(&app, "/account").await;
    assert!(html.contains("Waiting for confirmation: ada@new.example.com"), "{html}");
    let (status, headers, _) = ada.post(&app, "/account/email/cancel", &[]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account?notice=email_change_cancelled"));
    let (_, html) = ada.get(&app, "/account").await;
    assert!(!html.contains("Waiting for confirmation"), "{html}");
    let (status, _, html) = ada.post(&app, "/account/email/cancel", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing to cancel, said on the page");
    assert!(html.contains("class=\"alert\"") && html.contains("That is no longer there."), "{html}");
    app.finish().await;
}

#[tokio::test]
async fn the_email_change_link_pages_spend_nothing_until_pressed() {
    let app = TestApp::sqlite(&[]).await;
    let ada = signed_in(&app, "ada@example.com").await;
    ada.post(&app, "/account/email", &[("new_email", "ada@new.example.com"), ("email_password", PASSWORD)]).await;
    // The link's token, as the worker would mail it: derived from the link's id.
    let link_id: String = {
        let pool = sqlx::SqlitePool::connect(&app.db.url).await.expect("connect");
        let id = sqlx::query_scalar("SELECT id FROM email_links WHERE purpose = 'email_change'")
            .fetch_one(&pool)
            .await
            .expect("link");
        pool.close().await;
        id
    };
    let token = app.app.state.services().email.link_key.token(link_id.parse().expect("uuid")).encode();
    let (status, headers, html) = page(&app, &format!("/email-change?token={token}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Use this address"), "{html}");
    let form = cookies_set(&headers);
    let csrf = hidden(&html, "csrf_token");
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, StatusCode::OK, "opening the page changed nothing");
    let (status, headers, _) =
        post_form(&app, "/email-change", &form, &[("csrf_token", &csrf), ("token", &token)]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login?notice=email_changed"));
    assert_eq!(app.login("ada@new.example.com", PASSWORD).await.status, StatusCode::OK);
    let (status, _, html) = post_form(&app, "/email-change", &form, &[("csrf_token", &csrf), ("token", &token)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Ask for the change again"), "{html}");
    let (status, _, html) = page(&app, "/email-change/undo?token=AAAA", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("unknown, expired or already used"), "{html}");
    app.finish().await;
}

#[tokio::test]
async fn a_breached_password_is_shown_at_the_signup_field() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = gatehouse_core::breached::PasswordSha1::of(
        &gatehouse_core::password::Password::new("correct horse battery staple").expect("password"),
    );
    let file = dir.path().join("corpus.txt");
    std::fs::write(&file, format!("{}:42\r\n", hash.full())).expect("write");
    let path = file.to_str().expect("utf-8");
    let app =
        TestApp::sqlite(&[("GATEHOUSE_PASSWORD_BREACHED_CHECK", "file"), ("GATEHOUSE_PASSWORD_BREACHED_FILE", path)])
            .await;
    let (_, headers, html) = page(&app, "/signup", "").await;
    let form = cookies_set(&headers);
    let csrf = hidden(&html, "csrf_token");
    let fields =
        [("csrf_token", csrf.as_str()), ("email", "ada@example.com"), ("password", "correct horse battery staple")];
    let (status, _, html) = post_form(&app, "/signup", &form, &fields).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"password-error\"") && html.contains("leaked in data breaches"), "{html}");
    app.finish().await;
}

#[tokio::test]
async fn workspaces_are_run_from_their_pages_with_the_apis_rules() {
    let app = TestApp::sqlite(&[]).await;
    let olive = signed_in(&app, "olive@example.com").await;
    let (status, headers, _) = olive.post(&app, "/account/workspaces", &[("workspace_name", "  ")]).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/account?error=validation_failed"));
    let (status, headers, _) = olive.post(&app, "/account/workspaces", &[("workspace_name", "Acme")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let at = location(&headers).to_owned();
    assert!(at.starts_with("/workspaces/") && at.ends_with("?notice=workspace_created"), "{at}");
    let ws = at.trim_start_matches("/workspaces/").split('?').next().expect("id").to_owned();
    let (status, html) = olive.get(&app, &at).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Acme") && html.contains("Invite by email address"), "{html}");
    let (_, html) = olive.get(&app, "/account").await;
    assert!(html.contains(&format!("href=\"/workspaces/{ws}\"")), "the account page lists it: {html}");

    let (status, headers, _) = olive
        .post(&app, &format!("/workspaces/{ws}/invitations"), &[("email", "pat@example.com"), ("role", "admin")])
        .await;
    assert_eq!(
        (status, location(&headers)),
        (StatusCode::SEE_OTHER, format!("/workspaces/{ws}?notice=invited").as_str())
    );
    let (_, html) = olive.get(&app, &format!("/workspaces/{ws}")).await;
    assert!(html.contains("pat@example.com"), "the pending invitation is listed: {html}");

    // A stranger sees nothing; a plain member sees the members but cannot manage them.
    let stranger = signed_in(&app, "sam@example.com").await;
    assert_eq!(stranger.get(&app, &format!("/workspaces/{ws}")).await.0, StatusCode::NOT_FOUND);
    let invitation = app.app.database.workspaces().invitations(ws.parse().expect("uuid")).await.expect("invitations");
    let pat = signed_in(&app, "pat@example.com").await;
    let token = app.app.state.services().email.link_key.token(invitation[0].id).encode();
    let (status, _, _) = pat.post(&app, "/invitation", &[("token", &token)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let members = app.app.database.workspaces().members(ws.parse().expect("uuid")).await.expect("members");
    let pat_id = members.iter().find(|m| m.email == "pat@example.com").expect("pat joined").user_id;
    let olive_id = members.iter().find(|m| m.email == "olive@example.com").expect("olive").user_id;

    // An admin may not unmake an owner; the owner may demote the admin; the last owner may not leave.
    let (_, headers, _) =
        pat.post(&app, &format!("/workspaces/{ws}/members/{olive_id}/role"), &[("role", "member")]).await;
    assert_eq!(location(&headers), format!("/workspaces/{ws}?error=insufficient_role"));
    let (_, headers, _) =
        olive.post(&app, &format!("/workspaces/{ws}/members/{pat_id}/role"), &[("role", "member")]).await;
    assert_eq!(location(&headers), format!("/workspaces/{ws}?notice=role_changed"));
    let (_, headers, _) = olive.post(&app, &format!("/workspaces/{ws}/leave"), &[]).await;
    assert_eq!(location(&headers), format!("/workspaces/{ws}?error=last_owner"));
    let (_, html) = pat.get(&app, &format!("/workspaces/{ws}")).await;
    assert!(html.contains("olive@example.com") && !html.contains("Invite by email address"), "{html}");

    // The member leaves; the owner deletes it.
    let (_, headers, _) = pat.post(&app, &format!("/workspaces/{ws}/leave"), &[]).await;
    assert_eq!(location(&headers), "/account?notice=workspace_left");
    let (_, headers, _) = pat.post(&app, &format!("/workspaces/{ws}/delete"), &[]).await;
    assert_eq!(location(&headers), format!("/workspaces/{ws}?error=not_found"));
    let (_, headers, _) = olive.post(&app, &format!("/workspaces/{ws}/delete"), &[]).await;
    assert_eq!(location(&headers), "/account?notice=workspace_deleted");
    assert_eq!(olive.get(&app, &format!("/workspaces/{ws}")).await.0, StatusCode::NOT_FOUND);
    app.finish().await;
}
