//! Sessions: the token in the cookie, what the server keeps of it, and when a session is valid.
//!
//! The token is 256 random bits; the server stores only its SHA-256 ([`TokenHash`]), so a copy of
//! the database yields no usable session. A session has a sliding idle expiry and an absolute one.
//! The check refreshes the idle expiry at most once per `touch_interval`, so most requests write
//! nothing.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::User;
use crate::audit::AuditEvent;
use crate::jobs::NewJob;
pub use crate::secret::{RandomToken, TokenHash};
use crate::store::StoreError;

/// User agents longer than this are cut before they are stored.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// The secret in the session cookie.
pub type SessionToken = RandomToken;

/// Whether a session is tied to the client that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Off,
    UserAgent,
    /// User agent, and IP within the same /24 (IPv4) or /64 (IPv6).
    UserAgentAndIp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub absolute_lifetime: Duration,
    /// Last-seen and the idle expiry are written at most this often per session.
    pub touch_interval: Duration,
    pub binding: Binding,
    /// How long after a sign-in or step-up sensitive actions are allowed without asking again.
    pub reauth_window: Duration,
}

/// Who is making the request, as far as binding and audit care. Serializable, so work the
/// request hands to the job queue can still record who asked for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientContext {
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
}

impl ClientContext {
    pub fn new(user_agent: Option<&str>, ip: Option<IpAddr>) -> Self {
        let user_agent = user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
        Self { user_agent, ip }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub idle_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub absolute_expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    /// The address the session was created from.
    #[schema(value_type = Option<String>)]
    pub ip: Option<IpAddr>,
    /// How the session was established, as RFC 8176 method values: `pwd` (password), `otp` (an
    /// authenticator app's code or a recovery code), `oauth` (a provider), `email` (an emailed
    /// link). Empty for sessions from before second factors existed.
    pub amr: Vec<AuthMethod>,
    /// When the person last proved who they are in this session: at sign-in, or at a later
    /// reauthentication (step-up).
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
}

/// A way of proving who one is, as its RFC 8176 `amr` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A password.
    Pwd,
    /// A one-time code: an authenticator app's, or a recovery code.
    Otp,
    /// A provider sign-in (Google, GitHub, OpenID Connect).
    Oauth,
    /// A link sent to the account's address.
    Email,
    /// A device-bound passkey (hardware-secured key), with user verification.
    Hwk,
    /// A passkey that may sync between devices (software-secured key), with user verification.
    Swk,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Oauth => "oauth",
            Self::Email => "email",
            Self::Hwk => "hwk",
            Self::Swk => "swk",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pwd" => Self::Pwd,
            "otp" => Self::Otp,
            "oauth" => Self::Oauth,
            "email" => Self::Email,
            "hwk" => Self::Hwk,
            "swk" => Self::Swk,
            _ => return None,
        })
    }

    /// Whether this method is a second factor: something held, beside what is known. A passkey
    /// is, with the user verification it always asks for (a PIN or biometric on the device).
    pub fn is_second_factor(self) -> bool {
        matches!(self, Self::Otp | Self::Hwk | Self::Swk)
    }

    /// Methods as stored: space-separated values.
    pub fn join(methods: &[AuthMethod]) -> String {
        methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// Methods as stored, skipping values this binary does not know (a newer release's).
    pub fn split(text: &str) -> Vec<AuthMethod> {
        text.split_ascii_whitespace().filter_map(Self::parse).collect()
    }
}

/// The outcome of checking a session on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    Valid,
    /// Valid, and due for its occasional write of last-seen and the new idle expiry.
    ValidRefresh {
        last_seen_at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    },
    Expired,
    BindingMismatch,
}

fn after(now: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    now + time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

impl Session {
    pub fn start(
        id: Uuid,
        user_id: Uuid,
        now: OffsetDateTime,
        policy: &SessionPolicy,
        client: &ClientContext,
        amr: &[AuthMethod],
    ) -> Self {
        let absolute_expires_at = after(now, policy.absolute_lifetime);
        Self {
            id,
            user_id,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: after(now, policy.idle_timeout).min(absolute_expires_at),
            absolute_expires_at,
            user_agent: client.user_agent.clone(),
            ip: client.ip,
            amr: amr.to_vec(),
            auth_time: now,
        }
    }

    /// Whether the session was established with a second factor.
    pub fn has_second_factor(&self) -> bool {
        self.amr.iter().any(|method| method.is_second_factor())
    }

    /// Whether the person proved who they are within `window` of `now`.
    pub fn authenticated_within(&self, now: OffsetDateTime, window: Duration) -> bool {
        now - self.auth_time <= time::Duration::try_from(window).unwrap_or(time::Duration::MAX)
    }

    pub fn check(&self, now: OffsetDateTime, policy: &SessionPolicy, client: &ClientContext) -> SessionCheck {
        if now >= self.idle_expires_at || now >= self.absolute_expires_at {
            return SessionCheck::Expired;
        }
        let same_agent = self.user_agent == client.user_agent;
        let bound = match policy.binding {
            Binding::Off => true,
            Binding::UserAgent => same_agent,
            Binding::UserAgentAndIp => same_agent && same_network(self.ip, client.ip),
        };
        if !bound {
            return SessionCheck::BindingMismatch;
        }
        if now - self.last_seen_at >= time::Duration::try_from(policy.touch_interval).unwrap_or(time::Duration::ZERO) {
            SessionCheck::ValidRefresh {
                last_seen_at: now,
                idle_expires_at: after(now, policy.idle_timeout).min(self.absolute_expires_at),
            }
        } else {
            SessionCheck::Valid
        }
    }
}

/// Same /24 for IPv4, same /64 for IPv6; an unknown address matches only an unknown address.
fn same_network(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match (a.map(canonical), b.map(canonical)) {
        (Some(IpAddr::V4(a)), Some(IpAddr::V4(b))) => a.octets()[..3] == b.octets()[..3],
        (Some(IpAddr::V6(a)), Some(IpAddr::V6(b))) => a.octets()[..8] == b.octets()[..8],
        (None, None) => true,
        _ => false,
    }
}

/// A session about to be stored, with the hash of its token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session: Session,
    pub token_hash: TokenHash,
}

/// A live session and its user, as the session check needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionWithUser {
    pub session: Session,
    pub user: User,
    /// The hash of the session's token, so caches keyed by it can be updated whichever way the
    /// session was reached (cookie or access token).
    pub token_hash: TokenHash,
    /// The workspace the session acts in and the user's role there; `None` when none is chosen or
    /// the user is no longer a member.
    pub workspace: Option<crate::workspaces::ActiveWorkspace>,
}

/// Storage of sessions, keyed by the token hash for the check and by id for management.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Stores a session with its audit events and the jobs it causes (its webhook event), in one
    /// transaction. So do the revocations below.
    async fn create_session(&self, new: &NewSession, events: &[AuditEvent], jobs: &[NewJob]) -> Result<(), StoreError>;

    /// The session with this token hash and its user, if the session exists.
    async fn session_by_token(&self, token_hash: &TokenHash) -> Result<Option<SessionWithUser>, StoreError>;

    /// The session with this id and its user; for access tokens, which name their session.
    async fn session_by_id(&self, session_id: Uuid) -> Result<Option<SessionWithUser>, StoreError>;

    /// Records activity: `refreshed` is the session as it now stands (new last-seen and idle
    /// expiry); stores write those times, caches may keep the whole record.
    async fn touch_session(&self, refreshed: &SessionWithUser) -> Result<(), StoreError>;

    /// Deletes one session of `user_id`; returns its token hash, or `None` when the user has no
    /// such session.
    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Option<TokenHash>, StoreError>;

    /// Deletes every session of `user_id` except `keep`; returns their token hashes.
    async fn revoke_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Vec<TokenHash>, StoreError>;

    /// Records a fresh proof of who the person is (a step-up): sets the session's `auth_time` and
    /// adds `method` to its `amr`, with the audit event, in one transaction. False when the session
    /// is gone.
    async fn reauthenticated(
        &self,
        session_id: Uuid,
        at: OffsetDateTime,
        method: AuthMethod,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;

    /// The user's sessions, most recently used first.
    async fn sessions_of_user(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError>;

    /// Drops any cached copy of sessions that another store deleted (a password reset deletes
    /// them in its own transaction). The SQL stores keep no copies, so by default this does nothing.
    async fn forget(&self, token_hashes: &[TokenHash]) {
        let _ = token_hashes;
    }

    /// Drops any cached copy of the user's sessions, whose user snapshot a change to the user
    /// (a verified email, later a disabled account) has made stale.
    async fn forget_user(&self, user_id: Uuid) {
        let _ = user_id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(binding: Binding) -> SessionPolicy {
        SessionPolicy {
            idle_timeout: Duration::from_secs(3600),
            absolute_lifetime: Duration::from_secs(86_400),
            touch_interval: Duration::from_secs(60),
            binding,
            reauth_window: Duration::from_secs(300),
        }
    }

    fn client(ua: &str, ip: &str) -> ClientContext {
        ClientContext::new(Some(ua), Some(ip.parse().expect("ip")))
    }

    fn start(binding: Binding) -> (Session, OffsetDateTime) {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        (
            Session::start(
                Uuid::nil(),
                Uuid::nil(),
                now,
                &policy(binding),
                &client("ua/1", "203.0.113.7"),
                &[AuthMethod::Pwd],
            ),
            now,
        )
    }

    #[test]
    fn most_checks_write_nothing_and_one_a_minute_refreshes() {
        let (session, now) = start(Binding::Off);
        let any = ClientContext::default();
        let p = policy(Binding::Off);
        assert_eq!(session.check(now + time::Duration::seconds(59), &p, &any), SessionCheck::Valid);
        let later = now + time::Duration::seconds(61);
        assert_eq!(
            session.check(later, &p, &any),
            SessionCheck::ValidRefresh { last_seen_at: later, idle_expires_at: later + time::Duration::hours(1) }
        );
    }

    #[test]
    fn idle_and_absolute_expiry_both_end_a_session() {
        let (mut session, now) = start(Binding::Off);
        let p = policy(Binding::Off);
        let any = ClientContext::default();
        assert_eq!(session.check(now + time::Duration::hours(1), &p, &any), SessionCheck::Expired);
        // Kept alive by activity, it still ends at the absolute lifetime, and the idle expiry is
        // never extended past it.
        session.last_seen_at = now + time::Duration::hours(23) + time::Duration::minutes(30);
        session.idle_expires_at = now + time::Duration::hours(24);
        match session.check(now + time::Duration::hours(23) + time::Duration::minutes(45), &p, &any) {
            SessionCheck::ValidRefresh { idle_expires_at, .. } => {
                assert_eq!(idle_expires_at, session.absolute_expires_at)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(session.check(now + time::Duration::hours(24), &p, &any), SessionCheck::Expired);
    }

    #[test]
    fn binding_compares_agent_and_network() {
        let (session, now) = start(Binding::UserAgentAndIp);
        let p = policy(Binding::UserAgentAndIp);
        let soon = now + time::Duration::seconds(1);
        assert_eq!(session.check(soon, &p, &client("ua/1", "203.0.113.200")), SessionCheck::Valid);
        assert_eq!(session.check(soon, &p, &client("ua/1", "198.51.100.7")), SessionCheck::BindingMismatch);
        assert_eq!(session.check(soon, &p, &client("ua/2", "203.0.113.7")), SessionCheck::BindingMismatch);
        let agent_only = policy(Binding::UserAgent);
        assert_eq!(session.check(soon, &agent_only, &client("ua/1", "198.51.100.7")), SessionCheck::Valid);
        assert!(same_network(
            Some("2001:db8:1:2::1".parse().expect("ip")),
            Some("2001:db8:1:2:ffff::9".parse().expect("ip"))
        ));
        assert!(!same_network(
            Some("2001:db8:1:2::1".parse().expect("ip")),
            Some("2001:db8:1:3::1".parse().expect("ip"))
        ));
    }
}
