//! Config: defaults, layering, validation that reports every problem, generated docs that match.

use std::path::Path;

use gatehouse::config::{self, render};
use gatehouse_core::mode::RunMode;

use crate::support::{binary, env, random_master_secret};

fn workspace_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(name)
}

fn problems(vars: &[(&str, &str)]) -> Vec<String> {
    match config::load(None, &env(vars)) {
        Ok(_) => panic!("config {vars:?} was accepted"),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn zero_config_is_development_on_sqlite_at_8080() {
    let loaded = config::load(None, &env(&[])).expect("defaults are valid");
    let config = loaded.config;
    assert_eq!(config.mode, RunMode::Development);
    assert_eq!(config.database.url, "sqlite://gatehouse.db");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
    assert!(!config.cookies.secure);
    assert!(config.master_secret.is_none());
    assert_eq!(config.server.body_limit_bytes, 65536);
    assert!(loaded.warnings.is_empty());
}

#[test]
fn port_alone_changes_only_the_port() {
    let config = config::load(None, &env(&[("PORT", "9123")])).expect("valid").config;
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9123");
    assert_eq!(config.public_url.as_str(), "http://127.0.0.1:9123/");
    let both = env(&[("GATEHOUSE_SERVER_LISTEN", "0.0.0.0:80"), ("PORT", "9000")]);
    assert_eq!(config::load(None, &both).expect("valid").config.server.listen.to_string(), "0.0.0.0:9000");
    assert!(problems(&[("PORT", "http")])[0].starts_with("PORT (server.listen)"));
}

#[test]
fn environment_beats_file_beats_defaults_and_gatehouse_vars_beat_aliases() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(
        &file,
        "[database]\nurl = \"sqlite://from-file.db\"\nmax_connections = 3\n[server]\nbody_limit_bytes = 1024\n",
    )
    .expect("write");
    let from_file = config::load(Some(&file), &env(&[])).expect("valid").config;
    assert_eq!(from_file.database.url, "sqlite://from-file.db");
    assert_eq!(from_file.database.max_connections, 3);

    let vars = env(&[("DATABASE_URL", "sqlite://alias.db"), ("GATEHOUSE_SERVER_BODY_LIMIT_BYTES", "2048")]);
    let config = config::load(Some(&file), &vars).expect("valid").config;
    assert_eq!(config.database.url, "sqlite://alias.db");
    assert_eq!(config.server.body_limit_bytes, 2048);
    assert_eq!(config.database.max_connections, 3);

    let both = env(&[("DATABASE_URL", "sqlite://alias.db"), ("GATEHOUSE_DATABASE_URL", "sqlite://own.db")]);
    assert_eq!(config::load(None, &both).expect("valid").config.database.url, "sqlite://own.db");
}

#[test]
fn production_with_nothing_set_lists_every_missing_setting() {
    let found = problems(&[("GATEHOUSE_ENV", "production")]);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with("master_secret (GATEHOUSE_MASTER_SECRET): is required in production"));
    assert!(found[1].starts_with("public_url (GATEHOUSE_PUBLIC_URL): is required in production"));
    assert!(
        found[2].starts_with("email.provider (GATEHOUSE_EMAIL_PROVIDER): `console` only logs emails"),
        "{found:#?}"
    );
}

#[test]
fn production_refuses_http_insecure_cookies_and_weak_secrets() {
    let found = problems(&[
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_MASTER_SECRET", &"ab".repeat(32)),
        ("GATEHOUSE_PUBLIC_URL", "http://auth.example.com"),
        ("GATEHOUSE_COOKIES_SECURE", "false"),
        ("GATEHOUSE_EMAIL_PROVIDER", "http"),
        ("GATEHOUSE_EMAIL_HTTP_BASE_URL", "http://mail.example.com"),
    ]);
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(found.iter().any(|p| p.starts_with("GATEHOUSE_EMAIL_HTTP_BASE_URL (email.http_base_url): must use https")));
    assert!(found.iter().any(|p| p.starts_with("email.http_api_key (GATEHOUSE_EMAIL_HTTP_API_KEY): is required")));
    assert!(found.iter().any(|p| p.starts_with("GATEHOUSE_MASTER_SECRET (master_secret): is not random")));
    assert!(found.iter().any(|p| p.starts_with("GATEHOUSE_PUBLIC_URL (public_url): must use https")));
    assert!(found.iter().any(|p| p.starts_with("GATEHOUSE_COOKIES_SECURE (cookies.secure): must be true")));
    // The secret's value is never echoed back.
    assert!(!found.join("\n").contains(&"ab".repeat(32)));
}

#[test]
fn a_valid_production_config_turns_on_the_safeguards() {
    let secret = random_master_secret();
    let vars = env(&[
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_MASTER_SECRET", &secret),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com/"),
        ("GATEHOUSE_EMAIL_PROVIDER", "smtp"),
        ("GATEHOUSE_EMAIL_SMTP_HOST", "smtp.example.com"),
    ]);
    let config = config::load(None, &vars).expect("valid").config;
    assert_eq!(config.mode, RunMode::Production);
    assert!(
        matches!(
            config.email.provider,
            config::EmailProviderConfig::Smtp { port: 587, tls: config::SmtpTls::StartTls, .. }
        ),
        "{:?}",
        config.email.provider
    );
    assert_eq!(config.email.reset_password_url.as_str(), "https://auth.example.com/reset-password");
    assert!(config.cookies.secure);
    assert_eq!(config.log.format, config::LogFormat::Json);
    assert_eq!(config.public_url.as_str(), "https://auth.example.com/");
}

#[test]
fn every_bad_value_is_reported_at_once() {
    let found = problems(&[
        ("GATEHOUSE_SERVER_LISTEN", "localhost"),
        ("GATEHOUSE_SERVER_BODY_LIMIT_BYTES", "lots"),
        ("GATEHOUSE_DATABASE_URL", "mysql://db/x"),
        ("GATEHOUSE_DATABASE_MIN_CONNECTIONS", "20"),
        ("GATEHOUSE_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, not-a-net"),
        ("GATEHOUSE_SERVER_CORS_ALLOWED_ORIGINS", "*,https://app.example.com/path"),
        ("GATEHOUSE_LOG_FORMAT", "xml"),
        ("GATEHOUSE_ENV", "staging"),
    ]);
    let text = found.join("\n");
    for expected in [
        "GATEHOUSE_SERVER_LISTEN (server.listen): `localhost` is not an IP address and port",
        "GATEHOUSE_SERVER_BODY_LIMIT_BYTES (server.body_limit_bytes): must be a whole number",
        "GATEHOUSE_DATABASE_URL (database.url): must start with sqlite: or postgres:",
        "GATEHOUSE_DATABASE_MIN_CONNECTIONS (database.min_connections): must not exceed",
        "`not-a-net` is not an IP address or CIDR range",
        "`*` is refused",
        "`https://app.example.com/path` must be an origin only",
        "GATEHOUSE_LOG_FORMAT (log.format): must be one of: auto, json, text",
        "GATEHOUSE_ENV (env): must be one of: development, production",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(found.len(), 9, "{text}");
}

#[test]
fn unknown_file_keys_are_errors_and_unknown_variables_are_warnings() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, "[database]\nurll = \"sqlite://x.db\"\n[server]\nlisten = 8080\n").expect("write");
    let found = match config::load(Some(&file), &env(&[])) {
        Ok(_) => panic!("accepted"),
        Err(problems) => problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
    };
    assert!(found.contains("database.urll in ") && found.contains("is not a Gatehouse setting"), "{found}");
    assert!(found.contains("server.listen in ") && found.contains("must be a string"), "{found}");

    let loaded = config::load(None, &env(&[("GATEHOUSE_DATABSE_URL", "x"), ("GATEHOUSE_TEST_DATABASE_URL", "y")]))
        .expect("unknown variables do not invalidate the config");
    assert_eq!(loaded.warnings, vec!["GATEHOUSE_DATABSE_URL is set but is not a Gatehouse setting; it is ignored"]);
}

#[test]
fn certificate_files_that_are_missing_or_not_pem_are_problems_for_their_setting() {
    let dir = tempfile::tempdir().expect("dir");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "just text").expect("write");
    let not_pem = not_pem.display().to_string();
    let smtp = [("GATEHOUSE_EMAIL_PROVIDER", "smtp"), ("GATEHOUSE_EMAIL_SMTP_HOST", "mail.example.com")];
    for (key, extra) in [
        ("redis.tls_ca_file", &[("GATEHOUSE_REDIS_URL", "rediss://127.0.0.1:6380")][..]),
        ("email.smtp_tls_ca_file", &smtp[..]),
    ] {
        let variable = format!("GATEHOUSE_{}", key.replace('.', "_").to_uppercase());
        for (file, expected) in
            [(not_pem.as_str(), "holds no PEM certificate"), ("/nonexistent/ca.pem", "cannot be read")]
        {
            let mut vars = extra.to_vec();
            vars.push((variable.as_str(), file));
            let problems = config::load(None, &env(&vars)).expect_err("refused");
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            assert!(text.iter().any(|p| p.contains(key) && p.contains(expected)), "{key} {file}: {text:?}");
        }
    }
}

#[test]
fn a_missing_or_broken_file_is_a_problem_not_a_panic() {
    let missing = config::load(Some(Path::new("/nonexistent/gatehouse.toml")), &env(&[])).expect_err("missing file");
    assert!(missing[0].to_string().contains("cannot be read"));
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, "[server\nlisten = ").expect("write");
    let broken = config::load(Some(&file), &env(&[])).expect_err("broken file");
    assert!(broken[0].to_string().contains("is not valid TOML"));
}

#[test]
fn the_committed_example_is_what_the_command_prints_and_it_loads() {
    let committed = std::fs::read_to_string(workspace_file("gatehouse.example.toml")).expect("gatehouse.example.toml");
    assert_eq!(committed, render::example(), "regenerate with `gatehouse config example > gatehouse.example.toml`");
    let loaded = config::load(Some(&workspace_file("gatehouse.example.toml")), &env(&[])).expect("example loads");
    assert_eq!(loaded.config.mode, RunMode::Development);
}

#[test]
fn the_configuration_table_is_generated_from_the_schema() {
    let readme = std::fs::read_to_string(workspace_file("docs/configuration.md")).expect("docs/configuration.md");
    let start =
        readme.find("<!-- config-table:start -->\n").expect("start marker") + "<!-- config-table:start -->\n".len();
    let end = readme.find("<!-- config-table:end -->").expect("end marker");
    assert_eq!(
        &readme[start..end],
        render::markdown_table(),
        "regenerate with `gatehouse config example --format markdown`"
    );
}

#[test]
fn config_check_redacts_secrets_and_url_passwords() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = random_master_secret();
    let output = binary::command(
        dir.path(),
        &[
            ("GATEHOUSE_MASTER_SECRET", &secret),
            ("DATABASE_URL", "postgres://app:hunter2-db-password@db.internal:5432/gatehouse"),
        ],
    )
    .args(["config", "check"])
    .output()
    .expect("run config check");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains(&secret) && !stdout.contains("hunter2"), "{stdout}");
    assert!(stdout.contains(r#"master_secret = "<redacted>"  # GATEHOUSE_MASTER_SECRET"#), "{stdout}");
    assert!(
        stdout.contains(r#"url = "postgres://app:<redacted>@db.internal:5432/gatehouse"  # DATABASE_URL"#),
        "{stdout}"
    );
    assert!(stdout.contains(r#"public_url = "http://127.0.0.1:8080"  # derived"#), "{stdout}");
}

#[test]
fn invalid_config_exits_2_with_every_problem_in_one_message() {
    let dir = tempfile::tempdir().expect("dir");
    let output = binary::command(dir.path(), &[("GATEHOUSE_ENV", "production")]).arg("serve").output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("gatehouse: the configuration is invalid (3 problems):"), "{stderr}");
    assert!(stderr.contains("GATEHOUSE_MASTER_SECRET") && stderr.contains("GATEHOUSE_PUBLIC_URL"), "{stderr}");
    assert!(stderr.contains("GATEHOUSE_EMAIL_PROVIDER"), "{stderr}");
    assert!(!dir.path().join("gatehouse.db").exists(), "nothing may be created before the config is valid");
}

#[test]
fn rate_limit_policies_merge_over_the_built_ins_and_bad_ones_are_named() {
    let policies = "login_ip = { limit = 3, period_secs = 60 }\nsignup_ip = { enabled = false }\n\
                    uploads = { limit = 10, period_secs = 60, burst = 2, key = [\"api_key\", \"route\"] }";
    let config = config::load(None, &env(&[("GATEHOUSE_RATE_LIMIT_POLICIES", policies)])).expect("valid").config;
    let by_name = &config.rate_limit.policies;
    assert_eq!((by_name["login_ip"].limit, by_name["login_ip"].burst), (3, 3), "a new limit brings its burst");
    assert_eq!(by_name["login_account"].limit, 10, "untouched built-ins stay");
    assert!(!by_name.contains_key("signup_ip"), "a built-in can be switched off");
    assert_eq!(by_name["uploads"].burst, 2);

    let found = problems(&[(
        "GATEHOUSE_RATE_LIMIT_POLICIES",
        "a = { limit = 0, period_secs = 1, key = [\"ip\"] }\nb = { limit = 1, period_secs = 1, key = [\"moon\"] }\n\
         c = { limit = 1, period_secs = 1, key = [\"ip\"], colour = \"red\" }\nd = { limit = 1 }",
    )]);
    let text = found.join("\n");
    for expected in [
        "policy `a`: `limit` must be",
        "policy `b`: `key` lists parts",
        "policy `c`: unknown field `colour`",
        "policy `d`: `period_secs` is required",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(problems(&[("GATEHOUSE_RATE_LIMIT_POLICIES", "not toml =")])[0].contains("must be a TOML table"));
}

#[test]
fn providers_come_from_a_file_or_the_environment_and_every_problem_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(
        &file,
        "[server]\nredirect_allowlist = [\"https://app.example.com/\"]\n\n\
         [oauth.providers.google]\nkind = \"google\"\nclient_id = \"id.apps.googleusercontent.com\"\n\
         client_secret = \"GOCSPX-real-looking\"\nscopes = [\"https://www.googleapis.com/auth/gmail.send\"]\n\n\
         [oauth.providers.corp]\nkind = \"oidc\"\nissuer = \"https://login.example.com\"\nclient_id = \"gh\"\n\
         client_secret = \"s3cret-value\"\nauth_method = \"client_secret_post\"\nlink_verified_email = true\n",
    )
    .expect("write");
    let config = config::load(Some(&file), &env(&[])).expect("valid").config;
    let names: Vec<&str> = config.oauth_providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["corp", "google"]);
    assert_eq!(config.oauth_providers[0].display_name, "corp");
    assert_eq!(config.oauth_providers[1].display_name, "Google");
    assert!(config.server.redirect_allowlist.check(Some("https://app.example.com/x")).is_ok());

    let from_env = env(&[(
        "GATEHOUSE_OAUTH_PROVIDERS",
        "github = { kind = \"github\", client_id = \"a\", client_secret = \"b-secret\" }",
    )]);
    let config = config::load(None, &from_env).expect("valid").config;
    assert_eq!(config.oauth_providers[0].kind, gatehouse_core::oauth::ProviderKind::Github);

    let bad = problems(&[
        (
            "GATEHOUSE_OAUTH_PROVIDERS",
            "Corp = { kind = \"oidc\" }\nx = { kind = \"saml\", client_id = \"a\", client_secret = \"b\", colour = 1 }\n\
             y = { kind = \"oidc\", client_id = \"a\", client_secret = \"b\" }\n\
             z = { kind = \"google\", client_id = \"a\", client_secret = \"b\", token_url = \"https://t\" }",
        ),
        ("GATEHOUSE_SERVER_REDIRECT_ALLOWLIST", "app.example.com,https://u:p@app.example.com/"),
    ])
    .join("\n");
    for expected in [
        "provider `Corp`: the name must be",
        "provider `x`: `kind` must be google, github or oidc",
        "provider `x`: `colour` is not a provider field",
        "provider `y`: `issuer` is required for kind oidc",
        "provider `z`: `token_url` is only for kind github",
        "`app.example.com` is not an absolute URL",
        "must not contain a user name or password",
    ] {
        assert!(bad.contains(expected), "{expected} in:\n{bad}");
    }
}

#[test]
fn production_refuses_placeholder_client_secrets_and_plain_http_issuers() {
    let secret = random_master_secret();
    let bad = problems(&[
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_MASTER_SECRET", &secret),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com"),
        (
            "GATEHOUSE_OAUTH_PROVIDERS",
            "corp = { kind = \"oidc\", issuer = \"http://login.example.com\", client_id = \"a\", client_secret = \"…\" }",
        ),
    ])
    .join("\n");
    assert!(bad.contains("`client_secret` is a placeholder"), "{bad}");
    assert!(bad.contains("`issuer` must be an https URL in production"), "{bad}");
    assert!(!bad.contains('…'), "the secret is not echoed: {bad}");
}

#[test]
fn a_previous_master_secret_needs_a_current_one_and_is_redacted() {
    let previous = random_master_secret();
    let bad = problems(&[("GATEHOUSE_MASTER_SECRET_PREVIOUS", &previous)]).join("\n");
    assert!(bad.contains("needs master_secret"), "{bad}");
    let dir = tempfile::tempdir().expect("dir");
    let current = random_master_secret();
    let providers = "corp = { kind = \"oidc\", issuer = \"https://login.example.com\", client_id = \"a\", client_secret = \"provider-secret-xyz\" }";
    let output = binary::command(
        dir.path(),
        &[
            ("GATEHOUSE_MASTER_SECRET", &current),
            ("GATEHOUSE_MASTER_SECRET_PREVIOUS", &previous),
            ("GATEHOUSE_OAUTH_PROVIDERS", providers),
        ],
    )
    .args(["config", "check"])
    .output()
    .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(!stdout.contains(&previous) && !stdout.contains(&current), "{stdout}");
    assert!(!stdout.contains("provider-secret-xyz"), "{stdout}");
    assert!(stdout.contains("login.example.com"), "the rest of the provider is shown: {stdout}");
}

#[test]
fn the_breached_password_check_defaults_by_mode_and_refuses_a_corpus_it_cannot_use() {
    let development = config::load(None, &env(&[])).expect("defaults").config;
    assert_eq!(development.breached, config::BreachedConfig::Off, "no network lookups in development by default");
    let asked = config::load(None, &env(&[("GATEHOUSE_PASSWORD_BREACHED_CHECK", "api")])).expect("api").config;
    match asked.breached {
        config::BreachedConfig::Api { url, timeout } => {
            assert_eq!(url.as_str(), "https://api.pwnedpasswords.com/");
            assert_eq!(timeout, std::time::Duration::from_secs(1));
        }
        other => panic!("{other:?}"),
    }
    let no_file = problems(&[("GATEHOUSE_PASSWORD_BREACHED_CHECK", "file")]);
    assert!(no_file.iter().any(|p| p.contains("password.breached_file") && p.contains("is required")), "{no_file:?}");
    let missing = problems(&[
        ("GATEHOUSE_PASSWORD_BREACHED_CHECK", "file"),
        ("GATEHOUSE_PASSWORD_BREACHED_FILE", "/nonexistent/pwned.txt"),
    ]);
    assert!(missing.iter().any(|p| p.contains("is not a readable file")), "{missing:?}");
    let bad_url = problems(&[
        ("GATEHOUSE_PASSWORD_BREACHED_CHECK", "api"),
        ("GATEHOUSE_PASSWORD_BREACHED_API_URL", "ftp://example.com"),
    ]);
    assert!(bad_url.iter().any(|p| p.contains("password.breached_api_url")), "{bad_url:?}");
    let unknown = problems(&[("GATEHOUSE_PASSWORD_BREACHED_CHECK", "maybe")]);
    assert!(unknown.iter().any(|p| p.contains("password.breached_check")), "{unknown:?}");
    let window = problems(&[("GATEHOUSE_SESSION_REAUTH_WINDOW_SECS", "5")]);
    assert!(window.iter().any(|p| p.contains("session.reauth_window_secs")), "{window:?}");
}
