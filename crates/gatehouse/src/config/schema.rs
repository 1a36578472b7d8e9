//! The config schema: every setting once, with its type, default, environment variable and
//! meaning. Loading, validation messages, `gatehouse config example` and the configuration table in docs/configuration.md are
//! all generated from this list, so they cannot drift apart.

/// What a setting's value looks like, for parsing environment variables and checking files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Bool,
    /// A comma-separated list in the environment, an array of strings in TOML.
    StringList,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A TOML table (in the environment, a TOML document).
    Table,
    /// An array of TOML tables, `[[key]]` in a file (in the environment, a TOML array).
    TableList,
}

#[derive(Debug)]
pub struct Setting {
    /// The dotted TOML path: `database.url` is `url` in the `[database]` table.
    pub key: &'static str,
    pub kind: Kind,
    /// The default as a TOML literal; `None` means unset unless configured.
    pub default: Option<&'static str>,
    /// Conventional variables that also set this, weaker than the `GATEHOUSE_` one.
    pub aliases: &'static [&'static str],
    /// Secrets are redacted in `config check` and never echoed in error messages.
    pub secret: bool,
    /// An example value for the generated file, when there is no default.
    pub example: Option<&'static str>,
    pub doc: &'static str,
    /// For a table of named tables (`oauth.providers`): the fields of each, documented one by
    /// one in the example file and the configuration table.
    pub fields: &'static [Field],
}

/// One field of each entry of a table of tables.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    /// As a TOML literal; `None` when required or unset.
    pub default: Option<&'static str>,
    /// Shown in the example entry.
    pub example: &'static str,
    /// Redacted in `config check`.
    pub secret: bool,
    pub doc: &'static str,
}

const fn field(name: &'static str, default: Option<&'static str>, example: &'static str, doc: &'static str) -> Field {
    Field { name, default, example, secret: false, doc }
}

/// The fields of each `[oauth.providers.NAME]` table.
pub const PROVIDER_FIELDS: &[Field] = &[
    field(
        "kind",
        None,
        "\"oidc\"",
        "Required. `google` (OpenID Connect with Google's issuer), `github` (OAuth 2.0 and GitHub's user and emails API) or `oidc` (any OpenID Connect provider, by discovery).",
    ),
    field(
        "client_id",
        None,
        "\"gatehouse\"",
        "Required. The client id registered with the provider; the redirect URI to register is public_url + /v1/oauth/NAME/callback.",
    ),
    Field {
        secret: true,
        ..field(
            "client_secret",
            None,
            "\"<from the provider's console>\"",
            "Required. The client secret; redacted wherever the config is shown.",
        )
    },
    field(
        "issuer",
        None,
        "\"https://login.example.com\"",
        "`oidc` only, required: the issuer whose /.well-known/openid-configuration is read at start (and retried while it fails).",
    ),
    field(
        "display_name",
        None,
        "\"Corp SSO\"",
        "The button label GET /v1/oauth/providers gives. Defaults to Google, GitHub, or the name.",
    ),
    field(
        "scopes",
        Some("[]"),
        "[\"https://www.googleapis.com/auth/gmail.send\"]",
        "Extra scopes to ask for (openid email profile, or GitHub's read:user user:email, always). Tokens granted with them are kept in the vault.",
    ),
    field(
        "auth_method",
        Some("\"client_secret_basic\""),
        "\"client_secret_basic\"",
        "How the client authenticates at the token endpoint: client_secret_basic or client_secret_post.",
    ),
    field(
        "link_verified_email",
        Some("false"),
        "false",
        "Link a new identity to an existing account with the same address when the provider and the account both say it is verified. Off: the person signs in first and links from the account.",
    ),
    field(
        "authorize_url",
        None,
        "\"https://github.example.com/login/oauth/authorize\"",
        "`github` only: the authorization endpoint, for GitHub Enterprise. Default https://github.com/login/oauth/authorize.",
    ),
    field(
        "token_url",
        None,
        "\"https://github.example.com/login/oauth/access_token\"",
        "`github` only: the token endpoint. Default https://github.com/login/oauth/access_token.",
    ),
    field(
        "api_url",
        None,
        "\"https://github.example.com/api/v3\"",
        "`github` only: the REST API base for /user and /user/emails. Default https://api.github.com.",
    ),
];

impl Setting {
    /// `database.url` → `GATEHOUSE_DATABASE_URL`.
    pub fn env_var(&self) -> String {
        format!("GATEHOUSE_{}", self.key.replace('.', "_").to_ascii_uppercase())
    }

    /// The key and its variable, as problems and docs name a setting.
    pub fn label(&self) -> String {
        format!("{} ({})", self.key, self.env_var())
    }
}

const fn setting(key: &'static str, kind: Kind, default: Option<&'static str>, doc: &'static str) -> Setting {
    Setting { key, kind, default, aliases: &[], secret: false, example: None, doc, fields: &[] }
}

pub const SETTINGS: &[Setting] = &[
    setting(
        "env",
        Kind::Choice(&["development", "production"]),
        Some("\"development\""),
        "Run mode. `production` refuses to start without a real master secret, an https public_url and Secure cookies, and logs JSON.",
    ),
    Setting {
        secret: true,
        example: Some("\"<32+ random bytes as base64 or hex: openssl rand -base64 32>\""),
        ..setting(
            "master_secret",
            Kind::String,
            None,
            "Root secret from which signing and encryption keys are derived: at least 32 random bytes, base64 or hex. Required in production; in development one is generated and kept in the database.",
        )
    },
    Setting {
        secret: true,
        example: Some("\"<the secret being replaced>\""),
        ..setting(
            "master_secret_previous",
            Kind::String,
            None,
            "During a rotation, the master secret being replaced: values sealed under it still open, new ones use master_secret. Run `gatehouse secrets rewrap`, then remove it; /health says when nothing needs it any more.",
        )
    },
    Setting {
        example: Some("\"https://auth.example.com\""),
        ..setting(
            "public_url",
            Kind::String,
            None,
            "The URL at which browsers reach Gatehouse. Defaults to http:// plus server.listen. Must be https in production.",
        )
    },
    Setting {
        aliases: &["PORT"],
        ..setting(
            "server.listen",
            Kind::String,
            Some("\"127.0.0.1:8080\""),
            "Address and port to listen on. `PORT` alone replaces just the port.",
        )
    },
    Setting {
        example: Some("\"127.0.0.1:9090\""),
        ..setting(
            "server.metrics_listen",
            Kind::String,
            None,
            "Serve /metrics on this separate address instead of the main listener, so it need not be public.",
        )
    },
    setting(
        "server.request_timeout_secs",
        Kind::Integer,
        Some("30"),
        "Longest time a request may take before it is answered 503 `timeout`.",
    ),
    setting(
        "server.shutdown_timeout_secs",
        Kind::Integer,
        Some("30"),
        "On SIGTERM or SIGINT, how long in-flight requests may take to finish before the process exits anyway.",
    ),
    setting(
        "server.body_limit_bytes",
        Kind::Integer,
        Some("65536"),
        "Largest request body accepted; larger ones get 413 `body_too_large`.",
    ),
    Setting {
        example: Some("20000"),
        ..setting(
            "server.max_connections",
            Kind::Integer,
            None,
            "Most connections the main listener holds open. Defaults to the open-file limit (raised to its hard limit at start) less 256 files for everything else, 64 for connections accepted at the cap and 64 for the metrics listener, at most 50000; a cap the limit cannot hold is a warning at start. At the cap, a new connection takes the place of the one that has been sending a request head the longest (else the one idle the longest; never one with a request in flight); when every connection has a request in flight, it is closed at once.",
        )
    },
    setting(
        "server.header_read_timeout_secs",
        Kind::Integer,
        Some("10"),
        "Longest time a client may take to send a request head, from connecting or from its first byte after an idle spell; then the connection is closed without an answer.",
    ),
    setting(
        "server.keep_alive_timeout_secs",
        Kind::Integer,
        Some("60"),
        "How long a keep-alive connection may sit idle between requests before it is closed.",
    ),
    setting(
        "server.max_header_bytes",
        Kind::Integer,
        Some("16384"),
        "Largest request head (request line and headers) accepted; a larger one is answered 431 and the connection closed.",
    ),
    Setting {
        example: Some("[\"10.0.0.0/8\", \"127.0.0.1/32\"]"),
        ..setting(
            "server.trusted_proxies",
            Kind::StringList,
            Some("[]"),
            "Proxies (IP addresses or CIDR ranges) whose X-Forwarded-For and Forwarded headers are believed for the client IP.",
        )
    },
    Setting {
        example: Some("[\"https://app.example.com\"]"),
        ..setting(
            "server.cors_allowed_origins",
            Kind::StringList,
            Some("[]"),
            "Origins allowed to call Gatehouse from a browser with credentials. `*` is refused.",
        )
    },
    Setting {
        example: Some("[\"https://app.example.com/\"]"),
        ..setting(
            "server.redirect_allowlist",
            Kind::StringList,
            Some("[]"),
            "URL prefixes (origin and path prefix) that any redirect after sign-in may go to; public_url's origin is always allowed. Compared as parsed URLs: `https://app.example.com/` does not allow `https://app.example.com.evil.com/`.",
        )
    },
    Setting {
        aliases: &["DATABASE_URL"],
        ..setting(
            "database.url",
            Kind::String,
            Some("\"sqlite://gatehouse.db\""),
            "SQLite (`sqlite://path`) or PostgreSQL (`postgres://user:password@host/db`). The password is redacted wherever the URL is shown.",
        )
    },
    setting("database.max_connections", Kind::Integer, Some("10"), "Largest number of pooled database connections."),
    setting("database.min_connections", Kind::Integer, Some("0"), "Connections kept open when idle."),
    setting(
        "database.acquire_timeout_ms",
        Kind::Integer,
        Some("5000"),
        "How long a request waits for a free database connection before failing with 503.",
    ),
    setting(
        "database.migrate_on_start",
        Kind::Bool,
        Some("true"),
        "Apply pending migrations when `serve` starts. Turn off to run `gatehouse migrate` as a separate deploy step.",
    ),
    Setting {
        aliases: &["REDIS_URL"],
        example: Some("\"redis://cache.internal:6379/0\""),
        ..setting(
            "redis.url",
            Kind::String,
            None,
            "Redis for the session fast path: `redis://` or `rediss://` (TLS), optionally `redis://user:password@host:port/db`. Unset: SQL only. Redis is never the only copy: when it fails, SQL serves.",
        )
    },
    Setting {
        aliases: &["REDIS_PASSWORD"],
        secret: true,
        ..setting("redis.password", Kind::String, None, "Redis password (or ACL password), if not in the URL.")
    },
    setting(
        "redis.key_prefix",
        Kind::String,
        Some("\"{env}:gatehouse:\""),
        "Prefix of every Redis key; `{env}` becomes the run mode. Lets several deployments share one Redis.",
    ),
    setting(
        "redis.timeout_ms",
        Kind::Integer,
        Some("250"),
        "Longest a Redis call may take before Gatehouse falls back to SQL for it.",
    ),
    setting("redis.cluster", Kind::Bool, Some("false"), "Treat redis.url as a seed node of a Redis Cluster."),
    Setting {
        example: Some("\"/etc/gatehouse/redis-ca.pem\""),
        ..setting(
            "redis.tls_ca_file",
            Kind::String,
            None,
            "PEM file of the private CA that signed Redis's certificate, for `rediss://`. Unset: the system's trusted roots.",
        )
    },
    setting(
        "redis.session_cache_ttl_secs",
        Kind::Integer,
        Some("300"),
        "How long a session stays cached in Redis before it is read from SQL again.",
    ),
    Setting {
        example: Some("true"),
        ..setting(
            "cookies.secure",
            Kind::Bool,
            None,
            "Mark cookies Secure (HTTPS only). Defaults to true in production, where false is refused, and false in development.",
        )
    },
    Setting {
        example: Some("\"example.com\""),
        ..setting(
            "cookies.domain",
            Kind::String,
            None,
            "Domain attribute for cookies, to share them with sibling subdomains. Unset means host-only cookies.",
        )
    },
    setting("session.cookie_name", Kind::String, Some("\"gatehouse_session\""), "Name of the session cookie."),
    setting(
        "session.idle_timeout_secs",
        Kind::Integer,
        Some("604800"),
        "A session unused for this long ends (sliding; refreshed at most once a minute). Default 7 days.",
    ),
    setting(
        "session.absolute_lifetime_secs",
        Kind::Integer,
        Some("2592000"),
        "A session ends this long after sign-in, however active. Default 30 days.",
    ),
    setting(
        "session.binding",
        Kind::Choice(&["off", "user_agent", "user_agent_and_ip"]),
        Some("\"off\""),
        "Tie a session to the client that created it. A mismatch ends the session (IPs compared by /24 for IPv4, /64 for IPv6).",
    ),
    setting(
        "session.reauth_window_secs",
        Kind::Integer,
        Some("300"),
        "How long after a sign-in or a step-up (POST /v1/me/reauthenticate) sensitive actions need no new proof: adding or removing a second factor, setting a first password, changing the email address without the password, erasing the account. Default 5 minutes.",
    ),
    setting(
        "session.local_cache",
        Kind::Bool,
        Some("true"),
        "Keep recently checked sessions in process, so most requests need no network round trip. Coherent across instances: every change is read from the SQL invalidation log (and pushed by PostgreSQL NOTIFY), so a revoked session is refused everywhere within session.invalidation_poll_ms. See docs/operations.md.",
    ),
    setting(
        "session.local_cache_entries",
        Kind::Integer,
        Some("10000"),
        "Sessions kept in process at most (the least used go first): about 0.6 KiB each of their own, up to 3.6 KiB of process growth each with the database's caches and the allocator (docs/benchmarks.md). Sessions beyond it are read from Redis or SQL as without the cache.",
    ),
    setting(
        "session.local_cache_ttl_secs",
        Kind::Integer,
        Some("60"),
        "An in-process entry is read again from Redis or SQL after this long, as a second line of defence behind the invalidation log.",
    ),
    setting(
        "session.invalidation_poll_ms",
        Kind::Integer,
        Some("100"),
        "How often each instance reads the session invalidation log when nothing notifies it. It bounds how long any instance can serve a session revoked elsewhere, whatever Redis does.",
    ),
    setting(
        "session.when_log_unreadable",
        Kind::Choice(&["serve", "refuse"]),
        Some("\"serve\""),
        "While the invalidation log cannot be read (the database is unreachable): `serve` keeps serving cached sessions, so a database outage signs no one out, though changes made meanwhile on an instance that can reach it are not seen; `refuse` reads every session from SQL, which answers 503 until it is back. /health says how stale the log is.",
    ),
    setting(
        "tokens.access_ttl_secs",
        Kind::Integer,
        Some("600"),
        "Lifetime of access tokens (JWTs) from POST /v1/token. Default 10 minutes.",
    ),
    setting(
        "tokens.algorithm",
        Kind::Choice(&["ES256", "EdDSA"]),
        Some("\"ES256\""),
        "Signature algorithm for new signing keys. ES256 has the widest library support.",
    ),
    Setting {
        example: Some("\"https://api.example.com\""),
        ..setting(
            "tokens.audience",
            Kind::String,
            None,
            "The `aud` claim of access tokens. Defaults to public_url; the issuer (`iss`) is always public_url.",
        )
    },
    setting(
        "api_keys.cache_ttl_secs",
        Kind::Integer,
        Some("5"),
        "How long an instance remembers a valid service API key, so service calls skip the database. A key revoked elsewhere (another instance, the CLI) keeps working here for up to this long; 0 checks the database on every call.",
    ),
    setting(
        "audit.retention_days",
        Kind::Integer,
        Some("400"),
        "Audit events older than this many days are deleted by the hourly housekeeping (instances that run the worker); each deletion is itself audited with its count.",
    ),
    setting(
        "password.argon2_memory_kib",
        Kind::Integer,
        Some("19456"),
        "argon2id memory cost in KiB. Production refuses less than OWASP's minimum (19456 KiB with 2 iterations).",
    ),
    setting("password.argon2_iterations", Kind::Integer, Some("2"), "argon2id time cost (passes over memory)."),
    setting("password.argon2_parallelism", Kind::Integer, Some("1"), "argon2id lanes per hash."),
    setting(
        "password.queue_secs",
        Kind::Integer,
        Some("2"),
        "How much password hashing may wait for a thread, in seconds of work at the rate measured at start (one hash is timed then). Past it, signup, login, password change and reset answer 503 `overloaded` at once, with Retry-After, instead of queueing until the request timeout.",
    ),
    setting(
        "password.breached_check",
        Kind::Choice(&["off", "api", "file"]),
        None,
        "Refuse new passwords (signup, change, reset) found in a breach corpus, 422 `password_breached`: `api` asks a k-anonymity range API in the format of Have I Been Pwned's Pwned Passwords (only the first 5 hex characters of the password's SHA-1 leave the machine); `file` searches a local sorted file of that service's `HASH:COUNT` lines; `off` checks only the common-password list. Defaults to `api` in production and `off` in development. A corpus that cannot answer never blocks a signup: the password is accepted and /health shows `breached_passwords` degraded.",
    ),
    setting(
        "password.breached_api_url",
        Kind::String,
        Some("\"https://api.pwnedpasswords.com\""),
        "The range API's base URL (`breached_check = \"api\"`); `GET {url}/range/{first 5 hex of SHA-1}` answers `SUFFIX:COUNT` lines.",
    ),
    setting(
        "password.breached_api_timeout_ms",
        Kind::Integer,
        Some("1000"),
        "How long a range lookup may take before the password is accepted without it.",
    ),
    Setting {
        example: Some("\"/var/lib/gatehouse/pwned-passwords-sha1-ordered-by-hash.txt\""),
        ..setting(
            "password.breached_file",
            Kind::String,
            None,
            "The corpus file for `breached_check = \"file\"`: upper-case SHA-1 hex and a count per line (`HASH:COUNT`), sorted by hash, as the service's downloader writes it. Searched in place, never loaded into memory.",
        )
    },
    setting(
        "rate_limit.enabled",
        Kind::Bool,
        Some("true"),
        "Apply the rate-limit policies to their routes. The decision API works either way.",
    ),
    setting(
        "rate_limit.failure_mode",
        Kind::Choice(&["fallback", "open", "closed"]),
        Some("\"fallback\""),
        "When Redis cannot decide: `fallback` decides in process (limits hold per instance), `open` allows, `closed` refuses.",
    ),
    setting(
        "rate_limit.max_local_keys",
        Kind::Integer,
        Some("100000"),
        "Most keys the in-process limiter holds; idle keys are dropped first.",
    ),
    Setting {
        example: Some("{ login_account = { limit = 5, period_secs = 900, burst = 5, key = [\"account\"] } }"),
        ..setting(
            "rate_limit.policies",
            Kind::Table,
            None,
            "Policies by name, over the built-in ones (signup_ip, login_ip, login_account, password_reset_ip, password_reset_account, magic_link_ip, magic_link_account, verification_ip, verification_account, oauth_ip). Fields: limit, period_secs, burst (default limit), key (ip, user, account, route, api_key), enabled.",
        )
    },
    setting(
        "jobs.enabled",
        Kind::Bool,
        Some("true"),
        "Run the job worker (email, webhooks) in this instance. Instances with it off only enqueue; at least one instance must run it.",
    ),
    setting("jobs.concurrency", Kind::Integer, Some("16"), "Jobs this instance runs at once."),
    setting(
        "jobs.lease_secs",
        Kind::Integer,
        Some("60"),
        "How long a claimed job stays leased without a heartbeat (heartbeats come every third of it). A job whose worker died runs again after this long.",
    ),
    setting(
        "jobs.poll_interval_ms",
        Kind::Integer,
        Some("1000"),
        "How often the worker looks for due jobs when nothing woke it (jobs enqueued by other instances, retries coming due).",
    ),
    setting(
        "jobs.retention_secs",
        Kind::Integer,
        Some("604800"),
        "Succeeded jobs and finished webhook deliveries are deleted this long after they finish (hourly, by instances that run the worker; expired sessions and links go too). Dead jobs stay until retried. Default 7 days.",
    ),
    setting(
        "email.provider",
        Kind::Choice(&["console", "http", "smtp"]),
        Some("\"console\""),
        "How email is sent: `console` logs each email with its links (development only; refused in production), `http` posts to an email API in Resend's shape, `smtp` uses an SMTP server.",
    ),
    setting(
        "email.from",
        Kind::String,
        Some("\"Gatehouse <no-reply@localhost>\""),
        "The From address: `address@example.com` or `Name <address@example.com>`.",
    ),
    setting(
        "email.app_name",
        Kind::String,
        Some("\"Gatehouse\""),
        "The product name the emails and the hosted pages show.",
    ),
    Setting {
        example: Some("\"/etc/gatehouse/templates\""),
        ..setting(
            "email.templates_dir",
            Kind::String,
            None,
            "Folder whose files replace the built-in templates: `<template>.subject.txt`, `<template>.txt`, `<template>.html` for verify_email, reset_password, magic_link and invitation, and the notices mfa_disabled and recovery_code_used. Missing files keep the built-in ones.",
        )
    },
    Setting {
        example: Some("\"https://app.example.com/verify-email\""),
        ..setting(
            "email.verify_email_url",
            Kind::String,
            None,
            "The page a verification link opens; `?token=…` (and the `return_to` it leads on to, if any) is appended. Defaults to the hosted page, public_url + /verify-email; an app's own page posts the token to /v1/email/verify.",
        )
    },
    Setting {
        example: Some("\"https://app.example.com/reset-password\""),
        ..setting(
            "email.reset_password_url",
            Kind::String,
            None,
            "The page a password-reset link opens, with `?token=…` (and `return_to`). Defaults to the hosted page, public_url + /reset-password; an app's own page posts the token and the new password to /v1/password/reset.",
        )
    },
    Setting {
        example: Some("\"https://app.example.com/magic-link\""),
        ..setting(
            "email.magic_link_url",
            Kind::String,
            None,
            "The page a sign-in link opens, with `?token=…` (and `return_to`). Defaults to the hosted page, public_url + /magic-link; an app's own page posts the token to /v1/magic-link/verify.",
        )
    },
    Setting {
        example: Some("\"https://app.example.com/invitation\""),
        ..setting(
            "email.invitation_url",
            Kind::String,
            None,
            "The page a workspace invitation opens, with `?token=…`. Defaults to the hosted page, public_url + /invitation; an app's own page posts the token to /v1/invitations/accept for a signed-in user.",
        )
    },
    Setting {
        example: Some("\"https://app.example.com/email-change\""),
        ..setting(
            "email.email_change_url",
            Kind::String,
            None,
            "The page the link confirming a new email address opens (mailed to the new address), with `?token=…`. Defaults to the hosted page, public_url + /email-change; an app's own page posts the token to /v1/email/change/confirm.",
        )
    },
    Setting {
        example: Some("\"https://app.example.com/email-change/undo\""),
        ..setting(
            "email.email_change_undo_url",
            Kind::String,
            None,
            "The page the link undoing an email change opens (mailed to the old address, good for 7 days), with `?token=…`. Defaults to the hosted page, public_url + /email-change/undo; an app's own page posts the token to /v1/email/change/undo.",
        )
    },
    Setting {
        example: Some("\"https://app.example.com/settings/security\""),
        ..setting(
            "email.account_url",
            Kind::String,
            None,
            "Where a new-device notice sends the person to end sessions and change the password. Defaults to the hosted account page, public_url + /account.",
        )
    },
    Setting {
        example: Some("\"https://app.example.com/forgot-password\""),
        ..setting(
            "email.forgot_password_url",
            Kind::String,
            None,
            "Where a password-changed notice sends a person who did not make the change. Defaults to the hosted page, public_url + /forgot-password.",
        )
    },
    setting(
        "email.new_device_notice",
        Kind::Bool,
        Some("true"),
        "Mail a notice when an account signs in from a device it has not used before (recognised by a long-lived device cookie, else by user agent and network). Not sent for the sign-in that follows signup, and at most once per device.",
    ),
    setting(
        "email.require_verified",
        Kind::Bool,
        Some("false"),
        "Refuse login (403 `email_not_verified`) until the account's email is verified; signup then creates the account without signing in.",
    ),
    setting("email.verification_ttl_secs", Kind::Integer, Some("86400"), "How long a verification link works."),
    setting("email.reset_ttl_secs", Kind::Integer, Some("3600"), "How long a password-reset link works."),
    setting("email.magic_link_ttl_secs", Kind::Integer, Some("900"), "How long a sign-in link works."),
    setting(
        "email.timeout_secs",
        Kind::Integer,
        Some("15"),
        "Longest a provider may take to accept one email before the attempt counts as failed and is retried.",
    ),
    setting(
        "email.http_base_url",
        Kind::String,
        Some("\"https://api.resend.com\""),
        "Base URL of the email API (`http` provider); Gatehouse posts to `<base>/emails` with a Bearer key.",
    ),
    Setting {
        secret: true,
        ..setting("email.http_api_key", Kind::String, None, "API key of the email API (`http` provider).")
    },
    Setting {
        example: Some("\"smtp.example.com\""),
        ..setting("email.smtp_host", Kind::String, None, "SMTP server host (`smtp` provider).")
    },
    setting(
        "email.smtp_port",
        Kind::Integer,
        None,
        "SMTP server port. Defaults to 587 for starttls, 465 for tls and 25 for none.",
    ),
    setting(
        "email.smtp_tls",
        Kind::Choice(&["starttls", "tls", "none"]),
        Some("\"starttls\""),
        "`starttls` upgrades a plain connection and refuses servers that cannot; `tls` is implicit TLS (SMTPS); `none` sends in clear text (a relay on the same host only).",
    ),
    setting("email.smtp_username", Kind::String, None, "SMTP user name, when the server requires authentication."),
    Setting { secret: true, ..setting("email.smtp_password", Kind::String, None, "SMTP password.") },
    Setting {
        example: Some("\"/etc/gatehouse/smtp-ca.pem\""),
        ..setting(
            "email.smtp_tls_ca_file",
            Kind::String,
            None,
            "PEM file of a private CA that signed the SMTP server's certificate. Unset: the system's trusted roots.",
        )
    },
    setting(
        "webhooks.timeout_secs",
        Kind::Integer,
        Some("15"),
        "Longest a webhook request may take (connecting included) before the attempt counts as a `timeout` failure.",
    ),
    setting(
        "webhooks.retry_schedule",
        Kind::StringList,
        Some("[\"5s\", \"5m\", \"30m\", \"2h\", \"5h\", \"10h\", \"10h\"]"),
        "The wait after each failed delivery attempt (`s`, `m`, `h`, `d`); after the last one the delivery has failed. A receiver's longer `Retry-After` is honoured, up to a day.",
    ),
    setting(
        "webhooks.allow_private_destinations",
        Kind::Bool,
        Some("false"),
        "Let production deliver to loopback, private and link-local addresses (checked on the resolved address of every attempt). Development always allows them.",
    ),
    setting(
        "webhooks.disable_after_secs",
        Kind::Integer,
        Some("432000"),
        "An endpoint whose deliveries have failed without a success for this long is disabled (with an audit event). Default 5 days.",
    ),
    setting(
        "webhooks.secret_rotation_grace_secs",
        Kind::Integer,
        Some("86400"),
        "After a secret rotation, how long the previous secret keeps signing beside the new one.",
    ),
    Setting {
        example: Some(
            "{ corp = { kind = \"oidc\", issuer = \"https://login.example.com\", client_id = \"gatehouse\", client_secret = \"<secret>\" } }",
        ),
        fields: PROVIDER_FIELDS,
        ..setting(
            "oauth.providers",
            Kind::Table,
            None,
            "Sign-in providers, one `[oauth.providers.NAME]` table each; NAME (a-z, 0-9, - and _) is the provider's name in every URL. In the environment, the whole document as TOML. Fields below.",
        )
    },
    Setting {
        example: Some("[{ host = \"admin.example.com\", path = \"/\", require = \"signed_in\" }]"),
        ..setting(
            "forward_auth.rules",
            Kind::TableList,
            None,
            "Access rules for /v1/forward-auth, one `[[forward_auth.rules]]` table each: `host` (exact, or `*.example.com` for subdomains), `path` (a prefix, default `/`), `require` (`public`, `signed_in`, `verified_email`, `mfa` (a session signed in with a second factor), `email_domain:DOMAIN` or `role:ROLE`, at least that role in the session's active workspace) and optional `methods`. The longest matching path wins, then an exact host; no matching rule denies. Browsers are sent back to protected hosts after sign-in. See docs/forward-auth.md.",
        )
    },
    setting(
        "forward_auth.user_header",
        Kind::String,
        Some("\"Remote-User\""),
        "The header that carries the signed-in user's id to the app.",
    ),
    setting(
        "forward_auth.email_header",
        Kind::String,
        Some("\"Remote-Email\""),
        "The header that carries the user's email address.",
    ),
    setting(
        "forward_auth.name_header",
        Kind::String,
        Some("\"Remote-Name\""),
        "The header that carries the user's name (empty when they gave none).",
    ),
    setting(
        "forward_auth.session_header",
        Kind::String,
        Some("\"X-Gatehouse-Session\""),
        "The header that carries the session's id.",
    ),
    setting(
        "forward_auth.groups_header",
        Kind::String,
        Some("\"Remote-Groups\""),
        "The header that carries the user's role (`member`, `admin` or `owner`) in the session's active workspace; empty when none is chosen.",
    ),
    setting(
        "forward_auth.workspace_header",
        Kind::String,
        Some("\"X-Gatehouse-Workspace\""),
        "The header that carries the id of the session's active workspace; empty when none is chosen.",
    ),
    setting(
        "pages.enabled",
        Kind::Bool,
        Some("true"),
        "Serve the hosted pages (/login, /signup, /account, the email-link pages). Off, only the JSON API is served and the email.*_url settings should point at the app's own pages.",
    ),
    Setting {
        example: Some("\"/etc/gatehouse/pages\""),
        ..setting(
            "pages.templates_dir",
            Kind::String,
            None,
            "Folder whose files replace the built-in page templates one by one (login.html, account.html, gatehouse.css, text.json with the wording, …; see docs/pages.md). A template that does not compile is refused at start.",
        )
    },
    Setting {
        example: Some("\"https://example.com/logo.svg\""),
        ..setting(
            "pages.logo_url",
            Kind::String,
            None,
            "A logo shown above each page instead of the product name (email.app_name): an https URL, or a path on Gatehouse. Its origin is added to the pages' Content-Security-Policy.",
        )
    },
    setting(
        "pages.accent_color",
        Kind::String,
        Some("\"#2f5bd3\""),
        "The pages' accent colour (buttons, links, focus ring), as #rgb or #rrggbb; white text sits on it, so choose a dark one.",
    ),
    Setting {
        example: Some("\"support@example.com\""),
        ..setting("pages.support_email", Kind::String, None, "An address for help, shown at the foot of each page.")
    },
    setting(
        "passkeys.enabled",
        Kind::Choice(&["auto", "on", "off"]),
        Some("\"auto\""),
        "Offer passkeys (WebAuthn). `auto` offers them when browsers would accept the relying party: a domain name (not an IP address) as `passkeys.rp_id` and https origins (or http on localhost); the development default public_url http://127.0.0.1:8080 does not, a public_url of http://localhost:8080 does. `on` refuses to start when they would not. See docs/second-factors.md.",
    ),
    Setting {
        example: Some("\"example.com\""),
        ..setting(
            "passkeys.rp_id",
            Kind::String,
            None,
            "The WebAuthn relying party id: a domain name that every origin is on or under. Defaults to public_url's host. A passkey works only for the id it was made for, so changing it strands existing passkeys.",
        )
    },
    Setting {
        example: Some("[\"https://auth.example.com\"]"),
        ..setting(
            "passkeys.origins",
            Kind::StringList,
            None,
            "The origins (scheme://host[:port]) whose pages may use passkeys. Defaults to public_url's origin.",
        )
    },
    setting(
        "log.level",
        Kind::String,
        Some("\"info\""),
        "Log filter: a level (`info`) or tracing directives (`info,gatehouse=debug`). `RUST_LOG` overrides it.",
    ),
    setting(
        "log.format",
        Kind::Choice(&["auto", "json", "text"]),
        Some("\"auto\""),
        "Log format. `auto` is JSON lines in production and readable text in development.",
    ),
];

pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_examples_are_valid_toml_of_their_kind() {
        for setting in SETTINGS {
            for literal in [setting.default, setting.example].into_iter().flatten() {
                let parsed: toml::Table =
                    toml::from_str(&format!("v = {literal}")).unwrap_or_else(|e| panic!("{}: {e}", setting.key));
                let value = &parsed["v"];
                let fits = match setting.kind {
                    Kind::String => value.is_str(),
                    Kind::Integer => value.is_integer(),
                    Kind::Bool => value.is_bool(),
                    Kind::StringList => value.as_array().is_some_and(|a| a.iter().all(toml::Value::is_str)),
                    Kind::Choice(words) => value.as_str().is_some_and(|w| words.contains(&w)),
                    Kind::Table => value.is_table(),
                    Kind::TableList => value.as_array().is_some_and(|a| a.iter().all(toml::Value::is_table)),
                };
                assert!(fits, "{}: {literal} does not fit {:?}", setting.key, setting.kind);
            }
        }
    }

    #[test]
    fn each_section_is_one_contiguous_block() {
        // The example file writes a `[section]` header whenever the section changes, so a section
        // split in two would produce a duplicate table.
        let mut seen = Vec::new();
        for setting in SETTINGS {
            let section = setting.key.split_once('.').map(|(section, _)| section);
            if seen.last() != Some(&section) {
                assert!(!seen.contains(&section), "{section:?} is split by other sections");
                seen.push(section);
            }
        }
    }

    #[test]
    fn keys_are_unique_and_env_names_follow_the_rule() {
        let mut keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
        assert_eq!(find("database.url").map(Setting::env_var).as_deref(), Some("GATEHOUSE_DATABASE_URL"));
        assert_eq!(find("env").map(Setting::env_var).as_deref(), Some("GATEHOUSE_ENV"));
    }
}
