//! Second factors: an authenticator app (TOTP, RFC 6238) with single-use recovery codes, the
//! second step of a sign-in, and the storage port for both.
//!
//! A code is accepted for the current 30-second step and one step either side (clock skew), and
//! only for a step later than the last one accepted, so a code works once. Recovery codes are 80
//! random bits each and stored as SHA-256. The second step is a 256-bit bearer token (stored as
//! its SHA-256) that lives five minutes, allows five wrong codes, and is spent by the one request
//! that completes it.

use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::jobs::NewJob;
use crate::sessions::{AuthMethod, NewSession, TokenHash};
use crate::store::StoreError;

/// How long the second step of a sign-in waits for its code.
pub const STEP_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Wrong codes a second step allows before it ends and the sign-in starts again.
pub const MAX_STEP_FAILURES: u32 = 5;
/// Recovery codes issued at once.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
/// The sealing purpose of TOTP secrets.
pub const TOTP_PURPOSE: &[u8] = b"totp secret v1";

const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;

/// The associated data a TOTP secret is sealed with: its factor and its user.
pub fn sealing_label(factor_id: Uuid, user_id: Uuid) -> String {
    format!("totp:{factor_id}:{user_id}")
}

/// A TOTP shared secret, only ever plain in memory.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// Wraps 20 bytes from the OS CSPRNG.
    pub fn from_random(bytes: [u8; TOTP_SECRET_BYTES]) -> Self {
        Self(bytes.to_vec())
    }

    /// A secret as opened from storage; `None` unless it is long enough for RFC 4226.
    pub fn from_stored(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= 16).then_some(Self(bytes))
    }

    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: &str, account: &str) -> Option<totp_rs::TOTP> {
        // The otpauth label is `issuer:account`; neither part may hold a colon.
        let issuer = issuer.replace(':', " ");
        let account = account.replace(':', " ");
        totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, DIGITS, 1, STEP_SECS, self.0.clone(), Some(issuer), account).ok()
    }

    /// The secret in base32, as people type it into an app.
    pub fn base32(&self) -> String {
        self.totp("x", "x").map(|totp| totp.get_secret_base32()).unwrap_or_default()
    }

    /// The `otpauth://totp/…` URI an authenticator app reads from a QR code.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        self.totp(issuer, account).map(|totp| totp.get_url()).unwrap_or_default()
    }

    /// The time step whose code `code` is, among the current step and one either side; `None`
    /// when it is none of them. Replay is the caller's to refuse (a step at or before the last
    /// accepted one).
    pub fn matching_step(&self, code: &str, now: OffsetDateTime) -> Option<i64> {
        let code = normalize_code(code)?;
        let totp = self.totp("x", "x")?;
        let seconds = u64::try_from(now.unix_timestamp()).ok()?;
        let current = seconds / STEP_SECS;
        // Every candidate is computed and compared, so timing says nothing about which matched.
        let mut found = None;
        for step in [current.saturating_sub(1), current, current + 1] {
            let expected = totp.generate(step * STEP_SECS);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
                found = i64::try_from(step).ok();
            }
        }
        found
    }
}

/// Six digits, with any spaces people type between them taken out.
fn normalize_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Whether `text` has the shape of an app's code (rather than a recovery code).
pub fn looks_like_totp_code(text: &str) -> bool {
    normalize_code(text).is_some()
}

/// 32 symbols without look-alikes (no i, l, o, u), so a code read off paper types back right.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A recovery code: 80 random bits shown as `xxxx-xxxx-xxxx-xxxx`.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    pub fn from_random(bytes: [u8; 10]) -> Self {
        let mut bits: u128 = 0;
        for byte in bytes {
            bits = (bits << 8) | u128::from(byte);
        }
        let mut text = String::with_capacity(19);
        for i in 0..16 {
            if i > 0 && i % 4 == 0 {
                text.push('-');
            }
            let symbol = (bits >> (75 - 5 * i)) & 0x1f;
            text.push(char::from(RECOVERY_ALPHABET[symbol as usize]));
        }
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        recovery_code_hash(&self.0).unwrap_or(TokenHash([0; 32]))
    }
}

/// The stored hash of a recovery code as typed: case, spaces and dashes do not matter, and the
/// symbols people confuse read as the ones the alphabet has. `None` when it cannot be one.
pub fn recovery_code_hash(typed: &str) -> Option<TokenHash> {
    let mut canonical = String::with_capacity(16);
    for c in typed.chars() {
        let c = c.to_ascii_lowercase();
        let c = match c {
            ' ' | '-' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            'u' => 'v',
            other => other,
        };
        if !c.is_ascii() || !RECOVERY_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        canonical.push(c);
    }
    (canonical.len() == 16).then(|| TokenHash(Sha256::digest(canonical.as_bytes()).into()))
}

/// An authenticator app as the account page and the export show it; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TotpFactor {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a first code confirmed it; until then it does not guard sign-in.
    #[serde(with = "time::serde::rfc3339::option")]
    pub confirmed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// A TOTP factor with its sealed secret and the last step accepted.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTotp {
    pub factor: TotpFactor,
    pub user_id: Uuid,
    pub sealed_secret: Vec<u8>,
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for StoredTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTotp").field("factor", &self.factor).finish_non_exhaustive()
    }
}

/// What an account has in second factors.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FactorSummary {
    /// The authenticator app, confirmed or waiting for its first code.
    pub totp: Option<TotpFactor>,
    /// The account's passkeys, oldest first.
    pub passkeys: Vec<Passkey>,
    /// Recovery codes not yet used.
    pub recovery_codes_left: u32,
}

impl FactorSummary {
    /// Whether the account has a confirmed authenticator app.
    pub fn has_app(&self) -> bool {
        self.totp.as_ref().is_some_and(|totp| totp.confirmed_at.is_some())
    }

    /// Whether sign-in asks for a second factor: a confirmed app or any passkey.
    pub fn guards_sign_in(&self) -> bool {
        self.has_app() || !self.passkeys.is_empty()
    }

    /// What the second step of a sign-in accepts, for the 202 that starts it.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if self.has_app() {
            methods.push("totp");
        }
        if !self.passkeys.is_empty() {
            methods.push("passkey");
        }
        methods.push("recovery_code");
        methods
    }
}

/// A passkey (a WebAuthn credential) as its owner sees it; never its key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Passkey {
    pub id: Uuid,
    /// The owner's name for it ("Work laptop").
    pub name: String,
    /// Whether the authenticator may sync it to other devices (a backup-eligible passkey, such as
    /// one in a password manager); such sign-ins are `swk` in `amr`, device-bound ones `hwk`.
    pub backup_eligible: bool,
    /// Whether it is backed up (synced) now, as the authenticator last said.
    pub backed_up: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl Passkey {
    /// The `amr` value of a sign-in with this passkey (RFC 8176).
    pub fn method(&self) -> AuthMethod {
        if self.backup_eligible { AuthMethod::Swk } else { AuthMethod::Hwk }
    }
}

/// The longest name a person may give a passkey, in characters.
pub const PASSKEY_NAME_MAX: usize = 64;

/// A stored passkey: what [`Passkey`] shows, and what verifying a sign-in needs (the credential
/// id and the WebAuthn library's encoded static and dynamic state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub passkey: Passkey,
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
    /// The public key and its fixed extensions, as the library encodes them.
    pub static_state: Vec<u8>,
    /// Sign counter, backup and user-verification flags, as the library encodes them.
    pub dynamic_state: Vec<u8>,
    /// How the authenticator is reached, as the library encodes it (a bit set).
    pub transports: u8,
}

/// What a WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Adding a passkey to the signed-in account (`user_id` set).
    Register,
    /// Signing in, a second step or a step-up with a passkey.
    Authenticate,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Register, Self::Authenticate].into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A WebAuthn ceremony in progress: the library's encoded server state, found again by the
/// challenge the client signs, and spent once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub challenge: Vec<u8>,
    pub kind: CeremonyKind,
    pub user_id: Option<Uuid>,
    pub state: Vec<u8>,
    pub expires_at: OffsetDateTime,
}

/// The second step of a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondStep {
    pub id: Uuid,
    pub user_id: Uuid,
    /// How the first step was passed; the session's `amr` starts with it.
    pub first_factor: AuthMethod,
    /// Where the hosted pages go once the sign-in is complete (already allowlisted).
    pub return_to: Option<String>,
    /// The user agent that passed the first step; the second must come from the same.
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub failures: u32,
}

impl SecondStep {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at && self.failures < MAX_STEP_FAILURES
    }
}

/// Storage of second factors and second steps.
#[allow(clippy::too_many_arguments, reason = "a confirmation is one transaction over all of them")]
#[async_trait::async_trait]
pub trait MfaStore: Send + Sync + std::fmt::Debug {
    /// The account's factors.
    async fn factors(&self, user_id: Uuid) -> Result<FactorSummary, StoreError>;

    /// The account's authenticator app with its sealed secret.
    async fn totp(&self, user_id: Uuid) -> Result<Option<StoredTotp>, StoreError>;

    /// Starts an enrolment: replaces an unconfirmed one; `Duplicate` when a confirmed one exists.
    async fn begin_totp(&self, totp: &StoredTotp, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// Confirms the enrolment `factor_id` at `step`, replacing the recovery codes with
    /// `recovery_hashes`, with its events and jobs. False when there is no such unconfirmed factor.
    async fn confirm_totp(
        &self,
        user_id: Uuid,
        factor_id: Uuid,
        step: i64,
        at: OffsetDateTime,
        recovery_hashes: &[TokenHash],
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<bool, StoreError>;

    /// Accepts `step` for the confirmed factor only when it is later than the last step accepted
    /// (one conditional `UPDATE`, so two requests with one code cannot both pass).
    async fn use_totp_step(&self, user_id: Uuid, step: i64, at: OffsetDateTime) -> Result<bool, StoreError>;

    /// Spends an unused recovery code, with its events and jobs; false when there is none.
    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &TokenHash,
        at: OffsetDateTime,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<bool, StoreError>;

    /// Replaces the recovery codes; false when the account has no confirmed app and no passkey.
    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: &[TokenHash],
        at: OffsetDateTime,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;

    /// Removes the authenticator app, and the recovery codes unless a passkey remains; false when
    /// there was none.
    async fn remove_totp(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<bool, StoreError>;

    /// Stores a ceremony; expired ones are removed by housekeeping.
    async fn create_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError>;

    /// Spends the ceremony with this challenge (one `DELETE … RETURNING`), if live at `now`.
    async fn take_ceremony(&self, challenge: &[u8], now: OffsetDateTime) -> Result<Option<Ceremony>, StoreError>;

    /// Adds a passkey, with the first recovery codes when `recovery_hashes` is not empty, and its
    /// events and jobs. `Duplicate` when the credential is registered already.
    async fn add_passkey(
        &self,
        passkey: &StoredPasskey,
        recovery_hashes: &[TokenHash],
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<(), StoreError>;

    /// The account's passkeys with what verifying them needs, oldest first.
    async fn passkeys_of_user(&self, user_id: Uuid) -> Result<Vec<StoredPasskey>, StoreError>;

    /// The passkey with this credential id.
    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>, StoreError>;

    /// Records a sign-in with the passkey: its new dynamic state when it changed, and when.
    async fn passkey_used(
        &self,
        passkey_id: Uuid,
        dynamic_state: Option<&[u8]>,
        backed_up: bool,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Renames one of the account's passkeys; false when it has none with this id.
    async fn rename_passkey(&self, user_id: Uuid, passkey_id: Uuid, name: &str) -> Result<bool, StoreError>;

    /// Deletes one of the account's passkeys (and the recovery codes, when it was the last
    /// factor), with its events and jobs; false when it has none with this id.
    async fn delete_passkey(
        &self,
        user_id: Uuid,
        passkey_id: Uuid,
        at: OffsetDateTime,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<bool, StoreError>;

    /// Stores a second step.
    async fn create_step(&self, step: &SecondStep, token_hash: &TokenHash) -> Result<(), StoreError>;

    /// The second step with this token hash.
    async fn step(&self, token_hash: &TokenHash) -> Result<Option<SecondStep>, StoreError>;

    /// Counts a wrong code against the step; the failures now.
    async fn step_failed(&self, step_id: Uuid, events: &[AuditEvent]) -> Result<u32, StoreError>;

    /// Spends the step (one `DELETE … RETURNING`) and stores the session it leads to, with its
    /// events and jobs, in one transaction. False when another request spent it first.
    async fn finish_step(
        &self,
        step_id: Uuid,
        session: &NewSession,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).expect("time")
    }

    /// RFC 6238 appendix B: the SHA-1 secret "12345678901234567890", eight digits there; the six
    /// here are the last six of those.
    #[test]
    fn codes_match_the_rfc_vectors_with_one_step_of_skew() {
        let secret = TotpSecret::from_stored(b"12345678901234567890".to_vec()).expect("secret");
        assert_eq!(secret.matching_step("287082", at(59)), Some(1));
        assert_eq!(secret.matching_step("081804", at(1_111_111_109)), Some(37_037_036));
        // One step either side is accepted; two are not.
        assert_eq!(secret.matching_step("081804", at(1_111_111_109 + 30)), Some(37_037_036));
        assert_eq!(secret.matching_step("081804", at(1_111_111_109 - 30)), Some(37_037_036));
        assert_eq!(secret.matching_step("081804", at(1_111_111_109 + 60)), None);
        assert_eq!(secret.matching_step("08 18 04", at(1_111_111_109)), Some(37_037_036));
        assert_eq!(secret.matching_step("81804", at(1_111_111_109)), None);
        assert_eq!(secret.matching_step("08180x", at(1_111_111_109)), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let secret = TotpSecret::from_random([7; TOTP_SECRET_BYTES]);
        let uri = secret.otpauth_uri("Acme: Inc", "ada@example.com");
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={}", secret.base32())), "{uri}");
        assert!(uri.contains("issuer=Acme"), "{uri}");
        assert_eq!(secret.base32().len(), 32);
        assert_eq!(format!("{secret:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn recovery_codes_read_back_however_they_are_typed() {
        let code = RecoveryCode::from_random([0xA5; 10]);
        assert_eq!(code.as_str().len(), 19);
        assert_eq!(code.as_str().matches('-').count(), 3);
        let hash = code.hash();
        assert_eq!(recovery_code_hash(&code.as_str().to_uppercase()), Some(hash));
        assert_eq!(recovery_code_hash(&code.as_str().replace('-', " ")), Some(hash));
        assert_eq!(recovery_code_hash("too-short"), None);
        assert_eq!(recovery_code_hash("!!!!-!!!!-!!!!-!!!!"), None);
        assert_ne!(RecoveryCode::from_random([1; 10]).hash(), hash);
        // Look-alikes read as the symbols the alphabet has.
        let zeros = RecoveryCode::from_random([0; 10]);
        assert_eq!(zeros.as_str(), "0000-0000-0000-0000");
        assert_eq!(recovery_code_hash("oooo-OOOO-0000-0000"), Some(zeros.hash()));
        assert!(!looks_like_totp_code(code.as_str()));
        assert!(looks_like_totp_code("123 456"));
    }

    #[test]
    fn a_step_ends_by_time_or_by_failures() {
        let now = at(1_000_000);
        let step = SecondStep {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            first_factor: AuthMethod::Pwd,
            return_to: None,
            user_agent: None,
            created_at: now,
            expires_at: now + time::Duration::minutes(5),
            failures: 0,
        };
        assert!(step.is_live(now + time::Duration::minutes(4)));
        assert!(!step.is_live(now + time::Duration::minutes(5)));
        assert!(!SecondStep { failures: MAX_STEP_FAILURES, ..step }.is_live(now));
    }
}
