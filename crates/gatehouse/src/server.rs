//! The HTTP listeners: how many connections each holds, how long a client may take, and what
//! happens past either limit.
//!
//! hyper serves each connection; this module owns everything around it, because hyper's one
//! timeout (for reading a request head) also runs while a keep-alive connection sits idle, and
//! axum's `serve` exposes neither that nor a connection cap:
//!
//! - A connection waiting for a request head (new, or mid-way through sending one) is closed after
//!   `header_read_timeout`; one idle between requests after `keep_alive_timeout`. Both are closed
//!   without an answer, as nginx does. A request in flight is never cut off here; the request
//!   timeout answers it.
//! - A head over `max_header_bytes` is answered 431 by hyper.
//! - At most `max_connections` connections are open per listener. At the cap, a new connection
//!   takes the place of the one that has been sending a request head the longest, or when none
//!   is, the one idle the longest (as nginx reuses idle keep-alive connections); never one with
//!   a request in flight. So slow clients cannot keep out probes and real clients, and
//!   established ones are never starved. When every connection has a request in flight, the new
//!   one is closed at once.
//! - Accept errors (out of file descriptors, most often) back off from 5 ms to 1 s, are counted
//!   in `gatehouse_accept_errors_total`, and are logged when they start and when they stop.

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, OwnedSemaphorePermit, Semaphore, watch},
};
use tower::ServiceExt as _;

/// The limits one listener enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_header_bytes: usize,
}

/// Connections accepted at the cap that may run on a borrowed place while the connection that
/// gave way for them closes. Beyond these, new connections are closed at once.
pub const OVERFLOW: usize = 64;

/// The separate metrics listener's own cap: a scraper needs one or two.
pub const METRICS_MAX_CONNECTIONS: usize = 64;

/// File descriptors kept back from the connection cap for everything else the process opens:
/// database and Redis connections, outbound HTTP and SMTP, files, the listeners themselves.
pub const FD_HEADROOM: u64 = 256;

/// The default cap when the file-descriptor limit allows more: beyond this, memory for idle
/// connections (about 10 KiB each) matters more than the count.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 50_000;

const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Connections the kernel may queue for a listener before it is accepted (Linux caps it at
/// `net.core.somaxconn`, 4,096 by default). A burst of new connections larger than this is
/// dropped by the kernel and retried by the client a second later.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener with [`LISTEN_BACKLOG`] (std and tokio use 128 and 1,024).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises this process's soft limit on open files to its hard limit (what Go does for every
/// program; Linux starts most services at 1,024) and returns the limit now in force, or `None`
/// when there is none.
pub fn raise_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => return limit.maximum,
                Err(error) => tracing::debug!(%error, "could not raise the open-file limit to its hard limit"),
            }
        }
        limit.current
    }
    #[cfg(not(unix))]
    None
}

/// The connection cap for the main listener: the configured one, or one that leaves
/// [`FD_HEADROOM`], [`OVERFLOW`] and the metrics listener's share of `file_limit` (but at least
/// half of a very low limit). A configured cap the limit
/// cannot hold is kept, with a warning that names the fix.
pub fn main_connection_cap(configured: Option<usize>, file_limit: Option<u64>, metrics_listener: bool) -> usize {
    let others = FD_HEADROOM + OVERFLOW as u64 + if metrics_listener { METRICS_MAX_CONNECTIONS as u64 } else { 0 };
    match (configured, file_limit) {
        (Some(cap), Some(limit)) => {
            let needed = cap as u64 + others;
            if needed > limit {
                tracing::warn!(
                    max_connections = cap,
                    open_file_limit = limit,
                    "server.max_connections is {cap} but this process may open only {limit} files, and needs about \
                     {needed}: past {} connections, accepting fails. Raise the limit (LimitNOFILE= for systemd, \
                     --ulimit nofile= for Docker, ulimit -n) to at least {needed}, or lower server.max_connections",
                    limit.saturating_sub(others),
                );
            }
            cap
        }
        (Some(cap), None) => cap,
        (None, Some(limit)) => {
            // On a very low limit, half of it still serves (accepting past the limit backs off).
            let cap = limit.saturating_sub(others).max(limit / 2).clamp(1, DEFAULT_MAX_CONNECTIONS);
            if cap < 1_000 {
                tracing::warn!(
                    open_file_limit = limit,
                    max_connections = cap,
                    "this process may open only {limit} files, so it takes at most {cap} connections; raise the \
                     limit (LimitNOFILE= for systemd, --ulimit nofile= for Docker, ulimit -n) for more"
                );
            }
            usize::try_from(cap).unwrap_or(usize::MAX)
        }
        (None, None) => DEFAULT_MAX_CONNECTIONS as usize,
    }
}

/// Serves `router` on `listener` until `stop` turns true, then stops accepting, lets each
/// request in flight finish (connections without one close at once) and returns when every
/// connection has closed. `name` labels the listener's metrics and logs.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
) {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let listening = Arc::new(Listening {
        name,
        limits,
        router,
        http: http_builder(&limits),
        registry: Registry::default(),
        epoch: Instant::now(),
        next_id: AtomicU64::new(0),
        permits: Arc::new(Semaphore::new(max)),
        overflow: Arc::new(Semaphore::new(OVERFLOW)),
        stop: stop.clone(),
        metrics: ListenerMetrics::new(name),
    });
    listening.metrics.max.set(max as f64);
    let mut errors = AcceptErrors::default();
    let mut stopping = std::pin::pin!(crate::app::stopped(stop));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stopping => break,
        };
        match accepted {
            Ok((stream, remote)) => {
                errors.recovered(name);
                listening.admit(stream, remote);
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                listening.metrics.accept_errors.increment(1);
                let wait = errors.failed(name, &error);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = &mut stopping => break,
                }
            }
        }
    }
    drop(listener);
    // Every connection holds a place until it has closed, so holding them all means all closed.
    // (A connection on a borrowed place may trade it for an own one meanwhile.)
    let _borrowed = listening.overflow.acquire_many(OVERFLOW as u32).await;
    let _own = listening.permits.acquire_many(u32::try_from(max).unwrap_or(u32::MAX)).await;
}

fn http_builder(limits: &ConnectionLimits) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.keep_alive(true)
        // The timeouts are this module's own (see the module docs).
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        // A head still incomplete when the buffer is full is also answered 431.
        .max_buf_size((limits.max_header_bytes + 1024).max(8192));
    http
}

/// Errors that concern one connection, which has already gone: nothing to back off from.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// A run of failed accepts: logged when it starts and when it ends, not on every error.
#[derive(Debug, Default)]
struct AcceptErrors {
    count: u64,
    since: Option<Instant>,
    backoff: Duration,
}

impl AcceptErrors {
    fn failed(&mut self, listener: &str, error: &io::Error) -> Duration {
        self.count += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            self.backoff = BACKOFF_FIRST;
            tracing::warn!(listener, %error, "cannot accept connections; retrying with backoff until it recovers");
        } else {
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        }
        self.backoff
    }

    fn recovered(&mut self, listener: &str) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                listener,
                failed_accepts = self.count,
                after_ms = since.elapsed().as_millis() as u64,
                "accepting connections again"
            );
            self.count = 0;
        }
    }
}

#[derive(Debug)]
struct ListenerMetrics {
    open: metrics::Gauge,
    max: metrics::Gauge,
    accept_errors: metrics::Counter,
    header_timeouts: metrics::Counter,
    idle_timeouts: metrics::Counter,
    displaced: metrics::Counter,
    refused: metrics::Counter,
}

impl ListenerMetrics {
    fn new(listener: &'static str) -> Self {
        let closed = |reason: &'static str| metrics::counter!("gatehouse_connections_closed_total", "listener" => listener, "reason" => reason);
        Self {
            open: metrics::gauge!("gatehouse_connections_open", "listener" => listener),
            max: metrics::gauge!("gatehouse_connections_max", "listener" => listener),
            accept_errors: metrics::counter!("gatehouse_accept_errors_total", "listener" => listener),
            header_timeouts: closed("header_timeout"),
            idle_timeouts: closed("idle_timeout"),
            displaced: closed("displaced"),
            refused: closed("refused"),
        }
    }
}

/// One listener's shared state.
#[derive(Debug)]
struct Listening {
    name: &'static str,
    limits: ConnectionLimits,
    router: Router,
    http: http1::Builder,
    registry: Registry,
    epoch: Instant,
    next_id: AtomicU64,
    permits: Arc<Semaphore>,
    overflow: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    metrics: ListenerMetrics,
}

impl Listening {
    fn now_ms(&self) -> u64 {
        ms(self.epoch.elapsed())
    }

    fn admit(self: &Arc<Self>, stream: TcpStream, remote: SocketAddr) {
        // Sends each response as soon as it is written: without it, a response written in two
        // parts waits 40 ms for the client's delayed ACK of the first.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            tokio::spawn(Arc::clone(self).connection(stream, remote, Place::Own(permit)));
            return;
        }
        // At the cap: the connection that has waited longest for a request gives way, and this
        // one starts at once on a borrowed place, until the one that gave way has closed and
        // left it its own. At most OVERFLOW are borrowed, so the process never holds more than
        // `max_connections + OVERFLOW`.
        let Ok(borrowed) = Arc::clone(&self.overflow).try_acquire_owned() else {
            self.metrics.refused.increment(1);
            return;
        };
        if !self.registry.displace_longest_waiting() {
            self.metrics.refused.increment(1);
            return;
        }
        self.metrics.displaced.increment(1);
        tokio::spawn(Arc::clone(self).connection(stream, remote, Place::Borrowed(borrowed)));
    }

    async fn connection(self: Arc<Self>, stream: TcpStream, remote: SocketAddr, mut place: Place) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(self.now_ms(), self.epoch));
        self.registry.insert(id, Arc::clone(&conn));
        self.metrics.open.increment(1.0);
        let outcome = self.drive(stream, remote, &conn, &mut place).await;
        match outcome {
            Closed::HeaderTimeout => self.metrics.header_timeouts.increment(1),
            Closed::IdleTimeout => self.metrics.idle_timeouts.increment(1),
            Closed::Displaced | Closed::Done => {}
        }
        self.registry.remove(id);
        self.metrics.open.decrement(1.0);
        drop(place);
    }

    async fn drive(&self, stream: TcpStream, remote: SocketAddr, conn: &Arc<Conn>, place: &mut Place) -> Closed {
        let router = self.router.clone();
        let busy = Arc::clone(conn);
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            busy.enter(Phase::Busy);
            request.extensions_mut().insert(ConnectInfo(remote));
            let answered = router.clone().oneshot(request);
            let busy = Arc::clone(&busy);
            async move {
                let response = answered.await;
                busy.enter(Phase::Idle);
                response
            }
        });
        let io = TokioIo::new(Watched { stream, conn: Arc::clone(conn) });
        let connection = self.http.serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let timer = tokio::time::sleep(Duration::ZERO);
        let mut timer = std::pin::pin!(timer);
        // A borrowed place is traded for an own one as soon as one is free.
        let own = Arc::clone(&self.permits).acquire_owned();
        let mut own = std::pin::pin!(own);
        let mut trading = matches!(place, Place::Borrowed(_));
        let mut stop = self.stop.clone();
        let mut stopping = *stop.borrow();
        if stopping {
            return Closed::Done;
        }
        loop {
            let (phase, since) = conn.state();
            let deadline = match phase {
                Phase::Head => since + ms(self.limits.header_read_timeout),
                Phase::Idle => since + ms(self.limits.keep_alive_timeout),
                // Looked at again then; the request timeout bounds a request, not this.
                Phase::Busy => self.now_ms() + ms(self.limits.keep_alive_timeout),
            };
            timer.as_mut().reset(tokio::time::Instant::from_std(self.epoch + Duration::from_millis(deadline)));
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(listener = self.name, %error, "connection ended with an error");
                    }
                    return Closed::Done;
                }
                () = conn.changed.notified() => {
                    if conn.displaced.load(Ordering::Acquire) {
                        return Closed::Displaced;
                    }
                }
                () = &mut timer => {
                    let (phase, since) = conn.state();
                    let now = self.now_ms();
                    match phase {
                        Phase::Head if now >= since + ms(self.limits.header_read_timeout) => return Closed::HeaderTimeout,
                        Phase::Idle if now >= since + ms(self.limits.keep_alive_timeout) => return Closed::IdleTimeout,
                        _ => {}
                    }
                }
                permit = &mut own, if trading => {
                    trading = false;
                    if let Ok(permit) = permit {
                        *place = Place::Own(permit);
                    }
                }
                changed = stop.changed(), if !stopping => {
                    stopping = true;
                    // A request in flight is answered first; a connection without one closes now.
                    if changed.is_err() || conn.state().0 != Phase::Busy {
                        return Closed::Done;
                    }
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A connection's place under the cap: its own, or one of the [`OVERFLOW`] lent to connections
/// accepted at the cap until the connection that gave way for them has closed.
#[derive(Debug)]
enum Place {
    Own(#[allow(dead_code)] OwnedSemaphorePermit),
    Borrowed(#[allow(dead_code)] OwnedSemaphorePermit),
}

enum Closed {
    Done,
    HeaderTimeout,
    IdleTimeout,
    Displaced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Waiting for a request head, some of it perhaps received: from accept, and from the first
    /// byte after an idle spell.
    Head = 0,
    /// Between requests on a keep-alive connection, nothing received yet.
    Idle = 1,
    /// A request is being handled.
    Busy = 2,
}

/// What the connection's task and the listener know of one connection.
#[derive(Debug)]
struct Conn {
    phase: AtomicU8,
    /// When the phase began, in ms since the listener's epoch.
    since: AtomicU64,
    epoch: Instant,
    /// Woken when the deadline moves earlier (idle → head) or the connection is displaced.
    changed: Notify,
    displaced: AtomicBool,
}

impl Conn {
    fn new(now_ms: u64, epoch: Instant) -> Self {
        Self {
            phase: AtomicU8::new(Phase::Head as u8),
            since: AtomicU64::new(now_ms),
            epoch,
            changed: Notify::new(),
            displaced: AtomicBool::new(false),
        }
    }

    fn enter(&self, phase: Phase) {
        self.since.store(ms(self.epoch.elapsed()), Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Release);
    }

    fn state(&self) -> (Phase, u64) {
        let phase = match self.phase.load(Ordering::Acquire) {
            0 => Phase::Head,
            1 => Phase::Idle,
            _ => Phase::Busy,
        };
        (phase, self.since.load(Ordering::Relaxed))
    }

    /// The first bytes after an idle spell start a head, whose timeout is the shorter one.
    fn received(&self) {
        if self.phase.load(Ordering::Relaxed) == Phase::Idle as u8 {
            self.enter(Phase::Head);
            self.changed.notify_one();
        }
    }
}

/// The open connections of one listener, so that at the cap one can be chosen to give way.
#[derive(Debug, Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// The next to give way, longest waiting last, from one look over every connection: a flood
    /// past the cap costs one such look per [`CANDIDATES`] connections, not one each.
    candidates: Mutex<Vec<Arc<Conn>>>,
}

/// How many connections one look over the registry picks to give way.
const CANDIDATES: usize = 128;

impl Registry {
    fn insert(&self, id: u64, conn: Arc<Conn>) {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).insert(id, conn);
    }

    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }

    /// Tells one connection without a request in flight to close: the one that has been sending
    /// a head the longest, or when none is, the one idle the longest. False when every
    /// connection has a request in flight.
    fn displace_longest_waiting(&self) -> bool {
        let mut candidates = self.candidates.lock().unwrap_or_else(PoisonError::into_inner);
        for refill in [false, true] {
            if refill {
                *candidates = self.longest_waiting(CANDIDATES);
            }
            // A candidate picked earlier may since have closed, started a request or given way.
            while let Some(conn) = candidates.pop() {
                if Arc::strong_count(&conn) > 1 && waiting_order(&conn).is_some() {
                    conn.displaced.store(true, Ordering::Release);
                    conn.changed.notify_one();
                    return true;
                }
            }
        }
        false
    }

    /// Up to `count` connections without a request in flight, longest waiting last.
    fn longest_waiting(&self, count: usize) -> Vec<Arc<Conn>> {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let mut waiting: Vec<((u8, u64), &Arc<Conn>)> =
            conns.values().filter_map(|conn| waiting_order(conn).map(|order| (order, conn))).collect();
        if waiting.len() > count {
            waiting.select_nth_unstable_by_key(count, |(order, _)| *order);
            waiting.truncate(count);
        }
        waiting.sort_unstable_by_key(|(order, _)| std::cmp::Reverse(*order));
        waiting.into_iter().map(|(_, conn)| Arc::clone(conn)).collect()
    }
}

/// Which connections give way first: those sending a head (longest first), then idle ones;
/// `None` for one with a request in flight or already told to close.
fn waiting_order(conn: &Conn) -> Option<(u8, u64)> {
    if conn.displaced.load(Ordering::Relaxed) {
        return None;
    }
    match conn.state() {
        (Phase::Head, since) => Some((0, since)),
        (Phase::Idle, since) => Some((1, since)),
        (Phase::Busy, _) => None,
    }
}

/// The connection's socket, noting when a request head starts arriving.
#[derive(Debug)]
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.received();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_room_for_everything_else() {
        assert_eq!(main_connection_cap(None, Some(20_000), false), 20_000 - 256 - 64);
        assert_eq!(main_connection_cap(None, Some(20_000), true), 20_000 - 256 - 64 - 64);
        assert_eq!(main_connection_cap(None, Some(1 << 20), false), 50_000);
        assert_eq!(main_connection_cap(None, None, false), 50_000);
        assert_eq!(main_connection_cap(None, Some(100), false), 50, "half a very low limit");
        assert_eq!(main_connection_cap(Some(30_000), Some(20_000), false), 30_000, "a configured cap is kept");
    }

    #[test]
    fn slow_heads_give_way_first_then_idle_connections_and_a_busy_one_never() {
        let registry = Registry::default();
        let epoch = Instant::now();
        let conn = |since: u64, phase: Phase| {
            let conn = Arc::new(Conn::new(0, epoch));
            conn.phase.store(phase as u8, Ordering::Relaxed);
            conn.since.store(since, Ordering::Relaxed);
            conn
        };
        let (busy, idle, old_head, young_head) =
            (conn(0, Phase::Busy), conn(1, Phase::Idle), conn(5, Phase::Head), conn(50, Phase::Head));
        for (id, conn) in [(1, &busy), (2, &idle), (3, &old_head), (4, &young_head)] {
            registry.insert(id, Arc::clone(conn));
        }
        for expected in [&old_head, &young_head, &idle] {
            assert!(registry.displace_longest_waiting());
            assert!(expected.displaced.load(Ordering::Relaxed));
        }
        assert!(!registry.displace_longest_waiting(), "only a connection with a request in flight is left");
        assert!(!busy.displaced.load(Ordering::Relaxed));
    }
}
