//! Gatehouse's configuration: one typed [`Config`], loaded in layers and validated as a whole.
//!
//! Raw values (strings, numbers) become typed values here, once: a [`Config`] that exists is a
//! valid one, and the rest of the program never re-checks it. Every problem is collected and
//! reported together, each naming the variable or key to change.

mod email;
pub mod forward_auth;
mod load;
mod oauth;
pub mod pages;
pub mod passkeys;
pub mod render;
pub mod schema;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_core::mode::RunMode;
use gatehouse_core::password::HashParams;
use gatehouse_core::rate_limit::{KeyPart, Policy, builtin_policies};
use gatehouse_core::secret::MasterSecret;
use gatehouse_core::sessions::Binding;
use gatehouse_core::tokens::SigningAlgorithm;
use gatehouse_store::rate_limiter::FailureMode;
use ipnet::IpNet;

pub use email::{Credential, EmailConfig, EmailProviderConfig, JobsConfig, SmtpTls, WebhooksConfig};
pub use load::{Problem, RawValues, Source};
pub use oauth::{ClientAuth, Endpoints, ProviderConfig};

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: RunMode,
    /// Absent only in development, where a generated one is kept in the database.
    pub master_secret: Option<MasterSecret>,
    /// During a rotation, the secret being replaced: values sealed under it still open.
    pub master_secret_previous: Option<MasterSecret>,
    /// Without a trailing slash.
    pub public_url: url::Url,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    /// `None` when Redis is not configured.
    pub redis: Option<RedisConfig>,
    pub cookies: CookieConfig,
    pub session: SessionConfig,
    pub tokens: TokenConfig,
    /// How long a valid service API key is remembered in process; zero turns that off.
    pub api_key_cache_ttl: Duration,
    /// Audit events older than this are deleted by the hourly housekeeping.
    pub audit_retention: Duration,
    pub rate_limit: RateLimitConfig,
    pub password: HashParams,
    /// How much hashing work may wait, at the rate measured at start, before hashing is refused.
    pub password_queue: Duration,
    /// Where new passwords are looked up in a breach corpus.
    pub breached: BreachedConfig,
    pub jobs: JobsConfig,
    pub email: EmailConfig,
    pub webhooks: WebhooksConfig,
    /// Sign-in providers, by name.
    pub oauth_providers: Vec<ProviderConfig>,
    pub pages: pages::PagesConfig,
    pub forward_auth: forward_auth::ForwardAuthConfig,
    pub passkeys: passkeys::PasskeysConfig,
    pub log: LogConfig,
    /// The merged raw values with their sources, for `config check`.
    pub raw: RawValues,
}

/// The breach corpus new passwords are checked against (`password.breached_check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreachedConfig {
    Off,
    Api { url: url::Url, timeout: Duration },
    File(std::path::PathBuf),
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub body_limit_bytes: usize,
    /// The main listener's connection cap; `None` derives one from the open-file limit at start.
    pub max_connections: Option<usize>,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_header_bytes: usize,
    pub trusted_proxies: Vec<IpNet>,
    /// Serialized origins (`https://app.example.com`).
    pub cors_allowed_origins: Vec<String>,
    /// Where any redirect after sign-in may go.
    pub redirect_allowlist: gatehouse_core::oauth::redirect::RedirectAllowlist,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub migrate_on_start: bool,
}

#[derive(Clone)]
pub struct RedisConfig {
    /// With the password from `redis.password` filled in; never print it.
    pub url: String,
    pub key_prefix: String,
    pub timeout: Duration,
    pub cluster: bool,
    pub session_cache_ttl: Duration,
    /// The contents of `redis.tls_ca_file`, read and checked at load.
    pub tls_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &gatehouse_core::redact::redact_url_password(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct CookieConfig {
    pub secure: bool,
    pub domain: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub cookie_name: String,
    pub idle_timeout: Duration,
    pub absolute_lifetime: Duration,
    pub binding: Binding,
    /// In-process entries held at most; `0` when `session.local_cache` is off.
    pub local_cache_entries: usize,
    pub local_cache_ttl: Duration,
    pub invalidation_poll: Duration,
    pub when_log_unreadable: gatehouse_store::coherence::WhenLogUnreadable,
    /// How long a sign-in or step-up counts as fresh for sensitive actions.
    pub reauth_window: Duration,
}

#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub access_ttl: Duration,
    pub algorithm: SigningAlgorithm,
    /// Without a trailing slash.
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub failure_mode: FailureMode,
    pub max_local_keys: usize,
    /// Enabled policies by name: the built-ins with the configured changes, plus new ones.
    pub policies: BTreeMap<String, Policy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

/// A valid config and the warnings met while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Where the config file is, if any: `--config FILE`, else `GATEHOUSE_CONFIG`.
pub fn config_path(flag: Option<&Path>, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    flag.map(Path::to_owned).or_else(|| env.get("GATEHOUSE_CONFIG").filter(|p| !p.is_empty()).map(PathBuf::from))
}

/// Loads and validates the config from an optional file and the given environment.
pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Loaded, Vec<Problem>> {
    let layers = load::read_layers(file, env);
    let mut problems = layers.problems;
    let mut reader = Reader { raw: layers.raw, problems: Vec::new() };
    let config = build(&mut reader);
    problems.append(&mut reader.problems);
    match config {
        Some(config) if problems.is_empty() => Ok(Loaded { config, warnings: layers.warnings }),
        _ if problems.is_empty() => Err(vec![Problem {
            subject: "configuration".into(),
            message: "is incomplete for a reason no check names; this is a bug in Gatehouse".into(),
        }]),
        _ => Err(problems),
    }
}

/// Reads typed values out of the raw map, collecting problems.
struct Reader {
    raw: RawValues,
    problems: Vec<Problem>,
}

impl Reader {
    fn setting(key: &str) -> &'static schema::Setting {
        schema::find(key).unwrap_or_else(|| panic!("`{key}` is read by Config but missing from the schema"))
    }

    fn value(&self, key: &str) -> Option<&toml::Value> {
        Self::setting(key);
        self.raw.get(key).map(|(value, _)| value)
    }

    fn source(&self, key: &str) -> Option<&Source> {
        self.raw.get(key).map(|(_, source)| source)
    }

    fn problem(&mut self, key: &str, message: impl Into<String>) {
        let problem = Problem::for_setting(Self::setting(key), self.source(key), message);
        self.problems.push(problem);
    }

    fn string(&self, key: &str) -> Option<String> {
        self.value(key).and_then(toml::Value::as_str).map(str::to_owned)
    }

    fn bool(&self, key: &str) -> Option<bool> {
        self.value(key).and_then(toml::Value::as_bool)
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.value(key)
            .and_then(toml::Value::as_array)
            .map(|items| items.iter().filter_map(toml::Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// A whole number within `range`, or a problem naming the range.
    fn number<T: TryFrom<i64>>(&mut self, key: &str, range: std::ops::RangeInclusive<i64>) -> Option<T> {
        let value = self.value(key).and_then(toml::Value::as_integer)?;
        if !range.contains(&value) {
            self.problem(key, format!("must be between {} and {}", range.start(), range.end()));
            return None;
        }
        T::try_from(value).ok()
    }

    fn socket_addr(&mut self, key: &str) -> Option<SocketAddr> {
        let text = self.string(key)?;
        match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.problem(key, format!("`{text}` is not an IP address and port such as 127.0.0.1:8080"));
                None
            }
        }
    }

    /// Marks a derived value so `config check` shows what was actually used.
    fn derive(&mut self, key: &'static str, value: toml::Value) {
        self.raw.values.insert(Self::setting(key).key, (value, Source::Derived));
    }
}

fn build(r: &mut Reader) -> Option<Config> {
    let mode = r.string("env").as_deref().and_then(RunMode::parse);
    let production = mode == Some(RunMode::Production);

    let master_secret = match r.string("master_secret") {
        Some(text) => match MasterSecret::parse(&text) {
            Ok(secret) => Some(secret),
            Err(error) => {
                r.problem("master_secret", error.to_string());
                None
            }
        },
        None if production => {
            r.problem("master_secret", "is required in production; generate one with `openssl rand -base64 32`");
            None
        }
        None => None,
    };

    let master_secret_previous = match r.string("master_secret_previous") {
        Some(text) => match MasterSecret::parse(&text) {
            Ok(secret) => Some(secret),
            Err(error) => {
                r.problem("master_secret_previous", error.to_string());
                None
            }
        },
        None => None,
    };
    if master_secret_previous.is_some() && r.value("master_secret").is_none() {
        r.problem("master_secret_previous", "needs master_secret: the new secret that replaces it");
    }

    let listen = r.socket_addr("server.listen");
    let metrics_listen =
        if r.value("server.metrics_listen").is_some() { r.socket_addr("server.metrics_listen") } else { None };
    if let (Some(main), Some(metrics)) = (listen, metrics_listen)
        && main == metrics
        && main.port() != 0
    {
        r.problem("server.metrics_listen", "must differ from server.listen");
    }

    let public_url = public_url(r, listen, production);

    let secure_cookies = match r.bool("cookies.secure") {
        Some(false) if production => {
            r.problem("cookies.secure", "must be true in production: session cookies may only travel over HTTPS");
            None
        }
        Some(explicit) => Some(explicit),
        None => {
            r.derive("cookies.secure", toml::Value::Boolean(production));
            Some(production)
        }
    };

    let trusted_proxies = r
        .list("server.trusted_proxies")
        .into_iter()
        .filter_map(|entry| {
            match entry.parse::<IpNet>().or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from)) {
                Ok(net) => Some(net),
                Err(_) => {
                    r.problem("server.trusted_proxies", format!("`{entry}` is not an IP address or CIDR range"));
                    None
                }
            }
        })
        .collect();

    let cors_allowed_origins = r
        .list("server.cors_allowed_origins")
        .into_iter()
        .filter_map(|entry| match parse_origin(&entry) {
            Ok(origin) => Some(origin),
            Err(message) => {
                r.problem("server.cors_allowed_origins", format!("`{entry}` {message}"));
                None
            }
        })
        .collect();

    let database_url = r.string("database.url").unwrap_or_default();
    if gatehouse_store::backend_of(&database_url).is_none() {
        r.problem("database.url", "must start with sqlite: or postgres: (for example sqlite://gatehouse.db)");
    }
    let max_connections = r.number::<u32>("database.max_connections", 1..=1000);
    let min_connections = r.number::<u32>("database.min_connections", 0..=1000);
    if let (Some(max), Some(min)) = (max_connections, min_connections)
        && min > max
    {
        r.problem("database.min_connections", format!("must not exceed database.max_connections ({max})"));
    }

    let level = r.string("log.level").unwrap_or_default();
    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&level) {
        r.problem("log.level", format!("is not a valid log filter: {error}"));
    }
    let format = match (r.string("log.format").as_deref(), production) {
        (Some("json"), _) | (Some("auto"), true) => LogFormat::Json,
        _ => LogFormat::Text,
    };

    // Every value is read before any `?`, so that one bad setting does not hide the next.
    let request_timeout_secs = r.number("server.request_timeout_secs", 1..=3600);
    let shutdown_timeout_secs = r.number("server.shutdown_timeout_secs", 0..=3600);
    let body_limit_bytes = r.number("server.body_limit_bytes", 1..=1 << 30);
    let server_max_connections = if r.value("server.max_connections").is_some() {
        r.number("server.max_connections", 1..=1_000_000)
    } else {
        None
    };
    let header_read_timeout_secs = r.number("server.header_read_timeout_secs", 1..=3600);
    let keep_alive_timeout_secs = r.number("server.keep_alive_timeout_secs", 1..=3600);
    let max_header_bytes = r.number("server.max_header_bytes", 1024..=1 << 20);
    let acquire_timeout_ms = r.number("database.acquire_timeout_ms", 1..=600_000);
    let migrate_on_start = r.bool("database.migrate_on_start");
    let cookie_domain = r.string("cookies.domain");
    let session = session_config(r);
    let redis = redis_config(r, mode);
    let password = password_params(r, production);
    let password_queue_secs = r.number::<u64>("password.queue_secs", 0..=300);
    let breached = breached_config(r, production);
    let token_ttl = r.number::<u64>("tokens.access_ttl_secs", 30..=86_400);
    let algorithm = r.string("tokens.algorithm").as_deref().and_then(SigningAlgorithm::parse);
    let audience = r.string("tokens.audience");
    let api_key_cache_ttl_secs = r.number::<u64>("api_keys.cache_ttl_secs", 0..=300);
    let audit_retention_days = r.number::<u64>("audit.retention_days", 1..=36_500);
    let rate_limit = rate_limit_config(r);
    let jobs = email::jobs_config(r);
    let email = email::email_config(r, public_url.as_ref(), production);
    let webhooks = email::webhooks_config(r, production);
    let redirect_allowlist = oauth::redirect_allowlist(r, public_url.as_ref());
    let oauth_providers = oauth::providers(r, production);
    let pages = pages::pages_config(r);
    let forward_auth = forward_auth::forward_auth_config(r);
    let passkeys = passkeys::passkeys_config(r, public_url.as_ref());

    Some(Config {
        mode: mode?,
        master_secret,
        master_secret_previous,
        public_url: public_url.clone()?,
        server: ServerConfig {
            listen: listen?,
            metrics_listen,
            request_timeout: Duration::from_secs(request_timeout_secs?),
            shutdown_timeout: Duration::from_secs(shutdown_timeout_secs?),
            body_limit_bytes: body_limit_bytes?,
            max_connections: server_max_connections,
            header_read_timeout: Duration::from_secs(header_read_timeout_secs?),
            keep_alive_timeout: Duration::from_secs(keep_alive_timeout_secs?),
            max_header_bytes: max_header_bytes?,
            trusted_proxies,
            cors_allowed_origins,
            redirect_allowlist: redirect_allowlist?,
        },
        database: DatabaseConfig {
            url: database_url,
            max_connections: max_connections?,
            min_connections: min_connections?,
            acquire_timeout: Duration::from_millis(acquire_timeout_ms?),
            migrate_on_start: migrate_on_start?,
        },
        redis: redis?,
        cookies: CookieConfig { secure: secure_cookies?, domain: cookie_domain },
        session: session?,
        tokens: {
            let issuer = public_url.as_ref()?.as_str().trim_end_matches('/').to_owned();
            TokenConfig {
                access_ttl: Duration::from_secs(token_ttl?),
                algorithm: algorithm?,
                audience: audience.unwrap_or_else(|| issuer.clone()),
                issuer,
            }
        },
        api_key_cache_ttl: Duration::from_secs(api_key_cache_ttl_secs?),
        audit_retention: Duration::from_secs(audit_retention_days? * 86_400),
        rate_limit: rate_limit?,
        password: password?,
        password_queue: Duration::from_secs(password_queue_secs?),
        breached: breached?,
        jobs: jobs?,
        email: email?,
        webhooks: webhooks?,
        oauth_providers: oauth_providers?,
        pages: pages?,
        forward_auth: forward_auth?,
        passkeys: passkeys?,
        log: LogConfig { level, format },
        raw: r.raw.clone(),
    })
}

/// The PEM certificates in the file `key` names: `Ok(None)` when it is unset, `Err` (with the
/// problem recorded) when it cannot be read or holds no certificate.
fn read_pem(r: &mut Reader, key: &'static str) -> Result<Option<Vec<u8>>, ()> {
    let Some(path) = r.string(key) else { return Ok(None) };
    match std::fs::read(&path) {
        Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => Ok(Some(pem)),
        Ok(_) => {
            r.problem(key, format!("`{path}` holds no PEM certificate"));
            Err(())
        }
        Err(error) => {
            r.problem(key, format!("`{path}` cannot be read: {error}"));
            Err(())
        }
    }
}

/// `Some(None)` when Redis is not configured, `None` when its settings are invalid.
fn redis_config(r: &mut Reader, mode: Option<RunMode>) -> Option<Option<RedisConfig>> {
    let timeout_ms = r.number::<u64>("redis.timeout_ms", 1..=60_000);
    let ttl_secs = r.number::<u64>("redis.session_cache_ttl_secs", 1..=86_400);
    let cluster = r.bool("redis.cluster").unwrap_or(false);
    let prefix = r.string("redis.key_prefix").unwrap_or_default();
    let password = r.string("redis.password");
    let tls_ca_pem = read_pem(r, "redis.tls_ca_file").ok()?;
    let Some(text) = r.string("redis.url") else { return Some(None) };
    let mut url = match url::Url::parse(&text) {
        Ok(url) if matches!(url.scheme(), "redis" | "rediss") && url.host().is_some() => url,
        _ => {
            r.problem("redis.url", "is not a redis:// or rediss:// URL such as redis://127.0.0.1:6379");
            return None;
        }
    };
    if let Some(password) = password
        && url.set_password(Some(&password)).is_err()
    {
        r.problem("redis.password", "cannot be combined with redis.url");
        return None;
    }
    let env = mode.unwrap_or(RunMode::Development).as_str();
    Some(Some(RedisConfig {
        url: url.to_string(),
        key_prefix: prefix.replace("{env}", env),
        timeout: Duration::from_millis(timeout_ms?),
        cluster,
        session_cache_ttl: Duration::from_secs(ttl_secs?),
        tls_ca_pem,
    }))
}

fn rate_limit_config(r: &mut Reader) -> Option<RateLimitConfig> {
    let failure_mode = match r.string("rate_limit.failure_mode").as_deref() {
        Some("open") => FailureMode::Open,
        Some("closed") => FailureMode::Closed,
        _ => FailureMode::Fallback,
    };
    let max_local_keys = r.number::<usize>("rate_limit.max_local_keys", 1_000..=100_000_000);
    let mut policies: BTreeMap<String, Policy> =
        builtin_policies().into_iter().map(|policy| (policy.name.clone(), policy)).collect();
    let configured = r.value("rate_limit.policies").and_then(toml::Value::as_table).cloned().unwrap_or_default();
    let mut valid = true;
    for (name, value) in configured {
        match parse_policy(&name, &value, policies.get(&name)) {
            Ok(Some(policy)) => {
                policies.insert(name, policy);
            }
            Ok(None) => {
                policies.remove(&name);
            }
            Err(message) => {
                r.problem("rate_limit.policies", format!("policy `{name}`: {message}"));
                valid = false;
            }
        }
    }
    Some(RateLimitConfig {
        enabled: r.bool("rate_limit.enabled")?,
        failure_mode,
        max_local_keys: max_local_keys?,
        policies: valid.then_some(policies)?,
    })
}

/// One `[rate_limit.policies.NAME]` table over the built-in of that name, if any. `Ok(None)` means
/// the policy is switched off.
fn parse_policy(name: &str, value: &toml::Value, base: Option<&Policy>) -> Result<Option<Policy>, String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err("names are lower-case letters, digits and `_`".into());
    }
    let table = value.as_table().ok_or("must be a table")?;
    for key in table.keys() {
        if !["limit", "period_secs", "burst", "key", "enabled"].contains(&key.as_str()) {
            return Err(format!("unknown field `{key}` (fields: limit, period_secs, burst, key, enabled)"));
        }
    }
    if table.get("enabled").and_then(toml::Value::as_bool) == Some(false) {
        return Ok(None);
    }
    let int = |field: &str, range: std::ops::RangeInclusive<i64>| -> Result<Option<u64>, String> {
        match table.get(field) {
            None => Ok(None),
            Some(v) => match v.as_integer() {
                Some(n) if range.contains(&n) => Ok(u64::try_from(n).ok()),
                _ => Err(format!("`{field}` must be a whole number from {} to {}", range.start(), range.end())),
            },
        }
    };
    let given_limit = int("limit", 1..=1_000_000)?.map(|n| n as u32);
    let limit = given_limit.or(base.map(|b| b.limit)).ok_or("`limit` is required")?;
    let period_secs =
        int("period_secs", 1..=2_592_000)?.or(base.map(|b| b.period.as_secs())).ok_or("`period_secs` is required")?;
    // A new limit without a burst means "this many, at most all at once": the burst follows it.
    let burst = match (int("burst", 1..=1_000_000)?, given_limit) {
        (Some(burst), _) => burst as u32,
        (None, Some(limit)) => limit,
        (None, None) => base.map_or(limit, |b| b.burst),
    };
    let key = match table.get("key") {
        Some(value) => {
            let parts = value.as_array().ok_or("`key` must be a list such as [\"ip\"]")?;
            let parsed: Option<Vec<KeyPart>> = parts.iter().map(|p| p.as_str().and_then(KeyPart::parse)).collect();
            parsed.filter(|p| !p.is_empty()).ok_or("`key` lists parts among ip, user, account, route, api_key")?
        }
        None => base.map(|b| b.key.clone()).ok_or("`key` is required")?,
    };
    Ok(Some(Policy { name: name.to_owned(), limit, period: Duration::from_secs(period_secs), burst, key }))
}

fn session_config(r: &mut Reader) -> Option<SessionConfig> {
    let cookie_name = r.string("session.cookie_name").unwrap_or_default();
    let valid_name = !cookie_name.is_empty()
        && cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid_name {
        r.problem("session.cookie_name", "must be letters, digits, `_`, `-` or `.`");
    }
    let idle = r.number::<u64>("session.idle_timeout_secs", 60..=31_536_000);
    let absolute = r.number::<u64>("session.absolute_lifetime_secs", 60..=31_536_000);
    if let (Some(idle), Some(absolute)) = (idle, absolute)
        && idle > absolute
    {
        r.problem("session.idle_timeout_secs", "must not exceed session.absolute_lifetime_secs");
    }
    let binding = match r.string("session.binding").as_deref() {
        Some("user_agent") => Binding::UserAgent,
        Some("user_agent_and_ip") => Binding::UserAgentAndIp,
        _ => Binding::Off,
    };
    let local_cache = r.bool("session.local_cache").unwrap_or(true);
    let entries = r.number::<usize>("session.local_cache_entries", 100..=10_000_000);
    let local_ttl = r.number::<u64>("session.local_cache_ttl_secs", 1..=3600);
    let poll = r.number::<u64>("session.invalidation_poll_ms", 10..=1000);
    let reauth_window = r.number::<u64>("session.reauth_window_secs", 30..=86_400);
    let when_log_unreadable = match r.string("session.when_log_unreadable").as_deref() {
        Some("refuse") => gatehouse_store::coherence::WhenLogUnreadable::Refuse,
        _ => gatehouse_store::coherence::WhenLogUnreadable::Serve,
    };
    Some(SessionConfig {
        cookie_name: valid_name.then_some(cookie_name)?,
        idle_timeout: Duration::from_secs(idle?),
        absolute_lifetime: Duration::from_secs(absolute?),
        binding,
        local_cache_entries: if local_cache { entries? } else { 0 },
        local_cache_ttl: Duration::from_secs(local_ttl?),
        invalidation_poll: Duration::from_millis(poll?),
        when_log_unreadable,
        reauth_window: Duration::from_secs(reauth_window?),
    })
}

fn breached_config(r: &mut Reader, production: bool) -> Option<BreachedConfig> {
    let choice = r.string("password.breached_check").unwrap_or_else(|| (if production { "api" } else { "off" }).into());
    let timeout_ms = r.number::<u64>("password.breached_api_timeout_ms", 50..=30_000);
    let url = r.string("password.breached_api_url").unwrap_or_default();
    let file = r.string("password.breached_file");
    match choice.as_str() {
        "api" => {
            let parsed =
                url::Url::parse(url.trim_end_matches('/')).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
            if parsed.is_none() {
                r.problem("password.breached_api_url", format!("`{url}` is not an http(s) URL"));
            }
            Some(BreachedConfig::Api { url: parsed?, timeout: Duration::from_millis(timeout_ms?) })
        }
        "file" => {
            let Some(path) = file.map(std::path::PathBuf::from) else {
                r.problem("password.breached_file", "is required when password.breached_check is `file`");
                return None;
            };
            if !path.is_file() {
                r.problem("password.breached_file", format!("`{}` is not a readable file", path.display()));
                return None;
            }
            Some(BreachedConfig::File(path))
        }
        _ => Some(BreachedConfig::Off),
    }
}

fn password_params(r: &mut Reader, production: bool) -> Option<HashParams> {
    let memory_kib = r.number("password.argon2_memory_kib", 8..=4_194_304);
    let iterations = r.number("password.argon2_iterations", 1..=100);
    let parallelism = r.number("password.argon2_parallelism", 1..=64);
    let params = HashParams { memory_kib: memory_kib?, iterations: iterations?, parallelism: parallelism? };
    if let Err(error) = gatehouse_core::password::PasswordHasher::new(params) {
        r.problem("password.argon2_memory_kib", format!("argon2 refuses these parameters: {error}"));
        return None;
    }
    let minimum = HashParams::OWASP_MINIMUM;
    if production && (params.memory_kib < minimum.memory_kib || params.iterations < minimum.iterations) {
        r.problem(
            "password.argon2_memory_kib",
            format!(
                "is below OWASP's minimum for production ({} KiB with {} iterations)",
                minimum.memory_kib, minimum.iterations
            ),
        );
        return None;
    }
    Some(params)
}

fn public_url(r: &mut Reader, listen: Option<SocketAddr>, production: bool) -> Option<url::Url> {
    let text = match r.string("public_url") {
        Some(text) => text,
        None if production => {
            r.problem("public_url", "is required in production: the https:// URL at which browsers reach Gatehouse");
            return None;
        }
        None => {
            let derived = format!("http://{}", listen?);
            r.derive("public_url", toml::Value::String(derived.clone()));
            derived
        }
    };
    let url = match url::Url::parse(&text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => url,
        _ => {
            r.problem("public_url", format!("`{text}` is not an http(s) URL such as https://auth.example.com"));
            return None;
        }
    };
    if url.query().is_some() || url.fragment().is_some() {
        r.problem("public_url", "must not have a query or fragment");
        return None;
    }
    if production && url.scheme() != "https" {
        r.problem("public_url", "must use https in production");
        return None;
    }
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Some(url)
}

/// Accepts `scheme://host[:port]` and returns its serialized origin.
fn parse_origin(text: &str) -> Result<String, &'static str> {
    if text.trim() == "*" {
        return Err("is refused: credentialed requests need explicit origins, never `*`");
    }
    let url = url::Url::parse(text).map_err(|_| "is not an origin such as https://app.example.com")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("is not an http(s) origin such as https://app.example.com");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin only (scheme, host and port), without a path");
    }
    Ok(url.origin().ascii_serialization())
}
