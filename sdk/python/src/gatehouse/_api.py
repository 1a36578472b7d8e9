"""Generated from Gatehouse's OpenAPI document by `sdk/python/generate.py`; do not edit.

API version 0.1.0: 90 operations, 114 schemas.
"""

# ruff: noqa
from typing import Any, Awaitable, Dict, List, Literal, Optional, TypedDict, Union

from ._transport import Credentials

API_VERSION = '0.1.0'

ProblemCode = Literal[
    'body_too_large',
    'connection_broken',
    'csrf_failed',
    'database_unavailable',
    'duplicate_entry',
    'email_not_verified',
    'email_taken',
    'forbidden',
    'forward_auth_denied',
    'insufficient_role',
    'internal_error',
    'invalid_body',
    'invalid_code',
    'invalid_credentials',
    'invalid_forwarded_request',
    'invalid_query',
    'invitation_email_mismatch',
    'invitation_invalid',
    'last_owner',
    'last_sign_in_method',
    'link_invalid',
    'malformed_json',
    'mfa_already_enabled',
    'not_found',
    'not_ready',
    'oauth_state_invalid',
    'overloaded',
    'passkey_invalid',
    'passkeys_unavailable',
    'password_breached',
    'provider_unavailable',
    'rate_limited',
    'reauthentication_required',
    'redirect_not_allowed',
    'scope_not_allowed',
    'second_step_invalid',
    'timeout',
    'unauthenticated',
    'unsupported_media_type',
    'untrusted_proxy',
    'validation_failed',
]
"""Every `code` a problem+json answer of this API can carry."""

PROBLEM_CODES = ('body_too_large', 'connection_broken', 'csrf_failed', 'database_unavailable', 'duplicate_entry', 'email_not_verified', 'email_taken', 'forbidden', 'forward_auth_denied', 'insufficient_role', 'internal_error', 'invalid_body', 'invalid_code', 'invalid_credentials', 'invalid_forwarded_request', 'invalid_query', 'invitation_email_mismatch', 'invitation_invalid', 'last_owner', 'last_sign_in_method', 'link_invalid', 'malformed_json', 'mfa_already_enabled', 'not_found', 'not_ready', 'oauth_state_invalid', 'overloaded', 'passkey_invalid', 'passkeys_unavailable', 'password_breached', 'provider_unavailable', 'rate_limited', 'reauthentication_required', 'redirect_not_allowed', 'scope_not_allowed', 'second_step_invalid', 'timeout', 'unauthenticated', 'unsupported_media_type', 'untrusted_proxy', 'validation_failed')

OPERATIONS = (('GET', '/.well-known/jwks.json'), ('GET', '/health'), ('GET', '/health/live'), ('GET', '/health/ready'), ('GET', '/metrics'), ('GET', '/openapi.json'), ('GET', '/v1/admin/audit'), ('GET', '/v1/admin/users'), ('POST', '/v1/admin/users'), ('GET', '/v1/admin/users/{id}'), ('DELETE', '/v1/admin/users/{id}'), ('POST', '/v1/admin/users/{id}/disable'), ('POST', '/v1/admin/users/{id}/enable'), ('GET', '/v1/admin/users/{id}/export'), ('POST', '/v1/admin/users/{id}/revoke-sessions'), ('GET', '/v1/admin/workspaces'), ('GET', '/v1/admin/workspaces/{id}'), ('GET', '/v1/audit-events'), ('GET', '/v1/csrf'), ('POST', '/v1/email/change/confirm'), ('POST', '/v1/email/change/undo'), ('POST', '/v1/email/verification'), ('POST', '/v1/email/verify'), ('GET', '/v1/forward-auth'), ('POST', '/v1/invitations/accept'), ('POST', '/v1/login'), ('POST', '/v1/login/mfa'), ('POST', '/v1/logout'), ('POST', '/v1/magic-link'), ('POST', '/v1/magic-link/verify'), ('PATCH', '/v1/me'), ('DELETE', '/v1/me'), ('GET', '/v1/me/audit'), ('GET', '/v1/me/connections'), ('DELETE', '/v1/me/connections/{provider}'), ('GET', '/v1/me/email'), ('POST', '/v1/me/email'), ('DELETE', '/v1/me/email'), ('GET', '/v1/me/export'), ('GET', '/v1/me/identities'), ('POST', '/v1/me/identities/{id}'), ('DELETE', '/v1/me/identities/{id}'), ('GET', '/v1/me/mfa'), ('POST', '/v1/me/mfa/recovery-codes'), ('POST', '/v1/me/mfa/totp'), ('DELETE', '/v1/me/mfa/totp'), ('POST', '/v1/me/mfa/totp/confirm'), ('GET', '/v1/me/passkeys'), ('POST', '/v1/me/passkeys/register/finish'), ('POST', '/v1/me/passkeys/register/start'), ('PATCH', '/v1/me/passkeys/{id}'), ('DELETE', '/v1/me/passkeys/{id}'), ('POST', '/v1/me/password'), ('POST', '/v1/me/reauthenticate'), ('GET', '/v1/oauth/providers'), ('GET', '/v1/oauth/{provider}/callback'), ('GET', '/v1/oauth/{provider}/start'), ('POST', '/v1/passkeys/authenticate/finish'), ('POST', '/v1/passkeys/authenticate/start'), ('POST', '/v1/password/forgot'), ('POST', '/v1/password/reset'), ('POST', '/v1/rate-limit/check'), ('GET', '/v1/session'), ('POST', '/v1/session/workspace'), ('GET', '/v1/sessions'), ('POST', '/v1/sessions/revoke-others'), ('DELETE', '/v1/sessions/{id}'), ('POST', '/v1/signup'), ('POST', '/v1/token'), ('GET', '/v1/vault/{user_id}/{provider}/token'), ('POST', '/v1/webhooks/deliveries/{id}/retry'), ('GET', '/v1/webhooks/endpoints'), ('POST', '/v1/webhooks/endpoints'), ('GET', '/v1/webhooks/endpoints/{id}'), ('PATCH', '/v1/webhooks/endpoints/{id}'), ('DELETE', '/v1/webhooks/endpoints/{id}'), ('GET', '/v1/webhooks/endpoints/{id}/deliveries'), ('POST', '/v1/webhooks/endpoints/{id}/rotate-secret'), ('POST', '/v1/webhooks/events'), ('GET', '/v1/workspaces'), ('POST', '/v1/workspaces'), ('GET', '/v1/workspaces/{id}'), ('PATCH', '/v1/workspaces/{id}'), ('DELETE', '/v1/workspaces/{id}'), ('GET', '/v1/workspaces/{id}/invitations'), ('POST', '/v1/workspaces/{id}/invitations'), ('DELETE', '/v1/workspaces/{id}/invitations/{invitation_id}'), ('GET', '/v1/workspaces/{id}/members'), ('PATCH', '/v1/workspaces/{id}/members/{user_id}'), ('DELETE', '/v1/workspaces/{id}/members/{user_id}'))
"""Every operation, as `(METHOD, path template)`."""


class AcceptRequest(TypedDict, total=False):
    """AcceptRequest"""

    token: str


class AccessToken(TypedDict, total=False):
    """An access token and how long it lasts."""

    access_token: str
    expires_in: int
    token_type: str


class ActiveWorkspace(TypedDict, total=False):
    """The workspace a session acts in, with the session user's role there. Read with the session,
so a removed member's session has none from their next request on."""

    id: str
    role: "Role"


class ActiveWorkspaceView(TypedDict, total=False):
    """ActiveWorkspaceView"""

    workspace: Optional[Union["ActiveWorkspace", Optional[Dict[str, Any]]]]


class Attempt(TypedDict, total=False):
    """Attempt"""

    attempted_at: str
    error_class: Optional[Union["FailureClass", Optional[Dict[str, Any]]]]
    latency_ms: int
    response_excerpt: Optional[str]
    status_code: Optional[int]


class AuditEvents(TypedDict, total=False):
    """AuditEvents"""

    events: List["StoredAuditEvent"]


class AuditPage(TypedDict, total=False):
    """AuditPage"""

    events: List["StoredAuditEvent"]
    next: Optional[int]


AuthMethod = Literal['pwd', 'otp', 'oauth', 'email', 'hwk', 'swk']
"""A way of proving who one is, as its RFC 8176 `amr` value."""


class AuthenticateFinish(TypedDict, total=False):
    """AuthenticateFinish"""

    credential: Dict[str, Any]


class ChangePasswordRequest(TypedDict, total=False):
    """ChangePasswordRequest"""

    current_password: Optional[str]
    new_password: str
    sign_out_other_sessions: Optional[bool]


class CheckRequest(TypedDict, total=False):
    """Either `policy` (a configured name) or an inline `limit` and `period_secs`."""

    burst: Optional[int]
    cost: Optional[int]
    key: str
    limit: Optional[int]
    period_secs: Optional[int]
    policy: Optional[str]


class ConfirmRequest(TypedDict, total=False):
    """ConfirmRequest"""

    code: str


class Connection(TypedDict, total=False):
    """A connection as its owner sees it: never a token."""

    created_at: str
    expires_at: Optional[str]
    provider: str
    scopes: List[str]
    status: "ConnectionStatus"
    updated_at: str


class ConnectionList(TypedDict, total=False):
    """ConnectionList"""

    connections: List["Connection"]


ConnectionStatus = Literal['active', 'broken', 'revoking']
"""ConnectionStatus"""


class CreateEndpoint(TypedDict, total=False):
    """CreateEndpoint"""

    enabled: Optional[bool]
    event_types: List[str]
    url: str


CreatedEndpoint = Dict[str, Any]
"""A new endpoint, with its signing secret (shown this once)."""


class CsrfToken(TypedDict, total=False):
    """CsrfToken"""

    token: str


class DecisionView(TypedDict, total=False):
    """One decision."""

    allowed: bool
    limit: int
    remaining: int
    reset_after_ms: int
    retry_after_ms: int


class Delivery(TypedDict, total=False):
    """Delivery"""

    attempts: List["Attempt"]
    created_at: str
    endpoint_id: str
    event_id: str
    event_type: str
    id: str
    status: "DeliveryStatus"


class DeliveryList(TypedDict, total=False):
    """DeliveryList"""

    deliveries: List["Delivery"]


DeliveryStatus = Literal['pending', 'succeeded', 'failed']
"""DeliveryStatus"""


class DependencyReport(TypedDict, total=False):
    """The outcome of checking one dependency."""

    detail: Optional[str]
    latency_ms: Optional[int]
    status: "DependencyStatus"


DependencyStatus = Literal['ok', 'degraded', 'down', 'not_configured']
"""DependencyStatus"""


DependencyView = Dict[str, Any]
"""DependencyView"""


class EmailChangeRequest(TypedDict, total=False):
    """EmailChangeRequest"""

    current_password: Optional[str]
    new_email: str


class EmailChangeStatus(TypedDict, total=False):
    """The account's pending email change, if any."""

    pending: Optional[Union["PendingEmailChange", Optional[Dict[str, Any]]]]


class EmailChanged(TypedDict, total=False):
    """The account a change link applied to, as it now is."""

    previous_email: str
    user: "User"


class EmailRequest(TypedDict, total=False):
    """EmailRequest"""

    email: str


class EmailTokenRequest(TypedDict, total=False):
    """EmailTokenRequest"""

    token: str


class Endpoint(TypedDict, total=False):
    """An endpoint as the API shows it (never with its secret, which is shown once)."""

    created_at: str
    disabled_reason: Optional[str]
    enabled: bool
    event_types: List[str]
    failing_since: Optional[str]
    id: str
    url: str


class EndpointList(TypedDict, total=False):
    """EndpointList"""

    endpoints: List["Endpoint"]


class EraseRequest(TypedDict, total=False):
    """EraseRequest"""

    password: Optional[str]


class ExportedCeremony(TypedDict, total=False):
    """ExportedCeremony"""

    expires_at: str
    kind: str


class ExportedDelivery(TypedDict, total=False):
    """ExportedDelivery"""

    created_at: str
    endpoint_id: str
    event: Dict[str, Any]
    event_type: str
    id: str
    status: str


class ExportedDevice(TypedDict, total=False):
    """ExportedDevice"""

    created_at: str
    last_seen_at: str
    network: Optional[str]
    user_agent: Optional[str]


class ExportedJob(TypedDict, total=False):
    """ExportedJob"""

    created_at: str
    id: str
    kind: str
    payload: Dict[str, Any]
    state: str


class ExportedLink(TypedDict, total=False):
    """ExportedLink"""

    created_at: str
    expires_at: str
    id: str
    purpose: str
    target_email: Optional[str]
    used_at: Optional[str]


class ExportedRecoveryCode(TypedDict, total=False):
    """ExportedRecoveryCode"""

    created_at: str
    used_at: Optional[str]


class ExportedSecondStep(TypedDict, total=False):
    """ExportedSecondStep"""

    created_at: str
    expires_at: str
    failures: int
    first_factor: "AuthMethod"
    return_to: Optional[str]
    user_agent: Optional[str]


ExportedSession = Dict[str, Any]
"""ExportedSession"""


class ExportedSignIn(TypedDict, total=False):
    """ExportedSignIn"""

    created_at: str
    expires_at: str
    provider: str


class ExportedUser(TypedDict, total=False):
    """ExportedUser"""

    created_at: str
    disabled: bool
    email: str
    email_verified_at: Optional[str]
    has_password: bool
    id: str
    name: Optional[str]
    updated_at: str


class FactorSummary(TypedDict, total=False):
    """What an account has in second factors."""

    passkeys: List["Passkey"]
    recovery_codes_left: int
    totp: Optional[Union["TotpFactor", Optional[Dict[str, Any]]]]


FailureClass = Literal['timeout', 'connect', 'tls', 'http_status', 'refused']
"""Why an attempt failed."""


class FieldError(TypedDict, total=False):
    """One invalid field of a request body."""

    field: str
    message: str


class HealthView(TypedDict, total=False):
    """Every dependency's state and the overall status."""

    dependencies: Dict[str, Any]
    mode: str
    status: "DependencyStatus"
    uptime_secs: int
    version: str


class Identity(TypedDict, total=False):
    """An identity linked to an account."""

    created_at: str
    email: Optional[str]
    id: str
    provider: str
    subject: str


class IdentityList(TypedDict, total=False):
    """IdentityList"""

    identities: List["Identity"]


class Invitation(TypedDict, total=False):
    """A pending invitation. Its token exists only in the email; the store keeps its SHA-256."""

    created_at: str
    email: str
    expires_at: str
    id: str
    invited_by: Optional[str]
    role: "Role"
    workspace_id: str


class InvitationList(TypedDict, total=False):
    """InvitationList"""

    invitations: List["Invitation"]


class InviteRequest(TypedDict, total=False):
    """InviteRequest"""

    email: str
    role: Optional[Union["Role", Optional[Dict[str, Any]]]]


class JwkSet(TypedDict, total=False):
    """The published verification keys."""

    keys: List[Dict[str, Any]]


class LinkRequest(TypedDict, total=False):
    """LinkRequest"""

    redirect_to: Optional[str]
    scopes: Optional[str]


class LinkRequested(TypedDict, total=False):
    """The answer to every request for a link, whether or not one was sent."""

    message: str


class LinkStarted(TypedDict, total=False):
    """LinkStarted"""

    url: str


class Live(TypedDict, total=False):
    """`{status}` of liveness."""

    status: str


class LoginRequest(TypedDict, total=False):
    """LoginRequest"""

    email: str
    password: str


class Member(TypedDict, total=False):
    """Member"""

    email: str
    joined_at: str
    name: Optional[str]
    role: "Role"
    user_id: str


class MemberList(TypedDict, total=False):
    """MemberList"""

    members: List["Member"]


class Membership(TypedDict, total=False):
    """A workspace as one of its members sees it in their list: with their own role."""

    joined_at: str
    name: str
    role: "Role"
    workspace_id: str


class MembershipList(TypedDict, total=False):
    """MembershipList"""

    workspaces: List["Membership"]


class NameRequest(TypedDict, total=False):
    """NameRequest"""

    name: str


class NewAccount(TypedDict, total=False):
    """An account an operator creates."""

    email: str
    email_verified: Optional[bool]
    name: Optional[str]
    password: Optional[str]


class Passkey(TypedDict, total=False):
    """A passkey (a WebAuthn credential) as its owner sees it; never its key."""

    backed_up: bool
    backup_eligible: bool
    created_at: str
    id: str
    last_used_at: Optional[str]
    name: str


class PasskeyAdded(TypedDict, total=False):
    """A passkey just added, and the recovery codes when it is the account's first second factor."""

    passkey: "Passkey"
    recovery_codes: Optional[List[str]]


class PasskeyList(TypedDict, total=False):
    """PasskeyList"""

    passkeys: List["Passkey"]


class PasswordChanged(TypedDict, total=False):
    """What a password change did."""

    sessions_ended: int


class PendingEmailChange(TypedDict, total=False):
    """An email change waiting for its confirmation link to be opened."""

    expires_at: str
    new_email: str
    requested_at: str


class PendingVerification(TypedDict, total=False):
    """Signup's answer when login waits for a verified address: the account, not signed in."""

    user: "User"
    verification_required: bool


class PersonalData(TypedDict, total=False):
    """Everything Gatehouse holds about one person, as one JSON document."""

    audit_events: List["StoredAuditEvent"]
    authenticator_apps: List["TotpFactor"]
    connections: List["Connection"]
    email_links: List["ExportedLink"]
    exported_at: str
    format: str
    identities: List["Identity"]
    invitations: List["Invitation"]
    invitations_sent: List["Invitation"]
    jobs: List["ExportedJob"]
    known_devices: List["ExportedDevice"]
    passkey_ceremonies_in_progress: List["ExportedCeremony"]
    passkeys: List["Passkey"]
    recovery_codes: List["ExportedRecoveryCode"]
    second_steps_in_progress: List["ExportedSecondStep"]
    sessions: List["ExportedSession"]
    sign_ins_in_progress: List["ExportedSignIn"]
    user: "ExportedUser"
    version: int
    webhook_deliveries: List["ExportedDelivery"]
    workspaces: List["Membership"]


class Problem(TypedDict, total=False):
    """An RFC 9457 problem document: every error this API answers."""

    checks: Optional[Dict[str, Any]]
    code: str
    detail: str
    errors: Optional[List["FieldError"]]
    request_id: Optional[str]
    status: int
    title: str
    type: str


class Profile(TypedDict, total=False):
    """The account as it now is."""

    user: "User"


class ProfileRequest(TypedDict, total=False):
    """ProfileRequest"""

    name: Optional[str]


ProviderKind = Literal['google', 'github', 'oidc']
"""ProviderKind"""


class ProviderList(TypedDict, total=False):
    """ProviderList"""

    providers: List["ProviderView"]


class ProviderView(TypedDict, total=False):
    """ProviderView"""

    display_name: str
    kind: "ProviderKind"
    name: str


class PublishEvent(TypedDict, total=False):
    """PublishEvent"""

    payload: Dict[str, Any]
    type: str


class Published(TypedDict, total=False):
    """A published event."""

    id: str


class Ready(TypedDict, total=False):
    """Readiness: `status` is `ready`, with each check."""

    checks: Dict[str, Any]
    status: str


class ReauthenticateRequest(TypedDict, total=False):
    """ReauthenticateRequest"""

    code: Optional[str]
    passkey: Optional[Dict[str, Any]]
    password: Optional[str]
    recovery_code: Optional[str]


class Reauthenticated(TypedDict, total=False):
    """What the session now says about how and when its person proved who they are."""

    amr: List["AuthMethod"]
    auth_time: str
    fresh_until: str


class RecoveryCodes(TypedDict, total=False):
    """Recovery codes, shown once."""

    recovery_codes: List[str]


class RegisterFinish(TypedDict, total=False):
    """RegisterFinish"""

    credential: Dict[str, Any]
    name: Optional[str]


class RenameRequest(TypedDict, total=False):
    """RenameRequest"""

    name: str


class ResetRequest(TypedDict, total=False):
    """ResetRequest"""

    password: str
    token: str


class RetryQueued(TypedDict, total=False):
    """A delivery queued to be sent again."""

    id: str


class Revoked(TypedDict, total=False):
    """Revoked"""

    revoked: int


Role = Literal['member', 'admin', 'owner']
"""Role"""


class RoleRequest(TypedDict, total=False):
    """RoleRequest"""

    role: "Role"


class RotatedSecret(TypedDict, total=False):
    """RotatedSecret"""

    previous_secret_expires_at: str
    secret: str


class SecondFactorRequired(TypedDict, total=False):
    """Login's answer when a second factor is needed: no session yet."""

    expires_at: str
    methods: List[str]
    mfa_required: bool
    mfa_token: str


class SecondStepRequest(TypedDict, total=False):
    """SecondStepRequest"""

    code: Optional[str]
    mfa_token: Optional[str]
    passkey: Optional[Dict[str, Any]]
    recovery_code: Optional[str]


class Session(TypedDict, total=False):
    """Session"""

    absolute_expires_at: str
    amr: List["AuthMethod"]
    auth_time: str
    created_at: str
    id: str
    idle_expires_at: str
    ip: Optional[str]
    last_seen_at: str
    user_agent: Optional[str]
    user_id: str


class SessionList(TypedDict, total=False):
    """SessionList"""

    sessions: List["SessionView"]


SessionView = Dict[str, Any]
"""SessionView"""


class SignedIn(TypedDict, total=False):
    """`{user, session}`, as signup, login and whoami answer."""

    session: "Session"
    user: "User"
    workspace: Optional[Union["ActiveWorkspace", Optional[Dict[str, Any]]]]


SignupAnswer = Union["SignedIn", "PendingVerification"]
"""What signup answers: signed in, or (with `email.require_verified`) waiting for verification."""


class SignupRequest(TypedDict, total=False):
    """SignupRequest"""

    email: str
    name: Optional[str]
    password: str


class StoredAuditEvent(TypedDict, total=False):
    """An event as read back."""

    action: str
    actor_id: Optional[str]
    actor_kind: str
    details: Any
    id: int
    ip: Optional[str]
    occurred_at: str
    target: Optional[str]


class SwitchRequest(TypedDict, total=False):
    """SwitchRequest"""

    workspace_id: Optional[str]


class TokenRequest(TypedDict, total=False):
    """TokenRequest"""

    token: str


class TotpEnrolment(TypedDict, total=False):
    """A new authenticator app's secret, shown once to be scanned or typed."""

    factor: "TotpFactor"
    otpauth_uri: str
    secret: str


class TotpFactor(TypedDict, total=False):
    """An authenticator app as the account page and the export show it; never its secret."""

    confirmed_at: Optional[str]
    created_at: str
    id: str
    last_used_at: Optional[str]


class UpdateEndpoint(TypedDict, total=False):
    """The fields to change; absent ones stay."""

    enabled: Optional[bool]
    event_types: Optional[List[str]]
    url: Optional[str]


class User(TypedDict, total=False):
    """A user as the API shows it. The password hash never leaves the store in this type."""

    created_at: str
    disabled: bool
    email: str
    email_verified: bool
    id: str
    name: Optional[str]


class UserDetail(TypedDict, total=False):
    """UserDetail"""

    sessions: int
    user: "User"
    workspaces: List["Membership"]


class UserPage(TypedDict, total=False):
    """One page of users, by id, and the cursor of the next (`None` on the last page)."""

    next: Optional[str]
    users: List["User"]


class VaultToken(TypedDict, total=False):
    """VaultToken"""

    access_token: str
    expires_at: Optional[str]
    scopes: List[str]


class Verified(TypedDict, total=False):
    """Verified"""

    user: "User"


class Workspace(TypedDict, total=False):
    """Workspace"""

    created_at: str
    id: str
    members: int
    name: str


class WorkspaceDetail(TypedDict, total=False):
    """WorkspaceDetail"""

    members: List["Member"]
    workspace: "Workspace"


class WorkspaceList(TypedDict, total=False):
    """WorkspaceList"""

    workspaces: List["Workspace"]


WorkspaceView = Dict[str, Any]
"""WorkspaceView"""


class SyncOperations:
    """Every operation of the API, for the sync client."""

    def _call(self, method: str, path: str, *, query: Dict[str, Any], body: Any, credentials: Optional[Credentials]) -> Any:
        raise NotImplementedError

    def tokens_jwks(self, *, credentials: Optional[Credentials] = None) -> "JwkSet":
        """`GET /.well-known/jwks.json`: The public keys that verify access tokens.

        Security: none.
        """
        return self._call('GET', f'/.well-known/jwks.json', query={}, body=None, credentials=credentials)

    def operations_full(self, *, credentials: Optional[Credentials] = None) -> "HealthView":
        """`GET /health`: Every dependency, including the optional ones (Redis, the job queue).

        Security: none.
        """
        return self._call('GET', f'/health', query={}, body=None, credentials=credentials)

    def operations_live(self, *, credentials: Optional[Credentials] = None) -> "Live":
        """`GET /health/live`: The process is up. Checks nothing else, so a restart loop never follows a database outage.

        Security: none.
        """
        return self._call('GET', f'/health/live', query={}, body=None, credentials=credentials)

    def operations_ready(self, *, credentials: Optional[Credentials] = None) -> "Ready":
        """`GET /health/ready`: Whether this instance can serve (database reachable, migrations applied).

        Security: none.
        """
        return self._call('GET', f'/health/ready', query={}, body=None, credentials=credentials)

    def operations_render(self, *, credentials: Optional[Credentials] = None) -> str:
        """`GET /metrics`: Prometheus metrics (on the main listener unless `server.metrics_listen` moves them).

        Security: none.
        """
        return self._call('GET', f'/metrics', query={}, body=None, credentials=credentials)

    def operations_document_route(self, *, credentials: Optional[Credentials] = None) -> Dict[str, Any]:
        """`GET /openapi.json`: This document.

        Security: none.
        """
        return self._call('GET', f'/openapi.json', query={}, body=None, credentials=credentials)

    def admin_audit(self, *, actor: Any = None, action: Any = None, target: Any = None, workspace: Any = None, from_: Any = None, to: Any = None, limit: Any = None, before: Any = None, credentials: Optional[Credentials] = None) -> "AuditPage":
        """`GET /v1/admin/audit`: Audit events matching every given filter, newest first.

        Security: service_key.
        """
        return self._call('GET', f'/v1/admin/audit', query={'actor': actor, 'action': action, 'target': target, 'workspace': workspace, 'from': from_, 'to': to, 'limit': limit, 'before': before}, body=None, credentials=credentials)

    def admin_users(self, *, email_prefix: Any = None, after: Any = None, limit: Any = None, credentials: Optional[Credentials] = None) -> "UserPage":
        """`GET /v1/admin/users`: Users by id, optionally by address prefix, a page at a time.

        Security: service_key.
        """
        return self._call('GET', f'/v1/admin/users', query={'email_prefix': email_prefix, 'after': after, 'limit': limit}, body=None, credentials=credentials)

    def admin_create(self, body: "NewAccount", *, credentials: Optional[Credentials] = None) -> "User":
        """`POST /v1/admin/users`: Creates an account (no session, no verification email).

        Security: service_key.
        """
        return self._call('POST', f'/v1/admin/users', query={}, body=body, credentials=credentials)

    def admin_user(self, id: str, *, credentials: Optional[Credentials] = None) -> "UserDetail":
        """`GET /v1/admin/users/{id}`: One user, with their workspaces.

        Security: service_key.
        """
        return self._call('GET', f'/v1/admin/users/{id}', query={}, body=None, credentials=credentials)

    def admin_erase(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/admin/users/{id}`: Erases the account, as `DELETE /v1/me` does.

        Security: service_key.
        """
        return self._call('DELETE', f'/v1/admin/users/{id}', query={}, body=None, credentials=credentials)

    def admin_disable(self, id: str, *, credentials: Optional[Credentials] = None) -> "User":
        """`POST /v1/admin/users/{id}/disable`: Disables the account and ends its sessions everywhere.

        Security: service_key.
        """
        return self._call('POST', f'/v1/admin/users/{id}/disable', query={}, body=None, credentials=credentials)

    def admin_enable(self, id: str, *, credentials: Optional[Credentials] = None) -> "User":
        """`POST /v1/admin/users/{id}/enable`: Lets a disabled account sign in again.

        Security: service_key.
        """
        return self._call('POST', f'/v1/admin/users/{id}/enable', query={}, body=None, credentials=credentials)

    def admin_export(self, id: str, *, credentials: Optional[Credentials] = None) -> "PersonalData":
        """`GET /v1/admin/users/{id}/export`: The user's personal data document, as `GET /v1/me/export`.

        Security: service_key.
        """
        return self._call('GET', f'/v1/admin/users/{id}/export', query={}, body=None, credentials=credentials)

    def admin_revoke_user_sessions(self, id: str, *, credentials: Optional[Credentials] = None) -> "Revoked":
        """`POST /v1/admin/users/{id}/revoke-sessions`: Ends every session of the user, everywhere.

        Security: service_key.
        """
        return self._call('POST', f'/v1/admin/users/{id}/revoke-sessions', query={}, body=None, credentials=credentials)

    def admin_workspaces(self, *, after: Any = None, limit: Any = None, credentials: Optional[Credentials] = None) -> "WorkspaceList":
        """`GET /v1/admin/workspaces`: Every workspace, by id, a page at a time.

        Security: service_key.
        """
        return self._call('GET', f'/v1/admin/workspaces', query={'after': after, 'limit': limit}, body=None, credentials=credentials)

    def admin_workspace(self, id: str, *, credentials: Optional[Credentials] = None) -> "WorkspaceDetail":
        """`GET /v1/admin/workspaces/{id}`: One workspace with its members.

        Security: service_key.
        """
        return self._call('GET', f'/v1/admin/workspaces/{id}', query={}, body=None, credentials=credentials)

    def service_audit_events(self, *, limit: Any = None, credentials: Optional[Credentials] = None) -> "AuditEvents":
        """`GET /v1/audit-events`: The most recent audit events, newest first (scope `audit`).

        Security: service_key.
        """
        return self._call('GET', f'/v1/audit-events', query={'limit': limit}, body=None, credentials=credentials)

    def sessions_token(self, *, credentials: Optional[Credentials] = None) -> "CsrfToken":
        """`GET /v1/csrf`: The signed-in session's CSRF token, also set as the `gatehouse_csrf` cookie.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/csrf', query={}, body=None, credentials=credentials)

    def email_confirm_email_change(self, body: "EmailTokenRequest", *, credentials: Optional[Credentials] = None) -> "EmailChanged":
        """`POST /v1/email/change/confirm`: Opens the link mailed to the new address and makes the change. It applies to the account the link was issued for, whoever is signed in.

        Security: none.
        """
        return self._call('POST', f'/v1/email/change/confirm', query={}, body=body, credentials=credentials)

    def email_undo_email_change(self, body: "EmailTokenRequest", *, credentials: Optional[Credentials] = None) -> "EmailChanged":
        """`POST /v1/email/change/undo`: Opens the link mailed to the old address after a change. The old address comes back, every session ends, every link is retired, the password is removed, and a reset link goes to the restored address.

        Security: none.
        """
        return self._call('POST', f'/v1/email/change/undo', query={}, body=body, credentials=credentials)

    def email_request_verification(self, body: Optional[Union["EmailRequest", Optional[Dict[str, Any]]]] = None, *, credentials: Optional[Credentials] = None) -> "LinkRequested":
        """`POST /v1/email/verification`: Mails a verification link to the signed-in user, or, for a caller who cannot sign in yet (login waits for verification), to the `{email}` in the body.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/email/verification', query={}, body=body, credentials=credentials)

    def email_verify(self, body: "TokenRequest", *, credentials: Optional[Credentials] = None) -> "Verified":
        """`POST /v1/email/verify`: Marks the address the link was sent to as verified.

        Security: none.
        """
        return self._call('POST', f'/v1/email/verify', query={}, body=body, credentials=credentials)

    def forward_auth_decide(self, *, credentials: Optional[Credentials] = None) -> None:
        """`GET /v1/forward-auth`: Whether the proxy may pass the original request to the app.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/forward-auth', query={}, body=None, credentials=credentials)

    def workspaces_accept(self, body: "AcceptRequest", *, credentials: Optional[Credentials] = None) -> "Membership":
        """`POST /v1/invitations/accept`: Joins the workspace an invitation is for. The caller must be signed in with the address it was sent to; accepting verifies that address.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/invitations/accept', query={}, body=body, credentials=credentials)

    def accounts_login(self, body: "LoginRequest", *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`POST /v1/login`: Signs in with email and password; limited per IP (`login_ip`, before the body is read) and per submitted account (`login_account`, before any password work).

        Security: none.
        """
        return self._call('POST', f'/v1/login', query={}, body=body, credentials=credentials)

    def accounts_complete(self, body: "SecondStepRequest", *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`POST /v1/login/mfa`: Completes a sign-in with the second factor; limited per IP (`login_ip`) and per account (`login_account`), and five wrong codes end the step.

        Security: none.
        """
        return self._call('POST', f'/v1/login/mfa', query={}, body=body, credentials=credentials)

    def accounts_logout(self, *, credentials: Optional[Credentials] = None) -> None:
        """`POST /v1/logout`: Ends the current session (reached by cookie or access token), if any, and clears the cookie. 204 whether or not a session was signed in, so logging out twice is not an error; but when the session cannot be looked up (the database is down) the error is returned, never a 204 that would claim a logout that did not happen.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/logout', query={}, body=None, credentials=credentials)

    def email_request_magic_link(self, body: "EmailRequest", *, credentials: Optional[Credentials] = None) -> "LinkRequested":
        """`POST /v1/magic-link`: Mails a sign-in link; limited per IP and per address.

        Security: none.
        """
        return self._call('POST', f'/v1/magic-link', query={}, body=body, credentials=credentials)

    def email_redeem_magic_link(self, body: "TokenRequest", *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`POST /v1/magic-link/verify`: Signs the user in, as login does. Reading the email proves the address, so it is marked verified too.

        Security: none.
        """
        return self._call('POST', f'/v1/magic-link/verify', query={}, body=body, credentials=credentials)

    def profile_update(self, body: "ProfileRequest", *, credentials: Optional[Credentials] = None) -> "Profile":
        """`PATCH /v1/me`: Edits the profile (the display name).

        Security: access_token, session_cookie.
        """
        return self._call('PATCH', f'/v1/me', query={}, body=body, credentials=credentials)

    def privacy_erase(self, body: "EraseRequest", *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me`: Erases the signed-in account and everything tied to it, at once and for good.

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/me', query={}, body=body, credentials=credentials)

    def privacy_own_audit(self, *, limit: Any = None, before: Any = None, credentials: Optional[Credentials] = None) -> "AuditPage":
        """`GET /v1/me/audit`: The events by or about the signed-in user, newest first.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/me/audit', query={'limit': limit, 'before': before}, body=None, credentials=credentials)

    def vault_connections(self, *, credentials: Optional[Credentials] = None) -> "ConnectionList":
        """`GET /v1/me/connections`: The signed-in user's connected accounts (never a token).

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/me/connections', query={}, body=None, credentials=credentials)

    def vault_disconnect(self, provider: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/connections/{provider}`: Disconnects; the tokens are revoked at the provider (when it supports RFC 7009, by a job) and deleted.

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/me/connections/{provider}', query={}, body=None, credentials=credentials)

    def profile_email_change(self, *, credentials: Optional[Credentials] = None) -> "EmailChangeStatus":
        """`GET /v1/me/email`: The pending email change, if any.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/me/email', query={}, body=None, credentials=credentials)

    def profile_request_email_change(self, body: "EmailChangeRequest", *, credentials: Optional[Credentials] = None) -> "EmailChangeStatus":
        """`POST /v1/me/email`: Asks to move the account to a new address. Nothing changes until the link mailed there is opened; a new request replaces a pending one.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/email', query={}, body=body, credentials=credentials)

    def profile_cancel_email_change(self, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/email`: Cancels the pending email change; its link stops working.

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/me/email', query={}, body=None, credentials=credentials)

    def privacy_export(self, *, credentials: Optional[Credentials] = None) -> "PersonalData":
        """`GET /v1/me/export`: Everything Gatehouse holds about the signed-in person, as one versioned JSON document (never a token or a secret), offered as a download.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/me/export', query={}, body=None, credentials=credentials)

    def oauth_list(self, *, credentials: Optional[Credentials] = None) -> "IdentityList":
        """`GET /v1/me/identities`: The provider identities linked to the signed-in account.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/me/identities', query={}, body=None, credentials=credentials)

    def oauth_start_link(self, id: str, body: "LinkRequest", *, credentials: Optional[Credentials] = None) -> "LinkStarted":
        """`POST /v1/me/identities/{id}`: Starts linking a provider identity to this account.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/identities/{id}', query={}, body=body, credentials=credentials)

    def oauth_unlink(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/identities/{id}`: Unlinks an identity, unless it is the account's last way to sign in.

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/me/identities/{id}', query={}, body=None, credentials=credentials)

    def mfa_factors(self, *, credentials: Optional[Credentials] = None) -> "FactorSummary":
        """`GET /v1/me/mfa`: The account's second factors.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/me/mfa', query={}, body=None, credentials=credentials)

    def mfa_recovery_codes(self, *, credentials: Optional[Credentials] = None) -> "RecoveryCodes":
        """`POST /v1/me/mfa/recovery-codes`: Ten new recovery codes; the old ones stop working. Needs a fresh sign-in.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/mfa/recovery-codes', query={}, body=None, credentials=credentials)

    def mfa_enrol(self, *, credentials: Optional[Credentials] = None) -> "TotpEnrolment":
        """`POST /v1/me/mfa/totp`: Starts adding an authenticator app; needs a fresh sign-in (step-up).

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/mfa/totp', query={}, body=None, credentials=credentials)

    def mfa_disable(self, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/mfa/totp`: Removes the authenticator app (and the recovery codes); needs a fresh sign-in.

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/me/mfa/totp', query={}, body=None, credentials=credentials)

    def mfa_confirm(self, body: "ConfirmRequest", *, credentials: Optional[Credentials] = None) -> "RecoveryCodes":
        """`POST /v1/me/mfa/totp/confirm`: Turns the authenticator app on with its first code.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/mfa/totp/confirm', query={}, body=body, credentials=credentials)

    def mfa_list(self, *, credentials: Optional[Credentials] = None) -> "PasskeyList":
        """`GET /v1/me/passkeys`: The account's passkeys.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/me/passkeys', query={}, body=None, credentials=credentials)

    def mfa_register_finish(self, body: "RegisterFinish", *, credentials: Optional[Credentials] = None) -> "PasskeyAdded":
        """`POST /v1/me/passkeys/register/finish`: Checks the new credential and adds the passkey.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/passkeys/register/finish', query={}, body=body, credentials=credentials)

    def mfa_register_start(self, *, credentials: Optional[Credentials] = None) -> Dict[str, Any]:
        """`POST /v1/me/passkeys/register/start`: The options to create a passkey for this account; needs a fresh sign-in.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/passkeys/register/start', query={}, body=None, credentials=credentials)

    def mfa_rename(self, id: str, body: "RenameRequest", *, credentials: Optional[Credentials] = None) -> "Passkey":
        """`PATCH /v1/me/passkeys/{id}`: Renames a passkey.

        Security: access_token, session_cookie.
        """
        return self._call('PATCH', f'/v1/me/passkeys/{id}', query={}, body=body, credentials=credentials)

    def mfa_delete(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/passkeys/{id}`: Deletes a passkey; needs a fresh sign-in.

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/me/passkeys/{id}', query={}, body=None, credentials=credentials)

    def profile_change_password(self, body: "ChangePasswordRequest", *, credentials: Optional[Credentials] = None) -> "PasswordChanged":
        """`POST /v1/me/password`: Changes (or sets a first) password. Attempts count against the account's login limit (`login_account`).

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/password', query={}, body=body, credentials=credentials)

    def mfa_reauthenticate(self, body: "ReauthenticateRequest", *, credentials: Optional[Credentials] = None) -> "Reauthenticated":
        """`POST /v1/me/reauthenticate`: A fresh proof of identity (step-up) for the next `session.reauth_window_secs` (5 minutes by default) of sensitive actions; attempts count against the account's login limit (`login_account`).

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/me/reauthenticate', query={}, body=body, credentials=credentials)

    def oauth_providers(self, *, credentials: Optional[Credentials] = None) -> "ProviderList":
        """`GET /v1/oauth/providers`: The configured providers, to draw sign-in buttons.

        Security: none.
        """
        return self._call('GET', f'/v1/oauth/providers', query={}, body=None, credentials=credentials)

    def oauth_callback(self, provider: str, *, state: Any = None, code: Any = None, iss: Any = None, error: Any = None, credentials: Optional[Credentials] = None) -> None:
        """`GET /v1/oauth/{provider}/callback`: Where the provider sends the browser back; signs in (or links, for a flow started by `POST /v1/me/identities/{provider}`) and redirects to `redirect_to`, with `error=CODE` when the sign-in failed. Limited per IP (`oauth_ip`).

        Security: none.
        """
        return self._call('GET', f'/v1/oauth/{provider}/callback', query={'state': state, 'code': code, 'iss': iss, 'error': error}, body=None, credentials=credentials)

    def oauth_start(self, provider: str, *, redirect_to: Any = None, scopes: Any = None, login_hint: Any = None, credentials: Optional[Credentials] = None) -> None:
        """`GET /v1/oauth/{provider}/start`: Redirects the browser to the provider to sign in; limited per IP (`oauth_ip`).

        Security: none.
        """
        return self._call('GET', f'/v1/oauth/{provider}/start', query={'redirect_to': redirect_to, 'scopes': scopes, 'login_hint': login_hint}, body=None, credentials=credentials)

    def accounts_authenticate_finish(self, body: "AuthenticateFinish", *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`POST /v1/passkeys/authenticate/finish`: Signs in with a passkey alone (it verified its user: a PIN or biometric), `amr` `hwk` or `swk`.

        Security: none.
        """
        return self._call('POST', f'/v1/passkeys/authenticate/finish', query={}, body=body, credentials=credentials)

    def accounts_authenticate_start(self, *, credentials: Optional[Credentials] = None) -> Dict[str, Any]:
        """`POST /v1/passkeys/authenticate/start`: The options for `navigator.credentials.get()`, for a passwordless sign-in (`/v1/passkeys/authenticate/finish`), a second step (`POST /v1/login/mfa` with `passkey`) or a step-up (`POST /v1/me/reauthenticate` with `passkey`).

        Security: none.
        """
        return self._call('POST', f'/v1/passkeys/authenticate/start', query={}, body=None, credentials=credentials)

    def email_forgot_password(self, body: "EmailRequest", *, credentials: Optional[Credentials] = None) -> "LinkRequested":
        """`POST /v1/password/forgot`: Mails a password-reset link; limited per IP and per address.

        Security: none.
        """
        return self._call('POST', f'/v1/password/forgot', query={}, body=body, credentials=credentials)

    def email_reset_password(self, body: "ResetRequest", *, credentials: Optional[Credentials] = None) -> None:
        """`POST /v1/password/reset`: Sets the password and ends every session of the user, wherever it was signed in.

        Security: none.
        """
        return self._call('POST', f'/v1/password/reset', query={}, body=body, credentials=credentials)

    def service_decide(self, body: "CheckRequest", *, credentials: Optional[Credentials] = None) -> "DecisionView":
        """`POST /v1/rate-limit/check`: One decision for an app's own key (scope `rate_limit`), under a named policy from the config or an inline one. Apps' keys live apart from Gatehouse's own.

        Security: service_key.
        """
        return self._call('POST', f'/v1/rate-limit/check', query={}, body=body, credentials=credentials)

    def sessions_whoami(self, *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`GET /v1/session`: Who is signed in.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/session', query={}, body=None, credentials=credentials)

    def sessions_switch(self, body: "SwitchRequest", *, credentials: Optional[Credentials] = None) -> "ActiveWorkspaceView":
        """`POST /v1/session/workspace`: Chooses the workspace this session acts in. `GET /v1/session`, access tokens (`wid`, `role`) and forward-auth (`Remote-Groups`) then carry it.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/session/workspace', query={}, body=body, credentials=credentials)

    def sessions_list(self, *, credentials: Optional[Credentials] = None) -> "SessionList":
        """`GET /v1/sessions`: The caller's sessions.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/sessions', query={}, body=None, credentials=credentials)

    def sessions_revoke_others(self, *, credentials: Optional[Credentials] = None) -> "Revoked":
        """`POST /v1/sessions/revoke-others`: Ends every session of the caller but this one.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/sessions/revoke-others', query={}, body=None, credentials=credentials)

    def sessions_revoke(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/sessions/{id}`: Ends one of the caller's sessions (the current one included).

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/sessions/{id}', query={}, body=None, credentials=credentials)

    def accounts_signup(self, body: "SignupRequest", *, credentials: Optional[Credentials] = None) -> "SignupAnswer":
        """`POST /v1/signup`: Creates an account and signs it in; limited per IP (`signup_ip`).

        Security: none.
        """
        return self._call('POST', f'/v1/signup', query={}, body=body, credentials=credentials)

    def tokens_issue(self, *, credentials: Optional[Credentials] = None) -> "AccessToken":
        """`POST /v1/token`: A short-lived access token for the signed-in session.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/token', query={}, body=None, credentials=credentials)

    def vault_token(self, user_id: str, provider: str, *, credentials: Optional[Credentials] = None) -> "VaultToken":
        """`GET /v1/vault/{user_id}/{provider}/token`: A user's access token for a provider (scope `vault`), refreshed first when it expires within 60 s.

        Security: service_key.
        """
        return self._call('GET', f'/v1/vault/{user_id}/{provider}/token', query={}, body=None, credentials=credentials)

    def webhooks_retry_delivery(self, id: str, *, credentials: Optional[Credentials] = None) -> "RetryQueued":
        """`POST /v1/webhooks/deliveries/{id}/retry`: Sends the delivery again now (202).

        Security: service_key.
        """
        return self._call('POST', f'/v1/webhooks/deliveries/{id}/retry', query={}, body=None, credentials=credentials)

    def webhooks_list_endpoints(self, *, credentials: Optional[Credentials] = None) -> "EndpointList":
        """`GET /v1/webhooks/endpoints`: Every endpoint, without secrets.

        Security: service_key.
        """
        return self._call('GET', f'/v1/webhooks/endpoints', query={}, body=None, credentials=credentials)

    def webhooks_create_endpoint(self, body: "CreateEndpoint", *, credentials: Optional[Credentials] = None) -> "CreatedEndpoint":
        """`POST /v1/webhooks/endpoints`: Creates an endpoint; answers 201 with it and its secret (shown this once).

        Security: service_key.
        """
        return self._call('POST', f'/v1/webhooks/endpoints', query={}, body=body, credentials=credentials)

    def webhooks_endpoint(self, id: str, *, credentials: Optional[Credentials] = None) -> "Endpoint":
        """`GET /v1/webhooks/endpoints/{id}`: One endpoint, without its secret.

        Security: service_key.
        """
        return self._call('GET', f'/v1/webhooks/endpoints/{id}', query={}, body=None, credentials=credentials)

    def webhooks_update_endpoint(self, id: str, body: "UpdateEndpoint", *, credentials: Optional[Credentials] = None) -> "Endpoint":
        """`PATCH /v1/webhooks/endpoints/{id}`: Any of url, event_types, enabled. Enabling an endpoint Gatehouse disabled clears the reason and the failure streak.

        Security: service_key.
        """
        return self._call('PATCH', f'/v1/webhooks/endpoints/{id}', query={}, body=body, credentials=credentials)

    def webhooks_delete_endpoint(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/webhooks/endpoints/{id}`: The endpoint and its delivery history.

        Security: service_key.
        """
        return self._call('DELETE', f'/v1/webhooks/endpoints/{id}', query={}, body=None, credentials=credentials)

    def webhooks_deliveries(self, id: str, *, limit: Any = None, credentials: Optional[Credentials] = None) -> "DeliveryList":
        """`GET /v1/webhooks/endpoints/{id}/deliveries`: Newest first, each with its attempts.

        Security: service_key.
        """
        return self._call('GET', f'/v1/webhooks/endpoints/{id}/deliveries', query={'limit': limit}, body=None, credentials=credentials)

    def webhooks_rotate_secret(self, id: str, *, credentials: Optional[Credentials] = None) -> "RotatedSecret":
        """`POST /v1/webhooks/endpoints/{id}/rotate-secret`: A new secret; the old one keeps signing beside it for the grace period.

        Security: service_key.
        """
        return self._call('POST', f'/v1/webhooks/endpoints/{id}/rotate-secret', query={}, body=None, credentials=credentials)

    def webhooks_publish(self, body: "PublishEvent", *, credentials: Optional[Credentials] = None) -> "Published":
        """`POST /v1/webhooks/events`: Publishes an app's own event to every endpoint subscribed to its type (202 `{id}`).

        Security: service_key.
        """
        return self._call('POST', f'/v1/webhooks/events', query={}, body=body, credentials=credentials)

    def workspaces_list(self, *, credentials: Optional[Credentials] = None) -> "MembershipList":
        """`GET /v1/workspaces`: The workspaces the caller belongs to, with their role in each.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/workspaces', query={}, body=None, credentials=credentials)

    def workspaces_create(self, body: "NameRequest", *, credentials: Optional[Credentials] = None) -> "Workspace":
        """`POST /v1/workspaces`: Creates a workspace with the caller as its owner.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/workspaces', query={}, body=body, credentials=credentials)

    def workspaces_get(self, id: str, *, credentials: Optional[Credentials] = None) -> "WorkspaceView":
        """`GET /v1/workspaces/{id}`: One of the caller's workspaces.

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/workspaces/{id}', query={}, body=None, credentials=credentials)

    def workspaces_rename(self, id: str, body: "NameRequest", *, credentials: Optional[Credentials] = None) -> "Workspace":
        """`PATCH /v1/workspaces/{id}`: Renames a workspace (admins).

        Security: access_token, session_cookie.
        """
        return self._call('PATCH', f'/v1/workspaces/{id}', query={}, body=body, credentials=credentials)

    def workspaces_delete(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/workspaces/{id}`: Deletes a workspace with its memberships and invitations (owners).

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/workspaces/{id}', query={}, body=None, credentials=credentials)

    def workspaces_invitations(self, id: str, *, credentials: Optional[Credentials] = None) -> "InvitationList":
        """`GET /v1/workspaces/{id}/invitations`: Pending invitations (admins).

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/workspaces/{id}/invitations', query={}, body=None, credentials=credentials)

    def workspaces_invite(self, id: str, body: "InviteRequest", *, credentials: Optional[Credentials] = None) -> "Invitation":
        """`POST /v1/workspaces/{id}/invitations`: Invites an address (admins). The invitation is mailed through the job queue and works once, for 7 days, for a signed-in account with that verified address. Inviting an address again replaces its pending invitation.

        Security: access_token, session_cookie.
        """
        return self._call('POST', f'/v1/workspaces/{id}/invitations', query={}, body=body, credentials=credentials)

    def workspaces_withdraw(self, id: str, invitation_id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/workspaces/{id}/invitations/{invitation_id}`: Withdraws an invitation (admins).

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/workspaces/{id}/invitations/{invitation_id}', query={}, body=None, credentials=credentials)

    def workspaces_members(self, id: str, *, credentials: Optional[Credentials] = None) -> "MemberList":
        """`GET /v1/workspaces/{id}/members`: The members (any member may read them).

        Security: access_token, session_cookie.
        """
        return self._call('GET', f'/v1/workspaces/{id}/members', query={}, body=None, credentials=credentials)

    def workspaces_change_role(self, id: str, user_id: str, body: "RoleRequest", *, credentials: Optional[Credentials] = None) -> "Member":
        """`PATCH /v1/workspaces/{id}/members/{user_id}`: Changes a member's role. Admins change members and admins; only owners make or unmake owners.

        Security: access_token, session_cookie.
        """
        return self._call('PATCH', f'/v1/workspaces/{id}/members/{user_id}', query={}, body=body, credentials=credentials)

    def workspaces_remove(self, id: str, user_id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/workspaces/{id}/members/{user_id}`: Removes a member (admins; owners only by an owner), or, with the caller's own id, leaves the workspace (any member).

        Security: access_token, session_cookie.
        """
        return self._call('DELETE', f'/v1/workspaces/{id}/members/{user_id}', query={}, body=None, credentials=credentials)


class AsyncOperations:
    """Every operation of the API, for the async client."""

    async def _call(self, method: str, path: str, *, query: Dict[str, Any], body: Any, credentials: Optional[Credentials]) -> Any:
        raise NotImplementedError

    async def tokens_jwks(self, *, credentials: Optional[Credentials] = None) -> "JwkSet":
        """`GET /.well-known/jwks.json`: The public keys that verify access tokens.

        Security: none.
        """
        return await self._call('GET', f'/.well-known/jwks.json', query={}, body=None, credentials=credentials)

    async def operations_full(self, *, credentials: Optional[Credentials] = None) -> "HealthView":
        """`GET /health`: Every dependency, including the optional ones (Redis, the job queue).

        Security: none.
        """
        return await self._call('GET', f'/health', query={}, body=None, credentials=credentials)

    async def operations_live(self, *, credentials: Optional[Credentials] = None) -> "Live":
        """`GET /health/live`: The process is up. Checks nothing else, so a restart loop never follows a database outage.

        Security: none.
        """
        return await self._call('GET', f'/health/live', query={}, body=None, credentials=credentials)

    async def operations_ready(self, *, credentials: Optional[Credentials] = None) -> "Ready":
        """`GET /health/ready`: Whether this instance can serve (database reachable, migrations applied).

        Security: none.
        """
        return await self._call('GET', f'/health/ready', query={}, body=None, credentials=credentials)

    async def operations_render(self, *, credentials: Optional[Credentials] = None) -> str:
        """`GET /metrics`: Prometheus metrics (on the main listener unless `server.metrics_listen` moves them).

        Security: none.
        """
        return await self._call('GET', f'/metrics', query={}, body=None, credentials=credentials)

    async def operations_document_route(self, *, credentials: Optional[Credentials] = None) -> Dict[str, Any]:
        """`GET /openapi.json`: This document.

        Security: none.
        """
        return await self._call('GET', f'/openapi.json', query={}, body=None, credentials=credentials)

    async def admin_audit(self, *, actor: Any = None, action: Any = None, target: Any = None, workspace: Any = None, from_: Any = None, to: Any = None, limit: Any = None, before: Any = None, credentials: Optional[Credentials] = None) -> "AuditPage":
        """`GET /v1/admin/audit`: Audit events matching every given filter, newest first.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/admin/audit', query={'actor': actor, 'action': action, 'target': target, 'workspace': workspace, 'from': from_, 'to': to, 'limit': limit, 'before': before}, body=None, credentials=credentials)

    async def admin_users(self, *, email_prefix: Any = None, after: Any = None, limit: Any = None, credentials: Optional[Credentials] = None) -> "UserPage":
        """`GET /v1/admin/users`: Users by id, optionally by address prefix, a page at a time.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/admin/users', query={'email_prefix': email_prefix, 'after': after, 'limit': limit}, body=None, credentials=credentials)

    async def admin_create(self, body: "NewAccount", *, credentials: Optional[Credentials] = None) -> "User":
        """`POST /v1/admin/users`: Creates an account (no session, no verification email).

        Security: service_key.
        """
        return await self._call('POST', f'/v1/admin/users', query={}, body=body, credentials=credentials)

    async def admin_user(self, id: str, *, credentials: Optional[Credentials] = None) -> "UserDetail":
        """`GET /v1/admin/users/{id}`: One user, with their workspaces.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/admin/users/{id}', query={}, body=None, credentials=credentials)

    async def admin_erase(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/admin/users/{id}`: Erases the account, as `DELETE /v1/me` does.

        Security: service_key.
        """
        return await self._call('DELETE', f'/v1/admin/users/{id}', query={}, body=None, credentials=credentials)

    async def admin_disable(self, id: str, *, credentials: Optional[Credentials] = None) -> "User":
        """`POST /v1/admin/users/{id}/disable`: Disables the account and ends its sessions everywhere.

        Security: service_key.
        """
        return await self._call('POST', f'/v1/admin/users/{id}/disable', query={}, body=None, credentials=credentials)

    async def admin_enable(self, id: str, *, credentials: Optional[Credentials] = None) -> "User":
        """`POST /v1/admin/users/{id}/enable`: Lets a disabled account sign in again.

        Security: service_key.
        """
        return await self._call('POST', f'/v1/admin/users/{id}/enable', query={}, body=None, credentials=credentials)

    async def admin_export(self, id: str, *, credentials: Optional[Credentials] = None) -> "PersonalData":
        """`GET /v1/admin/users/{id}/export`: The user's personal data document, as `GET /v1/me/export`.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/admin/users/{id}/export', query={}, body=None, credentials=credentials)

    async def admin_revoke_user_sessions(self, id: str, *, credentials: Optional[Credentials] = None) -> "Revoked":
        """`POST /v1/admin/users/{id}/revoke-sessions`: Ends every session of the user, everywhere.

        Security: service_key.
        """
        return await self._call('POST', f'/v1/admin/users/{id}/revoke-sessions', query={}, body=None, credentials=credentials)

    async def admin_workspaces(self, *, after: Any = None, limit: Any = None, credentials: Optional[Credentials] = None) -> "WorkspaceList":
        """`GET /v1/admin/workspaces`: Every workspace, by id, a page at a time.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/admin/workspaces', query={'after': after, 'limit': limit}, body=None, credentials=credentials)

    async def admin_workspace(self, id: str, *, credentials: Optional[Credentials] = None) -> "WorkspaceDetail":
        """`GET /v1/admin/workspaces/{id}`: One workspace with its members.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/admin/workspaces/{id}', query={}, body=None, credentials=credentials)

    async def service_audit_events(self, *, limit: Any = None, credentials: Optional[Credentials] = None) -> "AuditEvents":
        """`GET /v1/audit-events`: The most recent audit events, newest first (scope `audit`).

        Security: service_key.
        """
        return await self._call('GET', f'/v1/audit-events', query={'limit': limit}, body=None, credentials=credentials)

    async def sessions_token(self, *, credentials: Optional[Credentials] = None) -> "CsrfToken":
        """`GET /v1/csrf`: The signed-in session's CSRF token, also set as the `gatehouse_csrf` cookie.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/csrf', query={}, body=None, credentials=credentials)

    async def email_confirm_email_change(self, body: "EmailTokenRequest", *, credentials: Optional[Credentials] = None) -> "EmailChanged":
        """`POST /v1/email/change/confirm`: Opens the link mailed to the new address and makes the change. It applies to the account the link was issued for, whoever is signed in.

        Security: none.
        """
        return await self._call('POST', f'/v1/email/change/confirm', query={}, body=body, credentials=credentials)

    async def email_undo_email_change(self, body: "EmailTokenRequest", *, credentials: Optional[Credentials] = None) -> "EmailChanged":
        """`POST /v1/email/change/undo`: Opens the link mailed to the old address after a change. The old address comes back, every session ends, every link is retired, the password is removed, and a reset link goes to the restored address.

        Security: none.
        """
        return await self._call('POST', f'/v1/email/change/undo', query={}, body=body, credentials=credentials)

    async def email_request_verification(self, body: Optional[Union["EmailRequest", Optional[Dict[str, Any]]]] = None, *, credentials: Optional[Credentials] = None) -> "LinkRequested":
        """`POST /v1/email/verification`: Mails a verification link to the signed-in user, or, for a caller who cannot sign in yet (login waits for verification), to the `{email}` in the body.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/email/verification', query={}, body=body, credentials=credentials)

    async def email_verify(self, body: "TokenRequest", *, credentials: Optional[Credentials] = None) -> "Verified":
        """`POST /v1/email/verify`: Marks the address the link was sent to as verified.

        Security: none.
        """
        return await self._call('POST', f'/v1/email/verify', query={}, body=body, credentials=credentials)

    async def forward_auth_decide(self, *, credentials: Optional[Credentials] = None) -> None:
        """`GET /v1/forward-auth`: Whether the proxy may pass the original request to the app.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/forward-auth', query={}, body=None, credentials=credentials)

    async def workspaces_accept(self, body: "AcceptRequest", *, credentials: Optional[Credentials] = None) -> "Membership":
        """`POST /v1/invitations/accept`: Joins the workspace an invitation is for. The caller must be signed in with the address it was sent to; accepting verifies that address.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/invitations/accept', query={}, body=body, credentials=credentials)

    async def accounts_login(self, body: "LoginRequest", *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`POST /v1/login`: Signs in with email and password; limited per IP (`login_ip`, before the body is read) and per submitted account (`login_account`, before any password work).

        Security: none.
        """
        return await self._call('POST', f'/v1/login', query={}, body=body, credentials=credentials)

    async def accounts_complete(self, body: "SecondStepRequest", *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`POST /v1/login/mfa`: Completes a sign-in with the second factor; limited per IP (`login_ip`) and per account (`login_account`), and five wrong codes end the step.

        Security: none.
        """
        return await self._call('POST', f'/v1/login/mfa', query={}, body=body, credentials=credentials)

    async def accounts_logout(self, *, credentials: Optional[Credentials] = None) -> None:
        """`POST /v1/logout`: Ends the current session (reached by cookie or access token), if any, and clears the cookie. 204 whether or not a session was signed in, so logging out twice is not an error; but when the session cannot be looked up (the database is down) the error is returned, never a 204 that would claim a logout that did not happen.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/logout', query={}, body=None, credentials=credentials)

    async def email_request_magic_link(self, body: "EmailRequest", *, credentials: Optional[Credentials] = None) -> "LinkRequested":
        """`POST /v1/magic-link`: Mails a sign-in link; limited per IP and per address.

        Security: none.
        """
        return await self._call('POST', f'/v1/magic-link', query={}, body=body, credentials=credentials)

    async def email_redeem_magic_link(self, body: "TokenRequest", *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`POST /v1/magic-link/verify`: Signs the user in, as login does. Reading the email proves the address, so it is marked verified too.

        Security: none.
        """
        return await self._call('POST', f'/v1/magic-link/verify', query={}, body=body, credentials=credentials)

    async def profile_update(self, body: "ProfileRequest", *, credentials: Optional[Credentials] = None) -> "Profile":
        """`PATCH /v1/me`: Edits the profile (the display name).

        Security: access_token, session_cookie.
        """
        return await self._call('PATCH', f'/v1/me', query={}, body=body, credentials=credentials)

    async def privacy_erase(self, body: "EraseRequest", *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me`: Erases the signed-in account and everything tied to it, at once and for good.

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/me', query={}, body=body, credentials=credentials)

    async def privacy_own_audit(self, *, limit: Any = None, before: Any = None, credentials: Optional[Credentials] = None) -> "AuditPage":
        """`GET /v1/me/audit`: The events by or about the signed-in user, newest first.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/me/audit', query={'limit': limit, 'before': before}, body=None, credentials=credentials)

    async def vault_connections(self, *, credentials: Optional[Credentials] = None) -> "ConnectionList":
        """`GET /v1/me/connections`: The signed-in user's connected accounts (never a token).

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/me/connections', query={}, body=None, credentials=credentials)

    async def vault_disconnect(self, provider: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/connections/{provider}`: Disconnects; the tokens are revoked at the provider (when it supports RFC 7009, by a job) and deleted.

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/me/connections/{provider}', query={}, body=None, credentials=credentials)

    async def profile_email_change(self, *, credentials: Optional[Credentials] = None) -> "EmailChangeStatus":
        """`GET /v1/me/email`: The pending email change, if any.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/me/email', query={}, body=None, credentials=credentials)

    async def profile_request_email_change(self, body: "EmailChangeRequest", *, credentials: Optional[Credentials] = None) -> "EmailChangeStatus":
        """`POST /v1/me/email`: Asks to move the account to a new address. Nothing changes until the link mailed there is opened; a new request replaces a pending one.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/email', query={}, body=body, credentials=credentials)

    async def profile_cancel_email_change(self, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/email`: Cancels the pending email change; its link stops working.

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/me/email', query={}, body=None, credentials=credentials)

    async def privacy_export(self, *, credentials: Optional[Credentials] = None) -> "PersonalData":
        """`GET /v1/me/export`: Everything Gatehouse holds about the signed-in person, as one versioned JSON document (never a token or a secret), offered as a download.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/me/export', query={}, body=None, credentials=credentials)

    async def oauth_list(self, *, credentials: Optional[Credentials] = None) -> "IdentityList":
        """`GET /v1/me/identities`: The provider identities linked to the signed-in account.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/me/identities', query={}, body=None, credentials=credentials)

    async def oauth_start_link(self, id: str, body: "LinkRequest", *, credentials: Optional[Credentials] = None) -> "LinkStarted":
        """`POST /v1/me/identities/{id}`: Starts linking a provider identity to this account.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/identities/{id}', query={}, body=body, credentials=credentials)

    async def oauth_unlink(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/identities/{id}`: Unlinks an identity, unless it is the account's last way to sign in.

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/me/identities/{id}', query={}, body=None, credentials=credentials)

    async def mfa_factors(self, *, credentials: Optional[Credentials] = None) -> "FactorSummary":
        """`GET /v1/me/mfa`: The account's second factors.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/me/mfa', query={}, body=None, credentials=credentials)

    async def mfa_recovery_codes(self, *, credentials: Optional[Credentials] = None) -> "RecoveryCodes":
        """`POST /v1/me/mfa/recovery-codes`: Ten new recovery codes; the old ones stop working. Needs a fresh sign-in.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/mfa/recovery-codes', query={}, body=None, credentials=credentials)

    async def mfa_enrol(self, *, credentials: Optional[Credentials] = None) -> "TotpEnrolment":
        """`POST /v1/me/mfa/totp`: Starts adding an authenticator app; needs a fresh sign-in (step-up).

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/mfa/totp', query={}, body=None, credentials=credentials)

    async def mfa_disable(self, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/mfa/totp`: Removes the authenticator app (and the recovery codes); needs a fresh sign-in.

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/me/mfa/totp', query={}, body=None, credentials=credentials)

    async def mfa_confirm(self, body: "ConfirmRequest", *, credentials: Optional[Credentials] = None) -> "RecoveryCodes":
        """`POST /v1/me/mfa/totp/confirm`: Turns the authenticator app on with its first code.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/mfa/totp/confirm', query={}, body=body, credentials=credentials)

    async def mfa_list(self, *, credentials: Optional[Credentials] = None) -> "PasskeyList":
        """`GET /v1/me/passkeys`: The account's passkeys.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/me/passkeys', query={}, body=None, credentials=credentials)

    async def mfa_register_finish(self, body: "RegisterFinish", *, credentials: Optional[Credentials] = None) -> "PasskeyAdded":
        """`POST /v1/me/passkeys/register/finish`: Checks the new credential and adds the passkey.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/passkeys/register/finish', query={}, body=body, credentials=credentials)

    async def mfa_register_start(self, *, credentials: Optional[Credentials] = None) -> Dict[str, Any]:
        """`POST /v1/me/passkeys/register/start`: The options to create a passkey for this account; needs a fresh sign-in.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/passkeys/register/start', query={}, body=None, credentials=credentials)

    async def mfa_rename(self, id: str, body: "RenameRequest", *, credentials: Optional[Credentials] = None) -> "Passkey":
        """`PATCH /v1/me/passkeys/{id}`: Renames a passkey.

        Security: access_token, session_cookie.
        """
        return await self._call('PATCH', f'/v1/me/passkeys/{id}', query={}, body=body, credentials=credentials)

    async def mfa_delete(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/me/passkeys/{id}`: Deletes a passkey; needs a fresh sign-in.

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/me/passkeys/{id}', query={}, body=None, credentials=credentials)

    async def profile_change_password(self, body: "ChangePasswordRequest", *, credentials: Optional[Credentials] = None) -> "PasswordChanged":
        """`POST /v1/me/password`: Changes (or sets a first) password. Attempts count against the account's login limit (`login_account`).

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/password', query={}, body=body, credentials=credentials)

    async def mfa_reauthenticate(self, body: "ReauthenticateRequest", *, credentials: Optional[Credentials] = None) -> "Reauthenticated":
        """`POST /v1/me/reauthenticate`: A fresh proof of identity (step-up) for the next `session.reauth_window_secs` (5 minutes by default) of sensitive actions; attempts count against the account's login limit (`login_account`).

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/me/reauthenticate', query={}, body=body, credentials=credentials)

    async def oauth_providers(self, *, credentials: Optional[Credentials] = None) -> "ProviderList":
        """`GET /v1/oauth/providers`: The configured providers, to draw sign-in buttons.

        Security: none.
        """
        return await self._call('GET', f'/v1/oauth/providers', query={}, body=None, credentials=credentials)

    async def oauth_callback(self, provider: str, *, state: Any = None, code: Any = None, iss: Any = None, error: Any = None, credentials: Optional[Credentials] = None) -> None:
        """`GET /v1/oauth/{provider}/callback`: Where the provider sends the browser back; signs in (or links, for a flow started by `POST /v1/me/identities/{provider}`) and redirects to `redirect_to`, with `error=CODE` when the sign-in failed. Limited per IP (`oauth_ip`).

        Security: none.
        """
        return await self._call('GET', f'/v1/oauth/{provider}/callback', query={'state': state, 'code': code, 'iss': iss, 'error': error}, body=None, credentials=credentials)

    async def oauth_start(self, provider: str, *, redirect_to: Any = None, scopes: Any = None, login_hint: Any = None, credentials: Optional[Credentials] = None) -> None:
        """`GET /v1/oauth/{provider}/start`: Redirects the browser to the provider to sign in; limited per IP (`oauth_ip`).

        Security: none.
        """
        return await self._call('GET', f'/v1/oauth/{provider}/start', query={'redirect_to': redirect_to, 'scopes': scopes, 'login_hint': login_hint}, body=None, credentials=credentials)

    async def accounts_authenticate_finish(self, body: "AuthenticateFinish", *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`POST /v1/passkeys/authenticate/finish`: Signs in with a passkey alone (it verified its user: a PIN or biometric), `amr` `hwk` or `swk`.

        Security: none.
        """
        return await self._call('POST', f'/v1/passkeys/authenticate/finish', query={}, body=body, credentials=credentials)

    async def accounts_authenticate_start(self, *, credentials: Optional[Credentials] = None) -> Dict[str, Any]:
        """`POST /v1/passkeys/authenticate/start`: The options for `navigator.credentials.get()`, for a passwordless sign-in (`/v1/passkeys/authenticate/finish`), a second step (`POST /v1/login/mfa` with `passkey`) or a step-up (`POST /v1/me/reauthenticate` with `passkey`).

        Security: none.
        """
        return await self._call('POST', f'/v1/passkeys/authenticate/start', query={}, body=None, credentials=credentials)

    async def email_forgot_password(self, body: "EmailRequest", *, credentials: Optional[Credentials] = None) -> "LinkRequested":
        """`POST /v1/password/forgot`: Mails a password-reset link; limited per IP and per address.

        Security: none.
        """
        return await self._call('POST', f'/v1/password/forgot', query={}, body=body, credentials=credentials)

    async def email_reset_password(self, body: "ResetRequest", *, credentials: Optional[Credentials] = None) -> None:
        """`POST /v1/password/reset`: Sets the password and ends every session of the user, wherever it was signed in.

        Security: none.
        """
        return await self._call('POST', f'/v1/password/reset', query={}, body=body, credentials=credentials)

    async def service_decide(self, body: "CheckRequest", *, credentials: Optional[Credentials] = None) -> "DecisionView":
        """`POST /v1/rate-limit/check`: One decision for an app's own key (scope `rate_limit`), under a named policy from the config or an inline one. Apps' keys live apart from Gatehouse's own.

        Security: service_key.
        """
        return await self._call('POST', f'/v1/rate-limit/check', query={}, body=body, credentials=credentials)

    async def sessions_whoami(self, *, credentials: Optional[Credentials] = None) -> "SignedIn":
        """`GET /v1/session`: Who is signed in.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/session', query={}, body=None, credentials=credentials)

    async def sessions_switch(self, body: "SwitchRequest", *, credentials: Optional[Credentials] = None) -> "ActiveWorkspaceView":
        """`POST /v1/session/workspace`: Chooses the workspace this session acts in. `GET /v1/session`, access tokens (`wid`, `role`) and forward-auth (`Remote-Groups`) then carry it.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/session/workspace', query={}, body=body, credentials=credentials)

    async def sessions_list(self, *, credentials: Optional[Credentials] = None) -> "SessionList":
        """`GET /v1/sessions`: The caller's sessions.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/sessions', query={}, body=None, credentials=credentials)

    async def sessions_revoke_others(self, *, credentials: Optional[Credentials] = None) -> "Revoked":
        """`POST /v1/sessions/revoke-others`: Ends every session of the caller but this one.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/sessions/revoke-others', query={}, body=None, credentials=credentials)

    async def sessions_revoke(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/sessions/{id}`: Ends one of the caller's sessions (the current one included).

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/sessions/{id}', query={}, body=None, credentials=credentials)

    async def accounts_signup(self, body: "SignupRequest", *, credentials: Optional[Credentials] = None) -> "SignupAnswer":
        """`POST /v1/signup`: Creates an account and signs it in; limited per IP (`signup_ip`).

        Security: none.
        """
        return await self._call('POST', f'/v1/signup', query={}, body=body, credentials=credentials)

    async def tokens_issue(self, *, credentials: Optional[Credentials] = None) -> "AccessToken":
        """`POST /v1/token`: A short-lived access token for the signed-in session.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/token', query={}, body=None, credentials=credentials)

    async def vault_token(self, user_id: str, provider: str, *, credentials: Optional[Credentials] = None) -> "VaultToken":
        """`GET /v1/vault/{user_id}/{provider}/token`: A user's access token for a provider (scope `vault`), refreshed first when it expires within 60 s.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/vault/{user_id}/{provider}/token', query={}, body=None, credentials=credentials)

    async def webhooks_retry_delivery(self, id: str, *, credentials: Optional[Credentials] = None) -> "RetryQueued":
        """`POST /v1/webhooks/deliveries/{id}/retry`: Sends the delivery again now (202).

        Security: service_key.
        """
        return await self._call('POST', f'/v1/webhooks/deliveries/{id}/retry', query={}, body=None, credentials=credentials)

    async def webhooks_list_endpoints(self, *, credentials: Optional[Credentials] = None) -> "EndpointList":
        """`GET /v1/webhooks/endpoints`: Every endpoint, without secrets.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/webhooks/endpoints', query={}, body=None, credentials=credentials)

    async def webhooks_create_endpoint(self, body: "CreateEndpoint", *, credentials: Optional[Credentials] = None) -> "CreatedEndpoint":
        """`POST /v1/webhooks/endpoints`: Creates an endpoint; answers 201 with it and its secret (shown this once).

        Security: service_key.
        """
        return await self._call('POST', f'/v1/webhooks/endpoints', query={}, body=body, credentials=credentials)

    async def webhooks_endpoint(self, id: str, *, credentials: Optional[Credentials] = None) -> "Endpoint":
        """`GET /v1/webhooks/endpoints/{id}`: One endpoint, without its secret.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/webhooks/endpoints/{id}', query={}, body=None, credentials=credentials)

    async def webhooks_update_endpoint(self, id: str, body: "UpdateEndpoint", *, credentials: Optional[Credentials] = None) -> "Endpoint":
        """`PATCH /v1/webhooks/endpoints/{id}`: Any of url, event_types, enabled. Enabling an endpoint Gatehouse disabled clears the reason and the failure streak.

        Security: service_key.
        """
        return await self._call('PATCH', f'/v1/webhooks/endpoints/{id}', query={}, body=body, credentials=credentials)

    async def webhooks_delete_endpoint(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/webhooks/endpoints/{id}`: The endpoint and its delivery history.

        Security: service_key.
        """
        return await self._call('DELETE', f'/v1/webhooks/endpoints/{id}', query={}, body=None, credentials=credentials)

    async def webhooks_deliveries(self, id: str, *, limit: Any = None, credentials: Optional[Credentials] = None) -> "DeliveryList":
        """`GET /v1/webhooks/endpoints/{id}/deliveries`: Newest first, each with its attempts.

        Security: service_key.
        """
        return await self._call('GET', f'/v1/webhooks/endpoints/{id}/deliveries', query={'limit': limit}, body=None, credentials=credentials)

    async def webhooks_rotate_secret(self, id: str, *, credentials: Optional[Credentials] = None) -> "RotatedSecret":
        """`POST /v1/webhooks/endpoints/{id}/rotate-secret`: A new secret; the old one keeps signing beside it for the grace period.

        Security: service_key.
        """
        return await self._call('POST', f'/v1/webhooks/endpoints/{id}/rotate-secret', query={}, body=None, credentials=credentials)

    async def webhooks_publish(self, body: "PublishEvent", *, credentials: Optional[Credentials] = None) -> "Published":
        """`POST /v1/webhooks/events`: Publishes an app's own event to every endpoint subscribed to its type (202 `{id}`).

        Security: service_key.
        """
        return await self._call('POST', f'/v1/webhooks/events', query={}, body=body, credentials=credentials)

    async def workspaces_list(self, *, credentials: Optional[Credentials] = None) -> "MembershipList":
        """`GET /v1/workspaces`: The workspaces the caller belongs to, with their role in each.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/workspaces', query={}, body=None, credentials=credentials)

    async def workspaces_create(self, body: "NameRequest", *, credentials: Optional[Credentials] = None) -> "Workspace":
        """`POST /v1/workspaces`: Creates a workspace with the caller as its owner.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/workspaces', query={}, body=body, credentials=credentials)

    async def workspaces_get(self, id: str, *, credentials: Optional[Credentials] = None) -> "WorkspaceView":
        """`GET /v1/workspaces/{id}`: One of the caller's workspaces.

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/workspaces/{id}', query={}, body=None, credentials=credentials)

    async def workspaces_rename(self, id: str, body: "NameRequest", *, credentials: Optional[Credentials] = None) -> "Workspace":
        """`PATCH /v1/workspaces/{id}`: Renames a workspace (admins).

        Security: access_token, session_cookie.
        """
        return await self._call('PATCH', f'/v1/workspaces/{id}', query={}, body=body, credentials=credentials)

    async def workspaces_delete(self, id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/workspaces/{id}`: Deletes a workspace with its memberships and invitations (owners).

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/workspaces/{id}', query={}, body=None, credentials=credentials)

    async def workspaces_invitations(self, id: str, *, credentials: Optional[Credentials] = None) -> "InvitationList":
        """`GET /v1/workspaces/{id}/invitations`: Pending invitations (admins).

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/workspaces/{id}/invitations', query={}, body=None, credentials=credentials)

    async def workspaces_invite(self, id: str, body: "InviteRequest", *, credentials: Optional[Credentials] = None) -> "Invitation":
        """`POST /v1/workspaces/{id}/invitations`: Invites an address (admins). The invitation is mailed through the job queue and works once, for 7 days, for a signed-in account with that verified address. Inviting an address again replaces its pending invitation.

        Security: access_token, session_cookie.
        """
        return await self._call('POST', f'/v1/workspaces/{id}/invitations', query={}, body=body, credentials=credentials)

    async def workspaces_withdraw(self, id: str, invitation_id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/workspaces/{id}/invitations/{invitation_id}`: Withdraws an invitation (admins).

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/workspaces/{id}/invitations/{invitation_id}', query={}, body=None, credentials=credentials)

    async def workspaces_members(self, id: str, *, credentials: Optional[Credentials] = None) -> "MemberList":
        """`GET /v1/workspaces/{id}/members`: The members (any member may read them).

        Security: access_token, session_cookie.
        """
        return await self._call('GET', f'/v1/workspaces/{id}/members', query={}, body=None, credentials=credentials)

    async def workspaces_change_role(self, id: str, user_id: str, body: "RoleRequest", *, credentials: Optional[Credentials] = None) -> "Member":
        """`PATCH /v1/workspaces/{id}/members/{user_id}`: Changes a member's role. Admins change members and admins; only owners make or unmake owners.

        Security: access_token, session_cookie.
        """
        return await self._call('PATCH', f'/v1/workspaces/{id}/members/{user_id}', query={}, body=body, credentials=credentials)

    async def workspaces_remove(self, id: str, user_id: str, *, credentials: Optional[Credentials] = None) -> None:
        """`DELETE /v1/workspaces/{id}/members/{user_id}`: Removes a member (admins; owners only by an owner), or, with the caller's own id, leaves the workspace (any member).

        Security: access_token, session_cookie.
        """
        return await self._call('DELETE', f'/v1/workspaces/{id}/members/{user_id}', query={}, body=None, credentials=credentials)
