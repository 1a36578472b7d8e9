//! The job worker over real databases: two instances sharing one PostgreSQL queue run each job
//! exactly once; retries, permanent failures and timeouts follow the job type's policy; a stalled
//! lease is picked up; shutdown lets running jobs finish and gives back the ones that do not.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gatehouse::worker::{JobError, Perform, Worker, WorkerSettings};
use gatehouse_core::clock::{Clock, SystemClock};
use gatehouse_core::jobs::{JobState, JobStore, JobType, NewJob, RetryPolicy};
use gatehouse_store::Database;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::support::{TestDb, pool};

#[derive(Debug, Serialize, Deserialize)]
struct Numbered {
    n: u32,
}

/// Records which instance ran which job.
struct Record {
    instance: u8,
    seen: Arc<Mutex<Vec<(u8, u32)>>>,
}

impl JobType for Record {
    const NAME: &'static str = "test.record";
    type Payload = Numbered;
}

#[async_trait]
impl Perform for Record {
    type Job = Self;

    async fn perform(&self, payload: Numbered) -> Result<(), JobError> {
        self.seen.lock().expect("lock").push((self.instance, payload.n));
        tokio::task::yield_now().await;
        Ok(())
    }
}

/// Fails with `errors` in turn, then succeeds.
struct Flaky {
    errors: Mutex<Vec<JobError>>,
}

impl JobType for Flaky {
    const NAME: &'static str = "test.flaky";
    type Payload = Numbered;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 5, base: Duration::from_millis(10), max: Duration::from_millis(40) }
    }

    fn timeout() -> Duration {
        Duration::from_millis(300)
    }
}

#[async_trait]
impl Perform for Flaky {
    type Job = Self;

    async fn perform(&self, _: Numbered) -> Result<(), JobError> {
        let next = self.errors.lock().expect("lock").pop();
        match next {
            Some(JobError::Retry(text)) if text == "hang" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            }
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// Signals when it starts, then runs for `runs_for`.
struct Slow {
    started: Arc<Notify>,
    runs_for: Duration,
}

impl JobType for Slow {
    const NAME: &'static str = "test.slow";
    type Payload = Numbered;

    fn timeout() -> Duration {
        Duration::from_secs(120)
    }
}

#[async_trait]
impl Perform for Slow {
    type Job = Self;

    async fn perform(&self, _: Numbered) -> Result<(), JobError> {
        self.started.notify_one();
        tokio::time::sleep(self.runs_for).await;
        Ok(())
    }
}

fn settings(shutdown_timeout: Duration) -> WorkerSettings {
    WorkerSettings {
        concurrency: 4,
        lease: Duration::from_millis(600),
        poll_interval: Duration::from_millis(20),
        shutdown_timeout,
    }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

async fn sqlite() -> (TestDb, Database) {
    let test_db = TestDb::sqlite();
    let db = Database::connect(&test_db.url, &pool()).await.expect("connect");
    db.migrate().await.expect("migrate");
    (test_db, db)
}

async fn enqueue<J: JobType<Payload = Numbered>>(jobs: &dyn JobStore, count: u32) -> Vec<Uuid> {
    let now = SystemClock.now();
    let new: Vec<NewJob> = (0..count).map(|n| NewJob::of::<J>(&Numbered { n }, now).expect("job")).collect();
    jobs.enqueue(&new, now).await.expect("enqueue");
    new.iter().map(|job| job.id).collect()
}

/// Polls until `done` holds, for at most `limit`.
async fn eventually(limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state_of(jobs: &dyn JobStore, id: Uuid) -> (JobState, u32, Option<String>) {
    let job = jobs.job(id).await.expect("read").expect("job kept");
    (job.state, job.attempts, job.last_error)
}

#[tokio::test]
async fn two_instances_share_a_postgres_queue_and_run_each_job_exactly_once() {
    let Some(test_db) = TestDb::postgres().await else { return };
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let (one, two) = (
        Database::connect(&test_db.url, &pool()).await.expect("connect"),
        Database::connect(&test_db.url, &pool()).await.expect("connect"),
    );
    one.migrate().await.expect("migrate");
    enqueue::<Record>(one.jobs().as_ref(), 2000).await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = watch::channel(false);
    let workers: Vec<_> = [(1_u8, &one), (2, &two)]
        .into_iter()
        .map(|(instance, db)| {
            let worker = Worker::new(db.jobs(), clock(), settings(Duration::from_secs(5)))
                .with(Record { instance, seen: Arc::clone(&seen) });
            tokio::spawn(worker.run(stopped.clone()))
        })
        .collect();
    let jobs = one.jobs();
    eventually(Duration::from_secs(120), async || {
        let stats = jobs.stats(SystemClock.now()).await.expect("stats");
        stats.counts.iter().any(|(kind, state, n)| kind == Record::NAME && *state == JobState::Succeeded && *n == 2000)
    })
    .await;
    stop.send(true).expect("stop");
    for worker in workers {
        worker.await.expect("worker");
    }

    let seen = seen.lock().expect("lock").clone();
    let unique: HashSet<u32> = seen.iter().map(|(_, n)| *n).collect();
    assert_eq!((seen.len(), unique.len()), (2000, 2000), "each job ran exactly once");
    for instance in [1, 2] {
        assert!(seen.iter().any(|(i, _)| *i == instance), "instance {instance} ran none of the 2000 jobs");
    }
    one.close().await;
    two.close().await;
    test_db.finish().await;
}

/// Runs one `Flaky` job (failing with `errors`, popped from the end) until it reaches `until`.
async fn run_flaky(
    jobs: &Arc<dyn JobStore>,
    errors: Vec<JobError>,
    until: JobState,
) -> (JobState, u32, Option<String>) {
    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(Arc::clone(jobs), clock(), settings(Duration::from_secs(5)))
        .with(Flaky { errors: Mutex::new(errors) });
    let running = tokio::spawn(worker.run(stopped));
    let id = enqueue::<Flaky>(jobs.as_ref(), 1).await[0];
    eventually(Duration::from_secs(10), async || state_of(jobs.as_ref(), id).await.0 == until).await;
    stop.send(true).expect("stop");
    running.await.expect("worker");
    state_of(jobs.as_ref(), id).await
}

#[tokio::test]
async fn failures_follow_the_policy_retries_permanent_errors_and_timeouts() {
    let (_guard, db) = sqlite().await;
    let jobs = db.jobs();

    let retried = vec![JobError::Retry("502 twice".into()), JobError::Retry("503 once".into())];
    let (_, attempts, last_error) = run_flaky(&jobs, retried, JobState::Succeeded).await;
    assert_eq!((attempts, last_error.as_deref()), (3, Some("502 twice")), "succeeded on the third attempt");

    let permanent = vec![JobError::Permanent("422 bad address".into())];
    let dead = run_flaky(&jobs, permanent, JobState::Dead).await;
    assert_eq!(dead, (JobState::Dead, 1, Some("422 bad address".into())), "dead at once");

    let (_, attempts, last_error) = run_flaky(&jobs, vec![JobError::Retry("hang".into())], JobState::Succeeded).await;
    assert_eq!(attempts, 2, "the attempt that hung past the timeout failed and the next one succeeded");
    assert!(last_error.is_some_and(|e| e.starts_with("timed out after")));
}

#[tokio::test]
async fn a_job_whose_worker_vanished_is_run_once_its_lease_expires() {
    let (_guard, db) = sqlite().await;
    let jobs = db.jobs();
    let id = enqueue::<Record>(jobs.as_ref(), 1).await[0];
    // A worker claims it and is never heard from again.
    jobs.claim(&[Record::NAME], SystemClock.now(), Duration::from_millis(300)).await.expect("claim").expect("due");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(Arc::clone(&jobs), clock(), settings(Duration::from_secs(5)))
        .with(Record { instance: 1, seen: Arc::clone(&seen) });
    let running = tokio::spawn(worker.run(stopped));
    eventually(Duration::from_secs(10), async || state_of(jobs.as_ref(), id).await.0 == JobState::Succeeded).await;
    assert_eq!(state_of(jobs.as_ref(), id).await.1, 2, "the stalled attempt counts");
    assert_eq!(seen.lock().expect("lock").len(), 1);
    stop.send(true).expect("stop");
    running.await.expect("worker");
}

#[tokio::test]
async fn shutdown_lets_a_running_job_finish_within_the_timeout() {
    let (_guard, db) = sqlite().await;
    let jobs = db.jobs();
    let started = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(Arc::clone(&jobs), clock(), settings(Duration::from_secs(10)))
        .with(Slow { started: Arc::clone(&started), runs_for: Duration::from_millis(300) });
    let running = tokio::spawn(worker.run(stopped));
    let id = enqueue::<Slow>(jobs.as_ref(), 1).await[0];
    started.notified().await;
    stop.send(true).expect("stop");
    running.await.expect("worker");
    assert_eq!(state_of(jobs.as_ref(), id).await.0, JobState::Succeeded, "finished before the worker stopped");
}

#[tokio::test]
async fn shutdown_gives_back_jobs_that_outlast_the_timeout() {
    let (_guard, db) = sqlite().await;
    let jobs = db.jobs();
    let started = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(Arc::clone(&jobs), clock(), settings(Duration::from_millis(200)))
        .with(Slow { started: Arc::clone(&started), runs_for: Duration::from_secs(60) });
    let running = tokio::spawn(worker.run(stopped));
    let id = enqueue::<Slow>(jobs.as_ref(), 1).await[0];
    started.notified().await;
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("stops soon after its timeout").expect("worker");
    let (state, attempts, _) = state_of(jobs.as_ref(), id).await;
    assert_eq!((state, attempts), (JobState::Ready, 0), "given back at once, the attempt not counted");
    let again = jobs.claim(&[Slow::NAME], SystemClock.now(), Duration::from_secs(30)).await.expect("claim");
    assert!(again.is_some(), "another instance can take it straight away");
}
