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
  if (typeof s.bundleHash !== "string" || !SHA256_HEX.test(s.bundleHash)) {
    problems.push("bundleHash must be 64 lowercase hex digits (sha256)");
  }
  problems.push(...validateComputeFields(s));
  problems.push(...validatePolicyFields(s));
  return problems;
}

/** Returns the problems of the dispatch policy fields (retries, rateLimit, concurrencyKey). */
export function validatePolicyFields(s: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (s.retries !== undefined) problems.push(...validateRetries(s.retries));
  if (s.rateLimit !== undefined) {
    problems.push(...validateRateLimit(s.rateLimit));
  }
  if (
    s.concurrencyKey !== undefined &&
    (typeof s.concurrencyKey !== "string" || s.concurrencyKey.trim() === "")
  ) {
    problems.push(
      `concurrencyKey must be a non-empty string, got ${JSON.stringify(s.concurrencyKey)}`,
    );
  }
  return problems;
}

function validateRetries(retries: unknown): string[] {
  if (!isRecord(retries)) {
    return [
      `retries must be a retry policy object, got ${JSON.stringify(retries)}`,
    ];
  }
  const problems: string[] = [];
  if (retries.kind !== "exponential" && retries.kind !== "linear") {
    problems.push(
      `retries.kind must be "exponential" or "linear", got ${JSON.stringify(retries.kind)}`,
    );
  }
  if (!Number.isInteger(retries.attempts) || (retries.attempts as number) < 0) {
    problems.push(
      `retries.attempts must be an integer >= 0, got ${JSON.stringify(retries.attempts)}`,
    );
  }
  for (const field of ["initialSeconds", "maxWaitSeconds", "delaySeconds"]) {
    const value = retries[field];
    if (typeof value !== "number" || !(value >= 0) || value === Infinity) {
      problems.push(
        `retries.${field} must be a number >= 0, got ${JSON.stringify(value)}`,
      );
    }
  }
  if (typeof retries.multiplier !== "number" || !(retries.multiplier >= 1)) {
    problems.push(
      `retries.multiplier must be a number >= 1, got ${JSON.stringify(retries.multiplier)}`,
    );
  }
  if (typeof retries.jitter !== "boolean") {
    problems.push("retries.jitter must be a boolean");
  }
  if (
    !Array.isArray(retries.retryOn) ||
    !retries.retryOn.every((name) => typeof name === "string" && name !== "")
  ) {
    problems.push("retries.retryOn must be an array of error class names");
  }
  return problems;
}

function validateRateLimit(rateLimit: unknown): string[] {
  if (!isRecord(rateLimit)) {
    return [
      `rateLimit must be {"rate", "per", "key"}, got ${JSON.stringify(rateLimit)}`,
    ];
  }
  const problems: string[] = [];
  if (!Number.isInteger(rateLimit.rate) || (rateLimit.rate as number) < 1) {
    problems.push(
      `rateLimit.rate must be an integer >= 1, got ${JSON.stringify(rateLimit.rate)}`,
    );
  }
  if (!["second", "minute", "hour"].includes(rateLimit.per as string)) {
    problems.push(
      `rateLimit.per must be "second", "minute" or "hour", got ${JSON.stringify(rateLimit.per)}`,
    );
  }
  if (typeof rateLimit.key !== "string") {
    problems.push(
      `rateLimit.key must be a string ("" for a per-function limit), got ${JSON.stringify(rateLimit.key)}`,
    );
  }
  return problems;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Rule for secret group names: 1-63 letters, digits, `_`, `-` or `.`. */
export const SECRET_GROUP_PATTERN = /^[A-Za-z0-9_.-]{1,63}$/;

/** Prefix of the group holding a function's `Secret.fromEnv` values. */
export const ENV_SECRET_GROUP_PREFIX = "env.";

/** Rule for the names of secret variables, which become environment variables. */
export const SECRET_VARIABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Rule for volume names: Docker's rule for local volumes (at least 2 characters), capped at 63. */
export const VOLUME_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{1,62}$/;

/** Rule for GPU models: lowercase, e.g. "nvidia-l4" or "nvidia-h100". */
export const GPU_MODEL_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Largest CPU limit a spec may ask for, in cores. */
export const MAX_CPU = 256;

/** Smallest memory limit a spec may ask for: 16 MiB. */
export const MIN_MEMORY_BYTES = 16 * 1024 * 1024;

/**
 * Returns an error message for an invalid secret group name, or null. The
 * group `env.<functionName>` is valid for every function name, even one
 * that makes it longer than 63 characters.
 */
export function checkSecretGroupName(group: unknown): string | null {
  if (typeof group === "string" && SECRET_GROUP_PATTERN.test(group)) {
    return null;
  }
  if (
    typeof group === "string" &&
    group.startsWith(ENV_SECRET_GROUP_PREFIX) &&
    FUNCTION_NAME_PATTERN.test(group.slice(ENV_SECRET_GROUP_PREFIX.length))
  ) {
    return null;
  }
  return (
    `secret group name ${JSON.stringify(group)} is invalid: use 1-63 ` +
    "letters, digits, '_', '-' or '.'"
  );
}

/** Returns the problems of the compute fields (image, resources, secrets, volumes). */
export function validateComputeFields(s: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (s.image !== undefined) problems.push(...validateImage(s.image));
  if (s.cpu !== undefined) {
    const cpu = s.cpu;
    if (typeof cpu !== "number" || !(cpu > 0) || cpu > MAX_CPU) {
      problems.push(
        `cpu must be a number of cores in (0, ${MAX_CPU}], got ${JSON.stringify(cpu)}`,
      );
    }
  }
  if (s.memoryBytes !== undefined) {
    const memory = s.memoryBytes;
    if (
      !Number.isSafeInteger(memory) ||
      (memory as number) < MIN_MEMORY_BYTES
    ) {
      problems.push(
        `memoryBytes must be an integer >= ${MIN_MEMORY_BYTES} (16 MiB), got ${JSON.stringify(memory)}`,
      );
    }
  }
  if (s.gpu !== undefined) problems.push(...validateGpu(s.gpu));
  if (s.secrets !== undefined) {
    problems.push(...validateSecrets(s.secrets, String(s.name)));
  }
  if (s.volumes !== undefined) problems.push(...validateVolumes(s.volumes));
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function validateGpu(gpu: unknown): string[] {
  if (!isRecord(gpu)) {
    return [
      `gpu must be {"model": "nvidia-l4", "count": 1}, got ${JSON.stringify(gpu)}`,
    ];
  }
  const problems: string[] = [];
  if (typeof gpu.model !== "string" || !GPU_MODEL_PATTERN.test(gpu.model)) {
    problems.push(
      `gpu.model must be a lowercase model like "nvidia-l4", got ${JSON.stringify(gpu.model)}`,
    );
  }
  if (!Number.isSafeInteger(gpu.count) || (gpu.count as number) < 1) {
    problems.push(
      `gpu.count must be an integer >= 1, got ${JSON.stringify(gpu.count)}`,
    );
  }
  return problems;
}

function validateSecrets(secrets: unknown, functionName: string): string[] {
  if (!Array.isArray(secrets)) {
    return [
      `secrets must be an array of group names, got ${JSON.stringify(secrets)}`,
    ];
  }
  const problems: string[] = [];
  const ownEnvGroup = `${ENV_SECRET_GROUP_PREFIX}${functionName}`;
  secrets.forEach((group: unknown, i) => {
    const problem = checkSecretGroupName(group);
    if (problem) {
      problems.push(`secrets[${i}]: ${problem}`);
    } else if (
      (group as string).startsWith(ENV_SECRET_GROUP_PREFIX) &&
      group !== ownEnvGroup
    ) {
      // Each env.<name> group holds one function's Secret.fromEnv values.
      problems.push(
        `secrets[${i}]: group ${JSON.stringify(group)} holds another function's Secret.fromEnv values; a function may name only its own ${JSON.stringify(ownEnvGroup)}`,
      );
    }
  });
  return problems;
}

/** Mount paths the agent uses itself, which a volume must not cover. */
const RESERVED_MOUNT_PATHS = ["/chalkcompute", "/tmp"];

function validateVolumes(volumes: unknown): string[] {
  if (!Array.isArray(volumes)) {
    return [
      `volumes must be an array of {"name", "mountPath"}, got ${JSON.stringify(volumes)}`,
    ];
  }
  const problems: string[] = [];
  const mountPaths = new Set<string>();
  volumes.forEach((volume: unknown, i) => {
    const label = `volumes[${i}]`;
    if (!isRecord(volume)) {
      problems.push(`${label} must be {"name", "mountPath"}`);
      return;
    }
    if (
      typeof volume.name !== "string" ||
      !VOLUME_NAME_PATTERN.test(volume.name)
    ) {
      problems.push(
        `${label}.name ${JSON.stringify(volume.name)} is invalid: use 2-63 ` +
          "letters, digits, '_', '.' or '-', starting with a letter or digit",
      );
    }
    const pathProblem = checkTargetPath(volume.mountPath, true);
    if (pathProblem) {
      problems.push(`${label}.mountPath ${pathProblem}`);
    } else if (mountPaths.has(volume.mountPath as string)) {
      problems.push(
        `${label}.mountPath ${volume.mountPath} is mounted twice; give each volume its own path`,
      );
    }
    if (typeof volume.mountPath === "string") mountPaths.add(volume.mountPath);
  });
  return problems;
}

/** Returns why `path` is not a usable absolute path, or null. */
function checkAbsolutePath(path: unknown): string | null {
  if (typeof path !== "string" || !path.startsWith("/")) {
    return `must be an absolute path like "/models", got ${JSON.stringify(path)}`;
  }
  if (path.split("/").some((part) => part === "..")) {
    return `must not contain "..", got ${JSON.stringify(path)}`;
  }
  if (/[\0\n]/.test(path)) {
    return `must not contain NUL or a line break, got ${JSON.stringify(path)}`;
  }
  return null;
}

/** Returns why `path` cannot be a mount point or file path, or null. */
function checkTargetPath(path: unknown, forMount: boolean): string | null {
  const problem = checkAbsolutePath(path);
  if (problem) return problem;
  if (path === "/") return 'must be a path below "/", got "/"';
  const reserved = RESERVED_MOUNT_PATHS.find(
    (root) => path === root || (path as string).startsWith(`${root}/`),
  );
  if (forMount && reserved) {
    return `must not be ${reserved} or below it, where the replica's own files live, got ${JSON.stringify(path)}`;
  }
  // Docker's volume syntax separates name, path and options with ':'.
  if (forMount && (path as string).includes(":")) {
    return `must not contain ':', got ${JSON.stringify(path)}`;
  }
  return null;
}

function validateImage(image: unknown): string[] {
  if (!isRecord(image)) {
    return [`image must be an object with base, commands, env and files`];
  }
  const problems: string[] = [];
  if (typeof image.base !== "string" || image.base.trim() === "") {
    problems.push(
      `image.base must be a non-empty image reference like "node:22-slim", got ${JSON.stringify(image.base)}`,
    );
  }
  if (
    !Array.isArray(image.commands) ||
    !image.commands.every((command) => typeof command === "string")
  ) {
    problems.push("image.commands must be an array of strings");
  }
  if (
    !isRecord(image.env) ||
    !Object.values(image.env).every((value) => typeof value === "string")
  ) {
    problems.push('image.env must be an object of strings, like {"A": "1"}');
  } else {
    for (const key of Object.keys(image.env)) {
      if (!SECRET_VARIABLE_PATTERN.test(key)) {
        problems.push(
          `image.env name ${JSON.stringify(key)} is invalid: use letters, digits and '_', not starting with a digit`,
        );
      }
    }
  }
  if (image.workdir !== undefined) {
    const problem = checkAbsolutePath(image.workdir);
    if (problem) problems.push(`image.workdir ${problem}`);
  }
  if (!Array.isArray(image.files)) {
    problems.push('image.files must be an array of {"hash", "path", "mode"}');
  } else {
    image.files.forEach((file: unknown, i) => {
      problems.push(...validateImageFile(file, `image.files[${i}]`));
    });
  }
  return problems;
}

function validateImageFile(file: unknown, label: string): string[] {
  if (!isRecord(file)) return [`${label} must be {"hash", "path", "mode"}`];
  const problems: string[] = [];
  if (typeof file.hash !== "string" || !SHA256_HEX.test(file.hash)) {
    problems.push(`${label}.hash must be 64 lowercase hex digits (sha256)`);
  }
  const pathProblem = checkTargetPath(file.path, false);
  if (pathProblem) problems.push(`${label}.path ${pathProblem}`);
  if (
    !Number.isInteger(file.mode) ||
    (file.mode as number) < 0 ||
    (file.mode as number) > 0o7777
  ) {
    problems.push(
      `${label}.mode must be a permission integer in [0, 0o7777], got ${JSON.stringify(file.mode)}`,
    );
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
