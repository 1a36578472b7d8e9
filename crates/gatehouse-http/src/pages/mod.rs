//! The hosted pages: sign-in, sign-up, the email-link pages and the account page, server-rendered
//! from templates, working without JavaScript (plain forms, POST, 303 redirects).
//!
//! Pages call the same flows as the JSON handlers (`accounts::log_in`, `email::reset_with_link`,
//! …); they only translate between forms and those flows, and turn each `ApiError` into a message a
//! person understands, next to the field it concerns. They are not in the OpenAPI document: they
//! are HTML for people, not an API, and [`PAGE_ROUTES`] lists them instead (the route-coverage test
//! checks the two lists together cover every route).
//!
//! Forms carry a CSRF token. Signed in, it is the session's token (checked by the CSRF layer, as
//! for the JSON API). Signed out (sign-in, sign-up, the link pages), it is an HMAC of a random
//! `gatehouse_form` cookie, checked here: with the origin check the CSRF layer does on every
//! unsafe request, that stops login CSRF, where another site signs a browser in to its account.
//!
//! Every `return_to` is checked against `server.redirect_allowlist`; one outside it is dropped
//! (the account page is used instead), never followed.

mod account;
mod forms;
mod profile;
mod sign_in;
mod workspaces;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_core::secret::{RandomToken, TokenHash};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use minijinja::Value;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::error::{ApiError, os_random};
use crate::sessions::cookie_value;
use crate::state::AppState;
use crate::templates::{TemplateError, TemplateSet};

/// Every page route, as `(METHOD, path)`: what the API document leaves out.
pub const PAGE_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/assets/gatehouse.css"),
    ("GET", "/assets/passkeys.js"),
    ("GET", "/favicon.ico"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/email-link"),
    ("POST", "/login/email-link"),
    ("GET", "/login/mfa"),
    ("POST", "/login/mfa"),
    ("GET", "/signup"),
    ("POST", "/signup"),
    ("POST", "/logout"),
    ("GET", "/forgot-password"),
    ("POST", "/forgot-password"),
    ("GET", "/reset-password"),
    ("POST", "/reset-password"),
    ("GET", "/verify-email"),
    ("POST", "/verify-email"),
    ("GET", "/magic-link"),
    ("POST", "/magic-link"),
    ("GET", "/account"),
    ("POST", "/account/verification"),
    ("POST", "/account/sessions/{id}/revoke"),
    ("POST", "/account/sessions/revoke-others"),
    ("POST", "/account/identities/{id}/link"),
    ("POST", "/account/identities/{id}/unlink"),
    ("POST", "/account/connections/{id}/disconnect"),
    ("POST", "/account/reauthenticate"),
    ("POST", "/account/mfa/totp"),
    ("POST", "/account/mfa/totp/confirm"),
    ("POST", "/account/mfa/totp/remove"),
    ("POST", "/account/mfa/recovery-codes"),
    ("POST", "/account/passkeys/{id}/rename"),
    ("POST", "/account/passkeys/{id}/delete"),
    ("POST", "/account/delete"),
    ("POST", "/account/profile"),
    ("POST", "/account/password"),
    ("POST", "/account/email"),
    ("POST", "/account/email/cancel"),
    ("POST", "/account/workspaces"),
    ("GET", "/email-change"),
    ("POST", "/email-change"),
    ("GET", "/email-change/undo"),
    ("POST", "/email-change/undo"),
    ("GET", "/invitation"),
    ("POST", "/invitation"),
    ("GET", "/workspaces/{id}"),
    ("POST", "/workspaces/{id}/invitations"),
    ("POST", "/workspaces/{id}/invitations/{invitation_id}/withdraw"),
    ("POST", "/workspaces/{id}/members/{user_id}/role"),
    ("POST", "/workspaces/{id}/members/{user_id}/remove"),
    ("POST", "/workspaces/{id}/leave"),
    ("POST", "/workspaces/{id}/delete"),
];

/// The page routes that have no session to protect: the CSRF layer checks their origin only, and
/// the handler checks the form's own token.
pub(crate) const SIGNED_OUT_FORMS: &[&str] = &[
    "/login",
    "/login/email-link",
    "/login/mfa",
    "/signup",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
    "/magic-link",
    "/email-change",
    "/email-change/undo",
];

/// The page routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(sign_in::home))
        .route("/assets/gatehouse.css", get(stylesheet))
        .route("/assets/passkeys.js", get(script))
        .route("/favicon.ico", get(no_icon))
        .route("/login", get(sign_in::login_page).post(sign_in::login))
        .route("/login/email-link", get(sign_in::email_link_page).post(sign_in::email_link))
        .route("/login/mfa", get(sign_in::second_step_page).post(sign_in::second_step))
        .route("/signup", get(sign_in::signup_page).post(sign_in::signup))
        .route("/logout", post(sign_in::logout))
        .route("/forgot-password", get(sign_in::forgot_page).post(sign_in::forgot))
        .route("/reset-password", get(sign_in::reset_page).post(sign_in::reset))
        .route("/verify-email", get(sign_in::verify_page).post(sign_in::verify))
        .route("/magic-link", get(sign_in::magic_page).post(sign_in::magic))
        .route("/account", get(account::page))
        .route("/account/verification", post(account::resend_verification))
        .route("/account/sessions/{id}/revoke", post(account::revoke_session))
        .route("/account/sessions/revoke-others", post(account::revoke_others))
        .route("/account/identities/{id}/link", post(account::link))
        .route("/account/identities/{id}/unlink", post(account::unlink))
        .route("/account/connections/{id}/disconnect", post(account::disconnect))
        .route("/account/reauthenticate", post(account::confirm_identity))
        .route("/account/mfa/totp", post(account::start_totp))
        .route("/account/mfa/totp/confirm", post(account::confirm_totp))
        .route("/account/mfa/totp/remove", post(account::remove_totp))
        .route("/account/mfa/recovery-codes", post(account::new_recovery_codes))
        .route("/account/passkeys/{id}/rename", post(account::rename_passkey))
        .route("/account/passkeys/{id}/delete", post(account::delete_passkey))
        .route("/account/delete", post(account::delete))
        .route("/account/profile", post(profile::save_profile))
        .route("/account/password", post(profile::change_password))
        .route("/account/email", post(profile::change_email))
        .route("/account/email/cancel", post(profile::cancel_email_change))
        .route("/account/workspaces", post(workspaces::create))
        .route("/email-change", get(profile::confirm_page).post(profile::confirm))
        .route("/email-change/undo", get(profile::undo_page).post(profile::undo))
        .route("/invitation", get(account::invitation_page).post(account::accept_invitation))
        .route("/workspaces/{id}", get(workspaces::page))
        .route("/workspaces/{id}/invitations", post(workspaces::invite))
        .route("/workspaces/{id}/invitations/{invitation_id}/withdraw", post(workspaces::withdraw))
        .route("/workspaces/{id}/members/{user_id}/role", post(workspaces::change_role))
        .route("/workspaces/{id}/members/{user_id}/remove", post(workspaces::remove))
        .route("/workspaces/{id}/leave", post(workspaces::leave))
        .route("/workspaces/{id}/delete", post(workspaces::delete))
}

/// What the pages show of the product, from `[branding]`.
#[derive(Debug, Clone, Serialize)]
pub struct Branding {
    pub product_name: String,
    /// An absolute http(s) URL, or a path on Gatehouse.
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`, checked by the config.
    pub accent_color: String,
    pub support_email: Option<String>,
}

/// The compiled pages and what every render needs.
#[derive(Debug)]
pub struct PageSettings {
    templates: TemplateSet,
    /// The wording, also the templates' `t`: messages for errors are looked up here.
    text: serde_json::Value,
    stylesheet: axum::body::Bytes,
    stylesheet_path: String,
    /// The pages' one script, for passkeys (WebAuthn has no form-only way).
    script_path: String,
    csp: HeaderValue,
    csp_account: HeaderValue,
}

/// The built-in page templates; a folder may replace any of them, and `text.json`.
const BUILTIN: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/pages/base.html")),
    ("macros.html", include_str!("../../templates/pages/macros.html")),
    ("login.html", include_str!("../../templates/pages/login.html")),
    ("signup.html", include_str!("../../templates/pages/signup.html")),
    ("email_link.html", include_str!("../../templates/pages/email_link.html")),
    ("forgot_password.html", include_str!("../../templates/pages/forgot_password.html")),
    ("reset_password.html", include_str!("../../templates/pages/reset_password.html")),
    ("verify_email.html", include_str!("../../templates/pages/verify_email.html")),
    ("magic_link.html", include_str!("../../templates/pages/magic_link.html")),
    ("login_mfa.html", include_str!("../../templates/pages/login_mfa.html")),
    ("recovery_codes.html", include_str!("../../templates/pages/recovery_codes.html")),
    ("account.html", include_str!("../../templates/pages/account.html")),
    ("message.html", include_str!("../../templates/pages/message.html")),
    ("invitation.html", include_str!("../../templates/pages/invitation.html")),
    ("email_change.html", include_str!("../../templates/pages/email_change.html")),
    ("email_change_undo.html", include_str!("../../templates/pages/email_change_undo.html")),
    ("workspace.html", include_str!("../../templates/pages/workspace.html")),
    ("gatehouse.css", include_str!("../../templates/pages/gatehouse.css")),
];

const BUILTIN_TEXT: &str = include_str!("../../templates/pages/text.json");
/// Not a template: it has no wording and nothing to brand; the pages pass it what it needs in
/// `data-` attributes.
const SCRIPT: &str = include_str!("../../templates/pages/passkeys.js");
const TEXT_FILE: &str = "text.json";

impl PageSettings {
    /// Compiles the pages: the built-in templates with `overrides` (file name → source, from
    /// `pages.templates_dir`) in their place, then renders each once with sample values so a
    /// replaced template that does not compile, or names a value it is not given, is refused now.
    /// `form_targets` are the origins forms may lead to (the redirect allowlist's).
    pub fn load(
        branding: Branding,
        mut overrides: BTreeMap<String, String>,
        form_targets: &[String],
    ) -> Result<Self, TemplateError> {
        let text_source = overrides.remove(TEXT_FILE).unwrap_or_else(|| BUILTIN_TEXT.to_owned());
        let text: serde_json::Value = serde_json::from_str(&text_source)
            .map_err(|error| TemplateError { file: TEXT_FILE.into(), message: error.to_string() })?;
        let globals = [("t", Value::from_serialize(&text)), ("brand", Value::from_serialize(&branding))];
        let templates = TemplateSet::load(BUILTIN, overrides, &globals)?;
        let stylesheet = templates.render("gatehouse.css", Value::from(()))?;
        // A changed stylesheet gets a new address, so browsers may cache it for long.
        let digest = hex_prefix(&Sha256::digest(stylesheet.as_bytes()));
        let stylesheet_path = format!("/assets/gatehouse.css?v={digest}");
        let script_path = format!("/assets/passkeys.js?v={}", hex_prefix(&Sha256::digest(SCRIPT.as_bytes())));
        let logo_origin = branding.logo_url.as_deref().and_then(origin_of);
        let img = match &logo_origin {
            Some(origin) => format!("img-src 'self' {origin}"),
            None => "img-src 'self'".to_owned(),
        };
        let base = format!(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; {img}; base-uri 'none'; \
             frame-ancestors 'none'"
        );
        let mut targets = vec!["'self'".to_owned()];
        targets.extend(form_targets.iter().cloned());
        let csp = format!("{base}; form-action {}", targets.join(" "));
        let settings = Self {
            templates,
            text,
            stylesheet: stylesheet.into(),
            stylesheet_path,
            script_path,
            csp: HeaderValue::from_str(&csp).map_err(|_| invalid_csp())?,
            // The account page's link buttons post, then redirect to a provider, whose origin
            // is not known here; `form-action` would block that redirect.
            csp_account: HeaderValue::from_str(&base).map_err(|_| invalid_csp())?,
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), TemplateError> {
        // Each page bare, and with every optional part present, so both sides of each `if` run.
        for (name, extra) in sample_contexts() {
            self.templates.render(name, self.context(&Page::new(name, extra.clone())))?;
            let mut full = Page::new(name, extra).return_to(Some("https://app.example.com/"));
            full.notice = Some("notice".into());
            full.error = Some("error".into());
            for field in
                ["email", "password", "name", "new_email", "new_password", "current_password", "workspace_name"]
            {
                full.errors.insert(field.into(), "message".into());
                full.values.insert(field.into(), "value".into());
            }
            self.templates.render(name, self.context(&full))?;
        }
        Ok(())
    }

    /// The wording at a dotted key (`errors.link_invalid`), if it is a message.
    fn wording(&self, key: &str) -> Option<&str> {
        key.split('.').fold(&self.text, |node, part| &node[part]).as_str()
    }

    /// A message from the wording, by dotted key, with `{name}` placeholders filled.
    fn say(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.wording(key).unwrap_or(key).to_owned();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// "45 seconds", "3 minutes": a wait as a person reads it (minutes, rounded up, from two on).
    fn wait(&self, seconds: u64) -> String {
        let (key, n) = match seconds {
            0 | 1 => ("time.second", 1),
            2..120 => ("time.seconds", seconds),
            _ => match seconds.div_ceil(60) {
                1 => ("time.minute", 1),
                minutes => ("time.minutes", minutes),
            },
        };
        self.say(key, &[("n", &n.to_string())])
    }

    fn knows(&self, key: &str) -> bool {
        self.wording(key).is_some()
    }

    fn context(&self, page: &Page) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("stylesheet".into(), json!(self.stylesheet_path));
        map.insert("script".into(), json!(self.script_path));
        map.insert("csrf_token".into(), json!(page.csrf_token));
        map.insert("return_to".into(), json!(page.return_to));
        map.insert("notice".into(), json!(page.notice));
        map.insert("error".into(), json!(page.error));
        map.insert("errors".into(), json!(page.errors));
        let mut values = serde_json::Map::new();
        for key in ["email", "name", "new_email", "workspace_name"] {
            values.insert(key.into(), json!(page.values.get(key).cloned().unwrap_or_default()));
        }
        map.insert("values".into(), serde_json::Value::Object(values));
        if let serde_json::Value::Object(extra) = &page.extra {
            for (key, value) in extra {
                map.insert(key.clone(), value.clone());
            }
        }
        Value::from_serialize(&map)
    }
}

fn invalid_csp() -> TemplateError {
    TemplateError { file: "branding.logo_url".into(), message: "cannot be named in a Content-Security-Policy".into() }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|byte| format!("{byte:02x}")).collect()
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization()).filter(|origin| origin != "null")
}

/// The values each page template needs beyond the common ones, for the start-time check.
fn sample_contexts() -> Vec<(&'static str, serde_json::Value)> {
    let user = json!({ "email": "ada@example.com", "email_verified": false, "name": "Ada",
        "created_at": "2026-01-01T00:00:00Z", "created_at_text": "2026-01-01 00:00 UTC", "pending_email": null });
    let pending_user = json!({ "email": "ada@example.com", "email_verified": true, "name": null,
        "created_at": "2026-01-01T00:00:00Z", "created_at_text": "2026-01-01 00:00 UTC",
        "pending_email": { "new_email": "ada@new.example.com", "expires_at_text": "2026-01-01 01:00 UTC" } });
    let workspace =
        json!({ "id": "00000000-0000-0000-0000-000000000000", "name": "Acme", "role": "owner", "manages": true });
    let member = json!({ "user_id": "00000000-0000-0000-0000-000000000000", "email": "bob@example.com", "name": "Bob",
        "role": "member", "you": false, "manageable": true, "joined_text": "2026-01-01 00:00 UTC" });
    let session = json!({ "id": "00000000-0000-0000-0000-000000000000", "device": "Firefox on Linux",
        "current": false, "created_at": "2026-01-01T00:00:00Z", "created_at_text": "1 January 2026", "ip": "192.0.2.1" });
    let provider = json!({ "name": "github", "display_name": "GitHub", "linked": false,
        "start_url": "/v1/oauth/github/start" });
    vec![
        ("login.html", json!({ "providers": [provider], "passkeys": true, "next": "/account" })),
        ("signup.html", json!({})),
        ("email_link.html", json!({})),
        ("forgot_password.html", json!({})),
        ("reset_password.html", json!({ "link_ok": true, "token": "t" })),
        ("verify_email.html", json!({ "link_ok": true, "token": "t" })),
        ("magic_link.html", json!({ "link_ok": true, "token": "t" })),
        ("login_mfa.html", json!({ "passkey": true, "app": false, "next": "/account" })),
        ("login_mfa.html", json!({ "passkey": false, "app": true, "next": "/account" })),
        ("recovery_codes.html", json!({ "codes": ["abcd-efgh-jkmn-pqrs"] })),
        ("message.html", json!({ "title": "Done", "text": "Text", "link": { "href": "/", "label": "Go" } })),
        (
            "invitation.html",
            json!({ "token": "t", "invitation": { "workspace": "Acme", "role": "member", "email": "ada@example.com" } }),
        ),
        (
            "account.html",
            json!({
                "user": user,
                "sessions": [session.clone(), session],
                "providers": [provider],
                "identities": [{ "id": "00000000-0000-0000-0000-000000000000", "display_name": "GitHub",
                    "email": "ada@example.com" }],
                "connections": [{ "provider": "github", "display_name": "GitHub", "status": "active",
                    "scopes": ["repo"] }],
                "workspaces": [workspace],
                "reauth_minutes": 5,
                "mfa": { "fresh": false, "has_password": true, "pending": null, "recovery_codes_left": 9,
                    "passkeys_on": true, "passkeys": [{ "id": "00000000-0000-0000-0000-000000000000", "name": "Laptop",
                        "backup_eligible": true, "created_at_text": "x", "last_used_text": "y" }],
                    "app": { "created_at_text": "2026-01-01 00:00 UTC", "last_used_text": "2026-01-02 00:00 UTC" } },
            }),
        ),
        (
            "account.html",
            json!({
                "user": pending_user, "sessions": [], "providers": [], "identities": [], "connections": [], "workspaces": [],
                "reauth_minutes": 5,
                "mfa": { "fresh": true, "has_password": false, "app": null, "recovery_codes_left": 0,
                    "passkeys_on": false, "passkeys": [],
                    "pending": { "secret": "ABCD EFGH", "qr_svg": "<svg></svg>" } },
            }),
        ),
        (
            "account.html",
            json!({
                "user": user, "sessions": [], "providers": [], "identities": [], "connections": [], "workspaces": [],
                "reauth_minutes": 5,
                "mfa": { "fresh": true, "has_password": true, "app": { "created_at_text": "x", "last_used_text": null },
                    "passkeys_on": true, "passkeys": [{ "id": "00000000-0000-0000-0000-000000000000", "name": "Key",
                        "backup_eligible": false, "created_at_text": "x", "last_used_text": null }],
                    "pending": null, "recovery_codes_left": 10 },
            }),
        ),
        (
            "account.html",
            json!({
                "user": user, "sessions": [], "providers": [], "identities": [], "connections": [], "workspaces": [],
                "reauth_minutes": 5,
                "mfa": { "fresh": false, "has_password": false, "app": null, "pending": null, "recovery_codes_left": 0,
                    "passkeys_on": true, "passkeys": [] },
            }),
        ),
        ("email_change.html", json!({ "link_ok": true, "token": "t" })),
        ("email_change_undo.html", json!({ "link_ok": true, "token": "t" })),
        (
            "workspace.html",
            json!({ "workspace": workspace, "role": "owner", "is_admin": true, "is_owner": true,
                "members": [member], "assignable": ["member", "admin", "owner"],
                "invitations": [{ "id": "00000000-0000-0000-0000-000000000000", "email": "carol@example.com",
                    "role": "admin", "expires_text": "2026-01-08 00:00 UTC" }] }),
        ),
        (
            "workspace.html",
            json!({ "workspace": workspace, "role": "member", "is_admin": false, "is_owner": false,
                "members": [member], "assignable": [], "invitations": [] }),
        ),
    ]
}

/// One page to answer: a template, its values, and what goes in the headers.
#[derive(Debug, Default)]
pub(crate) struct Page {
    template: &'static str,
    status: Option<StatusCode>,
    csrf_token: String,
    return_to: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    errors: BTreeMap<String, String>,
    values: BTreeMap<String, String>,
    extra: serde_json::Value,
    cookies: Vec<HeaderValue>,
    retry_after_secs: Option<u64>,
}

impl Page {
    pub(crate) fn new(template: &'static str, extra: serde_json::Value) -> Self {
        Self { template, extra, ..Self::default() }
    }

    pub(crate) fn status_code(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub(crate) fn return_to(mut self, return_to: Option<&str>) -> Self {
        self.return_to = return_to.map(str::to_owned);
        self
    }

    pub(crate) fn notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }

    pub(crate) fn keep(mut self, field: &str, value: &str) -> Self {
        self.values.insert(field.to_owned(), value.to_owned());
        self
    }

    pub(crate) fn cookie(mut self, cookie: Option<HeaderValue>) -> Self {
        self.cookies.extend(cookie);
        self
    }

    /// Shows `error` as a person reads it: next to its field when it concerns one, above the
    /// form otherwise, with the API's status (and `Retry-After` for a rate limit).
    pub(crate) fn failed(mut self, pages: &PageSettings, error: &ApiError) -> Self {
        self.status = Some(error.status());
        match error {
            ApiError::Validation(fields) => {
                for field in fields {
                    let name = pages.say(&format!("field_names.{}", field.field), &[]);
                    self.errors.insert(field.field.clone(), format!("{name} {}.", field.message));
                }
            }
            ApiError::RateLimited { retry_after_secs, .. } => {
                self.retry_after_secs = Some(*retry_after_secs);
                let wait = pages.wait(*retry_after_secs);
                self.error = Some(pages.say("errors.rate_limited", &[("wait", &wait)]));
            }
            ApiError::PasswordBreached(fields) => {
                for field in fields {
                    self.errors.insert(field.field.clone(), pages.say("errors.password_breached", &[]));
                }
            }
            ApiError::InvalidCredentials => {
                self.errors.insert("password".into(), pages.say("errors.invalid_credentials", &[]));
            }
            ApiError::EmailNotVerified => {
                self.errors.insert("email".into(), pages.say("errors.email_not_verified", &[]));
            }
            ApiError::InvalidCode => {
                self.errors.insert("code".into(), pages.say("errors.invalid_code", &[]));
            }
            ApiError::Store(gatehouse_core::store::StoreError::Duplicate { .. }) => {
                self.errors.insert("email".into(), pages.say("errors.duplicate_entry", &[]));
            }
            ApiError::CsrfFailed(_) => self.error = Some(pages.say("errors.form_expired", &[])),
            // Load being shed: counted in metrics, not logged once per refused sign-in.
            ApiError::Overloaded { retry_after_secs } => {
                self.retry_after_secs = Some(*retry_after_secs);
                self.error = Some(pages.say("errors.overloaded", &[]));
            }
            other => {
                let key = format!("errors.{}", other.code());
                let key = if pages.knows(&key) { key } else { "errors.internal_error".to_owned() };
                self.error = Some(pages.say(&key, &[]));
                if other.status().is_server_error() {
                    // Logged once, as the JSON answer would be; the person sees only the message.
                    tracing::error!(code = other.code(), error = %other, "a page's request failed");
                }
            }
        }
        self
    }

    /// Renders the page with its headers: HTML, never cached, with the pages' CSP.
    pub(crate) fn render(self, state: &AppState) -> Response {
        let Some(pages) = state.services().pages.as_deref() else { return ApiError::NotFound.into_response() };
        let body = match pages.templates.render(self.template, pages.context(&self)) {
            Ok(body) => body,
            // Logged once, by the error's answer.
            Err(error) => return ApiError::Internal(format!("rendering a page: {error}")).into_response(),
        };
        let mut response = (self.status.unwrap_or(StatusCode::OK), body).into_response();
        let csp = if self.template == "account.html" { &pages.csp_account } else { &pages.csp };
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        page_headers(headers, csp);
        for cookie in self.cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
        if let Some(seconds) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// The headers every page answer carries, redirects included.
fn page_headers(headers: &mut HeaderMap, csp: &HeaderValue) {
    headers.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    // `no-referrer` (the API's policy) makes Chromium send `Origin: null` on a page's own form
    // posts, which the origin check must refuse; `same-origin` sends the origin to us and nothing
    // to anyone else.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A 303 to `location` (after a form post, the browser follows with a GET).
pub(crate) fn see_other(state: &AppState, location: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    if let Some(pages) = state.services().pages.as_deref() {
        page_headers(headers, &pages.csp);
    }
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /assets/gatehouse.css`: the stylesheet, rendered once at start with the branding.
async fn stylesheet(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let Some(pages) = state.services().pages.as_deref() else { return ApiError::NotFound.into_response() };
    let mut response = pages.stylesheet.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}

/// `GET /assets/passkeys.js`: the script behind the passkey buttons.
async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}

/// `GET /favicon.ico`: no icon, said without an error, so browsers stop asking for a day and log
/// no failed load.
async fn no_icon() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}

/// Whether the client takes HTML: a browser, or a client that states no preference. A client
/// that asks only for JSON gets a 406 that names the API instead of a page.
pub(crate) fn accepts_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()) else { return true };
    accept.split(',').map(|part| part.split(';').next().unwrap_or_default().trim()).any(|media| {
        media.eq_ignore_ascii_case("text/html")
            || media.eq_ignore_ascii_case("application/xhtml+xml")
            || media == "*/*"
            || media.eq_ignore_ascii_case("text/*")
    })
}

/// The cookie that binds signed-out forms to this browser.
pub(crate) const FORM_COOKIE: &str = "gatehouse_form";

/// The signed-out form token of this browser: from its `gatehouse_form` cookie, or a new one
/// with the cookie to set.
pub(crate) fn form_binding(state: &AppState, headers: &HeaderMap) -> Result<(String, Option<HeaderValue>), ApiError> {
    if let Some(existing) = cookie_value(headers, FORM_COOKIE).and_then(RandomToken::parse) {
        return Ok((form_token(state, &existing), None));
    }
    let fresh = RandomToken::from_random(os_random()?);
    let mut cookie = format!("{FORM_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax", fresh.encode());
    if state.cookie().secure {
        cookie.push_str("; Secure");
    }
    Ok((form_token(state, &fresh), HeaderValue::from_str(&cookie).ok()))
}

/// The HMAC of the form cookie, under a hash distinct from any session token's.
fn form_token(state: &AppState, binding: &RandomToken) -> String {
    state.services().csrf.token_for(&form_hash(binding))
}

fn form_hash(binding: &RandomToken) -> TokenHash {
    let mut hasher = Sha256::new();
    hasher.update(b"gatehouse signed-out form v1");
    hasher.update(binding.hash().0);
    TokenHash(hasher.finalize().into())
}

/// Whether `presented` is the token of this browser's form cookie (compared in constant time).
pub(crate) fn form_token_valid(state: &AppState, headers: &HeaderMap, presented: Option<&str>) -> bool {
    let binding = cookie_value(headers, FORM_COOKIE).and_then(RandomToken::parse);
    match (binding, presented) {
        (Some(binding), Some(presented)) => state.services().csrf.verify(&form_hash(&binding), presented),
        _ => false,
    }
}

/// `return_to` when the allowlist allows it, or when it is on a host a forward-auth rule
/// protects (the proxy sent the browser here from there); `None` (never an error) otherwise.
pub(crate) fn allowed_return_to(state: &AppState, requested: Option<&str>) -> Option<String> {
    let requested = requested.filter(|text| !text.is_empty())?;
    let services = state.services();
    let protected = |url: &url::Url| url.host_str().is_some_and(|host| services.forward_auth.rules.protects_host(host));
    services.oauth.allowlist.check_also(Some(requested), protected).ok().map(|url| url.to_string())
}

/// The page a browser sees when forward-auth denies it (the proxy passes it on).
pub(crate) fn denied_page(state: &AppState) -> Option<Response> {
    let pages = state.services().pages.as_deref()?;
    let link = json!({ "href": format!("{}/account", state.services().oauth.public_url), "label": pages.say("denied.account", &[]) });
    let extra = json!({ "title": pages.say("denied.title", &[]), "text": pages.say("errors.forward_auth_denied", &[]), "link": link });
    Some(Page::new("message.html", extra).status_code(StatusCode::FORBIDDEN).render(state))
}

/// Where to go after signing in: the allowed `return_to`, or the account page.
pub(crate) fn destination(return_to: Option<&str>) -> String {
    return_to.map_or_else(|| "/account".to_owned(), str::to_owned)
}

/// `path?return_to=…`, or `path` alone.
pub(crate) fn with_return_to(path: &str, return_to: Option<&str>, more: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(return_to) = return_to {
        query.append_pair("return_to", return_to);
    }
    for (key, value) in more {
        query.append_pair(key, value);
    }
    let query = query.finish();
    if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
}

/// The pages, or 404 when they are switched off.
pub(crate) fn pages(state: &AppState) -> Result<&Arc<PageSettings>, ApiError> {
    state.services().pages.as_ref().ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branding() -> Branding {
        Branding { product_name: "Acme".into(), logo_url: None, accent_color: "#2f5bd3".into(), support_email: None }
    }

    #[test]
    fn the_built_in_pages_compile_and_render() {
        let pages = PageSettings::load(branding(), BTreeMap::new(), &[]).expect("built-in pages are valid");
        assert!(pages.stylesheet_path.starts_with("/assets/gatehouse.css?v="));
        assert!(std::str::from_utf8(&pages.stylesheet).expect("css").contains("--accent: #2f5bd3"));
        let csp = pages.csp.to_str().expect("ascii");
        assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
    }

    #[test]
    fn a_replaced_template_that_names_an_unknown_value_is_refused() {
        let overrides = BTreeMap::from([("login.html".to_owned(), "{{ pasword }}".to_owned())]);
        let error = PageSettings::load(branding(), overrides, &[]).expect_err("undefined value");
        assert_eq!(error.file, "login.html");
        let broken = BTreeMap::from([(TEXT_FILE.to_owned(), "{".to_owned())]);
        assert_eq!(PageSettings::load(branding(), broken, &[]).expect_err("bad json").file, TEXT_FILE);
    }

    #[test]
    fn every_error_the_api_can_answer_has_a_message() {
        use gatehouse_core::store::StoreError;
        let pages = PageSettings::load(branding(), BTreeMap::new(), &[]).expect("pages");
        let errors = [
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::MalformedJson(String::new()),
            ApiError::InvalidBody(String::new()),
            ApiError::UnsupportedMediaType,
            ApiError::NotAcceptable,
            ApiError::BodyTooLarge { limit_bytes: 1 },
            ApiError::Validation(Vec::new()),
            ApiError::Timeout { timeout_ms: 1 },
            ApiError::NotReady { detail: String::new(), checks: serde_json::Value::Null },
            ApiError::Unauthenticated(""),
            ApiError::InvalidCredentials,
            ApiError::LinkInvalid,
            ApiError::EmailNotVerified,
            ApiError::MissingScope(""),
            ApiError::InvalidQuery(String::new()),
            ApiError::CsrfFailed(""),
            ApiError::RateLimited { retry_after_secs: 1, headers: Default::default() },
            ApiError::Missing(""),
            ApiError::RedirectNotAllowed,
            ApiError::ScopeNotAllowed(String::new()),
            ApiError::OAuthStateInvalid(""),
            ApiError::ProviderUnavailable,
            ApiError::ConnectionBroken(""),
            ApiError::LastSignInMethod,
            ApiError::UntrustedProxy,
            ApiError::InvalidForwardedRequest(String::new()),
            ApiError::ForwardAuthDenied,
            ApiError::InsufficientRole(""),
            ApiError::LastOwner(""),
            ApiError::ReauthenticationRequired(""),
            ApiError::SecondStepInvalid,
            ApiError::InvalidCode,
            ApiError::MfaAlreadyEnabled,
            ApiError::PasskeysUnavailable(String::new()),
            ApiError::PasskeyInvalid(""),
            ApiError::InvitationInvalid,
            ApiError::InvitationEmailMismatch,
            ApiError::PasswordBreached(Vec::new()),
            ApiError::EmailTaken,
            ApiError::Store(StoreError::Duplicate { what: String::new() }),
            ApiError::Store(StoreError::Unavailable(String::new())),
            ApiError::Internal(String::new()),
            ApiError::Overloaded { retry_after_secs: 1 },
        ];
        for error in errors {
            assert!(pages.knows(&format!("errors.{}", error.code())), "no message for `{}`", error.code());
        }
    }

    /// Does not compile when `ApiError` gains a variant: add it to the list above (and its
    /// message to text.json).
    #[allow(dead_code, reason = "a compile-time check")]
    fn every_variant_is_listed(error: &ApiError) {
        match error {
            ApiError::NotFound
            | ApiError::MethodNotAllowed
            | ApiError::MalformedJson(_)
            | ApiError::InvalidBody(_)
            | ApiError::UnsupportedMediaType
            | ApiError::NotAcceptable
            | ApiError::BodyTooLarge { .. }
            | ApiError::Validation(_)
            | ApiError::Timeout { .. }
            | ApiError::NotReady { .. }
            | ApiError::Unauthenticated(_)
            | ApiError::InvalidCredentials
            | ApiError::LinkInvalid
            | ApiError::EmailNotVerified
            | ApiError::MissingScope(_)
            | ApiError::InvalidQuery(_)
            | ApiError::CsrfFailed(_)
            | ApiError::RateLimited { .. }
            | ApiError::Missing(_)
            | ApiError::RedirectNotAllowed
            | ApiError::ScopeNotAllowed(_)
            | ApiError::OAuthStateInvalid(_)
            | ApiError::ProviderUnavailable
            | ApiError::ConnectionBroken(_)
            | ApiError::LastSignInMethod
            | ApiError::UntrustedProxy
            | ApiError::InvalidForwardedRequest(_)
            | ApiError::ForwardAuthDenied
            | ApiError::InsufficientRole(_)
            | ApiError::LastOwner(_)
            | ApiError::ReauthenticationRequired(_)
            | ApiError::SecondStepInvalid
            | ApiError::InvalidCode
            | ApiError::MfaAlreadyEnabled
            | ApiError::PasskeysUnavailable(_)
            | ApiError::PasskeyInvalid(_)
            | ApiError::InvitationInvalid
            | ApiError::InvitationEmailMismatch
            | ApiError::PasswordBreached(_)
            | ApiError::EmailTaken
            | ApiError::Store(_)
            | ApiError::Hashing(_)
            | ApiError::Overloaded { .. }
            | ApiError::Internal(_) => {}
        }
    }

    #[test]
    fn waits_read_naturally() {
        let pages = PageSettings::load(branding(), BTreeMap::new(), &[]).expect("pages");
        assert_eq!(pages.wait(1), "1 second");
        assert_eq!(pages.wait(45), "45 seconds");
        assert_eq!(pages.wait(119), "119 seconds");
        assert_eq!(pages.wait(150), "3 minutes");
        assert_eq!(pages.wait(900), "15 minutes");
    }

    #[test]
    fn html_is_for_clients_that_take_it() {
        let mut headers = HeaderMap::new();
        assert!(accepts_html(&headers), "no Accept header: any type");
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"));
        assert!(accepts_html(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!accepts_html(&headers));
    }

    #[test]
    fn return_to_is_carried_in_the_query() {
        assert_eq!(with_return_to("/login", None, &[]), "/login");
        assert_eq!(
            with_return_to("/login", Some("https://app.example.com/a?b=1"), &[("notice", "verified")]),
            "/login?return_to=https%3A%2F%2Fapp.example.com%2Fa%3Fb%3D1&notice=verified"
        );
    }
}
