//! A TCP proxy between Gatehouse and a dependency, controlled by the test: pass traffic, slow
//! the dependency's answers down, or cut every connection as an outage would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Every chunk from the dependency back to Gatehouse waits this long.
    DelayReplies(Duration),
    /// Existing connections are closed and new ones are closed as soon as they are accepted.
    Down,
}

#[derive(Debug)]
pub struct TcpProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    delayed_request: Arc<Notify>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        let delayed_request = Arc::new(Notify::new());
        let notify = delayed_request.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *mode_rx.borrow() == Mode::Down {
                    drop(client);
                    continue;
                }
                tokio::spawn(relay(client, upstream, mode_rx.clone(), notify.clone()));
            }
        });
        Self { addr, mode, delayed_request }
    }

    /// A proxy in front of the service a URL names (`postgres://…`, `redis://…`), and the same URL
    /// pointed at the proxy instead.
    pub async fn in_front_of(url: &str, default_port: u16) -> (Self, String) {
        let mut url = url::Url::parse(url).expect("service URL");
        let host = url.host_str().expect("host").to_owned();
        let upstream = tokio::net::lookup_host((host.as_str(), url.port().unwrap_or(default_port)))
            .await
            .expect("resolve")
            .next()
            .expect("address");
        let proxy = Self::start(upstream).await;
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(proxy.addr.port())).expect("port");
        (proxy, url.to_string())
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Completes when Gatehouse sends the dependency something while replies are being delayed:
    /// from then on a request is waiting on the slow dependency.
    pub async fn delayed_request_sent(&self) {
        self.delayed_request.notified().await;
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, mode: watch::Receiver<Mode>, notify: Arc<Notify>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let outbound = pump(client_read, server_write, mode.clone(), Some(notify), false);
    let inbound = pump(server_read, client_write, mode, None, true);
    tokio::select! {
        () = outbound => {}
        () = inbound => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    notify_when_delayed: Option<Arc<Notify>>,
    delays_apply: bool,
) {
    let mut buf = vec![0_u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            _ = mode.wait_for(|m| *m == Mode::Down) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let current = *mode.borrow();
        match current {
            Mode::Down => return,
            Mode::DelayReplies(delay) => {
                if let Some(notify) = &notify_when_delayed {
                    notify.notify_one();
                }
                if delays_apply {
                    tokio::time::sleep(delay).await;
                }
            }
            Mode::Pass => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
