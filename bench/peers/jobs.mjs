// BullMQ (with ioredis) on Redis: one worker process per core (Node's cluster module), each with
// the given concurrency; the primary enqueues COUNT no-op jobs with addBulk in batches of 1,000
// once every worker is ready, and waits until all have completed. Prints one JSON line, the same
// shape as Gatehouse's examples/jobs_rate.
import cluster from "node:cluster";
import os from "node:os";

const count = Number(process.env.COUNT ?? 20000);
const concurrency = Number(process.env.CONCURRENCY ?? 16);
const queueName = process.env.QUEUE ?? `bench-${process.pid}`;
const url = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };

const { Queue, Worker } = await import("bullmq");

if (cluster.isPrimary) {
  const workers = os.availableParallelism();
  let ready = 0;
  const allReady = new Promise((resolve) => {
    cluster.on("message", (_worker, message) => {
      if (message === "ready" && ++ready === workers) resolve();
    });
  });
  for (let i = 0; i < workers; i++) cluster.fork({ QUEUE: queueName });
  await allReady;

  const queue = new Queue(queueName, { connection });
  const started = performance.now();
  for (let n = 0; n < count; n += 1000) {
    const batch = [];
    for (let i = n; i < Math.min(n + 1000, count); i++) batch.push({ name: "noop", data: { n: i } });
    await queue.addBulk(batch);
  }
  const enqueued = performance.now();
  for (;;) {
    const { completed } = await queue.getJobCounts("completed");
    if (completed >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      jobs: count,
      enqueue_seconds: Number(((enqueued - started) / 1000).toFixed(3)),
      seconds: Number(seconds.toFixed(3)),
      jobs_per_s: Number((count / seconds).toFixed(1)),
    }),
  );
  await queue.obliterate({ force: true });
  await queue.close();
  for (const worker of Object.values(cluster.workers)) worker.kill();
  process.exit(0);
} else {
  const worker = new Worker(queueName, async () => {}, { connection, concurrency });
  await worker.waitUntilReady();
  process.send("ready");
}
