/**
 * The fleet agent: connects out to a chalkcompute gateway and runs replicas
 * of the deployed functions as worker processes or containers.
 */
export type { AgentOptions, FleetAgent } from "./agent.ts";
export { startAgent } from "./agent.ts";
export type { RestartBackoffOptions } from "./backoff.ts";
export type {
  ReplicaExit,
  ReplicaHandle,
  ReplicaLaunch,
  Runtime,
} from "./runtime/runtime.ts";
export type { RuntimeChoice } from "./runtime/select-runtime.ts";
