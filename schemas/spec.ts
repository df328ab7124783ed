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
