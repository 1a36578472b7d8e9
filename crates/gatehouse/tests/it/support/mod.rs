//! Shared test support: test databases, config from a map, in-process requests, the real binary,
//! and a TCP proxy that can slow down or cut a dependency.

pub mod app;
pub mod binary;
pub mod fake_github;
pub mod mail;
pub mod oidc;
pub mod proxies;
pub mod proxy;
pub mod receiver;
pub mod redis_server;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Once;

use axum::body::Body;
use gatehouse::config::{self, Config};
use http_body_util::BodyExt as _;
use sqlx::Connection as _;
use tower::ServiceExt as _;

/// A freshly generated, valid master secret (base64 of 32 random bytes).
pub fn random_master_secret() -> String {
    use base64::Engine as _;
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).expect("OS randomness");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Production refuses the console email provider; these name an SMTP server that is never reached
/// (nothing listens on port 1), for tests about everything else production checks.
pub const PRODUCTION_EMAIL: &[(&str, &str)] = &[
    ("GATEHOUSE_EMAIL_PROVIDER", "smtp"),
    ("GATEHOUSE_EMAIL_SMTP_HOST", "127.0.0.1"),
    ("GATEHOUSE_EMAIL_SMTP_PORT", "1"),
];

/// An HTTP client for talking to a server under test. reqwest's rustls has no crypto provider of
/// its own here (the binary installs ring at start), so the test process installs the same one.
pub fn http_client() -> reqwest::Client {
    gatehouse::cli::install_tls_provider();
    reqwest::Client::new()
}

pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// A valid config for `database_url` with a port-0 listener, plus extra environment variables.
pub fn config_for(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars = env(&[("GATEHOUSE_DATABASE_URL", database_url), ("GATEHOUSE_SERVER_LISTEN", "127.0.0.1:0")]);
    vars.extend(env(extra));
    match config::load(None, &vars) {
        Ok(loaded) => loaded.config,
        Err(problems) => panic!("test config is invalid: {problems:?}"),
    }
}

/// Where a suite's database lives; dropped (PostgreSQL) or deleted (SQLite) by [`TestDb::finish`].
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
        Self { url, _dir: Some(dir), postgres: None }
    }

    /// A new, empty PostgreSQL database, or `None` outside CI when no server is configured.
    pub async fn postgres() -> Option<Self> {
        let admin = service_url("GATEHOUSE_TEST_DATABASE_URL", "PostgreSQL")?;
        let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        let mut url = url::Url::parse(&admin).expect("GATEHOUSE_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(Self { url: url.to_string(), _dir: None, postgres: Some((admin, name)) })
    }

    /// The same database for a second instance; only the first one drops it.
    pub fn shared(&self) -> Self {
        Self { url: self.url.clone(), _dir: None, postgres: None }
    }

    /// Drops a PostgreSQL test database (SQLite files go with their temp dir).
    pub async fn finish(self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = sqlx::PgConnection::connect(admin).await
        {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
        }
    }
}

/// The test Redis URL and a key prefix no other test uses, or `None` outside CI without Redis.
pub fn redis() -> Option<(String, String)> {
    let url = service_url("GATEHOUSE_TEST_REDIS_URL", "Redis")?;
    Some((url, format!("test:{}:", uuid::Uuid::new_v4().simple())))
}

/// The URL of a service the suite needs. In CI a missing one fails the run; elsewhere one line says
/// which suite did not run. The line is written to stderr directly so test capture cannot hide it.
pub fn service_url(var: &str, suite: &str) -> Option<String> {
    if let Ok(url) = std::env::var(var)
        && !url.is_empty()
    {
        return Some(url);
    }
    assert!(std::env::var_os("CI").is_none(), "{var} must be set in CI: the {suite} suite may not be skipped");
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(std::io::stderr(), "note: the {suite} suite did not run: set {var} to run it");
    });
    None
}

/// Sends a request to an in-process router and returns status, headers and body bytes.
pub async fn call(router: &axum::Router, request: http::Request<Body>) -> (http::StatusCode, http::HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(request).await.expect("router never fails");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, headers, body)
}

/// What a browser frontend sends with an unsafe request: the session cookie plus the CSRF cookie,
/// the CSRF token header, and its Origin. The token comes from `GET /v1/csrf` on `router`.
pub async fn csrf_token(router: &axum::Router, cookie: &str) -> Option<String> {
    let request = http::Request::get("/v1/csrf").header(http::header::COOKIE, cookie).body(Body::empty());
    let (status, _, body) = call(router, request.expect("request")).await;
    (status == http::StatusCode::OK).then(|| json(&body)["token"].as_str().expect("token").to_owned())
}

pub fn with_csrf(
    builder: http::request::Builder,
    cookie: &str,
    token: Option<&str>,
    origin: &str,
) -> http::request::Builder {
    let builder = builder.header(http::header::ORIGIN, origin);
    match token {
        Some(token) => builder
            .header(http::header::COOKIE, format!("{cookie}; gatehouse_csrf={token}"))
            .header("x-csrf-token", token),
        None => builder.header(http::header::COOKIE, cookie),
    }
}

pub fn get(path: &str) -> http::Request<Body> {
    http::Request::get(path).body(Body::empty()).expect("request")
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Runs each story (an `async fn(TestApp)`) on SQLite, on PostgreSQL, and on SQLite with the Redis
/// fast path, optionally with extra environment variables: `story with ("VAR", "value")`.
macro_rules! on_every_backend {
    ($($story:ident $(with $extra:expr)?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $story() {
                    let extra: &[(&str, &str)] = &[$($extra)?];
                    super::$story(crate::support::app::TestApp::sqlite(extra).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $story() {
                    let Some(db) = crate::support::TestDb::postgres().await else { return };
                    let extra: &[(&str, &str)] = &[$($extra)?];
                    super::$story(crate::support::app::TestApp::start(db, extra).await).await;
                }
            )*
        }
        mod sqlite_with_redis {
            $(
                #[tokio::test]
                async fn $story() {
                    let Some((url, prefix)) = crate::support::redis() else { return };
                    let mut extra: Vec<(&str, &str)> = vec![$($extra)?];
                    extra.extend([("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())]);
                    super::$story(crate::support::app::TestApp::sqlite(&extra).await).await;
                }
            )*
        }
    };
}

pub(crate) use on_every_backend;

/// Runs each storage story against a fresh SQLite file and a fresh PostgreSQL database; a story
/// written `story(url)` also gets the database URL.
macro_rules! on_every_database {
    ($($story:ident $(($url:ident))?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $story() {
                    let test_db = crate::support::TestDb::sqlite();
                    let db = gatehouse_store::Database::connect(&test_db.url, &crate::support::pool()).await.expect("connect");
                    super::$story(db $(, crate::support::on_every_database!(@url test_db $url))?).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $story() {
                    let Some(test_db) = crate::support::TestDb::postgres().await else { return };
                    let db = gatehouse_store::Database::connect(&test_db.url, &crate::support::pool()).await.expect("connect");
                    super::$story(db.clone() $(, crate::support::on_every_database!(@url test_db $url))?).await;
                    db.close().await;
                    test_db.finish().await;
                }
            )*
        }
    };
    (@url $db:ident url) => { &$db.url };
}

pub(crate) use on_every_database;

/// Pool settings for storage tests.
pub fn pool() -> gatehouse_store::PoolOptions {
    gatehouse_store::PoolOptions {
        max_connections: 5,
        min_connections: 0,
        acquire_timeout: std::time::Duration::from_secs(5),
    }
}
