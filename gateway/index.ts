/**
 * Worker entry of chalkcompute: the gateway app plus the Durable Object
 * classes that wrangler.toml binds.
 */
import type { Env } from "../durable-objects/env.ts";
import { createApp } from "./app.ts";

export { Catalog } from "../durable-objects/catalog.ts";
export { Fleet } from "../durable-objects/fleet.ts";
export { FunctionLogs } from "../durable-objects/function-logs.ts";
export { FunctionQueue } from "../durable-objects/function-queue.ts";
export { RateLimiter } from "../durable-objects/rate-limiter.ts";
export { SecretStore } from "../durable-objects/secret-store.ts";
export { Semaphore } from "../durable-objects/semaphore.ts";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
