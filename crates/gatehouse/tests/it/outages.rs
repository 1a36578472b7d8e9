//! Dependencies failing under load, against the real binary: PostgreSQL unreachable for 5 s (cut
//! by the test's TCP proxy), and Redis killed and restarted empty. Each test prints what clients
//! saw: requests, errors and the slowest answer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::binary::{Server, cli, cookie_of, shared_client as http_client};
use crate::support::proxy::{Mode, TcpProxy};
use crate::support::receiver::Receiver;
use crate::support::redis_server::RedisServer;
use crate::support::{TestDb, random_master_secret};

const PASSWORD: &str = "a long and unusual passphrase";
const ORIGIN: &str = "http://localhost:8080";
/// How long a request waits for a database connection before answering `database_unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

async fn sign_up(server: &Server, email: &str) -> reqwest::Response {
    server.sign_up(http_client(), email, PASSWORD).await
}

/// One answer a client saw: when (from the start of the load), what, and how long it took.
#[derive(Debug, Clone)]
struct Seen {
    at: Duration,
    status: u16,
    code: Option<String>,
    took: Duration,
}

#[derive(Debug, Default)]
struct Tally(Mutex<BTreeMap<&'static str, Vec<Seen>>>);

impl Tally {
    fn add(&self, kind: &'static str, seen: Seen) {
        self.0.lock().expect("tally").entry(kind).or_default().push(seen);
    }

    fn of(&self, kind: &'static str) -> Vec<Seen> {
        self.0.lock().expect("tally").get(kind).cloned().unwrap_or_default()
    }

    fn print(&self, what: &str) {
        for (kind, seen) in self.0.lock().expect("tally").iter() {
            let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
            for s in seen {
                let label = match &s.code {
                    Some(code) => format!("{} {code}", s.status),
                    None => s.status.to_string(),
                };
                *statuses.entry(label).or_default() += 1;
            }
            let slowest = seen.iter().map(|s| s.took).max().unwrap_or_default();
            println!("{what}: {kind}: {} requests, {statuses:?}, slowest {slowest:?}", seen.len());
        }
    }
}

async fn observe(request: reqwest::RequestBuilder, started: Instant) -> Seen {
    let asked = Instant::now();
    let at = started.elapsed();
    match request.timeout(Duration::from_secs(40)).send().await {
        Ok(reply) => {
            let status = reply.status().as_u16();
            let code = if status >= 400 {
                reply.json::<serde_json::Value>().await.ok().and_then(|b| b["code"].as_str().map(str::to_owned))
            } else {
                None
            };
            Seen { at, status, code, took: asked.elapsed() }
        }
        Err(error) => panic!("a request got no answer at {at:?}: {error}"),
    }
}

/// PostgreSQL made unreachable for 5 s under a mixed load, then back. Reads the session cache
/// can serve keep answering 200; writes answer 503 `database_unavailable` within the acquire
/// timeout, not the request timeout; readiness goes 503 and back; no 500 anywhere; the job worker
/// resumes and every event of a committed signup is delivered, a repeat only under its own id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_for_five_seconds_under_load() {
    let Some(db) = TestDb::postgres().await else { return };
    let (proxy, proxied_url) = TcpProxy::in_front_of(&db.url, 5432).await;
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("dir");
    let secret = random_master_secret();
    let acquire_ms = ACQUIRE_TIMEOUT.as_millis().to_string();
    let server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", proxied_url.as_str()),
            ("GATEHOUSE_MASTER_SECRET", secret.as_str()),
            ("GATEHOUSE_SERVER_LISTEN", "127.0.0.1:0"),
            ("GATEHOUSE_PUBLIC_URL", ORIGIN),
            ("GATEHOUSE_PASSWORD_ARGON2_MEMORY_KIB", "64"),
            ("GATEHOUSE_PASSWORD_ARGON2_ITERATIONS", "1"),
            ("GATEHOUSE_RATE_LIMIT_ENABLED", "false"),
            ("GATEHOUSE_DATABASE_ACQUIRE_TIMEOUT_MS", acquire_ms.as_str()),
            ("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "100"),
            // A job whose claim or outcome was lost with its connection runs again after the lease:
            // 5 s here, so that path is seen within the test.
            ("GATEHOUSE_JOBS_LEASE_SECS", "5"),
            ("GATEHOUSE_WEBHOOKS_RETRY_SCHEDULE", "1s,1s,1s,1s,1s,1s,1s,1s"),
        ],
    );
    let output = cli(&db.url, &["api-key", "create", "--name", "outage", "--scope", "webhooks"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = String::from_utf8(output.stdout).expect("utf-8").trim().to_owned();
    let created = http_client()
        .post(server.url("/v1/webhooks/endpoints"))
        .bearer_auth(&key)
        .json(&json!({ "url": receiver.url("outage"), "event_types": ["user.created"] }))
        .send()
        .await
        .expect("endpoint");
    assert_eq!(created.status().as_u16(), 201);
    let endpoint: serde_json::Value = created.json().await.expect("json");
    receiver.configure("outage", json!({ "secret": endpoint["secret"] })).await;

    let mut readers = Vec::new();
    for i in 0..4 {
        let reply = sign_up(&server, &format!("reader{i}@example.com")).await;
        assert_eq!(reply.status().as_u16(), 201);
        readers.push(cookie_of(&reply));
    }
    for cookie in &readers {
        let whoami =
            http_client().get(server.url("/v1/session")).header("cookie", cookie).send().await.expect("whoami");
        assert_eq!(whoami.status().as_u16(), 200);
    }

    let tally = Arc::new(Tally::default());
    let committed = Arc::new(Mutex::new(BTreeSet::new()));
    let started = Instant::now();
    let until = Duration::from_secs(14);
    let mut load = Vec::new();
    for (n, cookie) in readers.iter().cloned().enumerate() {
        let (tally, url) = (Arc::clone(&tally), server.url("/v1/session"));
        load.push(tokio::spawn(async move {
            while started.elapsed() < until {
                let seen = observe(http_client().get(&url).header("cookie", &cookie), started).await;
                tally.add("whoami", seen);
                tokio::time::sleep(Duration::from_millis(20 + n as u64)).await;
            }
        }));
    }
    for writer in 0..2 {
        let (tally, committed, url) = (Arc::clone(&tally), Arc::clone(&committed), server.url("/v1/signup"));
        load.push(tokio::spawn(async move {
            let mut i = 0;
            while started.elapsed() < until {
                i += 1;
                let email = format!("writer{writer}-{i}@example.com");
                let request = http_client().post(&url).json(&json!({ "email": email, "password": PASSWORD }));
                let asked = Instant::now();
                let at = started.elapsed();
                let reply = request.timeout(Duration::from_secs(40)).send().await.expect("signup answered");
                let status = reply.status().as_u16();
                let body: serde_json::Value = reply.json().await.expect("json");
                if status == 201 {
                    committed.lock().expect("ids").insert(body["user"]["id"].as_str().expect("id").to_owned());
                }
                let code = body["code"].as_str().map(str::to_owned);
                tally.add("signup", Seen { at, status, code, took: asked.elapsed() });
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    {
        let (tally, url) = (Arc::clone(&tally), server.url("/health/ready"));
        load.push(tokio::spawn(async move {
            while started.elapsed() < until {
                tally.add("ready", observe(http_client().get(&url), started).await);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    let (down_at, up_at) = (Duration::from_secs(3), Duration::from_secs(8));
    tokio::time::sleep(down_at.saturating_sub(started.elapsed())).await;
    proxy.set(Mode::Down);
    tokio::time::sleep(up_at.saturating_sub(started.elapsed())).await;
    proxy.set(Mode::Pass);
    for task in load {
        task.await.expect("load task");
    }
    tally.print("PostgreSQL down from 3 s to 8 s");

    let everything: Vec<Seen> = ["whoami", "signup", "ready"].iter().flat_map(|kind| tally.of(kind)).collect();
    if everything.iter().any(|s| s.status >= 500 && s.status != 503) {
        let log = server.stop().1;
        let failures: Vec<&String> = log.iter().filter(|line| line.contains("ERROR")).take(5).collect();
        panic!("no 500 anywhere; the log says: {failures:#?}");
    }
    let whoami = tally.of("whoami");
    assert!(whoami.len() > 100, "the readers ran throughout: {}", whoami.len());
    assert!(whoami.iter().all(|s| s.status == 200), "every cached session was served: {whoami:?}");
    let signups = tally.of("signup");
    for seen in &signups {
        assert!(
            seen.status == 201 || (seen.status == 503 && seen.code.as_deref() == Some("database_unavailable")),
            "a signup answered {} {:?}",
            seen.status,
            seen.code
        );
        assert!(seen.took < ACQUIRE_TIMEOUT * 4, "a signup took {:?} at {:?}", seen.took, seen.at);
    }
    let outage = |s: &&Seen| s.at >= down_at + Duration::from_millis(200) && s.at + s.took < up_at;
    assert!(signups.iter().filter(outage).any(|s| s.status == 503), "writes failed during the outage");
    assert!(signups.iter().filter(outage).all(|s| s.status == 503), "no write succeeded without the database");
    assert!(signups.iter().any(|s| s.at > up_at + Duration::from_secs(2) && s.status == 201), "writes came back");
    let ready = tally.of("ready");
    assert!(ready.iter().filter(outage).any(|s| s.status == 503), "readiness said the database was gone");
    assert_eq!(ready.last().expect("ready").status, 200, "and that it was back");

    // Every committed signup's event arrives, however the outage met its job; a repeat (a delivery
    // whose result could not be recorded) carries the same webhook-id, which receivers dedupe on.
    let committed = committed.lock().expect("ids").clone();
    let waiting = Instant::now();
    let (delivered, ids_by_user) = loop {
        let delivered = receiver.records("outage").await;
        let mut ids_by_user: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for record in &delivered {
            assert_eq!(record["verified"], true, "{record}");
            let user = record["payload"]["data"]["user"]["id"].as_str().expect("user id").to_owned();
            ids_by_user.entry(user).or_default().insert(record["id"].as_str().expect("webhook-id").to_owned());
        }
        let missing = committed.iter().filter(|user| !ids_by_user.contains_key(*user)).count();
        if missing == 0 {
            break (delivered, ids_by_user);
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "{missing} of {} committed signups' user.created were never delivered",
            committed.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for user in &committed {
        let ids = &ids_by_user[user];
        assert_eq!(ids.len(), 1, "one event per signup, however often delivered: {ids:?}");
    }
    println!(
        "PostgreSQL outage: {} signups committed, {} deliveries for {} users, all in {:?} after the load",
        committed.len(),
        delivered.len(),
        ids_by_user.len(),
        waiting.elapsed()
    );
    server.stop();
    db.finish().await;
}

/// Redis killed (SIGKILL) under load, then restarted empty. Sessions keep being served throughout,
/// rate limits fall back to in-process decisions, and once Redis is back with nothing in it every
/// valid session is still valid and the one revoked meanwhile stays revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_empty_under_load() {
    let Some(db) = TestDb::postgres().await else { return };
    if crate::support::service_url("GATEHOUSE_TEST_REDIS_URL", "Redis").is_none() {
        return;
    }
    let mut redis = RedisServer::single();
    let dir = tempfile::tempdir().expect("dir");
    let secret = random_master_secret();
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("GATEHOUSE_MASTER_SECRET", secret.as_str()),
        ("GATEHOUSE_SERVER_LISTEN", "127.0.0.1:0"),
        ("GATEHOUSE_PUBLIC_URL", ORIGIN),
        ("GATEHOUSE_PASSWORD_ARGON2_MEMORY_KIB", "64"),
        ("GATEHOUSE_PASSWORD_ARGON2_ITERATIONS", "1"),
        ("GATEHOUSE_REDIS_URL", redis_url.as_str()),
    ];
    let server = Server::start(dir.path(), &env);
    let mut valid = Vec::new();
    for i in 0..3 {
        let reply = sign_up(&server, &format!("kept{i}@example.com")).await;
        assert_eq!(reply.status().as_u16(), 201);
        valid.push(cookie_of(&reply));
    }
    let doomed = cookie_of(&sign_up(&server, "doomed@example.com").await);
    for cookie in valid.iter().chain([&doomed]) {
        let whoami =
            http_client().get(server.url("/v1/session")).header("cookie", cookie).send().await.expect("whoami");
        assert_eq!(whoami.status().as_u16(), 200);
    }

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let until = Duration::from_secs(10);
    let mut load = Vec::new();
    for cookie in valid.clone() {
        let (tally, url) = (Arc::clone(&tally), server.url("/v1/session"));
        load.push(tokio::spawn(async move {
            while started.elapsed() < until {
                tally.add("whoami", observe(http_client().get(&url).header("cookie", &cookie), started).await);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    {
        // Logins of an unknown account: each is limited per IP and per account.
        let (tally, url) = (Arc::clone(&tally), server.url("/v1/login"));
        load.push(tokio::spawn(async move {
            while started.elapsed() < until {
                let request =
                    http_client().post(&url).json(&json!({ "email": "nobody@example.com", "password": "wrong" }));
                tally.add("login", observe(request, started).await);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.kill();
    let killed_at = started.elapsed();
    // Revoked while Redis is gone: its cached copy there is gone too when Redis comes back empty,
    // but the in-process caches and SQL must not bring the session back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let token = server.csrf_token(&doomed).await;
    let logout = http_client()
        .post(server.url("/v1/logout"))
        .header("cookie", format!("{doomed}; gatehouse_csrf={token}"))
        .header("x-csrf-token", &token)
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status().as_u16(), 204);
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart();
    let restarted_at = started.elapsed();
    for task in load {
        task.await.expect("load task");
    }
    tally.print("Redis killed, then restarted empty");

    let whoami = tally.of("whoami");
    assert!(whoami.len() > 100, "the readers ran throughout: {}", whoami.len());
    assert!(whoami.iter().all(|s| s.status == 200), "every valid session was served throughout");
    let logins = tally.of("login");
    assert!(logins.iter().all(|s| matches!(s.status, 401 | 429)), "logins: {logins:?}");
    let limited_while_down = logins.iter().any(|s| s.at > killed_at && s.at < restarted_at && s.status == 429);
    assert!(limited_while_down, "the limiter kept limiting with Redis gone");
    let fallbacks = server.metric("gatehouse_rate_limit_fallbacks_total", &[]).await;
    assert!(fallbacks > 0.0, "decisions fell back to the in-process limiter");
    for cookie in &valid {
        let whoami =
            http_client().get(server.url("/v1/session")).header("cookie", cookie).send().await.expect("whoami");
        assert_eq!(whoami.status().as_u16(), 200, "valid after Redis came back empty");
    }
    let revoked = http_client().get(server.url("/v1/session")).header("cookie", &doomed).send().await.expect("whoami");
    assert_eq!(revoked.status().as_u16(), 401, "the session revoked while Redis was gone stays revoked");
    // And Redis is in use again.
    let health: serde_json::Value =
        http_client().get(server.url("/health")).send().await.expect("health").json().await.expect("json");
    println!("Redis after restart: {}", health["dependencies"]["redis"]);
    server.stop();
    db.finish().await;
}
