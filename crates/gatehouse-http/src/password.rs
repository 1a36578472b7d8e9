//! Password hashing off the async runtime, on a pool bounded to the number of cores.
//!
//! argon2id is deliberately slow and memory-hungry. Each hash runs on a blocking thread, and a
//! semaphore admits at most one hash per core at a time, so a burst of logins queues here instead
//! of starving every other request of CPU or exhausting memory.

use std::sync::Arc;

use gatehouse_core::password::{HashError, HashParams, Password, PasswordHasher, Verification};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct PasswordService {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
    /// A hash of a random password at today's parameters: login verifies against it when the
    /// account does not exist, so that answer takes as long as a wrong password.
    dummy_hash: Arc<str>,
}

fn random_salt() -> Result<[u8; 16], HashError> {
    let mut salt = [0_u8; 16];
    getrandom::fill(&mut salt).map_err(|e| HashError::from_message(format!("OS randomness failed: {e}")))?;
    Ok(salt)
}

impl PasswordService {
    /// Builds the service and its dummy hash (one hash at start-up).
    pub fn new(params: HashParams, concurrency: usize) -> Result<Self, HashError> {
        let hasher = PasswordHasher::new(params)?;
        let mut random = [0_u8; 32];
        getrandom::fill(&mut random).map_err(|e| HashError::from_message(format!("OS randomness failed: {e}")))?;
        let dummy_password = Password::for_login(&format!("{random:?}"));
        let dummy_hash = hasher.hash(&dummy_password, random_salt()?)?;
        Ok(Self {
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit =
            self.permits.acquire().await.map_err(|_| HashError::from_message("hashing pool closed".into()))?;
        let hasher = Arc::clone(&self.hasher);
        tokio::task::spawn_blocking(move || work(&hasher))
            .await
            .map_err(|e| HashError::from_message(format!("hashing task failed: {e}")))
    }

    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let salt = random_salt()?;
        self.run(move |hasher| hasher.hash(&password, salt)).await?
    }

    /// Verifies against `stored`, or against the dummy hash when there is none, so both cost the
    /// same; the latter is always [`Verification::Invalid`].
    pub async fn verify(&self, stored: Option<String>, password: Password) -> Result<Verification, HashError> {
        let real = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let outcome = self.run(move |hasher| hasher.verify(&hash, &password)).await?;
        Ok(if real { outcome } else { Verification::Invalid })
    }
}
