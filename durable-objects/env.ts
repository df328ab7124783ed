import type { Catalog } from "./catalog.ts";
import type { Fleet } from "./fleet.ts";
import type { FunctionQueue } from "./function-queue.ts";

/** Bindings of the gateway Worker and its Durable Objects (see wrangler.toml). */
export interface Env {
  FUNCTION_QUEUE: DurableObjectNamespace<FunctionQueue>;
  CATALOG: DurableObjectNamespace<Catalog>;
  FLEET: DurableObjectNamespace<Fleet>;
  BUNDLES: R2Bucket;
  /** Bearer token every route requires. */
  CHALKCOMPUTE_TOKEN: string;
}

/** Name of the single Catalog object. */
export const CATALOG_NAME = "catalog";

/** Name of the single Fleet object. */
export const FLEET_NAME = "fleet";

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
