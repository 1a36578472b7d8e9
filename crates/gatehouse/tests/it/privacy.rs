//! Export and erasure, proven complete by walking the live schema on each engine: every column
//! is classified in `gatehouse_store::privacy::COLUMNS`; every row that names the person is in the
//! export, section by section; after the erasure no row names them, and their sessions end on a
//! second instance at once.

use gatehouse_core::mfa::{
    Ceremony, CeremonyKind, Passkey, RecoveryCode, SecondStep, StoredPasskey, StoredTotp, TotpFactor,
};
use gatehouse_core::oauth::{Identity, OAuthState, Pkce, ProviderName, StatePurpose};
use gatehouse_core::sessions::{AuthMethod, TokenHash};
use gatehouse_core::vault::{ConnectionStatus, SealRandom, SealedConnection, Tokens};
use gatehouse_store::privacy::{COLUMNS, Holds, classification};
use gatehouse_store::schema_walk::{columns, rows_containing, rows_naming_any};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::mail::EmailApi;
use crate::support::{TestDb, redis};

async fn apps_on(backend: &str, api: &EmailApi) -> Option<(TestApp, TestApp)> {
    let redis = if backend == "redis" { Some(redis()?) } else { None };
    let db = if backend == "postgres" { TestDb::postgres().await? } else { TestDb::sqlite() };
    let shared = db.shared();
    let mut vars: Vec<(&str, &str)> = api.env().to_vec();
    vars.push(("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "20"));
    if let Some((url, prefix)) = &redis {
        vars.extend([("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())]);
    }
    let first = TestApp::start(db, &vars).await;
    vars.push(("GATEHOUSE_DATABASE_MIGRATE_ON_START", "false"));
    let second = TestApp::start(shared, &vars).await;
    Some((first, second))
}

macro_rules! on_every_backend {
    ($($story:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $story() { super::$story("sqlite").await; })* }
        mod postgres { $(#[tokio::test] async fn $story() { super::$story("postgres").await; })* }
        mod sqlite_with_redis { $(#[tokio::test] async fn $story() { super::$story("redis").await; })* }
    };
}

on_every_backend!(export_and_erasure_cover_every_column);

/// The columns of each export section, per table.
fn sections() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let mut found: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for (table, column, holds) in COLUMNS {
        if let Holds::Person(section) = holds {
            match found.iter_mut().find(|(t, s, _)| t == table && s == section) {
                Some((_, _, columns)) => columns.push(column),
                None => found.push((table, section, vec![column])),
            }
        }
    }
    found
}

/// Puts the person in every table that can hold them.
async fn fill(app: &TestApp, ada: &str, user_id: Uuid, webhooks_key: &str) {
    let services = app.app.state.services();
    let now = services.clock.now();
    let endpoint = app
        .service(
            Method::POST,
            "/v1/webhooks/endpoints",
            webhooks_key,
            Some(json!({ "url": "http://127.0.0.1:9/hook", "event_types": ["*"] })),
        )
        .await;
    assert_eq!(endpoint.status, StatusCode::CREATED, "{:?}", endpoint.body);
    let provider = ProviderName::parse("github").expect("name");
    let identity = Identity {
        id: Uuid::new_v4(),
        user_id,
        provider: provider.clone(),
        subject: "4242".into(),
        email: Some("ada@example.com".into()),
        created_at: now,
    };
    services.oauth.identities.link_identity(&identity, None, &[], &[]).await.expect("identity");
    let id = Uuid::new_v4();
    let tokens = Tokens { access_token: "gho_access".into(), refresh_token: Some("ghr_refresh".into()) };
    let random = SealRandom { data_key: [7; 32], wrap_nonce: [8; 12], data_nonce: [9; 24] };
    let (wrapped_key, ciphertext) = services.vault.vault.seal(id, user_id, &provider, &tokens, random).expect("seal");
    let connection = SealedConnection {
        id,
        user_id,
        provider: provider.clone(),
        status: ConnectionStatus::Active,
        scopes: vec!["repo".into()],
        expires_at: None,
        has_refresh_token: true,
        wrapped_key,
        ciphertext,
        created_at: now,
        updated_at: now,
    };
    services.vault.store.put_connection(&connection, &[]).await.expect("connection");
    let state = OAuthState {
        id_hash: TokenHash([3; 32]),
        provider,
        browser_hash: TokenHash([4; 32]),
        pkce: Pkce { verifier: "v".repeat(43) },
        nonce: "n".into(),
        redirect_to: "http://127.0.0.1/".into(),
        scopes: vec![],
        purpose: StatePurpose::Link { user_id, session_id: Uuid::new_v4() },
        created_at: now,
        expires_at: now + time::Duration::minutes(10),
    };
    services.oauth.states.insert_state(&state).await.expect("state");
    // An authenticator app with its recovery codes, and a sign-in waiting for its second step.
    let factor = StoredTotp {
        factor: TotpFactor { id: Uuid::new_v4(), created_at: now, confirmed_at: None, last_used_at: None },
        user_id,
        sealed_secret: vec![1, 2, 3],
        last_step: None,
    };
    let mfa = &services.mfa.store;
    mfa.begin_totp(&factor, &[]).await.expect("totp");
    let hashes: Vec<_> = (0..10_u8).map(|i| RecoveryCode::from_random([i; 10]).hash()).collect();
    assert!(mfa.confirm_totp(user_id, factor.factor.id, 1, now, &hashes, &[], &[]).await.expect("confirm"));
    let step = SecondStep {
        id: Uuid::new_v4(),
        user_id,
        first_factor: AuthMethod::Pwd,
        return_to: None,
        user_agent: Some("test".into()),
        created_at: now,
        expires_at: now + time::Duration::minutes(5),
        failures: 0,
    };
    mfa.create_step(&step, &TokenHash([6; 32])).await.expect("step");
    // A passkey, and another being added.
    let passkey = StoredPasskey {
        passkey: Passkey {
            id: Uuid::new_v4(),
            name: "Laptop".into(),
            backup_eligible: true,
            backed_up: false,
            created_at: now,
            last_used_at: None,
        },
        user_id,
        credential_id: vec![7; 32],
        static_state: vec![1],
        dynamic_state: vec![0; 7],
        transports: 0,
    };
    mfa.add_passkey(&passkey, &[], &[], &[]).await.expect("passkey");
    let ceremony = Ceremony {
        challenge: vec![8; 16],
        kind: CeremonyKind::Register,
        user_id: Some(user_id),
        state: vec![1, 2],
        expires_at: now + time::Duration::minutes(5),
    };
    mfa.create_ceremony(&ceremony).await.expect("ceremony");
    // A workspace of their own, an invitation they sent, one sent to them, and a workspace they
    // are a member of.
    let own = app.post_json("/v1/workspaces", Some(ada), json!({ "name": "Ada's" })).await.body["id"].clone();
    let sent = app
        .post_json(
            &format!("/v1/workspaces/{}/invitations", own.as_str().expect("id")),
            Some(ada),
            json!({ "email": "bob@example.com" }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED);
    let grace = app.signup("grace@example.com").await.cookie();
    let theirs = app.post_json("/v1/workspaces", Some(&grace), json!({ "name": "Grace's" })).await.body["id"].clone();
    let invited = app
        .post_json(
            &format!("/v1/workspaces/{}/invitations", theirs.as_str().expect("id")),
            Some(&grace),
            json!({ "email": "ADA@example.com" }),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED);
}

async fn export_and_erasure_cover_every_column(backend: &str) {
    let api = EmailApi::start().await;
    let Some((mut app, other)) = apps_on(backend, &api).await else { return };
    let database = &app.app.database.clone();

    // Every column of the live schema is classified, and nothing classified is missing from it.
    let live = columns(database).await.expect("columns");
    let unclassified: Vec<_> = live.iter().filter(|(t, c)| classification(t, c).is_none()).collect();
    assert!(unclassified.is_empty(), "classify these in gatehouse_store::privacy::COLUMNS: {unclassified:?}");
    for (table, column, _) in COLUMNS {
        assert!(live.iter().any(|(t, c)| t == table && c == column), "{table}.{column} is not in the schema");
    }

    let signup = app.signup("Ada@Example.com").await;
    let ada = signup.cookie();
    let user_id: Uuid = signup.body["user"]["id"].as_str().expect("id").parse().expect("uuid");
    app.login("ada@example.com", PASSWORD).await;
    let key = app.service_key(&["webhooks"]).await;
    fill(&app, &ada, user_id, &key).await;
    app.post_json("/v1/password/forgot", None, json!({ "email": "ada@example.com" })).await;
    // The worker fans the events out into deliveries, then stops, so what follows is still.
    app.run_jobs();
    for _ in 0..200 {
        if gatehouse_store::schema_walk::count_rows(database, "webhook_deliveries").await.expect("count") >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    app.stop_jobs().await;
    let (id, email) = (user_id.to_string(), "ada@example.com".to_owned());

    let export = app.get("/v1/me/export", Some(&ada)).await;
    assert_eq!(export.status, StatusCode::OK, "{:?}", export.body);
    assert!(export.headers["content-disposition"].to_str().expect("ascii").starts_with("attachment"));
    assert_eq!(
        (export.body["format"].as_str(), export.body["version"].as_u64()),
        (Some("gatehouse.personal_data"), Some(1))
    );
    let text = export.body.to_string();
    for secret in ["gho_access", "ghr_refresh", "password_hash", "$argon2"] {
        assert!(!text.contains(secret), "the export holds no secret ({secret})");
    }
    assert_eq!(export.body["user"]["has_password"], true);

    // Every row that names the person is in the export, section by section; and a column said to
    // hold nothing about a person holds neither their id nor their address.
    for (table, column) in &live {
        if let Some(Holds::Nothing(reason)) = classification(table, column) {
            for needle in [&id, &email] {
                let found = rows_containing(database, table, &[column], &[needle]).await.expect("walk");
                assert_eq!(
                    found, 0,
                    "{table}.{column} is classified as holding nothing ({reason}) but names the person"
                );
            }
        }
    }
    for (table, section, section_columns) in sections() {
        let both = rows_naming_any(database, table, &section_columns, &[&id, &email]).await.expect("walk");
        let exported = match &export.body[section] {
            Value::Array(items) => i64::try_from(items.len()).expect("len"),
            Value::Object(_) => 1,
            other => panic!("section {section} is {other:?}"),
        };
        assert!(both > 0, "the fill put the person in {table} ({section})");
        assert_eq!(exported, both, "{table} has {both} rows naming the person; the export's {section} has {exported}");
    }

    // Erasure: reauthentication first, then the person is gone from every row on both instances.
    assert_eq!(
        other.get("/v1/session", Some(&ada)).await.status,
        StatusCode::OK,
        "the second instance knows the session"
    );
    // Past the 5 minutes after sign-in, the password is asked for.
    app.advance(std::time::Duration::from_secs(6 * 60));
    let wrong = app.call_json(Method::DELETE, "/v1/me", &ada, Some(json!({ "password": "not it" }))).await;
    assert_eq!((wrong.status, wrong.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("reauthentication_required")));
    let missing = app.call_json(Method::DELETE, "/v1/me", &ada, None).await;
    assert_eq!(missing.body["code"], "reauthentication_required");
    let erased = app.call_json(Method::DELETE, "/v1/me", &ada, Some(json!({ "password": PASSWORD }))).await;
    assert_eq!(erased.status, StatusCode::NO_CONTENT, "{:?}", erased.body);
    assert!(erased.headers["set-cookie"].to_str().expect("ascii").contains("Max-Age=0"));
    assert_eq!(app.get("/v1/session", Some(&ada)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        other.session_status_after_change(&ada, StatusCode::UNAUTHORIZED).await,
        StatusCode::UNAUTHORIZED,
        "ended everywhere within the bound"
    );
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);

    for (table, column) in &live {
        let by_email = rows_containing(database, table, &[column], &[&email]).await.expect("walk");
        assert_eq!(by_email, 0, "{table}.{column} still holds the address after erasure");
        let by_id = rows_containing(database, table, &[column], &[&id]).await.expect("walk");
        // The one thing that names them: the user.deleted event telling the app which account went.
        let notice = rows_containing(database, table, &[column], &[&id, "user.deleted"]).await.expect("walk");
        assert_eq!(by_id, notice, "{table}.{column} still holds the id after erasure");
        assert!(notice == 0 || (table == "jobs" && column == "payload"), "{table}.{column}");
    }
    let revocations = gatehouse_store::schema_walk::count_rows(database, "vault_revocations").await.expect("count");
    assert_eq!(revocations, 1, "the vault tokens wait, unlinked, for their revocation job");
    let audit = app.app.state.services().audit.recent(500).await.expect("audit");
    let tombstone = audit.iter().find(|event| event.action == "user.erased").expect("a tombstone");
    let subject = app.app.state.services().tombstones.subject(user_id);
    assert_eq!(tombstone.target.as_deref(), Some(format!("subject:{subject}").as_str()));
    assert_eq!(
        (tombstone.actor_kind.as_str(), tombstone.actor_id, tombstone.ip.as_deref()),
        ("erased_user", None, None)
    );
    // Grace's workspace stays; Ada's own, where she was alone, went with her.
    let grace = app.login("grace@example.com", PASSWORD).await.cookie();
    assert_eq!(app.get("/v1/workspaces", Some(&grace)).await.body["workspaces"].as_array().map(Vec::len), Some(1));
    other.finish().await;
    app.finish().await;
}

/// The last owner of a workspace with other members cannot erase their account; a pending
/// invitation is not a member: it does not block, and goes with the workspace.
#[tokio::test]
async fn the_last_owner_cannot_erase_their_account() {
    let app = TestApp::sqlite(&[]).await;
    let services = app.app.state.services();
    let olive = app.signup("olive@example.com").await.cookie();
    let pat = app.signup("pat@example.com").await;
    let pat_id: Uuid = pat.body["user"]["id"].as_str().expect("id").parse().expect("uuid");
    let created = app.post_json("/v1/workspaces", Some(&olive), json!({ "name": "Olive's" })).await;
    let ws = format!("/v1/workspaces/{}", created.body["id"].as_str().expect("id"));
    let invited =
        app.post_json(&format!("{ws}/invitations"), Some(&olive), json!({ "email": "pat@example.com" })).await;
    let invitation: Uuid = invited.body["id"].as_str().expect("id").parse().expect("uuid");
    // Pat joins as acceptance does (the HTTP route also wants a verified address).
    let hash = services.email.link_key.token(invitation).hash();
    let now = services.clock.now();
    let joined =
        services.workspaces.accept_invitation(&hash, pat_id, "pat@example.com", now, &[], &[]).await.expect("accept");
    assert!(matches!(joined, gatehouse_core::workspaces::Acceptance::Joined(_)));

    let blocked = app.call_json(Method::DELETE, "/v1/me", &olive, Some(json!({ "password": PASSWORD }))).await;
    assert_eq!(
        (blocked.status, blocked.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("last_owner")),
        "{:?}",
        blocked.body
    );
    assert_eq!(app.get("/v1/session", Some(&olive)).await.status, StatusCode::OK, "nothing was erased");
    let promoted =
        app.call_json(Method::PATCH, &format!("{ws}/members/{pat_id}"), &olive, Some(json!({ "role": "owner" }))).await;
    assert_eq!(promoted.status, StatusCode::OK);
    let erased = app.call_json(Method::DELETE, "/v1/me", &olive, Some(json!({ "password": PASSWORD }))).await;
    assert_eq!(erased.status, StatusCode::NO_CONTENT, "{:?}", erased.body);
    assert_eq!(app.get(&ws, Some(&pat.cookie())).await.body["members"], 1, "the workspace stays with Pat");

    // Alone in a workspace with a pending invitation: the account goes, and the workspace with it.
    let quinn = app.signup("quinn@example.com").await.cookie();
    let alone = app.post_json("/v1/workspaces", Some(&quinn), json!({ "name": "Quinn's" })).await;
    let alone_ws = format!("/v1/workspaces/{}", alone.body["id"].as_str().expect("id"));
    app.post_json(&format!("{alone_ws}/invitations"), Some(&quinn), json!({ "email": "rob@example.com" })).await;
    let gone = app.call_json(Method::DELETE, "/v1/me", &quinn, Some(json!({ "password": PASSWORD }))).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{:?}", gone.body);
    let left =
        gatehouse_store::schema_walk::count_rows(&app.app.database, "workspace_invitations").await.expect("count");
    assert_eq!(left, 0, "the pending invitation went with its workspace");
    app.finish().await;
}

/// An account without a password confirms its erasure by a recent sign-in: within 5 minutes of
/// it, not after.
#[tokio::test]
async fn an_account_without_a_password_is_erased_only_right_after_signing_in() {
    let app = TestApp::sqlite(&[]).await;
    let key = app.service_key(&["admin"]).await;
    let created =
        app.service(Method::POST, "/v1/admin/users", &key, Some(json!({ "email": "nopass@example.com" }))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let user_id: Uuid = created.body["id"].as_str().expect("id").parse().expect("uuid");
    let sign_in = || async {
        let client = gatehouse_core::sessions::ClientContext::default();
        let (new, token) = gatehouse_http::sessions::new_session(
            &app.app.state,
            user_id,
            &client,
            &[gatehouse_core::sessions::AuthMethod::Pwd],
        )
        .expect("session");
        app.app.state.services().sessions.create_session(&new, &[], &[]).await.expect("store");
        format!("{}={}", app.app.config.session.cookie_name, token.encode())
    };
    let old = sign_in().await;
    app.advance(std::time::Duration::from_secs(6 * 60));
    let stale = app.call_json(Method::DELETE, "/v1/me", &old, None).await;
    assert_eq!((stale.status, stale.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("reauthentication_required")));
    let fresh = sign_in().await;
    let erased = app.call_json(Method::DELETE, "/v1/me", &fresh, None).await;
    assert_eq!(erased.status, StatusCode::NO_CONTENT, "{:?}", erased.body);
    app.finish().await;
}
