//! The `[passkeys]` settings: the WebAuthn relying party (its id and the origins its pages are
//! served from) and whether passkeys are offered at all.
//!
//! Browsers allow WebAuthn only in a secure context (https, or http on `localhost`) and refuse an
//! IP address as relying party id. The development default `public_url` is `http://127.0.0.1:8080`,
//! so `auto` turns passkeys off there (the account page says why and that a public_url of
//! `http://localhost:8080` works), while `on` with such a config is refused at start instead of failing in the browser.

use std::net::IpAddr;

use super::Reader;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeysConfig {
    /// The relying party id and origins, when passkeys are offered; otherwise why not.
    pub relying_party: Result<RelyingParty, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// A domain name: the public URL's host unless set.
    pub id: String,
    /// `scheme://host[:port]` each, without a trailing slash.
    pub origins: Vec<String>,
}

/// Why browsers would refuse WebAuthn with this relying party, if they would.
fn refused(id: &str, origins: &[url::Url]) -> Option<String> {
    if id.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        return Some(format!(
            "browsers refuse an IP address ({id}) as the relying party id: set public_url to a domain name \
             (GATEHOUSE_PUBLIC_URL=http://localhost:8080 works in development) or set passkeys.rp_id"
        ));
    }
    for origin in origins {
        let host = origin.host_str().unwrap_or_default();
        let local = host == "localhost" || host.ends_with(".localhost");
        if origin.scheme() != "https" && !(origin.scheme() == "http" && local) {
            return Some(format!(
                "browsers allow passkeys only on https (or http on localhost), and {origin} is neither"
            ));
        }
        if host != id && !host.ends_with(&format!(".{id}")) {
            return Some(format!("the origin {origin} is not on {id} or a subdomain of it"));
        }
    }
    None
}

fn origin_text(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

pub(super) fn passkeys_config(r: &mut Reader, public_url: Option<&url::Url>) -> Option<PasskeysConfig> {
    let mode = r.string("passkeys.enabled").unwrap_or_default();
    let public_url = public_url?;
    let id = match r.string("passkeys.rp_id").filter(|id| !id.is_empty()) {
        Some(id) => id.to_ascii_lowercase(),
        None => {
            let host = public_url.host_str().unwrap_or_default().to_owned();
            r.derive("passkeys.rp_id", toml::Value::String(host.clone()));
            host
        }
    };
    let configured = r.list("passkeys.origins");
    let mut origins = Vec::new();
    if configured.is_empty() {
        origins.push(public_url.clone());
        let derived = toml::Value::Array(vec![toml::Value::String(origin_text(public_url))]);
        r.derive("passkeys.origins", derived);
    }
    for entry in configured {
        match url::Url::parse(&entry) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host_str().is_some() => origins.push(url),
            _ => r.problem("passkeys.origins", format!("`{entry}` is not an origin such as https://auth.example.com")),
        }
    }
    let reason = refused(&id, &origins);
    let relying_party = match (mode.as_str(), reason) {
        ("off", _) => Err("passkeys.enabled is off".to_owned()),
        ("on", Some(reason)) => {
            r.problem("passkeys.enabled", format!("is on, but {reason}"));
            return None;
        }
        ("auto", Some(reason)) => Err(reason),
        _ => Ok(RelyingParty { id, origins: origins.iter().map(origin_text).collect() }),
    };
    Some(PasskeysConfig { relying_party })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<url::Url> {
        list.iter().map(|u| url::Url::parse(u).expect("url")).collect()
    }

    #[test]
    fn browsers_refuse_ip_addresses_and_insecure_origins() {
        assert!(refused("127.0.0.1", &urls(&["http://127.0.0.1:8080"])).is_some_and(|r| r.contains("IP address")));
        assert!(refused("[::1]", &urls(&["http://[::1]:8080"])).is_some());
        assert_eq!(refused("localhost", &urls(&["http://localhost:8080"])), None);
        assert_eq!(refused("example.com", &urls(&["https://auth.example.com", "https://example.com"])), None);
        assert!(refused("example.com", &urls(&["http://auth.example.com"])).is_some_and(|r| r.contains("https")));
        assert!(refused("example.com", &urls(&["https://example.org"])).is_some_and(|r| r.contains("not on")));
        assert!(refused("example.com", &urls(&["https://badexample.com"])).is_some(), "a suffix is not a subdomain");
    }
}
