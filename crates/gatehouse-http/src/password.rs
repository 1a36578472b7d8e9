//! Password hashing off the async runtime, on a fixed pool of threads, one per core.
//!
//! argon2id is deliberately slow and memory-hungry (19 MiB per hash at the default cost). Hashes run
//! on `cores` long-lived threads fed through a bounded queue, so a burst of logins waits here instead
//! of starving other requests of CPU. Each thread hashes in its own reused [`Workspace`], so memory
//! stays flat at one block set per thread. (Hashing on tokio's blocking pool, allocating per hash,
//! peaked at 550 MiB under a login flood: short-lived threads each left freed blocks in their own
//! allocator arena.)

use std::sync::{Arc, Mutex};

use gatehouse_core::password::{HashError, HashParams, Password, PasswordHasher, Verification, Workspace};
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce(&PasswordHasher, &mut Workspace) + Send>;

/// Hashes waiting for a thread, per thread; beyond that, callers wait to enqueue.
const QUEUE_PER_THREAD: usize = 256;

#[derive(Debug, Clone)]
pub struct PasswordService {
    jobs: mpsc::Sender<Job>,
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
    /// Starts `threads` hashing threads and makes the dummy hash. The threads end when the last
    /// clone of the service is dropped.
    pub fn new(params: HashParams, threads: usize) -> Result<Self, HashError> {
        let hasher = Arc::new(PasswordHasher::new(params)?);
        let mut random = [0_u8; 32];
        getrandom::fill(&mut random).map_err(|e| HashError::from_message(format!("OS randomness failed: {e}")))?;
        let dummy_hash = hasher.hash(&Password::for_login(&format!("{random:?}")), random_salt()?)?;

        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>(threads * QUEUE_PER_THREAD);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads {
            let (queue, hasher) = (Arc::clone(&queue), Arc::clone(&hasher));
            std::thread::Builder::new()
                .name(format!("gatehouse-hash-{index}"))
                .spawn(move || {
                    // Made on the first hash, so an instance that never hashes never holds the memory.
                    let mut workspace: Option<Workspace> = None;
                    loop {
                        // The lock is held only while waiting for the next job, not while hashing.
                        let job = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).blocking_recv();
                        match job {
                            Some(job) => job(&hasher, workspace.get_or_insert_with(|| hasher.workspace())),
                            None => return,
                        }
                    }
                })
                .map_err(|e| HashError::from_message(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs, dummy_hash: dummy_hash.into() })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher, &mut Workspace) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |hasher, workspace| {
            let _ = done.send(work(hasher, workspace));
        });
        self.jobs.send(job).await.map_err(|_| HashError::from_message("the hashing pool has stopped".into()))?;
        result.await.map_err(|_| HashError::from_message("a hashing job was lost".into()))
    }

    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let salt = random_salt()?;
        self.run(move |hasher, workspace| hasher.hash_in(workspace, &password, salt)).await?
    }

    /// Verifies against `stored`, or against the dummy hash when there is none, so both cost the
    /// same; the latter is always [`Verification::Invalid`].
    pub async fn verify(&self, stored: Option<String>, password: Password) -> Result<Verification, HashError> {
        let real = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let outcome = self.run(move |hasher, workspace| hasher.verify_in(workspace, &hash, &password)).await?;
        Ok(if real { outcome } else { Verification::Invalid })
    }
}
