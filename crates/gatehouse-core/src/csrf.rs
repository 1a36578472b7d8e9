//! CSRF tokens bound to a session: an HMAC of the session's token hash under a key derived from the
//! master secret. The server can check one without any lookup, it is useless with another session,
//! and it is compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::{MasterSecret, TokenHash};

#[derive(Clone)]
pub struct CsrfKey([u8; 32]);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

impl CsrfKey {
    pub fn new(master: &MasterSecret) -> Self {
        Self(master.derive_key(b"csrf token v1"))
    }

    fn mac(&self, session: &TokenHash) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(&session.0);
        mac
    }

    /// The token for the session whose token hashes to `session`.
    pub fn token_for(&self, session: &TokenHash) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(session).finalize().into_bytes())
    }

    /// Whether `presented` is this session's token, compared in constant time.
    pub fn verify(&self, session: &TokenHash, presented: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented) else { return false };
        self.mac(session).verify_slice(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_one_session_and_one_master_secret() {
        let key = CsrfKey::new(&MasterSecret::from_bytes((0..32).collect()).expect("secret"));
        let (a, b) = (TokenHash([1; 32]), TokenHash([2; 32]));
        let token = key.token_for(&a);
        assert!(key.verify(&a, &token));
        assert!(!key.verify(&b, &token), "another session's token is refused");
        assert!(!key.verify(&a, "garbage"));
        assert!(!key.verify(&a, &token[..token.len() - 1]));
        let other = CsrfKey::new(&MasterSecret::from_bytes((50..82).collect()).expect("secret"));
        assert!(!other.verify(&a, &token), "another master secret's token is refused");
    }
}
