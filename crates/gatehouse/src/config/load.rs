//! Layered loading: built-in defaults < TOML file < environment. Every value is checked against its
//! schema kind as it comes in, and every problem is collected rather than stopping at the first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::schema::{self, Kind, SETTINGS, Setting};

/// Where a value came from, so a problem can name the exact place to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    /// Computed from other settings (`public_url` from `server.listen`, for instance).
    Derived,
}

/// One thing wrong with the configuration, phrased so a person knows what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable or key to change: `GATEHOUSE_MASTER_SECRET`, or `server.listen in gatehouse.toml`.
    pub subject: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

impl Problem {
    pub fn for_setting(setting: &Setting, source: Option<&Source>, message: impl Into<String>) -> Self {
        let subject = match source {
            Some(Source::Env(var)) => format!("{var} ({})", setting.key),
            Some(Source::File(path)) => format!("{} in {}", setting.key, path.display()),
            Some(Source::Default | Source::Derived) | None => setting.label(),
        };
        Self { subject, message: message.into() }
    }
}

/// The merged raw values, keyed by schema key, each with its source.
#[derive(Debug, Clone, Default)]
pub struct RawValues {
    pub values: BTreeMap<&'static str, (toml::Value, Source)>,
}

impl RawValues {
    pub fn get(&self, key: &str) -> Option<&(toml::Value, Source)> {
        self.values.get(key)
    }
}

/// The outcome of reading every layer: the values, problems that make the config invalid, and
/// warnings that do not (unknown `GATEHOUSE_*` variables).
#[derive(Debug, Default)]
pub struct Layers {
    pub raw: RawValues,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
}

/// Variables that share the prefix but are not settings.
const NON_SETTING_VARS: &[&str] = &["GATEHOUSE_CONFIG"];
const NON_SETTING_PREFIXES: &[&str] = &["GATEHOUSE_TEST_"];

pub fn read_layers(file: Option<&Path>, env: &BTreeMap<String, String>) -> Layers {
    let mut layers = Layers::default();
    for setting in SETTINGS {
        if let Some(default) = setting.default {
            match toml::from_str::<toml::Table>(&format!("v = {default}")) {
                Ok(mut table) => {
                    if let Some(value) = table.remove("v") {
                        layers.raw.values.insert(setting.key, (value, Source::Default));
                    }
                }
                Err(error) => {
                    layers.problems.push(Problem::for_setting(setting, None, format!("bad built-in default: {error}")))
                }
            }
        }
    }
    if let Some(path) = file {
        read_file(path, &mut layers);
    }
    read_env(env, &mut layers);
    layers
}

fn read_file(path: &Path, layers: &mut Layers) {
    let subject = format!("config file {}", path.display());
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            layers.problems.push(Problem { subject, message: format!("cannot be read: {error}") });
            return;
        }
    };
    let table: toml::Table = match toml::from_str(&text) {
        Ok(table) => table,
        Err(error) => {
            layers.problems.push(Problem { subject, message: format!("is not valid TOML: {}", error.message()) });
            return;
        }
    };
    let mut leaves = Vec::new();
    flatten("", table, &mut leaves);
    for (key, value) in leaves {
        let Some(setting) = schema::find(&key) else {
            layers.problems.push(Problem {
                subject: format!("{key} in {}", path.display()),
                message: "is not a Gatehouse setting (see `gatehouse config example` for every key)".into(),
            });
            continue;
        };
        let source = Source::File(path.to_owned());
        match check_kind(setting, &value) {
            Ok(()) => {
                layers.raw.values.insert(setting.key, (value, source));
            }
            Err(message) => layers.problems.push(Problem::for_setting(setting, Some(&source), message)),
        }
    }
}

/// Turns nested tables into dotted keys, stopping at schema keys (whose value is taken whole).
fn flatten(prefix: &str, table: toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (name, value) in table {
        let key = if prefix.is_empty() { name } else { format!("{prefix}.{name}") };
        match value {
            toml::Value::Table(inner) if schema::find(&key).is_none() => flatten(&key, inner, out),
            leaf => out.push((key, leaf)),
        }
    }
}

fn read_env(env: &BTreeMap<String, String>, layers: &mut Layers) {
    for setting in SETTINGS {
        let own = setting.env_var();
        // Aliases first, so the GATEHOUSE_ variable wins when both are set. `PORT` is special: it
        // replaces only the port of `server.listen` and is applied after this loop.
        let candidates = setting.aliases.iter().filter(|alias| **alias != "PORT").map(|alias| (*alias).to_owned());
        for var in candidates.chain(std::iter::once(own)) {
            let Some(text) = env.get(&var).filter(|text| !text.is_empty()) else { continue };
            let source = Source::Env(var.clone());
            match parse_env(setting, text) {
                Ok(value) => {
                    layers.raw.values.insert(setting.key, (value, source));
                }
                Err(message) => layers.problems.push(Problem::for_setting(setting, Some(&source), message)),
            }
        }
    }
    if let Some(port) = env.get("PORT").filter(|text| !text.is_empty()) {
        apply_port(port, layers);
    }
    for var in env.keys().filter(|var| var.starts_with("GATEHOUSE_")) {
        let known = SETTINGS.iter().any(|setting| setting.env_var() == *var)
            || NON_SETTING_VARS.contains(&var.as_str())
            || NON_SETTING_PREFIXES.iter().any(|prefix| var.starts_with(prefix));
        if !known {
            layers.warnings.push(format!("{var} is set but is not a Gatehouse setting; it is ignored"));
        }
    }
}

fn apply_port(port: &str, layers: &mut Layers) {
    let Some(setting) = schema::find("server.listen") else { return };
    let source = Source::Env("PORT".into());
    let Ok(port) = port.trim().parse::<u16>() else {
        layers.problems.push(Problem::for_setting(setting, Some(&source), "must be a port number from 0 to 65535"));
        return;
    };
    let listen = match layers.raw.get(setting.key) {
        Some((toml::Value::String(listen), _)) => match listen.parse::<std::net::SocketAddr>() {
            Ok(addr) => std::net::SocketAddr::new(addr.ip(), port),
            // The listen problem is reported on its own; PORT cannot be applied to it.
            Err(_) => return,
        },
        _ => return,
    };
    layers.raw.values.insert(setting.key, (toml::Value::String(listen.to_string()), source));
}

fn parse_env(setting: &Setting, text: &str) -> Result<toml::Value, String> {
    let value = match setting.kind {
        Kind::String | Kind::Choice(_) => toml::Value::String(text.to_owned()),
        Kind::Integer => toml::Value::Integer(text.trim().parse().map_err(|_| "must be a whole number".to_owned())?),
        Kind::Bool => toml::Value::Boolean(match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err("must be true or false".into()),
        }),
        Kind::StringList => toml::Value::Array(
            text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(|item| item.to_owned().into()).collect(),
        ),
        Kind::Table => {
            toml::Value::Table(toml::from_str(text).map_err(|e| format!("must be a TOML table: {}", e.message()))?)
        }
        Kind::TableList => {
            let document: toml::Table = toml::from_str(&format!("list = {text}"))
                .map_err(|e| format!("must be a TOML array of tables: {}", e.message()))?;
            document.get("list").cloned().unwrap_or(toml::Value::Array(Vec::new()))
        }
    };
    check_kind(setting, &value)?;
    Ok(value)
}

fn check_kind(setting: &Setting, value: &toml::Value) -> Result<(), String> {
    let fits = match setting.kind {
        Kind::String => value.is_str(),
        Kind::Integer => value.is_integer(),
        Kind::Bool => value.is_bool(),
        Kind::StringList => value.as_array().is_some_and(|items| items.iter().all(toml::Value::is_str)),
        Kind::Table => value.is_table(),
        Kind::TableList => value.as_array().is_some_and(|items| items.iter().all(toml::Value::is_table)),
        Kind::Choice(words) => {
            return match value.as_str() {
                Some(word) if words.contains(&word) => Ok(()),
                _ => Err(format!("must be one of: {}", words.join(", "))),
            };
        }
    };
    if fits {
        Ok(())
    } else {
        Err(match setting.kind {
            Kind::String => "must be a string".into(),
            Kind::Integer => "must be a whole number".into(),
            Kind::Bool => "must be true or false".into(),
            Kind::StringList => "must be a list of strings".into(),
            Kind::Table => "must be a table".into(),
            Kind::TableList => "must be an array of tables".into(),
            Kind::Choice(_) => unreachable!("handled above"),
        })
    }
}
