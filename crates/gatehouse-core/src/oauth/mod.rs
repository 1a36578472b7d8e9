//! Signing in with a provider (Google, GitHub, any OpenID Connect provider) and linking its
//! identities to accounts.
//!
//! The flow is the authorization-code grant with PKCE (S256), a one-time `state` and, for OpenID
//! Connect, a `nonce`. The state is stored (only its SHA-256), bound to the browser that started
//! the flow by a short-lived cookie whose hash the record keeps, and consumed atomically, so it
//! works once, in that browser, for [`STATE_LIFETIME`].
//!
//! Who a provider's identity is, is decided by [`decide_sign_in`]: an identity already linked
//! signs in its user; a new one whose address belongs to an existing account links to it only
//! when the provider is trusted to (`link_verified_email`) and both sides have verified the
//! address, since linking on an unverified address hands the account to whoever typed it.
//!
//! Talking to providers is a port ([`ProviderClient`]), implemented over HTTP by the binary.

pub mod id_token;
pub mod redirect;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::{EmailAddress, NewUser, User};
use crate::audit::AuditEvent;
use crate::jobs::NewJob;
use crate::secret::TokenHash;
use crate::sessions::NewSession;
use crate::store::StoreError;

/// How long a started sign-in may take before its state expires.
pub const STATE_LIFETIME: Duration = Duration::from_secs(600);

/// A provider's name as configured (`[oauth.providers.NAME]`) and as it appears in every URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProviderName(String);

impl ProviderName {
    /// 1 to 32 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let valid = !text.is_empty()
            && text.len() <= 32
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err("must be 1 to 32 of a-z, 0-9, - and _, starting with a letter")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProviderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenID Connect with Google's issuer.
    Google,
    /// OAuth 2.0 plus GitHub's user and emails API.
    Github,
    /// Any OpenID Connect provider, found by discovery.
    Oidc,
}

impl ProviderKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "google" => Some(Self::Google),
            "github" => Some(Self::Github),
            "oidc" => Some(Self::Oidc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Github => "github",
            Self::Oidc => "oidc",
        }
    }

    /// The scopes every sign-in asks for, before the configured extra ones.
    pub fn base_scopes(self) -> &'static [&'static str] {
        match self {
            Self::Google | Self::Oidc => &["openid", "email", "profile"],
            Self::Github => &["read:user", "user:email"],
        }
    }
}

/// A configured provider, as the API lists it and as the flows need it.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    pub name: ProviderName,
    pub kind: ProviderKind,
    pub display_name: String,
    /// Scopes beyond the base ones that every sign-in asks for (and that a start or link call may
    /// ask for a subset of); tokens granted with them are kept in the vault.
    pub extra_scopes: Vec<String>,
    /// Link a new identity to an existing account with the same address when both are verified.
    pub link_verified_email: bool,
}

impl ProviderInfo {
    /// The scopes to ask for: the base ones and `requested` (each must be configured), or every
    /// configured one when nothing is requested. `Err` names a scope that is not configured.
    pub fn scopes_for(&self, requested: Option<&str>) -> Result<Vec<String>, String> {
        let extra: Vec<String> = match requested {
            None => self.extra_scopes.clone(),
            Some(text) => {
                let mut asked = Vec::new();
                for scope in text.split([' ', ',']).filter(|scope| !scope.is_empty()) {
                    let base = self.kind.base_scopes().contains(&scope);
                    if !base && !self.extra_scopes.iter().any(|configured| configured == scope) {
                        return Err(scope.chars().take(100).collect());
                    }
                    if !base && !asked.iter().any(|seen: &String| seen == scope) {
                        asked.push(scope.to_owned());
                    }
                }
                asked
            }
        };
        Ok(self.kind.base_scopes().iter().map(|scope| (*scope).to_owned()).chain(extra).collect())
    }

    /// Whether a grant of `scopes` holds something beyond sign-in, worth keeping in the vault.
    pub fn wants_vault(&self, scopes: &[String]) -> bool {
        scopes.iter().any(|scope| self.extra_scopes.contains(scope))
    }
}

/// PKCE (RFC 7636) with S256: the verifier stays with us, its challenge goes to the provider.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pkce(<redacted>)")
    }
}

impl Pkce {
    /// 32 random bytes become a 43-character verifier.
    pub fn from_random(bytes: [u8; 32]) -> Self {
        Self { verifier: URL_SAFE_NO_PAD.encode(bytes) }
    }

    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

/// What a finished flow does: sign in (or up), or link to the account that started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatePurpose {
    SignIn,
    Link { user_id: Uuid, session_id: Uuid },
}

/// A started flow, as stored until its callback consumes it.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthState {
    /// SHA-256 of the `state` parameter.
    pub id_hash: TokenHash,
    pub provider: ProviderName,
    /// SHA-256 of the browser-binding cookie's value.
    pub browser_hash: TokenHash,
    pub pkce: Pkce,
    pub nonce: String,
    pub redirect_to: String,
    pub scopes: Vec<String>,
    pub purpose: StatePurpose,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthState")
            .field("provider", &self.provider)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait OAuthStateStore: Send + Sync + std::fmt::Debug {
    async fn insert_state(&self, state: &OAuthState) -> Result<(), StoreError>;
    /// Deletes and returns the state with this hash, atomically: of two callbacks racing with one
    /// state, one gets it and the other `None`. Expiry is the caller's to check.
    async fn take_state(&self, id_hash: &TokenHash) -> Result<Option<OAuthState>, StoreError>;
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's stable id for the person (`sub`, or GitHub's numeric id).
    pub subject: String,
    pub email: Option<EmailAddress>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// An identity linked to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: Uuid,
    #[serde(skip)]
    pub user_id: Uuid,
    #[schema(value_type = String)]
    pub provider: ProviderName,
    /// The provider's id for the person.
    pub subject: String,
    /// The address the provider gave when it was linked, if any.
    pub email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What unlinking did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinked {
    Done(Identity),
    NotFound,
    /// The account has no password and no other identity: it would have no way to sign in.
    LastSignInMethod,
}

#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync + std::fmt::Debug {
    /// The identity `(provider, subject)` and its user.
    async fn identity(&self, provider: &ProviderName, subject: &str) -> Result<Option<(Identity, User)>, StoreError>;
    async fn identities_of_user(&self, user_id: Uuid) -> Result<Vec<Identity>, StoreError>;
    /// Creates the user, its identity and its first session with the jobs and events, in one
    /// transaction; [`StoreError::Duplicate`] when the address or the identity was taken meanwhile.
    async fn create_user_with_identity(
        &self,
        user: &NewUser,
        identity: &Identity,
        session: &NewSession,
        jobs: &[NewJob],
        events: &[AuditEvent],
    ) -> Result<User, StoreError>;
    /// Links `identity` to its user (and starts `session`, when signing in) with the jobs and
    /// events, in one transaction; [`StoreError::Duplicate`] when the identity is linked already.
    async fn link_identity(
        &self,
        identity: &Identity,
        session: Option<&NewSession>,
        jobs: &[NewJob],
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;
    /// Removes one of the user's identities unless it is their last way to sign in.
    async fn unlink_identity(
        &self,
        user_id: Uuid,
        identity_id: Uuid,
        jobs: &[NewJob],
        events: &[AuditEvent],
    ) -> Result<Unlinked, StoreError>;
}

/// What signing in with a provider identity comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInDecision {
    /// The identity is linked: sign its user in.
    Existing(User),
    /// Link the identity to this existing account (same verified address), then sign in.
    LinkByEmail(User),
    /// No account has the address: create one.
    Create,
    /// An account has the address, but linking is not safe: sign in the usual way and link from
    /// the account.
    EmailConflict,
    /// The provider gave no address, and an account needs one.
    EmailRequired,
    /// The linked account is disabled.
    Disabled,
}

/// Decides what a sign-in with `identity` does, given what the store knows.
pub fn decide_sign_in(
    linked: Option<User>,
    identity: &ProviderIdentity,
    same_email: Option<User>,
    link_verified_email: bool,
) -> SignInDecision {
    if let Some(user) = linked {
        return if user.disabled { SignInDecision::Disabled } else { SignInDecision::Existing(user) };
    }
    if identity.email.is_none() {
        return SignInDecision::EmailRequired;
    }
    match same_email {
        None => SignInDecision::Create,
        Some(user) if user.disabled => SignInDecision::Disabled,
        Some(user) if link_verified_email && identity.email_verified && user.email_verified => {
            SignInDecision::LinkByEmail(user)
        }
        Some(_) => SignInDecision::EmailConflict,
    }
}

/// A secret a provider granted; its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Tokens from a provider's token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// From `expires_in`, when the provider said.
    pub expires_at: Option<OffsetDateTime>,
    /// The granted scopes, when the provider said (otherwise those asked for).
    pub scopes: Option<Vec<String>>,
}

/// What a provider call can come to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Down, unreachable, slow, or answering 5xx: try again later. The text names no secret.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered with an OAuth error (`invalid_grant`, `access_denied`, …).
    #[error("the provider refused: {error}")]
    Refused { error: String },
    /// The provider answered something that does not check out (a bad ID token, garbage).
    #[error("the provider's answer is invalid: {0}")]
    Invalid(String),
}

/// What the callback hands the provider client to finish a sign-in.
#[derive(Debug, Clone, Copy)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub pkce: &'a Pkce,
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
    /// The scopes that were asked for, for when the provider does not say what it granted.
    pub scopes: &'a [String],
}

/// What the start of a flow sends the browser with.
#[derive(Debug, Clone, Copy)]
pub struct Authorization<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub login_hint: Option<&'a str>,
}

/// One configured provider, spoken to over the network.
#[async_trait::async_trait]
pub trait ProviderClient: Send + Sync + std::fmt::Debug {
    fn info(&self) -> &ProviderInfo;
    /// The provider's authorization URL for this flow.
    async fn authorization_url(&self, authorization: &Authorization<'_>) -> Result<String, ProviderError>;
    /// The issuer an RFC 9207 `iss` callback parameter must equal, and whether the provider
    /// promises to send one.
    async fn callback_issuer(&self) -> Result<(Option<String>, bool), ProviderError>;
    /// Exchanges the code and finds out who signed in.
    async fn complete(&self, exchange: &CodeExchange<'_>) -> Result<(ProviderIdentity, TokenSet), ProviderError>;
    /// New tokens for a refresh token.
    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, ProviderError>;
    /// Whether the provider has an RFC 7009 revocation endpoint.
    async fn supports_revocation(&self) -> bool;
    /// Revokes a token (RFC 7009).
    async fn revoke(&self, token: &Secret, hint: &str) -> Result<(), ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(verified: bool) -> User {
        User {
            id: Uuid::new_v4(),
            email: EmailAddress::parse("ada@example.com").expect("email"),
            name: None,
            email_verified: verified,
            disabled: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn identity(email_verified: bool) -> ProviderIdentity {
        ProviderIdentity {
            subject: "s-1".into(),
            email: Some(EmailAddress::parse("Ada@example.com").expect("email")),
            email_verified,
            name: None,
        }
    }

    #[test]
    fn automatic_linking_needs_the_setting_and_both_sides_verified() {
        let existing = user(true);
        assert_eq!(
            decide_sign_in(None, &identity(true), Some(existing.clone()), true),
            SignInDecision::LinkByEmail(existing.clone())
        );
        assert_eq!(decide_sign_in(None, &identity(true), Some(existing.clone()), false), SignInDecision::EmailConflict);
        assert_eq!(decide_sign_in(None, &identity(false), Some(existing), true), SignInDecision::EmailConflict);
        assert_eq!(decide_sign_in(None, &identity(true), Some(user(false)), true), SignInDecision::EmailConflict);
        assert_eq!(decide_sign_in(None, &identity(false), None, false), SignInDecision::Create);
        let linked = user(false);
        assert_eq!(
            decide_sign_in(Some(linked.clone()), &identity(false), None, false),
            SignInDecision::Existing(linked)
        );
        let mut no_email = identity(true);
        no_email.email = None;
        assert_eq!(decide_sign_in(None, &no_email, None, true), SignInDecision::EmailRequired);
        let mut disabled = user(true);
        disabled.disabled = true;
        assert_eq!(decide_sign_in(Some(disabled), &identity(true), None, true), SignInDecision::Disabled);
    }

    #[test]
    fn pkce_challenge_is_the_rfc_7636_example() {
        // RFC 7636 appendix B.
        let pkce = Pkce { verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into() };
        assert_eq!(pkce.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(Pkce::from_random([1; 32]).verifier.len(), 43);
    }

    #[test]
    fn requested_scopes_must_be_configured() {
        let info = ProviderInfo {
            name: ProviderName::parse("google").expect("name"),
            kind: ProviderKind::Google,
            display_name: "Google".into(),
            extra_scopes: vec!["gmail.send".into(), "drive".into()],
            link_verified_email: false,
        };
        assert_eq!(info.scopes_for(None).expect("all"), ["openid", "email", "profile", "gmail.send", "drive"]);
        assert_eq!(info.scopes_for(Some("drive openid")).expect("subset"), ["openid", "email", "profile", "drive"]);
        assert_eq!(info.scopes_for(Some("admin")), Err("admin".into()));
        assert!(info.wants_vault(&["drive".into()]));
        assert!(!info.wants_vault(&["openid".into()]));
        assert!(ProviderName::parse("Corp").is_err());
        assert!(ProviderName::parse("corp-sso_2").is_ok());
    }
}
