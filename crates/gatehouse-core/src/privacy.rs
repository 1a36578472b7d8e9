//! Personal data: the export a person (or an operator on their behalf) gets under the right of
//! access, and the erasure that removes them.
//!
//! Both are complete by construction: `gatehouse_store::privacy::COLUMNS` classifies every column
//! of the schema as holding a person's data (and which export section shows it) or not (and why),
//! and the tests walk the live schema on both engines to hold the export and the erasure to it.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{AuditEvent, StoredAuditEvent};
use crate::jobs::NewJob;
use crate::oauth::Identity;
use crate::secret::MasterSecret;
use crate::sessions::TokenHash;
use crate::vault::{Connection, SealedConnection};
use crate::workspaces::{Invitation, Membership};

pub const EXPORT_FORMAT: &str = "gatehouse.personal_data";
/// Raised when a section changes shape; sections are only ever added within a version.
pub const EXPORT_VERSION: u32 = 1;

/// Everything Gatehouse holds about one person, as one JSON document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonalData {
    /// `gatehouse.personal_data`.
    pub format: &'static str,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: OffsetDateTime,
    pub user: ExportedUser,
    pub identities: Vec<Identity>,
    /// Vault connections: metadata only, never a token.
    pub connections: Vec<Connection>,
    pub sessions: Vec<ExportedSession>,
    pub workspaces: Vec<Membership>,
    /// Pending invitations sent to the person's address.
    pub invitations: Vec<Invitation>,
    /// Pending invitations the person sent.
    pub invitations_sent: Vec<Invitation>,
    /// Audit events about the person or by them, newest first.
    pub audit_events: Vec<StoredAuditEvent>,
    /// Webhook deliveries whose event carried the person's id or address.
    pub webhook_deliveries: Vec<ExportedDelivery>,
    /// Queued and past jobs that name the person: emails to them, link requests, events.
    pub jobs: Vec<ExportedJob>,
    /// One-time links mailed to them: purpose and times, never a token.
    pub email_links: Vec<ExportedLink>,
    /// Provider sign-ins or links started and not yet finished.
    pub sign_ins_in_progress: Vec<ExportedSignIn>,
    /// Authenticator apps (TOTP): when added, confirmed and last used; never the secret.
    pub authenticator_apps: Vec<crate::mfa::TotpFactor>,
    /// Recovery codes: when issued and used; never a code or its hash.
    pub recovery_codes: Vec<ExportedRecoveryCode>,
    /// Sign-ins whose first step passed and whose second factor is still awaited.
    pub second_steps_in_progress: Vec<ExportedSecondStep>,
    /// Passkeys: name, when added and last used, whether they sync; never a key.
    pub passkeys: Vec<crate::mfa::Passkey>,
    /// Passkeys being added right now (a ceremony started and not finished).
    pub passkey_ceremonies_in_progress: Vec<ExportedCeremony>,
    /// Devices the person signed in from (for new-device notices): never the device cookie.
    pub known_devices: Vec<ExportedDevice>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedDevice {
    pub user_agent: Option<String>,
    /// The /24 (IPv4) or /64 (IPv6) the device signed in from first.
    pub network: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedCeremony {
    /// `register` (adding a passkey).
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedRecoveryCode {
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedSecondStep {
    /// How the first step was passed (`pwd`, `oauth`, `email`).
    pub first_factor: crate::sessions::AuthMethod,
    pub user_agent: Option<String>,
    pub return_to: Option<String>,
    pub failures: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedUser {
    pub id: Uuid,
    #[schema(format = Email)]
    pub email: String,
    pub name: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<OffsetDateTime>,
    pub disabled: bool,
    /// Whether a password is set (the hash itself is never exported).
    pub has_password: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedSession {
    #[serde(flatten)]
    pub session: crate::sessions::Session,
    pub workspace_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedJob {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// What the job carries; by construction never a token or a secret.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedLink {
    pub id: Uuid,
    pub purpose: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
    /// For an email change and its undo: the address the link sets.
    pub target_email: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedSignIn {
    pub provider: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Turns a user id into the subject of an erasure tombstone: a keyed hash, so a later request
/// about the same person can be matched (by whoever holds the master secret and the id) without
/// the log keeping who they were.
#[derive(Clone)]
pub struct TombstoneKey([u8; 32]);

impl std::fmt::Debug for TombstoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TombstoneKey(<redacted>)")
    }
}

impl TombstoneKey {
    pub fn new(master: &MasterSecret) -> Self {
        Self(master.derive_key(b"erasure tombstone v1"))
    }

    /// Hex of HMAC-SHA256(user id).
    pub fn subject(&self, user_id: Uuid) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(user_id.as_bytes());
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// What one erasure does, prepared by the caller and applied by the store in one transaction.
#[derive(Debug, Clone)]
pub struct Erasure {
    pub user_id: Uuid,
    pub email_normalized: String,
    /// The person's vault connections re-sealed with no link to them (user id nil), each revoked
    /// at its provider by the `vault.revoke` job in `jobs`, then deleted.
    pub revocations: Vec<SealedConnection>,
    /// The tombstone (no personal data).
    pub events: Vec<AuditEvent>,
    /// `user.deleted` and the revocations.
    pub jobs: Vec<NewJob>,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erased {
    /// Gone; the token hashes of the sessions it ended (for caches) and the workspaces it deleted
    /// because the person was their only member.
    Done {
        token_hashes: Vec<TokenHash>,
        workspaces_deleted: Vec<Uuid>,
    },
    /// Refused: the person is the last owner of these workspaces, which have other members.
    LastOwner {
        workspaces: Vec<Uuid>,
    },
    NotFound,
}

/// Replaces, anywhere in `value`, each string that contains one of `needles` (compared
/// lower-cased) with `"[erased]"`; whether anything was replaced.
pub fn scrub(value: &mut serde_json::Value, needles: &[String]) -> bool {
    match value {
        serde_json::Value::String(text) => {
            let lower = text.to_lowercase();
            if needles.iter().any(|needle| lower.contains(needle.as_str())) {
                *text = "[erased]".to_owned();
                true
            } else {
                false
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |any, item| scrub(item, needles) | any),
        serde_json::Value::Object(map) => map.values_mut().fold(false, |any, item| scrub(item, needles) | any),
        _ => false,
    }
}

#[async_trait::async_trait]
pub trait PrivacyStore: Send + Sync + std::fmt::Debug {
    /// Everything held about the user, or `None` when there is no such user.
    async fn personal_data(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<PersonalData>, crate::store::StoreError>;
    async fn erase(&self, erasure: &Erasure) -> Result<Erased, crate::store::StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_replaces_every_string_naming_the_person() {
        let mut value = serde_json::json!({
            "user_id": "0b7e4c1e-3f0a-4d55-9d7a-2f1c9a8e6b10",
            "nested": [{ "to": "Ada@Example.com" }, "keep", 3],
            "other": "bob@example.com",
        });
        let needles = vec!["0b7e4c1e-3f0a-4d55-9d7a-2f1c9a8e6b10".to_owned(), "ada@example.com".to_owned()];
        assert!(scrub(&mut value, &needles));
        assert_eq!(
            value,
            serde_json::json!({ "user_id": "[erased]", "nested": [{ "to": "[erased]" }, "keep", 3], "other": "bob@example.com" })
        );
        assert!(!scrub(&mut value, &needles), "nothing left to scrub");
    }

    #[test]
    fn tombstones_are_keyed_and_stable() {
        let master = MasterSecret::from_bytes((0..32).collect()).expect("secret");
        let other = MasterSecret::from_bytes((1..33).collect()).expect("secret");
        let id = Uuid::new_v4();
        let key = TombstoneKey::new(&master);
        assert_eq!(key.subject(id), TombstoneKey::new(&master).subject(id));
        assert_ne!(key.subject(id), TombstoneKey::new(&other).subject(id));
        assert_eq!(key.subject(id).len(), 64);
        assert!(!key.subject(id).contains(&id.to_string()));
    }
}
