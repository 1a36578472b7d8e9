//! The command line: `serve`, `migrate`, `config check`, `config example`, `version`.
//!
//! Exit status: 0 on success, 1 when something failed at run time, 2 when the configuration is
//! invalid (every problem is listed at once).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use gatehouse_core::api_keys::{ApiKey, ApiKeySecret, parse_scopes};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::jobs::JobState;
use gatehouse_core::sessions::ClientContext;

use crate::app;
use crate::config::{self, Config, render};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: accounts, sessions, tokens, rate limits, jobs and webhooks for your web app, as one server.",
    long_about = "Gatehouse: accounts, sessions, tokens, rate limits, jobs and webhooks for your web app, as one server.\n\n\
        With no configuration it runs on 127.0.0.1:8080 with a SQLite file. Settings come from built-in defaults, \
        then a TOML file (--config or GATEHOUSE_CONFIG), then environment variables (GATEHOUSE_*, DATABASE_URL, PORT). \
        `gatehouse config example` lists every setting."
)]
pub struct Cli {
    /// TOML config file; overrides built-in defaults, overridden by environment variables.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server until SIGTERM or SIGINT.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage access-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage service API keys for server-to-server calls.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Inspect the job queue and retry dead jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Move sealed values to a new master secret.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Print the OpenAPI document of the API this configuration serves.
    Openapi {
        /// `json` (as served at /openapi.json) or `markdown` (the reference in docs/api.md).
        #[arg(long, value_enum, default_value = "json")]
        format: OpenapiFormat,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OpenapiFormat {
    Json,
    Markdown,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new signing key active. The old public keys stay in the JWKS until every token they
    /// signed has expired, so nothing breaks.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Re-seal every sealed value (signing keys, webhook secrets, vault data keys) under
    /// master_secret, while servers run. Afterwards master_secret_previous can be removed.
    Rewrap,
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it. It is shown this once; only a hash is stored.
    Create {
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// A scope the key holds (admin, audit, rate_limit, vault, webhooks); repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List keys (never the secrets).
    List,
    /// Revoke a key by id. Running instances stop accepting it within `api_keys.cache_ttl_secs`.
    Revoke {
        /// The key's id, from `api-key list`.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
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
enum StateArg {
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

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it with secrets redacted.
    Check,
    /// Print a commented example config file with every setting and its default.
    Example {
        /// `toml` for a config file, `markdown` for the documentation table.
        #[arg(long, value_enum, default_value_t = ExampleFormat::Toml)]
        format: ExampleFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExampleFormat {
    Toml,
    Markdown,
}

const CONFIG_INVALID: u8 = 2;

pub fn main() -> ExitCode {
    install_tls_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("gatehouse {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Example { format }) => {
            match format {
                ExampleFormat::Toml => print!("{}", render::example()),
                ExampleFormat::Markdown => print!("{}", render::markdown_table()),
            }
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Check) => match load(cli.config) {
            Ok(config) => {
                print!("{}", render::effective(&config));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Openapi { format } => match load(cli.config) {
            Ok(config) => {
                let routes = gatehouse_http::routes(config.server.metrics_listen.is_none());
                let document = gatehouse_http::openapi::document(routes, &config.session.cookie_name);
                match format {
                    OpenapiFormat::Json => {
                        println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
                    }
                    OpenapiFormat::Markdown => print!("{}", gatehouse_http::api_reference::markdown(&document)),
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Migrate => with_config(cli.config, migrate),
        Command::Keys(KeysCommand::Rotate) => with_config(cli.config, rotate_keys),
        Command::ApiKey(command) => with_config(cli.config, |config| api_key(config, command)),
        Command::Jobs(command) => with_config(cli.config, |config| jobs(config, command)),
        Command::Secrets(SecretsCommand::Rewrap) => with_config(cli.config, rewrap_secrets),
        Command::Serve => with_config(cli.config, serve),
    }
}

/// Makes ring the process's TLS crypto provider. rustls refuses to guess when none is installed,
/// and every TLS client here (PostgreSQL, `rediss://`) uses ring, so there is exactly one.
pub fn install_tls_provider() {
    // An error means a provider is installed already (tests call this more than once).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads the config, printing warnings, or prints every problem and yields exit status 2.
fn load(file: Option<PathBuf>) -> Result<Config, ExitCode> {
    let env: BTreeMap<String, String> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let path = config::config_path(file.as_deref(), &env);
    match config::load(path.as_deref(), &env) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("gatehouse: warning: {warning}");
            }
            Ok(loaded.config)
        }
        Err(problems) => {
            let count = problems.len();
            let noun = if count == 1 { "problem" } else { "problems" };
            eprintln!("gatehouse: the configuration is invalid ({count} {noun}):");
            for problem in problems {
                eprintln!("  - {problem}");
            }
            Err(ExitCode::from(CONFIG_INVALID))
        }
    }
}

fn with_config<F, Fut>(file: Option<PathBuf>, run: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = match load(file) {
        Ok(config) => config,
        Err(code) => return code,
    };
    telemetry::init_logging(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gatehouse: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let database = app::connect(&config).await?;
    let before = gatehouse_core::store::DatabaseProbe::schema_status(database.probe().as_ref()).await?;
    database.migrate().await?;
    tracing::info!(applied = before.pending.len(), "database schema is current");
    database.close().await;
    Ok(())
}

/// Connects and migrates, for the management commands.
async fn database(config: &Config) -> anyhow::Result<gatehouse_store::Database> {
    let database = app::connect(config).await?;
    if config.database.migrate_on_start {
        database.migrate().await?;
    }
    Ok(database)
}

async fn rotate_keys(config: Config) -> anyhow::Result<()> {
    let database = database(&config).await?;
    let master = app::master_secret(&config, &database).await?;
    let keyring = gatehouse_core::sealing::Keyring::new(master, config.master_secret_previous.clone());
    let encryption =
        gatehouse_core::sealing::KeyEncryption::for_purpose(&keyring, gatehouse_core::sealing::SIGNING_KEY_PURPOSE);
    let store = database.signing_keys();
    let kid = crate::keys::rotate(store.as_ref(), &encryption, config.tokens.algorithm, Actor::Operator).await?;
    println!("new signing key {kid} is active; running instances pick it up within a minute");
    database.close().await;
    Ok(())
}

async fn rewrap_secrets(config: Config) -> anyhow::Result<()> {
    let database = database(&config).await?;
    let master = app::master_secret(&config, &database).await?;
    let keyring = gatehouse_core::sealing::Keyring::new(master, config.master_secret_previous.clone());
    let store = database.sealed_values();
    let pending = crate::secrets::remaining(store.as_ref(), &keyring).await?;
    // indicatif draws only on a terminal; elsewhere the count at the end is the whole report.
    let bar = indicatif::ProgressBar::new(pending);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sealed values re-sealed")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let outcome = crate::secrets::rewrap(store.as_ref(), &keyring, || bar.inc(1)).await?;
    bar.finish_and_clear();
    let event = gatehouse_core::audit::AuditEvent::new(
        gatehouse_core::audit::AuditAction::SecretsRewrapped,
        Actor::Operator,
        time::OffsetDateTime::now_utc(),
        &ClientContext::default(),
    )
    .detail("resealed", outcome.resealed)
    .detail("already_current", outcome.already_current)
    .detail("unopenable", outcome.unopenable.len());
    database.audit().append(&[event]).await?;
    println!(
        "re-sealed {} values under master_secret ({} already were, {} changed meanwhile)",
        outcome.resealed, outcome.already_current, outcome.changed_meanwhile
    );
    database.close().await;
    if !outcome.unopenable.is_empty() {
        for (kind, key) in &outcome.unopenable {
            eprintln!("gatehouse: {kind} {key} opens under neither master_secret nor master_secret_previous");
        }
        anyhow::bail!("{} sealed values could not be re-sealed; keep master_secret_previous", outcome.unopenable.len());
    }
    println!("nothing needs master_secret_previous any more: remove it and restart");
    Ok(())
}

async fn api_key(config: Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let database = database(&config).await?;
    let store = database.api_keys();
    let now = gatehouse_core::clock::to_millis(time::OffsetDateTime::now_utc());
    let operator = ClientContext::default();
    match command {
        ApiKeyCommand::Create { name, scopes } => {
            let scopes = parse_scopes(scopes.iter().flat_map(|s| s.split(',')))?;
            let name = name.trim().to_owned();
            anyhow::ensure!(!name.is_empty() && name.chars().count() <= 100, "--name must be 1 to 100 characters");
            let mut bytes = [0_u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
            let secret = ApiKeySecret::from_random(bytes);
            let key = ApiKey {
                id: uuid::Uuid::new_v4(),
                name,
                prefix: secret.display_prefix(),
                scopes,
                created_at: now,
                last_used_at: None,
                revoked_at: None,
            };
            let event = AuditEvent::new(AuditAction::ApiKeyCreated, Actor::Operator, now, &operator)
                .target("api_key", key.id)
                .detail("name", key.name.clone())
                .detail("scopes", key.scopes.join(" "));
            store.create_api_key(&key, &secret.hash(), &[event]).await?;
            eprintln!("created API key {} ({}) with scopes: {}", key.id, key.name, key.scopes.join(", "));
            eprintln!("store it now; it is not shown again:");
            println!("{}", secret.encode());
        }
        ApiKeyCommand::List => {
            for key in store.api_keys().await? {
                let state = if key.revoked_at.is_some() { "revoked" } else { "active" };
                let last_used = key.last_used_at.map_or_else(|| "never".to_owned(), |t| t.to_string());
                println!(
                    "{}  {}…  {:8}  {}  [{}]  last used: {}",
                    key.id,
                    key.prefix,
                    state,
                    key.name,
                    key.scopes.join(" "),
                    last_used
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| anyhow::anyhow!("`{id}` is not a key id"))?;
            let event =
                AuditEvent::new(AuditAction::ApiKeyRevoked, Actor::Operator, now, &operator).target("api_key", id);
            anyhow::ensure!(store.revoke_api_key(id, now, &[event]).await?, "no active API key has id {id}");
            println!(
                "revoked API key {id}; running instances stop accepting it within {} s",
                config.api_key_cache_ttl.as_secs()
            );
        }
    }
    database.close().await;
    Ok(())
}

async fn jobs(config: Config, command: JobsCommand) -> anyhow::Result<()> {
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

async fn serve(config: Config) -> anyhow::Result<()> {
    // Handlers are installed before anything can announce readiness: a SIGTERM that arrives right
    // after the "listening" line must start a graceful shutdown, not kill the process outright.
    let shutdown = shutdown_signal().context("installing signal handlers")?;
    let listeners = app::Listeners::bind(&config).await?;
    let app = app::build(config).await?;
    app::serve(app, listeners, shutdown).await
}

/// A future that completes on SIGTERM or SIGINT; the handlers are registered when this returns.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
