// Express + express-session + connect-redis, as an app would run it in production: Node's cluster
// module, one worker per core. POST /login creates a session; GET /whoami reads it from Redis.
import cluster from "node:cluster";
import os from "node:os";

if (cluster.isPrimary) {
  for (let i = 0; i < os.availableParallelism(); i++) cluster.fork();
} else {
  const { default: express } = await import("express");
  const { default: session } = await import("express-session");
  const { RedisStore } = await import("connect-redis");
  const { createClient } = await import("redis");

  const client = createClient({ url: process.env.REDIS_URL });
  await client.connect();
  const app = express();
  app.use(
    session({
      store: new RedisStore({ client, prefix: "bench-peer:sess:" }),
      secret: "bench-only-secret",
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: "lax" },
    }),
  );
  app.post("/login", (req, res) => {
    req.session.user = { id: "42", email: "bench@example.com" };
    res.json({ ok: true });
  });
  app.get("/whoami", (req, res) => {
    if (!req.session.user) return res.status(401).json({ error: "unauthenticated" });
    res.json({ user: req.session.user });
  });
  app.listen(Number(process.env.PORT), "127.0.0.1");
}
