//! Private `redis-server` processes for tests that need a Redis unlike the shared one: with TLS
//! (certificates from a throwaway CA made here), a three-node Cluster, or one the test may pause and
//! whose clients it may kill.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_LIMIT: Duration = Duration::from_secs(20);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Waits until `check` holds, bounded; servers that take longer are broken.
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < START_LIMIT, "{what} did not happen within {START_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug)]
pub struct RedisServer {
    children: Vec<Child>,
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(dir: &Path, args: &[String]) -> Child {
    Command::new("redis-server")
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed for the Redis suite (.ci/run installs it)")
}

pub fn answers_tcp(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(200)).is_ok()
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &port.to_string()]).args(args).output();
    output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// A throwaway CA and a certificate it signed for `localhost`, as PEM files in a folder.
#[derive(Debug)]
pub struct TestCa {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestCa {
    pub fn write(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
        let server_key = KeyPair::generate().expect("key");
        let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .signed_by(&server_key, &ca)
            .expect("cert");
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write PEM");
            path
        };
        Self {
            ca_file: write("ca.pem", ca.pem()),
            cert_file: write("server.pem", server_cert.pem()),
            key_file: write("server.key", server_key.serialize_pem()),
        }
    }
}

impl RedisServer {
    /// A TLS-only Redis whose certificate (for `localhost`) is signed by a fresh CA; returns the
    /// server and the CA's PEM file.
    pub fn tls() -> (Self, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let TestCa { ca_file, cert_file, key_file } = TestCa::write(dir.path());
        let port = free_port();
        let child = spawn(
            dir.path(),
            &[
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.to_string(),
                "--tls-cert-file".into(),
                cert_file.display().to_string(),
                "--tls-key-file".into(),
                key_file.display().to_string(),
                "--tls-ca-cert-file".into(),
                ca_file.display().to_string(),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
        );
        wait_until("the TLS Redis accepting connections", || answers_tcp(port));
        (Self { children: vec![child], ports: vec![port], _dir: dir }, ca_file)
    }

    /// A plain Redis of the test's own, for tests that kill its clients or pause it, which would
    /// disturb every other test on the shared one.
    pub fn single() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let child = spawn(dir.path(), &["--port".into(), port.to_string()]);
        wait_until("the Redis answering PING", || redis_cli(port, &["PING"]).contains("PONG"));
        Self { children: vec![child], ports: vec![port], _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[0])
    }

    /// Kills a [`single`](Self::single) Redis with SIGKILL, as a crash or an OOM kill would.
    pub fn kill(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
        wait_until("the killed Redis refusing connections", || !answers_tcp(self.ports[0]));
    }

    /// Starts a [`single`](Self::single) Redis again on the same port, empty (it keeps nothing on
    /// disk).
    pub fn restart(&mut self) {
        let port = self.ports[0];
        self.children.push(spawn(self._dir.path(), &["--port".into(), port.to_string()]));
        wait_until("the restarted Redis answering PING", || redis_cli(port, &["PING"]).contains("PONG"));
        assert_eq!(redis_cli(port, &["DBSIZE"]).trim(), "0", "the restarted Redis is empty");
    }

    /// Three masters sharing the 16,384 slots.
    pub fn cluster() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let children = ports
            .iter()
            .map(|port| {
                spawn(
                    dir.path(),
                    &[
                        "--port".into(),
                        port.to_string(),
                        "--cluster-enabled".into(),
                        "yes".into(),
                        "--cluster-config-file".into(),
                        format!("nodes-{port}.conf"),
                        "--cluster-node-timeout".into(),
                        "2000".into(),
                    ],
                )
            })
            .collect();
        let server = Self { children, ports: ports.clone(), _dir: dir };
        for port in &ports {
            wait_until("a cluster node answering PING", || redis_cli(*port, &["PING"]).contains("PONG"));
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(nodes.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        redis_cli(ports[0], &create);
        for port in &ports {
            wait_until("the cluster reporting ok", || {
                redis_cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
        }
        server
    }

    /// Keys stored on each node, for checking that a cluster spreads them.
    pub fn keys_per_node(&self) -> Vec<u64> {
        self.ports.iter().map(|port| redis_cli(*port, &["DBSIZE"]).trim().parse().unwrap_or(0)).collect()
    }
}
