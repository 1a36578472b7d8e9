// Next.js 16 (App Router): `gatehouseProxy({ url, publicPaths })` for `proxy.ts`, which uses only
// `fetch` and the web `Request`/`Response`, so it runs in the proxy's default runtime and on the
// Edge runtime alike; `auth()` for server components and route handlers; `requireAuth()`, which
// sends a signed-out visitor to the hosted sign-in.

import { type Auth, Gatehouse, type GatehouseOptions, GatehouseUnavailable } from "./index.js";

export type { Auth };

let configured: Gatehouse | undefined;

/** The client `auth()` uses: from `configure()`, else `GATEHOUSE_URL`. */
export function configure(options: GatehouseOptions): Gatehouse {
  configured = new Gatehouse(options);
  return configured;
}

function client(): Gatehouse {
  configured ??= new Gatehouse();
  return configured;
}

function endUser(headers: Headers) {
  return {
    cookie: headers.get("cookie"),
    authorization: headers.get("authorization"),
    userAgent: headers.get("user-agent"),
    clientIp: headers.get("x-forwarded-for")?.split(",")[0]?.trim() ?? null,
  };
}

export interface ProxyOptions extends GatehouseOptions {
  /** Paths that need no sign-in: exact, or a prefix ending in `/*` (`/docs/*`). */
  publicPaths?: string[];
}

function isPublic(path: string, publicPaths: string[]): boolean {
  return publicPaths.some((p) => (p.endsWith("/*") ? path.startsWith(p.slice(0, -1)) : path === p));
}

/** `export const proxy = gatehouseProxy({ ... })`: signed-out visitors of a protected path go to
 * the hosted sign-in (and back); during an outage they get 503, never a sign-in loop. Returns
 * `undefined` to let a request through. */
export function gatehouseProxy(options: ProxyOptions = {}) {
  const gh = new Gatehouse(options);
  const publicPaths = options.publicPaths ?? [];
  return async function proxy(request: Request): Promise<Response | undefined> {
    const url = new URL(request.url);
    if (isPublic(url.pathname, publicPaths)) return undefined;
    try {
      if (await gh.session(endUser(request.headers))) return undefined;
    } catch (error) {
      if (!(error instanceof GatehouseUnavailable)) throw error;
      return new Response(JSON.stringify({ status: 503, code: "auth_unavailable", detail: "sign-in cannot be checked right now" }), {
        status: 503,
        headers: { "content-type": "application/problem+json", "retry-after": "5" },
      });
    }
    return Response.redirect(gh.urls.signIn(url.toString()), 307);
  };
}

/** The signed-in person of the current request, or null (server components, route handlers).
 * Throws `GatehouseUnavailable` during an outage. */
export async function auth(): Promise<Auth | null> {
  const { headers } = await import("next/headers.js");
  return client().session(endUser(await headers()));
}

/** The signed-in person, or a redirect to the hosted sign-in that comes back to `returnTo`
 * (default: the app's home page). */
export async function requireAuth(returnTo?: string): Promise<Auth> {
  const found = await auth();
  if (found) return found;
  const { headers } = await import("next/headers.js");
  const { redirect } = await import("next/navigation.js");
  const incoming = await headers();
  const host = incoming.get("x-forwarded-host") ?? incoming.get("host");
  const proto = incoming.get("x-forwarded-proto") ?? "http";
  return redirect(client().urls.signIn(returnTo ?? `${proto}://${host}/`));
}
