//! The command line: `serve`, `migrate`, and one module per group of operator commands (`config`,
//! `keys`, `api-key`, `jobs`, `secrets`, `user`, `workspace`, `audit`, `export`).
//!
//! Exit status: 0 on success, 1 when something failed at run time, 2 when the configuration is
//! invalid (every problem is listed at once).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

mod api_key;
mod audit;
mod config_command;
mod jobs;
mod keys;
mod output;
mod secrets;
mod users;
mod workspaces;

use config_command::{ConfigCommand, ExampleFormat};
use keys::KeysCommand;
use secrets::SecretsCommand;

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
    /// Manage accounts, on the database directly (no running server needed).
    #[command(subcommand)]
    User(users::UserCommand),
    /// Read workspaces and their members.
    #[command(subcommand)]
    Workspace(workspaces::WorkspaceCommand),
    /// Query the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Export personal data.
    #[command(subcommand)]
    Export(audit::ExportCommand),
    /// Manage access-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage service API keys for server-to-server calls.
    #[command(subcommand, name = "api-key")]
    ApiKey(api_key::ApiKeyCommand),
    /// Inspect the job queue and retry dead jobs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
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
        Command::Keys(KeysCommand::Rotate) => with_config(cli.config, keys::rotate_keys),
        Command::ApiKey(command) => with_config(cli.config, |config| api_key::run(config, command)),
        Command::Jobs(command) => with_config(cli.config, |config| jobs::run(config, command)),
        Command::Secrets(SecretsCommand::Rewrap) => with_config(cli.config, secrets::rewrap_secrets),
        Command::User(command) => with_app(cli.config, |app| async move { users::run(&app, command).await }),
        Command::Workspace(command) => with_app(cli.config, |app| async move { workspaces::run(&app, command).await }),
        Command::Audit(command) => with_app(cli.config, |app| async move { audit::run(&app, command).await }),
        Command::Export(command) => with_app(cli.config, |app| async move { audit::export(&app, command).await }),
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

/// Runs `run` on the whole application as `serve` builds it, without serving: the operator
/// commands go through the same flows as the API.
fn with_app<F, Fut>(file: Option<PathBuf>, run: F) -> ExitCode
where
    F: FnOnce(std::sync::Arc<app::App>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    with_config(file, |config| async move {
        let app = std::sync::Arc::new(app::build(config).await?);
        let outcome = run(app.clone()).await;
        app.database.close().await;
        outcome
    })
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
pub(super) async fn database(config: &Config) -> anyhow::Result<gatehouse_store::Database> {
    let database = app::connect(config).await?;
    if config.database.migrate_on_start {
        database.migrate().await?;
    }
    Ok(database)
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
