//! `gatehouse config`: checking the configuration and printing the example.

use clap::{Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
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
pub(super) enum ExampleFormat {
    Toml,
    Markdown,
}
