// An Express app that lets Gatehouse do its accounts.
//
// - Pages under /account need a signed-in user. A browser brings Gatehouse's session cookie, which
//   this app forwards to Gatehouse's GET /v1/session; an API client brings a Gatehouse access token
//   (Authorization: Bearer), which is verified here against Gatehouse's JWKS, with no call per
//   request.
// - POST /webhooks/gatehouse receives Gatehouse's webhooks, verified with the standardwebhooks
//   package.

import express from "express";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

const GATEHOUSE_URL = (process.env.GATEHOUSE_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
// Gatehouse's tokens.issuer and tokens.audience; both default to its public URL.
const ISSUER = process.env.GATEHOUSE_ISSUER ?? GATEHOUSE_URL;
const AUDIENCE = process.env.GATEHOUSE_AUDIENCE ?? GATEHOUSE_URL;
const WEBHOOK_SECRET = process.env.GATEHOUSE_WEBHOOK_SECRET;
const PORT = Number(process.env.PORT ?? 3000);

// jose caches the keys and refetches when a token names a key it has not seen (a rotation).
const jwks = createRemoteJWKSet(new URL(`${GATEHOUSE_URL}/.well-known/jwks.json`));

/** The signed-in user, or null. Throws only when Gatehouse cannot be asked. */
async function currentUser(req) {
  const authorization = req.get("authorization") ?? "";
  if (authorization.startsWith("Bearer ")) {
    try {
      const { payload } = await jwtVerify(authorization.slice("Bearer ".length), jwks, {
        issuer: ISSUER,
        audience: AUDIENCE,
      });
      // An access token carries the user id (sub) and session id (sid), not the profile.
      return { id: payload.sub, session_id: payload.sid };
    } catch {
      return null;
    }
  }
  const cookie = req.get("cookie");
  if (!cookie) return null;
  const answer = await fetch(`${GATEHOUSE_URL}/v1/session`, { headers: { cookie } });
  if (answer.status === 401) return null;
  if (!answer.ok) throw new Error(`Gatehouse answered ${answer.status} to GET /v1/session`);
  const { user } = await answer.json();
  return user;
}

/** Lets signed-in users through (as req.user); others get 401, or a link to sign in. */
async function requireUser(req, res, next) {
  const user = await currentUser(req);
  if (!user) {
    res.status(401);
    if (req.accepts(["html", "json"]) === "html") {
      res.type("html").send(`<p>Please <a href="${GATEHOUSE_URL}">sign in</a> first.</p>`);
    } else {
      res.json({ error: "sign in first" });
    }
    return;
  }
  req.user = user;
  next();
}

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const app = express();

app.get("/", (_req, res) => {
  res.type("html").send('<h1>Example app</h1><p><a href="/account">Your account</a></p>');
});

app.get("/account", requireUser, (req, res) => {
  if (req.accepts(["html", "json"]) === "json") {
    res.json({ user: req.user });
    return;
  }
  const who = req.user.email ?? req.user.id;
  res.type("html").send(`<h1>Your account</h1><p>Signed in as <strong>${escape(who)}</strong>.</p>`);
});

// The raw body: the signature covers the exact bytes Gatehouse sent.
// webhook-id is the same on every retry of one event; a real app records it with its own changes.
const handled = new Set();
app.post("/webhooks/gatehouse", express.raw({ type: "application/json" }), (req, res) => {
  if (!WEBHOOK_SECRET) {
    res.status(503).json({ error: "GATEHOUSE_WEBHOOK_SECRET is not set" });
    return;
  }
  try {
    const event = new Webhook(WEBHOOK_SECRET).verify(req.body, req.headers);
    const id = req.get("webhook-id");
    if (!handled.has(id)) {
      handled.add(id);
      console.log(`webhook ${event.type} (${id})`);
    }
    res.status(204).end();
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    res.status(400).json({ error: "invalid signature" });
  }
});

app.use((error, _req, res, _next) => {
  console.error(error);
  res.status(502).json({ error: "could not reach Gatehouse" });
});

app.listen(PORT, "127.0.0.1", () => console.log(`example app on http://127.0.0.1:${PORT}`));
