//! Signing-key management shared by `serve` (first key at start) and `gatehouse keys rotate`.

use anyhow::Context as _;
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::sessions::ClientContext;
use gatehouse_core::tokens::{KeyEncryption, SigningAlgorithm, SigningKeyStore, generate_key};
use time::OffsetDateTime;

fn random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut bytes = [0_u8; N];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    Ok(bytes)
}

/// Generates a new key, makes it the active one and retires the others (which stay published
/// until the tokens they signed have expired). Returns the new key id.
pub async fn rotate(
    store: &dyn SigningKeyStore,
    encryption: &KeyEncryption,
    algorithm: SigningAlgorithm,
    actor: Actor,
) -> anyhow::Result<String> {
    let now = gatehouse_core::clock::to_millis(OffsetDateTime::now_utc());
    // A P-256 scalar must be below the group order; 32 random bytes miss it with probability
    // about 2^-32, so a few attempts always suffice.
    let mut attempts = 0;
    let key = loop {
        attempts += 1;
        match generate_key(algorithm, random()?, random()?, now, encryption) {
            Ok(key) => break key,
            Err(error) if attempts >= 8 => return Err(error).context("generating a signing key"),
            Err(_) => {}
        }
    };
    let event = AuditEvent::new(AuditAction::SigningKeyRotated, actor, now, &ClientContext::default())
        .target("signing_key", &key.kid)
        .detail("algorithm", algorithm.as_str());
    store.rotate_signing_key(&key, &[event]).await.context("storing the new signing key")?;
    Ok(key.kid)
}

/// Makes sure there is an active signing key, creating the first one on a fresh database.
pub async fn ensure_active(
    store: &dyn SigningKeyStore,
    encryption: &KeyEncryption,
    algorithm: SigningAlgorithm,
) -> anyhow::Result<()> {
    let keys = store.signing_keys().await.context("reading signing keys")?;
    if keys.iter().any(|key| key.retired_at.is_none()) {
        return Ok(());
    }
    let kid = rotate(store, encryption, algorithm, Actor::Operator).await?;
    tracing::info!(kid, algorithm = algorithm.as_str(), "generated the first access-token signing key");
    Ok(())
}
