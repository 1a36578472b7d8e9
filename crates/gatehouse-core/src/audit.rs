//! Audit events: an append-only record of who did what, written in the same transaction as the
//! change it describes. Details never hold a secret, and email addresses in them are masked.

use std::net::IpAddr;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::sessions::ClientContext;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    UserSignedUp,
    LoginSucceeded,
    LoginFailed,
    Logout,
    SessionRevoked,
    SessionBindingMismatch,
    ApiKeyCreated,
    ApiKeyRevoked,
    SigningKeyRotated,
    JobRetried,
    EmailLinkSent,
    EmailVerified,
    PasswordReset,
    WebhookEndpointCreated,
    WebhookEndpointUpdated,
    WebhookEndpointDeleted,
    WebhookSecretRotated,
    WebhookEndpointDisabled,
    WebhookDeliveryRetried,
    IdentityLinked,
    IdentityUnlinked,
    ConnectionCreated,
    ConnectionBroken,
    ConnectionDeleted,
    SecretsRewrapped,
    WorkspaceCreated,
    WorkspaceRenamed,
    WorkspaceDeleted,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    InvitationCreated,
    InvitationRevoked,
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserErased,
    DataExported,
    AuditPurged,
    MfaEnrolmentStarted,
    MfaEnabled,
    MfaDisabled,
    MfaFailed,
    MfaRecoveryCodeUsed,
    MfaRecoveryCodesRegenerated,
    Reauthenticated,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyDeleted,
    /// A passkey's signature counter went backwards: the key may have been copied.
    PasskeyCloneWarning,
    /// The password was changed while signed in (a reset is `PasswordReset`).
    PasswordChanged,
    /// The display name was changed.
    ProfileUpdated,
    EmailChangeRequested,
    EmailChangeCancelled,
    EmailChanged,
    /// The old address undid a change of address.
    EmailChangeUndone,
    /// A sign-in came from a device the account had not used; its owner was told.
    NewDeviceSignIn,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::UserSignedUp => "user.signed_up",
            AuditAction::LoginSucceeded => "login.succeeded",
            AuditAction::LoginFailed => "login.failed",
            AuditAction::Logout => "session.logged_out",
            AuditAction::SessionRevoked => "session.revoked",
            AuditAction::SessionBindingMismatch => "session.binding_mismatch",
            AuditAction::ApiKeyCreated => "api_key.created",
            AuditAction::ApiKeyRevoked => "api_key.revoked",
            AuditAction::SigningKeyRotated => "signing_key.rotated",
            AuditAction::JobRetried => "job.retried",
            AuditAction::EmailLinkSent => "email.link_sent",
            AuditAction::EmailVerified => "email.verified",
            AuditAction::PasswordReset => "password.reset",
            AuditAction::WebhookEndpointCreated => "webhook.endpoint_created",
            AuditAction::WebhookEndpointUpdated => "webhook.endpoint_updated",
            AuditAction::WebhookEndpointDeleted => "webhook.endpoint_deleted",
            AuditAction::WebhookSecretRotated => "webhook.secret_rotated",
            AuditAction::WebhookEndpointDisabled => "webhook.endpoint_disabled",
            AuditAction::WebhookDeliveryRetried => "webhook.delivery_retried",
            AuditAction::IdentityLinked => "identity.linked",
            AuditAction::IdentityUnlinked => "identity.unlinked",
            AuditAction::ConnectionCreated => "connection.created",
            AuditAction::ConnectionBroken => "connection.broken",
            AuditAction::ConnectionDeleted => "connection.deleted",
            AuditAction::SecretsRewrapped => "secrets.rewrapped",
            AuditAction::WorkspaceCreated => "workspace.created",
            AuditAction::WorkspaceRenamed => "workspace.renamed",
            AuditAction::WorkspaceDeleted => "workspace.deleted",
            AuditAction::MemberAdded => "member.added",
            AuditAction::MemberRemoved => "member.removed",
            AuditAction::MemberRoleChanged => "member.role_changed",
            AuditAction::InvitationCreated => "invitation.created",
            AuditAction::InvitationRevoked => "invitation.revoked",
            AuditAction::UserCreated => "user.created",
            AuditAction::UserDisabled => "user.disabled",
            AuditAction::UserEnabled => "user.enabled",
            AuditAction::UserErased => "user.erased",
            AuditAction::DataExported => "user.data_exported",
            AuditAction::AuditPurged => "audit.purged",
            AuditAction::MfaEnrolmentStarted => "mfa.enrolment_started",
            AuditAction::MfaEnabled => "mfa.enabled",
            AuditAction::MfaDisabled => "mfa.disabled",
            AuditAction::MfaFailed => "mfa.failed",
            AuditAction::MfaRecoveryCodeUsed => "mfa.recovery_code_used",
            AuditAction::MfaRecoveryCodesRegenerated => "mfa.recovery_codes_regenerated",
            AuditAction::Reauthenticated => "session.reauthenticated",
            AuditAction::PasskeyAdded => "passkey.added",
            AuditAction::PasskeyRenamed => "passkey.renamed",
            AuditAction::PasskeyDeleted => "passkey.deleted",
            AuditAction::PasskeyCloneWarning => "passkey.clone_warning",
            AuditAction::PasswordChanged => "password.changed",
            AuditAction::ProfileUpdated => "user.profile_updated",
            AuditAction::EmailChangeRequested => "email.change_requested",
            AuditAction::EmailChangeCancelled => "email.change_cancelled",
            AuditAction::EmailChanged => "email.changed",
            AuditAction::EmailChangeUndone => "email.change_undone",
            AuditAction::NewDeviceSignIn => "session.new_device",
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    ApiKey(Uuid),
    /// The operator, through the CLI.
    Operator,
    Anonymous,
    /// Gatehouse itself (housekeeping).
    System,
    /// The person an erasure removed, named by no id (the tombstone's target is a keyed hash).
    Erased,
}

impl Actor {
    /// `(kind, id)` as stored.
    pub fn parts(self) -> (&'static str, Option<Uuid>) {
        match self {
            Actor::User(id) => ("user", Some(id)),
            Actor::ApiKey(id) => ("api_key", Some(id)),
            Actor::Operator => ("operator", None),
            Actor::Anonymous => ("anonymous", None),
            Actor::Erased => ("erased_user", None),
            Actor::System => ("system", None),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub occurred_at: OffsetDateTime,
    pub action: AuditAction,
    pub actor: Actor,
    /// What was acted on, as `kind:id` (`session:…`, `user:…`).
    pub target: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub workspace_id: Option<Uuid>,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(action: AuditAction, actor: Actor, now: OffsetDateTime, client: &ClientContext) -> Self {
        Self {
            occurred_at: now,
            action,
            actor,
            target: None,
            ip: client.ip,
            user_agent: client.user_agent.clone(),
            workspace_id: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn workspace(mut self, id: Uuid) -> Self {
        self.workspace_id = Some(id);
        self
    }

    pub fn target(mut self, kind: &str, id: impl std::fmt::Display) -> Self {
        self.target = Some(format!("{kind}:{id}"));
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.details {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

/// Appends events that stand alone (a failed login changes nothing else).
#[async_trait]
pub trait AuditLog: Send + Sync + std::fmt::Debug {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError>;
    /// The most recent events, newest first; for tests and, later, the admin API.
    async fn recent(&self, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError>;
}

/// An event as read back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct StoredAuditEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub action: String,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
}

/// Which events an audit query returns: all of the given filters hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    /// Exact `kind:id`, such as `user:…`.
    pub target: Option<String>,
    pub workspace_id: Option<Uuid>,
    pub from: Option<OffsetDateTime>,
    /// Exclusive.
    pub to: Option<OffsetDateTime>,
    /// Events by this user or about them (`actor_id` or target `user:<id>`); for `/v1/me/audit`.
    pub subject: Option<Uuid>,
    /// Only events with a smaller id (the cursor of the page before).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// The longest page an audit query returns.
pub const MAX_AUDIT_PAGE: u32 = 1_000;

/// Querying and expiring the log.
#[async_trait]
pub trait AuditQuery: Send + Sync + std::fmt::Debug {
    /// Matching events, newest first.
    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError>;
    /// Deletes events that occurred before `before`, recording `event` (with the count added as
    /// `deleted`) in the same transaction; how many went.
    async fn purge(&self, before: OffsetDateTime, event: AuditEvent) -> Result<u64, StoreError>;
}
