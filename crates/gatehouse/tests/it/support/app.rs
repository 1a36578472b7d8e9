//! An in-process Gatehouse on a test database, with helpers for the account flows.

use std::sync::Arc;

use axum::body::Body;
use gatehouse_core::clock::{Clock, FrozenClock};
use http::{HeaderMap, StatusCode, header};
use time::OffsetDateTime;

use super::{TestDb, call, config_for, json};

/// Cheap argon2 parameters: the flows are under test here, not the hash cost.
pub const FAST_HASHING: &[(&str, &str)] =
    &[("GATEHOUSE_PASSWORD_ARGON2_MEMORY_KIB", "64"), ("GATEHOUSE_PASSWORD_ARGON2_ITERATIONS", "1")];

pub const PASSWORD: &str = "a long and unusual passphrase";

#[derive(Debug)]
pub struct TestApp {
    pub app: gatehouse::app::App,
    pub clock: Arc<FrozenClock>,
    pub db: TestDb,
    /// CSRF tokens fetched per session cookie, kept like a frontend keeps them.
    csrf: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// The job worker, once [`TestApp::run_jobs`] started it.
    worker: Option<(tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

impl Reply {
    /// The `name=value` pair of the `Set-Cookie` header, to send back as `Cookie`.
    pub fn cookie(&self) -> String {
        let set = self.set_cookie();
        set.split(';').next().expect("cookie pair").to_owned()
    }

    pub fn set_cookie(&self) -> String {
        self.headers.get(header::SET_COOKIE).expect("Set-Cookie").to_str().expect("ascii").to_owned()
    }
}

impl TestApp {
    pub async fn start(db: TestDb, extra: &[(&str, &str)]) -> Self {
        let mut vars: Vec<(&str, &str)> = FAST_HASHING.to_vec();
        vars.extend_from_slice(extra);
        let clock = Arc::new(FrozenClock::at(OffsetDateTime::now_utc()));
        let app = gatehouse::app::build_with_clock(config_for(&db.url, &vars), clock.clone() as Arc<dyn Clock>)
            .await
            .expect("app builds");
        Self { app, clock, db, csrf: std::sync::Mutex::default(), worker: None }
    }

    pub async fn sqlite(extra: &[(&str, &str)]) -> Self {
        Self::start(TestDb::sqlite(), extra).await
    }

    pub async fn send(&self, request: http::Request<Body>) -> Reply {
        let (status, headers, body) = call(&self.app.router, request).await;
        let body = if body.is_empty() { serde_json::Value::Null } else { json(&body) };
        Reply { status, headers, body }
    }

    /// This app's origin, as a browser on its pages would send it.
    pub fn origin(&self) -> String {
        self.app.config.public_url.origin().ascii_serialization()
    }

    /// The request builder with what a frontend adds for a signed-in unsafe request.
    pub async fn signed(&self, builder: http::request::Builder, cookie: &str) -> http::request::Builder {
        let cached = self.csrf.lock().expect("csrf cache").get(cookie).cloned();
        let token = match cached {
            Some(token) => Some(token),
            None => {
                let fetched = super::csrf_token(&self.app.router, cookie).await;
                if let Some(token) = &fetched {
                    self.csrf.lock().expect("csrf cache").insert(cookie.to_owned(), token.clone());
                }
                fetched
            }
        };
        super::with_csrf(builder, cookie, token.as_deref(), &self.origin())
    }

    pub async fn post_json(&self, path: &str, cookie: Option<&str>, body: serde_json::Value) -> Reply {
        let mut request = http::Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(cookie) = cookie {
            request = self.signed(request, cookie).await;
        }
        self.send(request.body(Body::from(body.to_string())).expect("request")).await
    }

    /// A signed-in JSON call with any method (`PATCH`, `DELETE` with a body, …).
    pub async fn call_json(
        &self,
        method: http::Method,
        path: &str,
        cookie: &str,
        body: Option<serde_json::Value>,
    ) -> Reply {
        let request = self.signed(http::Request::builder().method(method).uri(path), cookie).await;
        let request = match body {
            Some(body) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.expect("request")).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = http::Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).expect("request")).await
    }

    /// The status this instance answers for `cookie` once a change made elsewhere reached it, or
    /// the last one after the coherence bound (250 ms): instances follow the SQL invalidation log.
    pub async fn session_status_after_change(&self, cookie: &str, expected: StatusCode) -> StatusCode {
        let started = std::time::Instant::now();
        loop {
            let status = self.get("/v1/session", Some(cookie)).await.status;
            if status == expected || started.elapsed() > std::time::Duration::from_millis(250) {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    pub async fn delete(&self, path: &str, cookie: &str) -> Reply {
        let request = self.signed(http::Request::delete(path), cookie).await;
        self.send(request.body(Body::empty()).expect("request")).await
    }

    /// Signs up and returns the reply (201 expected by callers that need the cookie).
    pub async fn signup(&self, email: &str) -> Reply {
        self.post_json("/v1/signup", None, serde_json::json!({ "email": email, "password": PASSWORD })).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post_json("/v1/login", None, serde_json::json!({ "email": email, "password": password })).await
    }

    /// A service API key with `scopes`, stored directly.
    pub async fn service_key(&self, scopes: &[&str]) -> String {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).expect("OS randomness");
        let secret = gatehouse_core::api_keys::ApiKeySecret::from_random(bytes);
        let key = gatehouse_core::api_keys::ApiKey {
            id: uuid::Uuid::new_v4(),
            name: "test".into(),
            prefix: secret.display_prefix(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            created_at: OffsetDateTime::now_utc(),
            last_used_at: None,
            revoked_at: None,
        };
        self.app.database.api_keys().create_api_key(&key, &secret.hash(), &[]).await.expect("create key");
        secret.encode()
    }

    /// A service call: `method path` with `Authorization: Bearer key` and an optional JSON body.
    pub async fn service(&self, method: http::Method, path: &str, key: &str, body: Option<serde_json::Value>) -> Reply {
        let request =
            http::Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {key}"));
        let request = match body {
            Some(body) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.expect("request")).await
    }

    /// Starts the job worker, as `serve` does.
    pub fn run_jobs(&mut self) {
        let worker = self.app.worker.take().expect("jobs.enabled is on");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        self.worker = Some((stop, gatehouse::app::run_worker(worker, self.app.database.clone(), stopped)));
    }

    /// Stops the job worker [`TestApp::run_jobs`] started, once its running jobs are done.
    pub async fn stop_jobs(&mut self) {
        if let Some((stop, worker)) = self.worker.take() {
            let _ = stop.send(true);
            let _ = worker.await;
        }
    }

    /// Moves the frozen clock on, so retries and expiries come due.
    pub fn advance(&self, by: std::time::Duration) {
        self.clock.advance(time::Duration::try_from(by).expect("duration"));
    }

    pub async fn finish(mut self) {
        if let Some((stop, worker)) = self.worker.take() {
            let _ = stop.send(true);
            let _ = worker.await;
        }
        self.app.database.close().await;
        self.db.finish().await;
    }
}
