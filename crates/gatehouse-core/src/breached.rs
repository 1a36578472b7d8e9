//! Breached passwords: whether a new password appears in a corpus of passwords from breaches, in
//! the format of Have I Been Pwned's Pwned Passwords (upper-case hex SHA-1, `SUFFIX:COUNT` lines).
//!
//! Only the first five hex characters of the password's SHA-1 ever leave the machine (the
//! k-anonymity range query); the rest is compared here. The lookups themselves (an HTTP range API,
//! or a local sorted file) are adapters behind [`BreachedPasswords`].

use async_trait::async_trait;
use sha1::{Digest, Sha1};

use crate::password::Password;

/// A password's SHA-1 in upper-case hex, split as the range query needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordSha1(String);

impl std::fmt::Debug for PasswordSha1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordSha1(<redacted>)")
    }
}

impl PasswordSha1 {
    pub fn of(password: &Password) -> Self {
        Self(hex::encode_upper(Sha1::digest(password.expose().as_bytes())))
    }

    /// The five characters sent to a range API.
    pub fn prefix(&self) -> &str {
        &self.0[..5]
    }

    /// The 35 characters compared locally.
    pub fn suffix(&self) -> &str {
        &self.0[5..]
    }

    /// All 40 characters, as a downloaded corpus lists them.
    pub fn full(&self) -> &str {
        &self.0
    }
}

/// Whether a range API's answer (`SUFFIX:COUNT` lines, any case, CRLF or LF) lists `hash` with a
/// count above zero (padding entries have count 0).
pub fn range_lists(body: &str, hash: &PasswordSha1) -> bool {
    body.lines().filter_map(|line| line.trim().split_once(':')).any(|(suffix, count)| {
        suffix.eq_ignore_ascii_case(hash.suffix()) && count.trim().parse::<u64>().is_ok_and(|count| count > 0)
    })
}

/// Why a lookup could not say.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LookupFailed(pub String);

/// A breach corpus.
#[async_trait]
pub trait BreachedPasswords: Send + Sync + std::fmt::Debug {
    /// Whether the corpus lists the password.
    async fn is_breached(&self, hash: &PasswordSha1) -> Result<bool, LookupFailed>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_splits_into_the_prefix_sent_and_the_suffix_kept() {
        // SHA-1("correct horse battery staple") in the corpus's format.
        let hash = PasswordSha1::of(&Password::new("correct horse battery staple").expect("password"));
        assert_eq!(hash.full(), "ABF7AAD6438836DBE526AA231ABDE2D0EEF74D42");
        assert_eq!((hash.prefix(), hash.suffix()), ("ABF7A", "AD6438836DBE526AA231ABDE2D0EEF74D42"));
        assert!(!format!("{hash:?}").contains("ABF7A"));
    }

    #[test]
    fn a_range_lists_a_suffix_with_a_count_and_ignores_padding() {
        let hash = PasswordSha1::of(&Password::new("correct horse battery staple").expect("password"));
        let listed = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\nad6438836dbe526aa231abde2d0eef74d42:394\r\n";
        assert!(range_lists(listed, &hash));
        let padded = "AD6438836DBE526AA231ABDE2D0EEF74D42:0\n";
        assert!(!range_lists(padded, &hash), "count 0 is padding");
        assert!(!range_lists("", &hash));
        assert!(!range_lists("garbage without colons", &hash));
    }
}
