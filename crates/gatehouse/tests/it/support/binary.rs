//! The real `gatehouse` binary as a child process, with a clean environment, its stderr (the log)
//! collected, and the listening address read from its startup line.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STARTUP_LIMIT: Duration = Duration::from_secs(60);

pub fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command.current_dir(dir).env_clear();
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Runs a management command of the binary against the database at `database_url`.
pub fn cli(database_url: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("dir");
    command(dir.path(), &[("DATABASE_URL", database_url)]).args(args).output().expect("run gatehouse")
}

#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    log_closed: mpsc::Receiver<()>,
}

impl Server {
    /// Starts `gatehouse serve` in `dir` and waits for its "listening on" line.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut serve = command(dir, env);
        serve.arg("serve");
        Self::spawn(serve)
    }

    /// As [`start`](Self::start), under `prlimit`, with at most `open_files` file descriptors.
    pub fn start_with_file_limit(dir: &Path, env: &[(&str, &str)], open_files: u64) -> Self {
        let mut limited = Command::new("prlimit");
        limited.current_dir(dir).env_clear().envs(env.iter().copied());
        limited.arg(format!("--nofile={open_files}:{open_files}")).arg(env!("CARGO_BIN_EXE_gatehouse")).arg("serve");
        Self::spawn(limited)
    }

    fn spawn(mut command: Command) -> Self {
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn gatehouse");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (closed_tx, log_closed) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = listening_addr(&line) {
                    let _ = addr_tx.send(addr);
                }
                sink.lock().expect("log lock").push(line);
            }
            let _ = closed_tx.send(());
        });
        match addr_rx.recv_timeout(STARTUP_LIMIT) {
            Ok(addr) => Self { child, addr, log, log_closed },
            Err(_) => {
                let _ = child.kill();
                panic!("gatehouse did not start; log:\n{}", log.lock().expect("log lock").join("\n"));
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit and returns its status and complete log.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, Vec<String>) {
        // The log pipe closes when the process exits, so this waits without polling.
        if self.log_closed.recv_timeout(limit).is_err() {
            let _ = self.child.kill();
            panic!("gatehouse did not exit within {limit:?}");
        }
        let status = self.child.wait().expect("wait for gatehouse");
        let log = self.log.lock().expect("log lock").clone();
        (status, log)
    }

    pub fn stop(self) -> (ExitStatus, Vec<String>) {
        self.signal("TERM");
        self.wait(Duration::from_secs(30))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The `name=value` of the session cookie a reply sets.
pub fn cookie_of(reply: &reqwest::Response) -> String {
    let set = reply.headers()["set-cookie"].to_str().expect("ascii");
    set.split(';').next().expect("pair").to_owned()
}

/// One client for every suite that drives the real binary: building one loads the system's
/// certificates, which takes longer than much of what is under test.
pub fn shared_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(super::http_client);
    &CLIENT
}

impl Server {
    /// The sum of the samples of metric `name` whose labels include `labels`, from `/metrics`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let reply = shared_client().get(self.url("/metrics")).send().await.expect("metrics");
        let text = reply.text().await.expect("text");
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parse metrics");
        scrape
            .samples
            .iter()
            .filter(|sample| sample.metric == name)
            .filter(|sample| labels.iter().all(|(key, value)| sample.labels.get(key) == Some(*value)))
            .map(|sample| match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }

    /// The CSRF token for the session `cookie` names (`GET /v1/csrf`).
    pub async fn csrf_token(&self, cookie: &str) -> String {
        let reply = shared_client().get(self.url("/v1/csrf")).header("cookie", cookie).send().await.expect("csrf");
        let body: serde_json::Value = reply.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Signs up `email` with `password` through `client`; the reply, whatever it is.
    pub async fn sign_up(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        client
            .post(self.url("/v1/signup"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("signup answered")
    }
}

/// Finds `listening on http://ADDR` in a log line, text or JSON.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(rest.len());
    rest[..end].parse().ok()
}
