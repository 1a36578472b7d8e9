//! New-device notices: after any response that signs someone in (it sets the session cookie,
//! whichever way the person proved who they are), the device is recognised or recorded, and a
//! sign-in from a new one is mailed to the account's address.
//!
//! This runs after the handler, in the router's guard, so no sign-in path (password, link,
//! provider, passkey, second step, their pages) can forget it, and the hot path pays only a
//! look at the response's `Set-Cookie` headers. The sign-in itself has committed by then: a
//! failure here is logged and the sign-in stands.

use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::devices::{NewDevice, Recognition, Sighting, network_of, recognise};
use gatehouse_core::email::{Notice, NoticeContext, NoticeJob};
use gatehouse_core::sessions::{ClientContext, RandomToken, SessionToken, TokenHash};
use http::{HeaderMap, HeaderValue, header};
use uuid::Uuid;

use crate::error::{ApiError, os_random};
use crate::state::AppState;

/// How long the device cookie lasts: 400 days, the most browsers keep a cookie.
const DEVICE_COOKIE_MAX_AGE_SECS: u64 = 400 * 24 * 3600;

/// The device cookie's name: the session cookie's with `_device`.
pub(crate) fn device_cookie_name(state: &AppState) -> String {
    format!("{}_device", state.cookie().name)
}

/// The request's `Cookie` header, kept for [`after_response`] when new-device notices are on.
pub(crate) fn request_cookies(state: &AppState, headers: &HeaderMap) -> Option<HeaderValue> {
    if state.services().email.new_device_notice { headers.get(header::COOKIE).cloned() } else { None }
}

/// The session token a response sets, if it signs someone in.
fn session_set_by(state: &AppState, headers: &HeaderMap) -> Option<SessionToken> {
    let prefix = format!("{}=", state.cookie().name);
    headers.get_all(header::SET_COOKIE).iter().filter_map(|value| value.to_str().ok()).find_map(|value| {
        let pair = value.split(';').next()?.strip_prefix(&prefix)?;
        SessionToken::parse(pair)
    })
}

/// Recognises or records the device of a sign-in the response made, and sets the device cookie
/// when the browser had none that this account knows.
pub(crate) async fn after_response(state: &AppState, cookies: Option<HeaderValue>, headers: &mut HeaderMap) {
    if !state.services().email.new_device_notice || !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let Some(session) = session_set_by(state, headers) else { return };
    let mut request = HeaderMap::new();
    if let Some(cookies) = cookies {
        request.insert(header::COOKIE, cookies);
    }
    let sent = crate::sessions::cookie_value(&request, &device_cookie_name(state)).and_then(RandomToken::parse);
    match remember(state, &session.hash(), sent.as_ref()).await {
        Ok(Some(new_cookie)) => {
            headers.append(header::SET_COOKIE, device_cookie(state, &new_cookie));
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "recording the device of a sign-in failed; no new-device notice"),
    }
}

/// The device cookie to set, if the browser needs a new one.
async fn remember(
    state: &AppState,
    session: &TokenHash,
    sent: Option<&RandomToken>,
) -> Result<Option<RandomToken>, ApiError> {
    let services = state.services();
    let Some(owner) = services.devices.session_owner(session).await? else { return Ok(None) };
    let user = owner.user;
    let sighting = Sighting {
        user_id: user.id,
        cookie_hash: sent.map(RandomToken::hash),
        user_agent: owner.user_agent.clone(),
        network: owner.ip.map(network_of),
        at: services.clock.now(),
    };
    let known = services.devices.known_devices(user.id).await?;
    let notify = match recognise(&known, &sighting) {
        Recognition::Known(id) => {
            services.devices.device_seen(id, sighting.at).await?;
            return Ok(None);
        }
        Recognition::Familiar => false,
        Recognition::New { first } => !first,
    };
    // A browser keeps one device cookie for every account it signs in to.
    let cookie = match sent {
        Some(sent) => sent.clone(),
        None => RandomToken::from_random(os_random()?),
    };
    let device = NewDevice {
        id: Uuid::new_v4(),
        user_id: user.id,
        cookie_hash: cookie.hash(),
        user_agent: sighting.user_agent.clone(),
        network: sighting.network.clone(),
        at: sighting.at,
    };
    let client = ClientContext { user_agent: owner.user_agent, ip: owner.ip };
    let (mut jobs, mut events) = (Vec::new(), Vec::new());
    if notify {
        let context = NoticeContext::new(sighting.at, &client);
        jobs.push(
            NoticeJob::job_with_context(
                Notice::NewDevice,
                user.email.as_str(),
                user.name.as_deref(),
                context,
                sighting.at,
            )
            .map_err(|error| ApiError::Internal(error.to_string()))?,
        );
        events.push(
            AuditEvent::new(AuditAction::NewDeviceSignIn, Actor::User(user.id), sighting.at, &client)
                .target("session", owner.session_id),
        );
    }
    if services.devices.add_device(&device, &jobs, &events).await? {
        services.enqueued(&jobs);
    }
    Ok(sent.is_none().then_some(cookie))
}

/// `Set-Cookie` for the device cookie: long-lived, HttpOnly, naming no one.
fn device_cookie(state: &AppState, token: &RandomToken) -> HeaderValue {
    crate::sessions::set_cookie(state, &device_cookie_name(state), &token.encode(), DEVICE_COOKIE_MAX_AGE_SECS)
}
