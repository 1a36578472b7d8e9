//! The `email.link_request` job handler: answers a request for a link by address, off the request
//! path, so the HTTP answer and its timing are the same whether or not the address is registered.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::accounts::AccountStore;
use gatehouse_core::clock::Clock;
use gatehouse_core::email::{
    EmailJob, LinkKey, LinkLifetimes, LinkPurpose, LinkRequest, LinkStore, NewLink, RequestLink, SendEmail,
};
use gatehouse_core::jobs::JobType;
use gatehouse_core::store::StoreError;
use tokio::sync::Notify;

use crate::worker::{JobError, Perform};

#[derive(Debug, Clone)]
pub struct LinkRequests {
    pub accounts: Arc<dyn AccountStore>,
    pub links: Arc<dyn LinkStore>,
    pub link_key: LinkKey,
    pub lifetimes: LinkLifetimes,
    pub clock: Arc<dyn Clock>,
    /// This instance's worker, woken for the email job a request produces.
    pub wake: Arc<Notify>,
}

#[async_trait]
impl Perform for LinkRequests {
    type Job = RequestLink;

    async fn perform(&self, request: LinkRequest) -> Result<(), JobError> {
        let retry = |error: StoreError| JobError::Retry(format!("could not answer a link request: {error}"));
        let Some(found) = self.accounts.credentials_by_email(&request.email).await.map_err(retry)? else {
            return Ok(());
        };
        let user = found.user;
        let verified_already = request.purpose == LinkPurpose::VerifyEmail && user.email_verified;
        if user.disabled || verified_already {
            return Ok(());
        }
        let now = self.clock.now();
        let ttl = self.lifetimes.of(request.purpose);
        let link = NewLink::issue_with_id(&self.link_key, request.link_id, request.purpose, &user, now, ttl);
        let email = EmailJob::for_link(&link, &user, now, request.return_to.as_deref())
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        match self.links.issue_link(&link, &email, &[link.sent_to(&user, &request.client)]).await {
            Ok(()) => {
                gatehouse_http::state::count_enqueued(&self.wake, SendEmail::NAME, 1);
                Ok(())
            }
            // An earlier run of this job issued the link and its email, then lost its completion.
            Err(StoreError::Duplicate { .. }) => Ok(()),
            Err(error) => Err(retry(error)),
        }
    }
}
