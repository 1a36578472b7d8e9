//! The email providers: `console` (logs the email), `http` (an email API in Resend's shape) and
//! `smtp` (lettre over rustls).
//!
//! Each classifies its failures for the job queue: an answer that says the email itself is wrong
//! (a 4xx from the API, a 5xx SMTP reply) is permanent and kills the job with the reason; a busy or
//! unreachable provider (5xx, 429, a 4xx SMTP reply, a timeout, a refused connection) is retried.
//! Any 2xx from the API is success. Error texts never hold the API key or the SMTP password.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use super::OutgoingEmail;
use crate::config::{EmailConfig, EmailProviderConfig, SmtpTls};
use crate::worker::{JobError, error_chain};

/// Something that delivers an email, or says why it could not.
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), JobError>;
}

/// The provider `config` names.
pub fn from_config(config: &EmailConfig) -> anyhow::Result<std::sync::Arc<dyn Mailer>> {
    Ok(match &config.provider {
        EmailProviderConfig::Console => std::sync::Arc::new(Console),
        EmailProviderConfig::Http { base_url, api_key } => {
            std::sync::Arc::new(HttpApi::new(base_url.clone(), api_key.expose().to_owned(), config.timeout)?)
        }
        EmailProviderConfig::Smtp { host, port, tls, username, password, ca_pem } => {
            let credentials = match (username, password) {
                (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.expose().to_owned())),
                _ => None,
            };
            std::sync::Arc::new(Smtp::new(host, *port, *tls, credentials, ca_pem.as_deref(), config.timeout)?)
        }
    })
}

/// Development: the email is written to the log, links and all, so a developer can click through.
#[derive(Debug, Clone, Copy)]
pub struct Console;

#[async_trait]
impl Mailer for Console {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), JobError> {
        tracing::info!(to = email.to, subject = email.subject, "email (console provider, not sent):\n{}", email.text);
        Ok(())
    }
}

/// An email API that takes `POST <base>/emails` with a Bearer key and a JSON message, as Resend's
/// does. The idempotency key makes a retried send after a lost answer harmless.
#[derive(Debug, Clone)]
pub struct HttpApi {
    endpoint: url::Url,
    api_key: String,
    client: reqwest::Client,
}

/// Error bodies are kept to this many characters in the job's error.
const MAX_BODY_CHARS: usize = 200;

impl HttpApi {
    pub fn new(base_url: url::Url, api_key: String, timeout: Duration) -> anyhow::Result<Self> {
        let endpoint = base_url
            .join(&format!("{}/emails", base_url.path().trim_end_matches('/')))
            .context("building the email API's URL")?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the email API client")?;
        Ok(Self { endpoint, api_key, client })
    }
}

#[async_trait]
impl Mailer for HttpApi {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), JobError> {
        let body = serde_json::json!({
            "from": email.from,
            "to": [email.to],
            "subject": email.subject,
            "text": email.text,
            "html": email.html,
        });
        let response = self
            .client
            .post(self.endpoint.clone())
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", &email.idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(|error| {
                let class = if error.is_timeout() { "timed out" } else { "could not be reached" };
                // Without the URL: it is configuration, not news.
                JobError::Retry(format!("the email API {class}: {}", error_chain(&error.without_url())))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = crate::worker::retry_after(response.headers());
        let text: String = response.text().await.unwrap_or_default().chars().take(MAX_BODY_CHARS).collect();
        let error = format!("the email API answered {status}: {text}");
        // Too many requests, a request timeout, or a send with this idempotency key still in
        // progress: the email is fine, the moment was not. Any other 4xx is about the email.
        let about_the_email = status.is_client_error() && !matches!(status.as_u16(), 408 | 409 | 429);
        Err(match retry_after {
            _ if about_the_email => JobError::Permanent(error),
            Some(after) => JobError::RetryAfter { error, after },
            None => JobError::Retry(error),
        })
    }
}

/// SMTP with STARTTLS, implicit TLS, or (for a relay on the same host) none.
#[derive(Debug, Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Smtp {
    pub fn new(
        host: &str,
        port: u16,
        tls: SmtpTls,
        credentials: Option<Credentials>,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let parameters = || -> anyhow::Result<TlsParameters> {
            let mut builder = TlsParameters::builder(host.to_owned());
            if let Some(pem) = ca_pem {
                builder = builder.add_root_certificate(
                    Certificate::from_pem(pem).context("email.smtp_tls_ca_file holds no usable certificate")?,
                );
            }
            builder.build_rustls().context("setting up TLS for SMTP")
        };
        let mode = match tls {
            SmtpTls::StartTls => Tls::Required(parameters()?),
            SmtpTls::Implicit => Tls::Wrapper(parameters()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).tls(mode).timeout(Some(timeout));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(Self { transport: builder.build() })
    }
}

#[async_trait]
impl Mailer for Smtp {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), JobError> {
        let from: Mailbox =
            email.from.parse().map_err(|error| JobError::Permanent(format!("the From address is invalid: {error}")))?;
        let to: Mailbox =
            email.to.parse().map_err(|error| JobError::Permanent(format!("the recipient is invalid: {error}")))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|error| JobError::Permanent(format!("the email cannot be built: {error}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // A 5xx reply: the server refuses this message for good (unknown mailbox, policy).
            Err(error) if error.is_permanent() => {
                Err(JobError::Permanent(format!("the SMTP server refused the email: {error}")))
            }
            Err(error) => Err(JobError::Retry(format!("SMTP: {error}"))),
        }
    }
}
