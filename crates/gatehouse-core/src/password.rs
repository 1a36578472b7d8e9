//! Passwords: what is accepted, and argon2id hashing.
//!
//! A [`Password`] is NFKC-normalized (so the same characters typed on different keyboards are the
//! same password), 8 to 128 characters long, and not among the 10,000 most common passwords.
//! Hashing is pure computation; the caller decides where it runs (off the async runtime) and
//! supplies the salt.

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use unicode_normalization::UnicodeNormalization as _;

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

/// A password that met the rules. Its `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {MIN_CHARS} characters")]
    TooShort,
    #[error("must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error("is one of the most common passwords; choose one that is harder to guess")]
    TooCommon,
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| include_str!("../data/common-passwords.txt").lines().collect())
}

impl Password {
    /// Applies the rules for a new password (signup, reset, change).
    pub fn new(input: &str) -> Result<Self, PasswordError> {
        let normalized: String = input.nfkc().collect();
        let chars = normalized.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if common_passwords().contains(normalized.to_lowercase().as_str()) {
            return Err(PasswordError::TooCommon);
        }
        Ok(Self(normalized))
    }

    /// A password offered at login: normalized the same way but not judged, so rules that change
    /// later never lock anyone out. Oversized input is cut so it cannot cost extra hashing.
    pub fn for_login(input: &str) -> Self {
        Self(input.nfkc().take(MAX_CHARS * 4).collect())
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The normalized text, for the breached-password check's hash; never for output.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's minimum recommendation for argon2id (m = 19 MiB, t = 2, p = 1).
    pub const OWASP_MINIMUM: Self = Self { memory_kib: 19_456, iterations: 2, parallelism: 1 };
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    pub fn from_message(message: String) -> Self {
        Self(message)
    }
}

/// Hashes and verifies with argon2id at the configured cost.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: HashParams,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Invalid,
    /// Correct; `needs_rehash` when the hash was made with other parameters than today's.
    Valid {
        needs_rehash: bool,
    },
}

impl PasswordHasher {
    pub fn new(params: HashParams) -> Result<Self, HashError> {
        // Validate once so hashing never fails later for a parameter reason.
        Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| HashError(e.to_string()))?;
        Ok(Self { params })
    }

    fn params(&self) -> Params {
        Params::new(self.params.memory_kib, self.params.iterations, self.params.parallelism, None).unwrap_or_default()
    }

    /// Memory for hashing at these parameters, to reuse across hashes on one thread.
    pub fn workspace(&self) -> Workspace {
        Workspace(vec![Block::default(); self.params().block_count()])
    }

    /// Hashes with a 16-byte salt from the caller's CSPRNG; returns a PHC string.
    pub fn hash(&self, password: &Password, salt: [u8; 16]) -> Result<String, HashError> {
        self.hash_in(&mut Workspace::default(), password, salt)
    }

    /// [`Self::hash`] in caller-provided memory, so repeated hashes allocate nothing.
    pub fn hash_in(&self, workspace: &mut Workspace, password: &Password, salt: [u8; 16]) -> Result<String, HashError> {
        let error = |e: &dyn std::fmt::Display| HashError(e.to_string());
        let params = self.params();
        let mut output = [0_u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut output,
                workspace.blocks(params.block_count()),
            )
            .map_err(|e| error(&e))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| error(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| error(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&output).map_err(|e| error(&e))?),
        };
        Ok(phc.to_string())
    }

    pub fn verify(&self, stored: &str, password: &Password) -> Verification {
        self.verify_in(&mut Workspace::default(), stored, password)
    }

    /// [`Self::verify`] in caller-provided memory. The comparison of hash outputs is constant-time.
    pub fn verify_in(&self, workspace: &mut Workspace, stored: &str, password: &Password) -> Verification {
        self.check(workspace, stored, password).unwrap_or(Verification::Invalid)
    }

    fn check(&self, workspace: &mut Workspace, stored: &str, password: &Password) -> Option<Verification> {
        let parsed = PasswordHash::new(stored).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from).ok()?;
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt = [0_u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let mut computed = vec![0_u8; expected.len()];
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut computed,
                workspace.blocks(params.block_count()),
            )
            .ok()?;
        // `Output` compares in constant time.
        if Output::new(&computed).ok()? != expected {
            return Some(Verification::Invalid);
        }
        let current =
            HashParams { memory_kib: params.m_cost(), iterations: params.t_cost(), parallelism: params.p_cost() };
        Some(Verification::Valid { needs_rehash: algorithm != Algorithm::Argon2id || current != self.params })
    }
}

/// Reusable argon2 memory: one per hashing thread keeps memory flat (one block set per thread)
/// instead of allocating and freeing 19 MiB per hash.
#[derive(Default)]
pub struct Workspace(Vec<Block>);

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workspace({} blocks)", self.0.len())
    }
}

impl Workspace {
    /// The first `count` blocks, growing once if a stored hash needs more than today's parameters.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashParams = HashParams { memory_kib: 64, iterations: 1, parallelism: 1 };

    #[test]
    fn length_is_counted_in_characters_after_normalization() {
        assert_eq!(Password::new("short").err(), Some(PasswordError::TooShort));
        assert!(Password::new("ünïcødé-ok").is_ok());
        assert_eq!(Password::new(&"é".repeat(129)).err(), Some(PasswordError::TooLong));
        // "ﬁ" (one ligature character) normalizes to "fi" (two): the rule sees the normalized form.
        assert!(Password::new("ﬁﬁﬁﬁ").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert_eq!(Password::new("password1").err(), Some(PasswordError::TooCommon));
        assert_eq!(Password::new("PassWord1").err(), Some(PasswordError::TooCommon));
        assert_eq!(Password::new("12345678").err(), Some(PasswordError::TooCommon));
        assert!(Password::new("correct horse battery staple").is_ok());
    }

    #[test]
    fn hashes_verify_and_report_when_parameters_changed() {
        let hasher = PasswordHasher::new(CHEAP).expect("params");
        let password = Password::new("a fine passphrase").expect("ok");
        let hash = hasher.hash(&password, [7; 16]).expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(hasher.verify(&hash, &password), Verification::Valid { needs_rehash: false });
        assert_eq!(hasher.verify(&hash, &Password::for_login("wrong passphrase")), Verification::Invalid);
        assert_eq!(hasher.verify("not a hash", &password), Verification::Invalid);

        let stronger = PasswordHasher::new(HashParams { memory_kib: 128, ..CHEAP }).expect("params");
        assert_eq!(stronger.verify(&hash, &password), Verification::Valid { needs_rehash: true });
    }

    #[test]
    fn the_same_characters_typed_differently_are_the_same_password() {
        let hasher = PasswordHasher::new(CHEAP).expect("params");
        // "é" as one code point and as "e" + combining accent.
        let composed = Password::new("caf\u{e9} au lait").expect("ok");
        let hash = hasher.hash(&composed, [1; 16]).expect("hash");
        let decomposed = Password::for_login("cafe\u{301} au lait");
        assert_eq!(hasher.verify(&hash, &decomposed), Verification::Valid { needs_rehash: false });
    }

    #[test]
    fn hashes_from_a_reused_workspace_verify_with_the_standard_verifier() {
        use argon2::password_hash::PasswordVerifier as _;
        let hasher = PasswordHasher::new(CHEAP).expect("params");
        let mut workspace = hasher.workspace();
        let password = Password::new("another fine passphrase").expect("ok");
        for salt in [[1; 16], [2; 16]] {
            let hash = hasher.hash_in(&mut workspace, &password, salt).expect("hash");
            let parsed = PasswordHash::new(&hash).expect("PHC string");
            assert!(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(), "{hash}");
            assert_eq!(hasher.verify_in(&mut workspace, &hash, &password), Verification::Valid { needs_rehash: false });
        }
        // A hash made with more memory than today's parameters still verifies (the workspace grows).
        let bigger = PasswordHasher::new(HashParams { memory_kib: 256, ..CHEAP }).expect("params");
        let old = bigger.hash(&password, [3; 16]).expect("hash");
        assert_eq!(hasher.verify_in(&mut workspace, &old, &password), Verification::Valid { needs_rehash: true });
    }

    #[test]
    fn debug_hides_the_password() {
        assert_eq!(format!("{:?}", Password::for_login("secret-value")), "Password(<redacted>)");
    }
}
