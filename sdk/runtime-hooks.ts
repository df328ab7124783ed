/**
 * Process-wide state shared between copies of the SDK. A replica loads the
 * user's bundle, which carries its own copy of this SDK, next to the worker
 * runtime's copy. Both reach the same objects through `Symbol.for` keys on
 * `globalThis`. So the worker finds a function whichever copy defined it, and
 * a nested call goes through the agent whichever copy made it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { CallerFrame, ServerFrame } from "../schemas/frames.ts";
import type { ComputeOptions } from "./compute-options.ts";
import type { PolicyFields } from "./policies.ts";

/** A function registered by `chalkcompute.function`. */
export interface RegisteredFunction {
  name: string;
  handler: (...args: unknown[]) => unknown;
  /** True when the handler is an async generator function. */
  generator: boolean;
  /** Absolute path of the module that called `chalkcompute.function`, or "" if unknown. */
  modulePath: string;
  /** `line:column` of that call in the module, or "" if unknown. */
  definedAt?: string;
  /** Validated options, as they go into the FunctionSpec. */
  concurrency: number;
  timeoutSeconds: number;
  /** Image, resources, secrets and volumes; absent or empty means the defaults. */
  compute?: ComputeOptions;
  /** Retry, rate-limit and shared concurrency key fields; absent means none. */
  policies?: PolicyFields;
}

/**
 * A bidirectional pipe of caller frames: a WebSocket to the gateway in a
 * script, the gRPC stream to the agent inside a replica.
 */
export interface FrameChannel {
  /** Sends one frame; callers coalesce what they produce in one tick. */
  send(frame: CallerFrame): void;
  /** Sets the receiver of frames from the queues. */
  onFrame(handler: (frame: ServerFrame) => void): void;
  /**
   * Sets the handler run after the pipe was re-established: it must resubmit
   * unacknowledged submits and resubscribe every open call.
   */
  onReconnect(handler: () => void): void;
  /** Closes the pipe; safe to call twice. */
  close(): void;
}

/** The call a replica is executing, visible to nested calls made from it. */
export interface CallContext {
  callId: string;
  traceContext: string;
  /** Concurrency keys whose permits this call and its ancestors hold. */
  heldKeys?: string[];
}

const REGISTRY_KEY = Symbol.for("chalkcompute.registry");
const CHANNEL_KEY = Symbol.for("chalkcompute.replicaChannel");
const CONTEXT_KEY = Symbol.for("chalkcompute.callContext");

type Globals = Record<symbol, unknown>;
const globals = globalThis as unknown as Globals;

/** Returns the process-wide registry of defined functions, by name. */
export function functionRegistry(): Map<string, RegisteredFunction> {
  let registry = globals[REGISTRY_KEY] as
    | Map<string, RegisteredFunction>
    | undefined;
  if (!registry) {
    registry = new Map();
    globals[REGISTRY_KEY] = registry;
  }
  return registry;
}

/** Installs the channel that nested calls use inside a replica. */
export function setReplicaChannel(channel: FrameChannel): void {
  globals[CHANNEL_KEY] = channel;
}

/** Returns the replica's channel to its agent, or undefined outside a replica. */
export function replicaChannel(): FrameChannel | undefined {
  return globals[CHANNEL_KEY] as FrameChannel | undefined;
}

/** Returns the storage that carries the running call through async work. */
export function callContextStorage(): AsyncLocalStorage<CallContext> {
  let storage = globals[CONTEXT_KEY] as
    | AsyncLocalStorage<CallContext>
    | undefined;
  if (!storage) {
    storage = new AsyncLocalStorage();
    globals[CONTEXT_KEY] = storage;
  }
  return storage;
}

/** Returns the call being executed by the current async context, if any. */
export function currentCall(): CallContext | undefined {
  return callContextStorage().getStore();
}
