//! The breached-password check of every new password (signup, change, reset).
//!
//! A corpus that cannot answer never blocks anyone: the password is accepted (the common-password
//! list still applied), the failure counted in `gatehouse_breached_check_failures_total`, and
//! `/health` shows `breached_passwords` degraded until a lookup succeeds again. One log line per
//! change of state, not one per signup.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gatehouse_core::breached::{BreachedPasswords, PasswordSha1};
use gatehouse_core::health::{DependencyCheck, DependencyReport};
use gatehouse_core::password::Password;

use crate::error::{ApiError, FieldError};

/// The configured corpus, if any, and how its lookups have gone.
#[derive(Debug, Clone)]
pub struct BreachedCheck {
    corpus: Option<Arc<dyn BreachedPasswords>>,
    /// `api` or `file`, for `/health`.
    source: &'static str,
    state: Arc<LookupState>,
}

#[derive(Debug, Default)]
struct LookupState {
    failing: AtomicBool,
    failures: AtomicU64,
}

/// The message a person sees, on the pages and in the API.
pub const BREACHED_MESSAGE: &str = "appears in a list of passwords leaked in data breaches, so attackers try it \
     first; choose another";

impl BreachedCheck {
    /// No check (`password.breached_check = "off"`).
    pub fn off() -> Self {
        Self { corpus: None, source: "off", state: Arc::default() }
    }

    pub fn new(corpus: Arc<dyn BreachedPasswords>, source: &'static str) -> Self {
        Self { corpus: Some(corpus), source, state: Arc::default() }
    }

    /// 422 `password_breached` (naming `field`) when the corpus lists the password; accepted when
    /// it does not, or cannot say.
    pub async fn refuse_breached(&self, password: &Password, field: &str) -> Result<(), ApiError> {
        let Some(corpus) = &self.corpus else { return Ok(()) };
        match corpus.is_breached(&PasswordSha1::of(password)).await {
            Ok(listed) => {
                if self.state.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(source = self.source, "the breached-password corpus answers again");
                }
                if listed {
                    metrics::counter!("gatehouse_breached_passwords_refused_total").increment(1);
                    return Err(ApiError::PasswordBreached(vec![FieldError {
                        field: field.to_owned(),
                        message: BREACHED_MESSAGE.to_owned(),
                    }]));
                }
                Ok(())
            }
            Err(error) => {
                self.state.failures.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("gatehouse_breached_check_failures_total").increment(1);
                if !self.state.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(source = self.source, %error,
                        "the breached-password corpus cannot answer; new passwords are accepted without it");
                }
                Ok(())
            }
        }
    }
}

#[async_trait::async_trait]
impl DependencyCheck for BreachedCheck {
    fn name(&self) -> &'static str {
        "breached_passwords"
    }

    /// The outcome of the latest lookup: nothing is probed, so `/health` never sends a prefix.
    async fn check(&self) -> DependencyReport {
        if self.corpus.is_none() {
            return DependencyReport::not_configured();
        }
        let failures = self.state.failures.load(Ordering::Relaxed);
        if self.state.failing.load(Ordering::Relaxed) {
            DependencyReport::degraded(
                None,
                format!(
                    "the {} corpus did not answer the latest lookup ({failures} failed since start); new passwords \
                     are accepted without it",
                    self.source
                ),
            )
        } else {
            let detail = format!("source {}; {failures} lookups failed since start", self.source);
            DependencyReport { latency_ms: None, detail: Some(detail), ..DependencyReport::ok(0) }
        }
    }
}
