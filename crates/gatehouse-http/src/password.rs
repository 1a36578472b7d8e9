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

/// Hashing threads run at nice 10, below the async workers. While logins keep every core busy
/// hashing, the scheduler still runs a waiting session check first, so other requests keep their
/// latency; hashing throughput is unchanged when nothing else wants the CPU. (Measured in
/// `bench/run`, "whoami while logins saturate the hashing pool".)
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::warn!(%error, "could not lower the priority of a password hashing thread");
    }
}

impl PasswordService {
    /// Starts `threads` hashing threads and makes the dummy hash. Returns once every thread runs at
    /// its lowered priority. The threads end when the last clone of the service is dropped.
    pub fn new(params: HashParams, threads: usize) -> Result<Self, HashError> {
        let hasher = Arc::new(PasswordHasher::new(params)?);
        let mut random = [0_u8; 32];
        getrandom::fill(&mut random).map_err(|e| HashError::from_message(format!("OS randomness failed: {e}")))?;
        let dummy_hash = hasher.hash(&Password::for_login(&format!("{random:?}")), random_salt()?)?;

        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>(threads * QUEUE_PER_THREAD);
        let queue = Arc::new(Mutex::new(queue));
        let (started, ready) = std::sync::mpsc::channel::<()>();
        for index in 0..threads {
            let (queue, hasher, started) = (Arc::clone(&queue), Arc::clone(&hasher), started.clone());
            std::thread::Builder::new()
                .name(format!("gatehouse-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    let _ = started.send(());
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
        drop(started);
        for _ in 0..threads {
            ready.recv().map_err(|_| HashError::from_message("a hashing thread ended while starting".into()))?;
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::{Arc, Barrier};

    use gatehouse_core::password::{HashParams, Password};

    use super::PasswordService;

    /// The nice value of the calling thread.
    fn own_nice() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
        // Fields after the parenthesised name: state is field 3, nice is field 19.
        let after_name = stat.rsplit_once(") ").expect("stat has a name").1;
        after_name.split_whitespace().nth(16).and_then(|nice| nice.parse().ok()).expect("nice field")
    }

    #[tokio::test]
    async fn hashing_threads_run_below_the_async_workers() {
        let service =
            PasswordService::new(HashParams { memory_kib: 64, iterations: 1, parallelism: 1 }, 2).expect("service");
        service.hash(Password::for_login("a perfectly fine passphrase")).await.expect("hash");
        // Two jobs that each wait for the other can only finish on two different threads, so this
        // sees both threads of the pool.
        let meeting = Arc::new(Barrier::new(2));
        let job = |meeting: Arc<Barrier>| {
            service.run(move |_, _| {
                meeting.wait();
                (std::thread::current().name().map(str::to_owned), own_nice())
            })
        };
        let (first, second) = tokio::join!(job(Arc::clone(&meeting)), job(meeting));
        let seen = [first.expect("first job"), second.expect("second job")];
        assert_ne!(seen[0].0, seen[1].0, "the two jobs ran on two threads: {seen:?}");
        assert!(seen.iter().all(|(_, nice)| *nice == 10), "hashing threads' nice values: {seen:?}");
        assert_eq!(own_nice(), 0, "only the hashing threads are lowered, not the process");
    }
}
