//! The session check, cookie to user, through the whole in-process router (middleware included,
//! no sockets), for each store configuration:
//!
//! - `sqlite`: the zero-configuration default;
//! - `sqlite_redis`: SQLite with the Redis fast path (needs `GATEHOUSE_TEST_REDIS_URL`);
//! - `postgres_redis`: PostgreSQL with Redis (needs `GATEHOUSE_TEST_DATABASE_URL` as well).
//!
//! Run with `cargo bench -p gatehouse --bench session_check`. Configurations whose services are not
//! configured are reported and skipped. The end-to-end HTTP comparison with other servers lives in
//! the benchmark harness, not here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Body;
use divan::Bencher;
use tower::ServiceExt as _;

fn main() {
    gatehouse::cli::install_tls_provider();
    divan::main();
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    cookie: String,
    _dir: Option<tempfile::TempDir>,
}

fn env_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|url| !url.is_empty())
}

fn fixture(backend: &str) -> Option<Fixture> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut vars = BTreeMap::from([
        ("GATEHOUSE_SERVER_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("GATEHOUSE_LOG_LEVEL".to_owned(), "error".to_owned()),
    ]);
    let mut dir = None;
    let redis = || env_url("GATEHOUSE_TEST_REDIS_URL");
    match backend {
        "sqlite" | "sqlite_redis" => {
            let temp = tempfile::tempdir().expect("temp dir");
            vars.insert(
                "GATEHOUSE_DATABASE_URL".into(),
                format!("sqlite://{}", temp.path().join("bench.db").display()),
            );
            dir = Some(temp);
        }
        _ => {
            vars.insert("GATEHOUSE_DATABASE_URL".into(), env_url("GATEHOUSE_TEST_DATABASE_URL")?);
        }
    }
    if backend.ends_with("_redis") {
        vars.insert("GATEHOUSE_REDIS_URL".into(), redis()?);
        vars.insert("GATEHOUSE_REDIS_KEY_PREFIX".into(), format!("bench:{}:", uuid::Uuid::new_v4().simple()));
    }
    let config = gatehouse::config::load(None, &vars).expect("bench config").config;
    let app = runtime.block_on(gatehouse::app::build(config)).expect("app");
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let body = serde_json::json!({ "email": email, "password": "a long benchmark passphrase" }).to_string();
    let request = http::Request::post("/v1/signup")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let response = runtime.block_on(app.router.clone().oneshot(request)).expect("signup");
    let cookie = response.headers()[http::header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    Some(Fixture { runtime, router: app.router, cookie, _dir: dir })
}

fn cached(backend: &'static str) -> Option<&'static Fixture> {
    static FIXTURES: OnceLock<std::sync::Mutex<BTreeMap<&'static str, Option<&'static Fixture>>>> = OnceLock::new();
    let map = FIXTURES.get_or_init(Default::default);
    let mut map = map.lock().expect("fixtures");
    *map.entry(backend).or_insert_with(|| {
        let fixture = fixture(backend).map(|f| &*Box::leak(Box::new(f)));
        if fixture.is_none() {
            eprintln!(
                "note: {backend} skipped: set GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL to measure it"
            );
        }
        fixture
    })
}

#[divan::bench(args = ["sqlite", "sqlite_redis", "postgres_redis"])]
fn whoami(bencher: Bencher, backend: &'static str) {
    let Some(fixture) = cached(backend) else { return };
    bencher.bench_local(|| {
        let request = http::Request::get("/v1/session")
            .header(http::header::COOKIE, &fixture.cookie)
            .body(Body::empty())
            .expect("request");
        let response = fixture.runtime.block_on(fixture.router.clone().oneshot(request)).expect("whoami");
        assert_eq!(response.status(), http::StatusCode::OK);
    });
}
