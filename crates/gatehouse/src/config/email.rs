//! The `[jobs]`, `[email]` and `[webhooks]` sections: the worker, and how email and webhooks go out.

use std::path::PathBuf;
use std::time::Duration;

use gatehouse_core::email::LinkLifetimes;

use super::{Reader, read_pem};

#[derive(Debug, Clone)]
pub struct JobsConfig {
    pub enabled: bool,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub retention: Duration,
}

/// A credential from the config: kept out of `Debug`, handed out only where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    pub(super) fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

#[derive(Debug, Clone)]
pub enum EmailProviderConfig {
    Console,
    Http {
        base_url: url::Url,
        api_key: Credential,
    },
    Smtp {
        host: String,
        port: u16,
        tls: SmtpTls,
        username: Option<String>,
        password: Option<Credential>,
        ca_pem: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub provider: EmailProviderConfig,
    /// A mailbox as `lettre` parses it: `a@example.com` or `Name <a@example.com>`.
    pub from: String,
    pub app_name: String,
    pub templates_dir: Option<PathBuf>,
    pub verify_email_url: url::Url,
    pub reset_password_url: url::Url,
    pub magic_link_url: url::Url,
    /// The page an invitation opens.
    pub invitation_url: url::Url,
    /// The pages the links of an email change open: confirm (new address) and undo (old one).
    pub email_change_url: url::Url,
    pub email_change_undo_url: url::Url,
    /// Where notices point: the account page (new device), the reset request page (password changed).
    pub account_url: url::Url,
    pub forgot_password_url: url::Url,
    pub new_device_notice: bool,
    pub require_verified: bool,
    pub link_lifetimes: LinkLifetimes,
    pub timeout: Duration,
}

pub(super) fn jobs_config(r: &mut Reader) -> Option<JobsConfig> {
    let enabled = r.bool("jobs.enabled");
    let concurrency = r.number::<usize>("jobs.concurrency", 1..=1024);
    let lease_secs = r.number::<u64>("jobs.lease_secs", 3..=3600);
    let poll_ms = r.number::<u64>("jobs.poll_interval_ms", 10..=600_000);
    let retention_secs = r.number::<u64>("jobs.retention_secs", 3600..=31_536_000);
    Some(JobsConfig {
        enabled: enabled?,
        concurrency: concurrency?,
        lease: Duration::from_secs(lease_secs?),
        poll_interval: Duration::from_millis(poll_ms?),
        retention: Duration::from_secs(retention_secs?),
    })
}

/// A page URL for links: an explicit http(s) URL, or `public_url` plus `default_path`.
fn link_page(r: &mut Reader, key: &'static str, public_url: Option<&url::Url>, default_path: &str) -> Option<url::Url> {
    match r.string(key) {
        Some(text) => match url::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() && url.fragment().is_none() => {
                Some(url)
            }
            _ => {
                r.problem(key, format!("`{text}` is not an http(s) URL without a fragment"));
                None
            }
        },
        None => {
            let base = public_url?.as_str().trim_end_matches('/');
            let derived = format!("{base}{default_path}");
            r.derive(key, toml::Value::String(derived.clone()));
            url::Url::parse(&derived).ok()
        }
    }
}

fn provider(r: &mut Reader, production: bool) -> Option<EmailProviderConfig> {
    match r.string("email.provider").as_deref() {
        Some("console") if production => {
            r.problem(
                "email.provider",
                "`console` only logs emails, links included; production needs `http` or `smtp`",
            );
            None
        }
        Some("http") => {
            let base = r.string("email.http_base_url").unwrap_or_default();
            let base_url = match url::Url::parse(&base) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
                _ => {
                    r.problem("email.http_base_url", format!("`{base}` is not an http(s) URL"));
                    None
                }
            };
            let insecure = production && base_url.as_ref().is_some_and(|url| url.scheme() != "https");
            if insecure {
                r.problem("email.http_base_url", "must use https in production: requests carry the API key");
            }
            let api_key = r.string("email.http_api_key");
            if api_key.is_none() {
                r.problem("email.http_api_key", "is required when email.provider is `http`");
            }
            if insecure {
                return None;
            }
            Some(EmailProviderConfig::Http { base_url: base_url?, api_key: Credential(api_key?) })
        }
        Some("smtp") => {
            let tls = match r.string("email.smtp_tls").as_deref() {
                Some("tls") => SmtpTls::Implicit,
                Some("none") => SmtpTls::None,
                _ => SmtpTls::StartTls,
            };
            let default_port = match tls {
                SmtpTls::StartTls => 587,
                SmtpTls::Implicit => 465,
                SmtpTls::None => 25,
            };
            let port = match r.value("email.smtp_port") {
                Some(_) => r.number::<u16>("email.smtp_port", 1..=65_535),
                None => Some(default_port),
            };
            let username = r.string("email.smtp_username");
            let password = r.string("email.smtp_password").map(Credential);
            if username.is_some() != password.is_some() {
                r.problem("email.smtp_username", "and email.smtp_password go together: set both or neither");
                return None;
            }
            let ca_pem = read_pem(r, "email.smtp_tls_ca_file").ok()?;
            let Some(host) = r.string("email.smtp_host").filter(|host| !host.trim().is_empty()) else {
                r.problem("email.smtp_host", "is required when email.provider is `smtp`");
                return None;
            };
            Some(EmailProviderConfig::Smtp { host, port: port?, tls, username, password, ca_pem })
        }
        _ => Some(EmailProviderConfig::Console),
    }
}

pub(super) fn email_config(r: &mut Reader, public_url: Option<&url::Url>, production: bool) -> Option<EmailConfig> {
    let provider = provider(r, production);
    let from = r.string("email.from").unwrap_or_default();
    let from_ok = from.parse::<lettre::message::Mailbox>().is_ok();
    if !from_ok {
        r.problem("email.from", format!("`{from}` is not an address such as `Example <no-reply@example.com>`"));
    }
    let app_name = r.string("email.app_name").unwrap_or_default();
    let templates_dir = r.string("email.templates_dir").map(PathBuf::from);
    if let Some(dir) = &templates_dir
        && !dir.is_dir()
    {
        r.problem("email.templates_dir", format!("`{}` is not a folder", dir.display()));
    }
    let verify_email_url = link_page(r, "email.verify_email_url", public_url, "/verify-email");
    let reset_password_url = link_page(r, "email.reset_password_url", public_url, "/reset-password");
    let magic_link_url = link_page(r, "email.magic_link_url", public_url, "/magic-link");
    let invitation_url = link_page(r, "email.invitation_url", public_url, "/invitation");
    let email_change_url = link_page(r, "email.email_change_url", public_url, "/email-change");
    let email_change_undo_url = link_page(r, "email.email_change_undo_url", public_url, "/email-change/undo");
    let account_url = link_page(r, "email.account_url", public_url, "/account");
    let forgot_password_url = link_page(r, "email.forgot_password_url", public_url, "/forgot-password");
    let new_device_notice = r.bool("email.new_device_notice");
    let require_verified = r.bool("email.require_verified");
    let verification_ttl = r.number::<u64>("email.verification_ttl_secs", 60..=2_592_000);
    let reset_ttl = r.number::<u64>("email.reset_ttl_secs", 60..=86_400);
    let magic_link_ttl = r.number::<u64>("email.magic_link_ttl_secs", 60..=86_400);
    let timeout = r.number::<u64>("email.timeout_secs", 1..=300);
    Some(EmailConfig {
        provider: provider?,
        from: from_ok.then_some(from)?,
        app_name,
        templates_dir,
        verify_email_url: verify_email_url?,
        reset_password_url: reset_password_url?,
        magic_link_url: magic_link_url?,
        invitation_url: invitation_url?,
        email_change_url: email_change_url?,
        email_change_undo_url: email_change_undo_url?,
        account_url: account_url?,
        forgot_password_url: forgot_password_url?,
        new_device_notice: new_device_notice?,
        require_verified: require_verified?,
        link_lifetimes: LinkLifetimes {
            verification: Duration::from_secs(verification_ttl?),
            reset: Duration::from_secs(reset_ttl?),
            magic_link: Duration::from_secs(magic_link_ttl?),
        },
        timeout: Duration::from_secs(timeout?),
    })
}

#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    pub timeout: Duration,
    pub schedule: Vec<Duration>,
    pub allow_private_destinations: bool,
    pub disable_after: Duration,
    pub rotation_grace: Duration,
}

/// `5s`, `30m`, `2h`, `1d`.
fn parse_wait(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(secs).map(Duration::from_secs)
}

pub(super) fn webhooks_config(r: &mut Reader, production: bool) -> Option<WebhooksConfig> {
    let timeout = r.number::<u64>("webhooks.timeout_secs", 1..=120);
    let mut schedule = Vec::new();
    for entry in r.list("webhooks.retry_schedule") {
        match parse_wait(&entry) {
            Some(wait) => schedule.push(wait),
            None => {
                r.problem("webhooks.retry_schedule", format!("`{entry}` is not a wait such as 5s, 30m, 2h or 1d"));
                return None;
            }
        }
    }
    let max = gatehouse_core::webhooks::MAX_DELIVERY_ATTEMPTS as usize - 1;
    if schedule.len() > max {
        r.problem("webhooks.retry_schedule", format!("may list at most {max} waits"));
        return None;
    }
    let allow_private = r.bool("webhooks.allow_private_destinations");
    let disable_after = r.number::<u64>("webhooks.disable_after_secs", 60..=31_536_000);
    let grace = r.number::<u64>("webhooks.secret_rotation_grace_secs", 0..=2_592_000);
    Some(WebhooksConfig {
        timeout: Duration::from_secs(timeout?),
        schedule,
        // Development points webhooks at an app on localhost.
        allow_private_destinations: allow_private? || !production,
        disable_after: Duration::from_secs(disable_after?),
        rotation_grace: Duration::from_secs(grace?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_with_their_units() {
        assert_eq!(parse_wait("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_wait(" 30m "), Some(Duration::from_secs(1800)));
        assert_eq!(parse_wait("10h"), Some(Duration::from_secs(36_000)));
        assert_eq!(parse_wait("1d"), Some(Duration::from_secs(86_400)));
        for bad in ["", "5", "m", "5 minutes", "-5s", "5w"] {
            assert_eq!(parse_wait(bad), None, "{bad:?}");
        }
    }
}
