/**
 * The `chalkcompute` package: define functions, call them remotely, stream
 * their values and fetch stored calls by id.
 *
 * @example
 * import * as chalkcompute from "chalkcompute";
 *
 * export const add = chalkcompute.function(function add(x: number, y: number) {
 *   return x + y;
 * });
 * await add.remote(3, 5); // 8
 */

export { ValueError } from "../schemas/values.ts";
export { CallClient, type ChunkListener } from "./call-client.ts";
export { type GatewayConfig, resolveConfig } from "./config.ts";
export {
  defineFunction,
  defineFunction as function,
  type RemoteFunction,
  type RemoteResult,
  type SpawnedCall,
} from "./define-function.ts";
export {
  type DeployedFunction,
  deployModule,
  type WaitReadyOptions,
} from "./deploy.ts";
export {
  BuildError,
  ConfigError,
  DeployError,
  HttpError,
  NotFoundError,
  OptionError,
  PlacementError,
  RemoteError,
  TimeoutError,
} from "./errors.ts";
export {
  type CallStatus,
  FunctionCall,
  type GetOptions,
} from "./function-call.ts";
export { Image } from "./image.ts";
export type { FunctionOptions } from "./options.ts";
export {
  ConcurrencyPolicy,
  type ExponentialRetryOptions,
  type LinearRetryOptions,
  RateLimitPolicy,
  RetryPolicy,
} from "./policies.ts";
export { Secret } from "./secret.ts";
export { WebSocketChannel } from "./websocket-channel.ts";
