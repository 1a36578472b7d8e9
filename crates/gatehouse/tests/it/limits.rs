//! Limits under hostile load, against the real binary: slow clients by the thousand, heads too
//! large, idle connections, the connection cap, and a flood of logins on the hashing pool.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::binary::{Server, cookie_of, shared_client as http_client};
use crate::support::random_master_secret;

const PASSWORD: &str = "a long and unusual passphrase";
const ORIGIN: &str = "http://localhost:8080";

/// A client that opens a new connection for every request, as a liveness probe does.
fn probe_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(|| {
        gatehouse::cli::install_tls_provider();
        reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client")
    });
    &CLIENT
}

fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let db = format!("sqlite://{}", dir.join("gatehouse.db").display());
    let secret = random_master_secret();
    let mut env = vec![
        ("DATABASE_URL", db.as_str()),
        ("GATEHOUSE_MASTER_SECRET", secret.as_str()),
        ("GATEHOUSE_SERVER_LISTEN", "127.0.0.1:0"),
        ("GATEHOUSE_PUBLIC_URL", ORIGIN),
        ("GATEHOUSE_PASSWORD_ARGON2_MEMORY_KIB", "64"),
        ("GATEHOUSE_PASSWORD_ARGON2_ITERATIONS", "1"),
    ];
    env.extend_from_slice(extra);
    Server::start(dir, &env)
}

async fn sign_up(server: &Server, email: &str) -> String {
    let reply = server.sign_up(http_client(), email, PASSWORD).await;
    assert_eq!(reply.status().as_u16(), 201);
    cookie_of(&reply)
}

/// Reads until the server closes the connection (or `limit` passes) and returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| received)
}

/// The script: two processes open 21,000 connections to a default `gatehouse serve`,
/// each sending a partial request head and nothing more. The process keeps answering: a probe
/// on a new connection within 1 s throughout, a signed-in whoami on an established one, and every
/// slow connection is closed within the header timeout (10 s by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_one_thousand_slow_clients_cannot_take_the_server_down() {
    const PER_PROCESS: usize = 10_500;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    let dir = tempfile::tempdir().expect("dir");
    // Defaults for every connection limit: the cap comes from this machine's open-file limit.
    let server = start(dir.path(), &[("GATEHOUSE_LOG_LEVEL", "info")]);
    let cookie = sign_up(&server, "steady@example.com").await;
    let cap = server.metric("gatehouse_connections_max", &[("listener", "main")]).await;
    assert!(cap >= 1_000.0, "the default cap is {cap}");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/support/slow_clients.py");
    let port = server.addr.port().to_string();
    let attackers: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new("python3")
                .args([script, "127.0.0.1", &port, &PER_PROCESS.to_string(), "30"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("start the slow clients")
        })
        .collect();
    // The script stops by itself (30 s at most).
    let attack = tokio::task::spawn_blocking(move || {
        let mut reports = Vec::new();
        for attacker in attackers {
            let output = attacker.wait_with_output().expect("slow clients");
            assert!(output.status.success(), "the slow-client script failed");
            let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("report");
            reports.push(report);
        }
        reports
    });

    let (mut probes, mut whoamis) = (0_u32, 0_u32);
    let (mut slowest_probe, mut slowest_whoami) = (Duration::ZERO, Duration::ZERO);
    let mut peak_open = 0.0_f64;
    while !attack.is_finished() {
        let asked = Instant::now();
        // A new connection that arrives while every borrowed place is taken by one that is
        // displacing a slow client is refused (reset), the documented answer at the cap; a
        // health checker tries again. The process must answer within the same 1 s.
        let live = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                match probe_client().get(server.url("/health/live")).send().await {
                    Ok(live) => break live,
                    Err(error) if error.is_connect() || error.is_request() => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(error) => panic!("/health/live: {error:?}"),
                }
            }
        })
        .await
        .expect("/health/live answers within 1 s");
        assert_eq!(live.status().as_u16(), 200);
        slowest_probe = slowest_probe.max(asked.elapsed());
        probes += 1;

        let asked = Instant::now();
        let whoami = tokio::time::timeout(
            Duration::from_secs(2),
            http_client().get(server.url("/v1/session")).header("cookie", &cookie).send(),
        )
        .await
        .expect("whoami answers")
        .expect("whoami");
        assert_eq!(whoami.status().as_u16(), 200);
        slowest_whoami = slowest_whoami.max(asked.elapsed());
        whoamis += 1;
        if probes % 8 == 0 {
            peak_open = peak_open.max(server.metric("gatehouse_connections_open", &[("listener", "main")]).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reports = attack.await.expect("attack");
    let total = |key: &str| reports.iter().map(|r| r[key].as_u64().expect("count")).sum::<u64>();
    let longest = reports.iter().map(|r| r["longest_open_secs"].as_f64().expect("secs")).fold(0.0, f64::max);
    let header_timeouts = server.metric("gatehouse_connections_closed_total", &[("reason", "header_timeout")]).await;
    let displaced = server.metric("gatehouse_connections_closed_total", &[("reason", "displaced")]).await;
    let refused = server.metric("gatehouse_connections_closed_total", &[("reason", "refused")]).await;
    let accept_errors = server.metric("gatehouse_accept_errors_total", &[]).await;
    println!(
        "slow clients: {} connected, {} failed to connect, {} closed by the server, longest open {longest:.1} s; \
         cap {cap}, peak open {peak_open}; closed: {header_timeouts} at the header timeout, {displaced} displaced, \
         {refused} refused; {accept_errors} accept errors; {probes} probes (slowest {slowest_probe:?}), \
         {whoamis} whoami (slowest {slowest_whoami:?})",
        total("connected"),
        total("failed_to_connect"),
        total("closed_by_server"),
    );
    assert!(total("connected") >= 20_000, "the script opened its connections: {reports:?}");
    assert_eq!(total("still_open"), 0, "every slow connection was closed: {reports:?}");
    assert_eq!(total("answered"), 0, "no slow connection got an answer to a head it never finished");
    // Measured by the client from its send, so it also holds the time a connection waited in the
    // kernel's backlog before it was accepted, and the close of 20,000 connections falling due
    // within seconds on two shared cores (CI runs other suites meanwhile): half the timeout again
    // covers both. Without the timeout they stayed open until the script gave up, at 30 s.
    assert!(
        longest <= (HEADER_TIMEOUT * 3 / 2).as_secs_f64(),
        "slow connections closed within the header timeout; the longest stayed {longest} s"
    );
    assert!(header_timeouts >= 10_000.0, "{header_timeouts} closed at the header timeout");
    assert!(probes >= 20 && whoamis >= 20, "the probes ran throughout: {probes}, {whoamis}");
    let log = server.stop().1.join("\n");
    assert!(!log.contains("Too many open files"), "the process never ran out of file descriptors");
}

/// A small cap and short timeouts, to see each limit do its work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_too_large_slow_heads_idle_connections_and_the_cap() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(
        dir.path(),
        &[
            ("GATEHOUSE_SERVER_MAX_CONNECTIONS", "20"),
            ("GATEHOUSE_SERVER_HEADER_READ_TIMEOUT_SECS", "1"),
            ("GATEHOUSE_SERVER_KEEP_ALIVE_TIMEOUT_SECS", "3"),
        ],
    );
    let cookie = sign_up(&server, "capped@example.com").await;

    // A head over 16 KiB: 431, then closed.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let big = format!("GET /v1/session HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n", "a".repeat(17 * 1024));
    stream.write_all(big.as_bytes()).await.expect("send");
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await.expect("closed");
    assert!(answer.starts_with(b"HTTP/1.1 431 "), "{}", String::from_utf8_lossy(&answer));
    // Just under the limit is served.
    let padding = "a".repeat(15 * 1024);
    let ok = http_client().get(server.url("/health/live")).header("x-padding", &padding).send().await.expect("send");
    assert_eq!(ok.status().as_u16(), 200);

    // A head that never ends is closed, unanswered, at the header timeout.
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    let sent = Instant::now();
    slow.write_all(b"GET /v1/session HTTP/1.1\r\nHost: x\r\n").await.expect("send");
    let answer = read_until_closed(&mut slow, Duration::from_secs(5)).await.expect("closed");
    let took = sent.elapsed();
    assert!(answer.is_empty(), "no answer to a head never finished");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(2500), "closed after {took:?}");

    // Between requests the longer keep-alive timeout applies, not the header timeout.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("send");
    let mut buf = [0_u8; 1024];
    let n = idle.read(&mut buf).await.expect("answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
    let answered = Instant::now();
    let rest = read_until_closed(&mut idle, Duration::from_secs(6)).await.expect("closed when idle");
    let idle_for = answered.elapsed();
    assert!(rest.is_empty());
    assert!(idle_for >= Duration::from_millis(2800) && idle_for < Duration::from_millis(4500), "idle for {idle_for:?}");

    // At the cap: twenty connections that never finish a head hold every place. A signed-in
    // client on an established connection keeps being answered, and a new connection takes the
    // place of the slow one that has waited longest.
    let established = reqwest::Client::new();
    let whoami = established.get(server.url("/v1/session")).header("cookie", &cookie).send().await.expect("whoami");
    assert_eq!(whoami.status().as_u16(), 200);
    let mut slow = Vec::new();
    for _ in 0..25 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(b"GET / HTTP/1.1\r\n").await.expect("send");
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let whoami = established.get(server.url("/v1/session")).header("cookie", &cookie).send().await.expect("whoami");
        assert_eq!(whoami.status().as_u16(), 200);
        let live = probe_client().get(server.url("/health/live")).send().await.expect("probe at the cap");
        assert_eq!(live.status().as_u16(), 200);
    }
    // A connection that took a place at the cap runs on a borrowed one until the connection that
    // gave way has closed, so the count settles at the cap rather than holding there at every instant.
    let mut open = f64::MAX;
    for _ in 0..20 {
        open = server.metric("gatehouse_connections_open", &[("listener", "main")]).await;
        if open <= 20.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(open <= 20.0, "{open} open, cap 20");
    let displaced = server.metric("gatehouse_connections_closed_total", &[("reason", "displaced")]).await;
    assert!(displaced >= 5.0, "{displaced} displaced");
    drop(slow);
    server.stop();
}

/// 1,000 logins at once on a default hashing pool (one thread a core, argon2id at its default
/// cost): each is answered 200, 401 or 503 `overloaded` with `Retry-After`, and within the request
/// timeout; none waits in a queue until it times out. What whoami's latency does meanwhile is
/// printed here and held to its target in `bench/run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_logins_are_answered_or_shed_never_left_to_time_out() {
    const LOGINS: usize = 1_000;
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let secret = random_master_secret();
    // The default argon2 cost, and no rate limit: one address sending a thousand logins is the
    // test, and the limiter would answer most of them 429 before they reached the pool.
    let server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", db.as_str()),
            ("GATEHOUSE_MASTER_SECRET", secret.as_str()),
            ("GATEHOUSE_SERVER_LISTEN", "127.0.0.1:0"),
            ("GATEHOUSE_PUBLIC_URL", ORIGIN),
            ("GATEHOUSE_RATE_LIMIT_ENABLED", "false"),
        ],
    );
    let cookie = sign_up(&server, "flooded@example.com").await;
    let whoami = |client: reqwest::Client, url: String, cookie: String| async move {
        let asked = Instant::now();
        let reply = client.get(url).header("cookie", cookie).send().await.expect("whoami");
        assert_eq!(reply.status().as_u16(), 200);
        asked.elapsed()
    };
    let quiet = reqwest::Client::new();
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(whoami(quiet.clone(), server.url("/v1/session"), cookie.clone()).await);
    }

    let flood_client = reqwest::Client::builder().pool_max_idle_per_host(LOGINS).build().expect("client");
    let started = Instant::now();
    let logins: Vec<_> = (0..LOGINS)
        .map(|i| {
            let (client, url) = (flood_client.clone(), server.url("/v1/login"));
            let password = if i % 2 == 0 { PASSWORD } else { "not the password at all" };
            tokio::spawn(async move {
                let asked = Instant::now();
                let reply = client
                    .post(url)
                    .json(&json!({ "email": "flooded@example.com", "password": password }))
                    .timeout(REQUEST_TIMEOUT + Duration::from_secs(5))
                    .send()
                    .await
                    .expect("login answered");
                let status = reply.status().as_u16();
                let retry_after = reply.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
                let body: serde_json::Value = reply.json().await.expect("json");
                (status, body["code"].as_str().map(str::to_owned), retry_after, asked.elapsed())
            })
        })
        .collect();
    let mut during = Vec::new();
    while logins.iter().any(|login| !login.is_finished()) && started.elapsed() < REQUEST_TIMEOUT {
        during.push(whoami(quiet.clone(), server.url("/v1/session"), cookie.clone()).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut answers = Vec::new();
    for login in logins {
        answers.push(login.await.expect("login task"));
    }
    let count = |status: u16| answers.iter().filter(|(s, ..)| *s == status).count();
    let slowest = |status: u16| answers.iter().filter(|(s, ..)| *s == status).map(|a| a.3).max().unwrap_or_default();
    let p99 = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
    };
    let health: serde_json::Value =
        http_client().get(server.url("/health")).send().await.expect("health").json().await.expect("json");
    println!(
        "{LOGINS} logins in {:?}: {} × 200 (slowest {:?}), {} × 401 (slowest {:?}), {} × 503 (slowest {:?}); \
         whoami p99 {:?} idle, {:?} during the flood ({} samples); pool: {}",
        started.elapsed(),
        count(200),
        slowest(200),
        count(401),
        slowest(401),
        count(503),
        slowest(503),
        p99(&mut idle),
        p99(&mut during),
        during.len(),
        health["dependencies"]["password_hashing"]["detail"],
    );
    for (status, code, retry_after, took) in &answers {
        assert!(matches!(status, 200 | 401 | 503), "a login answered {status} {code:?}");
        assert!(*took < REQUEST_TIMEOUT, "a login took {took:?}, past the request timeout");
        if *status == 503 {
            assert_eq!(code.as_deref(), Some("overloaded"));
            let retry_after: u64 = retry_after.as_deref().expect("Retry-After").parse().expect("seconds");
            assert!(retry_after >= 1);
        }
    }
    assert!(count(200) > 0 && count(401) > 0, "the pool answered some logins");
    assert!(count(503) > 0, "a thousand logins at once are more than the queue holds");
    let refused = server.metric("gatehouse_password_hash_refused_total", &[]).await;
    assert_eq!(refused as usize, count(503), "every 503 is counted");
    let capacity = server.metric("gatehouse_password_hash_queue_capacity", &[]).await;
    assert!(capacity >= 2.0, "queue capacity {capacity}");
    server.stop();
}

/// Out of file descriptors: a process allowed 160 files, configured for more connections than
/// that, warns at start naming the fix; when clients take every descriptor, accepting backs off,
/// every failed accept is counted, the log says so once when it starts and once when it stops,
/// and the process answers again when the connections are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_backs_off_is_counted_and_logged_once() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let secret = random_master_secret();
    let server = Server::start_with_file_limit(
        dir.path(),
        &[
            ("DATABASE_URL", db.as_str()),
            ("GATEHOUSE_MASTER_SECRET", secret.as_str()),
            ("GATEHOUSE_SERVER_LISTEN", "127.0.0.1:0"),
            ("GATEHOUSE_PUBLIC_URL", ORIGIN),
            ("GATEHOUSE_SERVER_MAX_CONNECTIONS", "1000"),
            ("GATEHOUSE_SERVER_HEADER_READ_TIMEOUT_SECS", "3"),
        ],
        160,
    );
    // More connections than the process has descriptors, each sending nothing.
    let mut held = Vec::new();
    for _ in 0..220 {
        held.push(TcpStream::connect(server.addr).await.expect("connect (the kernel queues it)"));
    }
    // They reach the header timeout; the ones accepted late, a little after.
    let mut answered = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let probe = tokio::time::timeout(Duration::from_secs(1), probe_client().get(server.url("/health/live")).send());
        if let Ok(Ok(reply)) = probe.await
            && reply.status().as_u16() == 200
            && started.elapsed() > Duration::from_secs(3)
        {
            answered = Some(started.elapsed());
            break;
        }
    }
    drop(held);
    let answered = answered.expect("/health/live answers again once the slow connections are closed");
    let errors = server.metric("gatehouse_accept_errors_total", &[("listener", "main")]).await;
    let log = server.stop().1;
    let count = |needle: &str| log.iter().filter(|line| line.contains(needle)).count();
    let (started_failing, recovered) = (count("cannot accept connections"), count("accepting connections again"));
    println!(
        "out of descriptors: {errors} failed accepts, logged as {started_failing} start(s) and {recovered} recovery(ies); \
         answering again after {answered:?}"
    );
    assert!(
        count("server.max_connections is 1000 but this process may open only 160 files") == 1,
        "the start warns, naming the limit: {log:#?}"
    );
    assert!(count("LimitNOFILE=") >= 1, "and the fix");
    assert!(errors >= 2.0, "failed accepts are counted: {errors}");
    assert!(started_failing >= 1 && recovered >= 1, "the log says when it starts and when it stops");
    assert!(
        (started_failing as f64) < errors && started_failing <= recovered + 1,
        "logged once per change of state, not once per error: {started_failing} lines for {errors} errors"
    );
}
