import { createRequire } from "node:module";
import { Queue, QueueEvents, Worker } from "bullmq";
import { startRedisServer } from "./redis-server.ts";
import type { BenchTarget } from "./workload.ts";

const WORKER_CONCURRENCY = 64;
const JOB_NAME = "noop";

interface NoopData {
  x: number;
}

/**
 * Starts the peer: a private Redis server, a BullMQ Worker that returns each
 * job's `x` with concurrency 64, and a QueueEvents listener. A call adds one
 * job and waits for its completion event, the usual BullMQ request-reply.
 * Completed jobs stay in Redis, as BullMQ keeps them by default.
 */
export async function startBullmqTarget(options: {
  callTimeoutMs: number;
  /** Calls the benchmark keeps in flight; each waiting call adds listeners. */
  inFlight: number;
}): Promise<BenchTarget> {
  const redis = await startRedisServer();
  const connection = {
    host: redis.host,
    port: redis.port,
    maxRetriesPerRequest: null,
  };
  const queueName = `bench-noop-${process.pid}-${Date.now()}`;

  const queue = new Queue<NoopData, number>(queueName, { connection });
  const events = new QueueEvents(queueName, { connection });
  // Each waiting call listens on the queue and on the events object, so the
  // default limit of 10 listeners would warn at 64 calls in flight.
  queue.setMaxListeners(options.inFlight + 10);
  events.setMaxListeners(options.inFlight + 10);

  const worker = new Worker<NoopData, number>(
    queueName,
    async (job) => job.data.x,
    { connection, concurrency: WORKER_CONCURRENCY },
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.allSettled([worker.close(), events.close(), queue.close()]);
      await redis.stop();
    })();
    return stopping;
  };

  try {
    await Promise.all([
      queue.waitUntilReady(),
      events.waitUntilReady(),
      worker.waitUntilReady(),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    versions: { bullmq: packageVersion("bullmq"), redis: redis.version },
    call: async (index) => {
      const job = await queue.add(JOB_NAME, { x: index });
      return job.waitUntilFinished(events, options.callTimeoutMs);
    },
    stop,
  };
}

function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  const manifest = require(`${name}/package.json`) as { version: string };
  return manifest.version;
}
