// An Express app that lets Gatehouse do its accounts, through @gatehouse/node.
//
// - Pages under /account need a signed-in user. A browser brings Gatehouse's session cookie, which
//   the gatehouse() middleware checks with Gatehouse (passing on the person's user agent and
//   address); an API client brings an access token (Authorization: Bearer), verified here against
//   Gatehouse's JWKS with no call per request.
// - POST /webhooks/gatehouse receives Gatehouse's webhooks, verified with verifyWebhook.

import express from "express";
import { TokenVerifier, WebhookVerificationError, verifyWebhook } from "@gatehouse/node";
import { gatehouse, requireAuth } from "@gatehouse/node/express";

const GATEHOUSE_URL = process.env.GATEHOUSE_URL ?? "http://127.0.0.1:8080";
const WEBHOOK_SECRET = process.env.GATEHOUSE_WEBHOOK_SECRET;
const PORT = Number(process.env.PORT ?? 3000);

const tokens = new TokenVerifier({ url: GATEHOUSE_URL });

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const app = express();
app.set("trust proxy", "loopback");

app.get("/", (_req, res) => {
  res.type("html").send('<h1>Example app</h1><p><a href="/account">Your account</a></p>');
});

// An API client with an access token: verified locally (valid until it expires).
app.get("/account", async (req, res, next) => {
  const authorization = req.get("authorization") ?? "";
  if (!authorization.startsWith("Bearer ")) return next();
  try {
    const claims = await tokens.verify(authorization.slice("Bearer ".length));
    res.json({ user: { id: claims.sub, session_id: claims.sid } });
  } catch {
    res.status(401).json({ code: "unauthenticated", detail: "the token is not valid" });
  }
});

// A browser with the session cookie: checked with Gatehouse on every request.
app.get("/account", gatehouse({ url: GATEHOUSE_URL }), requireAuth(), (req, res) => {
  if (req.accepts(["html", "json"]) === "json") return res.json({ user: req.auth.user });
  res.type("html").send(`<h1>Your account</h1><p>Signed in as <strong>${escape(req.auth.user.email)}</strong>.</p>`);
});

// The raw body: the signature covers the exact bytes Gatehouse sent. webhook-id is the same on
// every retry of one event; a real app records it with its own changes.
const handled = new Set();
app.post("/webhooks/gatehouse", express.raw({ type: "application/json" }), (req, res) => {
  if (!WEBHOOK_SECRET) return res.status(503).json({ error: "GATEHOUSE_WEBHOOK_SECRET is not set" });
  try {
    const event = verifyWebhook(req.body, req.headers, WEBHOOK_SECRET);
    if (!handled.has(event.id)) {
      handled.add(event.id);
      console.log(`webhook ${event.type} (${event.id})`);
    }
    res.status(204).end();
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    res.status(400).json({ error: "invalid signature" });
  }
});

app.listen(PORT, "127.0.0.1", () => console.log(`example app on http://127.0.0.1:${PORT}`));
