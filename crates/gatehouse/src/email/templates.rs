//! Email templates: a subject, a plain-text body and an HTML body per link purpose and per
//! security notice, built into the binary and replaceable file by file from `email.templates_dir`.
//!
//! They are minijinja templates (the pages' engine): `{{ name }}` and the rest of Jinja's syntax,
//! with the values in [`PLACEHOLDERS`]. Each is rendered once with sample values when Gatehouse
//! starts, undefined values refused, so a template that names any other value, or does not
//! compile, stops the start rather than the first email. Values are escaped in HTML bodies;
//! subjects are one line.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use gatehouse_core::email::{LinkPurpose, Notice};
use gatehouse_http::templates::TemplateSet;
use minijinja::Value;

pub const PLACEHOLDERS: [&str; 10] =
    ["app_name", "name", "email", "link", "expires_in", "workspace", "new_email", "when", "device", "ip"];

/// What one email says, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The values a template may use.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Values<'a> {
    pub app_name: &'a str,
    /// The user's name, or a neutral greeting word when they gave none.
    pub name: &'a str,
    pub email: &'a str,
    pub link: &'a str,
    pub expires_in: &'a str,
    /// For an invitation, the workspace's name; empty otherwise.
    pub workspace: &'a str,
    /// For an email change and its undo: the address the link sets; empty otherwise.
    pub new_email: &'a str,
    /// For a notice: when the change happened (UTC), the device in words and its IP address.
    pub when: &'a str,
    pub device: &'a str,
    pub ip: &'a str,
}

#[derive(Debug)]
pub struct Templates(TemplateSet);

const PARTS: [&str; 3] = ["subject.txt", "txt", "html"];

const BUILTIN: &[(&str, &str)] = &[
    ("verify_email.subject.txt", include_str!("../../templates/email/verify_email.subject.txt")),
    ("verify_email.txt", include_str!("../../templates/email/verify_email.txt")),
    ("verify_email.html", include_str!("../../templates/email/verify_email.html")),
    ("reset_password.subject.txt", include_str!("../../templates/email/reset_password.subject.txt")),
    ("reset_password.txt", include_str!("../../templates/email/reset_password.txt")),
    ("reset_password.html", include_str!("../../templates/email/reset_password.html")),
    ("magic_link.subject.txt", include_str!("../../templates/email/magic_link.subject.txt")),
    ("magic_link.txt", include_str!("../../templates/email/magic_link.txt")),
    ("magic_link.html", include_str!("../../templates/email/magic_link.html")),
    ("invitation.subject.txt", include_str!("../../templates/email/invitation.subject.txt")),
    ("invitation.txt", include_str!("../../templates/email/invitation.txt")),
    ("invitation.html", include_str!("../../templates/email/invitation.html")),
    ("mfa_disabled.subject.txt", include_str!("../../templates/email/mfa_disabled.subject.txt")),
    ("mfa_disabled.txt", include_str!("../../templates/email/mfa_disabled.txt")),
    ("mfa_disabled.html", include_str!("../../templates/email/mfa_disabled.html")),
    ("recovery_code_used.subject.txt", include_str!("../../templates/email/recovery_code_used.subject.txt")),
    ("recovery_code_used.txt", include_str!("../../templates/email/recovery_code_used.txt")),
    ("recovery_code_used.html", include_str!("../../templates/email/recovery_code_used.html")),
    ("email_change.subject.txt", include_str!("../../templates/email/email_change.subject.txt")),
    ("email_change.txt", include_str!("../../templates/email/email_change.txt")),
    ("email_change.html", include_str!("../../templates/email/email_change.html")),
    ("email_change_undo.subject.txt", include_str!("../../templates/email/email_change_undo.subject.txt")),
    ("email_change_undo.txt", include_str!("../../templates/email/email_change_undo.txt")),
    ("email_change_undo.html", include_str!("../../templates/email/email_change_undo.html")),
    ("password_changed.subject.txt", include_str!("../../templates/email/password_changed.subject.txt")),
    ("password_changed.txt", include_str!("../../templates/email/password_changed.txt")),
    ("password_changed.html", include_str!("../../templates/email/password_changed.html")),
    ("new_device.subject.txt", include_str!("../../templates/email/new_device.subject.txt")),
    ("new_device.txt", include_str!("../../templates/email/new_device.txt")),
    ("new_device.html", include_str!("../../templates/email/new_device.html")),
    ("email_in_use.subject.txt", include_str!("../../templates/email/email_in_use.subject.txt")),
    ("email_in_use.txt", include_str!("../../templates/email/email_in_use.txt")),
    ("email_in_use.html", include_str!("../../templates/email/email_in_use.html")),
];

/// Which email: a link's (by purpose) or a notice's. Its name is the stem of its template files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Link(LinkPurpose),
    Notice(Notice),
}

impl Template {
    pub fn all() -> impl Iterator<Item = Template> {
        LinkPurpose::ALL.into_iter().map(Self::Link).chain(Notice::ALL.into_iter().map(Self::Notice))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link(purpose) => purpose.as_str(),
            Self::Notice(notice) => notice.as_str(),
        }
    }
}

fn file(template: Template, part: &str) -> String {
    format!("{}.{part}", template.as_str())
}

impl Templates {
    /// The built-in templates, with any file present in `dir` replacing its built-in twin (other
    /// files there are left alone).
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut overrides = BTreeMap::new();
        if let Some(dir) = dir {
            for (name, _) in BUILTIN {
                let path = dir.join(name);
                if path.exists() {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading the email template {}", path.display()))?;
                    overrides.insert((*name).to_owned(), text);
                }
            }
        }
        let set = TemplateSet::load(BUILTIN, overrides, &[]).map_err(|error| anyhow::anyhow!("{error}"))?;
        let sample = Values {
            app_name: "Gatehouse",
            name: "there",
            email: "ada@example.com",
            link: "https://example.com/",
            expires_in: "1 hour",
            workspace: "Acme",
            new_email: "ada@new.example.com",
            when: "2026-12-07 20:25 UTC",
            device: "Firefox on Linux",
            ip: "192.0.2.1",
        };
        let samples: Vec<(String, Value)> = Template::all()
            .flat_map(|template| PARTS.map(|part| (file(template, part), Value::from_serialize(&sample))))
            .collect();
        set.check(&samples).map_err(|error| {
            anyhow::anyhow!("{error}; the values a template may use are {}", PLACEHOLDERS.join(", "))
        })?;
        let templates = Self(set);
        for template in Template::all() {
            anyhow::ensure!(!templates.subject(template, &sample).is_empty(), "{} is empty", file(template, PARTS[0]));
        }
        Ok(templates)
    }

    fn part(&self, template: Template, part: &str, values: &Values<'_>) -> String {
        // Every template rendered with these values when it was loaded, so this cannot fail
        // short of a bug; an empty part is better than a lost email then.
        self.0.render(&file(template, part), Value::from_serialize(values)).unwrap_or_else(|error| {
            tracing::error!(%error, "an email template failed to render");
            String::new()
        })
    }

    /// The first non-empty line, with any line break a value brought in removed: a subject is one
    /// header line, and a value with a line break must not start another header.
    fn subject(&self, template: Template, values: &Values<'_>) -> String {
        let text = self.part(template, PARTS[0], values);
        let line = text.lines().find(|line| !line.trim().is_empty()).unwrap_or_default().trim().to_owned();
        line.replace(['\r', '\n'], " ")
    }

    pub fn render(&self, template: Template, values: &Values<'_>) -> Rendered {
        Rendered {
            subject: self.subject(template, values),
            text: self.part(template, PARTS[1], values),
            html: self.part(template, PARTS[2], values),
        }
    }
}

/// "24 hours", "1 hour", "15 minutes": how long a link lives, for the email's text.
pub fn describe_duration(duration: std::time::Duration) -> String {
    let minutes = duration.as_secs().div_ceil(60).max(1);
    let plural = |n: u64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if minutes.is_multiple_of(60 * 24) {
        plural(minutes / (60 * 24), "day")
    } else if minutes.is_multiple_of(60) {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            app_name: "Acme",
            name: "<Ada>",
            email: "ada@example.com",
            link: "https://app.example.com/verify-email?token=abc&x=1",
            expires_in: "1 hour",
            workspace: "<Acme Corp>",
            new_email: "ada@new.example.com",
            when: "2026-12-07 20:25 UTC",
            device: "Firefox on Linux",
            ip: "192.0.2.1",
        }
    }

    #[test]
    fn builtin_templates_fill_every_placeholder_and_escape_html() {
        let templates = Templates::load(None).expect("built-in templates are valid");
        for purpose in LinkPurpose::ALL {
            let email = templates.render(Template::Link(purpose), &values());
            assert!(email.subject.contains("Acme"), "{purpose:?}: {}", email.subject);
            assert!(email.text.contains("https://app.example.com/verify-email?token=abc&x=1"));
            assert!(email.html.contains("token=abc&amp;x=1"), "{}", email.html);
            // An invitation greets nobody by name (the invited person has none yet) and names the
            // workspace instead; the confirmation of a new address names that address.
            let (raw, escaped) = match purpose {
                LinkPurpose::Invitation => ("<Acme Corp>", "&lt;Acme Corp&gt;"),
                LinkPurpose::EmailChange => ("ada@new.example.com", "ada@new.example.com"),
                _ => ("<Ada>", "&lt;Ada&gt;"),
            };
            assert!(email.text.contains(raw), "plain text is not escaped");
            assert!(email.html.contains(escaped));
            assert!(!email.text.contains("{{") && !email.html.contains("{{"));
        }
    }

    #[test]
    fn a_folder_replaces_single_files_and_unknown_placeholders_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("magic_link.subject.txt"), "Sign in, {{ name }}\n").expect("write");
        let templates = Templates::load(Some(dir.path())).expect("valid override");
        let magic = Template::Link(LinkPurpose::MagicLink);
        assert_eq!(templates.render(magic, &values()).subject, "Sign in, <Ada>");
        assert!(templates.render(magic, &values()).text.contains("sign in to Acme"));

        std::fs::write(dir.path().join("verify_email.txt"), "Hi {{ password }}").expect("write");
        let error = Templates::load(Some(dir.path())).expect_err("unknown placeholder").to_string();
        assert!(error.contains("verify_email.txt") && error.contains("app_name, name"), "{error}");

        std::fs::write(dir.path().join("verify_email.txt"), "Hi {% if name %}").expect("write");
        let error = Templates::load(Some(dir.path())).expect_err("does not compile").to_string();
        assert!(error.contains("verify_email.txt"), "{error}");
    }

    #[test]
    fn a_line_break_in_a_value_cannot_add_a_header() {
        let templates = Templates::load(None).expect("templates");
        let values = Values { app_name: "Acme\r\nBcc: victim@example.com", ..values() };
        assert!(!templates.render(Template::Link(LinkPurpose::VerifyEmail), &values).subject.contains('\n'));
    }

    #[test]
    fn notices_name_the_account_and_link_only_to_fixed_pages() {
        let templates = Templates::load(None).expect("templates");
        for notice in Notice::ALL {
            let (link, pointed) = match notice {
                Notice::NewDevice => ("https://app.example.com/account", true),
                Notice::PasswordChanged => ("https://app.example.com/forgot-password", true),
                _ => ("", false),
            };
            let email = templates.render(Template::Notice(notice), &Values { link, ..values() });
            assert!(email.subject.contains("Acme") && !email.subject.is_empty(), "{}", email.subject);
            assert!(email.text.contains("ada@example.com") && email.html.contains("ada@example.com"));
            assert_eq!(email.text.contains(link) && email.html.contains("href"), pointed, "{notice:?}");
            assert!(!email.text.contains("token="), "a notice never carries a token");
            // A notice to an address no account has (email_in_use) greets nobody by name.
            if notice != Notice::EmailInUse {
                assert!(email.text.contains("<Ada>") && email.html.contains("&lt;Ada&gt;"), "{notice:?}");
            }
            if matches!(notice, Notice::NewDevice | Notice::PasswordChanged) {
                for said in ["2026-12-07 20:25 UTC", "Firefox on Linux", "192.0.2.1"] {
                    assert!(email.text.contains(said) && email.html.contains(said), "{notice:?} omits {said}");
                }
            }
        }
    }

    #[test]
    fn durations_read_naturally() {
        use std::time::Duration;
        assert_eq!(describe_duration(Duration::from_secs(86_400)), "1 day");
        assert_eq!(describe_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(describe_duration(Duration::from_secs(7200)), "2 hours");
        assert_eq!(describe_duration(Duration::from_secs(900)), "15 minutes");
        assert_eq!(describe_duration(Duration::from_secs(60)), "1 minute");
    }
}
