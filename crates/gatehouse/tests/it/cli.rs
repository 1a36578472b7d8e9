//! The operators' commands against a running server on the same database (and Redis): a change
//! made by the CLI holds on the server within the session cache's bound, and the readable and `--json` outputs
//! say what they should.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Instant;

use serde_json::{Value, json};

use crate::support::binary::{Server, command};
use crate::support::{TestDb, http_client, redis};

struct Setup {
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Setup {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    /// Runs `gatehouse ARGS` with the server's settings; stdin from `input`.
    fn cli(&self, args: &[&str], input: Option<&str>) -> (bool, String, String) {
        let mut child = command(self.dir.path(), &self.env())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gatehouse");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(input) = input {
            stdin.write_all(input.as_bytes()).expect("write stdin");
        }
        drop(stdin);
        let output = child.wait_with_output().expect("wait");
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8");
        (output.status.success(), text(output.stdout), text(output.stderr))
    }

    fn json(&self, args: &[&str]) -> Value {
        let (ok, stdout, stderr) = self.cli(args, None);
        assert!(ok, "gatehouse {args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("gatehouse {args:?} printed no JSON: {stdout}"))
    }
}

async fn whoami(server: &Server, cookie: &str) -> u16 {
    let reply = http_client().get(server.url("/v1/session")).header("cookie", cookie).send().await.expect("whoami");
    reply.status().as_u16()
}

async fn sign_up(server: &Server, email: &str) -> String {
    let reply = http_client()
        .post(server.url("/v1/signup"))
        .json(&json!({ "email": email, "password": "a long and unusual passphrase" }))
        .send()
        .await
        .expect("signup");
    assert_eq!(reply.status().as_u16(), 201);
    let cookie = reply.headers()["set-cookie"].to_str().expect("ascii");
    cookie.split(';').next().expect("pair").to_owned()
}

async fn log_in(server: &Server, email: &str, password: &str) -> u16 {
    let reply = http_client()
        .post(server.url("/v1/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login");
    reply.status().as_u16()
}

/// `None` when the backend's services are absent outside CI.
async fn a_change_made_by_the_cli_holds_on_the_next_request(backend: &str) -> Option<()> {
    let redis = if backend == "postgres_with_redis" { Some(redis()?) } else { None };
    let db = if backend == "sqlite" { TestDb::sqlite() } else { TestDb::postgres().await? };
    let dir = tempfile::tempdir().expect("dir");
    let mut env = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("GATEHOUSE_SERVER_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("GATEHOUSE_PASSWORD_ARGON2_MEMORY_KIB".to_owned(), "64".to_owned()),
        ("GATEHOUSE_PASSWORD_ARGON2_ITERATIONS".to_owned(), "1".to_owned()),
    ];
    if let Some((url, prefix)) = &redis {
        env.push(("GATEHOUSE_REDIS_URL".to_owned(), url.clone()));
        env.push(("GATEHOUSE_REDIS_KEY_PREFIX".to_owned(), prefix.clone()));
    }
    let setup = Setup { env, dir };
    let server = Server::start(setup.dir.path(), &setup.env());
    let ada = sign_up(&server, "ada@example.com").await;
    assert_eq!(whoami(&server, &ada).await, 200, "the session is cached on the server (with Redis)");

    let (ok, _, stderr) = setup.cli(&["user", "disable", "ada@example.com"], None);
    assert!(ok, "{stderr}");
    let after_cli = Instant::now();
    // Within the session cache's bound (the server reads the invalidation log every 100 ms, and at
    // once on PostgreSQL's notification).
    while whoami(&server, &ada).await != 401 {
        assert!(after_cli.elapsed() < std::time::Duration::from_millis(250), "the server still serves the session");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    println!("{backend}: the CLI's disable held {:?} after the CLI exited", after_cli.elapsed());
    assert_eq!(log_in(&server, "ada@example.com", "a long and unusual passphrase").await, 401);
    assert!(setup.cli(&["user", "enable", "ada@example.com"], None).0);
    assert_eq!(log_in(&server, "ada@example.com", "a long and unusual passphrase").await, 200);

    // Readable tables and JSON.
    let (ok, table, _) = setup.cli(&["user", "list"], None);
    assert!(ok && table.starts_with("ID") && table.contains("ada@example.com"), "{table}");
    let listed = setup.json(&["user", "list", "--json", "--email-prefix", "ADA"]);
    let id = listed["users"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(setup.json(&["user", "show", &id, "--json"])["user"]["email"], "ada@example.com");
    let events = setup.json(&["audit", "query", "--action", "user.disabled", "--json"]);
    assert_eq!(
        (events[0]["target"].as_str(), events[0]["actor_kind"].as_str()),
        (Some(format!("user:{id}").as_str()), Some("operator"))
    );
    let (ok, _, stderr) = setup.cli(&["audit", "query", "--from", "yesterday"], None);
    assert!(!ok && stderr.contains("RFC 3339"), "{stderr}");
    let export = setup.json(&["export", "user", "ada@example.com"]);
    assert_eq!(
        (export["format"].as_str(), export["user"]["id"].as_str()),
        (Some("gatehouse.personal_data"), Some(id.as_str()))
    );
    assert_eq!(setup.json(&["workspace", "list", "--json"]), json!([]));

    // Created with a password from stdin; erased only with --yes.
    let (ok, _, stderr) = setup.cli(
        &["user", "create", "--email", "bo@example.com", "--verified", "--password-stdin"],
        Some("another long passphrase\n"),
    );
    assert!(ok, "{stderr}");
    assert_eq!(log_in(&server, "bo@example.com", "another long passphrase").await, 200);
    let (ok, _, stderr) = setup.cli(&["user", "erase", "bo@example.com"], None);
    assert!(!ok && stderr.contains("--yes"), "{stderr}");
    let (ok, _, stderr) = setup.cli(&["user", "erase", "--yes", "bo@example.com", "nobody@example.com"], None);
    assert!(!ok && stderr.contains("1 of 2 failed"), "one unknown address fails the command: {stderr}");
    assert_eq!(log_in(&server, "bo@example.com", "another long passphrase").await, 401, "bo was erased all the same");
    server.stop();
    db.finish().await;
    Some(())
}

#[tokio::test]
async fn cli_changes_hold_on_the_next_request_sqlite() {
    a_change_made_by_the_cli_holds_on_the_next_request("sqlite").await.expect("SQLite is always there");
}

#[tokio::test]
async fn cli_changes_hold_on_the_next_request_postgres_with_redis() {
    let _ = a_change_made_by_the_cli_holds_on_the_next_request("postgres_with_redis").await;
}
