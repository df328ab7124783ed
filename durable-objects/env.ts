import type { Catalog } from "./catalog.ts";
import type { Fleet } from "./fleet.ts";
import type { FunctionLogs } from "./function-logs.ts";
import type { FunctionQueue } from "./function-queue.ts";
import type { RateLimiter } from "./rate-limiter.ts";
import type { SecretStore } from "./secret-store.ts";
import type { Semaphore } from "./semaphore.ts";

/** Bindings of the gateway Worker and its Durable Objects (see wrangler.toml). */
export interface Env {
  FUNCTION_QUEUE: DurableObjectNamespace<FunctionQueue>;
  CATALOG: DurableObjectNamespace<Catalog>;
  FLEET: DurableObjectNamespace<Fleet>;
  SECRET_STORE: DurableObjectNamespace<SecretStore>;
  FUNCTION_LOGS: DurableObjectNamespace<FunctionLogs>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  SEMAPHORE: DurableObjectNamespace<Semaphore>;
  BUNDLES: R2Bucket;
  /** Bearer token every route requires. */
  CHALKCOMPUTE_TOKEN: string;
  /** Token of fleet agents; when set, the only one agent routes accept. */
  CHALKCOMPUTE_AGENT_TOKEN?: string;
  /** AES-GCM key of stored secrets: base64 of 32 bytes. */
  CHALKCOMPUTE_SECRETS_KEY?: string;
}

/** Name of the single Catalog object. */
export const CATALOG_NAME = "catalog";

/** Name of the single Fleet object. */
export const FLEET_NAME = "fleet";

/** Name of the single SecretStore object. */
export const SECRET_STORE_NAME = "secrets";

/** Returns the stub of a function's queue. */
export function queueStub(
  env: Env,
  functionName: string,
): DurableObjectStub<FunctionQueue> {
  return env.FUNCTION_QUEUE.get(env.FUNCTION_QUEUE.idFromName(functionName));
}

/** Returns the stub of the Catalog. */
export function catalogStub(env: Env): DurableObjectStub<Catalog> {
  return env.CATALOG.get(env.CATALOG.idFromName(CATALOG_NAME));
}

/** Returns the stub of the Fleet. */
export function fleetStub(env: Env): DurableObjectStub<Fleet> {
  return env.FLEET.get(env.FLEET.idFromName(FLEET_NAME));
}

/** Returns the stub of the SecretStore. */
export function secretStoreStub(env: Env): DurableObjectStub<SecretStore> {
  return env.SECRET_STORE.get(env.SECRET_STORE.idFromName(SECRET_STORE_NAME));
}

/** Returns the stub of a function's log store. */
export function logsStub(
  env: Env,
  functionName: string,
): DurableObjectStub<FunctionLogs> {
  return env.FUNCTION_LOGS.get(env.FUNCTION_LOGS.idFromName(functionName));
}
