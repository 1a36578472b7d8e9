//! Sealing stored secrets under keys derived from the master secret, and rotating that secret.
//!
//! Every secret Gatehouse must be able to read back (signing keys, webhook secrets, the data keys
//! of the token vault) is sealed with ChaCha20-Poly1305 under a key derived for its purpose from
//! the master secret, with associated data that names the record it belongs to, so a sealed value
//! copied onto another record does not open.
//!
//! A sealed value starts with a header naming the master secret it was sealed under (a key id
//! derived from the secret, never the secret): `"gh" 0x01 || key id (8) || nonce (12) || ciphertext`.
//! A [`Keyring`] holds the current master secret and, during a rotation, the previous one: values
//! open under either, new seals always use the current one, and [`KeyEncryption::reseal`] moves a
//! value from the previous secret to the current one (`gatehouse secrets rewrap`). Values sealed
//! before headers existed (`nonce || ciphertext`) still open, by trying each key in turn, and count
//! as not yet under the current secret.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use crate::secret::MasterSecret;

/// The first bytes of every sealed value written with a key id.
const MAGIC: [u8; 3] = [b'g', b'h', 1];
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
/// The header's length: what SQL compares to tell which secret sealed a value.
pub const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN;

/// Purposes, each with its own derived key, so a key for one job never opens another's values.
pub const SIGNING_KEY_PURPOSE: &[u8] = b"signing-key encryption v1";
pub const WEBHOOK_SECRET_PURPOSE: &[u8] = b"webhook secret v1";
pub const VAULT_PURPOSE: &[u8] = b"vault key-encryption key v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the sealed value is truncated")]
    Truncated,
    #[error(
        "the sealed value does not open under master_secret or master_secret_previous: was the master secret changed?"
    )]
    DoesNotOpen,
    #[error("encryption failed")]
    Encryption,
}

/// The identifier of a master secret, as sealed values name it: not secret, and useless for
/// anything but telling which secret sealed a value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    fn of(master: &MasterSecret) -> Self {
        let derived = master.derive_key(b"key-encryption key id v1");
        let mut id = [0_u8; KEY_ID_LEN];
        id.copy_from_slice(&derived[..KEY_ID_LEN]);
        Self(id)
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// The header every value sealed under this secret starts with.
    pub fn header(self) -> Vec<u8> {
        [&MAGIC[..], &self.0[..]].concat()
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

/// The current master secret and, while it is being replaced, the previous one.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: MasterSecret,
    previous: Option<MasterSecret>,
}

impl Keyring {
    pub fn new(current: MasterSecret, previous: Option<MasterSecret>) -> Self {
        // A previous secret equal to the current one adds nothing; keep one copy.
        let previous = previous.filter(|previous| *previous != current);
        Self { current, previous }
    }

    pub fn current(&self) -> &MasterSecret {
        &self.current
    }

    pub fn current_id(&self) -> KeyId {
        KeyId::of(&self.current)
    }

    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
    }
}

impl From<&MasterSecret> for Keyring {
    fn from(master: &MasterSecret) -> Self {
        Self::new(master.clone(), None)
    }
}

/// Seals and opens the values of one purpose under the keys of a [`Keyring`].
pub struct KeyEncryption {
    /// Current key first.
    keys: Vec<(KeyId, ChaCha20Poly1305)>,
}

impl std::fmt::Debug for KeyEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryption(<redacted>)")
    }
}

impl KeyEncryption {
    /// The sealing key for access-token signing keys, under one master secret.
    pub fn new(master: &MasterSecret) -> Self {
        Self::for_purpose(&Keyring::from(master), SIGNING_KEY_PURPOSE)
    }

    /// The sealing keys for `purpose` under every secret of `keyring`.
    pub fn for_purpose(keyring: &Keyring, purpose: &[u8]) -> Self {
        let keys = std::iter::once(&keyring.current)
            .chain(keyring.previous.as_ref())
            .map(|master| (KeyId::of(master), ChaCha20Poly1305::new(&master.derive_key(purpose).into())))
            .collect();
        Self { keys }
    }

    fn current(&self) -> &(KeyId, ChaCha20Poly1305) {
        // Built from a keyring, which always has a current secret.
        &self.keys[0]
    }

    /// Seals `plaintext` under the current secret, bound to `label`.
    pub fn seal(&self, label: &str, plaintext: &[u8], nonce: [u8; 12]) -> Result<Vec<u8>, SealError> {
        let (id, cipher) = self.current();
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: label.as_bytes() })
            .map_err(|_| SealError::Encryption)?;
        Ok([&id.header()[..], &nonce[..], &sealed].concat())
    }

    /// Opens a value sealed under either secret (or written before key ids), bound to `label`.
    pub fn open(&self, label: &str, blob: &[u8]) -> Result<Vec<u8>, SealError> {
        if let Some((id, rest)) = split_header(blob)
            && let Some((_, cipher)) = self.keys.iter().find(|(known, _)| *known == id)
        {
            return decrypt(cipher, label, rest);
        }
        // No header, or one naming no key we hold (a headerless value can begin like a header):
        // try every key on the whole value.
        self.keys.iter().find_map(|(_, cipher)| decrypt(cipher, label, blob).ok()).ok_or(SealError::DoesNotOpen)
    }

    /// Whether `blob` is sealed under the current secret.
    pub fn is_current(&self, blob: &[u8]) -> bool {
        split_header(blob).is_some_and(|(id, _)| id == self.current().0)
    }

    /// The value sealed afresh under the current secret, or `None` when it already is.
    pub fn reseal(&self, label: &str, blob: &[u8], nonce: [u8; 12]) -> Result<Option<Vec<u8>>, SealError> {
        if self.is_current(blob) {
            return Ok(None);
        }
        let plaintext = self.open(label, blob)?;
        self.seal(label, &plaintext, nonce).map(Some)
    }
}

/// The kinds of sealed values, each in its own column, all re-sealed by a rewrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedKind {
    SigningKey,
    WebhookSecret,
    /// A webhook endpoint's previous secret, during a secret rotation's grace period.
    WebhookPreviousSecret,
    /// The wrapped data key of a vault record (the tokens under it stay as they are).
    VaultKey,
    /// The wrapped data key of an erased account's tokens awaiting revocation.
    VaultRevocationKey,
    /// An authenticator app's shared secret.
    TotpSecret,
}

impl SealedKind {
    pub const ALL: [SealedKind; 6] = [
        Self::SigningKey,
        Self::WebhookSecret,
        Self::WebhookPreviousSecret,
        Self::VaultKey,
        Self::VaultRevocationKey,
        Self::TotpSecret,
    ];

    pub fn purpose(self) -> &'static [u8] {
        match self {
            Self::SigningKey => SIGNING_KEY_PURPOSE,
            Self::WebhookSecret | Self::WebhookPreviousSecret => WEBHOOK_SECRET_PURPOSE,
            Self::VaultKey | Self::VaultRevocationKey => VAULT_PURPOSE,
            Self::TotpSecret => crate::mfa::TOTP_PURPOSE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigningKey => "signing keys",
            Self::WebhookSecret => "webhook secrets",
            Self::WebhookPreviousSecret => "previous webhook secrets",
            Self::VaultKey => "vault data keys",
            Self::VaultRevocationKey => "vault data keys awaiting revocation",
            Self::TotpSecret => "authenticator app secrets",
        }
    }
}

/// One sealed value: where it lives, what it is bound to, and its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub kind: SealedKind,
    /// The row's key (a key id, an endpoint id, a vault record id).
    pub key: String,
    /// The associated data the value is sealed with.
    pub label: String,
    pub blob: Vec<u8>,
}

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedValue").field("kind", &self.kind).field("key", &self.key).finish_non_exhaustive()
    }
}

/// Every sealed value in the database, for re-sealing them under a new master secret.
#[async_trait::async_trait]
pub trait SealedValueStore: Send + Sync + std::fmt::Debug {
    /// Up to `limit` values of `kind` whose key sorts after `after`, in key order.
    async fn sealed_values(
        &self,
        kind: SealedKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedValue>, crate::store::StoreError>;
    /// Replaces `value` with `resealed` if the row still holds `value.blob` (a value changed
    /// meanwhile, by a rotation or a refresh, was sealed under the current secret anyway).
    async fn replace_sealed_value(
        &self,
        value: &SealedValue,
        resealed: &[u8],
    ) -> Result<bool, crate::store::StoreError>;
    /// How many values of `kind` do not start with `header` (were not sealed under that secret).
    async fn count_not_sealed_under(&self, kind: SealedKind, header: &[u8]) -> Result<u64, crate::store::StoreError>;
}

fn split_header(blob: &[u8]) -> Option<(KeyId, &[u8])> {
    let rest = blob.strip_prefix(&MAGIC[..])?;
    if rest.len() < KEY_ID_LEN {
        return None;
    }
    let (id, rest) = rest.split_at(KEY_ID_LEN);
    Some((KeyId(id.try_into().ok()?), rest))
}

fn decrypt(cipher: &ChaCha20Poly1305, label: &str, nonce_and_sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if nonce_and_sealed.len() < NONCE_LEN {
        return Err(SealError::Truncated);
    }
    let (nonce, sealed) = nonce_and_sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Truncated)?;
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: label.as_bytes() })
        .map_err(|_| SealError::DoesNotOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(start: u8) -> MasterSecret {
        MasterSecret::from_bytes((start..start + 32).collect()).expect("secret")
    }

    #[test]
    fn values_open_under_either_secret_and_reseal_under_the_current_one() {
        let (old, new) = (secret(0), secret(100));
        let before = KeyEncryption::for_purpose(&Keyring::new(old.clone(), None), VAULT_PURPOSE);
        let sealed = before.seal("record-1", b"token", [1; 12]).expect("seal");
        assert!(before.is_current(&sealed));

        let rotating = KeyEncryption::for_purpose(&Keyring::new(new.clone(), Some(old)), VAULT_PURPOSE);
        assert_eq!(rotating.open("record-1", &sealed).expect("opens under the previous"), b"token");
        assert!(!rotating.is_current(&sealed));
        let resealed = rotating.reseal("record-1", &sealed, [2; 12]).expect("reseal").expect("changed");
        assert!(rotating.is_current(&resealed));
        assert_eq!(rotating.reseal("record-1", &resealed, [3; 12]).expect("reseal"), None);

        let after = KeyEncryption::for_purpose(&Keyring::new(new, None), VAULT_PURPOSE);
        assert_eq!(after.open("record-1", &resealed).expect("opens with only the new secret"), b"token");
        assert_eq!(after.open("record-1", &sealed), Err(SealError::DoesNotOpen));
    }

    #[test]
    fn a_value_is_bound_to_its_label_and_purpose() {
        let keyring = Keyring::new(secret(0), None);
        let vault = KeyEncryption::for_purpose(&keyring, VAULT_PURPOSE);
        let sealed = vault.seal("record-1", b"token", [1; 12]).expect("seal");
        assert_eq!(vault.open("record-2", &sealed), Err(SealError::DoesNotOpen));
        let webhooks = KeyEncryption::for_purpose(&keyring, WEBHOOK_SECRET_PURPOSE);
        assert_eq!(webhooks.open("record-1", &sealed), Err(SealError::DoesNotOpen));
        assert_eq!(vault.open("record-1", &sealed[..5]), Err(SealError::DoesNotOpen));
    }

    #[test]
    fn values_sealed_before_key_ids_still_open_and_count_as_not_current() {
        let master = secret(0);
        let cipher = ChaCha20Poly1305::new(&master.derive_key(SIGNING_KEY_PURPOSE).into());
        let legacy_body =
            cipher.encrypt(&Nonce::from([5; 12]), Payload { msg: b"der", aad: b"kid-1" }).expect("encrypt");
        let legacy = [&[5_u8; 12][..], &legacy_body].concat();
        let encryption = KeyEncryption::new(&master);
        assert_eq!(encryption.open("kid-1", &legacy).expect("legacy opens"), b"der");
        assert!(!encryption.is_current(&legacy));
        let resealed = encryption.reseal("kid-1", &legacy, [6; 12]).expect("reseal").expect("changed");
        assert!(resealed.starts_with(&Keyring::from(&master).current_id().header()));
    }
}
