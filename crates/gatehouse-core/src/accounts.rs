//! Accounts: email addresses as typed values and the user record.
//!
//! An [`EmailAddress`] is trimmed and checked once at the edge. It keeps the address as the user
//! typed it (for display and for sending mail) and a normalized form (lower-cased) that uniqueness
//! and login compare, so `Jane@Example.com` and `jane@example.com` are one account.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::email::NewLink;
use crate::jobs::NewJob;
use crate::sessions::NewSession;
use crate::store::StoreError;

/// Longest address SMTP can carry (RFC 5321 path limit less the angle brackets).
const MAX_EMAIL_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
pub const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress {
    as_given: String,
    normalized: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("is not an email address")]
    Invalid,
    #[error("is longer than {MAX_EMAIL_LEN} characters")]
    TooLong,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Invalid)?;
        let domain_ok = domain.len() >= 3
            && domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-'));
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL_LEN
            && !local.contains('@')
            && !local.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';'));
        if !(domain_ok && local_ok) {
            return Err(EmailError::Invalid);
        }
        Ok(Self { as_given: trimmed.to_owned(), normalized: trimmed.to_lowercase() })
    }

    /// As the user typed it, trimmed.
    pub fn as_str(&self) -> &str {
        &self.as_given
    }

    /// The form uniqueness and login compare.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// Masked for logs and audit details: `j***@example.com`.
    pub fn masked(&self) -> String {
        crate::redact::mask_email(&self.as_given)
    }

    /// Rebuilds a stored address; the store only ever holds addresses that were parsed.
    pub fn from_stored(as_given: String, normalized: String) -> Self {
        Self { as_given, normalized }
    }
}

/// A user as the API shows it. The password hash never leaves the store in this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    #[serde(serialize_with = "serialize_email")]
    #[schema(value_type = String, format = Email)]
    pub email: EmailAddress,
    pub name: Option<String>,
    pub email_verified: bool,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn serialize_email<S: serde::Serializer>(email: &EmailAddress, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(email.as_str())
}

/// A user with the stored password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    /// `None` for accounts without a password (OAuth-only).
    pub password_hash: Option<String>,
}

/// A user about to be created.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: EmailAddress,
    pub name: Option<String>,
    /// `None` for an account created by a sign-in with a provider: it has no password until the
    /// person sets one through the reset flow.
    pub password_hash: Option<String>,
    /// Set when the address is known to be verified at creation (a provider said so).
    pub email_verified_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl NewUser {
    /// The user as it will be once stored.
    pub fn as_user(&self) -> User {
        User {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            email_verified: self.email_verified_at.is_some(),
            disabled: false,
            created_at: self.created_at,
        }
    }
}

/// Storage of users. Every write takes the audit events that describe it and commits them in the
/// same transaction.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync + std::fmt::Debug {
    /// Creates the user, its first session (none when login waits for a verified email), the
    /// verification link, and the jobs the signup causes (the link's email, webhook events), in
    /// one transaction; [`StoreError::Duplicate`] when the normalized email is taken.
    async fn create_user(
        &self,
        user: &NewUser,
        session: Option<&NewSession>,
        verification: Option<&NewLink>,
        jobs: &[NewJob],
        events: &[AuditEvent],
    ) -> Result<User, StoreError>;

    async fn credentials_by_email(&self, normalized_email: &str) -> Result<Option<UserCredentials>, StoreError>;

    /// Replaces a password hash (after a rehash on login with new parameters) at `at`.
    async fn set_password_hash(&self, user_id: Uuid, password_hash: &str, at: OffsetDateTime)
    -> Result<(), StoreError>;
}

/// What a signed-in person changes about their own account (the address changes through
/// [`crate::email::LinkStore`], since each step is a link).
#[async_trait::async_trait]
pub trait ProfileStore: Send + Sync + std::fmt::Debug {
    /// Replaces the password hash and retires the unspent reset and sign-in links; when
    /// `end_other_sessions`, ends every session of the user but `keep`. The events and jobs commit
    /// with it. The token hashes of the sessions it ended.
    #[allow(clippy::too_many_arguments, reason = "one transaction's parts")]
    async fn change_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep: Uuid,
        end_other_sessions: bool,
        at: OffsetDateTime,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Vec<crate::sessions::TokenHash>, StoreError>;

    /// Sets the display name (`None` clears it), with its events and jobs; the user as it now is,
    /// `None` when there is no such user.
    async fn set_name(
        &self,
        user_id: Uuid,
        name: Option<&str>,
        at: OffsetDateTime,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Option<User>, StoreError>;
}

/// One page of users, by id, and the cursor of the next (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<User>,
    /// Pass as `after` for the next page.
    pub next: Option<Uuid>,
}

/// What operators do to accounts (the admin API and the CLI).
#[async_trait::async_trait]
pub trait UserAdmin: Send + Sync + std::fmt::Debug {
    /// Users whose normalized address starts with `email_prefix`, by id after `after`.
    async fn users(&self, email_prefix: Option<&str>, after: Option<Uuid>, limit: u32) -> Result<UserPage, StoreError>;
    async fn user(&self, id: Uuid) -> Result<Option<User>, StoreError>;
    /// Disables (ending every session) or enables the account; `None` when there is no such user,
    /// otherwise the token hashes of the sessions it ended.
    async fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        at: OffsetDateTime,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Option<Vec<crate::sessions::TokenHash>>, StoreError>;
    /// Ends every session of the user; their token hashes.
    async fn revoke_all_sessions(
        &self,
        id: Uuid,
        events: &[AuditEvent],
    ) -> Result<Vec<crate::sessions::TokenHash>, StoreError>;
}

/// Trims a display name; empty means none.
pub fn parse_name(input: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(name) = input.map(str::trim).filter(|name| !name.is_empty()) else { return Ok(None) };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("is longer than 200 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("contains control characters");
    }
    Ok(Some(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_kept_as_given_and_compared_lowercased() {
        let email = EmailAddress::parse("  Jane.Doe@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "Jane.Doe@Example.COM");
        assert_eq!(email.normalized(), "jane.doe@example.com");
        assert_eq!(email.masked(), "J***@Example.COM");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a@.example.com",
            "a@example..com",
            "<a>@example.com",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
        assert!(EmailAddress::parse("josé@bücher.example").is_ok());
    }

    #[test]
    fn names_are_optional_trimmed_and_bounded() {
        assert_eq!(parse_name(None), Ok(None));
        assert_eq!(parse_name(Some("   ")), Ok(None));
        assert_eq!(parse_name(Some(" Ada ")), Ok(Some("Ada".into())));
        assert!(parse_name(Some(&"x".repeat(201))).is_err());
        assert!(parse_name(Some("a\u{0}b")).is_err());
    }
}
