//! Every column of the schema, classified: which export section shows it, or why it holds no
//! personal data. The tests walk the live schema on both engines and fail on a column missing
//! here, so a migration that adds a column cannot forget the export and the erasure.
//!
//! Then the SQL of the export and the erasure, shared by both engines like [`crate::sql_ports`].

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Data about a person, shown in this section of the export (and removed or scrubbed by the
    /// erasure).
    Person(&'static str),
    /// Nothing about a person, for this reason.
    Nothing(&'static str),
}

use Holds::{Nothing, Person};

const SECRET: Holds = Nothing("an instance secret or key material, never about a person");
const ENDPOINT: Holds = Nothing("a webhook endpoint's configuration, set by the app's operators");
const INVALIDATION: Holds = Nothing(
    "the SHA-256 of a token whose cached session copies must be dropped, with no link to a person; pruned after minutes",
);
const SEALED: Holds = Nothing("ciphertext, opened only with the master secret; removed with its row");

/// `(table, column, what it holds)` for every column of every table.
pub const COLUMNS: &[(&str, &str, Holds)] = &[
    ("api_keys", "created_at", Nothing("a service key's metadata")),
    ("api_keys", "id", Nothing("a service key's metadata")),
    ("api_keys", "key_hash", SECRET),
    ("api_keys", "last_used_at", Nothing("a service key's metadata")),
    ("api_keys", "name", Nothing("a service key's name, chosen by an operator")),
    ("api_keys", "prefix", Nothing("a service key's metadata")),
    ("api_keys", "revoked_at", Nothing("a service key's metadata")),
    ("api_keys", "scopes", Nothing("a service key's metadata")),
    ("audit_events", "action", Person("audit_events")),
    ("audit_events", "actor_id", Person("audit_events")),
    ("audit_events", "actor_kind", Person("audit_events")),
    ("audit_events", "details", Person("audit_events")),
    ("audit_events", "id", Person("audit_events")),
    ("audit_events", "ip", Person("audit_events")),
    ("audit_events", "occurred_at", Person("audit_events")),
    ("audit_events", "target", Person("audit_events")),
    ("audit_events", "user_agent", Person("audit_events")),
    ("audit_events", "workspace_id", Person("audit_events")),
    ("email_links", "created_at", Person("email_links")),
    ("email_links", "email_normalized", Person("email_links")),
    ("email_links", "expires_at", Person("email_links")),
    ("email_links", "id", Person("email_links")),
    ("email_links", "purpose", Person("email_links")),
    ("email_links", "target_email", Person("email_links")),
    ("email_links", "token_hash", Nothing("the SHA-256 of a spent or expiring token; removed with its row")),
    ("email_links", "used_at", Person("email_links")),
    ("email_links", "user_id", Person("email_links")),
    ("identities", "created_at", Person("identities")),
    ("identities", "email", Person("identities")),
    ("identities", "id", Person("identities")),
    ("identities", "provider", Person("identities")),
    ("identities", "subject", Person("identities")),
    ("identities", "user_id", Person("identities")),
    ("instance_secrets", "created_at", SECRET),
    ("instance_secrets", "name", SECRET),
    ("instance_secrets", "value", SECRET),
    ("jobs", "attempts", Person("jobs")),
    ("jobs", "claim_token", Person("jobs")),
    ("jobs", "created_at", Person("jobs")),
    ("jobs", "finished_at", Person("jobs")),
    ("jobs", "id", Person("jobs")),
    ("jobs", "kind", Person("jobs")),
    ("jobs", "last_error", Person("jobs")),
    ("jobs", "lease_expires_at", Person("jobs")),
    ("jobs", "max_attempts", Person("jobs")),
    ("jobs", "payload", Person("jobs")),
    ("jobs", "run_at", Person("jobs")),
    ("jobs", "state", Person("jobs")),
    ("mfa_recovery_codes", "code_hash", Nothing("the SHA-256 of a recovery code; removed with its row")),
    ("mfa_recovery_codes", "created_at", Person("recovery_codes")),
    ("mfa_recovery_codes", "used_at", Person("recovery_codes")),
    ("mfa_recovery_codes", "user_id", Person("recovery_codes")),
    ("mfa_steps", "created_at", Person("second_steps_in_progress")),
    ("mfa_steps", "expires_at", Person("second_steps_in_progress")),
    ("mfa_steps", "failures", Person("second_steps_in_progress")),
    ("mfa_steps", "first_factor", Person("second_steps_in_progress")),
    ("mfa_steps", "id", Person("second_steps_in_progress")),
    ("mfa_steps", "return_to", Person("second_steps_in_progress")),
    ("mfa_steps", "token_hash", Nothing("the SHA-256 of a second step's token; removed with its row")),
    ("mfa_steps", "user_agent", Person("second_steps_in_progress")),
    ("mfa_steps", "user_id", Person("second_steps_in_progress")),
    ("mfa_totp", "confirmed_at", Person("authenticator_apps")),
    ("mfa_totp", "created_at", Person("authenticator_apps")),
    ("mfa_totp", "id", Person("authenticator_apps")),
    ("mfa_totp", "last_step", Nothing("a 30-second step counter; removed with its row")),
    ("mfa_totp", "last_used_at", Person("authenticator_apps")),
    ("mfa_totp", "sealed_secret", SEALED),
    ("mfa_totp", "user_id", Person("authenticator_apps")),
    ("known_devices", "cookie_hash", Nothing("the SHA-256 of a random device cookie; removed with its row")),
    ("known_devices", "created_at", Person("known_devices")),
    ("known_devices", "id", Person("known_devices")),
    ("known_devices", "last_seen_at", Person("known_devices")),
    ("known_devices", "network", Person("known_devices")),
    ("known_devices", "user_agent", Person("known_devices")),
    ("known_devices", "user_id", Person("known_devices")),
    ("passkeys", "backed_up", Person("passkeys")),
    ("passkeys", "backup_eligible", Person("passkeys")),
    ("passkeys", "created_at", Person("passkeys")),
    ("passkeys", "credential_id", Nothing("a random id the authenticator chose; removed with its row")),
    ("passkeys", "dynamic_state", Nothing("a signature counter and flags; removed with its row")),
    ("passkeys", "id", Person("passkeys")),
    ("passkeys", "last_used_at", Person("passkeys")),
    ("passkeys", "name", Person("passkeys")),
    ("passkeys", "static_state", Nothing("a public key; removed with its row")),
    ("passkeys", "transports", Nothing("how the authenticator is reached; removed with its row")),
    ("passkeys", "user_id", Person("passkeys")),
    ("oauth_states", "browser_hash", Nothing("the SHA-256 of a browser-binding cookie; removed with its row")),
    ("oauth_states", "created_at", Person("sign_ins_in_progress")),
    ("oauth_states", "expires_at", Person("sign_ins_in_progress")),
    ("oauth_states", "id_hash", Nothing("the SHA-256 of a state parameter; removed with its row")),
    ("oauth_states", "link_session_id", Person("sign_ins_in_progress")),
    ("oauth_states", "link_user_id", Person("sign_ins_in_progress")),
    ("oauth_states", "nonce", Nothing("a random value; removed with its row")),
    ("oauth_states", "pkce_verifier", Nothing("a random value; removed with its row")),
    ("oauth_states", "provider", Person("sign_ins_in_progress")),
    ("oauth_states", "redirect_to", Person("sign_ins_in_progress")),
    ("oauth_states", "scopes", Person("sign_ins_in_progress")),
    ("session_invalidations", "created_at", INVALIDATION),
    ("session_invalidations", "seq", INVALIDATION),
    ("session_invalidations", "token_hash", INVALIDATION),
    ("session_invalidations", "xid", INVALIDATION),
    ("sessions", "absolute_expires_at", Person("sessions")),
    ("sessions", "amr", Person("sessions")),
    ("sessions", "auth_time", Person("sessions")),
    ("sessions", "created_at", Person("sessions")),
    ("sessions", "id", Person("sessions")),
    ("sessions", "idle_expires_at", Person("sessions")),
    ("sessions", "ip", Person("sessions")),
    ("sessions", "last_seen_at", Person("sessions")),
    ("sessions", "token_hash", Nothing("the SHA-256 of the session token; removed with its row")),
    ("sessions", "user_agent", Person("sessions")),
    ("sessions", "user_id", Person("sessions")),
    ("sessions", "workspace_id", Person("sessions")),
    ("signing_keys", "algorithm", SECRET),
    ("signing_keys", "created_at", SECRET),
    ("signing_keys", "encrypted_private_key", SECRET),
    ("signing_keys", "kid", SECRET),
    ("signing_keys", "public_jwk", SECRET),
    ("signing_keys", "retired_at", SECRET),
    ("users", "created_at", Person("user")),
    ("users", "disabled", Person("user")),
    ("users", "email", Person("user")),
    ("users", "email_normalized", Person("user")),
    ("users", "email_verified_at", Person("user")),
    ("users", "id", Person("user")),
    ("users", "name", Person("user")),
    ("users", "password_hash", Person("user")),
    ("users", "updated_at", Person("user")),
    ("vault_connections", "ciphertext", SEALED),
    ("vault_connections", "created_at", Person("connections")),
    ("vault_connections", "expires_at", Person("connections")),
    ("vault_connections", "has_refresh_token", Person("connections")),
    ("vault_connections", "id", Person("connections")),
    ("vault_connections", "provider", Person("connections")),
    ("vault_connections", "refresh_holder", Nothing("an instance's lock token")),
    ("vault_connections", "refresh_lock_until", Nothing("an instance's lock expiry")),
    ("vault_connections", "scopes", Person("connections")),
    ("vault_connections", "status", Person("connections")),
    ("vault_connections", "updated_at", Person("connections")),
    ("vault_connections", "user_id", Person("connections")),
    ("vault_connections", "wrapped_key", SEALED),
    ("vault_revocations", "ciphertext", SEALED),
    ("vault_revocations", "created_at", Nothing("an erased person's tokens awaiting revocation, with no link to them")),
    ("vault_revocations", "id", Nothing("an erased person's tokens awaiting revocation, with no link to them")),
    ("vault_revocations", "provider", Nothing("an erased person's tokens awaiting revocation, with no link to them")),
    ("vault_revocations", "wrapped_key", SEALED),
    ("webauthn_ceremonies", "challenge", Nothing("a random challenge; removed with its row")),
    ("webauthn_ceremonies", "expires_at", Person("passkey_ceremonies_in_progress")),
    ("webauthn_ceremonies", "kind", Person("passkey_ceremonies_in_progress")),
    ("webauthn_ceremonies", "state", Nothing("a ceremony's options (a challenge and settings); removed with its row")),
    ("webauthn_ceremonies", "user_id", Person("passkey_ceremonies_in_progress")),
    ("webhook_attempts", "attempted_at", Nothing("delivery bookkeeping")),
    ("webhook_attempts", "delivery_id", Nothing("delivery bookkeeping")),
    ("webhook_attempts", "error_class", Nothing("delivery bookkeeping")),
    ("webhook_attempts", "id", Nothing("delivery bookkeeping")),
    ("webhook_attempts", "latency_ms", Nothing("delivery bookkeeping")),
    (
        "webhook_attempts",
        "response_excerpt",
        Nothing("what the app's endpoint answered; cleared when the delivery it answered is scrubbed"),
    ),
    ("webhook_attempts", "status_code", Nothing("delivery bookkeeping")),
    ("webhook_deliveries", "created_at", Person("webhook_deliveries")),
    ("webhook_deliveries", "endpoint_id", Person("webhook_deliveries")),
    ("webhook_deliveries", "event", Person("webhook_deliveries")),
    ("webhook_deliveries", "event_id", Person("webhook_deliveries")),
    ("webhook_deliveries", "event_type", Person("webhook_deliveries")),
    ("webhook_deliveries", "id", Person("webhook_deliveries")),
    ("webhook_deliveries", "status", Person("webhook_deliveries")),
    ("webhook_endpoints", "created_at", ENDPOINT),
    ("webhook_endpoints", "disabled_reason", ENDPOINT),
    ("webhook_endpoints", "enabled", ENDPOINT),
    ("webhook_endpoints", "event_types", ENDPOINT),
    ("webhook_endpoints", "failing_since", ENDPOINT),
    ("webhook_endpoints", "id", ENDPOINT),
    ("webhook_endpoints", "previous_sealed_secret", SECRET),
    ("webhook_endpoints", "previous_secret_until", ENDPOINT),
    ("webhook_endpoints", "sealed_secret", SECRET),
    ("webhook_endpoints", "updated_at", ENDPOINT),
    ("webhook_endpoints", "url", ENDPOINT),
    ("workspace_invitations", "created_at", Person("invitations")),
    ("workspace_invitations", "email", Person("invitations")),
    ("workspace_invitations", "email_normalized", Person("invitations")),
    ("workspace_invitations", "expires_at", Person("invitations")),
    ("workspace_invitations", "id", Person("invitations")),
    ("workspace_invitations", "invited_by", Person("invitations_sent")),
    ("workspace_invitations", "role", Person("invitations")),
    ("workspace_invitations", "token_hash", Nothing("the SHA-256 of the invitation token; removed with its row")),
    ("workspace_invitations", "workspace_id", Person("invitations")),
    ("workspace_members", "created_at", Person("workspaces")),
    ("workspace_members", "role", Person("workspaces")),
    ("workspace_members", "user_id", Person("workspaces")),
    ("workspace_members", "workspace_id", Person("workspaces")),
    ("workspaces", "created_at", Nothing("a workspace belongs to its members, not to one of them")),
    ("workspaces", "id", Nothing("a workspace belongs to its members, not to one of them")),
    ("workspaces", "name", Nothing("a workspace belongs to its members, not to one of them")),
    ("workspaces", "updated_at", Nothing("a workspace belongs to its members, not to one of them")),
];

/// How a column is classified, if it is.
pub fn classification(table: &str, column: &str) -> Option<Holds> {
    COLUMNS.iter().find(|(t, c, _)| *t == table && *c == column).map(|(_, _, holds)| *holds)
}

/// Implements `PrivacyStore` for `$store` (field `pool`), over `$conn` connections yielding `$row`.
macro_rules! sql_privacy {
    ($store:ty, $conn:ty, $row:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::audit::StoredAuditEvent;
        use gatehouse_core::privacy::{
            EXPORT_FORMAT, EXPORT_VERSION, Erased, Erasure, ExportedDelivery, ExportedJob, ExportedLink, ExportedDevice,
            ExportedCeremony, ExportedRecoveryCode, ExportedSecondStep, ExportedSession, ExportedSignIn, ExportedUser, PersonalData,
            PrivacyStore, scrub,
        };
        use gatehouse_core::store::StoreError;
        use gatehouse_core::workspaces::WorkspaceStore as _;
        use gatehouse_core::oauth::IdentityStore as _;
        use gatehouse_core::vault::VaultStore as _;
        use gatehouse_core::sessions::SessionStore as _;
        use gatehouse_core::mfa::MfaStore as _;
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::schema_walk::contains_pattern;
        use crate::sql_ports::{from_millis, millis, token_hash, uuid};

        /// `column` holds the id or the address (as text, ignoring case); binds $1 and $2.
        fn names(column: &str) -> String {
            format!(
                "(LOWER(CAST({column} AS TEXT)) LIKE $1 ESCAPE '\\' OR LOWER(CAST({column} AS TEXT)) LIKE $2 ESCAPE '\\')"
            )
        }

        fn json_of(row: &$row, column: &str) -> Result<serde_json::Value, StoreError> {
            let value: sqlx::types::Json<serde_json::Value> = row.try_get(column).map_err(from_sqlx)?;
            Ok(value.0)
        }

        impl $store {
            async fn audit_about(
                &self,
                id: &str,
                email: &str,
            ) -> Result<Vec<StoredAuditEvent>, StoreError> {
                let sql = format!(
                    "SELECT id, occurred_at, action, actor_kind, actor_id, target, ip, details FROM audit_events \
                     WHERE {} OR {} ORDER BY id DESC",
                    names("target"),
                    names("details")
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(contains_pattern(id))
                    .bind(contains_pattern(email))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let by_actor = sqlx::query(
                    "SELECT id, occurred_at, action, actor_kind, actor_id, target, ip, details FROM audit_events \
                     WHERE actor_id = $1 ORDER BY id DESC",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                let mut events = rows.iter().chain(by_actor.iter()).map(Self::audit_event_from_row).collect::<Result<Vec<_>, _>>()?;
                events.sort_by_key(|event| std::cmp::Reverse(event.id));
                events.dedup_by_key(|event| event.id);
                Ok(events)
            }
        }

        #[async_trait]
        impl PrivacyStore for $store {
            async fn personal_data(&self, user_id: Uuid, now: OffsetDateTime) -> Result<Option<PersonalData>, StoreError> {
                let id = user_id.to_string();
                let Some(row) = sqlx::query("SELECT * FROM users WHERE id = $1")
                    .bind(&id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                else {
                    return Ok(None);
                };
                let email_normalized: String = row.try_get("email_normalized").map_err(from_sqlx)?;
                let verified: Option<i64> = row.try_get("email_verified_at").map_err(from_sqlx)?;
                let password_hash: Option<String> = row.try_get("password_hash").map_err(from_sqlx)?;
                let user = ExportedUser {
                    id: user_id,
                    email: row.try_get("email").map_err(from_sqlx)?,
                    name: row.try_get("name").map_err(from_sqlx)?,
                    email_verified_at: verified.map(from_millis).transpose()?,
                    disabled: row.try_get("disabled").map_err(from_sqlx)?,
                    has_password: password_hash.is_some(),
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    updated_at: from_millis(row.try_get("updated_at").map_err(from_sqlx)?)?,
                };
                let (id_pattern, email_pattern) = (contains_pattern(&id), contains_pattern(&email_normalized));

                let session_rows = sqlx::query("SELECT id, workspace_id FROM sessions WHERE user_id = $1")
                    .bind(&id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let mut workspace_of = std::collections::HashMap::new();
                for row in &session_rows {
                    let session: String = row.try_get("id").map_err(from_sqlx)?;
                    let workspace: Option<String> = row.try_get("workspace_id").map_err(from_sqlx)?;
                    workspace_of.insert(session, workspace.as_deref().map(uuid).transpose()?);
                }
                let sessions = self
                    .sessions_of_user(user_id)
                    .await?
                    .into_iter()
                    .map(|session| {
                        let workspace_id = workspace_of.get(&session.id.to_string()).copied().flatten();
                        ExportedSession { session, workspace_id }
                    })
                    .collect();

                let mut invitations = Vec::new();
                let mut invitations_sent = Vec::new();
                for (column, value, into) in [
                    ("email_normalized", &email_normalized, &mut invitations),
                    ("invited_by", &id, &mut invitations_sent),
                ] {
                    let sql = format!(
                        "SELECT i.id, i.workspace_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at \
                         FROM workspace_invitations i WHERE i.{column} = $1 ORDER BY i.created_at DESC, i.id"
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(value)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(from_sqlx)?;
                    for row in &rows {
                        into.push(Self::invitation_from_row(row)?);
                    }
                }

                let deliveries_sql = format!(
                    "SELECT id, endpoint_id, event_type, status, created_at, event FROM webhook_deliveries \
                     WHERE {} ORDER BY created_at DESC, id",
                    names("event")
                );
                let webhook_deliveries = sqlx::query(sqlx::AssertSqlSafe(deliveries_sql))
                    .bind(&id_pattern)
                    .bind(&email_pattern)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .iter()
                    .map(|row| {
                        let delivery: String = row.try_get("id").map_err(from_sqlx)?;
                        let endpoint: String = row.try_get("endpoint_id").map_err(from_sqlx)?;
                        Ok(ExportedDelivery {
                            id: uuid(&delivery)?,
                            endpoint_id: uuid(&endpoint)?,
                            event_type: row.try_get("event_type").map_err(from_sqlx)?,
                            status: row.try_get("status").map_err(from_sqlx)?,
                            created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                            event: json_of(row, "event")?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;

                let jobs_sql = format!(
                    "SELECT id, kind, state, created_at, payload FROM jobs WHERE {} ORDER BY created_at DESC, id",
                    names("payload")
                );
                let jobs = sqlx::query(sqlx::AssertSqlSafe(jobs_sql))
                    .bind(&id_pattern)
                    .bind(&email_pattern)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .iter()
                    .map(|row| {
                        let job: String = row.try_get("id").map_err(from_sqlx)?;
                        Ok(ExportedJob {
                            id: uuid(&job)?,
                            kind: row.try_get("kind").map_err(from_sqlx)?,
                            state: row.try_get("state").map_err(from_sqlx)?,
                            created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                            payload: json_of(row, "payload")?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;

                let email_links = sqlx::query(
                    "SELECT id, purpose, created_at, expires_at, used_at, target_email FROM email_links WHERE user_id = $1 \
                     ORDER BY created_at DESC, id",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
                .iter()
                .map(|row| {
                    let link: String = row.try_get("id").map_err(from_sqlx)?;
                    let used: Option<i64> = row.try_get("used_at").map_err(from_sqlx)?;
                    Ok(ExportedLink {
                        id: uuid(&link)?,
                        purpose: row.try_get("purpose").map_err(from_sqlx)?,
                        created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                        expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                        used_at: used.map(from_millis).transpose()?,
                        target_email: row.try_get("target_email").map_err(from_sqlx)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;

                let sign_ins_in_progress = sqlx::query(
                    "SELECT provider, created_at, expires_at FROM oauth_states WHERE link_user_id = $1 \
                     ORDER BY created_at DESC",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
                .iter()
                .map(|row| {
                    Ok(ExportedSignIn {
                        provider: row.try_get("provider").map_err(from_sqlx)?,
                        created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                        expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;

                let connection_rows =
                    sqlx::query("SELECT id FROM vault_connections WHERE user_id = $1 ORDER BY provider, id")
                        .bind(&id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(from_sqlx)?;
                let mut connections = Vec::new();
                for row in &connection_rows {
                    let connection: String = row.try_get("id").map_err(from_sqlx)?;
                    if let Some(found) = self.connection_by_id(uuid(&connection)?).await? {
                        connections.push(found.public());
                    }
                }

                let authenticator_apps = self.totp(user_id).await?.into_iter().map(|stored| stored.factor).collect();
                let recovery_codes = sqlx::query(
                    "SELECT created_at, used_at FROM mfa_recovery_codes WHERE user_id = $1 ORDER BY created_at, used_at",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
                .iter()
                .map(|row| {
                    let used: Option<i64> = row.try_get("used_at").map_err(from_sqlx)?;
                    Ok(ExportedRecoveryCode {
                        created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                        used_at: used.map(from_millis).transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
                let second_steps_in_progress = sqlx::query(
                    "SELECT first_factor, user_agent, return_to, failures, created_at, expires_at FROM mfa_steps \
                     WHERE user_id = $1 ORDER BY created_at DESC",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
                .iter()
                .map(|row| {
                    let first: String = row.try_get("first_factor").map_err(from_sqlx)?;
                    let failures: i32 = row.try_get("failures").map_err(from_sqlx)?;
                    Ok(ExportedSecondStep {
                        first_factor: gatehouse_core::sessions::AuthMethod::parse(&first)
                            .ok_or_else(|| StoreError::Backend(format!("stored first factor {first:?} is unknown")))?,
                        user_agent: row.try_get("user_agent").map_err(from_sqlx)?,
                        return_to: row.try_get("return_to").map_err(from_sqlx)?,
                        failures: u32::try_from(failures).unwrap_or(0),
                        created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                        expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;

                let passkeys = self.passkeys_of_user(user_id).await?.into_iter().map(|stored| stored.passkey).collect();
                let passkey_ceremonies_in_progress = sqlx::query(
                    "SELECT kind, expires_at FROM webauthn_ceremonies WHERE user_id = $1 ORDER BY expires_at",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
                .iter()
                .map(|row| {
                    Ok(ExportedCeremony {
                        kind: row.try_get("kind").map_err(from_sqlx)?,
                        expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;

                let known_devices = sqlx::query(
                    "SELECT user_agent, network, created_at, last_seen_at FROM known_devices WHERE user_id = $1 \
                     ORDER BY created_at",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
                .iter()
                .map(|row| {
                    Ok(ExportedDevice {
                        user_agent: row.try_get("user_agent").map_err(from_sqlx)?,
                        network: row.try_get("network").map_err(from_sqlx)?,
                        created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                        last_seen_at: from_millis(row.try_get("last_seen_at").map_err(from_sqlx)?)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;

                Ok(Some(PersonalData {
                    format: EXPORT_FORMAT,
                    version: EXPORT_VERSION,
                    exported_at: now,
                    user,
                    identities: self.identities_of_user(user_id).await?,
                    connections,
                    sessions,
                    workspaces: self.memberships_of_user(user_id).await?,
                    invitations,
                    invitations_sent,
                    audit_events: self.audit_about(&id, &email_normalized).await?,
                    webhook_deliveries,
                    jobs,
                    email_links,
                    sign_ins_in_progress,
                    authenticator_apps,
                    recovery_codes,
                    second_steps_in_progress,
                    passkeys,
                    passkey_ceremonies_in_progress,
                    known_devices,
                }))
            }

            async fn erase(&self, erasure: &Erasure) -> Result<Erased, StoreError> {
                let id = erasure.user_id.to_string();
                let now = erasure.events.first().map_or_else(OffsetDateTime::now_utc, |event| event.occurred_at);
                let (id_pattern, email_pattern) =
                    (contains_pattern(&id), contains_pattern(&erasure.email_normalized));
                let needles = vec![id.clone(), erasure.email_normalized.clone()];
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                // Write first (see sql_workspaces): the user, then each of their workspaces, so no
                // membership change races the last-owner check below.
                let found = sqlx::query("UPDATE users SET disabled = TRUE, updated_at = $1 WHERE id = $2")
                    .bind(millis(now))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                if found.rows_affected() == 0 {
                    return Ok(Erased::NotFound);
                }
                sqlx::query(
                    "UPDATE workspaces SET updated_at = $1 WHERE id IN \
                     (SELECT workspace_id FROM workspace_members WHERE user_id = $2)",
                )
                .bind(millis(now))
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                let blocked: Vec<String> = sqlx::query_scalar(
                    "SELECT m.workspace_id FROM workspace_members m WHERE m.user_id = $1 AND m.role = 'owner' \
                     AND (SELECT COUNT(*) FROM workspace_members o WHERE o.workspace_id = m.workspace_id \
                          AND o.role = 'owner') = 1 \
                     AND (SELECT COUNT(*) FROM workspace_members a WHERE a.workspace_id = m.workspace_id) > 1 \
                     ORDER BY m.workspace_id",
                )
                .bind(&id)
                .fetch_all(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                if !blocked.is_empty() {
                    let workspaces = blocked.iter().map(|w| uuid(w)).collect::<Result<Vec<_>, _>>()?;
                    return Ok(Erased::LastOwner { workspaces });
                }
                // A workspace whose only member this is goes with them (pending invitations too).
                let alone: Vec<String> = sqlx::query_scalar(
                    "SELECT m.workspace_id FROM workspace_members m WHERE m.user_id = $1 \
                     AND (SELECT COUNT(*) FROM workspace_members a WHERE a.workspace_id = m.workspace_id) = 1",
                )
                .bind(&id)
                .fetch_all(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                for workspace in &alone {
                    sqlx::query("DELETE FROM workspaces WHERE id = $1")
                        .bind(workspace)
                        .execute(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                }
                let hashes: Vec<Vec<u8>> =
                    sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash")
                        .bind(&id)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                for statement in [
                    "DELETE FROM oauth_states WHERE link_user_id = $1",
                    "UPDATE workspace_invitations SET invited_by = NULL WHERE invited_by = $1",
                ] {
                    sqlx::query(statement).bind(&id).execute(&mut *tx).await.map_err(from_sqlx)?;
                }
                sqlx::query("DELETE FROM workspace_invitations WHERE email_normalized = $1")
                    .bind(&erasure.email_normalized)
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                // Jobs naming the person: an email to them must not go out any more.
                let jobs_sql = format!("DELETE FROM jobs WHERE {}", names("payload"));
                sqlx::query(sqlx::AssertSqlSafe(jobs_sql))
                    .bind(&id_pattern)
                    .bind(&email_pattern)
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                // Deliveries and audit events are kept, with the person scrubbed out of them.
                let deliveries_sql = format!("SELECT id, event FROM webhook_deliveries WHERE {}", names("event"));
                let deliveries = sqlx::query(sqlx::AssertSqlSafe(deliveries_sql))
                    .bind(&id_pattern)
                    .bind(&email_pattern)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                for row in &deliveries {
                    let delivery: String = row.try_get("id").map_err(from_sqlx)?;
                    let mut event = json_of(row, "event")?;
                    scrub(&mut event, &needles);
                    sqlx::query("UPDATE webhook_deliveries SET event = $1 WHERE id = $2")
                        .bind(sqlx::types::Json(&event))
                        .bind(&delivery)
                        .execute(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                    sqlx::query("UPDATE webhook_attempts SET response_excerpt = NULL WHERE delivery_id = $1")
                        .bind(&delivery)
                        .execute(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                }
                let audit_sql = format!(
                    "SELECT id, actor_id, target, details FROM audit_events WHERE actor_id = $3 OR {} OR {}",
                    names("target"),
                    names("details")
                );
                let events = sqlx::query(sqlx::AssertSqlSafe(audit_sql))
                    .bind(&id_pattern)
                    .bind(&email_pattern)
                    .bind(&id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                for row in &events {
                    let event_id: i64 = row.try_get("id").map_err(from_sqlx)?;
                    let actor_id: Option<String> = row.try_get("actor_id").map_err(from_sqlx)?;
                    let target: Option<String> = row.try_get("target").map_err(from_sqlx)?;
                    let mut details = json_of(row, "details")?;
                    scrub(&mut details, &needles);
                    let by_them = actor_id.as_deref() == Some(id.as_str());
                    let target = target.map(|t| if t.to_lowercase().contains(&id) { "user:erased".to_owned() } else { t });
                    sqlx::query(
                        "UPDATE audit_events SET actor_kind = CASE WHEN $1 THEN 'erased_user' ELSE actor_kind END, \
                         actor_id = CASE WHEN $1 THEN NULL ELSE actor_id END, target = $2, details = $3, \
                         ip = NULL, user_agent = NULL WHERE id = $4",
                    )
                    .bind(by_them)
                    .bind(target)
                    .bind(sqlx::types::Json(&details))
                    .bind(event_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                }
                for revocation in &erasure.revocations {
                    sqlx::query(
                        "INSERT INTO vault_revocations (id, provider, wrapped_key, ciphertext, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(revocation.id.to_string())
                    .bind(revocation.provider.as_str())
                    .bind(&revocation.wrapped_key)
                    .bind(&revocation.ciphertext)
                    .bind(millis(revocation.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                }
                // The rest (links, identities, vault records, memberships) goes with the row.
                sqlx::query("DELETE FROM users WHERE id = $1").bind(&id).execute(&mut *tx).await.map_err(from_sqlx)?;
                Self::insert_audit(&mut tx, &erasure.events).await?;
                if let Some(first) = erasure.jobs.first() {
                    Self::insert_jobs(&mut tx, &erasure.jobs, first.run_at).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                Ok(Erased::Done {
                    token_hashes: hashes.into_iter().map(token_hash).collect::<Result<Vec<_>, _>>()?,
                    workspaces_deleted: alone.iter().map(|w| uuid(w)).collect::<Result<Vec<_>, _>>()?,
                })
            }
        }
    };
}

pub(crate) use sql_privacy;
