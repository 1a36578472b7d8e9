// Express (4 and 5): `gatehouse({ url })` sets `req.auth` (an `Auth`, or null) and `req.authError`
// (the outage, or null) on every request; `requireAuth()` and `requireRole(role)` guard routes.
//
// During an outage a guarded route answers 503: it never lets the request through, and never
// treats the person as signed out (which would send them round a sign-in loop).

import { type Auth, Gatehouse, type GatehouseOptions, GatehouseUnavailable, hasRole, type Role } from "./index.js";
import { nodeTransport } from "./node-transport.js";

export { nodeTransport };

/** The parts of Express's request and response this module uses (no dependency on its types). */
interface Request {
  headers: Record<string, string | string[] | undefined>;
  protocol: string;
  originalUrl: string;
  ip?: string;
  get(name: string): string | undefined;
  accepts(types: string[]): string | false;
  auth?: Auth | null;
  authError?: Error | null;
  gatehouse?: Gatehouse;
}
interface Response {
  status(code: number): Response;
  type(type: string): Response;
  json(body: unknown): void;
  redirect(status: number, url: string): void;
  set(name: string, value: string): Response;
}
type Next = (error?: unknown) => void;

export type { Auth, Role };

/** The middleware that asks Gatehouse who each request is. Put it before the routes. */
export function gatehouse(options: GatehouseOptions | Gatehouse = {}) {
  const client = options instanceof Gatehouse ? options : new Gatehouse({ transport: nodeTransport(), ...options });
  return async function gatehouseMiddleware(req: Request, _res: Response, next: Next) {
    req.gatehouse = client;
    req.auth = null;
    req.authError = null;
    try {
      req.auth = await client.session({
        cookie: req.get("cookie"),
        authorization: req.get("authorization"),
        userAgent: req.get("user-agent"),
        // With Express's `trust proxy` set, `req.ip` is the end user's address.
        clientIp: req.ip?.replace(/^::ffff:/, ""),
      });
    } catch (error) {
      if (!(error instanceof GatehouseUnavailable)) return next(error);
      req.authError = error;
    }
    next();
  };
}

function problem(res: Response, status: number, code: string, detail: string) {
  res.status(status).type("application/problem+json").json({ status, code, detail });
}

export interface RequireAuthOptions {
  /** `redirect` (default): browsers go to the hosted sign-in, back to this page after; other
   * clients get 401. `json`: everyone gets a 401 problem+json. */
  onUnauthenticated?: "redirect" | "json";
}

/** Lets signed-in requests through; 503 during an outage. */
export function requireAuth(options: RequireAuthOptions = {}) {
  const mode = options.onUnauthenticated ?? "redirect";
  return function requireAuthMiddleware(req: Request, res: Response, next: Next) {
    if (req.authError) return problem(res, 503, "auth_unavailable", "sign-in cannot be checked right now; try again shortly");
    if (req.auth) return next();
    if (!req.gatehouse) return next(new Error("requireAuth() needs the gatehouse() middleware before it"));
    if (mode === "redirect" && req.accepts(["html", "json"]) === "html") {
      const here = `${req.protocol}://${req.get("host")}${req.originalUrl}`;
      return res.redirect(303, req.gatehouse.urls.signIn(here));
    }
    problem(res, 401, "unauthenticated", "sign in first");
  };
}

/** At least `role` (member < admin < owner) in the session's active workspace, else 403. */
export function requireRole(role: Role, options: RequireAuthOptions = { onUnauthenticated: "json" }) {
  const signedIn = requireAuth(options);
  return function requireRoleMiddleware(req: Request, res: Response, next: Next) {
    signedIn(req, res, (error?: unknown) => {
      if (error) return next(error);
      if (!hasRole(req.auth, role)) return problem(res, 403, "insufficient_role", `this needs the ${role} role in the active workspace`);
      next();
    });
  };
}
