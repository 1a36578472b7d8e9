//! Where a browser may be sent after sign-in: one allowlist of URL prefixes decides every redirect
//! (`server.redirect_allowlist`, with the public URL's origin always allowed).
//!
//! A target is allowed when it is an absolute `http`/`https` URL without userinfo whose origin
//! (scheme, host, port) equals an entry's exactly and whose path starts with the entry's path.
//! Comparing parsed URLs, never strings, is what stops `https://app.example.com.evil.com/`,
//! `//evil.com` and `https://app.example.com@evil.com/` from passing for `https://app.example.com/`.

use url::Url;

/// One allowed prefix: an origin and a path prefix ending in `/` (or the whole path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectPrefix {
    origin: url::Origin,
    path: String,
    text: String,
}

impl RedirectPrefix {
    /// Parses `https://app.example.com/` or `https://app.example.com/app/`.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let url = Url::parse(text).map_err(|_| "is not an absolute URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain a user name or password");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment");
        }
        Ok(Self { origin: url.origin(), path: url.path().to_owned(), text: url.to_string() })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn allows(&self, target: &Url) -> bool {
        if target.origin() != self.origin {
            return false;
        }
        let path = target.path();
        // `/app/` allows `/app/…`; `/app` allows `/app` itself and `/app/…`, never `/application`.
        path.starts_with(&self.path)
            && (self.path.ends_with('/')
                || path.len() == self.path.len()
                || path.as_bytes().get(self.path.len()) == Some(&b'/'))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectAllowlist {
    prefixes: Vec<RedirectPrefix>,
    default: Url,
}

impl RedirectAllowlist {
    /// `public_url` is the default target and its origin is always allowed.
    pub fn new(public_url: &Url, configured: Vec<RedirectPrefix>) -> Self {
        let mut root = public_url.clone();
        root.set_path("/");
        root.set_query(None);
        root.set_fragment(None);
        let own = RedirectPrefix { origin: root.origin(), path: "/".into(), text: root.to_string() };
        let mut prefixes = vec![own];
        prefixes.extend(configured);
        Self { prefixes, default: public_url.clone() }
    }

    /// The serialized origins of the allowed prefixes (the public URL's first), for a page's
    /// `form-action`.
    pub fn origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = Vec::new();
        for prefix in &self.prefixes {
            let origin = prefix.origin.ascii_serialization();
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        origins
    }

    /// The target to redirect to: `requested` when it is allowed, the public URL when absent.
    pub fn check(&self, requested: Option<&str>) -> Result<Url, RedirectNotAllowed> {
        self.check_also(requested, |_| false)
    }

    /// As [`check`](Self::check), also allowing a well-formed http(s) target that `also` accepts
    /// (the hosts forward-auth protects, for the hosted pages).
    pub fn check_also(&self, requested: Option<&str>, also: impl Fn(&Url) -> bool) -> Result<Url, RedirectNotAllowed> {
        let Some(text) = requested.filter(|text| !text.is_empty()) else { return Ok(self.default.clone()) };
        // `Url::parse` accepts leading and trailing spaces and control characters; a target that
        // needs them is not one a browser should be sent to.
        if text.len() > 2048 || text.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
            return Err(RedirectNotAllowed);
        }
        let url = Url::parse(text).map_err(|_| RedirectNotAllowed)?;
        let plain = matches!(url.scheme(), "http" | "https") && url.username().is_empty() && url.password().is_none();
        let allowed = self.prefixes.iter().any(|prefix| prefix.allows(&url)) || also(&url);
        if plain && allowed { Ok(url) } else { Err(RedirectNotAllowed) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the redirect target is not in server.redirect_allowlist")]
pub struct RedirectNotAllowed;

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist() -> RedirectAllowlist {
        let public = Url::parse("https://auth.example.com").expect("url");
        let app = RedirectPrefix::parse("https://app.example.com/").expect("prefix");
        let docs = RedirectPrefix::parse("https://example.com/docs").expect("prefix");
        RedirectAllowlist::new(&public, vec![app, docs])
    }

    #[test]
    fn allowed_prefixes_pass_and_absent_means_the_public_url() {
        let list = allowlist();
        assert_eq!(list.check(None).expect("default").as_str(), "https://auth.example.com/");
        for ok in [
            "https://app.example.com/",
            "https://app.example.com/dashboard?tab=1#top",
            "https://auth.example.com/account",
            "https://example.com/docs",
            "https://example.com/docs/page",
            "https://APP.example.com:443/x",
        ] {
            assert!(list.check(Some(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn look_alikes_and_other_schemes_are_refused() {
        let list = allowlist();
        for bad in [
            "https://app.example.com.evil.com/",
            "//evil.com",
            "/relative",
            "https://evil.com/https://app.example.com/",
            "https://app.example.com@evil.com/",
            "https://user:pass@app.example.com/",
            "http://app.example.com/",
            "https://app.example.com:8443/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://example.com/docsevil",
            "https://example.com/",
            " https://app.example.com/",
            "https://app.example.com/\\evil",
            "https://app.example.com/\n",
        ] {
            assert_eq!(list.check(Some(bad)), Err(RedirectNotAllowed), "{bad}");
        }
    }

    #[test]
    fn prefixes_must_be_plain_urls() {
        assert!(RedirectPrefix::parse("app.example.com").is_err());
        assert!(RedirectPrefix::parse("ftp://app.example.com/").is_err());
        assert!(RedirectPrefix::parse("https://u:p@app.example.com/").is_err());
        assert!(RedirectPrefix::parse("https://app.example.com/?x=1").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Pieces an attacker would combine: the allowed hosts, look-alikes, and every character
        /// a URL parser treats specially.
        fn pieces() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("https://".to_owned()),
                Just("http://".to_owned()),
                Just("//".to_owned()),
                Just("app.example.com".to_owned()),
                Just("auth.example.com".to_owned()),
                Just("example.com".to_owned()),
                Just("evil.com".to_owned()),
                Just("/docs".to_owned()),
                Just("/".to_owned()),
                Just("@".to_owned()),
                Just(":".to_owned()),
                Just(".".to_owned()),
                Just("\\".to_owned()),
                Just("%2e".to_owned()),
                Just("%40".to_owned()),
                Just("?".to_owned()),
                Just("#".to_owned()),
                Just(":443".to_owned()),
                Just(":8443".to_owned()),
                Just("user:pass@".to_owned()),
                "[a-z0-9.-]{1,8}",
                any::<char>().prop_map(String::from),
            ];
            proptest::collection::vec(piece, 1..10).prop_map(|parts| parts.concat())
        }

        /// Where a browser would really go: the WHATWG parse of the target.
        fn lands_inside(list: &RedirectAllowlist, target: &Url) -> bool {
            let fresh = Url::parse(target.as_str()).expect("a returned URL parses again");
            fresh == *target
                && fresh.username().is_empty()
                && fresh.password().is_none()
                && list.prefixes.iter().any(|prefix| {
                    fresh.origin() == prefix.origin
                        && (fresh.path() == prefix.path.trim_end_matches('/')
                            || fresh.path().starts_with(&format!("{}/", prefix.path.trim_end_matches('/'))))
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4_000))]

            /// Whatever is asked for, an allowed target lands inside an allowed prefix, as the
            /// browser will parse it.
            #[test]
            fn an_allowed_target_always_lands_inside_an_allowed_prefix(requested in pieces()) {
                let list = allowlist();
                if let Ok(target) = list.check(Some(&requested)) {
                    prop_assert!(lands_inside(&list, &target), "{requested:?} allowed as {target}");
                }
            }

            /// And every plain path under an allowed prefix is allowed.
            #[test]
            fn every_path_under_an_allowed_prefix_is_allowed(
                prefix in prop_oneof![
                    Just("https://app.example.com/"),
                    Just("https://auth.example.com/"),
                    Just("https://example.com/docs/"),
                ],
                path in "[A-Za-z0-9._~-]{0,12}(/[A-Za-z0-9._~-]{1,12}){0,4}",
                query in proptest::option::of("[A-Za-z0-9=&]{0,20}"),
            ) {
                let mut target = format!("{prefix}{path}");
                if let Some(query) = query {
                    target.push('?');
                    target.push_str(&query);
                }
                let dots = path.split('/').any(|segment| segment == "." || segment == "..");
                let allowed = allowlist().check(Some(&target));
                prop_assert!(allowed.is_ok() || dots, "{target} refused");
            }
        }
    }
}
