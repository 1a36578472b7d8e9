//! A small fake of GitHub's OAuth endpoints and user API, on loopback, for the GitHub flow and
//! the vault: it checks PKCE and the client's credentials like GitHub does, issues expiring
//! tokens with rotating refresh tokens (as GitHub Apps do), and counts refresh calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};
use sha2::Digest as _;

pub const CLIENT_ID: &str = "gh-client";
pub const CLIENT_SECRET: &str = "gh-client-secret-for-tests";

/// How the refresh grant answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshMode {
    Rotate,
    InvalidGrant,
    Down,
}

#[derive(Debug)]
pub struct Fake {
    /// Pending codes: code → (PKCE challenge, redirect URI).
    codes: Mutex<HashMap<String, (String, String)>>,
    /// The one refresh token that works now; each refresh replaces it.
    refresh_token: Mutex<Option<String>>,
    access_tokens: Mutex<Vec<String>>,
    issued: AtomicU64,
    pub refresh_calls: AtomicU64,
    pub refresh_mode: Mutex<RefreshMode>,
    /// `expires_in` of issued access tokens.
    pub expires_in: Mutex<i64>,
    pub emails: Mutex<Value>,
    pub user_id: Mutex<u64>,
}

#[derive(Debug, Clone)]
pub struct FakeGithub {
    pub base: String,
    pub state: Arc<Fake>,
}

impl FakeGithub {
    pub async fn start() -> Self {
        let state = Arc::new(Fake {
            codes: Mutex::default(),
            refresh_token: Mutex::default(),
            access_tokens: Mutex::default(),
            issued: AtomicU64::new(0),
            refresh_calls: AtomicU64::new(0),
            refresh_mode: Mutex::new(RefreshMode::Rotate),
            expires_in: Mutex::new(28_800),
            emails: Mutex::new(json!([
                { "email": "octo@old.example.com", "primary": false, "verified": true },
                { "email": "Octo@Example.com", "primary": true, "verified": true },
            ])),
            user_id: Mutex::new(4242),
        });
        let router = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(token))
            .route("/api/user", get(user))
            .route("/api/user/emails", get(emails))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, state }
    }

    /// `GATEHOUSE_OAUTH_PROVIDERS` for a `github` provider on this fake, keeping `repo` tokens.
    pub fn provider_toml(&self) -> String {
        format!(
            "github = {{ kind = \"github\", client_id = \"{CLIENT_ID}\", client_secret = \"{CLIENT_SECRET}\", \
             scopes = [\"repo\"], authorize_url = \"{0}/login/oauth/authorize\", \
             token_url = \"{0}/login/oauth/access_token\", api_url = \"{0}/api\" }}\n",
            self.base
        )
    }

    pub fn refreshes(&self) -> u64 {
        self.state.refresh_calls.load(Ordering::SeqCst)
    }

    pub fn set_refresh(&self, mode: RefreshMode) {
        *self.state.refresh_mode.lock().expect("mode") = mode;
    }
}

async fn authorize(State(fake): State<Arc<Fake>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let (Some(redirect), Some(state), Some(challenge)) =
        (query.get("redirect_uri"), query.get("state"), query.get("code_challenge"))
    else {
        return (StatusCode::BAD_REQUEST, "redirect_uri, state and code_challenge are required").into_response();
    };
    if query.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || query.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "wrong client or PKCE method").into_response();
    }
    let code = format!("code-{}", fake.issued.fetch_add(1, Ordering::SeqCst));
    fake.codes.lock().expect("codes").insert(code.clone(), (challenge.clone(), redirect.clone()));
    let mut target = url::Url::parse(redirect).expect("redirect URI");
    target.query_pairs_mut().append_pair("code", &code).append_pair("state", state);
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

fn issue(fake: &Fake) -> Value {
    let n = fake.issued.fetch_add(1, Ordering::SeqCst);
    let (access, refresh) = (format!("gho_access_{n}"), format!("ghr_refresh_{n}"));
    fake.access_tokens.lock().expect("tokens").push(access.clone());
    *fake.refresh_token.lock().expect("refresh") = Some(refresh.clone());
    let expires_in = *fake.expires_in.lock().expect("expiry");
    json!({ "access_token": access, "token_type": "bearer", "scope": "repo,read:user,user:email",
            "expires_in": expires_in, "refresh_token": refresh, "refresh_token_expires_in": 15_897_600 })
}

async fn token(State(fake): State<Arc<Fake>>, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return axum::Json(json!({ "error": "incorrect_client_credentials" })).into_response();
    }
    match field("grant_type") {
        "authorization_code" => {
            let Some((challenge, redirect)) = fake.codes.lock().expect("codes").remove(field("code")) else {
                return axum::Json(json!({ "error": "bad_verification_code" })).into_response();
            };
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(field("code_verifier").as_bytes()));
            if computed != challenge || redirect != field("redirect_uri") {
                return axum::Json(json!({ "error": "bad_verification_code" })).into_response();
            }
            axum::Json(issue(&fake)).into_response()
        }
        "refresh_token" => {
            fake.refresh_calls.fetch_add(1, Ordering::SeqCst);
            // Long enough for every concurrent request to be waiting on this one.
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            match *fake.refresh_mode.lock().expect("mode") {
                RefreshMode::Down => return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
                RefreshMode::InvalidGrant => {
                    return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "invalid_grant" }))).into_response();
                }
                RefreshMode::Rotate => {}
            }
            let current = fake.refresh_token.lock().expect("refresh").clone();
            if current.as_deref() != Some(field("refresh_token")) {
                // GitHub's answer to a refresh token spent already.
                return axum::Json(json!({ "error": "bad_refresh_token" })).into_response();
            }
            axum::Json(issue(&fake)).into_response()
        }
        _ => axum::Json(json!({ "error": "unsupported_grant_type" })).into_response(),
    }
}

fn authorized(fake: &Fake, headers: &HeaderMap) -> bool {
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    token.is_some_and(|token| fake.access_tokens.lock().expect("tokens").iter().any(|t| t == token))
}

async fn user(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    if !authorized(&fake, &headers) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "message": "Bad credentials" }))).into_response();
    }
    let id = *fake.user_id.lock().expect("user id");
    axum::Json(json!({ "id": id, "login": "octocat", "name": "Octo Cat" })).into_response()
}

async fn emails(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    if !authorized(&fake, &headers) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "message": "Bad credentials" }))).into_response();
    }
    axum::Json(fake.emails.lock().expect("emails").clone()).into_response()
}
