//! The webhook receiver peer (`tests/peers/webhook_receiver.py`): verifies every delivery with the
//! official `standardwebhooks` library and records it; tests script its answers per hook name.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::mail::python;

#[derive(Debug)]
pub struct Receiver {
    child: Child,
    pub base: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    pub fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/webhook_receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with standardwebhooks is needed for the webhook suite (.ci/run installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the receiver's port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("the receiver printed {line:?}, not a port"));
        Self { child, base: format!("http://127.0.0.1:{port}") }
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/hook/{name}", self.base)
    }

    /// How `name` behaves: `{"secret": …, "fail": N, "status": S, "hang": bool}`.
    pub async fn configure(&self, name: &str, config: serde_json::Value) {
        let response = super::http_client()
            .put(format!("{}/config/{name}", self.base))
            .json(&config)
            .send()
            .await
            .expect("configure the receiver");
        assert!(response.status().is_success());
    }

    pub async fn records(&self, name: &str) -> Vec<serde_json::Value> {
        let response = super::http_client().get(format!("{}/records/{name}", self.base)).send().await.expect("records");
        response.json().await.expect("records JSON")
    }

    /// The first `n` deliveries to `name`, once they have arrived (bounded).
    pub async fn wait_for(&self, name: &str, n: usize) -> Vec<serde_json::Value> {
        let started = Instant::now();
        loop {
            let records = self.records(name).await;
            if records.len() >= n {
                return records;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{n} deliveries to {name} did not arrive: {records:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
