/**
 * The deployed description of a function, shared by the SDK (which builds
 * it), the gateway and Durable Objects (which store and validate it) and the
 * agent (which runs it). It travels as JSON because it is also what the
 * HTTP API returns.
 */
export interface FunctionSpec {
  name: string;
  /** True for an async generator handler: calls stream `value` chunks. */
  generator: boolean;
  /** Maximum calls of this function running at once, across the fleet. */
  concurrency: number;
  /** Deadline of one attempt, in seconds. */
  timeoutSeconds: number;
  /** Path of the defining module relative to the deployer's working directory, for display. */
  module: string;
  /** sha256 hex of the bundle that defines the function. */
  bundleHash: string;

  // Compute environment. Absent fields mean the default.
  /** Container image; absent means the default Node image with the worker runtime. */
  image?: ImageSpec;
  /** CPU limit in cores, e.g. 0.5 or 2. */
  cpu?: number;
  /** Memory limit in bytes. */
  memoryBytes?: number;
  /** GPUs the replica needs, exclusively. */
  gpu?: GpuSpec;
  /** Names of secret groups whose variables the replica gets as environment variables. */
  secrets?: string[];
  /** Named volumes mounted into the replica. */
  volumes?: VolumeSpec[];

  // Dispatch policies. Absent fields mean the default.
  /** Retry policy; absent means no retries. */
  retries?: RetrySpec;
  /** Rate limit; absent means none. */
  rateLimit?: RateLimitSpec;
  /** Semaphore key shared with other functions; absent means the function's own name. */
  concurrencyKey?: string;
}

/** A container image: a base reference plus build steps, keyed by its hash. */
export interface ImageSpec {
  base: string;
  /** Shell commands run in order, each as one RUN step. */
  commands: string[];
  env: Record<string, string>;
  workdir?: string;
  /** Local files added to the image: content in the blob store under `hash`. */
  files: { hash: string; path: string; mode: number }[];
}

/** GPU model (lowercase, e.g. "nvidia-l4") and count. */
export interface GpuSpec {
  model: string;
  count: number;
}

/** A named volume and where it is mounted. */
export interface VolumeSpec {
  name: string;
  mountPath: string;
}

/** A retry policy in seconds; `attempts` counts retries after the first try. */
export interface RetrySpec {
  kind: "exponential" | "linear";
  attempts: number;
  initialSeconds: number;
  multiplier: number;
  maxWaitSeconds: number;
  delaySeconds: number;
  jitter: boolean;
  /** Error class names that may be retried; empty means every error. */
  retryOn: string[];
}

/** At most `rate` dispatches per `per`, in the bucket named `key`. */
export interface RateLimitSpec {
  rate: number;
  per: "second" | "minute" | "hour";
  key: string;
}

/** Name rule for functions: it also becomes part of call ids and URLs. */
export const FUNCTION_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;

export const DEFAULT_CONCURRENCY = 1;
export const DEFAULT_TIMEOUT_SECONDS = 300;
export const MAX_TIMEOUT_SECONDS = 24 * 60 * 60;

/** Returns an error message for an invalid function name, or null. */
export function checkFunctionName(name: unknown): string | null {
  if (typeof name !== "string" || !FUNCTION_NAME_PATTERN.test(name)) {
    return (
      `function name ${JSON.stringify(name)} is invalid: use 1-63 letters, ` +
      "digits, '_' or '-', starting with a letter or '_'"
    );
  }
  return null;
}

/** Returns the problems of a spec received over the network; empty when valid. */
export function validateSpec(spec: unknown): string[] {
  if (typeof spec !== "object" || spec === null)
    return ["spec must be an object"];
  const s = spec as Record<string, unknown>;
  const problems: string[] = [];
  const nameProblem = checkFunctionName(s.name);
  if (nameProblem) problems.push(nameProblem);
  if (typeof s.generator !== "boolean")
    problems.push("generator must be a boolean");
  if (!Number.isInteger(s.concurrency) || (s.concurrency as number) < 1) {
    problems.push(
      `concurrency must be an integer >= 1, got ${JSON.stringify(s.concurrency)}`,
    );
  }
  const timeout = s.timeoutSeconds as number;
  if (
    typeof timeout !== "number" ||
    !(timeout > 0) ||
    timeout > MAX_TIMEOUT_SECONDS
  ) {
    problems.push(
      `timeoutSeconds must be a number in (0, ${MAX_TIMEOUT_SECONDS}], got ${JSON.stringify(s.timeoutSeconds)}`,
    );
  }
  if (typeof s.module !== "string") problems.push("module must be a string");
  if (
    typeof s.bundleHash !== "string" ||
    !/^[0-9a-f]{64}$/.test(s.bundleHash)
  ) {
    problems.push("bundleHash must be 64 lowercase hex digits (sha256)");
  }
  return problems;
}

const CALL_ID_PREFIX = "fc-";
const CALL_ID_UNIQUE_LENGTH = 26;

/**
 * Builds a call id. The function name is part of it so that any gateway can
 * route `GET /v1/calls/{id}` to the right queue without a lookup.
 */
export function formatCallId(unique: string, functionName: string): string {
  return `${CALL_ID_PREFIX}${unique}-${functionName}`;
}

/** Returns the function name inside a call id, or null if the id is malformed. */
export function functionOfCallId(callId: string): string | null {
  if (!callId.startsWith(CALL_ID_PREFIX)) return null;
  const rest = callId.slice(CALL_ID_PREFIX.length);
  if (
    rest.length < CALL_ID_UNIQUE_LENGTH + 2 ||
    rest[CALL_ID_UNIQUE_LENGTH] !== "-"
  )
    return null;
  const name = rest.slice(CALL_ID_UNIQUE_LENGTH + 1);
  return checkFunctionName(name) === null ? name : null;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Returns a 26-character ULID: time-ordered, then random. */
export function ulid(now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const byte of random) tail += CROCKFORD[byte % 32];
  return time + tail;
}
