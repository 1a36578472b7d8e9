//! Redis: a fast path and coordination layer, never the only copy of anything.
//!
//! Every call is bounded by a short timeout and guarded by a circuit breaker, so when Redis is slow
//! or down requests fall back to SQL at once instead of waiting. Connecting is lazy: Gatehouse
//! starts, and serves, while Redis is unreachable, and reconnects by itself. State changes are
//! logged once each; every fallback is counted in `gatehouse_cache_fallbacks_total`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_core::circuit::{BreakerState, CircuitBreaker, Permit, Transition};
use gatehouse_core::health::{DependencyCheck, DependencyReport};
use gatehouse_core::store::StoreError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use tokio::sync::OnceCell;

/// Consecutive failures that open the breaker, and how long it then stays open.
const FAILURE_THRESHOLD: u32 = 3;
const COOL_DOWN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` (TLS), credentials included when there are any.
    pub url: String,
    /// Prepended to every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Longest a single Redis call may take before it counts as a failure.
    pub timeout: Duration,
    /// Talk to a Redis Cluster (the URL names one seed node).
    pub cluster: bool,
    /// PEM certificate(s) of a private CA that signed the server's certificate (`rediss://` only);
    /// without it the system's roots are used.
    pub tls_ca_pem: Option<Vec<u8>>,
}

impl RedisSettings {
    fn certificates(&self) -> Option<redis::TlsCertificates> {
        self.tls_ca_pem.clone().map(|root| redis::TlsCertificates { client_tls: None, root_cert: Some(root) })
    }
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(Arc<(redis::cluster::ClusterClient, OnceCell<ClusterConnection>)>),
}

/// A shared handle to Redis with its breaker.
#[derive(Clone)]
pub struct Redis {
    connection: Connection,
    breaker: Arc<Mutex<CircuitBreaker>>,
    prefix: Arc<str>,
    timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection holds credentials; only the prefix is shown.
        f.debug_struct("Redis").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Why a Redis call did not happen or did not succeed; either way the caller falls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUnavailable {
    BreakerOpen,
    Failed,
}

fn config_error(error: &redis::RedisError) -> StoreError {
    // The error names the problem (bad scheme, bad port), not the URL.
    StoreError::Backend(format!("invalid Redis settings: {:?}", error.kind()))
}

impl Redis {
    /// Prepares a connection without touching the network.
    pub fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let connection = if settings.cluster {
            let mut builder = redis::cluster::ClusterClientBuilder::new(vec![settings.url.as_str()])
                .connection_timeout(settings.timeout)
                .response_timeout(settings.timeout)
                .retries(0);
            if let Some(certificates) = settings.certificates() {
                builder = builder.certs(certificates);
            }
            let client = builder.build().map_err(|e| config_error(&e))?;
            Connection::Cluster(Arc::new((client, OnceCell::new())))
        } else {
            let client = match settings.certificates() {
                Some(certificates) => redis::Client::build_with_tls(settings.url.as_str(), certificates),
                None => redis::Client::open(settings.url.as_str()),
            }
            .map_err(|e| config_error(&e))?;
            // The breaker decides when to try again; the manager must not also back off and retry
            // inside a request, or that request would wait.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(settings.timeout))
                .set_response_timeout(Some(settings.timeout))
                .set_number_of_retries(0)
                .set_min_delay(Duration::from_millis(1))
                .set_max_delay(Duration::from_millis(1));
            Connection::Single(ConnectionManager::new_lazy_with_config(client, config).map_err(|e| config_error(&e))?)
        };
        // The breaker starts closed: Redis is presumed up until a call says otherwise.
        metrics::gauge!("gatehouse_cache_up").set(1.0);
        Ok(Self {
            connection,
            breaker: Arc::new(Mutex::new(CircuitBreaker::new(FAILURE_THRESHOLD, COOL_DOWN))),
            prefix: settings.key_prefix.clone().into(),
            timeout: settings.timeout,
        })
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker().state()
    }

    fn report(transition: Option<Transition>) {
        match transition {
            Some(Transition::Opened) => {
                metrics::gauge!("gatehouse_cache_up").set(0.0);
                tracing::warn!("Redis is unreachable; serving from SQL until it answers again");
            }
            Some(Transition::Closed) => {
                metrics::gauge!("gatehouse_cache_up").set(1.0);
                tracing::info!("Redis answers again; the fast path is back");
            }
            None => {}
        }
    }

    /// Runs one command under the breaker and the timeout. `Permit::Probe` calls are the ones that
    /// decide whether an open breaker closes again.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, CacheUnavailable> {
        self.guarded(self.send(command)).await
    }

    /// Runs a Lua script by its SHA-1 (`EVALSHA`), loading it once when Redis does not know it yet
    /// (after a restart), under the breaker and the timeout like [`Redis::query`].
    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, CacheUnavailable> {
        self.guarded(async {
            match &self.connection {
                Connection::Single(manager) => invocation.invoke_async(&mut manager.clone()).await,
                Connection::Cluster(cluster) => {
                    let (client, cell) = cluster.as_ref();
                    let connection = cell.get_or_try_init(|| client.get_async_connection()).await?;
                    invocation.invoke_async(&mut connection.clone()).await
                }
            }
        })
        .await
    }

    /// Awaits `sent` (not started before) if the breaker permits, within the timeout, and tells the
    /// breaker how it went.
    async fn guarded<T>(
        &self,
        sent: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheUnavailable> {
        if self.breaker().permit(Instant::now()) == Permit::Denied {
            return Err(CacheUnavailable::BreakerOpen);
        }
        match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(value)) => {
                let transition = self.breaker().on_success();
                Self::report(transition);
                Ok(value)
            }
            Ok(Err(_)) | Err(_) => {
                let transition = self.breaker().on_failure(Instant::now());
                Self::report(transition);
                Err(CacheUnavailable::Failed)
            }
        }
    }

    async fn send<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> redis::RedisResult<T> {
        match &self.connection {
            Connection::Single(manager) => command.query_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => {
                let (client, cell) = cluster.as_ref();
                let connection = cell.get_or_try_init(|| client.get_async_connection()).await?;
                command.query_async(&mut connection.clone()).await
            }
        }
    }
}

/// `/health` sees Redis as `ok` when a PING answers, `degraded` when Gatehouse is serving without
/// it. Readiness never depends on it: SQL serves when Redis cannot.
#[async_trait]
impl DependencyCheck for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> DependencyReport {
        let started = Instant::now();
        let outcome = self.query::<String>(&redis::cmd("PING")).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok(_) => DependencyReport::ok(latency_ms),
            Err(CacheUnavailable::BreakerOpen) => {
                DependencyReport::degraded(None, "unreachable; serving from SQL (per-instance fallbacks apply)")
            }
            Err(CacheUnavailable::Failed) => {
                DependencyReport::degraded(Some(latency_ms), "not answering; serving from SQL")
            }
        }
    }
}
