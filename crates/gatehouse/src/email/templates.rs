//! Email templates: a subject, a plain-text body and an HTML body per link purpose, built into the
//! binary and replaceable file by file from `email.templates_dir`.
//!
//! Placeholders are `{{ name }}` with the names in [`PLACEHOLDERS`]. A template that names any
//! other is refused when Gatehouse starts, not when the first email goes out. Values are escaped
//! in HTML bodies; subjects are one line.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use gatehouse_core::email::LinkPurpose;

pub const PLACEHOLDERS: [&str; 5] = ["app_name", "name", "email", "link", "expires_in"];

/// What one email says, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The values a template may use.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    pub app_name: &'a str,
    /// The user's name, or a neutral greeting word when they gave none.
    pub name: &'a str,
    pub email: &'a str,
    pub link: &'a str,
    pub expires_in: &'a str,
}

impl Values<'_> {
    fn get(&self, key: &str) -> &str {
        match key {
            "app_name" => self.app_name,
            "name" => self.name,
            "email" => self.email,
            "link" => self.link,
            "expires_in" => self.expires_in,
            _ => "",
        }
    }
}

#[derive(Debug, Clone)]
struct Template {
    subject: String,
    text: String,
    html: String,
}

#[derive(Debug, Clone)]
pub struct Templates(HashMap<LinkPurpose, Template>);

fn builtin(purpose: LinkPurpose) -> [&'static str; 3] {
    match purpose {
        LinkPurpose::VerifyEmail => [
            include_str!("../../templates/email/verify_email.subject.txt"),
            include_str!("../../templates/email/verify_email.txt"),
            include_str!("../../templates/email/verify_email.html"),
        ],
        LinkPurpose::ResetPassword => [
            include_str!("../../templates/email/reset_password.subject.txt"),
            include_str!("../../templates/email/reset_password.txt"),
            include_str!("../../templates/email/reset_password.html"),
        ],
        LinkPurpose::MagicLink => [
            include_str!("../../templates/email/magic_link.subject.txt"),
            include_str!("../../templates/email/magic_link.txt"),
            include_str!("../../templates/email/magic_link.html"),
        ],
    }
}

/// Each `{{ key }}` in `template`, in order, as (byte range, key).
fn placeholders(template: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = template[from..].find("{{").map(|i| i + from) {
        let Some(end) = template[start..].find("}}").map(|i| i + start + 2) else { break };
        found.push((start..end, template[start + 2..end - 2].trim()));
        from = end;
    }
    found
}

fn check(template: &str, file: &str) -> anyhow::Result<()> {
    for (_, key) in placeholders(template) {
        anyhow::ensure!(
            PLACEHOLDERS.contains(&key),
            "{file}: `{{{{ {key} }}}}` is not a placeholder; use {}",
            PLACEHOLDERS.map(|p| format!("{{{{ {p} }}}}")).join(", ")
        );
    }
    Ok(())
}

fn fill(template: &str, values: &Values<'_>, escape: bool) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut last = 0;
    for (range, key) in placeholders(template) {
        out.push_str(&template[last..range.start]);
        let value = values.get(key);
        if escape {
            for c in value.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&#39;"),
                    other => out.push(other),
                }
            }
        } else {
            out.push_str(value);
        }
        last = range.end;
    }
    out.push_str(&template[last..]);
    out
}

impl Templates {
    /// The built-in templates, with any file present in `dir` replacing its built-in twin.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut all = HashMap::new();
        for purpose in LinkPurpose::ALL {
            let [mut subject, mut text, mut html] = builtin(purpose).map(str::to_owned);
            for (suffix, slot) in [("subject.txt", &mut subject), ("txt", &mut text), ("html", &mut html)] {
                let file = format!("{}.{suffix}", purpose.as_str());
                if let Some(dir) = dir {
                    let path = dir.join(&file);
                    if path.exists() {
                        *slot = std::fs::read_to_string(&path)
                            .with_context(|| format!("reading the email template {}", path.display()))?;
                    }
                }
                check(slot, &file)?;
            }
            let subject = subject.lines().find(|line| !line.trim().is_empty()).unwrap_or_default().trim().to_owned();
            anyhow::ensure!(!subject.is_empty(), "{}.subject.txt is empty", purpose.as_str());
            all.insert(purpose, Template { subject, text, html });
        }
        Ok(Self(all))
    }

    pub fn render(&self, purpose: LinkPurpose, values: &Values<'_>) -> Rendered {
        let template = &self.0[&purpose];
        // A subject is one header line: a value with a line break must not start another header.
        let subject = fill(&template.subject, values, false).replace(['\r', '\n'], " ");
        Rendered { subject, text: fill(&template.text, values, false), html: fill(&template.html, values, true) }
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
        }
    }

    #[test]
    fn builtin_templates_fill_every_placeholder_and_escape_html() {
        let templates = Templates::load(None).expect("built-in templates are valid");
        for purpose in LinkPurpose::ALL {
            let email = templates.render(purpose, &values());
            assert!(email.subject.contains("Acme"), "{purpose:?}: {}", email.subject);
            assert!(email.text.contains("https://app.example.com/verify-email?token=abc&x=1"));
            assert!(email.text.contains("<Ada>"), "plain text is not escaped");
            assert!(email.html.contains("token=abc&amp;x=1"), "{}", email.html);
            assert!(email.html.contains("&lt;Ada&gt;"));
            assert!(!email.text.contains("{{") && !email.html.contains("{{"));
        }
    }

    #[test]
    fn a_folder_replaces_single_files_and_unknown_placeholders_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("magic_link.subject.txt"), "Sign in, {{ name }}\n").expect("write");
        let templates = Templates::load(Some(dir.path())).expect("valid override");
        assert_eq!(templates.render(LinkPurpose::MagicLink, &values()).subject, "Sign in, <Ada>");
        assert!(templates.render(LinkPurpose::MagicLink, &values()).text.contains("sign in to Acme"));

        std::fs::write(dir.path().join("verify_email.txt"), "Hi {{ password }}").expect("write");
        let error = Templates::load(Some(dir.path())).expect_err("unknown placeholder").to_string();
        assert!(error.contains("verify_email.txt") && error.contains("password"), "{error}");
    }

    #[test]
    fn a_line_break_in_a_value_cannot_add_a_header() {
        let templates = Templates::load(None).expect("templates");
        let values = Values { app_name: "Acme\r\nBcc: victim@example.com", ..values() };
        assert!(!templates.render(LinkPurpose::VerifyEmail, &values).subject.contains('\n'));
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
