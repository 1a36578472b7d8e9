//! Replacing the master secret without downtime.
//!
//! With `master_secret_previous` set, every instance opens values sealed under either secret and
//! seals new ones under `master_secret`. [`rewrap`] then re-seals, in batches and while servers
//! run, every value still under the previous secret: signing keys, webhook secrets (current and
//! previous) and the vault's data keys (the tokens under them stay as they are). A value that
//! changed meanwhile (a rotation, a refresh) was sealed under the current secret anyway, so the
//! compare-and-swap that skips it loses nothing. [`SecretsCheck`] reports in `/health` while any
//! value still needs the previous secret.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_core::health::{DependencyCheck, DependencyReport, DependencyStatus};
use gatehouse_core::sealing::{KeyEncryption, Keyring, SealedKind, SealedValueStore};
use gatehouse_core::store::StoreError;

/// Values re-sealed per batch.
pub const BATCH: u32 = 200;

/// What a rewrap did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrapped {
    pub resealed: u64,
    pub already_current: u64,
    /// Values changed by someone else between our read and our write (so already current).
    pub changed_meanwhile: u64,
    /// Values that open under neither secret: `(kind, key)`.
    pub unopenable: Vec<(&'static str, String)>,
}

/// How many values are not sealed under the current secret, per kind.
pub async fn remaining(store: &dyn SealedValueStore, keyring: &Keyring) -> Result<u64, StoreError> {
    let header = keyring.current_id().header();
    let mut total = 0;
    for kind in SealedKind::ALL {
        total += store.count_not_sealed_under(kind, &header).await?;
    }
    Ok(total)
}

/// Re-seals every value under the current secret; `progress` hears of each value handled.
pub async fn rewrap(
    store: &dyn SealedValueStore,
    keyring: &Keyring,
    mut progress: impl FnMut(),
) -> Result<Rewrapped, StoreError> {
    let mut outcome = Rewrapped::default();
    for kind in SealedKind::ALL {
        let encryption = KeyEncryption::for_purpose(keyring, kind.purpose());
        let mut after: Option<String> = None;
        loop {
            let batch = store.sealed_values(kind, after.as_deref(), BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.key.clone());
            for value in &batch {
                if encryption.is_current(&value.blob) {
                    outcome.already_current += 1;
                    continue;
                }
                progress();
                let mut nonce = [0_u8; 12];
                getrandom::fill(&mut nonce).map_err(|e| StoreError::Backend(format!("OS randomness failed: {e}")))?;
                match encryption.reseal(&value.label, &value.blob, nonce) {
                    Ok(Some(resealed)) => {
                        if store.replace_sealed_value(value, &resealed).await? {
                            outcome.resealed += 1;
                        } else {
                            outcome.changed_meanwhile += 1;
                        }
                    }
                    Ok(None) => outcome.already_current += 1,
                    Err(_) => outcome.unopenable.push((kind.as_str(), value.key.clone())),
                }
            }
        }
    }
    Ok(outcome)
}

/// How long a count is reused, so `/health` does not scan the tables on every call.
const CHECK_TTL: Duration = Duration::from_secs(10);

/// `secrets` in `/health`: during a rotation, whether values still need the previous secret.
#[derive(Debug)]
pub struct SecretsCheck {
    store: Arc<dyn SealedValueStore>,
    keyring: Keyring,
    last: Mutex<Option<(Instant, DependencyReport)>>,
}

impl SecretsCheck {
    pub fn new(store: Arc<dyn SealedValueStore>, keyring: Keyring) -> Self {
        Self { store, keyring, last: Mutex::new(None) }
    }
}

#[async_trait]
impl DependencyCheck for SecretsCheck {
    fn name(&self) -> &'static str {
        "secrets"
    }

    async fn check(&self) -> DependencyReport {
        if !self.keyring.has_previous() {
            return DependencyReport::not_configured();
        }
        if let Some((at, report)) = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref()
            && at.elapsed() < CHECK_TTL
        {
            return report.clone();
        }
        let started = Instant::now();
        let counted = remaining(self.store.as_ref(), &self.keyring).await;
        let latency_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        let report = match counted {
            Ok(0) => DependencyReport {
                status: DependencyStatus::Ok,
                latency_ms,
                detail: Some("every sealed value uses master_secret; master_secret_previous can be removed".into()),
            },
            Ok(count) => DependencyReport::degraded(
                latency_ms,
                format!("{count} sealed values still need master_secret_previous; run `gatehouse secrets rewrap`"),
            ),
            Err(_) => DependencyReport::degraded(latency_ms, "the sealed values cannot be counted"),
        };
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), report.clone()));
        report
    }
}
