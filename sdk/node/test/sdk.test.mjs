// The package as a user installs it (sdk/node/run packs it and installs the tarball into a fresh
// project), against a real `gatehouse serve` started once for the suite.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import express from "express";
import { SignJWT, generateKeyPair } from "jose";

import {
  Gatehouse,
  GatehouseError,
  OPERATIONS,
  PROBLEM_CODES,
  TokenVerifier,
  VERSION,
  WebhookVerificationError,
  verifyWebhook,
} from "@gatehouse/node";
import { gatehouse, requireAuth, requireRole } from "@gatehouse/node/express";
import { gatehouseProxy } from "@gatehouse/node/next";

const SOURCE = process.env.SDK_TEST_SOURCE;
const BINARY = process.env.SDK_TEST_BINARY;
const BROWSER = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0";
const PASSWORD = "a long and unusual passphrase";

const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

class Server {
  async init() {
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.dir = mkdtempSync(join(tmpdir(), "gatehouse-sdk-node-"));
    const config = join(this.dir, "gatehouse.toml");
    writeFileSync(
      config,
      `public_url = "${this.url}"\n[server]\nlisten = "127.0.0.1:${this.port}"\ntrusted_proxies = ["127.0.0.1/32"]\n` +
        `redirect_allowlist = ["http://127.0.0.1/"]\n[database]\nurl = "sqlite://${join(this.dir, "gatehouse.db")}"\n` +
        `[session]\nbinding = "user_agent"\n[password]\nargon2_memory_kib = 1024\nargon2_iterations = 1\n` +
        `[rate_limit]\nenabled = false\n[jobs]\npoll_interval_ms = 50\n`,
    );
    this.env = { ...process.env, GATEHOUSE_CONFIG: config, NO_COLOR: "1" };
    await this.start();
    return this;
  }
  async start() {
    this.process = spawn(BINARY, ["serve"], { env: this.env, stdio: "ignore" });
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`${this.url}/health/ready`)).ok) return;
      } catch {}
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("gatehouse did not start");
  }
  async stop() {
    const exited = new Promise((r) => this.process.once("exit", r));
    this.process.kill("SIGTERM");
    await exited;
  }
  run(...args) {
    return execFileSync(BINARY, args, { env: this.env, encoding: "utf8" });
  }
  serviceKey(...scopes) {
    return this.run("api-key", "create", "--name", "sdk-tests", ...scopes.flatMap((s) => ["--scope", s])).split(/\s+/)[0];
  }
}

let server;
let people = 0;

async function person(tag) {
  const email = `${tag}-${people++}-${process.pid}@example.com`;
  const signed = await fetch(`${server.url}/v1/signup`, {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": BROWSER },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(signed.status, 201);
  const body = await signed.json();
  const session = signed.headers.getSetCookie().find((c) => c.startsWith("gatehouse_session=")).split(";")[0];
  const csrfAnswer = await fetch(`${server.url}/v1/csrf`, { headers: { cookie: session, "user-agent": BROWSER } });
  const csrf = (await csrfAnswer.json()).token;
  const csrfCookie = csrfAnswer.headers.getSetCookie().find((c) => c.startsWith("gatehouse_csrf=")).split(";")[0];
  const post = (path, payload = {}) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": BROWSER,
        origin: server.url,
        "x-csrf-token": csrf,
        cookie: `${session}; ${csrfCookie}`,
      },
      body: JSON.stringify(payload),
    });
  return { email, id: body.user.id, sessionId: body.session.id, cookie: session, post };
}

/** An Express app on the package, listening on a free port. */
async function expressApp() {
  const app = express();
  app.set("trust proxy", "loopback");
  app.use(gatehouse({ url: server.url }));
  app.get("/me", requireAuth({ onUnauthenticated: "json" }), (req, res) => res.json({ email: req.auth.user.email }));
  app.get("/page", requireAuth(), (req, res) => res.type("html").send(`<p>${req.auth.user.email}</p>`));
  app.get("/admin", requireRole("admin"), (_req, res) => res.json({ ok: true }));
  app.get("/maybe", (req, res) => res.json({ email: req.auth?.user.email ?? null, outage: Boolean(req.authError) }));
  const listening = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const base = `http://127.0.0.1:${listening.address().port}`;
  const get = (path, cookie, headers = {}) =>
    fetch(`${base}${path}`, { headers: { "user-agent": BROWSER, ...(cookie ? { cookie } : {}), ...headers }, redirect: "manual" });
  return { base, get, close: () => new Promise((r) => listening.close(r)) };
}

before(async () => {
  server = await new Server().init();
});
after(async () => {
  await server.stop();
});

describe("the package", () => {
  test("its version is the server's and it is the installed tarball", () => {
    assert.equal(VERSION, server.run("--version").trim().split(/\s+/).pop());
    assert.match(fileURLToPath(import.meta.resolve("@gatehouse/node")), /node_modules\/@gatehouse\/node\/dist\/index\.js$/);
  });

  test("the generated API matches the server's document", () => {
    const document = join(server.dir, "openapi.json");
    writeFileSync(document, server.run("openapi"));
    execFileSync(process.execPath, [join(SOURCE, "generate.mjs"), document, "--check"], { stdio: "inherit" });
    assert.ok(PROBLEM_CODES.includes("email_taken") && PROBLEM_CODES.includes("validation_failed"));
    assert.ok(OPERATIONS.some(([m, p]) => m === "POST" && p === "/v1/me/password"));
  });

  test("the README quickstart runs as written", () => {
    const readme = readFileSync(join(SOURCE, "README.md"), "utf8");
    const code = readme.match(/```js\n([\s\S]*?)```/)[1];
    assert.ok(code.trim().split("\n").length <= 10);
    const script = join(process.cwd(), "quickstart.mjs");
    writeFileSync(script, code);
    const printed = execFileSync(process.execPath, [script], { env: { ...process.env, GATEHOUSE_URL: server.url }, encoding: "utf8" });
    assert.deepEqual(printed.trim().split("\n"), [`${server.url}/login?return_to=https%3A%2F%2Fapp.example.com%2F`, "null"]);
  });
});

describe("the client", () => {
  test("a session is seen until it is revoked; a disabled user is refused", async () => {
    const gh = new Gatehouse({ url: server.url, apiKey: server.serviceKey("admin") });
    const ada = await person("ada");
    const auth = await gh.session({ cookie: ada.cookie, userAgent: BROWSER });
    assert.equal(auth.user.email, ada.email);
    assert.equal((await ada.post("/v1/logout")).status, 204);
    assert.equal(await gh.session({ cookie: ada.cookie, userAgent: BROWSER }), null);
    const bob = await person("bob");
    await gh.adminDisable(bob.id);
    assert.equal(await gh.session({ cookie: bob.cookie, userAgent: BROWSER }), null);
    assert.equal(await gh.session({}), null);
  });

  test("binding sees the end user's agent", async () => {
    const gh = new Gatehouse({ url: server.url });
    const cy = await person("cy");
    assert.ok(await gh.session({ cookie: cy.cookie, userAgent: BROWSER }));
    assert.equal(await gh.session({ cookie: cy.cookie, userAgent: "Other/2.0" }), null);
  });

  test("problems are typed", async () => {
    const gh = new Gatehouse({ url: server.url });
    await assert.rejects(gh.accountsLogin({ email: "nobody@example.com", password: "wrong wrong wrong" }), (error) => {
      assert.ok(error instanceof GatehouseError);
      assert.equal(error.status, 401);
      assert.equal(error.code, "invalid_credentials");
      return true;
    });
    await assert.rejects(gh.adminUsers(), (error) => error.status === 401);
    const admin = new Gatehouse({ url: server.url, apiKey: server.serviceKey("admin") });
    const dee = await person("dee");
    const page = await admin.adminUsers({ query: { email_prefix: "dee-" } });
    assert.deepEqual(page.users.map((u) => u.email), [dee.email]);
  });
});

describe("express", () => {
  test("req.auth, requireAuth and a revoked session refused at once", async () => {
    const app = await expressApp();
    try {
      const ada = await person("express");
      assert.deepEqual(await (await app.get("/me", ada.cookie)).json(), { email: ada.email });
      const anonymous = await app.get("/me");
      assert.equal(anonymous.status, 401);
      assert.equal((await anonymous.json()).code, "unauthenticated");
      const browser = await app.get("/page", null, { accept: "text/html" });
      assert.equal(browser.status, 303);
      assert.equal(browser.headers.get("location"), `${server.url}/login?return_to=${encodeURIComponent(`${app.base}/page`)}`);
      assert.deepEqual(await (await app.get("/maybe")).json(), { email: null, outage: false });
      await ada.post("/v1/logout");
      assert.equal((await app.get("/me", ada.cookie)).status, 401);
    } finally {
      await app.close();
    }
  });

  test("requireRole follows the active workspace", async () => {
    const app = await expressApp();
    try {
      const owner = await person("owner");
      assert.equal((await app.get("/admin", owner.cookie)).status, 403);
      const workspace = await (await owner.post("/v1/workspaces", { name: "Acme" })).json();
      assert.equal((await owner.post("/v1/session/workspace", { workspace_id: workspace.id })).status, 200);
      assert.deepEqual(await (await app.get("/admin", owner.cookie)).json(), { ok: true });
      assert.equal((await owner.post("/v1/session/workspace", { workspace_id: null })).status, 200);
      const none = await app.get("/admin", owner.cookie);
      assert.equal(none.status, 403, "no active workspace, no role");
      assert.equal((await none.json()).code, "insufficient_role");
    } finally {
      await app.close();
    }
  });
});

describe("next", () => {
  test("the proxy lets signed-in and public requests through and sends the rest to sign in", async () => {
    const proxy = gatehouseProxy({ url: server.url, publicPaths: ["/", "/docs/*"] });
    const ada = await person("next");
    const request = (path, cookie) =>
      new Request(`http://127.0.0.1:3000${path}`, { headers: { "user-agent": BROWSER, ...(cookie ? { cookie } : {}) } });
    assert.equal(await proxy(request("/")), undefined);
    assert.equal(await proxy(request("/docs/intro")), undefined);
    assert.equal(await proxy(request("/account", ada.cookie)), undefined);
    const away = await proxy(request("/account?tab=1"));
    assert.equal(away.status, 307);
    assert.equal(away.headers.get("location"), `${server.url}/login?return_to=${encodeURIComponent("http://127.0.0.1:3000/account?tab=1")}`);
  });
});

describe("tokens", () => {
  test("verified locally with issuer, audience and expiry; a foreign key refused", async () => {
    const ada = await person("tokens");
    const token = (await (await ada.post("/v1/token")).json()).access_token;
    const claims = await new TokenVerifier({ url: server.url }).verify(token);
    assert.equal(claims.sub, ada.id);
    assert.equal(claims.sid, ada.sessionId);
    await assert.rejects(new TokenVerifier({ url: server.url, audience: "https://other.example.com" }).verify(token), /aud/);
    const later = () => new Date(Date.now() + 3600_000);
    await assert.rejects(new TokenVerifier({ url: server.url, currentDate: later }).verify(token), /exp/);
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT({ sub: ada.id })
      .setProtectedHeader({ alg: "ES256", kid: "not-a-gatehouse-key" })
      .setIssuer(server.url)
      .setAudience(server.url)
      .setExpirationTime("10m")
      .sign(privateKey);
    await assert.rejects(new TokenVerifier({ url: server.url }).verify(forged));
  });
});

describe("webhooks", () => {
  test("a real delivery verified, a forged one refused, a rotated secret accepted", async () => {
    const received = [];
    const receiver = http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        received.push({ body, headers: req.headers });
        res.writeHead(204).end();
      });
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${receiver.address().port}/hooks`;
    const waitFor = async (type) => {
      for (let i = 0; i < 300; i++) {
        const found = received.find((d) => JSON.parse(d.body).type === type);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no ${type} delivery`);
    };
    try {
      const gh = new Gatehouse({ url: server.url, apiKey: server.serviceKey("webhooks") });
      const endpoint = await gh.webhooksCreateEndpoint({ url, event_types: ["user.created"] });
      const ada = await person("hooks");
      const delivery = await waitFor("user.created");
      const event = verifyWebhook(delivery.body, delivery.headers, endpoint.secret);
      assert.equal(event.type, "user.created");
      assert.equal(event.data.user.id, ada.id);
      assert.equal(event.id, delivery.headers["webhook-id"]);
      assert.throws(() => verifyWebhook(delivery.body.replace("hooks", "hacks"), delivery.headers, endpoint.secret), WebhookVerificationError);
      const rotated = await gh.webhooksRotateSecret(endpoint.id);
      received.length = 0;
      await person("after-rotation");
      const next = await waitFor("user.created");
      assert.equal(verifyWebhook(next.body, next.headers, [rotated.secret]).type, "user.created");
      assert.equal(verifyWebhook(next.body, next.headers, [endpoint.secret, rotated.secret]).type, "user.created");
    } finally {
      receiver.close();
    }
  });
});

describe("an outage", () => {
  test("protected routes answer 503, optional ones see the outage, and all recover", async () => {
    const app = await expressApp();
    const ada = await person("outage");
    const proxy = gatehouseProxy({ url: server.url });
    try {
      assert.equal((await app.get("/me", ada.cookie)).status, 200);
      await server.stop();
      try {
        for (let i = 0; i < 3; i++) {
          const down = await app.get("/me", ada.cookie);
          assert.equal(down.status, 503);
          assert.equal((await down.json()).code, "auth_unavailable");
        }
        assert.deepEqual(await (await app.get("/maybe", ada.cookie)).json(), { email: null, outage: true });
        const edge = await proxy(new Request("http://127.0.0.1:3000/account", { headers: { cookie: ada.cookie, "user-agent": BROWSER } }));
        assert.equal(edge.status, 503, "never a sign-in loop");
      } finally {
        await server.start();
      }
      assert.deepEqual(await (await app.get("/me", ada.cookie)).json(), { email: ada.email });
    } finally {
      await app.close();
    }
  });
});
