//! Where test email goes: a local HTTP receiver in the shape of Resend's API (the only fake, since
//! the real API is outside), and a real SMTP server, `aiosmtpd` from PyPI, writing a Maildir.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;

use super::redis_server::{TestCa, free_port};

pub const API_KEY: &str = "re_test_key_never_logged";

/// Longest a test waits for an email the worker should send.
const DELIVERY_LIMIT: Duration = Duration::from_secs(15);

/// One request the email API received.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub authorization: String,
    pub idempotency_key: String,
    pub body: serde_json::Value,
    /// What the receiver answered.
    pub status: u16,
}

impl ApiRequest {
    pub fn token(&self) -> String {
        token_in(self.body["text"].as_str().expect("text body"))
    }
}

/// The token of the link in an email's text.
pub fn token_in(text: &str) -> String {
    let start = text.find("token=").unwrap_or_else(|| panic!("no link in {text}")) + "token=".len();
    text[start..start + 43].to_owned()
}

/// Scripted as a status, this receives the request and never answers it.
pub const HANG: u16 = 0;

#[derive(Clone)]
struct Receiver {
    /// Statuses to answer with, in turn; 202 once they run out.
    script: Arc<Mutex<VecDeque<u16>>>,
    sent: mpsc::UnboundedSender<ApiRequest>,
}

/// A local HTTP email API. Every request is recorded; the answers can be scripted.
#[derive(Debug)]
pub struct EmailApi {
    pub url: String,
    script: Arc<Mutex<VecDeque<u16>>>,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<ApiRequest>>,
}

async fn emails(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> StatusCode {
    let status = receiver.script.lock().expect("script").pop_front().unwrap_or(202);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let _ = receiver.sent.send(ApiRequest {
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body,
        status,
    });
    if status == HANG {
        std::future::pending::<()>().await;
    }
    StatusCode::from_u16(status).expect("status")
}

impl EmailApi {
    pub async fn start() -> Self {
        let (sent, received) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let router =
            axum::Router::new().route("/emails", post(emails)).with_state(Receiver { script: script.clone(), sent });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, script, received: tokio::sync::Mutex::new(received) }
    }

    /// The environment that points Gatehouse's `http` provider here.
    pub fn env(&self) -> [(&str, &str); 3] {
        [
            ("GATEHOUSE_EMAIL_PROVIDER", "http"),
            ("GATEHOUSE_EMAIL_HTTP_BASE_URL", self.url.as_str()),
            ("GATEHOUSE_EMAIL_HTTP_API_KEY", API_KEY),
        ]
    }

    /// Answers the next requests with these statuses.
    pub fn answer(&self, statuses: &[u16]) {
        self.script.lock().expect("script").extend(statuses);
    }

    /// The next request, within the delivery limit.
    pub async fn next(&self) -> ApiRequest {
        tokio::time::timeout(DELIVERY_LIMIT, self.received.lock().await.recv())
            .await
            .expect("an email within the delivery limit")
            .expect("the receiver runs")
    }

    /// Whether nothing else arrives within `wait`.
    pub async fn quiet_for(&self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.received.lock().await.recv()).await.is_err()
    }
}

/// `aiosmtpd` writing every message it accepts to a Maildir.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    pub ca_file: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python that has `aiosmtpd` (and `standardwebhooks`): `GATEHOUSE_TEST_PYTHON`, or `python3`.
pub fn python() -> String {
    std::env::var("GATEHOUSE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// How the sink secures connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    None,
    /// STARTTLS, required before mail is accepted.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

impl SmtpSink {
    /// `tests/peers/smtp_sink.py`: aiosmtpd in clear or with TLS (a certificate from a throwaway CA,
    /// `ca_file`), requiring `auth` as `user:password` when given.
    pub fn start(tls: SinkTls, auth: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let maildir = dir.path().join("maildir");
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/smtp_sink.py");
        let mut command = Command::new(python());
        command.arg(script).arg(port.to_string()).arg(&maildir);
        let mut ca_file = None;
        if tls != SinkTls::None {
            let ca = TestCa::write(dir.path());
            command.arg(if tls == SinkTls::StartTls { "--starttls" } else { "--smtps" });
            command.arg(&ca.cert_file).arg(&ca.key_file);
            ca_file = Some(ca.ca_file);
        }
        if let Some(auth) = auth {
            command.arg("--auth").arg(auth);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd is needed for the SMTP suite (.ci/run installs it)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("the sink's first line");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Self { child, port, maildir, ca_file, _dir: dir }
    }

    /// The raw messages delivered so far.
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir.join("new");
        let Ok(entries) = std::fs::read_dir(&new) else { return Vec::new() };
        entries.filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok()).collect()
    }

    /// Waits for the `n`th message.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let started = std::time::Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(started.elapsed() < DELIVERY_LIMIT, "{n} message(s) did not arrive at the SMTP sink");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A message's text with quoted-printable soft breaks and `=3D` undone, enough to find a link.
pub fn decoded(raw: &str) -> String {
    raw.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}
