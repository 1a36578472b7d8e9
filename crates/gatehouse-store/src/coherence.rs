//! Keeping every instance's session caches coherent: the invalidation log and the in-process cache.
//!
//! **The log is the guarantee.** Every change that makes a cached session wrong writes the
//! session's token hash to `session_invalidations`, by trigger, in the change's own transaction
//! (migration 0009). Each instance reads the log from where it last read, every `poll_interval`
//! and at once when PostgreSQL notifies that it grew. What a read names is
//!
//! - dropped from this instance's in-process cache,
//! - deleted from Redis (best effort),
//! - and remembered as a *tombstone* for longer than any cached copy can live: a Redis entry of a
//!   tombstoned session is never trusted again (it may have been written by a fill that raced the
//!   change, or survived a failed delete), and an in-process entry filled before the tombstone was
//!   laid is never read again (the fill may have raced the change).
//!
//! Pushes (`NOTIFY`) make the log fast; its reads make it certain, because a push can be lost and a
//! read cannot skip a committed row. An instance that has not read the log for `stale_after` serves
//! its cache anyway (a database outage must not sign everyone out) or refuses it, by config
//! (`session.when_log_unreadable`); `/health` says which, and how stale.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_core::audit::AuditEvent;
use gatehouse_core::health::{DependencyCheck, DependencyReport};
use gatehouse_core::jobs::NewJob;
use gatehouse_core::sessions::{NewSession, Session, SessionStore, SessionWithUser, TokenHash};
use gatehouse_core::store::StoreError;
use uuid::Uuid;

use crate::redis::Redis;

/// Tombstones kept before the instance gives up tracking them one by one and distrusts every
/// cached copy instead, until they could all have expired.
const MAX_TOMBSTONES: usize = 1_000_000;

/// Where a reader of the log stands.
#[derive(Debug, Clone)]
pub enum LogCursor {
    /// SQLite: rows are numbered in commit order (one writer), so the last number read.
    Seq(i64),
    /// PostgreSQL: the xmin of the snapshot of the last read; every row of a transaction at or
    /// after it is read again (and skipped when already seen).
    Xmin(i64),
}

/// The log's rows since a cursor: `(seq, token hash)`, maybe some already seen.
#[derive(Debug)]
pub struct LogRead {
    pub cursor: LogCursor,
    pub rows: Vec<(i64, TokenHash)>,
}

/// The invalidation log as the engines keep it.
#[async_trait]
pub trait InvalidationLog: Send + Sync + std::fmt::Debug {
    /// Where a new reader starts, and the hashes invalidated within `lookback` (to lay as
    /// tombstones, since Redis may still hold copies of them).
    async fn open(&self, lookback: Duration) -> Result<(LogCursor, Vec<TokenHash>), StoreError>;

    /// Every row committed since `cursor` (one indexed query).
    async fn read(&self, cursor: &LogCursor) -> Result<LogRead, StoreError>;

    /// Deletes rows older than `age`; returns how many.
    async fn prune(&self, age: Duration) -> Result<u64, StoreError>;
}

/// What an instance does with its caches while it cannot read the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenLogUnreadable {
    /// Keep serving cached sessions (the default: a database outage must not sign everyone out).
    Serve,
    /// Read every session from SQL, which answers 503 while it is down.
    Refuse,
}

#[derive(Debug, Clone)]
pub struct CoherenceSettings {
    /// How often the log is read when nothing notifies.
    pub poll_interval: Duration,
    /// In-process entries live at most this long.
    pub local_ttl: Duration,
    /// In-process entries held at most; `0` turns the in-process cache off.
    pub local_entries: usize,
    /// The longest a copy of a session can live anywhere (Redis entries included); tombstones
    /// outlive it.
    pub longest_copy: Duration,
    /// The log counts as unread after this long without a successful read.
    pub stale_after: Duration,
    pub when_unreadable: WhenLogUnreadable,
}

impl CoherenceSettings {
    fn tombstone_lifetime(&self) -> Duration {
        self.longest_copy.max(self.local_ttl) + Duration::from_secs(60)
    }
}

/// One cached session: the record, the generation its fill began at, and when it expires.
#[derive(Debug)]
struct Entry {
    record: SessionWithUser,
    generation: u64,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Tombstones {
    /// Token hash → the generation it was laid at.
    laid: HashMap<TokenHash, u64>,
    /// In the order laid, for expiry.
    order: VecDeque<(Instant, TokenHash, u64)>,
    /// Every cached copy is distrusted until then (tombstones overflowed, or the log went unread
    /// for longer than it is kept).
    distrust_until: Option<Instant>,
}

#[derive(Debug)]
struct Reader {
    cursor: Option<LogCursor>,
    /// Rows of the last read, so a row read again (PostgreSQL) is applied once.
    seen: HashSet<i64>,
    last_prune: Instant,
}

/// The counters `/health` and the metrics show (metric handles made once, not looked up per request).
#[derive(Debug)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    hit_metric: metrics::Counter,
    miss_metric: metrics::Counter,
}

impl Counters {
    fn new() -> Self {
        Self {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            hit_metric: metrics::counter!("gatehouse_session_cache_requests_total", "result" => "hit"),
            miss_metric: metrics::counter!("gatehouse_session_cache_requests_total", "result" => "miss"),
        }
    }
}

/// Coherence state shared by the caches of one instance.
pub struct Coherence {
    log: Arc<dyn InvalidationLog>,
    redis: Option<Redis>,
    settings: CoherenceSettings,
    generation: AtomicU64,
    tombstones: Mutex<Tombstones>,
    reader: tokio::sync::Mutex<Reader>,
    last_read: Mutex<Option<Instant>>,
    entries: Option<quick_cache::sync::Cache<TokenHash, Arc<Entry>>>,
    by_id: Option<quick_cache::sync::Cache<Uuid, TokenHash>>,
    listening: AtomicBool,
    counters: Counters,
}

impl std::fmt::Debug for Coherence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coherence").field("settings", &self.settings).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Coherence {
    pub fn new(log: Arc<dyn InvalidationLog>, redis: Option<Redis>, settings: CoherenceSettings) -> Self {
        let (entries, by_id) = if settings.local_entries > 0 {
            (
                Some(quick_cache::sync::Cache::new(settings.local_entries)),
                Some(quick_cache::sync::Cache::new(settings.local_entries)),
            )
        } else {
            (None, None)
        };
        metrics::gauge!("gatehouse_session_cache_entries").set(0.0);
        Self {
            log,
            redis,
            settings,
            generation: AtomicU64::new(0),
            tombstones: Mutex::new(Tombstones::default()),
            reader: tokio::sync::Mutex::new(Reader { cursor: None, seen: HashSet::new(), last_prune: Instant::now() }),
            last_read: Mutex::new(None),
            entries,
            by_id,
            listening: AtomicBool::new(false),
            counters: Counters::new(),
        }
    }

    pub fn settings(&self) -> &CoherenceSettings {
        &self.settings
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How long since the log was last read, if it ever was.
    fn log_age(&self) -> Option<Duration> {
        lock(&self.last_read).map(|at| at.elapsed())
    }

    /// Whether cached copies may be served now: the log has been read recently, or it cannot be
    /// and the config says to keep serving. Never before the first read.
    fn caches_trusted(&self) -> bool {
        match self.log_age() {
            None => false,
            Some(age) => age < self.settings.stale_after || self.settings.when_unreadable == WhenLogUnreadable::Serve,
        }
    }

    fn distrusted(&self, tombstones: &Tombstones) -> bool {
        tombstones.distrust_until.is_some_and(|until| Instant::now() < until)
    }

    /// Whether a copy of `hash` in Redis may be served.
    pub fn redis_copy_trusted(&self, hash: &TokenHash) -> bool {
        if !self.caches_trusted() {
            return false;
        }
        let tombstones = lock(&self.tombstones);
        !self.distrusted(&tombstones) && !tombstones.laid.contains_key(hash)
    }

    /// Whether `hash` was invalidated after a read that began at `generation`, so what that read
    /// found must not be cached.
    fn invalidated_since(&self, hash: &TokenHash, generation: u64) -> bool {
        let tombstones = lock(&self.tombstones);
        self.distrusted(&tombstones) || tombstones.laid.get(hash).is_some_and(|laid| *laid > generation)
    }

    /// Lays tombstones for `hashes` and drops their in-process entries.
    pub fn invalidate(&self, hashes: &[TokenHash]) {
        if hashes.is_empty() {
            return;
        }
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let expires = Instant::now() + self.settings.tombstone_lifetime();
        {
            let mut tombstones = lock(&self.tombstones);
            for hash in hashes {
                tombstones.laid.insert(*hash, generation);
                tombstones.order.push_back((expires, *hash, generation));
            }
            if tombstones.laid.len() > MAX_TOMBSTONES {
                *tombstones = Tombstones { distrust_until: Some(expires), ..Tombstones::default() };
                drop(tombstones);
                tracing::warn!("too many session invalidations to track; distrusting every cached copy for a while");
                self.clear_local();
            }
        }
        if let Some(entries) = &self.entries {
            for hash in hashes {
                entries.remove(hash);
            }
        }
    }

    fn clear_local(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.clear();
        }
        metrics::gauge!("gatehouse_session_cache_entries").set(0.0);
    }

    /// Distrusts every cached copy made before now, for as long as one can live.
    pub fn distrust_all(&self) {
        let until = Instant::now() + self.settings.tombstone_lifetime();
        lock(&self.tombstones).distrust_until = Some(until);
        self.clear_local();
    }

    fn expire_tombstones(&self) {
        let now = Instant::now();
        let mut tombstones = lock(&self.tombstones);
        while let Some((expires, hash, generation)) = tombstones.order.front().copied() {
            if expires > now {
                break;
            }
            tombstones.order.pop_front();
            if tombstones.laid.get(&hash) == Some(&generation) {
                tombstones.laid.remove(&hash);
            }
        }
    }

    /// Reads the log from where this instance last read and applies what it names. Called by the
    /// poll loop, and by a request that changed sessions and wants its own instance current before
    /// it answers.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let mut reader = self.reader.lock().await;
        let started = Instant::now();
        let fresh = match &reader.cursor {
            None => {
                let (cursor, recent) = self.log.open(self.settings.tombstone_lifetime()).await?;
                reader.cursor = Some(cursor);
                self.invalidate(&recent);
                Vec::new()
            }
            Some(cursor) => {
                let gap = self.log_age();
                let read = self.log.read(cursor).await?;
                if gap.is_some_and(|gap| gap > self.settings.tombstone_lifetime()) {
                    // Unread for longer than rows are sure to be kept: some may be gone.
                    tracing::warn!("the session invalidation log went unread too long; distrusting cached copies");
                    self.distrust_all();
                }
                let fresh: Vec<TokenHash> =
                    read.rows.iter().filter(|(seq, _)| !reader.seen.contains(seq)).map(|(_, hash)| *hash).collect();
                reader.seen = read.rows.iter().map(|(seq, _)| *seq).collect();
                reader.cursor = Some(read.cursor);
                self.invalidate(&fresh);
                fresh
            }
        };
        *lock(&self.last_read) = Some(started);
        metrics::gauge!("gatehouse_session_invalidation_log_age_seconds").set(0.0);
        let entries = self.entries.as_ref().map_or(0, quick_cache::sync::Cache::len);
        metrics::gauge!("gatehouse_session_cache_entries").set(entries as f64);
        if !fresh.is_empty() {
            metrics::counter!("gatehouse_session_invalidations_total").increment(fresh.len() as u64);
        }
        let prune_due = reader.last_prune.elapsed() >= Duration::from_secs(60);
        if prune_due {
            reader.last_prune = Instant::now();
        }
        drop(reader);
        self.expire_tombstones();
        if let Some(redis) = &self.redis {
            for hash in &fresh {
                let key = redis.key(&format!("session:{}", hash.to_hex()));
                if redis.query::<i64>(redis::cmd("DEL").arg(key)).await.is_err() {
                    // The tombstone keeps the copy from being served; Redis expires it.
                    break;
                }
            }
        }
        if prune_due && let Err(error) = self.log.prune(self.settings.tombstone_lifetime() * 2).await {
            tracing::debug!(%error, "could not prune the session invalidation log");
        }
        Ok(())
    }

    /// Reads the log every `poll_interval` and whenever `wake` is notified, until dropped.
    pub async fn run(&self, wake: &tokio::sync::Notify) {
        let mut failing = false;
        loop {
            let outcome =
                tokio::time::timeout(self.settings.stale_after.max(Duration::from_millis(500)), self.catch_up()).await;
            match outcome {
                Ok(Ok(())) => {
                    if failing {
                        tracing::info!("the session invalidation log is read again; cached sessions are current");
                    }
                    failing = false;
                }
                Ok(Err(_)) | Err(_) => {
                    if !failing {
                        tracing::warn!(
                            when_unreadable = ?self.settings.when_unreadable,
                            "cannot read the session invalidation log; see /health"
                        );
                    }
                    failing = true;
                    if let Some(age) = self.log_age() {
                        metrics::gauge!("gatehouse_session_invalidation_log_age_seconds").set(age.as_secs_f64());
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                () = wake.notified() => {}
            }
        }
    }

    /// Records whether the push channel (`LISTEN`) is connected, for `/health`.
    pub fn set_listening(&self, connected: bool) {
        self.listening.store(connected, Ordering::Relaxed);
    }

    fn local_entry(&self, hash: &TokenHash) -> Option<SessionWithUser> {
        let entries = self.entries.as_ref()?;
        if !self.caches_trusted() {
            return None;
        }
        let entry = entries.get(hash)?;
        let now = time::OffsetDateTime::now_utc();
        // An entry past its idle expiry may only be stale (another instance may have refreshed the
        // session), so the source decides.
        if Instant::now() >= entry.expires
            || entry.record.session.idle_expires_at <= now
            || self.invalidated_since(hash, entry.generation)
        {
            entries.remove(hash);
            return None;
        }
        Some(entry.record.clone())
    }

    fn install(&self, record: &SessionWithUser, generation: u64) {
        let (Some(entries), Some(by_id)) = (&self.entries, &self.by_id) else { return };
        if self.invalidated_since(&record.token_hash, generation) {
            return;
        }
        let entry = Entry { record: record.clone(), generation, expires: Instant::now() + self.settings.local_ttl };
        entries.insert(record.token_hash, Arc::new(entry));
        by_id.insert(record.session.id, record.token_hash);
    }

    fn count(&self, hit: bool) {
        if hit {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            self.counters.hit_metric.increment(1);
        } else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            self.counters.miss_metric.increment(1);
        }
    }

    /// The generation a read starts at, for a fill after it.
    pub fn fill_generation(&self) -> u64 {
        self.generation()
    }

    /// Whether what a read that began at `generation` found for `hash` may be written to Redis.
    pub fn may_fill(&self, hash: &TokenHash, generation: u64) -> bool {
        !self.invalidated_since(hash, generation)
    }
}

/// `/health`: the in-process cache and the log that keeps it coherent.
#[async_trait]
impl DependencyCheck for Coherence {
    fn name(&self) -> &'static str {
        "session_cache"
    }

    async fn check(&self) -> DependencyReport {
        let hits = self.counters.hits.load(Ordering::Relaxed);
        let misses = self.counters.misses.load(Ordering::Relaxed);
        let ratio = if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 };
        let entries = self.entries.as_ref().map_or(0, quick_cache::sync::Cache::len);
        let cache = if self.entries.is_some() { "on" } else { "off" };
        let push = if self.listening.load(Ordering::Relaxed) { "notify and poll" } else { "poll" };
        let summary = format!(
            "in-process cache {cache}: {entries} entries, hit ratio {ratio:.3}; invalidation log read by {push}"
        );
        match self.log_age() {
            Some(age) if age < self.settings.stale_after => DependencyReport {
                latency_ms: None,
                detail: Some(format!("{summary}, last {} ms ago", age.as_millis())),
                ..DependencyReport::ok(0)
            },
            Some(age) => {
                let action = match self.settings.when_unreadable {
                    WhenLogUnreadable::Serve => "serving cached sessions, which may miss changes made since",
                    WhenLogUnreadable::Refuse => "reading every session from SQL",
                };
                DependencyReport::degraded(
                    None,
                    format!("{summary}; the log is unread for {:.1} s, {action}", age.as_secs_f64()),
                )
            }
            None => DependencyReport::degraded(None, format!("{summary}; the log has not been read yet")),
        }
    }
}

/// The in-process cache in front of a session store (Redis's or SQL's).
#[derive(Debug)]
pub struct LocalSessionCache {
    inner: Arc<dyn SessionStore>,
    coherence: Arc<Coherence>,
}

impl LocalSessionCache {
    pub fn new(inner: Arc<dyn SessionStore>, coherence: Arc<Coherence>) -> Self {
        Self { inner, coherence }
    }
}

#[async_trait]
impl SessionStore for LocalSessionCache {
    async fn create_session(&self, new: &NewSession, events: &[AuditEvent], jobs: &[NewJob]) -> Result<(), StoreError> {
        self.inner.create_session(new, events, jobs).await
    }

    async fn session_by_token(&self, token_hash: &TokenHash) -> Result<Option<SessionWithUser>, StoreError> {
        if let Some(record) = self.coherence.local_entry(token_hash) {
            self.coherence.count(true);
            return Ok(Some(record));
        }
        self.coherence.count(false);
        let generation = self.coherence.generation();
        let found = self.inner.session_by_token(token_hash).await?;
        if let Some(record) = &found {
            self.coherence.install(record, generation);
        }
        Ok(found)
    }

    async fn session_by_id(&self, session_id: Uuid) -> Result<Option<SessionWithUser>, StoreError> {
        let hash = self.coherence.by_id.as_ref().and_then(|by_id| by_id.get(&session_id));
        if let Some(hash) = hash
            && let Some(record) = self.coherence.local_entry(&hash)
            && record.session.id == session_id
        {
            self.coherence.count(true);
            return Ok(Some(record));
        }
        self.coherence.count(false);
        let generation = self.coherence.generation();
        let found = self.inner.session_by_id(session_id).await?;
        if let Some(record) = &found {
            self.coherence.install(record, generation);
        }
        Ok(found)
    }

    async fn touch_session(&self, refreshed: &SessionWithUser) -> Result<(), StoreError> {
        self.inner.touch_session(refreshed).await?;
        if let Some(entries) = &self.coherence.entries
            && let Some(entry) = entries.get(&refreshed.token_hash)
        {
            // Same generation and expiry: a refresh changes the times, nothing an invalidation covers.
            let updated = Entry { record: refreshed.clone(), generation: entry.generation, expires: entry.expires };
            if !self.coherence.invalidated_since(&refreshed.token_hash, entry.generation) {
                entries.insert(refreshed.token_hash, Arc::new(updated));
            }
        }
        Ok(())
    }

    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Option<TokenHash>, StoreError> {
        let revoked = self.inner.revoke_session(user_id, session_id, events, jobs).await?;
        if let Some(hash) = &revoked {
            self.coherence.invalidate(std::slice::from_ref(hash));
        }
        Ok(revoked)
    }

    async fn revoke_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Vec<TokenHash>, StoreError> {
        let revoked = self.inner.revoke_other_sessions(user_id, keep, events, jobs).await?;
        self.coherence.invalidate(&revoked);
        Ok(revoked)
    }

    async fn reauthenticated(
        &self,
        session_id: Uuid,
        at: time::OffsetDateTime,
        method: gatehouse_core::sessions::AuthMethod,
        events: &[gatehouse_core::audit::AuditEvent],
    ) -> Result<bool, StoreError> {
        self.inner.reauthenticated(session_id, at, method, events).await
    }

    async fn sessions_of_user(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user(user_id).await
    }

    async fn forget(&self, token_hashes: &[TokenHash]) {
        self.inner.forget(token_hashes).await;
        self.coherence.invalidate(token_hashes);
    }

    async fn forget_user(&self, user_id: Uuid) {
        self.inner.forget_user(user_id).await;
        // The log names the user's sessions; reading it now makes this instance current before
        // the request that changed the user answers. If it cannot be read, start over.
        if self.coherence.catch_up().await.is_err() {
            self.coherence.clear_local();
        }
    }
}
