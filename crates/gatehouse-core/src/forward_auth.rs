//! Forward-auth access rules: which requests a reverse proxy may pass to the apps behind it.
//!
//! A rule names a host (exact, or `*.example.com` for its subdomains), a path prefix, an optional
//! list of methods, and what the request needs. The most specific matching rule decides: the
//! longest path prefix, then an exact host over a wildcard. No matching rule is a denial, so a
//! host nobody wrote a rule for is never open by accident.

use crate::accounts::User;
use crate::workspaces::Role;

/// What a rule asks of the person making the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, signed in or not (identity headers are still sent when signed in).
    Public,
    SignedIn,
    VerifiedEmail,
    /// A verified address at this domain (lower-case).
    EmailDomain(String),
    /// At least this role in the session's active workspace.
    Role(Role),
    /// A session established with a second factor (an authenticator app's code or a recovery
    /// code, beside the password or provider sign-in).
    Mfa,
}

impl Requirement {
    /// `public`, `signed_in`, `verified_email`, `email_domain:example.com` or `role:admin`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "public" => Ok(Self::Public),
            "signed_in" => Ok(Self::SignedIn),
            "verified_email" => Ok(Self::VerifiedEmail),
            "mfa" => Ok(Self::Mfa),
            other => {
                if let Some(domain) = other.strip_prefix("email_domain:") {
                    let domain = domain.trim().to_ascii_lowercase();
                    if HostPattern::parse(&domain).is_ok_and(|host| matches!(host, HostPattern::Exact(_))) {
                        return Ok(Self::EmailDomain(domain));
                    }
                    return Err(format!("`{other}`: `{domain}` is not a domain"));
                }
                if let Some(role) = other.strip_prefix("role:") {
                    return Role::parse(role.trim())
                        .map(Self::Role)
                        .ok_or_else(|| format!("`{other}`: the roles are member, admin and owner"));
                }
                Err(format!(
                    "`{other}` is not a requirement; use public, signed_in, verified_email, mfa, email_domain:DOMAIN \
                     or role:ROLE"
                ))
            }
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            Self::Public => "public".into(),
            Self::SignedIn => "signed_in".into(),
            Self::VerifiedEmail => "verified_email".into(),
            Self::Mfa => "mfa".into(),
            Self::EmailDomain(domain) => format!("email_domain:{domain}"),
            Self::Role(role) => format!("role:{}", role.as_str()),
        }
    }

    /// Whether a signed-in `user`, with `role` in the session's active workspace, meets this
    /// requirement.
    fn met_by(&self, user: &User, role: Option<Role>, second_factor: bool) -> bool {
        match self {
            Self::Mfa => second_factor,
            Self::Role(needed) => role.is_some_and(|role| role >= *needed),
            Self::Public | Self::SignedIn => true,
            Self::VerifiedEmail => user.email_verified,
            Self::EmailDomain(domain) => {
                user.email_verified
                    && user.email.normalized().rsplit_once('@').is_some_and(|(_, at)| at.eq_ignore_ascii_case(domain))
            }
        }
    }
}

/// A host a rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// `*.example.com`: any subdomain of `example.com` (not `example.com` itself).
    Subdomains(String),
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        let (wildcard, name) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, text.clone()),
        };
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!("`{text}` is not a host name (such as app.example.com or *.example.com)"));
        }
        Ok(if wildcard { Self::Subdomains(name) } else { Self::Exact(name) })
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => host == name,
            Self::Subdomains(name) => {
                host.len() > name.len() + 1
                    && host.ends_with(name.as_str())
                    && host[..host.len() - name.len()].ends_with('.')
            }
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            Self::Exact(name) => name.clone(),
            Self::Subdomains(name) => format!("*.{name}"),
        }
    }
}

/// One access rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub host: HostPattern,
    /// A path prefix starting with `/`: `/admin` covers `/admin` and `/admin/…`, not `/administer`.
    pub path: String,
    pub require: Requirement,
    /// Upper-case method names; empty means every method.
    pub methods: Vec<String>,
    /// `host path`, the rule's name in metrics and logs.
    pub name: String,
}

impl Rule {
    pub fn new(host: HostPattern, path: &str, require: Requirement, methods: Vec<String>) -> Result<Self, String> {
        if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#') {
            return Err(format!("path `{path}` must start with / and hold no spaces, `?` or `#`"));
        }
        let methods: Vec<String> = methods.iter().map(|method| method.trim().to_ascii_uppercase()).collect();
        if let Some(bad) = methods.iter().find(|m| m.is_empty() || !m.chars().all(|c| c.is_ascii_uppercase())) {
            return Err(format!("`{bad}` is not an HTTP method"));
        }
        let name = format!("{}{}", host.as_text(), path);
        Ok(Self { host, path: path.to_owned(), require, methods, name })
    }

    fn covers_path(&self, path: &str) -> bool {
        path.starts_with(&self.path)
            && (self.path.ends_with('/')
                || path.len() == self.path.len()
                || path.as_bytes().get(self.path.len()) == Some(&b'/'))
    }

    /// This rule's decision for `user` (`None` when not signed in) with `role` in the session's
    /// active workspace; `second_factor` says whether the session was established with one.
    pub fn decide(&self, user: Option<&User>, role: Option<Role>, second_factor: bool) -> Decision<'_> {
        match (user, &self.require) {
            (_, Requirement::Public) => Decision::Allow(self),
            (None, _) => Decision::SignIn(self),
            (Some(user), requirement) if requirement.met_by(user, role, second_factor) => Decision::Allow(self),
            (Some(_), _) => Decision::Deny(self),
        }
    }

    fn matches(&self, host: &str, path: &str, method: &str) -> bool {
        self.host.matches(host)
            && self.covers_path(path)
            && (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// The configured rules, checked for conflicts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(Vec<Rule>);

/// What the proxy is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    Allow(&'a Rule),
    /// Not signed in, and the rule needs it.
    SignIn(&'a Rule),
    /// Signed in, but the rule's requirement is not met.
    Deny(&'a Rule),
    /// No rule covers the request.
    NoRule,
}

impl Rules {
    /// Refuses two rules for the same host, path and methods: which one decides would depend on
    /// their order in the file.
    pub fn new(rules: Vec<Rule>) -> Result<Self, String> {
        for (i, rule) in rules.iter().enumerate() {
            let mut methods = rule.methods.clone();
            methods.sort();
            for other in &rules[..i] {
                let mut others = other.methods.clone();
                others.sort();
                if other.host == rule.host && other.path == rule.path && others == methods {
                    return Err(format!("two rules cover {} with the same methods", rule.name));
                }
            }
        }
        Ok(Self(rules))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The hosts the rules protect, as CSP host sources (any port, the page's scheme or https):
    /// pages may send a browser back there after a form post.
    pub fn csp_sources(&self) -> Vec<String> {
        let mut sources: Vec<String> = Vec::new();
        for rule in &self.0 {
            let source = format!("{}:*", rule.host.as_text());
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        sources
    }

    /// Whether some rule covers `host` (lower-case): forward-auth may send browsers back there.
    pub fn protects_host(&self, host: &str) -> bool {
        self.0.iter().any(|rule| rule.host.matches(host))
    }

    /// The most specific rule for the request: the longest path, then an exact host, then one
    /// that names methods.
    pub fn rule_for(&self, host: &str, path: &str, method: &str) -> Option<&Rule> {
        let host = host.to_ascii_lowercase();
        self.0
            .iter()
            .filter(|rule| rule.matches(&host, path, method))
            .max_by_key(|rule| (rule.path.len(), matches!(rule.host, HostPattern::Exact(_)), !rule.methods.is_empty()))
    }

    /// The decision for a request by `user` (`None` when not signed in) with `role` in the
    /// session's active workspace, its session established with a second factor or not.
    pub fn decide(
        &self,
        host: &str,
        path: &str,
        method: &str,
        user: Option<&User>,
        role: Option<Role>,
        second_factor: bool,
    ) -> Decision<'_> {
        self.rule_for(host, path, method).map_or(Decision::NoRule, |rule| rule.decide(user, role, second_factor))
    }
}

/// A header value safe to hand to a proxy: no control character (a line break could start
/// another header) and no comma (which would split a list-valued header into a forged entry).
pub fn header_safe(value: &str) -> String {
    value.chars().map(|c| if c.is_control() || c == ',' { ' ' } else { c }).collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::EmailAddress;

    fn rule(host: &str, path: &str, require: &str, methods: &[&str]) -> Rule {
        let methods = methods.iter().map(|m| (*m).to_owned()).collect();
        Rule::new(HostPattern::parse(host).expect("host"), path, Requirement::parse(require).expect("req"), methods)
            .expect("rule")
    }

    fn user(email: &str, verified: bool) -> User {
        User {
            id: uuid::Uuid::nil(),
            email: EmailAddress::parse(email).expect("email"),
            name: None,
            email_verified: verified,
            disabled: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_most_specific_rule_decides_and_no_rule_denies() {
        let rules = Rules::new(vec![
            rule("app.example.com", "/", "signed_in", &[]),
            rule("app.example.com", "/public", "public", &[]),
            rule("*.example.com", "/admin", "email_domain:example.com", &[]),
            rule("app.example.com", "/admin", "verified_email", &[]),
        ])
        .expect("rules");
        let ada = user("ada@example.com", true);
        assert!(
            matches!(rules.decide("app.example.com", "/public/x", "GET", None, None, false), Decision::Allow(r) if r.path == "/public")
        );
        assert!(
            matches!(rules.decide("app.example.com", "/publicity", "GET", None, None, false), Decision::SignIn(r) if r.path == "/")
        );
        assert!(
            matches!(rules.decide("APP.example.com", "/admin", "GET", Some(&ada), None, false), Decision::Allow(r) if r.host == HostPattern::Exact("app.example.com".into()))
        );
        let other = user("bob@other.org", true);
        assert!(matches!(
            rules.decide("ops.example.com", "/admin/x", "GET", Some(&other), None, false),
            Decision::Deny(_)
        ));
        assert!(matches!(rules.decide("ops.example.com", "/", "GET", Some(&ada), None, false), Decision::NoRule));
        assert!(
            matches!(rules.decide("example.com", "/admin", "GET", Some(&ada), None, false), Decision::NoRule),
            "a wildcard is subdomains only"
        );
        assert!(matches!(rules.decide("evilexample.com", "/admin", "GET", Some(&ada), None, false), Decision::NoRule));
        assert!(rules.protects_host("ops.example.com") && !rules.protects_host("example.org"));
        assert_eq!(rules.csp_sources(), ["app.example.com:*", "*.example.com:*"]);
    }

    #[test]
    fn requirements_and_methods() {
        let rules = Rules::new(vec![rule("a.test", "/", "verified_email", &["get", "HEAD"])]).expect("rules");
        assert!(matches!(
            rules.decide("a.test", "/", "POST", Some(&user("a@b.test", true)), None, false),
            Decision::NoRule
        ));
        assert!(matches!(
            rules.decide("a.test", "/", "GET", Some(&user("a@b.test", false)), None, false),
            Decision::Deny(_)
        ));
        assert!(matches!(
            rules.decide("a.test", "/", "GET", Some(&user("a@b.test", true)), None, false),
            Decision::Allow(_)
        ));
        let domain = Requirement::parse("email_domain:Example.COM").expect("domain");
        assert!(
            domain.met_by(&user("x@example.com", true), None, false)
                && !domain.met_by(&user("x@example.com", false), None, false)
        );
        assert!(!domain.met_by(&user("x@notexample.com", true), None, false));
    }

    #[test]
    fn mfa_rules_need_a_session_established_with_a_second_factor() {
        let rules = Rules::new(vec![rule("a.test", "/", "mfa", &[])]).expect("rules");
        let ada = user("ada@a.test", true);
        assert!(matches!(rules.decide("a.test", "/", "GET", Some(&ada), None, false), Decision::Deny(_)));
        assert!(matches!(rules.decide("a.test", "/", "GET", Some(&ada), None, true), Decision::Allow(_)));
        assert!(matches!(rules.decide("a.test", "/", "GET", None, None, true), Decision::SignIn(_)));
        assert_eq!(Requirement::parse(" mfa "), Ok(Requirement::Mfa));
        assert_eq!(Requirement::Mfa.as_text(), "mfa");
    }

    #[test]
    fn role_rules_need_at_least_that_role_in_the_active_workspace() {
        let rules = Rules::new(vec![rule("a.test", "/", "role:admin", &[])]).expect("rules");
        let ada = user("ada@a.test", true);
        let decide = |role| rules.decide("a.test", "/", "GET", Some(&ada), role, false);
        assert!(matches!(decide(None), Decision::Deny(_)), "no active workspace");
        assert!(matches!(decide(Some(Role::Member)), Decision::Deny(_)));
        assert!(matches!(decide(Some(Role::Admin)), Decision::Allow(_)));
        assert!(matches!(decide(Some(Role::Owner)), Decision::Allow(_)));
        assert!(matches!(rules.decide("a.test", "/", "GET", None, Some(Role::Owner), false), Decision::SignIn(_)));
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(Requirement::parse("admin").is_err());
        assert_eq!(Requirement::parse("role:admin"), Ok(Requirement::Role(Role::Admin)));
        assert!(Requirement::parse("role:root").expect_err("unknown role").contains("member, admin and owner"));
        assert!(Requirement::parse("email_domain:").is_err());
        for host in ["", "https://a.test", "a.test/x", "*", "a..test", "*.*.test"] {
            assert!(HostPattern::parse(host).is_err(), "{host}");
        }
        let host = HostPattern::parse("a.test").expect("host");
        assert!(Rule::new(host.clone(), "admin", Requirement::Public, vec![]).is_err());
        assert!(Rule::new(host, "/", Requirement::Public, vec!["GE T".into()]).is_err());
        let twice =
            Rules::new(vec![rule("a.test", "/", "public", &["GET"]), rule("a.test", "/", "signed_in", &["get"])]);
        assert!(twice.is_err());
    }

    #[test]
    fn header_values_cannot_forge_headers() {
        assert_eq!(header_safe("Ada\r\nRemote-User: admin"), "Ada  Remote-User: admin");
        assert_eq!(header_safe("Lovelace, Ada"), "Lovelace  Ada");
    }
}
