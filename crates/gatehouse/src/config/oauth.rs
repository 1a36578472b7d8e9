//! The `[oauth.providers.NAME]` tables and `server.redirect_allowlist`, parsed once into typed
//! values with every problem named.

use gatehouse_core::oauth::redirect::{RedirectAllowlist, RedirectPrefix};
use gatehouse_core::oauth::{ProviderKind, ProviderName};

use super::Reader;
use super::email::Credential;
use super::schema::PROVIDER_FIELDS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

/// Where a provider's endpoints come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoints {
    /// OpenID Connect discovery from this issuer.
    Discovery { issuer: url::Url },
    /// GitHub's fixed endpoints (or GitHub Enterprise's).
    Github { authorize_url: url::Url, token_url: url::Url, api_url: url::Url },
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: ProviderName,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: Credential,
    pub display_name: String,
    pub scopes: Vec<String>,
    pub auth_method: ClientAuth,
    pub link_verified_email: bool,
    pub endpoints: Endpoints,
}

const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// Secrets that say they are not one.
fn is_placeholder(secret: &str) -> bool {
    let lower = secret.to_ascii_lowercase();
    secret.len() < 8
        || secret.contains('…')
        || secret.starts_with('<')
        || ["changeme", "change-me", "secret", "example", "placeholder", "xxxx"].iter().any(|word| lower.contains(word))
}

pub(super) fn redirect_allowlist(r: &mut Reader, public_url: Option<&url::Url>) -> Option<RedirectAllowlist> {
    let mut prefixes = Vec::new();
    let mut valid = true;
    for entry in r.list("server.redirect_allowlist") {
        match RedirectPrefix::parse(&entry) {
            Ok(prefix) => prefixes.push(prefix),
            Err(message) => {
                r.problem("server.redirect_allowlist", format!("`{entry}` {message}"));
                valid = false;
            }
        }
    }
    if !valid {
        return None;
    }
    Some(RedirectAllowlist::new(public_url?, prefixes))
}

pub(super) fn providers(r: &mut Reader, production: bool) -> Option<Vec<ProviderConfig>> {
    const KEY: &str = "oauth.providers";
    let table = r.value(KEY).and_then(toml::Value::as_table).cloned().unwrap_or_default();
    let mut providers = Vec::new();
    let mut valid = true;
    for (name, entry) in table {
        match provider(&name, &entry, production) {
            Ok(provider) => providers.push(provider),
            Err(problems) => {
                valid = false;
                for problem in problems {
                    r.problem(KEY, format!("provider `{name}`: {problem}"));
                }
            }
        }
    }
    valid.then_some(providers)
}

fn provider(name: &str, entry: &toml::Value, production: bool) -> Result<ProviderConfig, Vec<String>> {
    let mut problems = Vec::new();
    let name = ProviderName::parse(name).map_err(|message| vec![format!("the name {message}")])?;
    let Some(entry) = entry.as_table() else { return Err(vec!["must be a table of fields".into()]) };
    for key in entry.keys() {
        if !PROVIDER_FIELDS.iter().any(|field| field.name == key) {
            problems.push(format!("`{key}` is not a provider field"));
        }
    }
    let text = |key: &str, problems: &mut Vec<String>| -> Option<String> {
        match entry.get(key) {
            None => None,
            Some(toml::Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            Some(_) => {
                problems.push(format!("`{key}` must be a non-empty string"));
                None
            }
        }
    };
    let url_field = |key: &str, problems: &mut Vec<String>| -> Option<url::Url> {
        let value = text(key, problems)?;
        match url::Url::parse(&value) {
            Ok(url) if url.scheme() == "https" || (!production && url.scheme() == "http") => Some(url),
            Ok(_) if production => {
                problems.push(format!("`{key}` must be an https URL in production"));
                None
            }
            _ => {
                problems.push(format!("`{key}` is not an http(s) URL"));
                None
            }
        }
    };
    let kind = match text("kind", &mut problems) {
        Some(kind) => ProviderKind::parse(&kind).or_else(|| {
            problems.push(format!("`kind` must be google, github or oidc, not `{kind}`"));
            None
        }),
        None => {
            problems.push("`kind` is required (google, github or oidc)".into());
            None
        }
    };
    let client_id = text("client_id", &mut problems);
    if client_id.is_none() {
        problems.push("`client_id` is required".into());
    }
    let client_secret = text("client_secret", &mut problems);
    match &client_secret {
        None => problems.push("`client_secret` is required".into()),
        Some(secret) if production && is_placeholder(secret) => {
            problems.push("`client_secret` is a placeholder; production needs the real secret".into());
        }
        Some(_) => {}
    }
    let scopes = match entry.get("scopes") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item.as_str() {
                Some(scope) if !scope.is_empty() && !scope.contains(char::is_whitespace) => Some(scope.to_owned()),
                _ => {
                    problems.push("`scopes` must be a list of scope names without spaces".into());
                    None
                }
            })
            .collect(),
        Some(_) => {
            problems.push("`scopes` must be a list of strings".into());
            Vec::new()
        }
    };
    let auth_method = match text("auth_method", &mut problems).as_deref() {
        None | Some("client_secret_basic") => ClientAuth::Basic,
        Some("client_secret_post") => ClientAuth::Post,
        Some(other) => {
            problems.push(format!("`auth_method` must be client_secret_basic or client_secret_post, not `{other}`"));
            ClientAuth::Basic
        }
    };
    let link_verified_email = match entry.get("link_verified_email") {
        None => false,
        Some(toml::Value::Boolean(value)) => *value,
        Some(_) => {
            problems.push("`link_verified_email` must be true or false".into());
            false
        }
    };
    let endpoints = match kind {
        Some(ProviderKind::Oidc) => match url_field("issuer", &mut problems) {
            Some(issuer) => Some(Endpoints::Discovery { issuer }),
            None => {
                if !entry.contains_key("issuer") {
                    problems.push("`issuer` is required for kind oidc".into());
                }
                None
            }
        },
        Some(ProviderKind::Google) => {
            if entry.contains_key("issuer") {
                problems.push("`issuer` is fixed for kind google; use kind oidc for another issuer".into());
            }
            url::Url::parse(GOOGLE_ISSUER).ok().map(|issuer| Endpoints::Discovery { issuer })
        }
        Some(ProviderKind::Github) => {
            let pick = |key: &str, default: &str, problems: &mut Vec<String>| {
                if entry.contains_key(key) { url_field(key, problems) } else { url::Url::parse(default).ok() }
            };
            let authorize = pick("authorize_url", "https://github.com/login/oauth/authorize", &mut problems);
            let token = pick("token_url", "https://github.com/login/oauth/access_token", &mut problems);
            let api = pick("api_url", "https://api.github.com", &mut problems);
            match (authorize, token, api) {
                (Some(authorize_url), Some(token_url), Some(api_url)) => {
                    Some(Endpoints::Github { authorize_url, token_url, api_url })
                }
                _ => None,
            }
        }
        None => None,
    };
    if kind != Some(ProviderKind::Github) {
        for key in ["authorize_url", "token_url", "api_url"] {
            if entry.contains_key(key) {
                problems.push(format!("`{key}` is only for kind github"));
            }
        }
    }
    let display_name = text("display_name", &mut problems).unwrap_or_else(|| match kind {
        Some(ProviderKind::Google) => "Google".into(),
        Some(ProviderKind::Github) => "GitHub".into(),
        _ => name.to_string(),
    });
    match (kind, client_id, client_secret, endpoints) {
        (Some(kind), Some(client_id), Some(secret), Some(endpoints)) if problems.is_empty() => Ok(ProviderConfig {
            name,
            kind,
            client_id,
            client_secret: Credential::new(secret),
            display_name,
            scopes,
            auth_method,
            link_verified_email,
            endpoints,
        }),
        _ => Err(problems),
    }
}
