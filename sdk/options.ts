import {
  checkFunctionName,
  DEFAULT_CONCURRENCY,
  DEFAULT_TIMEOUT_SECONDS,
  MAX_TIMEOUT_SECONDS,
} from "../schemas/spec.ts";
import {
  type ComputeOptions,
  resolveComputeOptions,
} from "./compute-options.ts";
import { OptionError } from "./errors.ts";
import type { Image } from "./image.ts";
import {
  type ConcurrencyPolicy,
  type PolicyFields,
  type RateLimitPolicy,
  type RetryPolicy,
  resolvePolicies,
} from "./policies.ts";
import type { Secret } from "./secret.ts";

/** Options of `chalkcompute.function`. */
export interface FunctionOptions {
  /** Function name; defaults to the handler's own name. */
  name?: string;
  /** Maximum calls running at once across the fleet, or a shared ConcurrencyPolicy; default 1. */
  concurrency?: number | ConcurrencyPolicy;
  /** Retries after a failure: a count (exponential backoff) or a RetryPolicy; default none. */
  retries?: number | RetryPolicy;
  /** Dispatches per second, or a RateLimitPolicy; default no limit. */
  rateLimit?: number | RateLimitPolicy;
  /** Deadline of one attempt in seconds, at most 86400; default 300. */
  timeout?: number;
  /** Container image; default the Node image with the worker runtime. */
  image?: Image;
  /** CPU limit in cores: 2, "2" or "0.5"; > 0 and <= 256. */
  cpu?: number | string;
  /** Memory limit: "512Mi", "4Gi", "1G" or bytes; at least 16Mi. */
  memory?: string | number;
  /** GPUs held exclusively by each replica: "nvidia-l4" or "nvidia-h100:2". */
  gpu?: string;
  /** Secrets passed to the replica as environment variables. */
  secrets?: Secret[];
  /** Named volumes as [name, mountPath] pairs, like [["model-cache", "/models"]]. */
  volumes?: [name: string, mountPath: string][];
}

/** Options after validation, with defaults applied. */
export interface ResolvedOptions {
  name: string;
  concurrency: number;
  timeoutSeconds: number;
  compute: ComputeOptions;
  /** Retry, rate-limit and shared concurrency key fields of the spec. */
  policies: PolicyFields;
}

const ACCEPTED_OPTIONS = [
  "name",
  "concurrency",
  "timeout",
  "image",
  "cpu",
  "memory",
  "gpu",
  "secrets",
  "volumes",
  "retries",
  "rateLimit",
] as const;

/**
 * Validates the options of a function definition and applies defaults.
 * Throws OptionError naming the option, the value and what is accepted.
 */
export function resolveFunctionOptions(
  options: unknown,
  handler: unknown,
): ResolvedOptions {
  if (typeof handler !== "function") {
    throw new OptionError(
      `handler must be a function, got ${describe(handler)}`,
    );
  }
  if (/^class[\s{]/.test(Function.prototype.toString.call(handler))) {
    throw new OptionError(
      `handler must be a function, got class ${handler.name || "(anonymous)"}; ` +
        "wrap it, e.g. (...args) => new MyClass().run(...args)",
    );
  }

  const record = checkOptionsObject(options);
  const name = resolveName(record.name, handler.name);
  const { concurrency, policies } = resolvePolicies(
    record,
    DEFAULT_CONCURRENCY,
  );
  const timeoutSeconds = resolveTimeout(record.timeout);
  const compute = resolveComputeOptions(record);

  return { name, concurrency, timeoutSeconds, compute, policies };
}

/** Returns true when `handler` is an async generator function. */
export function isAsyncGeneratorFunction(handler: unknown): boolean {
  return (
    typeof handler === "function" &&
    handler.constructor?.name === "AsyncGeneratorFunction"
  );
}

function checkOptionsObject(options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (
    typeof options !== "object" ||
    options === null ||
    Array.isArray(options)
  ) {
    throw new OptionError(
      `options must be an object, got ${describe(options)}`,
    );
  }

  const accepted: readonly string[] = ACCEPTED_OPTIONS;
  for (const key of Object.keys(options)) {
    if (!accepted.includes(key)) {
      throw new OptionError(
        `unknown option ${JSON.stringify(key)}; accepted options are ` +
          ACCEPTED_OPTIONS.join(", "),
      );
    }
  }
  return options as Record<string, unknown>;
}

function resolveName(option: unknown, handlerName: string): string {
  if (option === undefined && !handlerName) {
    throw new OptionError(
      'function has no name: pass { name: "..." } as the first argument ' +
        "or use a named function expression",
    );
  }

  const name = option === undefined ? handlerName : option;
  const problem = checkFunctionName(name);
  if (problem) {
    const origin = option === undefined ? " (taken from the handler)" : "";
    throw new OptionError(`${problem}${origin}`);
  }
  return name as string;
}

function resolveTimeout(option: unknown): number {
  if (option === undefined) return DEFAULT_TIMEOUT_SECONDS;
  if (
    typeof option !== "number" ||
    !(option > 0) ||
    option > MAX_TIMEOUT_SECONDS
  ) {
    throw new OptionError(
      `timeout must be a number of seconds > 0 and <= ${MAX_TIMEOUT_SECONDS}, ` +
        `got ${describe(option)}`,
    );
  }
  return option;
}

function describe(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return `${value}n`;
  if (value === undefined) return "undefined";
  if (typeof value === "number") return String(value);
  return JSON.stringify(value) ?? String(value);
}
