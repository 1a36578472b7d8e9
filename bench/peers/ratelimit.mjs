// Express + express-rate-limit + rate-limit-redis in cluster mode: every request to /limited is a
// rate-limit decision in Redis (the limit is set high so it measures decisions, not refusals), and
// every request to /refused is a decision that refuses (limit 1), like a route under attack.
import cluster from "node:cluster";
import os from "node:os";

if (cluster.isPrimary) {
  for (let i = 0; i < os.availableParallelism(); i++) cluster.fork();
} else {
  const { default: express } = await import("express");
  const { rateLimit } = await import("express-rate-limit");
  const { RedisStore } = await import("rate-limit-redis");
  const { createClient } = await import("redis");

  const client = createClient({ url: process.env.REDIS_URL });
  await client.connect();
  const app = express();
  const limiter = (prefix, limit) =>
    rateLimit({
      windowMs: 60_000,
      limit,
      standardHeaders: "draft-8",
      legacyHeaders: false,
      store: new RedisStore({ prefix, sendCommand: (...args) => client.sendCommand(args) }),
    });
  app.get("/limited", limiter("bench-peer:rl:", 1_000_000_000), (_req, res) => res.send("ok"));
  // Over the limit at once: every request is a decision followed by a 429.
  app.get("/refused", limiter("bench-peer:rf:", 1), (_req, res) => res.send("ok"));
  app.listen(Number(process.env.PORT), "127.0.0.1");
}
