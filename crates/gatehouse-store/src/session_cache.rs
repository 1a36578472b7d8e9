//! The session store with a Redis fast path in front of SQL.
//!
//! - Reads try Redis first and fall back to SQL on a miss, an error or an open breaker; a miss is
//!   filled from SQL.
//! - Writes go to SQL first (the record), then to Redis.
//! - A revocation deletes the cached copy. Whether or not that delete reaches Redis, every instance
//!   learns of the revocation from the SQL invalidation log ([`crate::coherence`]) and never serves
//!   that session's Redis copy again (its tombstone outlives the copy), so a failed or delayed
//!   delete (Redis paused, a connection killed) cannot keep a revoked session alive anywhere.
//! - Each entry carries a snapshot of its user, so each user has a set of its cached token hashes,
//!   written before the entry; a change to the user drops them all (`forget_user`), and the log
//!   names them too.
//! - A fill that raced an invalidation (read from SQL before the change, written after) is not
//!   written.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::accounts::{EmailAddress, User};
use gatehouse_core::audit::AuditEvent;
use gatehouse_core::jobs::NewJob;
use gatehouse_core::sessions::{AuthMethod, NewSession, Session, SessionStore, SessionWithUser, TokenHash};
use gatehouse_core::store::StoreError;
use gatehouse_core::workspaces::{ActiveWorkspace, Role};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::coherence::Coherence;
use crate::redis::Redis;
use crate::sql_ports::{from_millis, millis};

#[derive(Debug)]
pub struct CachedSessionStore {
    sql: Arc<dyn SessionStore>,
    redis: Redis,
    ttl: Duration,
    coherence: Arc<Coherence>,
}

fn fallback(operation: &'static str) {
    metrics::counter!("gatehouse_cache_fallbacks_total", "operation" => operation).increment(1);
}

/// The cached form of a session and its user.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    id: Uuid,
    user_id: Uuid,
    created_at: i64,
    last_seen_at: i64,
    idle_expires_at: i64,
    absolute_expires_at: i64,
    user_agent: Option<String>,
    ip: Option<std::net::IpAddr>,
    email: String,
    email_normalized: String,
    name: Option<String>,
    email_verified: bool,
    disabled: bool,
    user_created_at: i64,
    /// The active workspace and the role in it; absent in entries written before workspaces.
    #[serde(default)]
    workspace: Option<(Uuid, Role)>,
    /// How the session was established; absent in entries written before second factors.
    #[serde(default)]
    amr: Vec<AuthMethod>,
    #[serde(default)]
    auth_time: Option<i64>,
}

impl Cached {
    fn from_record(record: &SessionWithUser) -> Self {
        let (s, u) = (&record.session, &record.user);
        Self {
            id: s.id,
            user_id: s.user_id,
            created_at: millis(s.created_at),
            last_seen_at: millis(s.last_seen_at),
            idle_expires_at: millis(s.idle_expires_at),
            absolute_expires_at: millis(s.absolute_expires_at),
            user_agent: s.user_agent.clone(),
            ip: s.ip,
            email: u.email.as_str().to_owned(),
            email_normalized: u.email.normalized().to_owned(),
            name: u.name.clone(),
            email_verified: u.email_verified,
            disabled: u.disabled,
            user_created_at: millis(u.created_at),
            workspace: record.workspace.map(|active| (active.id, active.role)),
            amr: s.amr.clone(),
            auth_time: Some(millis(s.auth_time)),
        }
    }

    fn into_record(self, token_hash: TokenHash) -> Result<SessionWithUser, StoreError> {
        Ok(SessionWithUser {
            token_hash,
            workspace: self.workspace.map(|(id, role)| ActiveWorkspace { id, role }),
            session: Session {
                id: self.id,
                user_id: self.user_id,
                created_at: from_millis(self.created_at)?,
                last_seen_at: from_millis(self.last_seen_at)?,
                idle_expires_at: from_millis(self.idle_expires_at)?,
                absolute_expires_at: from_millis(self.absolute_expires_at)?,
                user_agent: self.user_agent,
                ip: self.ip,
                amr: self.amr,
                auth_time: from_millis(self.auth_time.unwrap_or(self.created_at))?,
            },
            user: User {
                id: self.user_id,
                email: EmailAddress::from_stored(self.email, self.email_normalized),
                name: self.name,
                email_verified: self.email_verified,
                disabled: self.disabled,
                created_at: from_millis(self.user_created_at)?,
            },
        })
    }
}

impl CachedSessionStore {
    pub fn new(sql: Arc<dyn SessionStore>, redis: Redis, ttl: Duration, coherence: Arc<Coherence>) -> Self {
        Self { sql, redis, ttl, coherence }
    }

    fn key(&self, hash: &TokenHash) -> String {
        self.key_of_hex(&hash.to_hex())
    }

    fn key_of_hex(&self, hex: &str) -> String {
        self.redis.key(&format!("session:{hex}"))
    }

    /// The set of a user's cached token hashes, so a change to the user can drop them all.
    fn user_key(&self, user_id: Uuid) -> String {
        self.redis.key(&format!("user_sessions:{user_id}"))
    }

    /// Tombstones first (so no copy is served again, whatever Redis does), then the deletes.
    async fn invalidate(&self, hashes: &[TokenHash]) {
        self.coherence.invalidate(hashes);
        for hash in hashes {
            if self.redis.query::<i64>(redis::cmd("DEL").arg(self.key(hash))).await.is_err() {
                fallback("invalidate");
            }
        }
    }

    async fn store(&self, hash: &TokenHash, record: &SessionWithUser) -> bool {
        let now = time::OffsetDateTime::now_utc();
        let remaining = (record.session.idle_expires_at - now).whole_seconds();
        let ttl_secs = remaining.min(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX));
        if ttl_secs <= 0 {
            return true;
        }
        let Ok(json) = serde_json::to_string(&Cached::from_record(record)) else { return false };
        // The user's set first: an entry is only written once `forget_user` can find it.
        let user_key = self.user_key(record.user.id);
        let full_ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        if self.redis.query::<i64>(redis::cmd("SADD").arg(&user_key).arg(hash.to_hex())).await.is_err()
            || self.redis.query::<i64>(redis::cmd("EXPIRE").arg(&user_key).arg(full_ttl)).await.is_err()
        {
            return false;
        }
        self.redis.query::<()>(redis::cmd("SET").arg(self.key(hash)).arg(json).arg("EX").arg(ttl_secs)).await.is_ok()
    }

    /// Reads SQL, and fills Redis unless the session was invalidated while the read ran (the
    /// fill would then reinstall what the change removed).
    async fn read_through(&self, token_hash: &TokenHash) -> Result<Option<SessionWithUser>, StoreError> {
        let generation = self.coherence.fill_generation();
        let found = self.sql.session_by_token(token_hash).await?;
        if let Some(record) = &found
            && self.coherence.may_fill(token_hash, generation)
            && !self.store(token_hash, record).await
        {
            fallback("fill");
        }
        Ok(found)
    }
}

#[async_trait]
impl SessionStore for CachedSessionStore {
    async fn create_session(&self, new: &NewSession, events: &[AuditEvent], jobs: &[NewJob]) -> Result<(), StoreError> {
        // Nothing to cache yet: the first check fills the entry with the user alongside.
        self.sql.create_session(new, events, jobs).await
    }

    async fn session_by_token(&self, token_hash: &TokenHash) -> Result<Option<SessionWithUser>, StoreError> {
        if !self.coherence.redis_copy_trusted(token_hash) {
            // Invalidated lately (the copy may be one a failed delete left, or a racing fill
            // wrote), or the log is unread: SQL decides, and the fill writes a current copy.
            fallback("read");
            return self.read_through(token_hash).await;
        }
        match self.redis.query::<Option<String>>(redis::cmd("GET").arg(self.key(token_hash))).await {
            Ok(Some(json)) => {
                if let Ok(cached) = serde_json::from_str::<Cached>(&json) {
                    return cached.into_record(*token_hash).map(Some);
                }
            }
            Ok(None) => {}
            Err(_) => {
                fallback("read");
                return self.sql.session_by_token(token_hash).await;
            }
        }
        self.read_through(token_hash).await
    }

    async fn session_by_id(&self, session_id: Uuid) -> Result<Option<SessionWithUser>, StoreError> {
        // Access-token checks read SQL: the cache is keyed by token hash, which a JWT does not carry.
        self.sql.session_by_id(session_id).await
    }

    async fn touch_session(&self, refreshed: &SessionWithUser) -> Result<(), StoreError> {
        self.sql.touch_session(refreshed).await?;
        if !self.coherence.redis_copy_trusted(&refreshed.token_hash)
            || !self.store(&refreshed.token_hash, refreshed).await
        {
            fallback("write");
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
        let revoked = self.sql.revoke_session(user_id, session_id, events, jobs).await?;
        if let Some(hash) = &revoked {
            self.invalidate(std::slice::from_ref(hash)).await;
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
        let revoked = self.sql.revoke_other_sessions(user_id, keep, events, jobs).await?;
        self.invalidate(&revoked).await;
        Ok(revoked)
    }

    async fn forget(&self, token_hashes: &[TokenHash]) {
        self.invalidate(token_hashes).await;
    }

    async fn forget_user(&self, user_id: Uuid) {
        let user_key = self.user_key(user_id);
        let dropped = async {
            let hashes: Vec<String> = self.redis.query(redis::cmd("SMEMBERS").arg(&user_key)).await?;
            for hex in &hashes {
                self.redis.query::<i64>(redis::cmd("DEL").arg(self.key_of_hex(hex))).await?;
            }
            self.redis.query::<i64>(redis::cmd("DEL").arg(&user_key)).await
        };
        if dropped.await.is_err() {
            fallback("invalidate");
        }
        // The log names the user's sessions: reading it now lays their tombstones here before the
        // request that changed the user answers. If it cannot be read, trust no copy for a while.
        if self.coherence.catch_up().await.is_err() {
            self.coherence.distrust_all();
        }
    }

    async fn reauthenticated(
        &self,
        session_id: Uuid,
        at: OffsetDateTime,
        method: AuthMethod,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        self.sql.reauthenticated(session_id, at, method, events).await
    }

    async fn sessions_of_user(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
        self.sql.sessions_of_user(user_id).await
    }
}
