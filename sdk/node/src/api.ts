// Generated from Gatehouse's OpenAPI document by sdk/node/generate.mjs; do not edit.
// API version 0.1.0: 90 operations, 114 schemas.

export const API_VERSION = "0.1.0";

/** Every `code` a problem+json answer of this API can carry. */
export type ProblemCode =
  | "body_too_large"
  | "connection_broken"
  | "csrf_failed"
  | "database_unavailable"
  | "duplicate_entry"
  | "email_not_verified"
  | "email_taken"
  | "forbidden"
  | "forward_auth_denied"
  | "insufficient_role"
  | "internal_error"
  | "invalid_body"
  | "invalid_code"
  | "invalid_credentials"
  | "invalid_forwarded_request"
  | "invalid_query"
  | "invitation_email_mismatch"
  | "invitation_invalid"
  | "last_owner"
  | "last_sign_in_method"
  | "link_invalid"
  | "malformed_json"
  | "mfa_already_enabled"
  | "not_found"
  | "not_ready"
  | "oauth_state_invalid"
  | "overloaded"
  | "passkey_invalid"
  | "passkeys_unavailable"
  | "password_breached"
  | "provider_unavailable"
  | "rate_limited"
  | "reauthentication_required"
  | "redirect_not_allowed"
  | "scope_not_allowed"
  | "second_step_invalid"
  | "timeout"
  | "unauthenticated"
  | "unsupported_media_type"
  | "untrusted_proxy"
  | "validation_failed";

export const PROBLEM_CODES: readonly ProblemCode[] = ["body_too_large","connection_broken","csrf_failed","database_unavailable","duplicate_entry","email_not_verified","email_taken","forbidden","forward_auth_denied","insufficient_role","internal_error","invalid_body","invalid_code","invalid_credentials","invalid_forwarded_request","invalid_query","invitation_email_mismatch","invitation_invalid","last_owner","last_sign_in_method","link_invalid","malformed_json","mfa_already_enabled","not_found","not_ready","oauth_state_invalid","overloaded","passkey_invalid","passkeys_unavailable","password_breached","provider_unavailable","rate_limited","reauthentication_required","redirect_not_allowed","scope_not_allowed","second_step_invalid","timeout","unauthenticated","unsupported_media_type","untrusted_proxy","validation_failed"];

/** Every operation, as `[METHOD, path template]`. */
export const OPERATIONS: ReadonlyArray<readonly [string, string]> = [["GET","/.well-known/jwks.json"],["GET","/health"],["GET","/health/live"],["GET","/health/ready"],["GET","/metrics"],["GET","/openapi.json"],["GET","/v1/admin/audit"],["GET","/v1/admin/users"],["POST","/v1/admin/users"],["GET","/v1/admin/users/{id}"],["DELETE","/v1/admin/users/{id}"],["POST","/v1/admin/users/{id}/disable"],["POST","/v1/admin/users/{id}/enable"],["GET","/v1/admin/users/{id}/export"],["POST","/v1/admin/users/{id}/revoke-sessions"],["GET","/v1/admin/workspaces"],["GET","/v1/admin/workspaces/{id}"],["GET","/v1/audit-events"],["GET","/v1/csrf"],["POST","/v1/email/change/confirm"],["POST","/v1/email/change/undo"],["POST","/v1/email/verification"],["POST","/v1/email/verify"],["GET","/v1/forward-auth"],["POST","/v1/invitations/accept"],["POST","/v1/login"],["POST","/v1/login/mfa"],["POST","/v1/logout"],["POST","/v1/magic-link"],["POST","/v1/magic-link/verify"],["PATCH","/v1/me"],["DELETE","/v1/me"],["GET","/v1/me/audit"],["GET","/v1/me/connections"],["DELETE","/v1/me/connections/{provider}"],["GET","/v1/me/email"],["POST","/v1/me/email"],["DELETE","/v1/me/email"],["GET","/v1/me/export"],["GET","/v1/me/identities"],["POST","/v1/me/identities/{id}"],["DELETE","/v1/me/identities/{id}"],["GET","/v1/me/mfa"],["POST","/v1/me/mfa/recovery-codes"],["POST","/v1/me/mfa/totp"],["DELETE","/v1/me/mfa/totp"],["POST","/v1/me/mfa/totp/confirm"],["GET","/v1/me/passkeys"],["POST","/v1/me/passkeys/register/finish"],["POST","/v1/me/passkeys/register/start"],["PATCH","/v1/me/passkeys/{id}"],["DELETE","/v1/me/passkeys/{id}"],["POST","/v1/me/password"],["POST","/v1/me/reauthenticate"],["GET","/v1/oauth/providers"],["GET","/v1/oauth/{provider}/callback"],["GET","/v1/oauth/{provider}/start"],["POST","/v1/passkeys/authenticate/finish"],["POST","/v1/passkeys/authenticate/start"],["POST","/v1/password/forgot"],["POST","/v1/password/reset"],["POST","/v1/rate-limit/check"],["GET","/v1/session"],["POST","/v1/session/workspace"],["GET","/v1/sessions"],["POST","/v1/sessions/revoke-others"],["DELETE","/v1/sessions/{id}"],["POST","/v1/signup"],["POST","/v1/token"],["GET","/v1/vault/{user_id}/{provider}/token"],["POST","/v1/webhooks/deliveries/{id}/retry"],["GET","/v1/webhooks/endpoints"],["POST","/v1/webhooks/endpoints"],["GET","/v1/webhooks/endpoints/{id}"],["PATCH","/v1/webhooks/endpoints/{id}"],["DELETE","/v1/webhooks/endpoints/{id}"],["GET","/v1/webhooks/endpoints/{id}/deliveries"],["POST","/v1/webhooks/endpoints/{id}/rotate-secret"],["POST","/v1/webhooks/events"],["GET","/v1/workspaces"],["POST","/v1/workspaces"],["GET","/v1/workspaces/{id}"],["PATCH","/v1/workspaces/{id}"],["DELETE","/v1/workspaces/{id}"],["GET","/v1/workspaces/{id}/invitations"],["POST","/v1/workspaces/{id}/invitations"],["DELETE","/v1/workspaces/{id}/invitations/{invitation_id}"],["GET","/v1/workspaces/{id}/members"],["PATCH","/v1/workspaces/{id}/members/{user_id}"],["DELETE","/v1/workspaces/{id}/members/{user_id}"]];

/** Whose call a request is; the client's service API key when not given. */
export interface Credentials {
  /** A service API key (`gh_…`) or an access token. */
  bearer?: string;
  /** A `Cookie` header holding the session (and, for unsafe requests, `gatehouse_csrf`). */
  cookie?: string;
  csrfToken?: string;
  /** On behalf of an end user: their user agent and address, so session binding sees them. */
  userAgent?: string;
  clientIp?: string;
}

export interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  credentials?: Credentials;
}

export type AcceptRequest = {
  token: string;
};

/** An access token and how long it lasts. */
export type AccessToken = {
  access_token: string;
  expires_in: number;
  token_type: string;
};

/** The workspace a session acts in, with the session user's role there. Read with the session,
 * so a removed member's session has none from their next request on. */
export type ActiveWorkspace = {
  id: string;
  role: Role;
};

export type ActiveWorkspaceView = {
  workspace?: ActiveWorkspace | unknown | null;
};

export type Attempt = {
  attempted_at: string;
  error_class?: FailureClass | unknown | null;
  latency_ms: number;
  response_excerpt?: string | null;
  status_code?: number | null;
};

export type AuditEvents = {
  events: Array<StoredAuditEvent>;
};

export type AuditPage = {
  events: Array<StoredAuditEvent>;
  next?: number | null;
};

/** A way of proving who one is, as its RFC 8176 `amr` value. */
export type AuthMethod = "pwd" | "otp" | "oauth" | "email" | "hwk" | "swk";

export type AuthenticateFinish = {
  credential: Record<string, unknown>;
};

export type ChangePasswordRequest = {
  current_password?: string | null;
  new_password: string;
  sign_out_other_sessions?: boolean | null;
};

/** Either `policy` (a configured name) or an inline `limit` and `period_secs`. */
export type CheckRequest = {
  burst?: number | null;
  cost?: number | null;
  key: string;
  limit?: number | null;
  period_secs?: number | null;
  policy?: string | null;
};

export type ConfirmRequest = {
  code: string;
};

/** A connection as its owner sees it: never a token. */
export type Connection = {
  created_at: string;
  expires_at?: string | null;
  provider: string;
  scopes: Array<string>;
  status: ConnectionStatus;
  updated_at: string;
};

export type ConnectionList = {
  connections: Array<Connection>;
};

export type ConnectionStatus = "active" | "broken" | "revoking";

export type CreateEndpoint = {
  enabled?: boolean | null;
  event_types: Array<string>;
  url: string;
};

/** A new endpoint, with its signing secret (shown this once). */
export type CreatedEndpoint = Endpoint & {
  secret: string;
};

export type CsrfToken = {
  token: string;
};

/** One decision. */
export type DecisionView = {
  allowed: boolean;
  limit: number;
  remaining: number;
  reset_after_ms: number;
  retry_after_ms: number;
};

export type Delivery = {
  attempts: Array<Attempt>;
  created_at: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  id: string;
  status: DeliveryStatus;
};

export type DeliveryList = {
  deliveries: Array<Delivery>;
};

export type DeliveryStatus = "pending" | "succeeded" | "failed";

/** The outcome of checking one dependency. */
export type DependencyReport = {
  detail?: string | null;
  latency_ms?: number | null;
  status: DependencyStatus;
};

export type DependencyStatus = "ok" | "degraded" | "down" | "not_configured";

export type DependencyView = DependencyReport & {
  backend?: string | null;
};

export type EmailChangeRequest = {
  current_password?: string | null;
  new_email: string;
};

/** The account's pending email change, if any. */
export type EmailChangeStatus = {
  pending?: PendingEmailChange | unknown | null;
};

/** The account a change link applied to, as it now is. */
export type EmailChanged = {
  previous_email: string;
  user: User;
};

export type EmailRequest = {
  email: string;
};

export type EmailTokenRequest = {
  token: string;
};

/** An endpoint as the API shows it (never with its secret, which is shown once). */
export type Endpoint = {
  created_at: string;
  disabled_reason?: string | null;
  enabled: boolean;
  event_types: Array<string>;
  failing_since?: string | null;
  id: string;
  url: string;
};

export type EndpointList = {
  endpoints: Array<Endpoint>;
};

export type EraseRequest = {
  password?: string | null;
};

export type ExportedCeremony = {
  expires_at: string;
  kind: string;
};

export type ExportedDelivery = {
  created_at: string;
  endpoint_id: string;
  event: Record<string, unknown>;
  event_type: string;
  id: string;
  status: string;
};

export type ExportedDevice = {
  created_at: string;
  last_seen_at: string;
  network?: string | null;
  user_agent?: string | null;
};

export type ExportedJob = {
  created_at: string;
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  state: string;
};

export type ExportedLink = {
  created_at: string;
  expires_at: string;
  id: string;
  purpose: string;
  target_email?: string | null;
  used_at?: string | null;
};

export type ExportedRecoveryCode = {
  created_at: string;
  used_at?: string | null;
};

export type ExportedSecondStep = {
  created_at: string;
  expires_at: string;
  failures: number;
  first_factor: AuthMethod;
  return_to?: string | null;
  user_agent?: string | null;
};

export type ExportedSession = Session & {
  workspace_id?: string | null;
};

export type ExportedSignIn = {
  created_at: string;
  expires_at: string;
  provider: string;
};

export type ExportedUser = {
  created_at: string;
  disabled: boolean;
  email: string;
  email_verified_at?: string | null;
  has_password: boolean;
  id: string;
  name?: string | null;
  updated_at: string;
};

/** What an account has in second factors. */
export type FactorSummary = {
  passkeys: Array<Passkey>;
  recovery_codes_left: number;
  totp?: TotpFactor | unknown | null;
};

/** Why an attempt failed. */
export type FailureClass = "timeout" | "connect" | "tls" | "http_status" | "refused";

/** One invalid field of a request body. */
export type FieldError = {
  field: string;
  message: string;
};

/** Every dependency's state and the overall status. */
export type HealthView = {
  dependencies: Record<string, unknown>;
  mode: string;
  status: DependencyStatus;
  uptime_secs: number;
  version: string;
};

/** An identity linked to an account. */
export type Identity = {
  created_at: string;
  email?: string | null;
  id: string;
  provider: string;
  subject: string;
};

export type IdentityList = {
  identities: Array<Identity>;
};

/** A pending invitation. Its token exists only in the email; the store keeps its SHA-256. */
export type Invitation = {
  created_at: string;
  email: string;
  expires_at: string;
  id: string;
  invited_by?: string | null;
  role: Role;
  workspace_id: string;
};

export type InvitationList = {
  invitations: Array<Invitation>;
};

export type InviteRequest = {
  email: string;
  role?: Role | unknown | null;
};

/** The published verification keys. */
export type JwkSet = {
  keys: Array<Record<string, unknown>>;
};

export type LinkRequest = {
  redirect_to?: string | null;
  scopes?: string | null;
};

/** The answer to every request for a link, whether or not one was sent. */
export type LinkRequested = {
  message: string;
};

export type LinkStarted = {
  url: string;
};

/** `{status}` of liveness. */
export type Live = {
  status: string;
};

export type LoginRequest = {
  email: string;
  password: string;
};

export type Member = {
  email: string;
  joined_at: string;
  name?: string | null;
  role: Role;
  user_id: string;
};

export type MemberList = {
  members: Array<Member>;
};

/** A workspace as one of its members sees it in their list: with their own role. */
export type Membership = {
  joined_at: string;
  name: string;
  role: Role;
  workspace_id: string;
};

export type MembershipList = {
  workspaces: Array<Membership>;
};

export type NameRequest = {
  name: string;
};

/** An account an operator creates. */
export type NewAccount = {
  email: string;
  email_verified?: boolean;
  name?: string | null;
  password?: string | null;
};

/** A passkey (a WebAuthn credential) as its owner sees it; never its key. */
export type Passkey = {
  backed_up: boolean;
  backup_eligible: boolean;
  created_at: string;
  id: string;
  last_used_at?: string | null;
  name: string;
};

/** A passkey just added, and the recovery codes when it is the account's first second factor. */
export type PasskeyAdded = {
  passkey: Passkey;
  recovery_codes?: Array<string> | null;
};

export type PasskeyList = {
  passkeys: Array<Passkey>;
};

/** What a password change did. */
export type PasswordChanged = {
  sessions_ended: number;
};

/** An email change waiting for its confirmation link to be opened. */
export type PendingEmailChange = {
  expires_at: string;
  new_email: string;
  requested_at: string;
};

/** Signup's answer when login waits for a verified address: the account, not signed in. */
export type PendingVerification = {
  user: User;
  verification_required: boolean;
};

/** Everything Gatehouse holds about one person, as one JSON document. */
export type PersonalData = {
  audit_events: Array<StoredAuditEvent>;
  authenticator_apps: Array<TotpFactor>;
  connections: Array<Connection>;
  email_links: Array<ExportedLink>;
  exported_at: string;
  format: string;
  identities: Array<Identity>;
  invitations: Array<Invitation>;
  invitations_sent: Array<Invitation>;
  jobs: Array<ExportedJob>;
  known_devices: Array<ExportedDevice>;
  passkey_ceremonies_in_progress: Array<ExportedCeremony>;
  passkeys: Array<Passkey>;
  recovery_codes: Array<ExportedRecoveryCode>;
  second_steps_in_progress: Array<ExportedSecondStep>;
  sessions: Array<ExportedSession>;
  sign_ins_in_progress: Array<ExportedSignIn>;
  user: ExportedUser;
  version: number;
  webhook_deliveries: Array<ExportedDelivery>;
  workspaces: Array<Membership>;
};

/** An RFC 9457 problem document: every error this API answers. */
export type Problem = {
  checks?: Record<string, unknown> | null;
  code: string;
  detail: string;
  errors?: Array<FieldError> | null;
  request_id?: string | null;
  status: number;
  title: string;
  type: string;
};

/** The account as it now is. */
export type Profile = {
  user: User;
};

export type ProfileRequest = {
  name?: string | null;
};

export type ProviderKind = "google" | "github" | "oidc";

export type ProviderList = {
  providers: Array<ProviderView>;
};

export type ProviderView = {
  display_name: string;
  kind: ProviderKind;
  name: string;
};

export type PublishEvent = {
  payload: unknown;
  type: string;
};

/** A published event. */
export type Published = {
  id: string;
};

/** Readiness: `status` is `ready`, with each check. */
export type Ready = {
  checks: Record<string, unknown>;
  status: string;
};

export type ReauthenticateRequest = {
  code?: string | null;
  passkey?: Record<string, unknown> | null;
  password?: string | null;
  recovery_code?: string | null;
};

/** What the session now says about how and when its person proved who they are. */
export type Reauthenticated = {
  amr: Array<AuthMethod>;
  auth_time: string;
  fresh_until: string;
};

/** Recovery codes, shown once. */
export type RecoveryCodes = {
  recovery_codes: Array<string>;
};

export type RegisterFinish = {
  credential: Record<string, unknown>;
  name?: string | null;
};

export type RenameRequest = {
  name: string;
};

export type ResetRequest = {
  password: string;
  token: string;
};

/** A delivery queued to be sent again. */
export type RetryQueued = {
  id: string;
};

export type Revoked = {
  revoked: number;
};

export type Role = "member" | "admin" | "owner";

export type RoleRequest = {
  role: Role;
};

export type RotatedSecret = {
  previous_secret_expires_at: string;
  secret: string;
};

/** Login's answer when a second factor is needed: no session yet. */
export type SecondFactorRequired = {
  expires_at: string;
  methods: Array<string>;
  mfa_required: boolean;
  mfa_token: string;
};

export type SecondStepRequest = {
  code?: string | null;
  mfa_token?: string | null;
  passkey?: Record<string, unknown> | null;
  recovery_code?: string | null;
};

export type Session = {
  absolute_expires_at: string;
  amr: Array<AuthMethod>;
  auth_time: string;
  created_at: string;
  id: string;
  idle_expires_at: string;
  ip?: string | null;
  last_seen_at: string;
  user_agent?: string | null;
  user_id: string;
};

export type SessionList = {
  sessions: Array<SessionView>;
};

export type SessionView = Session & {
  current: boolean;
};

/** `{user, session}`, as signup, login and whoami answer. */
export type SignedIn = {
  session: Session;
  user: User;
  workspace?: ActiveWorkspace | unknown | null;
};

/** What signup answers: signed in, or (with `email.require_verified`) waiting for verification. */
export type SignupAnswer = SignedIn | PendingVerification;

export type SignupRequest = {
  email: string;
  name?: string | null;
  password: string;
};

/** An event as read back. */
export type StoredAuditEvent = {
  action: string;
  actor_id?: string | null;
  actor_kind: string;
  details: unknown;
  id: number;
  ip?: string | null;
  occurred_at: string;
  target?: string | null;
};

export type SwitchRequest = {
  workspace_id?: string | null;
};

export type TokenRequest = {
  token: string;
};

/** A new authenticator app's secret, shown once to be scanned or typed. */
export type TotpEnrolment = {
  factor: TotpFactor;
  otpauth_uri: string;
  secret: string;
};

/** An authenticator app as the account page and the export show it; never its secret. */
export type TotpFactor = {
  confirmed_at?: string | null;
  created_at: string;
  id: string;
  last_used_at?: string | null;
};

/** The fields to change; absent ones stay. */
export type UpdateEndpoint = {
  enabled?: boolean | null;
  event_types?: Array<string> | null;
  url?: string | null;
};

/** A user as the API shows it. The password hash never leaves the store in this type. */
export type User = {
  created_at: string;
  disabled: boolean;
  email: string;
  email_verified: boolean;
  id: string;
  name?: string | null;
};

export type UserDetail = {
  sessions: number;
  user: User;
  workspaces: Array<Membership>;
};

/** One page of users, by id, and the cursor of the next (`None` on the last page). */
export type UserPage = {
  next?: string | null;
  users: Array<User>;
};

export type VaultToken = {
  access_token: string;
  expires_at?: string | null;
  scopes: Array<string>;
};

export type Verified = {
  user: User;
};

export type Workspace = {
  created_at: string;
  id: string;
  members: number;
  name: string;
};

export type WorkspaceDetail = {
  members: Array<Member>;
  workspace: Workspace;
};

export type WorkspaceList = {
  workspaces: Array<Workspace>;
};

export type WorkspaceView = Workspace & {
  role: Role;
};

/** Every operation of the API. */
export abstract class Operations {
  protected abstract call(method: string, path: string, options: CallOptions): Promise<any>;

  /** `GET /.well-known/jwks.json`: The public keys that verify access tokens. Security: none. */
  tokensJwks(options: { credentials?: Credentials } = {}): Promise<JwkSet> {
    return this.call("GET", `/.well-known/jwks.json`, { credentials: options.credentials });
  }

  /** `GET /health`: Every dependency, including the optional ones (Redis, the job queue). Security: none. */
  operationsFull(options: { credentials?: Credentials } = {}): Promise<HealthView> {
    return this.call("GET", `/health`, { credentials: options.credentials });
  }

  /** `GET /health/live`: The process is up. Checks nothing else, so a restart loop never follows a database outage. Security: none. */
  operationsLive(options: { credentials?: Credentials } = {}): Promise<Live> {
    return this.call("GET", `/health/live`, { credentials: options.credentials });
  }

  /** `GET /health/ready`: Whether this instance can serve (database reachable, migrations applied). Security: none. */
  operationsReady(options: { credentials?: Credentials } = {}): Promise<Ready> {
    return this.call("GET", `/health/ready`, { credentials: options.credentials });
  }

  /** `GET /metrics`: Prometheus metrics (on the main listener unless `server.metrics_listen` moves them). Security: none. */
  operationsRender(options: { credentials?: Credentials } = {}): Promise<string> {
    return this.call("GET", `/metrics`, { credentials: options.credentials });
  }

  /** `GET /openapi.json`: This document. Security: none. */
  operationsDocumentRoute(options: { credentials?: Credentials } = {}): Promise<Record<string, unknown>> {
    return this.call("GET", `/openapi.json`, { credentials: options.credentials });
  }

  /** `GET /v1/admin/audit`: Audit events matching every given filter, newest first. Security: service_key. */
  adminAudit(options: { credentials?: Credentials; query?: { actor?: string | number | boolean; action?: string | number | boolean; target?: string | number | boolean; workspace?: string | number | boolean; from?: string | number | boolean; to?: string | number | boolean; limit?: string | number | boolean; before?: string | number | boolean } } = {}): Promise<AuditPage> {
    return this.call("GET", `/v1/admin/audit`, { query: options.query, credentials: options.credentials });
  }

  /** `GET /v1/admin/users`: Users by id, optionally by address prefix, a page at a time. Security: service_key. */
  adminUsers(options: { credentials?: Credentials; query?: { email_prefix?: string | number | boolean; after?: string | number | boolean; limit?: string | number | boolean } } = {}): Promise<UserPage> {
    return this.call("GET", `/v1/admin/users`, { query: options.query, credentials: options.credentials });
  }

  /** `POST /v1/admin/users`: Creates an account (no session, no verification email). Security: service_key. */
  adminCreate(body: NewAccount, options: { credentials?: Credentials } = {}): Promise<User> {
    return this.call("POST", `/v1/admin/users`, { body, credentials: options.credentials });
  }

  /** `GET /v1/admin/users/{id}`: One user, with their workspaces. Security: service_key. */
  adminUser(id: string, options: { credentials?: Credentials } = {}): Promise<UserDetail> {
    return this.call("GET", `/v1/admin/users/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `DELETE /v1/admin/users/{id}`: Erases the account, as `DELETE /v1/me` does. Security: service_key. */
  adminErase(id: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/admin/users/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `POST /v1/admin/users/{id}/disable`: Disables the account and ends its sessions everywhere. Security: service_key. */
  adminDisable(id: string, options: { credentials?: Credentials } = {}): Promise<User> {
    return this.call("POST", `/v1/admin/users/${encodeURIComponent(id)}/disable`, { credentials: options.credentials });
  }

  /** `POST /v1/admin/users/{id}/enable`: Lets a disabled account sign in again. Security: service_key. */
  adminEnable(id: string, options: { credentials?: Credentials } = {}): Promise<User> {
    return this.call("POST", `/v1/admin/users/${encodeURIComponent(id)}/enable`, { credentials: options.credentials });
  }

  /** `GET /v1/admin/users/{id}/export`: The user's personal data document, as `GET /v1/me/export`. Security: service_key. */
  adminExport(id: string, options: { credentials?: Credentials } = {}): Promise<PersonalData> {
    return this.call("GET", `/v1/admin/users/${encodeURIComponent(id)}/export`, { credentials: options.credentials });
  }

  /** `POST /v1/admin/users/{id}/revoke-sessions`: Ends every session of the user, everywhere. Security: service_key. */
  adminRevokeUserSessions(id: string, options: { credentials?: Credentials } = {}): Promise<Revoked> {
    return this.call("POST", `/v1/admin/users/${encodeURIComponent(id)}/revoke-sessions`, { credentials: options.credentials });
  }

  /** `GET /v1/admin/workspaces`: Every workspace, by id, a page at a time. Security: service_key. */
  adminWorkspaces(options: { credentials?: Credentials; query?: { after?: string | number | boolean; limit?: string | number | boolean } } = {}): Promise<WorkspaceList> {
    return this.call("GET", `/v1/admin/workspaces`, { query: options.query, credentials: options.credentials });
  }

  /** `GET /v1/admin/workspaces/{id}`: One workspace with its members. Security: service_key. */
  adminWorkspace(id: string, options: { credentials?: Credentials } = {}): Promise<WorkspaceDetail> {
    return this.call("GET", `/v1/admin/workspaces/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `GET /v1/audit-events`: The most recent audit events, newest first (scope `audit`). Security: service_key. */
  serviceAuditEvents(options: { credentials?: Credentials; query?: { limit?: string | number | boolean } } = {}): Promise<AuditEvents> {
    return this.call("GET", `/v1/audit-events`, { query: options.query, credentials: options.credentials });
  }

  /** `GET /v1/csrf`: The signed-in session's CSRF token, also set as the `gatehouse_csrf` cookie. Security: access_token, session_cookie. */
  sessionsToken(options: { credentials?: Credentials } = {}): Promise<CsrfToken> {
    return this.call("GET", `/v1/csrf`, { credentials: options.credentials });
  }

  /** `POST /v1/email/change/confirm`: Opens the link mailed to the new address and makes the change. It applies to the account the link was issued for, whoever is signed in. Security: none. */
  emailConfirmEmailChange(body: EmailTokenRequest, options: { credentials?: Credentials } = {}): Promise<EmailChanged> {
    return this.call("POST", `/v1/email/change/confirm`, { body, credentials: options.credentials });
  }

  /** `POST /v1/email/change/undo`: Opens the link mailed to the old address after a change. The old address comes back, every session ends, every link is retired, the password is removed, and a reset link goes to the restored address. Security: none. */
  emailUndoEmailChange(body: EmailTokenRequest, options: { credentials?: Credentials } = {}): Promise<EmailChanged> {
    return this.call("POST", `/v1/email/change/undo`, { body, credentials: options.credentials });
  }

  /** `POST /v1/email/verification`: Mails a verification link to the signed-in user, or, for a caller who cannot sign in yet (login waits for verification), to the `{email}` in the body. Security: access_token, session_cookie. */
  emailRequestVerification(body?: EmailRequest | unknown | null, options: { credentials?: Credentials } = {}): Promise<LinkRequested> {
    return this.call("POST", `/v1/email/verification`, { body, credentials: options.credentials });
  }

  /** `POST /v1/email/verify`: Marks the address the link was sent to as verified. Security: none. */
  emailVerify(body: TokenRequest, options: { credentials?: Credentials } = {}): Promise<Verified> {
    return this.call("POST", `/v1/email/verify`, { body, credentials: options.credentials });
  }

  /** `GET /v1/forward-auth`: Whether the proxy may pass the original request to the app. Security: access_token, session_cookie. */
  forwardAuthDecide(options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("GET", `/v1/forward-auth`, { credentials: options.credentials });
  }

  /** `POST /v1/invitations/accept`: Joins the workspace an invitation is for. The caller must be signed in with the address it was sent to; accepting verifies that address. Security: access_token, session_cookie. */
  workspacesAccept(body: AcceptRequest, options: { credentials?: Credentials } = {}): Promise<Membership> {
    return this.call("POST", `/v1/invitations/accept`, { body, credentials: options.credentials });
  }

  /** `POST /v1/login`: Signs in with email and password; limited per IP (`login_ip`, before the body is read) and per submitted account (`login_account`, before any password work). Security: none. */
  accountsLogin(body: LoginRequest, options: { credentials?: Credentials } = {}): Promise<SignedIn> {
    return this.call("POST", `/v1/login`, { body, credentials: options.credentials });
  }

  /** `POST /v1/login/mfa`: Completes a sign-in with the second factor; limited per IP (`login_ip`) and per account (`login_account`), and five wrong codes end the step. Security: none. */
  accountsComplete(body: SecondStepRequest, options: { credentials?: Credentials } = {}): Promise<SignedIn> {
    return this.call("POST", `/v1/login/mfa`, { body, credentials: options.credentials });
  }

  /** `POST /v1/logout`: Ends the current session (reached by cookie or access token), if any, and clears the cookie. 204 whether or not a session was signed in, so logging out twice is not an error; but when the session cannot be looked up (the database is down) the error is returned, never a 204 that would claim a logout that did not happen. Security: access_token, session_cookie. */
  accountsLogout(options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("POST", `/v1/logout`, { credentials: options.credentials });
  }

  /** `POST /v1/magic-link`: Mails a sign-in link; limited per IP and per address. Security: none. */
  emailRequestMagicLink(body: EmailRequest, options: { credentials?: Credentials } = {}): Promise<LinkRequested> {
    return this.call("POST", `/v1/magic-link`, { body, credentials: options.credentials });
  }

  /** `POST /v1/magic-link/verify`: Signs the user in, as login does. Reading the email proves the address, so it is marked verified too. Security: none. */
  emailRedeemMagicLink(body: TokenRequest, options: { credentials?: Credentials } = {}): Promise<SignedIn> {
    return this.call("POST", `/v1/magic-link/verify`, { body, credentials: options.credentials });
  }

  /** `PATCH /v1/me`: Edits the profile (the display name). Security: access_token, session_cookie. */
  profileUpdate(body: ProfileRequest, options: { credentials?: Credentials } = {}): Promise<Profile> {
    return this.call("PATCH", `/v1/me`, { body, credentials: options.credentials });
  }

  /** `DELETE /v1/me`: Erases the signed-in account and everything tied to it, at once and for good. Security: access_token, session_cookie. */
  privacyErase(body: EraseRequest, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/me`, { body, credentials: options.credentials });
  }

  /** `GET /v1/me/audit`: The events by or about the signed-in user, newest first. Security: access_token, session_cookie. */
  privacyOwnAudit(options: { credentials?: Credentials; query?: { limit?: string | number | boolean; before?: string | number | boolean } } = {}): Promise<AuditPage> {
    return this.call("GET", `/v1/me/audit`, { query: options.query, credentials: options.credentials });
  }

  /** `GET /v1/me/connections`: The signed-in user's connected accounts (never a token). Security: access_token, session_cookie. */
  vaultConnections(options: { credentials?: Credentials } = {}): Promise<ConnectionList> {
    return this.call("GET", `/v1/me/connections`, { credentials: options.credentials });
  }

  /** `DELETE /v1/me/connections/{provider}`: Disconnects; the tokens are revoked at the provider (when it supports RFC 7009, by a job) and deleted. Security: access_token, session_cookie. */
  vaultDisconnect(provider: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/me/connections/${encodeURIComponent(provider)}`, { credentials: options.credentials });
  }

  /** `GET /v1/me/email`: The pending email change, if any. Security: access_token, session_cookie. */
  profileEmailChange(options: { credentials?: Credentials } = {}): Promise<EmailChangeStatus> {
    return this.call("GET", `/v1/me/email`, { credentials: options.credentials });
  }

  /** `POST /v1/me/email`: Asks to move the account to a new address. Nothing changes until the link mailed there is opened; a new request replaces a pending one. Security: access_token, session_cookie. */
  profileRequestEmailChange(body: EmailChangeRequest, options: { credentials?: Credentials } = {}): Promise<EmailChangeStatus> {
    return this.call("POST", `/v1/me/email`, { body, credentials: options.credentials });
  }

  /** `DELETE /v1/me/email`: Cancels the pending email change; its link stops working. Security: access_token, session_cookie. */
  profileCancelEmailChange(options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/me/email`, { credentials: options.credentials });
  }

  /** `GET /v1/me/export`: Everything Gatehouse holds about the signed-in person, as one versioned JSON document (never a token or a secret), offered as a download. Security: access_token, session_cookie. */
  privacyExport(options: { credentials?: Credentials } = {}): Promise<PersonalData> {
    return this.call("GET", `/v1/me/export`, { credentials: options.credentials });
  }

  /** `GET /v1/me/identities`: The provider identities linked to the signed-in account. Security: access_token, session_cookie. */
  oauthList(options: { credentials?: Credentials } = {}): Promise<IdentityList> {
    return this.call("GET", `/v1/me/identities`, { credentials: options.credentials });
  }

  /** `POST /v1/me/identities/{id}`: Starts linking a provider identity to this account. Security: access_token, session_cookie. */
  oauthStartLink(id: string, body: LinkRequest, options: { credentials?: Credentials } = {}): Promise<LinkStarted> {
    return this.call("POST", `/v1/me/identities/${encodeURIComponent(id)}`, { body, credentials: options.credentials });
  }

  /** `DELETE /v1/me/identities/{id}`: Unlinks an identity, unless it is the account's last way to sign in. Security: access_token, session_cookie. */
  oauthUnlink(id: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/me/identities/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `GET /v1/me/mfa`: The account's second factors. Security: access_token, session_cookie. */
  mfaFactors(options: { credentials?: Credentials } = {}): Promise<FactorSummary> {
    return this.call("GET", `/v1/me/mfa`, { credentials: options.credentials });
  }

  /** `POST /v1/me/mfa/recovery-codes`: Ten new recovery codes; the old ones stop working. Needs a fresh sign-in. Security: access_token, session_cookie. */
  mfaRecoveryCodes(options: { credentials?: Credentials } = {}): Promise<RecoveryCodes> {
    return this.call("POST", `/v1/me/mfa/recovery-codes`, { credentials: options.credentials });
  }

  /** `POST /v1/me/mfa/totp`: Starts adding an authenticator app; needs a fresh sign-in (step-up). Security: access_token, session_cookie. */
  mfaEnrol(options: { credentials?: Credentials } = {}): Promise<TotpEnrolment> {
    return this.call("POST", `/v1/me/mfa/totp`, { credentials: options.credentials });
  }

  /** `DELETE /v1/me/mfa/totp`: Removes the authenticator app (and the recovery codes); needs a fresh sign-in. Security: access_token, session_cookie. */
  mfaDisable(options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/me/mfa/totp`, { credentials: options.credentials });
  }

  /** `POST /v1/me/mfa/totp/confirm`: Turns the authenticator app on with its first code. Security: access_token, session_cookie. */
  mfaConfirm(body: ConfirmRequest, options: { credentials?: Credentials } = {}): Promise<RecoveryCodes> {
    return this.call("POST", `/v1/me/mfa/totp/confirm`, { body, credentials: options.credentials });
  }

  /** `GET /v1/me/passkeys`: The account's passkeys. Security: access_token, session_cookie. */
  mfaList(options: { credentials?: Credentials } = {}): Promise<PasskeyList> {
    return this.call("GET", `/v1/me/passkeys`, { credentials: options.credentials });
  }

  /** `POST /v1/me/passkeys/register/finish`: Checks the new credential and adds the passkey. Security: access_token, session_cookie. */
  mfaRegisterFinish(body: RegisterFinish, options: { credentials?: Credentials } = {}): Promise<PasskeyAdded> {
    return this.call("POST", `/v1/me/passkeys/register/finish`, { body, credentials: options.credentials });
  }

  /** `POST /v1/me/passkeys/register/start`: The options to create a passkey for this account; needs a fresh sign-in. Security: access_token, session_cookie. */
  mfaRegisterStart(options: { credentials?: Credentials } = {}): Promise<Record<string, unknown>> {
    return this.call("POST", `/v1/me/passkeys/register/start`, { credentials: options.credentials });
  }

  /** `PATCH /v1/me/passkeys/{id}`: Renames a passkey. Security: access_token, session_cookie. */
  mfaRename(id: string, body: RenameRequest, options: { credentials?: Credentials } = {}): Promise<Passkey> {
    return this.call("PATCH", `/v1/me/passkeys/${encodeURIComponent(id)}`, { body, credentials: options.credentials });
  }

  /** `DELETE /v1/me/passkeys/{id}`: Deletes a passkey; needs a fresh sign-in. Security: access_token, session_cookie. */
  mfaDelete(id: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/me/passkeys/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `POST /v1/me/password`: Changes (or sets a first) password. Attempts count against the account's login limit (`login_account`). Security: access_token, session_cookie. */
  profileChangePassword(body: ChangePasswordRequest, options: { credentials?: Credentials } = {}): Promise<PasswordChanged> {
    return this.call("POST", `/v1/me/password`, { body, credentials: options.credentials });
  }

  /** `POST /v1/me/reauthenticate`: A fresh proof of identity (step-up) for the next `session.reauth_window_secs` (5 minutes by default) of sensitive actions; attempts count against the account's login limit (`login_account`). Security: access_token, session_cookie. */
  mfaReauthenticate(body: ReauthenticateRequest, options: { credentials?: Credentials } = {}): Promise<Reauthenticated> {
    return this.call("POST", `/v1/me/reauthenticate`, { body, credentials: options.credentials });
  }

  /** `GET /v1/oauth/providers`: The configured providers, to draw sign-in buttons. Security: none. */
  oauthProviders(options: { credentials?: Credentials } = {}): Promise<ProviderList> {
    return this.call("GET", `/v1/oauth/providers`, { credentials: options.credentials });
  }

  /** `GET /v1/oauth/{provider}/callback`: Where the provider sends the browser back; signs in (or links, for a flow started by `POST /v1/me/identities/{provider}`) and redirects to `redirect_to`, with `error=CODE` when the sign-in failed. Limited per IP (`oauth_ip`). Security: none. */
  oauthCallback(provider: string, options: { credentials?: Credentials; query?: { state?: string | number | boolean; code?: string | number | boolean; iss?: string | number | boolean; error?: string | number | boolean } } = {}): Promise<void> {
    return this.call("GET", `/v1/oauth/${encodeURIComponent(provider)}/callback`, { query: options.query, credentials: options.credentials });
  }

  /** `GET /v1/oauth/{provider}/start`: Redirects the browser to the provider to sign in; limited per IP (`oauth_ip`). Security: none. */
  oauthStart(provider: string, options: { credentials?: Credentials; query?: { redirect_to?: string | number | boolean; scopes?: string | number | boolean; login_hint?: string | number | boolean } } = {}): Promise<void> {
    return this.call("GET", `/v1/oauth/${encodeURIComponent(provider)}/start`, { query: options.query, credentials: options.credentials });
  }

  /** `POST /v1/passkeys/authenticate/finish`: Signs in with a passkey alone (it verified its user: a PIN or biometric), `amr` `hwk` or `swk`. Security: none. */
  accountsAuthenticateFinish(body: AuthenticateFinish, options: { credentials?: Credentials } = {}): Promise<SignedIn> {
    return this.call("POST", `/v1/passkeys/authenticate/finish`, { body, credentials: options.credentials });
  }

  /** `POST /v1/passkeys/authenticate/start`: The options for `navigator.credentials.get()`, for a passwordless sign-in (`/v1/passkeys/authenticate/finish`), a second step (`POST /v1/login/mfa` with `passkey`) or a step-up (`POST /v1/me/reauthenticate` with `passkey`). Security: none. */
  accountsAuthenticateStart(options: { credentials?: Credentials } = {}): Promise<Record<string, unknown>> {
    return this.call("POST", `/v1/passkeys/authenticate/start`, { credentials: options.credentials });
  }

  /** `POST /v1/password/forgot`: Mails a password-reset link; limited per IP and per address. Security: none. */
  emailForgotPassword(body: EmailRequest, options: { credentials?: Credentials } = {}): Promise<LinkRequested> {
    return this.call("POST", `/v1/password/forgot`, { body, credentials: options.credentials });
  }

  /** `POST /v1/password/reset`: Sets the password and ends every session of the user, wherever it was signed in. Security: none. */
  emailResetPassword(body: ResetRequest, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("POST", `/v1/password/reset`, { body, credentials: options.credentials });
  }

  /** `POST /v1/rate-limit/check`: One decision for an app's own key (scope `rate_limit`), under a named policy from the config or an inline one. Apps' keys live apart from Gatehouse's own. Security: service_key. */
  serviceDecide(body: CheckRequest, options: { credentials?: Credentials } = {}): Promise<DecisionView> {
    return this.call("POST", `/v1/rate-limit/check`, { body, credentials: options.credentials });
  }

  /** `GET /v1/session`: Who is signed in. Security: access_token, session_cookie. */
  sessionsWhoami(options: { credentials?: Credentials } = {}): Promise<SignedIn> {
    return this.call("GET", `/v1/session`, { credentials: options.credentials });
  }

  /** `POST /v1/session/workspace`: Chooses the workspace this session acts in. `GET /v1/session`, access tokens (`wid`, `role`) and forward-auth (`Remote-Groups`) then carry it. Security: access_token, session_cookie. */
  sessionsSwitch(body: SwitchRequest, options: { credentials?: Credentials } = {}): Promise<ActiveWorkspaceView> {
    return this.call("POST", `/v1/session/workspace`, { body, credentials: options.credentials });
  }

  /** `GET /v1/sessions`: The caller's sessions. Security: access_token, session_cookie. */
  sessionsList(options: { credentials?: Credentials } = {}): Promise<SessionList> {
    return this.call("GET", `/v1/sessions`, { credentials: options.credentials });
  }

  /** `POST /v1/sessions/revoke-others`: Ends every session of the caller but this one. Security: access_token, session_cookie. */
  sessionsRevokeOthers(options: { credentials?: Credentials } = {}): Promise<Revoked> {
    return this.call("POST", `/v1/sessions/revoke-others`, { credentials: options.credentials });
  }

  /** `DELETE /v1/sessions/{id}`: Ends one of the caller's sessions (the current one included). Security: access_token, session_cookie. */
  sessionsRevoke(id: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/sessions/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `POST /v1/signup`: Creates an account and signs it in; limited per IP (`signup_ip`). Security: none. */
  accountsSignup(body: SignupRequest, options: { credentials?: Credentials } = {}): Promise<SignupAnswer> {
    return this.call("POST", `/v1/signup`, { body, credentials: options.credentials });
  }

  /** `POST /v1/token`: A short-lived access token for the signed-in session. Security: access_token, session_cookie. */
  tokensIssue(options: { credentials?: Credentials } = {}): Promise<AccessToken> {
    return this.call("POST", `/v1/token`, { credentials: options.credentials });
  }

  /** `GET /v1/vault/{user_id}/{provider}/token`: A user's access token for a provider (scope `vault`), refreshed first when it expires within 60 s. Security: service_key. */
  vaultToken(userId: string, provider: string, options: { credentials?: Credentials } = {}): Promise<VaultToken> {
    return this.call("GET", `/v1/vault/${encodeURIComponent(userId)}/${encodeURIComponent(provider)}/token`, { credentials: options.credentials });
  }

  /** `POST /v1/webhooks/deliveries/{id}/retry`: Sends the delivery again now (202). Security: service_key. */
  webhooksRetryDelivery(id: string, options: { credentials?: Credentials } = {}): Promise<RetryQueued> {
    return this.call("POST", `/v1/webhooks/deliveries/${encodeURIComponent(id)}/retry`, { credentials: options.credentials });
  }

  /** `GET /v1/webhooks/endpoints`: Every endpoint, without secrets. Security: service_key. */
  webhooksListEndpoints(options: { credentials?: Credentials } = {}): Promise<EndpointList> {
    return this.call("GET", `/v1/webhooks/endpoints`, { credentials: options.credentials });
  }

  /** `POST /v1/webhooks/endpoints`: Creates an endpoint; answers 201 with it and its secret (shown this once). Security: service_key. */
  webhooksCreateEndpoint(body: CreateEndpoint, options: { credentials?: Credentials } = {}): Promise<CreatedEndpoint> {
    return this.call("POST", `/v1/webhooks/endpoints`, { body, credentials: options.credentials });
  }

  /** `GET /v1/webhooks/endpoints/{id}`: One endpoint, without its secret. Security: service_key. */
  webhooksEndpoint(id: string, options: { credentials?: Credentials } = {}): Promise<Endpoint> {
    return this.call("GET", `/v1/webhooks/endpoints/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `PATCH /v1/webhooks/endpoints/{id}`: Any of url, event_types, enabled. Enabling an endpoint Gatehouse disabled clears the reason and the failure streak. Security: service_key. */
  webhooksUpdateEndpoint(id: string, body: UpdateEndpoint, options: { credentials?: Credentials } = {}): Promise<Endpoint> {
    return this.call("PATCH", `/v1/webhooks/endpoints/${encodeURIComponent(id)}`, { body, credentials: options.credentials });
  }

  /** `DELETE /v1/webhooks/endpoints/{id}`: The endpoint and its delivery history. Security: service_key. */
  webhooksDeleteEndpoint(id: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/webhooks/endpoints/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `GET /v1/webhooks/endpoints/{id}/deliveries`: Newest first, each with its attempts. Security: service_key. */
  webhooksDeliveries(id: string, options: { credentials?: Credentials; query?: { limit?: string | number | boolean } } = {}): Promise<DeliveryList> {
    return this.call("GET", `/v1/webhooks/endpoints/${encodeURIComponent(id)}/deliveries`, { query: options.query, credentials: options.credentials });
  }

  /** `POST /v1/webhooks/endpoints/{id}/rotate-secret`: A new secret; the old one keeps signing beside it for the grace period. Security: service_key. */
  webhooksRotateSecret(id: string, options: { credentials?: Credentials } = {}): Promise<RotatedSecret> {
    return this.call("POST", `/v1/webhooks/endpoints/${encodeURIComponent(id)}/rotate-secret`, { credentials: options.credentials });
  }

  /** `POST /v1/webhooks/events`: Publishes an app's own event to every endpoint subscribed to its type (202 `{id}`). Security: service_key. */
  webhooksPublish(body: PublishEvent, options: { credentials?: Credentials } = {}): Promise<Published> {
    return this.call("POST", `/v1/webhooks/events`, { body, credentials: options.credentials });
  }

  /** `GET /v1/workspaces`: The workspaces the caller belongs to, with their role in each. Security: access_token, session_cookie. */
  workspacesList(options: { credentials?: Credentials } = {}): Promise<MembershipList> {
    return this.call("GET", `/v1/workspaces`, { credentials: options.credentials });
  }

  /** `POST /v1/workspaces`: Creates a workspace with the caller as its owner. Security: access_token, session_cookie. */
  workspacesCreate(body: NameRequest, options: { credentials?: Credentials } = {}): Promise<Workspace> {
    return this.call("POST", `/v1/workspaces`, { body, credentials: options.credentials });
  }

  /** `GET /v1/workspaces/{id}`: One of the caller's workspaces. Security: access_token, session_cookie. */
  workspacesGet(id: string, options: { credentials?: Credentials } = {}): Promise<WorkspaceView> {
    return this.call("GET", `/v1/workspaces/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `PATCH /v1/workspaces/{id}`: Renames a workspace (admins). Security: access_token, session_cookie. */
  workspacesRename(id: string, body: NameRequest, options: { credentials?: Credentials } = {}): Promise<Workspace> {
    return this.call("PATCH", `/v1/workspaces/${encodeURIComponent(id)}`, { body, credentials: options.credentials });
  }

  /** `DELETE /v1/workspaces/{id}`: Deletes a workspace with its memberships and invitations (owners). Security: access_token, session_cookie. */
  workspacesDelete(id: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/workspaces/${encodeURIComponent(id)}`, { credentials: options.credentials });
  }

  /** `GET /v1/workspaces/{id}/invitations`: Pending invitations (admins). Security: access_token, session_cookie. */
  workspacesInvitations(id: string, options: { credentials?: Credentials } = {}): Promise<InvitationList> {
    return this.call("GET", `/v1/workspaces/${encodeURIComponent(id)}/invitations`, { credentials: options.credentials });
  }

  /** `POST /v1/workspaces/{id}/invitations`: Invites an address (admins). The invitation is mailed through the job queue and works once, for 7 days, for a signed-in account with that verified address. Inviting an address again replaces its pending invitation. Security: access_token, session_cookie. */
  workspacesInvite(id: string, body: InviteRequest, options: { credentials?: Credentials } = {}): Promise<Invitation> {
    return this.call("POST", `/v1/workspaces/${encodeURIComponent(id)}/invitations`, { body, credentials: options.credentials });
  }

  /** `DELETE /v1/workspaces/{id}/invitations/{invitation_id}`: Withdraws an invitation (admins). Security: access_token, session_cookie. */
  workspacesWithdraw(id: string, invitationId: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/workspaces/${encodeURIComponent(id)}/invitations/${encodeURIComponent(invitationId)}`, { credentials: options.credentials });
  }

  /** `GET /v1/workspaces/{id}/members`: The members (any member may read them). Security: access_token, session_cookie. */
  workspacesMembers(id: string, options: { credentials?: Credentials } = {}): Promise<MemberList> {
    return this.call("GET", `/v1/workspaces/${encodeURIComponent(id)}/members`, { credentials: options.credentials });
  }

  /** `PATCH /v1/workspaces/{id}/members/{user_id}`: Changes a member's role. Admins change members and admins; only owners make or unmake owners. Security: access_token, session_cookie. */
  workspacesChangeRole(id: string, userId: string, body: RoleRequest, options: { credentials?: Credentials } = {}): Promise<Member> {
    return this.call("PATCH", `/v1/workspaces/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`, { body, credentials: options.credentials });
  }

  /** `DELETE /v1/workspaces/{id}/members/{user_id}`: Removes a member (admins; owners only by an owner), or, with the caller's own id, leaves the workspace (any member). Security: access_token, session_cookie. */
  workspacesRemove(id: string, userId: string, options: { credentials?: Credentials } = {}): Promise<void> {
    return this.call("DELETE", `/v1/workspaces/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`, { credentials: options.credentials });
  }

}
