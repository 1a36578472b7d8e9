//! Real reverse proxies for the forward-auth suite: nginx and Caddy from Debian, each run
//! unprivileged on a loopback port with the very configuration `docs/forward-auth/` publishes,
//! and an upstream app that answers with the headers it received.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The documented configs name these; the suite swaps in its own addresses.
const DOC_GATEHOUSE: &str = "127.0.0.1:8080";
const DOC_APP: &str = "127.0.0.1:3000";

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/forward-auth").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Whether `program` can run here; in CI it must (the suite may not be skipped).
pub fn available(program: &str, package: &str) -> bool {
    let found = Command::new(program).arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{program} must be installed in CI (apt-get install {package})");
        eprintln!("note: the forward-auth suite did not run through {program}: apt-get install {package}");
    }
    found
}

/// A running proxy, stopped when dropped.
#[derive(Debug)]
pub struct Proxy {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(addr: SocketAddr, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on {addr}: {}", std::fs::read_to_string(log).unwrap_or_default());
}

impl Proxy {
    /// nginx with `docs/forward-auth/nginx.conf` as its one server.
    pub fn nginx(gatehouse: SocketAddr, app: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        // Workers run as nobody and must read the folder.
        set_mode(dir.path(), 0o755);
        let port = free_port();
        let site = doc("nginx.conf")
            .replace(DOC_GATEHOUSE, &gatehouse.to_string())
            .replace(DOC_APP, &app.to_string())
            .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));
        let root = dir.path().display().to_string();
        std::fs::write(dir.path().join("site.conf"), site).expect("write");
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n\
             events {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {root}/body;\n\
             proxy_temp_path {root}/proxy;\n  fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n\
             scgi_temp_path {root}/scgi;\n  include {root}/site.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).expect("write");
        let log = dir.path().join("error.log");
        let mut child = Command::new("nginx")
            .args(["-p", &format!("{root}/"), "-c", &format!("{root}/nginx.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for(addr, &mut child, "nginx", &log);
        Self { child, addr, _dir: dir }
    }

    /// Caddy with `docs/forward-auth/Caddyfile`.
    pub fn caddy(gatehouse: SocketAddr, app: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let config = doc("Caddyfile")
            .replace(DOC_GATEHOUSE, &gatehouse.to_string())
            .replace(DOC_APP, &app.to_string())
            .replace("http://:8000", &format!("http://:{port}"));
        let file = dir.path().join("Caddyfile");
        std::fs::write(&file, config).expect("write");
        let log = dir.path().join("caddy.log");
        let out = std::fs::File::create(&log).expect("log");
        let home: PathBuf = dir.path().join("home");
        let mut child = Command::new("caddy")
            .args(["run", "--config", &file.display().to_string(), "--adapter", "caddyfile"])
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn caddy");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for(addr, &mut child, "caddy", &log);
        Self { child, addr, _dir: dir }
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The app behind the proxy: answers every request with the headers it received, as JSON.
pub async fn echo_app() -> SocketAddr {
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|request: axum::extract::Request| async move {
        let headers: serde_json::Map<String, serde_json::Value> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into()))
            .collect();
        let body = serde_json::json!({ "path": request.uri().to_string(), "headers": headers });
        axum::Json(body).into_response()
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
