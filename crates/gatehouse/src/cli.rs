//! The command line: `serve`, `migrate`, `config check`, `config example`, `version`.
//!
//! Exit status: 0 on success, 1 when something failed at run time, 2 when the configuration is
//! invalid (every problem is listed at once).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Print the version.
    Version,
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
        Command::Migrate => with_config(cli.config, migrate),
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

async fn serve(config: Config) -> anyhow::Result<()> {
    let listeners = app::Listeners::bind(&config).await?;
    let app = app::build(config).await?;
    app::serve(app, listeners, shutdown_signal()).await
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!("cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
