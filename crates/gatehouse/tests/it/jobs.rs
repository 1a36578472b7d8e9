//! The job queue's storage contract, on SQLite and PostgreSQL: claiming in order with leases,
//! retries and death, stalled leases, release on shutdown, statistics, and concurrent claimers
//! never sharing a job.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::jobs::{Failure, JobState, JobStore, NewJob};
use gatehouse_store::Database;

use crate::support::binary::cli;
use time::OffsetDateTime;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(30);

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).expect("time")
}

fn job(kind: &str, run_at: OffsetDateTime, max_attempts: u32) -> NewJob {
    NewJob { id: Uuid::new_v4(), kind: kind.to_owned(), payload: serde_json::json!({ "n": 1 }), run_at, max_attempts }
}

async fn queue(db: &Database) -> Arc<dyn JobStore> {
    db.migrate().await.expect("migrate");
    db.jobs()
}

async fn jobs_are_claimed_in_run_order_by_kind_and_completed_once(db: Database) {
    let jobs = queue(&db).await;
    let (first, later, other) = (job("email", at(0), 3), job("email", at(60), 3), job("webhook", at(-5), 3));
    jobs.enqueue(&[later.clone(), first.clone(), other.clone()], at(0)).await.expect("enqueue");

    let claim = jobs.claim(&["email"], at(0), LEASE).await.expect("claim").expect("a ready email job");
    assert_eq!((claim.job.id, claim.job.state, claim.job.attempts), (first.id, JobState::Running, 1));
    assert_eq!(claim.job.payload, serde_json::json!({ "n": 1 }));
    assert!(jobs.claim(&["email"], at(1), LEASE).await.expect("claim").is_none(), "the other email is not due");
    assert!(jobs.claim(&[], at(1), LEASE).await.expect("claim").is_none(), "no kinds, no jobs");

    assert!(jobs.complete(&claim, at(2)).await.expect("complete"));
    assert!(!jobs.complete(&claim, at(3)).await.expect("complete again"), "a claim finishes a job once");
    let done = jobs.job(first.id).await.expect("read").expect("kept");
    assert_eq!((done.state, done.finished_at), (JobState::Succeeded, Some(at(2))));

    let webhook = jobs.claim(&["webhook", "email"], at(3), LEASE).await.expect("claim").expect("due");
    assert_eq!(webhook.job.id, other.id, "the longest-waiting job of the listed kinds comes first");
}

async fn a_failed_job_comes_back_at_its_retry_time_and_dies_after_its_last_attempt(db: Database) {
    let jobs = queue(&db).await;
    let new = job("email", at(0), 2);
    jobs.enqueue(std::slice::from_ref(&new), at(0)).await.expect("enqueue");

    let first = jobs.claim(&["email"], at(0), LEASE).await.expect("claim").expect("due");
    assert!(jobs.fail(&first, "smtp said 451", Failure::RetryAt(at(10)), at(1)).await.expect("fail"));
    let waiting = jobs.job(new.id).await.expect("read").expect("kept");
    assert_eq!((waiting.state, waiting.last_error.as_deref()), (JobState::Ready, Some("smtp said 451")));
    assert!(jobs.claim(&["email"], at(9), LEASE).await.expect("claim").is_none(), "not before its retry time");

    let second = jobs.claim(&["email"], at(10), LEASE).await.expect("claim").expect("due again");
    assert_eq!(second.job.attempts, 2);
    assert!(jobs.fail(&second, "smtp said 550", Failure::Dead, at(11)).await.expect("fail"));
    let dead = jobs.jobs_in(JobState::Dead, 10).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id, dead[0].last_error.as_deref()), (new.id, Some("smtp said 550")));
    assert!(jobs.claim(&["email"], at(100), LEASE).await.expect("claim").is_none(), "dead jobs stay dead");

    assert!(jobs.retry_dead(new.id, at(200), &[]).await.expect("retry"));
    assert!(!jobs.retry_dead(new.id, at(200), &[]).await.expect("retry"), "only dead jobs can be retried");
    let revived = jobs.claim(&["email"], at(200), LEASE).await.expect("claim").expect("ready again");
    assert_eq!(revived.job.attempts, 1, "a retried job gets a fresh set of attempts");
}

async fn a_stalled_lease_is_claimed_again_and_voids_the_old_claim(db: Database) {
    let jobs = queue(&db).await;
    let new = job("webhook", at(0), 3);
    jobs.enqueue(std::slice::from_ref(&new), at(0)).await.expect("enqueue");
    let stalled = jobs.claim(&["webhook"], at(0), LEASE).await.expect("claim").expect("due");
    assert!(jobs.claim(&["webhook"], at(29), LEASE).await.expect("claim").is_none(), "leased");

    let taken = jobs.claim(&["webhook"], at(31), LEASE).await.expect("claim").expect("lease expired");
    assert_eq!((taken.job.id, taken.job.attempts), (new.id, 2));
    assert!(!jobs.heartbeat(&stalled, at(90)).await.expect("heartbeat"), "the old claim lost its lease");
    assert!(!jobs.complete(&stalled, at(32)).await.expect("complete"));
    assert!(!jobs.fail(&stalled, "late", Failure::Dead, at(32)).await.expect("fail"));
    assert!(!jobs.release(&stalled).await.expect("release"));
    assert!(jobs.complete(&taken, at(33)).await.expect("the new claim completes"));
}

async fn a_job_that_stalls_on_its_last_attempt_is_dead(db: Database) {
    let jobs = queue(&db).await;
    let new = job("webhook", at(0), 1);
    jobs.enqueue(std::slice::from_ref(&new), at(0)).await.expect("enqueue");
    jobs.claim(&["webhook"], at(0), LEASE).await.expect("claim").expect("due");
    assert!(jobs.claim(&["webhook"], at(31), LEASE).await.expect("claim").is_none(), "no attempts left");
    let dead = jobs.job(new.id).await.expect("read").expect("kept");
    assert_eq!(dead.state, JobState::Dead);
    assert!(dead.last_error.as_deref().is_some_and(|e| e.contains("lease expired")), "{:?}", dead.last_error);
}

async fn heartbeats_extend_the_lease_and_release_returns_the_attempt(db: Database) {
    let jobs = queue(&db).await;
    let new = job("email", at(0), 3);
    jobs.enqueue(std::slice::from_ref(&new), at(0)).await.expect("enqueue");
    let claim = jobs.claim(&["email"], at(0), LEASE).await.expect("claim").expect("due");
    assert!(jobs.heartbeat(&claim, at(60)).await.expect("heartbeat"));
    assert!(jobs.claim(&["email"], at(45), LEASE).await.expect("claim").is_none(), "the lease was extended");

    assert!(jobs.release(&claim).await.expect("release"));
    let again = jobs.claim(&["email"], at(46), LEASE).await.expect("claim").expect("released jobs are ready at once");
    assert_eq!(again.job.attempts, 1, "a released attempt does not count");
}

async fn stats_count_jobs_by_kind_and_state_and_age_the_oldest_ready_one(db: Database) {
    let jobs = queue(&db).await;
    let empty = jobs.stats(at(0)).await.expect("stats");
    assert!(empty.counts.is_empty() && empty.oldest_ready_age.is_none(), "{empty:?}");
    jobs.enqueue(&[job("email", at(0), 3), job("email", at(5), 3), job("webhook", at(100), 3)], at(0))
        .await
        .expect("enqueue");
    let claim = jobs.claim(&["email"], at(20), LEASE).await.expect("claim").expect("due");
    jobs.complete(&claim, at(20)).await.expect("complete");

    let stats = jobs.stats(at(20)).await.expect("stats");
    let count =
        |kind: &str, state| stats.counts.iter().find(|(k, s, _)| k == kind && *s == state).map_or(0, |(_, _, n)| *n);
    assert_eq!(count("email", JobState::Succeeded), 1);
    assert_eq!(count("email", JobState::Ready), 1);
    assert_eq!(count("webhook", JobState::Ready), 1);
    assert_eq!(stats.oldest_ready_age, Some(Duration::from_secs(15)), "the due email has waited since 5 s");
}

async fn concurrent_claimers_never_share_a_job(db: Database) {
    let jobs = queue(&db).await;
    let all: Vec<NewJob> = (0..200).map(|_| job("noop", at(0), 3)).collect();
    jobs.enqueue(&all, at(0)).await.expect("enqueue");
    let workers = (0..8).map(|_| {
        let jobs = Arc::clone(&jobs);
        tokio::spawn(async move {
            let mut done = Vec::new();
            while let Some(claim) = jobs.claim(&["noop"], at(1), LEASE).await.expect("claim") {
                assert!(jobs.complete(&claim, at(2)).await.expect("complete"), "a claim is exclusive");
                done.push(claim.job.id);
            }
            done
        })
    });
    let mut completed = Vec::new();
    for worker in workers {
        completed.extend(worker.await.expect("join"));
    }
    let unique: HashSet<Uuid> = completed.iter().copied().collect();
    assert_eq!((completed.len(), unique.len()), (200, 200), "every job exactly once");
}

crate::support::on_every_database! {
    jobs_are_claimed_in_run_order_by_kind_and_completed_once,
    a_failed_job_comes_back_at_its_retry_time_and_dies_after_its_last_attempt,
    a_stalled_lease_is_claimed_again_and_voids_the_old_claim,
    a_job_that_stalls_on_its_last_attempt_is_dead,
    heartbeats_extend_the_lease_and_release_returns_the_attempt,
    stats_count_jobs_by_kind_and_state_and_age_the_oldest_ready_one,
    concurrent_claimers_never_share_a_job,
}

/// `gatehouse jobs stats | list | retry` against a queue with a dead job.
#[tokio::test]
async fn operators_see_dead_jobs_and_retry_them_from_the_cli() {
    let test_db = crate::support::TestDb::sqlite();
    let db = Database::connect(&test_db.url, &crate::support::pool()).await.expect("connect");
    let jobs = queue(&db).await;
    let new = job("email.send", at(0), 1);
    jobs.enqueue(std::slice::from_ref(&new), at(0)).await.expect("enqueue");
    let claim = jobs.claim(&["email.send"], at(0), LEASE).await.expect("claim").expect("due");
    jobs.fail(&claim, "550 mailbox unavailable", Failure::Dead, at(1)).await.expect("fail");
    let text = |output: std::process::Output| {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8")
    };

    let stats = text(cli(&test_db.url, &["jobs", "stats"]));
    assert!(stats.lines().any(|l| l.starts_with("email.send") && l.contains("dead") && l.ends_with(" 1")), "{stats}");
    let dead = text(cli(&test_db.url, &["jobs", "list", "--state", "dead"]));
    assert!(dead.contains(&new.id.to_string()) && dead.contains("550 mailbox unavailable"), "{dead}");
    assert!(text(cli(&test_db.url, &["jobs", "list", "--state", "ready"])).is_empty());

    assert!(text(cli(&test_db.url, &["jobs", "retry", &new.id.to_string()])).contains("ready again"));
    assert_eq!(jobs.job(new.id).await.expect("read").expect("kept").state, JobState::Ready);
    let again = cli(&test_db.url, &["jobs", "retry", &new.id.to_string()]);
    assert_eq!(again.status.code(), Some(1), "retrying a job that is not dead says so");
    assert!(String::from_utf8_lossy(&again.stderr).contains("no dead job"));
    let not_an_id = cli(&test_db.url, &["jobs", "retry", "job-42"]);
    assert_eq!(not_an_id.status.code(), Some(1), "a malformed id is refused, not looked up");
    assert!(String::from_utf8_lossy(&not_an_id.stderr).contains("`job-42` is not a job id"));
    let bad = cli(&test_db.url, &["jobs", "list", "--state", "exploded"]);
    assert_eq!(bad.status.code(), Some(2), "clap refuses unknown states");

    let audit = db.audit().recent(10).await.expect("audit");
    assert!(audit.iter().any(|e| e.action == "job.retried" && e.actor_kind == "operator"), "{audit:?}");
}
