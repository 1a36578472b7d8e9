//! No-op job throughput of Gatehouse's durable queue on a database: starts a worker, enqueues
//! `count` no-op jobs in batches of 1,000 (one transaction each), and waits until every one has
//! succeeded (the handler counts runs, so the table is only read once they all ran). Prints one JSON line with the jobs per second for enqueue-and-process. The benchmark
//! harness runs it against SQLite and PostgreSQL beside BullMQ on Redis.
//!
//! Usage: DATABASE_URL=… jobs_rate [count] [concurrency]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse::worker::{JobError, Perform, Worker, WorkerSettings};
use gatehouse_core::clock::{Clock, SystemClock};
use gatehouse_core::jobs::{JobState, JobType, NewJob};
use gatehouse_store::{Database, PoolOptions};
use tokio::sync::watch;

/// Counts what it ran, so the harness learns when every job ran without scanning the table.
struct Noop(Arc<std::sync::atomic::AtomicU32>);

impl JobType for Noop {
    const NAME: &'static str = "bench.noop";
    type Payload = u32;
}

#[async_trait]
impl Perform for Noop {
    type Job = Self;

    async fn perform(&self, _: u32) -> Result<(), JobError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(16);
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let pool = PoolOptions {
        max_connections: u32::try_from(concurrency).unwrap_or(u32::MAX) + 4,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(30),
    };
    let db = Database::connect(&url, &pool).await.expect("connect");
    db.migrate().await.expect("migrate");
    let jobs = db.jobs();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let settings = WorkerSettings {
        concurrency,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(100),
        shutdown_timeout: Duration::from_secs(10),
    };
    let ran = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let worker = Worker::new(Arc::clone(&jobs), Arc::clone(&clock), settings).with(Noop(ran.clone()));
    let wake = worker.waker();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));

    let started = Instant::now();
    for batch in (0..count).collect::<Vec<_>>().chunks(1000) {
        let now = clock.now();
        let new: Vec<NewJob> = batch.iter().map(|n| NewJob::of::<Noop>(n, now).expect("job")).collect();
        jobs.enqueue(&new, now).await.expect("enqueue");
        wake.notify_one();
    }
    let enqueued = started.elapsed();
    // Every job ran; then every success is recorded (the count the harness reports is of durable
    // successes, read from the table only once the handler has seen them all).
    while ran.load(std::sync::atomic::Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    loop {
        let stats = jobs.stats(clock.now()).await.expect("stats");
        let done =
            stats.counts.iter().find(|(k, s, _)| k == Noop::NAME && *s == JobState::Succeeded).map_or(0, |c| c.2);
        if done >= u64::from(count) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = started.elapsed();
    stop.send(true).expect("stop");
    running.await.expect("worker");
    db.close().await;
    println!(
        "{{\"jobs\":{count},\"enqueue_seconds\":{:.3},\"seconds\":{:.3},\"jobs_per_s\":{:.1}}}",
        enqueued.as_secs_f64(),
        total.as_secs_f64(),
        f64::from(count) / total.as_secs_f64()
    );
}
