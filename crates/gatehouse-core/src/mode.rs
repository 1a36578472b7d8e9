//! Development or production: the one switch that turns on every production safeguard at once.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Generated secrets, readable logs, plain-HTTP cookies allowed.
    Development,
    /// Real secrets, HTTPS public URL, Secure cookies and HSTS required; JSON logs.
    Production,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Development => "development",
            RunMode::Production => "production",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Some(RunMode::Development),
            "production" | "prod" => Some(RunMode::Production),
            _ => None,
        }
    }
}
