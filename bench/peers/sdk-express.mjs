// Express with @gatehouse/node, as an app would run it: Node's cluster module, one worker per core.
// GET /protected asks Gatehouse (GATEHOUSE_URL) who the request is, through the SDK's middleware;
// GET /open is the same route with no auth, the ceiling the SDK's cost is measured against.
import cluster from "node:cluster";
import os from "node:os";

if (cluster.isPrimary) {
  for (let i = 0; i < os.availableParallelism(); i++) cluster.fork();
} else {
  const { default: express } = await import("express");
  const { gatehouse, requireAuth } = await import("@gatehouse/node/express");
  const app = express();
  const body = { user: { id: "42", email: "bench@example.com" } };
  app.get("/open", (_req, res) => res.json(body));
  app.get("/protected", gatehouse({ url: process.env.GATEHOUSE_URL }), requireAuth({ onUnauthenticated: "json" }),
    (req, res) => res.json({ user: { id: req.auth.user.id, email: req.auth.user.email } }));
  app.listen(Number(process.env.PORT), "127.0.0.1");
}
