// @gatehouse/node: the API client (every operation, generated), the session of a request, access
// tokens verified locally, webhook verification and the hosted pages' URLs. The Express and
// Next.js integrations are the subpaths `@gatehouse/node/express` and `@gatehouse/node/next`.
//
// A session check is one `GET /v1/session` over a kept-alive connection, carrying the end user's
// user agent and address (`X-Forwarded-For`, believed only from `server.trusted_proxies`), so
// session binding and the audit log see the person, not the app server. Nothing is cached unless
// `cacheTtlMs` is set: a session revoked anywhere is refused on the app's very next request.

import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";
import { Webhook } from "standardwebhooks";

import { API_VERSION, type CallOptions, type Credentials, Operations, type ProblemCode } from "./api.js";

export * from "./api.js";

export const VERSION = API_VERSION;

export type Role = "member" | "admin" | "owner";
const ROLES: Role[] = ["member", "admin", "owner"];

/** The signed-in person of a request, as `GET /v1/session` describes them. */
export interface Auth {
  user: { id: string; email: string; name?: string | null; email_verified: boolean; [key: string]: unknown };
  session: { id: string; amr?: string[]; auth_time?: string; [key: string]: unknown };
  /** The session's active workspace and the person's role in it, when one is chosen. */
  workspace?: { id: string; role: Role } | null;
}

/** At least `role` (member < admin < owner) in the session's active workspace. */
export function hasRole(auth: Auth | null | undefined, role: Role): boolean {
  const mine = auth?.workspace?.role;
  return mine !== undefined && ROLES.indexOf(mine) >= ROLES.indexOf(role);
}

/** An RFC 9457 problem Gatehouse answered, with its stable `code`. */
export class GatehouseError extends Error {
  readonly status: number;
  readonly code: ProblemCode | "unknown";
  readonly detail: string;
  readonly errors: Array<{ field: string; message: string }>;
  readonly problem: Record<string, unknown>;
  constructor(status: number, problem: Record<string, any>) {
    super(`${status} ${problem.code ?? "unknown"}: ${problem.detail ?? ""}`);
    this.name = "GatehouseError";
    this.status = status;
    this.problem = problem;
    this.code = problem.code ?? "unknown";
    this.detail = problem.detail ?? "";
    this.errors = problem.errors ?? [];
  }
}

/** Gatehouse could not be reached or answered 5xx: fail closed (503), never "signed out". */
export class GatehouseUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GatehouseUnavailable";
  }
}

/** Logs the start and the end of an outage once each, per Gatehouse URL, across clients. */
const outages = new Map<string, boolean>();
function failed(url: string, reason: string): GatehouseUnavailable {
  if (!outages.get(url)) {
    outages.set(url, true);
    console.warn(`gatehouse: ${url} is unavailable (${reason}); protected routes answer 503`);
  }
  return new GatehouseUnavailable(`Gatehouse at ${url} is unavailable: ${reason}`);
}
function answered(url: string): void {
  if (outages.get(url)) {
    outages.set(url, false);
    console.warn(`gatehouse: ${url} answers again`);
  }
}

/** One HTTP exchange with Gatehouse. */
export interface TransportRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}
export interface TransportResponse {
  status: number;
  contentType: string;
  text: string;
}
/** How requests reach Gatehouse: `fetch` by default (any runtime, Edge included); the Express
 * integration uses `node:http` with a kept-alive agent, several times faster per request. */
export type Transport = (request: TransportRequest) => Promise<TransportResponse>;

export const fetchTransport: Transport = async ({ method, url, headers, body, timeoutMs }) => {
  const response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  return { status: response.status, contentType: response.headers.get("content-type") ?? "", text: await response.text() };
};

export interface GatehouseOptions {
  /** Gatehouse's public URL; `GATEHOUSE_URL` when not given. */
  url?: string;
  /** A service API key for the server-to-server operations; `GATEHOUSE_API_KEY` when not given. */
  apiKey?: string;
  timeoutMs?: number;
  /** Keep session answers this long. A revoked session may be accepted here until then. Off (0) by default. */
  cacheTtlMs?: number;
  transport?: Transport;
}

/** Where a request for a session comes from. */
export interface EndUser {
  cookie?: string | null;
  authorization?: string | null;
  userAgent?: string | null;
  clientIp?: string | null;
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+)$/;

export class Gatehouse extends Operations {
  readonly url: string;
  readonly apiKey?: string;
  readonly timeoutMs: number;
  readonly urls: Urls;
  private readonly cacheTtlMs: number;
  private readonly transport: Transport;
  private readonly cache = new Map<string, { until: number; auth: Auth | null }>();

  constructor(options: GatehouseOptions = {}) {
    super();
    const url = options.url ?? process.env.GATEHOUSE_URL;
    if (!url) throw new Error("Gatehouse's URL: pass { url } or set GATEHOUSE_URL");
    this.url = url.replace(/\/+$/, "");
    this.apiKey = options.apiKey ?? process.env.GATEHOUSE_API_KEY;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.cacheTtlMs = options.cacheTtlMs ?? 0;
    this.urls = new Urls(this.url);
    this.transport = options.transport ?? fetchTransport;
  }

  private async send(method: string, url: string, headers: Record<string, string>, body?: string): Promise<TransportResponse> {
    let response: TransportResponse;
    try {
      response = await this.transport({ method, url, headers, body, timeoutMs: this.timeoutMs });
    } catch (error) {
      throw failed(this.url, (error as Error).name ?? "request failed");
    }
    if (response.status >= 500) throw failed(this.url, `HTTP ${response.status}`);
    answered(this.url);
    return response;
  }

  protected async call(method: string, path: string, options: CallOptions): Promise<any> {
    const credentials: Credentials = options.credentials ?? { bearer: this.apiKey };
    const headers: Record<string, string> = { accept: "application/json" };
    if (credentials.bearer) headers.authorization = `Bearer ${credentials.bearer}`;
    if (credentials.cookie) {
      headers.cookie = credentials.cookie;
      if (!["GET", "HEAD"].includes(method)) {
        headers.origin = this.url;
        if (credentials.csrfToken) headers["x-csrf-token"] = credentials.csrfToken;
      }
    }
    if (credentials.userAgent) headers["user-agent"] = credentials.userAgent;
    if (credentials.clientIp) headers["x-forwarded-for"] = credentials.clientIp;
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) query.set(key, String(value));
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const search = query.size ? `?${query}` : "";
    const response = await this.send(method, `${this.url}${path}${search}`, headers, body);
    const text = response.text;
    if (response.status >= 400) throw new GatehouseError(response.status, parse(text, response.status));
    if (!text) return undefined;
    return response.contentType.includes("json") ? JSON.parse(text) : text;
  }

  /** Who a request is signed in as (its `Cookie` header or `Authorization`), or `null`. Throws
   * `GatehouseUnavailable` when Gatehouse cannot say. */
  async session(from: EndUser): Promise<Auth | null> {
    if (!from.cookie && !from.authorization) return null;
    const key = JSON.stringify([from.cookie, from.authorization, from.userAgent, from.clientIp]);
    if (this.cacheTtlMs > 0) {
      const hit = this.cache.get(key);
      if (hit && hit.until > Date.now()) return hit.auth;
    }
    const headers: Record<string, string> = { accept: "application/json" };
    if (from.cookie) headers.cookie = from.cookie;
    if (from.authorization) headers.authorization = from.authorization;
    if (from.userAgent) headers["user-agent"] = from.userAgent;
    if (from.clientIp && IP.test(from.clientIp)) headers["x-forwarded-for"] = from.clientIp;
    const response = await this.send("GET", `${this.url}/v1/session`, headers);
    let auth: Auth | null = null;
    if (response.status === 200) auth = JSON.parse(response.text) as Auth;
    else if (response.status !== 401) throw new GatehouseError(response.status, parse(response.text, response.status));
    if (this.cacheTtlMs > 0) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { until: Date.now() + this.cacheTtlMs, auth });
    }
    return auth;
  }
}

function parse(text: string, status: number): Record<string, unknown> {
  try {
    const value = JSON.parse(text);
    if (value && typeof value === "object") return value;
  } catch {
    // not JSON
  }
  return { status, code: "unknown", detail: text.slice(0, 200) };
}

/** The hosted pages, for links and redirects. `returnTo` must match `server.redirect_allowlist`. */
export class Urls {
  constructor(readonly base: string) {}
  private page(path: string, returnTo?: string): string {
    return returnTo ? `${this.base}${path}?${new URLSearchParams({ return_to: returnTo })}` : `${this.base}${path}`;
  }
  signIn(returnTo?: string): string {
    return this.page("/login", returnTo);
  }
  signUp(returnTo?: string): string {
    return this.page("/signup", returnTo);
  }
  account(): string {
    return `${this.base}/account`;
  }
  /** The action of a `<form method="post">` that signs out. */
  signOut(): string {
    return `${this.base}/logout`;
  }
}

/** Access tokens verified locally against the JWKS: no round trip per request. A token verified
 * locally stays valid until it expires even if its session ends meanwhile. Keys are cached and
 * refetched on an unknown `kid` at most once a minute; issuer, audience and expiry are checked. */
export class TokenVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly issuer: string;
  readonly audience: string;
  constructor(options: { url: string; audience?: string; clockToleranceSecs?: number; currentDate?: () => Date }) {
    this.issuer = options.url.replace(/\/+$/, "");
    this.audience = options.audience ?? this.issuer;
    this.jwks = createRemoteJWKSet(new URL(`${this.issuer}/.well-known/jwks.json`), { cooldownDuration: 60_000 });
    this.options = options;
  }
  private readonly options: { clockToleranceSecs?: number; currentDate?: () => Date };

  /** The token's claims (`sub`, `sid`, `amr`, `wid`, `role`, …); throws when it is not valid. */
  async verify(token: string): Promise<JWTPayload & { sid?: string; wid?: string; role?: Role }> {
    const { payload } = await jwtVerify(token, this.jwks, {
      issuer: this.issuer,
      audience: this.audience,
      algorithms: ["ES256", "EdDSA"],
      requiredClaims: ["exp", "sub"],
      clockTolerance: this.options.clockToleranceSecs ?? 0,
      currentDate: this.options.currentDate?.(),
    });
    return payload;
  }
}

/** Every event type Gatehouse itself sends. */
export type EventType =
  | "user.created"
  | "user.updated"
  | "user.deleted"
  | "session.created"
  | "session.revoked"
  | "email.verified"
  | "password.changed"
  | "identity.linked"
  | "identity.unlinked"
  | "connection.broken"
  | "workspace.created"
  | "workspace.deleted"
  | "member.added"
  | "member.removed"
  | "member.role_changed"
  | "mfa.enabled"
  | "mfa.disabled"
  | "mfa.recovery_code_used";

export interface WebhookEvent<T = Record<string, any>> {
  /** `webhook-id`: the same on every attempt of one event; drop one already handled. */
  id: string;
  type: EventType | (string & {});
  timestamp: string;
  data: T;
}

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** Verifies a delivery (Standard Webhooks: signature and a five-minute timestamp tolerance) with
 * one secret, or several during a rotation. */
export function verifyWebhook(
  body: string | Buffer,
  headers: Record<string, string | string[] | undefined> | Headers,
  secret: string | string[],
): WebhookEvent {
  const flat: Record<string, string> = {};
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
  for (const [key, value] of entries) {
    if (value !== undefined) flat[key.toLowerCase()] = Array.isArray(value) ? value[0] : value;
  }
  const raw = typeof body === "string" ? body : body.toString("utf8");
  for (const candidate of Array.isArray(secret) ? secret : [secret]) {
    try {
      const payload = new Webhook(candidate).verify(raw, flat) as Record<string, any>;
      return { id: flat["webhook-id"] ?? "", type: payload.type, timestamp: payload.timestamp, data: payload.data ?? {} };
    } catch {
      // try the next secret
    }
  }
  throw new WebhookVerificationError("no secret verifies this delivery (forged, altered or too old)");
}
