//! Passkeys over HTTP: adding one to the signed-in account, listing, renaming and deleting them,
//! and using one to sign in without a password, as the second step of a sign-in, or to step up.
//!
//! The WebAuthn checks are `webauthn_rp`'s. A ceremony's server state is encoded and stored by the
//! challenge the authenticator signs (`webauthn_ceremonies`), so any instance finishes a ceremony
//! any other started, and it is spent by one `DELETE … RETURNING`. A passkey's user handle is the
//! account's id (16 bytes), so a discoverable credential names its account and nothing else.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::accounts::User;
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::email::Notice;
use gatehouse_core::mfa::{Ceremony, CeremonyKind, PASSKEY_NAME_MAX, Passkey, RecoveryCode, StoredPasskey};
use gatehouse_core::sessions::{AuthMethod, ClientContext};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;
use webauthn_rp::bin::{Decode as _, Encode as _};
use webauthn_rp::request::auth::{AuthenticationVerificationOptions, SignatureCounterEnforcement};
use webauthn_rp::request::register::{
    CredProtect, Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions, UserHandle, Username,
};
use webauthn_rp::request::{AsciiDomain, ExtensionInfo, PublicKeyCredentialDescriptor, RpId, TimedCeremony as _};
use webauthn_rp::response::auth::error::AuthCeremonyErr;
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, Backup, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication16, DiscoverableAuthenticationServerState,
    DiscoverableCredentialRequestOptions, PublicKeyCredentialCreationOptions, Registration, RegistrationServerState,
};

use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiPath};
use crate::mfa::{new_recovery_codes, notice, require_recent};
use crate::rate_limit::{RateLimitHeaders, with_headers};
use crate::sessions::{Client, CurrentSession, SignedIn, new_session, session_cookie, signed_in_response};
use crate::state::AppState;
use crate::webhooks::gatehouse_event;

/// The relying party passkeys are made for, from `[passkeys]`.
#[derive(Debug)]
pub struct RelyingParty {
    pub id: RpId,
    /// Where the pages that use passkeys are served from.
    pub origins: Vec<String>,
}

impl RelyingParty {
    /// `id` must be a domain name (the config checks that browsers would accept it).
    pub fn new(id: &str, origins: Vec<String>) -> Result<Self, String> {
        let domain = AsciiDomain::try_from(id.to_owned()).map_err(|error| format!("`{id}`: {error}"))?;
        Ok(Self { id: RpId::Domain(domain), origins })
    }
}

/// Whether passkeys are offered: the relying party, or why not (for the account page).
pub type Passkeys = Result<Arc<RelyingParty>, String>;

fn relying_party(state: &AppState) -> Result<Arc<RelyingParty>, ApiError> {
    state.services().mfa.passkeys.clone().map_err(ApiError::PasskeysUnavailable)
}

/// A passkey's user handle: the account's id.
fn user_handle(user_id: Uuid) -> UserHandle<16> {
    match UserHandle::<16>::decode(*user_id.as_bytes()) {
        Ok(handle) => handle,
        Err(never) => match never {},
    }
}

fn challenge_key(challenge: u128) -> Vec<u8> {
    challenge.to_le_bytes().to_vec()
}

fn expiry(expiration: std::time::SystemTime) -> Result<OffsetDateTime, ApiError> {
    Ok(OffsetDateTime::from(expiration))
}

fn internal(what: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("{what}: {error}"))
}

/// The options for `navigator.credentials.create()` / `.get()`, as WebAuthn's JSON forms
/// (`PublicKeyCredential.parseCreationOptionsFromJSON` and `parseRequestOptionsFromJSON` read
/// them); never cached.
fn options_response(options: serde_json::Value) -> Response {
    let mut response = Json(options).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /v1/me/passkeys/register/start`: the options to create a passkey for this account;
/// needs a fresh sign-in.
#[utoipa::path(
    post,
    path = "/v1/me/passkeys/register/start",
    tag = "mfa",
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "`PublicKeyCredentialCreationOptionsJSON`: pass it through \
            `PublicKeyCredential.parseCreationOptionsFromJSON` to `navigator.credentials.create({publicKey})`, \
            then send the credential's `toJSON()` to `…/register/finish` within 5 minutes.",
            body = Object),
        (status = 403, description = "`reauthentication_required`: reauthenticate first."),
        (status = 409, description = "`passkeys_unavailable`: passkeys are off here (the detail says why)."),
    ),
)]
pub(crate) async fn register_start(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Response, ApiError> {
    Ok(options_response(start_registration(&state, &current).await?))
}

pub(crate) async fn start_registration(
    state: &AppState,
    current: &CurrentSession,
) -> Result<serde_json::Value, ApiError> {
    let rp = relying_party(state)?;
    require_recent(state, current)?;
    let services = state.services();
    let handle = user_handle(current.user.id);
    let name = Username::try_from(current.user.email.as_str())
        .map_err(|error| internal("an address as a WebAuthn user name", error))?;
    let shown = current.user.name.as_deref().unwrap_or(current.user.email.as_str());
    let display_name = Nickname::try_from(shown).ok();
    // The account's passkeys, so the authenticator does not make a second one beside its own.
    let existing = services.mfa.store.passkeys_of_user(current.user.id).await?;
    let mut exclude = Vec::with_capacity(existing.len());
    for stored in existing {
        let id = CredentialId::<Vec<u8>>::decode(stored.credential_id)
            .map_err(|error| internal("a stored credential id", error))?;
        // Stored from the library's own encoding; a value it cannot read is left out, not guessed.
        let Ok(transports) = AuthTransports::decode(stored.transports) else { continue };
        exclude.push(PublicKeyCredentialDescriptor { id, transports });
    }
    let user = PublicKeyCredentialUserEntity { name, id: &handle, display_name };
    let mut options = PublicKeyCredentialCreationOptions::passkey(&rp.id, user, exclude);
    // Asked for, not enforced: many platform authenticators (and Chromium's) lack credProtect,
    // and an enforced request fails the whole creation there. User verification is still required.
    options.extensions.cred_protect = CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
    let (server, client) =
        options.start_ceremony().map_err(|error| internal("starting a passkey registration", error))?;
    let ceremony = Ceremony {
        challenge: challenge_key(server.sent_challenge().0),
        kind: CeremonyKind::Register,
        user_id: Some(current.user.id),
        state: server.encode().map_err(|error| internal("encoding a registration", error))?,
        expires_at: expiry(server.expiration())?,
    };
    services.mfa.store.create_ceremony(&ceremony).await?;
    serde_json::to_value(&client).map_err(|error| internal("the creation options", error))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterFinish {
    /// A name to tell it apart later ("Work laptop"); "Passkey" when left out.
    name: Option<String>,
    /// The new credential's `toJSON()` (`RegistrationResponseJSON`).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// A passkey just added, and the recovery codes when it is the account's first second factor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PasskeyAdded {
    passkey: Passkey,
    /// Shown only now: ten single-use codes for signing in without the passkey.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

fn credential_field(message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError { field: "credential".into(), message: message.into() }])
}

fn passkey_name(name: Option<&str>) -> Result<String, ApiError> {
    let name = name.map(str::trim).filter(|name| !name.is_empty()).unwrap_or("Passkey");
    if name.chars().count() > PASSKEY_NAME_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::Validation(vec![FieldError {
            field: "name".into(),
            message: format!("must be at most {PASSKEY_NAME_MAX} characters, without control characters"),
        }]));
    }
    Ok(name.to_owned())
}

/// `POST /v1/me/passkeys/register/finish`: checks the new credential and adds the passkey.
#[utoipa::path(
    post,
    path = "/v1/me/passkeys/register/finish",
    tag = "mfa",
    request_body = RegisterFinish,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 201, description = "Added; sign-in asks for a second factor from now.", body = PasskeyAdded),
        (status = 401, description = "`passkey_invalid`: the ceremony is unknown, expired, or not this \
            account's, or the credential does not verify (another site's, no user verification)."),
        (status = 409, description = "`duplicate_entry`: this passkey is registered already; \
            `passkeys_unavailable`: passkeys are off here."),
        (status = 422, description = "`validation_failed`: `credential` is not a registration response, or the \
            name is too long."),
    ),
)]
pub(crate) async fn register_finish(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(body): ApiJson<RegisterFinish>,
) -> Result<Response, ApiError> {
    let added = finish_registration(&state, &current, body.name.as_deref(), body.credential).await?;
    let mut response = (StatusCode::CREATED, Json(added)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub(crate) async fn finish_registration(
    state: &AppState,
    current: &CurrentSession,
    name: Option<&str>,
    credential: serde_json::Value,
) -> Result<PasskeyAdded, ApiError> {
    let rp = relying_party(state)?;
    let name = passkey_name(name)?;
    let registration: Registration =
        serde_json::from_value(credential).map_err(|_| credential_field("is not a WebAuthn registration response"))?;
    let challenge = registration.challenge().map_err(|_| credential_field("has no readable client data"))?;
    let services = state.services();
    let now = services.clock.now();
    let ceremony = services.mfa.store.take_ceremony(&challenge_key(challenge.0), now).await?;
    let Some(ceremony) = ceremony.filter(|c| c.kind == CeremonyKind::Register && c.user_id == Some(current.user.id))
    else {
        return Err(ApiError::PasskeyInvalid("that passkey set-up expired or is not this account's; start again"));
    };
    let server = RegistrationServerState::<16>::decode(ceremony.state.as_slice())
        .map_err(|error| internal("a stored registration", error))?;
    let options = RegistrationVerificationOptions::<String, String> {
        allowed_origins: &rp.origins,
        ..RegistrationVerificationOptions::default()
    };
    let registered = server.verify(&rp.id, &registration, &options).map_err(|error| {
        tracing::info!(%error, "a passkey registration did not verify");
        ApiError::PasskeyInvalid("the new passkey could not be verified for this site; try again")
    })?;
    let dynamic = registered.dynamic_state();
    let (backup_eligible, backed_up) = backup_flags(dynamic.backup);
    let stored = StoredPasskey {
        passkey: Passkey { id: Uuid::new_v4(), name, backup_eligible, backed_up, created_at: now, last_used_at: None },
        user_id: current.user.id,
        credential_id: encoded_id(registered.id()),
        static_state: registered
            .static_state()
            .encode()
            .map_err(|error| internal("encoding a passkey's key", error))?,
        dynamic_state: encoded_dynamic(dynamic)?,
        transports: registered.transports().encode().unwrap_or(0),
    };
    let factors = services.mfa.store.factors(current.user.id).await?;
    // The first second factor comes with recovery codes, as an authenticator app does.
    let codes = if factors.guards_sign_in() { Vec::new() } else { new_recovery_codes()? };
    let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
    let event = AuditEvent::new(AuditAction::PasskeyAdded, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("passkey_id", stored.passkey.id.to_string())
        .detail("backup_eligible", backup_eligible.to_string());
    let data = json!({ "user_id": current.user.id, "method": "passkey" });
    let jobs = [gatehouse_event(state, "mfa.enabled", data)?];
    services.mfa.store.add_passkey(&stored, &hashes, &[event], &jobs).await?;
    services.enqueued(&jobs);
    let recovery_codes = (!codes.is_empty()).then(|| codes.iter().map(|code| code.as_str().to_owned()).collect());
    Ok(PasskeyAdded { passkey: stored.passkey, recovery_codes })
}

fn backup_flags(backup: Backup) -> (bool, bool) {
    match backup {
        Backup::NotEligible => (false, false),
        Backup::Eligible => (true, false),
        Backup::Exists => (true, true),
    }
}

fn encoded_id(id: CredentialId<&[u8]>) -> Vec<u8> {
    match id.encode() {
        Ok(bytes) => bytes.to_vec(),
        Err(never) => match never {},
    }
}

fn encoded_dynamic(dynamic: DynamicState) -> Result<Vec<u8>, ApiError> {
    dynamic.encode().map(|bytes| bytes.to_vec()).map_err(|error| internal("encoding a passkey's state", error))
}

/// `GET /v1/me/passkeys`: the account's passkeys.
#[utoipa::path(
    get,
    path = "/v1/me/passkeys",
    tag = "mfa",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "The passkeys, oldest first.", body = PasskeyList)),
)]
pub(crate) async fn list(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let passkeys = state.services().mfa.store.factors(current.user.id).await?.passkeys;
    Ok(Json(PasskeyList { passkeys }).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PasskeyList {
    passkeys: Vec<Passkey>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameRequest {
    /// At most 64 characters.
    name: String,
}

/// Renames one of the account's passkeys.
pub(crate) async fn rename_passkey(
    state: &AppState,
    current: &CurrentSession,
    id: Uuid,
    name: &str,
) -> Result<Passkey, ApiError> {
    let name = passkey_name(Some(name))?;
    let services = state.services();
    if !services.mfa.store.rename_passkey(current.user.id, id, &name).await? {
        return Err(ApiError::Missing("the account has no passkey with this id"));
    }
    let now = services.clock.now();
    let event = AuditEvent::new(AuditAction::PasskeyRenamed, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("passkey_id", id.to_string());
    services.audit.append(&[event]).await?;
    let passkeys = services.mfa.store.factors(current.user.id).await?.passkeys;
    passkeys.into_iter().find(|passkey| passkey.id == id).ok_or(ApiError::Missing("the passkey was just deleted"))
}

/// `PATCH /v1/me/passkeys/{id}`: renames a passkey.
#[utoipa::path(
    patch,
    path = "/v1/me/passkeys/{id}",
    tag = "mfa",
    params(("id" = Uuid, Path, description = "The passkey's id.")),
    request_body = RenameRequest,
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "Renamed.", body = Passkey),
        (status = 404, description = "`not_found`: the account has no passkey with this id."),
        (status = 422, description = "`validation_failed`: the name is empty, too long or has control characters."),
    ),
)]
pub(crate) async fn rename(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RenameRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(rename_passkey(&state, &current, id, &body.name).await?).into_response())
}

/// Deletes one of the account's passkeys; needs a fresh sign-in. The last factor going turns
/// two-step sign-in off, which mails a notice.
pub(crate) async fn delete_passkey(state: &AppState, current: &CurrentSession, id: Uuid) -> Result<(), ApiError> {
    require_recent(state, current)?;
    let services = state.services();
    let now = services.clock.now();
    let factors = services.mfa.store.factors(current.user.id).await?;
    let last = !factors.has_app() && factors.passkeys.len() == 1;
    let event = AuditEvent::new(AuditAction::PasskeyDeleted, Actor::User(current.user.id), now, &current.client)
        .target("user", current.user.id)
        .detail("passkey_id", id.to_string());
    let data = json!({ "user_id": current.user.id, "method": "passkey" });
    let mut jobs = vec![gatehouse_event(state, "mfa.disabled", data)?];
    if last {
        jobs.push(notice(Notice::MfaDisabled, &current.user, now)?);
    }
    if !services.mfa.store.delete_passkey(current.user.id, id, now, &[event], &jobs).await? {
        return Err(ApiError::Missing("the account has no passkey with this id"));
    }
    services.enqueued(&jobs);
    Ok(())
}

/// `DELETE /v1/me/passkeys/{id}`: deletes a passkey; needs a fresh sign-in.
#[utoipa::path(
    delete,
    path = "/v1/me/passkeys/{id}",
    tag = "mfa",
    params(("id" = Uuid, Path, description = "The passkey's id.")),
    security(("session_cookie" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "`reauthentication_required`: reauthenticate first."),
        (status = 404, description = "`not_found`: the account has no passkey with this id."),
    ),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    delete_passkey(&state, &current, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Starts an authentication ceremony for any of this site's passkeys (a discoverable credential:
/// the authenticator offers the passkeys it holds, and the one chosen names its account).
pub(crate) async fn start_authentication(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let rp = relying_party(state)?;
    let (server, client) = DiscoverableCredentialRequestOptions::passkey(&rp.id)
        .start_ceremony()
        .map_err(|error| internal("starting a passkey sign-in", error))?;
    let ceremony = Ceremony {
        challenge: challenge_key(server.sent_challenge().0),
        kind: CeremonyKind::Authenticate,
        user_id: None,
        state: server.encode().map_err(|error| internal("encoding a sign-in", error))?,
        expires_at: expiry(server.expiration())?,
    };
    state.services().mfa.store.create_ceremony(&ceremony).await?;
    serde_json::to_value(&client).map_err(|error| internal("the request options", error))
}

/// `POST /v1/passkeys/authenticate/start`: the options for `navigator.credentials.get()`, for a
/// passwordless sign-in (`/v1/passkeys/authenticate/finish`), a second step (`POST /v1/login/mfa`
/// with `passkey`) or a step-up (`POST /v1/me/reauthenticate` with `passkey`).
#[utoipa::path(
    post,
    path = "/v1/passkeys/authenticate/start",
    tag = "accounts",
    responses(
        (status = 200, description = "`PublicKeyCredentialRequestOptionsJSON`: pass it through \
            `PublicKeyCredential.parseRequestOptionsFromJSON` to `navigator.credentials.get({publicKey})` and \
            send the assertion's `toJSON()` on within 5 minutes.", body = Object),
        (status = 409, description = "`passkeys_unavailable`: passkeys are off here."),
        (status = 429, description = "`rate_limited`: too many sign-in attempts from this address."),
    ),
)]
pub(crate) async fn authenticate_start(State(state): State<AppState>, Client(client): Client) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = async {
            crate::accounts::login_limit(&state, &client, &mut limits).await?;
            Ok(options_response(start_authentication(&state).await?))
        }
        .await;
        (result, limits)
    })
    .await
}

/// A passkey that just proved itself, with its account.
#[derive(Debug)]
pub(crate) struct Asserted {
    pub user: User,
    pub method: AuthMethod,
}

/// Verifies an assertion (`credential`, the `toJSON()` of `navigator.credentials.get()`) against
/// its ceremony and the stored passkey, records the use, and returns its account. With
/// `expected`, the passkey must be that account's. A signature counter that went backwards is
/// refused and audited as a clone warning.
pub(crate) async fn verify_assertion(
    state: &AppState,
    credential: serde_json::Value,
    expected: Option<Uuid>,
    client: &ClientContext,
) -> Result<Asserted, ApiError> {
    let rp = relying_party(state)?;
    let assertion: DiscoverableAuthentication16 = serde_json::from_value(credential)
        .map_err(|_| credential_field("is not a WebAuthn assertion from a passkey"))?;
    let challenge = assertion.challenge().map_err(|_| credential_field("has no readable client data"))?;
    let services = state.services();
    let now = services.clock.now();
    let ceremony = services.mfa.store.take_ceremony(&challenge_key(challenge.0), now).await?;
    let Some(ceremony) = ceremony.filter(|c| c.kind == CeremonyKind::Authenticate) else {
        return Err(ApiError::PasskeyInvalid("that passkey sign-in expired; try again"));
    };
    let server = DiscoverableAuthenticationServerState::decode(ceremony.state.as_slice())
        .map_err(|error| internal("a stored sign-in", error))?;
    let unknown = ApiError::PasskeyInvalid("this passkey is not registered here");
    let raw_id = encoded_id(assertion.raw_id());
    let Some(stored) = services.mfa.store.passkey_by_credential(&raw_id).await? else { return Err(unknown) };
    if expected.is_some_and(|user| user != stored.user_id) {
        return Err(ApiError::PasskeyInvalid("this passkey belongs to another account"));
    }
    let handle = user_handle(stored.user_id);
    let id = CredentialId::<&[u8]>::decode(stored.credential_id.as_slice())
        .map_err(|error| internal("a stored credential id", error))?;
    let static_state =
        StaticState::<CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>>::decode(stored.static_state.as_slice())
            .map_err(|error| internal("a stored passkey key", error))?;
    let dynamic: [u8; 7] =
        stored.dynamic_state.as_slice().try_into().map_err(|_| internal("a stored passkey state", "not 7 bytes"))?;
    let dynamic = DynamicState::decode(dynamic).map_err(|error| internal("a stored passkey state", error))?;
    let mut credential = AuthenticatedCredential::new(id, &handle, static_state, dynamic)
        .map_err(|error| internal("a stored passkey", error))?;
    let options = AuthenticationVerificationOptions::<String, String> {
        allowed_origins: &rp.origins,
        update_uv: true,
        sig_counter_enforcement: SignatureCounterEnforcement::Fail,
        ..AuthenticationVerificationOptions::default()
    };
    let user_id = stored.user_id;
    match server.verify(&rp.id, &assertion, &mut credential, &options) {
        Ok(changed) => {
            let dynamic = credential.dynamic_state();
            let state_now = if changed { Some(encoded_dynamic(dynamic)?) } else { None };
            let (_, backed_up) = backup_flags(dynamic.backup);
            services.mfa.store.passkey_used(stored.passkey.id, state_now.as_deref(), backed_up, now).await?;
        }
        Err(AuthCeremonyErr::SignatureCounter) => {
            let event = AuditEvent::new(AuditAction::PasskeyCloneWarning, Actor::User(user_id), now, client)
                .target("user", user_id)
                .detail("passkey_id", stored.passkey.id.to_string());
            services.audit.append(&[event]).await?;
            tracing::warn!(passkey_id = %stored.passkey.id, "a passkey's signature counter went backwards");
            return Err(ApiError::PasskeyInvalid(
                "this passkey's signature counter went backwards, as a copied key's would; use another way in",
            ));
        }
        Err(error) => {
            tracing::info!(%error, "a passkey assertion did not verify");
            return Err(ApiError::PasskeyInvalid("the passkey could not be verified for this site; try again"));
        }
    }
    let user = services.user_admin.user(user_id).await?.ok_or(unknown_account())?;
    if user.disabled {
        return Err(ApiError::PasskeyInvalid("this account is disabled"));
    }
    Ok(Asserted { user, method: stored.passkey.method() })
}

fn unknown_account() -> ApiError {
    ApiError::PasskeyInvalid("this passkey's account is gone")
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthenticateFinish {
    /// The assertion's `toJSON()` (`AuthenticationResponseJSON`).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// `POST /v1/passkeys/authenticate/finish`: signs in with a passkey alone (it verified its user:
/// a PIN or biometric), `amr` `hwk` or `swk`.
#[utoipa::path(
    post,
    path = "/v1/passkeys/authenticate/finish",
    tag = "accounts",
    request_body = AuthenticateFinish,
    responses(
        (status = 200, description = "Signed in; the session cookie is set.", body = SignedIn,
            headers(("set-cookie" = String, description = "The session cookie."))),
        (status = 401, description = "`passkey_invalid`: the ceremony expired, the passkey is unknown or another \
            site's, its signature does not verify, or its counter went backwards."),
        (status = 409, description = "`passkeys_unavailable`: passkeys are off here."),
        (status = 422, description = "`validation_failed`: `credential` is not an assertion."),
        (status = 429, description = "`rate_limited`: too many sign-in attempts from this address."),
    ),
)]
pub(crate) async fn authenticate_finish(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Response {
    with_headers(async {
        let mut limits = RateLimitHeaders::default();
        let result = async {
            crate::accounts::login_limit(&state, &client, &mut limits).await?;
            let headers = request.headers().clone();
            let bytes = crate::extract::body_bytes(request, &state).await?;
            let body: AuthenticateFinish = crate::extract::json_body(&headers, &bytes)?;
            let (user, session, token) = sign_in_with_passkey(&state, body.credential, &client).await?;
            Ok(signed_in_response(
                StatusCode::OK,
                Some(session_cookie(&state, Some(&token))),
                SignedIn { user, session: session.session, workspace: None },
            ))
        }
        .await;
        (result, limits)
    })
    .await
}

/// A passwordless sign-in: the passkey is both factors.
pub(crate) async fn sign_in_with_passkey(
    state: &AppState,
    credential: serde_json::Value,
    client: &ClientContext,
) -> Result<(User, gatehouse_core::sessions::NewSession, gatehouse_core::sessions::SessionToken), ApiError> {
    let asserted = verify_assertion(state, credential, None, client).await?;
    let services = state.services();
    let now = services.clock.now();
    let user = asserted.user;
    let (session, token) = new_session(state, user.id, client, &[asserted.method])?;
    let event = AuditEvent::new(AuditAction::LoginSucceeded, Actor::User(user.id), now, client)
        .target("session", session.session.id)
        .detail("method", "passkey");
    let data = json!({ "session_id": session.session.id, "user_id": user.id, "method": "passkey" });
    let jobs = [gatehouse_event(state, "session.created", data)?];
    services.sessions.create_session(&session, &[event], &jobs).await?;
    services.enqueued(&jobs);
    Ok((user, session, token))
}
