import { encodeValue } from "../schemas/values.ts";
import { OutcomeCollector, ValueStream } from "./call-results.ts";
import { defaultCallClient } from "./default-client.ts";
import { ensureReady, type WaitReadyOptions, waitReady } from "./deploy.ts";
import { OptionError } from "./errors.ts";
import { FunctionCall } from "./function-call.ts";
import { callerSite } from "./module-path.ts";
import {
  type FunctionOptions,
  isAsyncGeneratorFunction,
  resolveFunctionOptions,
} from "./options.ts";
import { functionRegistry, type RegisteredFunction } from "./runtime-hooks.ts";

/** Return type of `remote()`: a stream for a generator handler, else a Promise. */
export type RemoteResult<Result> =
  Result extends AsyncGenerator<infer Item, unknown, unknown>
    ? AsyncIterable<Item>
    : Promise<Awaited<Result>>;

/** Result type of the FunctionCall that `spawn()` returns. */
export type SpawnedCall<Result> =
  Result extends AsyncGenerator<infer Item, unknown, unknown>
    ? FunctionCall<Item[], Item>
    : FunctionCall<Awaited<Result>, Awaited<Result>>;

/**
 * A function defined with `chalkcompute.function`. Calling it runs the
 * handler locally; `remote()` runs it on a worker.
 */
export type RemoteFunction<Args extends unknown[], Result> = ((
  ...args: Args
) => Result) & {
  /** Name the function is deployed and called under. */
  readonly name: string;
  /** Runs the handler on a worker and returns its result or stream of values. */
  remote(...args: Args): RemoteResult<Result>;
  /** Starts a call; resolves with its FunctionCall once the queue stored it. */
  spawn(...args: Args): Promise<SpawnedCall<Result>>;
  /** Deploys the defining module if needed and waits until a replica serves. */
  waitReady(options?: WaitReadyOptions): Promise<void>;
};

/**
 * Defines a remote function. The name is `options.name`, else the handler's
 * own name. Throws OptionError for an invalid name or option.
 *
 * @example
 * export const add = chalkcompute.function(function add(x: number, y: number) {
 *   return x + y;
 * });
 * await add.remote(3, 5); // 8, computed by a worker
 */
export function defineFunction<Args extends unknown[], Result>(
  handler: (...args: Args) => Result,
): RemoteFunction<Args, Result>;
export function defineFunction<Args extends unknown[], Result>(
  options: FunctionOptions,
  handler: (...args: Args) => Result,
): RemoteFunction<Args, Result>;
export function defineFunction(
  first: unknown,
  second?: unknown,
): RemoteFunction<unknown[], unknown> {
  if (second === undefined && typeof first !== "function") {
    throw new OptionError(
      "chalkcompute.function takes a handler function, or options and a " +
        `handler, got ${describeArgument(first)}`,
    );
  }
  const [options, handler] =
    typeof first === "function" && second === undefined
      ? [undefined, first]
      : [first, second];
  const resolved = resolveFunctionOptions(options, handler);
  const site = callerSite(defineFunction);

  const entry: RegisteredFunction = {
    name: resolved.name,
    handler: handler as (...args: unknown[]) => unknown,
    generator: isAsyncGeneratorFunction(handler),
    modulePath: site.path,
    definedAt: site.location,
    concurrency: resolved.concurrency,
    timeoutSeconds: resolved.timeoutSeconds,
    compute: resolved.compute,
    policies: resolved.policies,
  };
  register(entry);
  return makeRemoteFunction(entry);
}

function register(entry: RegisteredFunction): void {
  const registry = functionRegistry();
  const existing = registry.get(entry.name);
  // A module evaluated again (after a reload) replaces its own definitions;
  // the same name from another module, or from another line of the same
  // module, is a conflict.
  const sameModule = existing?.modulePath === entry.modulePath;
  if (
    existing &&
    sameModule &&
    existing.definedAt &&
    entry.definedAt &&
    existing.definedAt !== entry.definedAt
  ) {
    throw new OptionError(
      `function name ${JSON.stringify(entry.name)} is defined twice in ` +
        `${entry.modulePath || "this module"} (at ${existing.definedAt} and ` +
        `${entry.definedAt}). Pass a different { name } to one of them`,
    );
  }
  if (existing && !sameModule) {
    throw new OptionError(
      `function name ${JSON.stringify(entry.name)} is already defined in ` +
        `${existing.modulePath || "an unknown module"}; ` +
        `${entry.modulePath || "this module"} defines it again. Pass a ` +
        "different { name } to one of them",
    );
  }
  registry.set(entry.name, entry);
}

function describeArgument(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null)
    return "an options object only";
  return String(value);
}

function makeRemoteFunction(
  entry: RegisteredFunction,
): RemoteFunction<unknown[], unknown> {
  const local = (...args: unknown[]) => entry.handler(...args);
  Object.defineProperty(local, "name", { value: entry.name });

  const members = {
    remote: (...args: unknown[]) =>
      entry.generator ? streamRemote(entry, args) : callRemote(entry, args),
    spawn: (...args: unknown[]) => spawnRemote(entry, args),
    waitReady: (options?: WaitReadyOptions) => waitReady(entry, options),
  };
  return Object.assign(local, members) as RemoteFunction<unknown[], unknown>;
}

async function callRemote(
  entry: RegisteredFunction,
  args: unknown[],
): Promise<unknown> {
  const bytes = encodeValue(args, "args");
  await ensureReady(entry);

  const collector = new OutcomeCollector();
  await defaultCallClient().submit(entry.name, bytes, collector);
  const outcome = await collector.promise;
  return outcome.kind === "result" ? outcome.value : outcome.values;
}

function streamRemote(
  entry: RegisteredFunction,
  args: unknown[],
): AsyncIterable<unknown> {
  // Encoding before returning makes a bad argument throw at the call site.
  const bytes = encodeValue(args, "args");
  const stream = new ValueStream<unknown>();

  const start = async () => {
    await ensureReady(entry);
    const client = defaultCallClient();
    stream.onStop(() => client.removeListener(stream));
    await client.submit(entry.name, bytes, stream);
  };
  start().catch((error: Error) => stream.onError(error));
  return stream;
}

async function spawnRemote(
  entry: RegisteredFunction,
  args: unknown[],
): Promise<FunctionCall> {
  const bytes = encodeValue(args, "args");
  await ensureReady(entry);

  const callId = await defaultCallClient().submit(entry.name, bytes);
  return new FunctionCall(callId);
}
