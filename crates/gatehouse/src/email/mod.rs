//! Sending email: the job handler that renders a link's email and hands it to the configured
//! provider, the providers themselves (see [`providers`]), and the handler that answers requests
//! for a link by address (see [`requests`]).
//!
//! The handler runs on the job worker, so a provider that is down delays an email but never loses
//! it. It is safe to run twice: the HTTP provider sends the link id as the idempotency key, and a
//! repeated SMTP send delivers a second copy of the same link, which still works once.

pub mod providers;
pub mod requests;
pub mod templates;

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::clock::Clock;
use gatehouse_core::email::{EmailJob, LinkKey, LinkPurpose, Notice, NoticeJob, SendEmail, SendNotice};

use crate::config::EmailConfig;
use crate::worker::{JobError, Perform};
pub use providers::Mailer;
use templates::{Template, Templates, Values, describe_duration};

/// One email, rendered and addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The same for every attempt at this email, so a provider can drop a repeat.
    pub idempotency_key: String,
}

/// The `email.send` job handler.
#[derive(Debug, Clone)]
pub struct EmailDelivery {
    mailer: Arc<dyn Mailer>,
    templates: Arc<Templates>,
    link_key: LinkKey,
    config: Arc<EmailConfig>,
    clock: Arc<dyn Clock>,
}

impl EmailDelivery {
    pub fn new(
        mailer: Arc<dyn Mailer>,
        templates: Templates,
        link_key: LinkKey,
        config: EmailConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { mailer, templates: Arc::new(templates), link_key, config: Arc::new(config), clock }
    }

    /// The link the email carries: the configured page with the token as `token`.
    fn link(&self, job: &EmailJob) -> String {
        let mut page = match job.template {
            LinkPurpose::VerifyEmail => self.config.verify_email_url.clone(),
            LinkPurpose::ResetPassword => self.config.reset_password_url.clone(),
            LinkPurpose::MagicLink => self.config.magic_link_url.clone(),
            LinkPurpose::Invitation => self.config.invitation_url.clone(),
            LinkPurpose::EmailChange => self.config.email_change_url.clone(),
            LinkPurpose::EmailChangeUndo => self.config.email_change_undo_url.clone(),
        };
        page.query_pairs_mut().append_pair("token", &self.link_key.token(job.link_id).encode());
        if let Some(return_to) = &job.return_to {
            page.query_pairs_mut().append_pair("return_to", return_to);
        }
        page.to_string()
    }

    pub fn render(&self, job: &EmailJob, now: time::OffsetDateTime) -> OutgoingEmail {
        let link = self.link(job);
        let remaining = (job.link_expires_at - now).max(time::Duration::MINUTE);
        let expires_in = describe_duration(std::time::Duration::try_from(remaining).unwrap_or_default());
        let values = Values {
            app_name: &self.config.app_name,
            name: job.name.as_deref().unwrap_or("there"),
            email: &job.to,
            link: &link,
            expires_in: &expires_in,
            workspace: job.workspace.as_deref().unwrap_or_default(),
            new_email: job.target_email.as_deref().unwrap_or_default(),
            when: "",
            device: "",
            ip: "",
        };
        let rendered = self.templates.render(Template::Link(job.template), &values);
        OutgoingEmail {
            from: self.config.from.clone(),
            to: job.to.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            idempotency_key: job.link_id.to_string(),
        }
    }

    /// A notice: nothing that expires, and no link but to a fixed page (the account page, the
    /// request for a reset link), never a token.
    pub fn render_notice(&self, job: &NoticeJob) -> OutgoingEmail {
        let link = match job.notice {
            Notice::NewDevice => self.config.account_url.as_str(),
            Notice::PasswordChanged => self.config.forgot_password_url.as_str(),
            Notice::MfaDisabled | Notice::RecoveryCodeUsed | Notice::EmailInUse => "",
        };
        let when =
            job.context.as_ref().map(|context| gatehouse_core::clock::readable_utc(context.at)).unwrap_or_default();
        let values = Values {
            app_name: &self.config.app_name,
            name: job.name.as_deref().unwrap_or("there"),
            email: &job.to,
            link,
            expires_in: "",
            workspace: "",
            new_email: "",
            when: &when,
            device: job.context.as_ref().map_or("", |context| context.device.as_str()),
            ip: job.context.as_ref().and_then(|context| context.ip.as_deref()).unwrap_or("an unknown address"),
        };
        let rendered = self.templates.render(Template::Notice(job.notice), &values);
        OutgoingEmail {
            from: self.config.from.clone(),
            to: job.to.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            idempotency_key: job.id.to_string(),
        }
    }

    /// Hands `email` to the provider and counts the outcome under its template's name.
    async fn send(&self, email: &OutgoingEmail, template: &'static str) -> Result<(), JobError> {
        let outcome = self.mailer.send(email).await;
        match &outcome {
            Ok(()) => metrics::counter!("gatehouse_emails_sent_total", "template" => template).increment(1),
            Err(_) => metrics::counter!("gatehouse_email_failures_total", "template" => template).increment(1),
        }
        outcome
    }
}

/// The `email.notice` job handler: the same provider and templates as links.
#[derive(Debug, Clone)]
pub struct NoticeDelivery(pub EmailDelivery);

#[async_trait]
impl Perform for NoticeDelivery {
    type Job = SendNotice;

    async fn perform(&self, job: NoticeJob) -> Result<(), JobError> {
        let email = self.0.render_notice(&job);
        self.0.send(&email, job.notice.as_str()).await
    }
}

#[async_trait]
impl Perform for EmailDelivery {
    type Job = SendEmail;

    async fn perform(&self, job: EmailJob) -> Result<(), JobError> {
        let now = self.clock.now();
        if job.link_expires_at <= now {
            // Mailing a dead link helps no one; the user asks for a new one.
            return Err(JobError::Permanent("the link expired before its email could be sent".into()));
        }
        let email = self.render(&job, now);
        self.send(&email, job.template.as_str()).await
    }
}
