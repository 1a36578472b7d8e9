//! Redaction of personal data and credentials before they reach logs, errors or config output.

/// Masks an email address for logs: `jane.doe@example.com` becomes `j***@example.com`.
/// Input without an `@` is masked whole, so a mistyped address cannot leak either.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

/// Replaces the password in a URL's userinfo (`scheme://user:password@host`) with `<redacted>`,
/// leaving the rest readable. Works on any string, parseable as a URL or not.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let redacted_userinfo = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:<redacted>"),
        // Without a colon the userinfo is a user name only, which is not a secret.
        None => userinfo.to_owned(),
    };
    format!("{}{}{}", &url[..authority_start], redacted_userinfo, &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_emails_keeping_the_domain() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_email("é@example.org"), "é***@example.org");
        assert_eq!(mask_email("@example.com"), "***");
        assert_eq!(mask_email("not-an-email"), "***");
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url_password("postgres://app:s3cret@db:5432/gatehouse?sslmode=require"),
            "postgres://app:<redacted>@db:5432/gatehouse?sslmode=require"
        );
        assert_eq!(redact_url_password("redis://:pw@cache:6379/0"), "redis://:<redacted>@cache:6379/0");
        assert_eq!(redact_url_password("postgres://db/gatehouse"), "postgres://db/gatehouse");
        assert_eq!(redact_url_password("sqlite://gatehouse.db"), "sqlite://gatehouse.db");
        assert_eq!(redact_url_password("postgres://app@db/x?u=a@b"), "postgres://app@db/x?u=a@b");
        assert_eq!(redact_url_password("postgres://app:p%40ss@db/x"), "postgres://app:<redacted>@db/x");
    }
}
