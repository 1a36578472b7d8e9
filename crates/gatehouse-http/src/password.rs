//! Password hashing off the async runtime, on a fixed pool of threads, one per core.
//!
//! argon2id is deliberately slow and memory-hungry (19 MiB per hash at the default cost). Hashes run
//! on `cores` long-lived threads fed through a bounded queue, so a burst of logins waits here instead
//! of starving other requests of CPU. Each thread hashes in its own reused [`Workspace`], so memory
//! stays flat at one block set per thread. (Hashing on tokio's blocking pool, allocating per hash,
//! peaked at 550 MiB under a login flood: short-lived threads each left freed blocks in their own
//! allocator arena.)
//!
//! The queue holds at most `queue_wait` of work at the rate measured at start (one hash timed on
//! the calling thread). A hash that would wait longer is refused at once with
//! [`PasswordError::Overloaded`] (503 `overloaded` with `Retry-After`) instead of queueing until
//! the request timeout: under a flood of logins, the ones that are answered are answered in
//! seconds, and the rest learn at once to come back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_core::health::{DependencyCheck, DependencyReport};

use gatehouse_core::password::{HashError, HashParams, Password, PasswordHasher, Verification, Workspace};
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce(&PasswordHasher, &mut Workspace) + Send>;

/// Why a hash was not made.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password hashing queue is full; retry in {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// The hashing pool's size and limits, for `/health` and metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolFigures {
    pub threads: usize,
    /// Hashes that may wait for a thread; beyond them, hashing is refused.
    pub queue_capacity: usize,
    /// Hashes waiting now.
    pub queued: usize,
    /// One hash's time, measured at start.
    pub hash_time: Duration,
    /// Hashes refused since start because the queue was full.
    pub refused: u64,
}

#[derive(Debug, Clone)]
pub struct PasswordService {
    jobs: mpsc::Sender<Job>,
    /// A hash of a random password at today's parameters: login verifies against it when the
    /// account does not exist, so that answer takes as long as a wrong password.
    dummy_hash: Arc<str>,
    threads: usize,
    queue_capacity: usize,
    hash_time: Duration,
    retry_after_secs: u64,
    refused: Arc<AtomicU64>,
    refused_metric: metrics::Counter,
    depth: metrics::Gauge,
}

/// The queue for `queue_wait` of work on `threads` threads at one hash per `hash_time`: never
/// fewer than one waiting hash per thread.
fn queue_capacity(threads: usize, hash_time: Duration, queue_wait: Duration) -> usize {
    let per_thread = queue_wait.as_secs_f64() / hash_time.as_secs_f64().max(1e-6);
    ((per_thread * threads as f64).round() as usize).clamp(threads, 1_000_000)
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
    pub fn new(params: HashParams, threads: usize, queue_wait: Duration) -> Result<Self, HashError> {
        let hasher = Arc::new(PasswordHasher::new(params)?);
        let mut random = [0_u8; 32];
        getrandom::fill(&mut random).map_err(|e| HashError::from_message(format!("OS randomness failed: {e}")))?;
        let started = Instant::now();
        let dummy_hash = hasher.hash(&Password::for_login(&format!("{random:?}")), random_salt()?)?;
        let hash_time = started.elapsed();

        let threads = threads.max(1);
        let queue_capacity = queue_capacity(threads, hash_time, queue_wait);
        // A full queue drains in about queue_wait; come back then.
        let retry_after_secs = queue_wait.as_secs().max(1);
        let (jobs, queue) = mpsc::channel::<Job>(queue_capacity);
        let queue = Arc::new(Mutex::new(queue));
        let (started, ready) = std::sync::mpsc::channel::<()>();
        for index in 0..threads {
            let (queue, hasher, started) = (Arc::clone(&queue), Arc::clone(&hasher), started.clone());
            let depth = metrics::gauge!("gatehouse_password_hash_queue_depth");
            std::thread::Builder::new()
                .name(format!("gatehouse-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    let _ = started.send(());
                    // Made on the first hash, so an instance that never hashes never holds the memory.
                    let mut workspace: Option<Workspace> = None;
                    loop {
                        // The lock is held only while waiting for the next job, not while hashing.
                        let job = {
                            let mut queue = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            let job = queue.blocking_recv();
                            depth.set(queue.len() as f64);
                            job
                        };
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
        metrics::gauge!("gatehouse_password_hash_queue_capacity").set(queue_capacity as f64);
        Ok(Self {
            jobs,
            dummy_hash: dummy_hash.into(),
            threads,
            queue_capacity,
            hash_time,
            retry_after_secs,
            refused: Arc::new(AtomicU64::new(0)),
            refused_metric: metrics::counter!("gatehouse_password_hash_refused_total"),
            depth: metrics::gauge!("gatehouse_password_hash_queue_depth"),
        })
    }

    pub fn figures(&self) -> PoolFigures {
        PoolFigures {
            threads: self.threads,
            queue_capacity: self.queue_capacity,
            queued: self.queue_capacity.saturating_sub(self.jobs.capacity()),
            hash_time: self.hash_time,
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher, &mut Workspace) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let result = self.enqueue(work)?;
        result.await.map_err(|_| HashError::from_message("a hashing job was lost".into()).into())
    }

    /// Refuses at once when the queue is already full, so that a caller about to do work whose
    /// only use is a hash (looking the account up) need not do it to be refused.
    pub fn admit(&self) -> Result<(), PasswordError> {
        if self.jobs.capacity() == 0 { Err(self.refuse()) } else { Ok(()) }
    }

    /// Counts a refusal and says when to come back: between one and two queues' worth of time,
    /// spread over consecutive refusals, so that a crowd refused together does not return
    /// together (a flood of 1,000 clients told the same second comes back as one wave).
    fn refuse(&self) -> PasswordError {
        let count = self.refused.fetch_add(1, Ordering::Relaxed);
        self.refused_metric.increment(1);
        let spread = count % (self.retry_after_secs + 1);
        PasswordError::Overloaded { retry_after_secs: self.retry_after_secs + spread }
    }

    /// Queues `work`, or refuses it at once when the queue is full.
    fn enqueue<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher, &mut Workspace) -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, PasswordError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |hasher, workspace| {
            let _ = done.send(work(hasher, workspace));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {
                self.depth.set(self.queue_capacity.saturating_sub(self.jobs.capacity()) as f64);
                Ok(result)
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(self.refuse()),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(HashError::from_message("the hashing pool has stopped".into()).into())
            }
        }
    }

    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        let salt = random_salt()?;
        Ok(self.run(move |hasher, workspace| hasher.hash_in(workspace, &password, salt)).await??)
    }

    /// Verifies against `stored`, or against the dummy hash when there is none, so both cost the
    /// same; the latter is always [`Verification::Invalid`].
    pub async fn verify(&self, stored: Option<String>, password: Password) -> Result<Verification, PasswordError> {
        let real = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let outcome = self.run(move |hasher, workspace| hasher.verify_in(workspace, &hash, &password)).await?;
        Ok(if real { outcome } else { Verification::Invalid })
    }
}

/// `/health`: the pool's size, its queue and what it refused.
#[async_trait::async_trait]
impl DependencyCheck for PasswordService {
    fn name(&self) -> &'static str {
        "password_hashing"
    }

    async fn check(&self) -> DependencyReport {
        let figures = self.figures();
        let detail = format!(
            "{} threads, {} of {} queued (about {:.1} s of work at {} ms a hash); {} refused 503 overloaded since start",
            figures.threads,
            figures.queued,
            figures.queue_capacity,
            figures.queue_capacity as f64 * figures.hash_time.as_secs_f64() / figures.threads as f64,
            figures.hash_time.as_millis(),
            figures.refused,
        );
        if figures.queued >= figures.queue_capacity {
            DependencyReport::degraded(None, format!("shedding load: the queue is full; {detail}"))
        } else {
            DependencyReport { latency_ms: None, detail: Some(detail), ..DependencyReport::ok(0) }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::{Arc, Barrier};

    use std::time::Duration;

    use gatehouse_core::password::{HashParams, Password};

    use super::{PasswordError, PasswordService, queue_capacity};

    /// The nice value of the calling thread.
    fn own_nice() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
        // Fields after the parenthesised name: state is field 3, nice is field 19.
        let after_name = stat.rsplit_once(") ").expect("stat has a name").1;
        after_name.split_whitespace().nth(16).and_then(|nice| nice.parse().ok()).expect("nice field")
    }

    #[tokio::test]
    async fn hashing_threads_run_below_the_async_workers() {
        let service = PasswordService::new(
            HashParams { memory_kib: 64, iterations: 1, parallelism: 1 },
            2,
            Duration::from_secs(2),
        )
        .expect("service");
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

    #[test]
    fn the_queue_holds_the_configured_seconds_of_work() {
        let two = Duration::from_secs(2);
        assert_eq!(queue_capacity(2, Duration::from_millis(25), two), 160);
        assert_eq!(queue_capacity(4, Duration::from_millis(500), two), 16);
        assert_eq!(queue_capacity(2, Duration::from_secs(10), two), 2, "never fewer than one a thread");
    }

    /// Past the queue, a hash is refused at once; the ones admitted all finish.
    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_loses_nothing_it_took() {
        let service =
            PasswordService::new(HashParams { memory_kib: 64, iterations: 1, parallelism: 1 }, 1, Duration::ZERO)
                .expect("service");
        assert_eq!(service.figures().queue_capacity, 1);
        // The one thread busy, one job waiting: the queue is full.
        let (started, running) = std::sync::mpsc::channel::<()>();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let held = service
            .enqueue(move |_, _| {
                started.send(()).expect("started");
                hold.recv().ok()
            })
            .expect("the first job is taken");
        running.recv().expect("the thread runs the first job");
        let waiting = service.enqueue(|_, _| 7).expect("the second job waits");
        let refused = service.hash(Password::for_login("a perfectly fine passphrase")).await;
        assert!(matches!(refused, Err(PasswordError::Overloaded { retry_after_secs: 1 })), "{refused:?}");
        let again = service.admit();
        assert!(
            matches!(again, Err(PasswordError::Overloaded { retry_after_secs: 2 })),
            "before any work, later: {again:?}"
        );
        assert_eq!(service.figures().refused, 2);
        assert_eq!(service.figures().queued, 1);
        release.send(()).expect("release");
        assert_eq!(held.await.expect("held job"), Some(()));
        assert_eq!(waiting.await.expect("queued job"), 7);
    }
}
