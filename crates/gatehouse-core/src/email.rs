//! Email: the one-time links Gatehouse mails (verify an address, reset a password, sign in), the
//! job that sends them, and the storage port for the links.
//!
//! A link's token is never stored, not even inside the queued email job. The job carries only the
//! link's random id; the token is an HMAC of that id under a key derived from the master secret,
//! recomputed by the worker when it renders the email. The database keeps the SHA-256 of the token
//! (as for sessions), so someone who reads the database cannot use a link from it, and the token
//! cannot be reconstructed from the job without the master secret.
//!
//! A token is single-use, expires, and is bound to the address it was sent to: once the user's
//! email changes, links sent to the old address stop working.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::User;
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::jobs::{JobType, NewJob, RetryPolicy};
use crate::secret::{MasterSecret, RandomToken, TokenHash};
use crate::sessions::NewSession;
use crate::store::StoreError;

/// What a one-time link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
    MagicLink,
    /// An invitation to a workspace. Its token is derived and stored the same way, in
    /// `workspace_invitations` rather than `email_links`.
    Invitation,
    /// Confirms a change of address: mailed to the new address, bound to the current one, and
    /// carrying the new one as its target.
    EmailChange,
    /// Undoes a change of address: mailed to the old address, bound to the new one, and carrying
    /// the old one as its target.
    EmailChangeUndo,
}

/// How long a link confirming a new address works.
pub const EMAIL_CHANGE_LIFETIME: Duration = Duration::from_secs(3600);
/// How long the old address can undo a change.
pub const EMAIL_CHANGE_UNDO_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

impl LinkPurpose {
    pub const ALL: [LinkPurpose; 6] = [
        Self::VerifyEmail,
        Self::ResetPassword,
        Self::MagicLink,
        Self::Invitation,
        Self::EmailChange,
        Self::EmailChangeUndo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::MagicLink => "magic_link",
            Self::Invitation => "invitation",
            Self::EmailChange => "email_change",
            Self::EmailChangeUndo => "email_change_undo",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|purpose| purpose.as_str() == text)
    }
}

/// How long each kind of link lasts, from config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLifetimes {
    pub verification: Duration,
    pub reset: Duration,
    pub magic_link: Duration,
}

impl LinkLifetimes {
    pub fn of(&self, purpose: LinkPurpose) -> Duration {
        match purpose {
            LinkPurpose::VerifyEmail => self.verification,
            LinkPurpose::ResetPassword => self.reset,
            LinkPurpose::MagicLink => self.magic_link,
            LinkPurpose::Invitation => crate::workspaces::INVITATION_LIFETIME.unsigned_abs(),
            LinkPurpose::EmailChange => EMAIL_CHANGE_LIFETIME,
            LinkPurpose::EmailChangeUndo => EMAIL_CHANGE_UNDO_LIFETIME,
        }
    }
}

/// Turns a link id into its token. Derived from the master secret, so tokens survive restarts and
/// every instance computes the same one.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(<redacted>)")
    }
}

impl LinkKey {
    pub fn new(master: &MasterSecret) -> Self {
        Self(master.derive_key(b"one-time link token v1"))
    }

    /// The token of the link with this id.
    pub fn token(&self, link_id: Uuid) -> RandomToken {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(link_id.as_bytes());
        RandomToken::from_random(mac.finalize().into_bytes().into())
    }
}

/// A link about to be stored: its id (which the email job carries) and its token's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub id: Uuid,
    pub token_hash: TokenHash,
    pub purpose: LinkPurpose,
    pub user_id: Uuid,
    /// The normalized address the link was sent to; the link works only while it is the user's.
    pub email_normalized: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// For an email change and its undo: the address the link changes the account to.
    pub target_email: Option<String>,
}

impl NewLink {
    pub fn issue(key: &LinkKey, purpose: LinkPurpose, user: &User, now: OffsetDateTime, ttl: Duration) -> Self {
        Self::issue_with_id(key, Uuid::new_v4(), purpose, user, now, ttl)
    }

    /// A link with a chosen id, so that a retried job issues the same link instead of a second one.
    pub fn issue_with_id(
        key: &LinkKey,
        id: Uuid,
        purpose: LinkPurpose,
        user: &User,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Self {
        Self {
            id,
            token_hash: key.token(id).hash(),
            purpose,
            user_id: user.id,
            email_normalized: user.email.normalized().to_owned(),
            created_at: now,
            expires_at: crate::jobs::after(now, ttl),
            target_email: None,
        }
    }

    /// The same link, changing the account's address to `email` when it is spent.
    pub fn with_target(self, email: &crate::accounts::EmailAddress) -> Self {
        Self { target_email: Some(email.as_str().to_owned()), ..self }
    }

    /// The audit event of this link mailed to `user` (`email.link_sent`), at the link's creation.
    pub fn sent_to(&self, user: &User, client: &crate::sessions::ClientContext) -> AuditEvent {
        AuditEvent::new(AuditAction::EmailLinkSent, Actor::User(user.id), self.created_at, client)
            .target("user", user.id)
            .detail("purpose", self.purpose.as_str())
            .detail("email", user.email.masked())
    }
}

/// What spending a link does, applied in the same transaction that marks it used.
#[derive(Debug, Clone)]
pub enum Redemption {
    /// Marks the user's email verified.
    VerifyEmail,
    /// Sets a new password hash, marks the email verified (the user proved they read it) and
    /// deletes every session of the user.
    ResetPassword { password_hash: String },
    /// Marks the email verified and starts this session.
    SignIn { session: NewSession },
    /// Replaces the address with `email`, verified (the link was read there), and stores `undo`,
    /// the link that lets the old address undo it. [`StoreError::Duplicate`] when another account
    /// has the address by now.
    ChangeEmail { email: crate::accounts::EmailAddress, undo: NewLink },
    /// Restores the old address `email` (verified), removes the password, ends every session,
    /// retires every other link and stores `reset`, the link that sets a new password.
    UndoEmailChange { email: crate::accounts::EmailAddress, reset: NewLink },
}

/// A link found by its token: whom it is for, and for an email change the address it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHolder {
    pub user: User,
    pub target_email: Option<String>,
}

/// An email change waiting for its confirmation link to be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PendingEmailChange {
    /// The address the account changes to once the link mailed there is opened.
    pub new_email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Storage of one-time links. Every write takes the audit events that describe it and commits them
/// in the same transaction.
#[async_trait]
pub trait LinkStore: Send + Sync + std::fmt::Debug {
    /// Stores the link together with the job that mails it (the outbox), in one transaction.
    async fn issue_link(&self, link: &NewLink, email: &NewJob, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// The user a link with this token hash is good for: unused, unexpired, of this purpose, sent to
    /// the address the user still has, and the user not disabled.
    async fn link_user(
        &self,
        token_hash: &TokenHash,
        purpose: LinkPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<LinkHolder>, StoreError>;

    /// Stores an email-change link and the job that mails it, retiring the account's earlier
    /// unspent email-change links (a new request replaces the previous one).
    async fn request_email_change(
        &self,
        link: &NewLink,
        jobs: &[NewJob],
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;

    /// The account's unspent, unexpired email change, if any.
    async fn pending_email_change(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<PendingEmailChange>, StoreError>;

    /// Retires the account's pending email change; whether there was one.
    async fn cancel_email_change(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;

    /// Spends the link and applies `redemption` for `user_id` in one transaction. `None` when the
    /// link was spent or expired in the meantime (then nothing is applied); otherwise the token
    /// hashes of the sessions the redemption deleted.
    async fn redeem_link(
        &self,
        token_hash: &TokenHash,
        user_id: Uuid,
        now: OffsetDateTime,
        redemption: &Redemption,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Option<Vec<TokenHash>>, StoreError>;
}

/// The email job: one message to one address. The worker renders it from a template when it runs,
/// so a link's token exists only in memory and in the message itself.
#[derive(Debug, Clone, Copy)]
pub struct SendEmail;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailJob {
    pub to: String,
    pub template: LinkPurpose,
    /// The user's display name, if they gave one.
    pub name: Option<String>,
    pub link_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub link_expires_at: OffsetDateTime,
    /// Where the link's page leads on to (a hosted page's `return_to`, checked against the
    /// redirect allowlist when it was asked for and again when it is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
    /// For an invitation: the workspace's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// For an email change and its undo: the address the link sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_email: Option<String>,
}

impl JobType for SendEmail {
    const NAME: &'static str = "email.send";
    type Payload = EmailJob;

    /// Links expire within hours, so retries come quickly and stop after about an hour.
    fn retry_policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 8, base: Duration::from_secs(10), max: Duration::from_secs(15 * 60) }
    }

    fn timeout() -> Duration {
        Duration::from_secs(60)
    }
}

/// The job that answers a request for a link by address (`POST /v1/password/forgot`,
/// `/v1/magic-link`, and `/v1/email/verification` without a session).
///
/// The request itself only enqueues this job, the same single insert whether or not the address
/// has an account, so neither the answer nor its timing says who is registered. The worker looks
/// the address up and, for an enabled account, issues the link and its [`SendEmail`] job.
#[derive(Debug, Clone, Copy)]
pub struct RequestLink;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    pub purpose: LinkPurpose,
    /// The normalized address asked for.
    pub email: String,
    /// The id the link gets if one is issued, chosen when the request is made, so a job that runs
    /// twice (its completion lost in a crash) issues one link, not two.
    pub link_id: Uuid,
    /// Who asked, for the audit event.
    pub client: crate::sessions::ClientContext,
    /// Where the link leads on to, as in [`EmailJob::return_to`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
}

impl JobType for RequestLink {
    const NAME: &'static str = "email.link_request";
    type Payload = LinkRequest;

    /// Only the database is involved, so a few quick retries cover a failover.
    fn retry_policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 8, base: Duration::from_secs(5), max: Duration::from_secs(5 * 60) }
    }

    fn timeout() -> Duration {
        Duration::from_secs(30)
    }
}

impl LinkRequest {
    /// The job for a request for a `purpose` link to `email` (normalized), ready at `now`.
    pub fn job(
        purpose: LinkPurpose,
        email: &str,
        client: crate::sessions::ClientContext,
        now: OffsetDateTime,
        return_to: Option<&str>,
    ) -> Result<NewJob, serde_json::Error> {
        let return_to = return_to.map(str::to_owned);
        let request = Self { purpose, email: email.to_owned(), link_id: Uuid::new_v4(), client, return_to };
        NewJob::of::<RequestLink>(&request, now)
    }
}

impl EmailJob {
    /// The email that delivers `link` to `user`, as a job ready at `now`.
    pub fn for_link(
        link: &NewLink,
        user: &User,
        now: OffsetDateTime,
        return_to: Option<&str>,
    ) -> Result<NewJob, serde_json::Error> {
        let job = Self {
            to: user.email.as_str().to_owned(),
            template: link.purpose,
            name: user.name.clone(),
            link_id: link.id,
            link_expires_at: link.expires_at,
            return_to: return_to.map(str::to_owned),
            workspace: None,
            target_email: link.target_email.clone(),
        };
        NewJob::of::<SendEmail>(&job, now)
    }

    /// The email that delivers an email change's `link` to an address other than the account's
    /// own (`to`): the confirmation goes to the new address, the undo to the old one. Both name
    /// `new_email`, the address the account moves to.
    pub fn for_change_link(
        link: &NewLink,
        to: &str,
        new_email: &str,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<NewJob, serde_json::Error> {
        let job = Self {
            to: to.to_owned(),
            template: link.purpose,
            name: user.name.clone(),
            link_id: link.id,
            link_expires_at: link.expires_at,
            return_to: None,
            workspace: None,
            target_email: Some(new_email.to_owned()),
        };
        NewJob::of::<SendEmail>(&job, now)
    }

    /// The email that delivers an invitation to `workspace`, as a job ready at `now`.
    pub fn for_invitation(
        invitation: &crate::workspaces::Invitation,
        workspace: &str,
        now: OffsetDateTime,
    ) -> Result<NewJob, serde_json::Error> {
        let job = Self {
            to: invitation.email.clone(),
            template: LinkPurpose::Invitation,
            name: None,
            link_id: invitation.id,
            link_expires_at: invitation.expires_at,
            return_to: None,
            workspace: Some(workspace.to_owned()),
            target_email: None,
        };
        NewJob::of::<SendEmail>(&job, now)
    }
}

/// A security notice: an email that tells the account's owner something changed, carrying no
/// link (nothing to click that a phisher could copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// Two-step sign-in was turned off (the authenticator app removed).
    MfaDisabled,
    /// A recovery code was used to sign in or to confirm an action.
    RecoveryCodeUsed,
    /// The password was changed while signed in. Its link is the password-reset page.
    PasswordChanged,
    /// Someone signed in from a device the account had not used. Its link is the account page.
    NewDevice,
    /// Mailed to an address someone asked to move their account to, when another account has
    /// it already: nothing changed. It names no account.
    EmailInUse,
}

impl Notice {
    pub const ALL: [Notice; 5] =
        [Self::MfaDisabled, Self::RecoveryCodeUsed, Self::PasswordChanged, Self::NewDevice, Self::EmailInUse];

    /// Also the stem of its template files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MfaDisabled => "mfa_disabled",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::PasswordChanged => "password_changed",
            Self::NewDevice => "new_device",
            Self::EmailInUse => "email_in_use",
        }
    }
}

/// The notice email job, enqueued in the transaction that made the change it reports.
#[derive(Debug, Clone, Copy)]
pub struct SendNotice;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeJob {
    pub to: String,
    pub notice: Notice,
    pub name: Option<String>,
    /// The same on every attempt: the provider's idempotency key.
    pub id: Uuid,
    /// When and from where the change was made, for the notices that say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<NoticeContext>,
}

/// When and from which device a change a notice reports was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeContext {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The browser and system in words ("Firefox on Linux").
    pub device: String,
    pub ip: Option<String>,
}

impl NoticeContext {
    pub fn new(at: OffsetDateTime, client: &crate::sessions::ClientContext) -> Self {
        Self {
            at,
            device: crate::devices::describe_user_agent(client.user_agent.as_deref()),
            ip: client.ip.map(|ip| ip.to_string()),
        }
    }
}

impl JobType for SendNotice {
    const NAME: &'static str = "email.notice";
    type Payload = NoticeJob;

    /// A notice stays worth sending for a day.
    fn retry_policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 12, base: Duration::from_secs(10), max: Duration::from_secs(2 * 3600) }
    }

    fn timeout() -> Duration {
        Duration::from_secs(60)
    }
}

impl NoticeJob {
    /// The `notice` email to `user`, as a job ready at `now`.
    pub fn job(notice: Notice, user: &User, now: OffsetDateTime) -> Result<NewJob, serde_json::Error> {
        let job = Self {
            to: user.email.as_str().to_owned(),
            notice,
            name: user.name.clone(),
            id: Uuid::new_v4(),
            context: None,
        };
        NewJob::of::<SendNotice>(&job, now)
    }

    /// The `notice` email to `to` (the account's address, or another), saying when and from where.
    pub fn job_with_context(
        notice: Notice,
        to: &str,
        name: Option<&str>,
        context: NoticeContext,
        now: OffsetDateTime,
    ) -> Result<NewJob, serde_json::Error> {
        let job = Self {
            to: to.to_owned(),
            notice,
            name: name.map(str::to_owned),
            id: Uuid::new_v4(),
            context: Some(context),
        };
        NewJob::of::<SendNotice>(&job, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::EmailAddress;

    fn master(byte: u8) -> MasterSecret {
        MasterSecret::from_bytes((0..32).map(|i| i ^ byte).collect()).expect("secret")
    }

    #[test]
    fn tokens_are_derived_from_the_id_and_the_master_secret_only() {
        let key = LinkKey::new(&master(1));
        let id = Uuid::new_v4();
        assert_eq!(key.token(id), LinkKey::new(&master(1)).token(id), "every instance derives the same token");
        assert_ne!(key.token(id), key.token(Uuid::new_v4()));
        assert_ne!(key.token(id), LinkKey::new(&master(2)).token(id), "another secret, another token");
        assert_eq!(format!("{key:?}"), "LinkKey(<redacted>)");
    }

    #[test]
    fn a_link_stores_the_hash_of_its_token_and_expires() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let user = User {
            id: Uuid::new_v4(),
            email: EmailAddress::parse("Ada@Example.com").expect("email"),
            name: Some("Ada".into()),
            email_verified: false,
            disabled: false,
            created_at: now,
        };
        let key = LinkKey::new(&master(3));
        let link = NewLink::issue(&key, LinkPurpose::ResetPassword, &user, now, Duration::from_secs(3600));
        assert_eq!(link.token_hash, key.token(link.id).hash());
        assert_eq!(link.email_normalized, "ada@example.com");
        assert_eq!(link.expires_at, now + time::Duration::hours(1));
        let job = EmailJob::for_link(&link, &user, now, None).expect("job");
        let text = job.payload.to_string();
        assert!(!text.contains(&key.token(link.id).encode()), "the job never carries the token: {text}");
        assert_eq!(job.kind, "email.send");
    }

    #[test]
    fn purposes_round_trip_through_their_names() {
        for purpose in LinkPurpose::ALL {
            assert_eq!(LinkPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(LinkPurpose::parse("launch_missiles"), None);
    }
}
