import type { Env } from "../durable-objects/env.ts";

/** Hono's environment type for the gateway: the Worker bindings. */
export type GatewayEnv = { Bindings: Env };
