//! Workspaces end to end: every role rule, the last-owner rule, invitations mailed by the real
//! worker and accepted by the invited address only, and the active workspace carried by the
//! session, access tokens and forward-auth, changing on the next request after a role change.

use base64::Engine as _;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{Reply, TestApp};
use crate::support::mail::EmailApi;
use crate::support::{TestDb, redis};

pub(crate) const FAST_JOBS: &[(&str, &str)] = &[("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "20")];

async fn app_on(backend: &str, api: &EmailApi) -> Option<TestApp> {
    let redis = if backend == "redis" { Some(redis()?) } else { None };
    let db = if backend == "postgres" { TestDb::postgres().await? } else { TestDb::sqlite() };
    let mut vars: Vec<(&str, &str)> = api.env().to_vec();
    vars.extend_from_slice(FAST_JOBS);
    vars.push(("GATEHOUSE_FORWARD_AUTH_RULES", r#"[{ host = "admin.test", require = "role:admin" }]"#));
    vars.push(("GATEHOUSE_SERVER_TRUSTED_PROXIES", "127.0.0.1/32"));
    if let Some((url, prefix)) = &redis {
        vars.extend([("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())]);
    }
    let mut app = TestApp::start(db, &vars).await;
    app.run_jobs();
    Some(app)
}

macro_rules! on_every_backend {
    ($($story:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $story() { super::$story("sqlite").await; })* }
        mod postgres { $(#[tokio::test] async fn $story() { super::$story("postgres").await; })* }
        mod sqlite_with_redis { $(#[tokio::test] async fn $story() { super::$story("redis").await; })* }
    };
}

on_every_backend!(roles_invitations_and_the_last_owner);

/// Emails arrive in the order the worker sends them; this waits for the one to `to` about
/// `subject_part`, keeping the others for later calls.
pub(crate) struct Inbox<'a> {
    pub(crate) api: &'a EmailApi,
    pub(crate) kept: Vec<crate::support::mail::ApiRequest>,
}

impl Inbox<'_> {
    pub(crate) async fn token(&mut self, to: &str, subject_part: &str) -> String {
        let matches = |email: &crate::support::mail::ApiRequest| {
            email.body["to"] == json!([to]) && email.body["subject"].as_str().is_some_and(|s| s.contains(subject_part))
        };
        loop {
            if let Some(index) = self.kept.iter().position(matches) {
                return self.kept.remove(index).token();
            }
            self.kept.push(self.api.next().await);
        }
    }
}

/// Signs up `email`, verifies it through its emailed link, and returns the session cookie.
pub(crate) async fn verified(app: &TestApp, inbox: &mut Inbox<'_>, email: &str) -> String {
    let signup = app.signup(email).await;
    assert_eq!(signup.status, StatusCode::CREATED, "{:?}", signup.body);
    let token = inbox.token(email, "Confirm").await;
    let verify = app.post_json("/v1/email/verify", None, json!({ "token": token })).await;
    assert_eq!(verify.status, StatusCode::OK, "{:?}", verify.body);
    signup.cookie()
}

fn code(reply: &Reply) -> (StatusCode, Option<&str>) {
    (reply.status, reply.body["code"].as_str())
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64"))
        .expect("claims")
}

async fn forward_auth(app: &TestApp, cookie: &str) -> Reply {
    let request = http::Request::get("/v1/forward-auth")
        .header("x-forwarded-host", "admin.test")
        .header("x-forwarded-uri", "/")
        .header("x-forwarded-proto", "https")
        .header(http::header::COOKIE, cookie)
        .header(http::header::ACCEPT, "application/json")
        .body(axum::body::Body::empty())
        .expect("request");
    let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let router = app.app.router.clone().layer(axum::extract::connect_info::MockConnectInfo(peer));
    let (status, headers, body) = crate::support::call(&router, request).await;
    let body = if body.is_empty() { Value::Null } else { crate::support::json(&body) };
    Reply { status, headers, body }
}

async fn roles_invitations_and_the_last_owner(backend: &str) {
    let api = EmailApi::start().await;
    let Some(app) = app_on(backend, &api).await else { return };
    let mut inbox = Inbox { api: &api, kept: Vec::new() };
    let ada = verified(&app, &mut inbox, "ada@example.com").await;

    let created = app.post_json("/v1/workspaces", Some(&ada), json!({ "name": "  Acme  " })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!((created.body["name"].as_str(), created.body["members"].as_u64()), (Some("Acme"), Some(1)));
    let id = created.body["id"].as_str().expect("id").to_owned();
    let ws = format!("/v1/workspaces/{id}");
    let mine = app.get("/v1/workspaces", Some(&ada)).await;
    assert_eq!(mine.body["workspaces"][0]["role"], "owner");
    let blank = app.post_json("/v1/workspaces", Some(&ada), json!({ "name": " " })).await;
    assert_eq!(code(&blank), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")));

    // Invitations: mailed, for the invited address only, verified, once.
    let invited = app
        .post_json(&format!("{ws}/invitations"), Some(&ada), json!({ "email": "Bob@Example.com", "role": "admin" }))
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    assert_eq!(
        (invited.body["role"].as_str(), invited.body["email"].as_str()),
        (Some("admin"), Some("Bob@Example.com"))
    );
    assert!(invited.body.get("token").is_none(), "the token is only in the email");
    let bob_signup = app.signup("bob@example.com").await;
    let bob = bob_signup.cookie();
    let invitation = inbox.token("Bob@Example.com", "invited to join Acme").await;
    let carol = verified(&app, &mut inbox, "carol@example.com").await;
    let stolen = app.post_json("/v1/invitations/accept", Some(&carol), json!({ "token": invitation })).await;
    assert_eq!(code(&stolen), (StatusCode::FORBIDDEN, Some("invitation_email_mismatch")));
    // Bob never followed his confirmation link: reading the invitation at his address proves it.
    assert_eq!(app.get("/v1/session", Some(&bob)).await.body["user"]["email_verified"], false);
    let accepted = app.post_json("/v1/invitations/accept", Some(&bob), json!({ "token": invitation })).await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    let bob_now = app.get("/v1/session", Some(&bob)).await;
    assert_eq!(bob_now.body["user"]["email_verified"], true, "accepting verified the address: {:?}", bob_now.body);
    assert_eq!((accepted.body["role"].as_str(), accepted.body["name"].as_str()), (Some("admin"), Some("Acme")));
    let twice = app.post_json("/v1/invitations/accept", Some(&bob), json!({ "token": invitation })).await;
    assert_eq!(code(&twice), (StatusCode::BAD_REQUEST, Some("invitation_invalid")));
    let forged = app.post_json("/v1/invitations/accept", Some(&bob), json!({ "token": "A".repeat(43) })).await;
    assert_eq!(code(&forged), (StatusCode::BAD_REQUEST, Some("invitation_invalid")));

    // An admin invites members and admins, never owners.
    let as_owner = app
        .post_json(&format!("{ws}/invitations"), Some(&bob), json!({ "email": "carol@example.com", "role": "owner" }))
        .await;
    assert_eq!(code(&as_owner), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    let carol_invited =
        app.post_json(&format!("{ws}/invitations"), Some(&bob), json!({ "email": "carol@example.com" })).await;
    assert_eq!(carol_invited.status, StatusCode::CREATED);
    let pending = app.get(&format!("{ws}/invitations"), Some(&ada)).await;
    assert_eq!(pending.body["invitations"].as_array().map(Vec::len), Some(1), "{:?}", pending.body);
    let invitation = inbox.token("carol@example.com", "invited to join Acme").await;
    let joined = app.post_json("/v1/invitations/accept", Some(&carol), json!({ "token": invitation })).await;
    assert_eq!(joined.body["role"], "member");
    let ids = app.get(&format!("{ws}/members"), Some(&carol)).await;
    assert_eq!(ids.status, StatusCode::OK, "members read the member list");
    let member_id = |email: &str| {
        ids.body["members"].as_array().expect("members").iter().find(|m| m["email"] == email).expect("member")["user_id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (ada_id, bob_id, carol_id) =
        (member_id("ada@example.com"), member_id("bob@example.com"), member_id("carol@example.com"));
    let member = |id: &str| format!("{ws}/members/{id}");

    // Members read; admins manage below owner; owners manage everything.
    let rename = app.call_json(Method::PATCH, &ws, &carol, Some(json!({ "name": "Mine" }))).await;
    assert_eq!(code(&rename), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    let invite = app.post_json(&format!("{ws}/invitations"), Some(&carol), json!({ "email": "x@example.com" })).await;
    assert_eq!(code(&invite), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    assert_eq!(code(&app.delete(&member(&bob_id), &carol).await), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    assert_eq!(code(&app.get(&format!("{ws}/invitations"), Some(&carol)).await).1, Some("insufficient_role"));
    let demote_owner = app.call_json(Method::PATCH, &member(&ada_id), &bob, Some(json!({ "role": "member" }))).await;
    assert_eq!(code(&demote_owner), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    assert_eq!(code(&app.delete(&member(&ada_id), &bob).await), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    assert_eq!(code(&app.delete(&ws, &bob).await), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    let renamed = app.call_json(Method::PATCH, &ws, &bob, Some(json!({ "name": "Acme Inc" }))).await;
    assert_eq!((renamed.status, renamed.body["name"].as_str()), (StatusCode::OK, Some("Acme Inc")));
    let bad_role = app.call_json(Method::PATCH, &member(&carol_id), &bob, Some(json!({ "role": "root" }))).await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The active workspace: in the session, in access tokens and in forward-auth.
    let outsider = verified(&app, &mut inbox, "dave@example.com").await;
    assert_eq!(code(&app.get(&ws, Some(&outsider)).await), (StatusCode::NOT_FOUND, Some("not_found")));
    let not_member = app.post_json("/v1/session/workspace", Some(&outsider), json!({ "workspace_id": id })).await;
    assert_eq!(code(&not_member), (StatusCode::NOT_FOUND, Some("not_found")));
    assert_eq!(app.get("/v1/session", Some(&carol)).await.body.get("workspace"), None);
    assert_eq!(forward_auth(&app, &carol).await.status, StatusCode::FORBIDDEN, "no active workspace");
    let switched = app.post_json("/v1/session/workspace", Some(&carol), json!({ "workspace_id": id })).await;
    assert_eq!(switched.body["workspace"], json!({ "id": id, "role": "member" }));
    assert_eq!(app.get("/v1/session", Some(&carol)).await.body["workspace"]["role"], "member");
    assert_eq!(forward_auth(&app, &carol).await.status, StatusCode::FORBIDDEN, "a member is not an admin");

    let promoted = app.call_json(Method::PATCH, &member(&carol_id), &bob, Some(json!({ "role": "admin" }))).await;
    assert_eq!(promoted.body["role"], "admin", "{:?}", promoted.body);
    // The next request everywhere sees it: the cached session's snapshot was dropped.
    assert_eq!(app.get("/v1/session", Some(&carol)).await.body["workspace"]["role"], "admin");
    let allowed = forward_auth(&app, &carol).await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.headers["remote-groups"], "admin");
    assert_eq!(allowed.headers["x-gatehouse-workspace"], id.as_str());
    let token = app.post_json("/v1/token", Some(&carol), json!({})).await;
    let claims = claims(token.body["access_token"].as_str().expect("token"));
    assert_eq!((claims["wid"].as_str(), claims["role"].as_str()), (Some(id.as_str()), Some("admin")));

    // The last owner: cannot leave, be demoted or removed while others remain.
    assert_eq!(code(&app.delete(&member(&ada_id), &ada).await), (StatusCode::CONFLICT, Some("last_owner")));
    let self_demote = app.call_json(Method::PATCH, &member(&ada_id), &ada, Some(json!({ "role": "admin" }))).await;
    assert_eq!(code(&self_demote), (StatusCode::CONFLICT, Some("last_owner")));
    assert!(self_demote.body["detail"].as_str().is_some_and(|d| d.contains("delete the workspace")));
    let to_owner = app.call_json(Method::PATCH, &member(&bob_id), &ada, Some(json!({ "role": "owner" }))).await;
    assert_eq!(to_owner.body["role"], "owner");
    // With two owners, one may go.
    assert_eq!(app.delete(&member(&ada_id), &ada).await.status, StatusCode::NO_CONTENT, "ada leaves");
    assert_eq!(code(&app.get(&ws, Some(&ada)).await).1, Some("not_found"));
    assert_eq!(code(&app.delete(&member(&bob_id), &bob).await), (StatusCode::CONFLICT, Some("last_owner")));

    // Removal takes the role from the removed member's session at once.
    assert_eq!(app.delete(&member(&carol_id), &bob).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/session", Some(&carol)).await.body.get("workspace"), None);
    assert_eq!(forward_auth(&app, &carol).await.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&app.delete(&member(&carol_id), &bob).await).1, Some("not_found"));

    // Deleting takes the pending invitations with it.
    let pending = app.post_json(&format!("{ws}/invitations"), Some(&bob), json!({ "email": "erin@example.com" })).await;
    let pending_id = pending.body["id"].as_str().expect("id").to_owned();
    let withdrawn = app.delete(&format!("{ws}/invitations/{pending_id}"), &bob).await;
    assert_eq!(withdrawn.status, StatusCode::NO_CONTENT);
    app.post_json(&format!("{ws}/invitations"), Some(&bob), json!({ "email": "erin@example.com" })).await;
    assert_eq!(app.delete(&ws, &bob).await.status, StatusCode::NO_CONTENT);
    assert_eq!(code(&app.get(&ws, Some(&bob)).await).1, Some("not_found"));
    let invitations = gatehouse_store::schema_walk::count_rows(&app.app.database, "workspace_invitations").await;
    let invitations = invitations.expect("count");
    assert_eq!(invitations, 0);

    let actions: Vec<String> =
        app.app.state.services().audit.recent(200).await.expect("audit").into_iter().map(|e| e.action).collect();
    for action in [
        "workspace.created",
        "invitation.created",
        "member.added",
        "member.role_changed",
        "member.removed",
        "invitation.revoked",
        "workspace.deleted",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
    app.finish().await;
}
