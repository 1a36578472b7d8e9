//! The OpenID Connect peer and a browser to drive it: `oidc-provider` (npm) started once for the
//! whole test binary, and [`Browser`], which keeps cookies and follows the provider's redirects
//! until they lead back to Gatehouse, whose router it then calls in-process.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use http::{HeaderMap, StatusCode, header};

use super::app::{Reply, TestApp};

/// Gatehouse's public URL in these tests: browsers are sent there, and the [`Browser`] turns such
/// URLs into in-process calls, so nothing needs to listen on it.
pub const PUBLIC_URL: &str = "http://gatehouse.test";

/// Provider names registered with the test provider's client (each has its own redirect URI).
pub const PROVIDER_NAMES: &[&str] = &["corp", "trusted", "other"];

pub const CLIENT_SECRET: &str = "a-test-client-secret-that-is-long-enough";

#[derive(Debug)]
pub struct OidcProvider {
    pub issuer: String,
    _child: Mutex<Child>,
}

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/oidc-provider")
}

/// The shared provider, started (and its npm package installed, when missing) on first use; `None`
/// outside CI when Node.js is not installed.
pub fn provider() -> Option<&'static OidcProvider> {
    static PROVIDER: OnceLock<Option<OidcProvider>> = OnceLock::new();
    PROVIDER.get_or_init(start).as_ref()
}

fn start() -> Option<OidcProvider> {
    if Command::new("node").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Node.js must be installed in CI: the OpenID Connect suite may not be skipped"
        );
        eprintln!("note: the OpenID Connect suite did not run: install Node.js 20 or later");
        return None;
    }
    let dir = folder();
    if !dir.join("node_modules/oidc-provider").exists() {
        let status = Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("run npm install for oidc-provider");
        assert!(status.success(), "npm install of oidc-provider failed");
    }
    let redirect_uris: Vec<String> =
        PROVIDER_NAMES.iter().map(|name| format!("{PUBLIC_URL}/v1/oauth/{name}/callback")).collect();
    let options = serde_json::json!({ "redirect_uris": redirect_uris }).to_string();
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .arg(options)
        .current_dir(&dir)
        // The provider exits when this pipe closes, that is when the test process ends.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Its warnings and notices, for reading when a test fails.
        .stderr(std::fs::File::create(std::env::temp_dir().join("gatehouse-oidc-provider.log")).expect("log file"))
        .spawn()
        .expect("start the oidc-provider script");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("the provider prints its issuer");
    // The provider prints notices later too; a closed pipe would kill it (EPIPE).
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let issuer = serde_json::from_str::<serde_json::Value>(&line)
        .unwrap_or_else(|_| panic!("the provider printed {line:?}"))["issuer"]
        .as_str()
        .expect("issuer")
        .to_owned();
    Some(OidcProvider { issuer, _child: Mutex::new(child) })
}

/// `GATEHOUSE_OAUTH_PROVIDERS` naming the test provider as `corp` (and `trusted`, which links by
/// verified email), with `extra` fields added to each.
pub fn providers_toml(issuer: &str, extra: &str) -> String {
    format!(
        "corp = {{ kind = \"oidc\", issuer = \"{issuer}\", client_id = \"gatehouse\", client_secret = \"{CLIENT_SECRET}\"{extra} }}\n\
         trusted = {{ kind = \"oidc\", issuer = \"{issuer}\", client_id = \"gatehouse\", client_secret = \"{CLIENT_SECRET}\", \
         link_verified_email = true{extra} }}\n"
    )
}

/// A browser: cookies per site, redirects followed by hand so each step can be looked at.
#[derive(Debug, Default)]
pub struct Browser {
    /// Gatehouse's cookies.
    pub cookies: BTreeMap<String, String>,
    /// Everyone else's, by host and port.
    others: BTreeMap<String, BTreeMap<String, String>>,
}

fn store_cookies(jar: &mut BTreeMap<String, String>, headers: &HeaderMap) {
    for value in headers.get_all(header::SET_COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        let pair = text.split(';').next().unwrap_or_default();
        let Some((name, value)) = pair.split_once('=') else { continue };
        let expired = text.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
        if expired {
            jar.remove(name.trim());
        } else {
            jar.insert(name.trim().to_owned(), value.to_owned());
        }
    }
}

fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
}

impl Browser {
    pub fn cookie_header(&self) -> String {
        cookie_header(&self.cookies)
    }

    /// The session cookie as a `name=value` pair, for the account helpers of [`TestApp`].
    pub fn session(&self) -> String {
        format!("gatehouse_session={}", self.cookies.get("gatehouse_session").expect("signed in"))
    }

    /// A GET to Gatehouse (`path` or a full URL on [`PUBLIC_URL`]), with this browser's cookies.
    pub async fn gatehouse(&mut self, app: &TestApp, target: &str) -> Reply {
        let path = target.strip_prefix(PUBLIC_URL).unwrap_or(target);
        let mut request = http::Request::get(path);
        if !self.cookies.is_empty() {
            request = request.header(header::COOKIE, self.cookie_header());
        }
        let reply = app.send(request.body(Body::empty()).expect("request")).await;
        store_cookies(&mut self.cookies, &reply.headers);
        reply
    }

    /// Keeps the cookies a Gatehouse answer set (one made outside [`Browser::gatehouse`]).
    pub fn keep(&mut self, reply: &Reply) {
        store_cookies(&mut self.cookies, &reply.headers);
    }

    /// Follows redirects from `url` (outside Gatehouse) until one leads to Gatehouse; returns that
    /// URL. Each flow starts signed out at the provider, so its `login_hint` decides who signs in.
    pub async fn follow_to_gatehouse(&mut self, url: &str) -> String {
        self.others.clear();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let mut current = url::Url::parse(url).expect("an absolute URL");
        for _ in 0..20 {
            if current.as_str().starts_with(PUBLIC_URL) {
                return current.to_string();
            }
            let site =
                format!("{}:{}", current.host_str().unwrap_or_default(), current.port_or_known_default().unwrap_or(0));
            let jar = self.others.entry(site).or_default();
            let mut request = client.get(current.clone());
            if !jar.is_empty() {
                request = request.header(header::COOKIE, cookie_header(jar));
            }
            let response = request.send().await.expect("the provider answers");
            store_cookies(jar, response.headers());
            let status = response.status();
            let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let Some(location) = location.filter(|_| status.is_redirection()) else {
                let body = response.text().await.unwrap_or_default();
                panic!("the provider answered {status} without a redirect: {body}");
            };
            current = current.join(&location).expect("a redirect target");
        }
        panic!("too many redirects");
    }

    /// Starts at `start` (a Gatehouse path), goes through the provider, and returns Gatehouse's
    /// answer to the callback.
    pub async fn sign_in(&mut self, app: &TestApp, start: &str) -> Reply {
        let started = self.gatehouse(app, start).await;
        assert_eq!(started.status, StatusCode::FOUND, "start: {:?}", started.body);
        let callback = self.follow_to_gatehouse(&location(&started)).await;
        self.gatehouse(app, &callback).await
    }
}

pub fn location(reply: &Reply) -> String {
    reply.headers.get(header::LOCATION).expect("Location").to_str().expect("ascii").to_owned()
}

/// The query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}
