/**
 * Dispatch policies of a function: retries with backoff, rate limits and
 * concurrency limits shared by key. Each validates its values when it is
 * built and becomes fields of the deployed FunctionSpec.
 */
import type { RateLimitSpec, RetrySpec } from "../schemas/spec.ts";
import { OptionError } from "./errors.ts";

/** An error class, or its name, that a retry policy retries. */
export type RetryOnEntry = string | (abstract new (...args: never[]) => Error);

/** Options of `RetryPolicy.exponential`; times in seconds. */
export interface ExponentialRetryOptions {
  /** Retries after the first try; default 3. */
  attempts?: number;
  /** Wait before the first retry; default 1.0. */
  initial?: number;
  /** Factor between consecutive waits, at least 1; default 2.0. */
  multiplier?: number;
  /** Upper bound of one wait; default 60.0. */
  maxWait?: number;
  /** Scale each wait by a random factor in [0.5, 1); default true. */
  jitter?: boolean;
  /** Error classes or class names that are retried; default every error. */
  retryOn?: RetryOnEntry[];
}

/** Options of `RetryPolicy.linear`; times in seconds. */
export interface LinearRetryOptions {
  /** Retries after the first try; default 3. */
  attempts?: number;
  /** Wait before each retry; default 1.0. */
  delay?: number;
  /** Scale each wait by a random factor in [0.5, 1); default false. */
  jitter?: boolean;
  /** Error classes or class names that are retried; default every error. */
  retryOn?: RetryOnEntry[];
}

/**
 * A retry policy for failed calls. Infrastructure failures (a lost replica,
 * a passed deadline) are always retried under the policy; application
 * errors only when they match `retryOn`. A call that already streamed a
 * value is never retried.
 *
 * @example
 * chalkcompute.function(
 *   { retries: RetryPolicy.exponential({ attempts: 5, initial: 0.5 }) },
 *   async function fetchPage(url: string) { ... },
 * );
 */
export class RetryPolicy {
  private constructor(
    /** The policy as the queue stores it. */
    readonly spec: RetrySpec,
  ) {}

  /** Waits `initial * multiplier^(n-1)` seconds before retry n, capped at `maxWait`. */
  static exponential(options: ExponentialRetryOptions = {}): RetryPolicy {
    const label = "RetryPolicy.exponential";
    const multiplier = options.multiplier ?? 2.0;
    if (typeof multiplier !== "number" || !(multiplier >= 1)) {
      throw new OptionError(
        `${label} multiplier must be a number >= 1, got ${describe(multiplier)}`,
      );
    }
    return new RetryPolicy({
      kind: "exponential",
      attempts: checkAttempts(label, options.attempts ?? 3),
      initialSeconds: checkWait(label, "initial", options.initial ?? 1.0),
      multiplier,
      maxWaitSeconds: checkWait(label, "maxWait", options.maxWait ?? 60.0),
      delaySeconds: 0,
      jitter: checkJitter(label, options.jitter ?? true),
      retryOn: retryOnNames(label, options.retryOn),
    });
  }

  /** Waits `delay` seconds before each retry. */
  static linear(options: LinearRetryOptions = {}): RetryPolicy {
    const label = "RetryPolicy.linear";
    return new RetryPolicy({
      kind: "linear",
      attempts: checkAttempts(label, options.attempts ?? 3),
      initialSeconds: 0,
      multiplier: 1,
      maxWaitSeconds: 0,
      delaySeconds: checkWait(label, "delay", options.delay ?? 1.0),
      jitter: checkJitter(label, options.jitter ?? false),
      retryOn: retryOnNames(label, options.retryOn),
    });
  }
}

/** Units of a rate limit. */
export type RatePer = RateLimitSpec["per"];

const RATE_UNITS: readonly RatePer[] = ["second", "minute", "hour"];

/**
 * At most `rate` dispatches in any window of one `per` unit. Functions
 * that name the same `key` share one limit; without a key each function
 * has its own.
 *
 * @example
 * const provider = new RateLimitPolicy({ rate: 1000, per: "minute", key: "provider-api" });
 */
export class RateLimitPolicy {
  /** The limit as the queue stores it; `key` is "" for a per-function limit. */
  readonly spec: RateLimitSpec;

  constructor(options: { rate: number; per?: RatePer; key?: string }) {
    const { rate, per = "second", key } = options ?? {};
    if (!Number.isInteger(rate) || rate < 1) {
      throw new OptionError(
        `RateLimitPolicy rate must be an integer >= 1, got ${describe(rate)}`,
      );
    }
    if (!RATE_UNITS.includes(per)) {
      throw new OptionError(
        `RateLimitPolicy per must be "second", "minute" or "hour", got ${describe(per)}`,
      );
    }
    this.spec = { rate, per, key: checkKey("RateLimitPolicy", key) ?? "" };
  }
}

/**
 * At most `maxConcurrent` calls running at once. Functions that name the
 * same `key` share the permits; without a key the cap is per function.
 *
 * @example
 * const gpuPool = new ConcurrencyPolicy({ maxConcurrent: 4, key: "gpu-pool" });
 */
export class ConcurrencyPolicy {
  /** Maximum calls running at once for the key. */
  readonly maxConcurrent: number;
  /** Shared key, or undefined for a per-function cap. */
  readonly key: string | undefined;

  constructor(options: { maxConcurrent: number; key?: string }) {
    const { maxConcurrent, key } = options ?? {};
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new OptionError(
        `ConcurrencyPolicy maxConcurrent must be an integer >= 1, got ${describe(maxConcurrent)}`,
      );
    }
    this.maxConcurrent = maxConcurrent;
    this.key = checkKey("ConcurrencyPolicy", key);
  }
}

/** The FunctionSpec fields of a function's dispatch policies; absent means none. */
export interface PolicyFields {
  retries?: RetrySpec;
  rateLimit?: RateLimitSpec;
  concurrencyKey?: string;
}

/**
 * Resolves the `retries`, `rateLimit` and `concurrency` options into the
 * spec's cap and policy fields. Throws OptionError on an invalid value.
 */
export function resolvePolicies(
  options: Record<string, unknown>,
  defaultCap: number,
): { concurrency: number; policies: PolicyFields } {
  const { concurrency, concurrencyKey } = resolveConcurrencyPolicy(
    options.concurrency,
    defaultCap,
  );
  const policies: PolicyFields = {};
  const retries = resolveRetries(options.retries);
  const rateLimit = resolveRateLimit(options.rateLimit);
  if (retries) policies.retries = retries;
  if (rateLimit) policies.rateLimit = rateLimit;
  if (concurrencyKey !== undefined) policies.concurrencyKey = concurrencyKey;
  return { concurrency, policies };
}

/** Spec fields of the `retries` option: a count or a RetryPolicy. */
export function resolveRetries(option: unknown): RetrySpec | undefined {
  if (option === undefined) return undefined;
  if (option instanceof RetryPolicy) return option.spec;
  if (typeof option === "number") {
    checkAttempts("retries", option);
    return RetryPolicy.exponential({ attempts: option }).spec;
  }
  throw new OptionError(
    `retries must be an integer >= 0 or a RetryPolicy, got ${describe(option)}`,
  );
}

/** Spec field of the `rateLimit` option: calls per second or a RateLimitPolicy. */
export function resolveRateLimit(option: unknown): RateLimitSpec | undefined {
  if (option === undefined) return undefined;
  if (option instanceof RateLimitPolicy) return option.spec;
  if (typeof option === "number") {
    if (!Number.isInteger(option) || option < 1) {
      throw new OptionError(
        `rateLimit must be an integer >= 1 (calls per second), got ${describe(option)}`,
      );
    }
    return new RateLimitPolicy({ rate: option }).spec;
  }
  throw new OptionError(
    `rateLimit must be an integer >= 1 or a RateLimitPolicy, got ${describe(option)}`,
  );
}

/** Spec fields of the `concurrency` option: a cap or a ConcurrencyPolicy. */
export function resolveConcurrencyPolicy(
  option: unknown,
  defaultCap: number,
): { concurrency: number; concurrencyKey?: string } {
  if (option === undefined) return { concurrency: defaultCap };
  if (option instanceof ConcurrencyPolicy) {
    return option.key === undefined
      ? { concurrency: option.maxConcurrent }
      : { concurrency: option.maxConcurrent, concurrencyKey: option.key };
  }
  if (!Number.isInteger(option) || (option as number) < 1) {
    throw new OptionError(
      `concurrency must be an integer >= 1, got ${describe(option)}; or pass a ConcurrencyPolicy`,
    );
  }
  return { concurrency: option as number };
}

function checkAttempts(label: string, attempts: unknown): number {
  if (!Number.isInteger(attempts) || (attempts as number) < 0) {
    throw new OptionError(
      `${label} attempts must be an integer >= 0, got ${describe(attempts)}`,
    );
  }
  return attempts as number;
}

function checkWait(label: string, option: string, seconds: unknown): number {
  if (typeof seconds !== "number" || !(seconds >= 0) || seconds === Infinity) {
    throw new OptionError(
      `${label} ${option} must be a number of seconds >= 0, got ${describe(seconds)}`,
    );
  }
  return seconds;
}

function checkJitter(label: string, jitter: unknown): boolean {
  if (typeof jitter !== "boolean") {
    throw new OptionError(
      `${label} jitter must be true or false, got ${describe(jitter)}`,
    );
  }
  return jitter;
}

function checkKey(label: string, key: unknown): string | undefined {
  if (key === undefined) return undefined;
  if (typeof key !== "string" || key.trim() === "") {
    throw new OptionError(
      `${label} key must be a non-empty string, got ${describe(key)}; omit it for a per-function limit`,
    );
  }
  return key;
}

function retryOnNames(label: string, retryOn: unknown): string[] {
  if (retryOn === undefined) return [];
  if (!Array.isArray(retryOn)) {
    throw new OptionError(
      `${label} retryOn must be an array of error classes or names, got ${describe(retryOn)}`,
    );
  }
  return retryOn.map((entry: unknown, i) => {
    const name =
      typeof entry === "function" ? entry.name : (entry as string | undefined);
    if (typeof name !== "string" || name === "") {
      throw new OptionError(
        `${label} retryOn[${i}] must be an error class or a non-empty class name, got ${describe(entry)}`,
      );
    }
    return name;
  });
}

function describe(value: unknown): string {
  if (typeof value === "function") return `function ${value.name}`;
  if (value === undefined) return "undefined";
  if (typeof value === "number") return String(value);
  return JSON.stringify(value) ?? String(value);
}
