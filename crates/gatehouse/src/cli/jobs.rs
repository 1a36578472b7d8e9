//! `gatehouse jobs`: the job queue.

use clap::{Subcommand, ValueEnum};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::jobs::JobState;
use gatehouse_core::sessions::ClientContext;

use super::database;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum JobsCommand {
    /// Jobs per kind and state, and how long the oldest ready job has waited.
    Stats,
    /// List jobs in one state, the most recent first.
    List {
        #[arg(long, value_enum, default_value_t = StateArg::Dead)]
        state: StateArg,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Make a dead job ready again, with a fresh set of attempts.
    Retry {
        /// The job's id, from `jobs list`.
        id: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum StateArg {
    Ready,
    Running,
    Succeeded,
    Dead,
}

impl From<StateArg> for JobState {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Ready => JobState::Ready,
            StateArg::Running => JobState::Running,
            StateArg::Succeeded => JobState::Succeeded,
            StateArg::Dead => JobState::Dead,
        }
    }
}

pub(super) async fn run(config: Config, command: JobsCommand) -> anyhow::Result<()> {
    let database = database(&config).await?;
    let store = database.jobs();
    let now = gatehouse_core::clock::to_millis(time::OffsetDateTime::now_utc());
    match command {
        JobsCommand::Stats => {
            let stats = store.stats(now).await?;
            if stats.counts.is_empty() {
                println!("the queue is empty");
            }
            for (kind, state, count) in &stats.counts {
                println!("{kind:32} {:10} {count}", state.as_str());
            }
            if let Some(age) = stats.oldest_ready_age {
                println!("oldest ready job has waited {:.1} s", age.as_secs_f64());
            }
        }
        JobsCommand::List { state, limit } => {
            for job in store.jobs_in(state.into(), limit).await? {
                let when = job.finished_at.unwrap_or(job.run_at);
                let error = job.last_error.as_deref().map(|e| format!("  last error: {e}")).unwrap_or_default();
                println!(
                    "{}  {}  {}  attempts {}/{}  {when}{error}",
                    job.id,
                    job.kind,
                    job.state.as_str(),
                    job.attempts,
                    job.max_attempts
                );
            }
        }
        JobsCommand::Retry { id } => {
            let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| anyhow::anyhow!("`{id}` is not a job id"))?;
            let event = AuditEvent::new(AuditAction::JobRetried, Actor::Operator, now, &ClientContext::default())
                .target("job", id);
            anyhow::ensure!(store.retry_dead(id, now, &[event]).await?, "no dead job has id {id}");
            println!("job {id} is ready again");
        }
    }
    database.close().await;
    Ok(())
}
