/**
 * Retry decisions of a FunctionQueue: which failed attempts are retried
 * under the function's RetrySpec, and how long each retry waits.
 */
import type { Code, ErrorInfo } from "../schemas/frames.ts";
import type { RetrySpec } from "../schemas/spec.ts";

/** Error codes of infrastructure failures, retried under any policy. */
const TRANSIENT_CODES: ReadonlySet<Code> = new Set<Code>([
  "unavailable",
  "deadlineExceeded",
  "resourceExhausted",
  "aborted",
]);

/** Returns true when an error code marks an infrastructure failure. */
export function isTransient(code: Code): boolean {
  return TRANSIENT_CODES.has(code);
}

/**
 * Returns true when the policy retries this error: every infrastructure
 * failure, and an application error when `retryOn` is empty or names the
 * error's class or one of its base classes (`typeChain`).
 */
export function matchesRetryOn(policy: RetrySpec, error: ErrorInfo): boolean {
  if (isTransient(error.code)) return true;
  if (error.code !== "application") return false;
  if (policy.retryOn.length === 0) return true;

  const chain = error.typeChain.length > 0 ? error.typeChain : [error.type];
  return chain.some((type) => policy.retryOn.includes(type));
}

/**
 * Returns the wait in milliseconds before the retry that follows failed
 * attempt `attempt` (1 for the first try). Exponential waits are
 * `initial * multiplier^(attempt-1)`, capped at `maxWait`; linear waits are
 * `delay`. With jitter the wait is scaled by a factor drawn uniformly from
 * [0.5, 1), so it never exceeds the un-jittered wait nor falls below half
 * of it. `random` returns a number in [0, 1).
 */
export function backoffMs(
  policy: RetrySpec,
  attempt: number,
  random: () => number = Math.random,
): number {
  const seconds =
    policy.kind === "exponential"
      ? Math.min(
          policy.initialSeconds * policy.multiplier ** (attempt - 1),
          policy.maxWaitSeconds,
        )
      : policy.delaySeconds;
  const factor = policy.jitter ? 0.5 + 0.5 * random() : 1;
  return seconds * 1000 * factor;
}

/** Outcome of a failed attempt: a retry after a wait, or failure with a reason. */
export type RetryDecision =
  | { retry: true; waitMs: number }
  | { retry: false; reason: string };

/**
 * Decides whether a failed attempt is retried. A call that already sent a
 * chunk is never retried, because the caller may have seen its values.
 * `attempt` is the number of attempts started, the failed one included.
 */
export function decideRetry(
  policy: RetrySpec,
  failure: { attempt: number; chunkCount: number; error: ErrorInfo },
  random: () => number = Math.random,
): RetryDecision {
  if (failure.chunkCount > 0) {
    return { retry: false, reason: "the call already streamed a value" };
  }
  if (!matchesRetryOn(policy, failure.error)) {
    return { retry: false, reason: `${failure.error.type} is not in retryOn` };
  }
  if (failure.attempt >= 1 + policy.attempts) {
    return {
      retry: false,
      reason: `all ${policy.attempts} retries are used`,
    };
  }
  return { retry: true, waitMs: backoffMs(policy, failure.attempt, random) };
}
