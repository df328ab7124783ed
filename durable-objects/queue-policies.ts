/**
 * Dispatch under the policies that live in other Durable Objects: permits
 * of a shared concurrency key (Semaphore) and rate-limit tokens
 * (RateLimiter). A call starts only with both, taken in bulk per round.
 */
import type { FunctionSpec } from "../schemas/spec.ts";
import { errorFields } from "./logger.ts";
import type { QueueContext } from "./queue-context.ts";
import { capacity, type StartRequest, startCalls } from "./queue-dispatch.ts";
import type { TokenGrant, TokenRequest } from "./rate-limiter.ts";
import { PER_MS } from "./rate-limiter.ts";
import type { PermitHolder, PermitRequest } from "./semaphore.ts";

/** How often a queue renews the leases of the permits it holds. */
export const PERMIT_RENEW_MS = 20_000;

/**
 * How long a queue that got fewer permits than it requested waits before
 * it requests again, in case the Semaphore's wake-up is lost.
 */
export const PERMIT_RETRY_MS = 5_000;

/** The RPCs of the Semaphore and RateLimiter objects a queue uses. */
export interface PolicyServices {
  acquire(key: string, request: PermitRequest): Promise<PermitHolder[]>;
  release(key: string, queue: string, holders: PermitHolder[]): Promise<number>;
  renew(key: string, queue: string, holders: PermitHolder[]): Promise<number>;
  take(limiter: string, request: TokenRequest): Promise<TokenGrant>;
}

/** Returns true when dispatch of the function needs a Semaphore or RateLimiter. */
export function usesPolicyObjects(spec: FunctionSpec): boolean {
  return spec.concurrencyKey !== undefined || spec.rateLimit !== undefined;
}

/** Returns the RateLimiter name of a function: its key, else its own name. */
export function limiterName(spec: FunctionSpec): string {
  const key = spec.rateLimit?.key ?? "";
  return key === "" ? `fn:${spec.name}` : `key:${key}`;
}

/**
 * Runs one round: picks the queued calls the links have room for, takes
 * permits and then tokens for them, and starts those that got both.
 * Permits left without a token or a start are released. Returns the
 * number of calls started.
 */
export async function dispatchRound(
  queue: QueueContext,
  services: PolicyServices,
): Promise<number> {
  const config = queue.store.config();
  if (!config) return 0;
  const spec = config.spec;
  if (queue.store.waitUntil("rate_wait_ms") !== null) return 0;

  const { slots } = capacity(queue, config);
  if (slots === 0) return 0;
  const queued = queue.store.queuedCalls(slots);
  if (queued.length === 0) return 0;

  let requests: StartRequest[] = queued.map((call) => ({
    callId: call.callId,
    attempt: call.attempt + 1,
  }));
  const key = spec.concurrencyKey;
  if (key !== undefined) {
    requests = await services.acquire(key, {
      queue: spec.name,
      max: spec.concurrency,
      holders: requests,
    });
    if (requests.length < queued.length) {
      queue.store.setWaitUntil("permit_wait_ms", queue.now() + PERMIT_RETRY_MS);
    }
  }

  let unused: StartRequest[] = [];
  if (spec.rateLimit && requests.length > 0) {
    const grant = await services.take(limiterName(spec), {
      count: requests.length,
      rate: spec.rateLimit.rate,
      windowMs: PER_MS[spec.rateLimit.per],
    });
    const granted = grant.grantedAtMs.length;
    unused = requests.slice(granted);
    requests = requests.slice(0, granted);
    if (grant.nextFreeMs !== null) {
      queue.store.setWaitUntil("rate_wait_ms", grant.nextFreeMs);
    }
  }

  const started = startCalls(queue, requests, key !== undefined);
  if (started.length < requests.length) {
    // Tokens of calls that did not start are spent: that only lowers the rate.
    const startedIds = new Set(started.map((s) => `${s.callId}#${s.attempt}`));
    unused.push(
      ...requests.filter((r) => !startedIds.has(`${r.callId}#${r.attempt}`)),
    );
  }
  if (key !== undefined && unused.length > 0) {
    await services.release(key, spec.name, unused);
  }
  if (started.length > 0 && key !== undefined) {
    if (queue.store.waitUntil("permit_renew_ms") === null) {
      queue.store.setWaitUntil(
        "permit_renew_ms",
        queue.now() + PERMIT_RENEW_MS,
      );
    }
  }
  return started.length;
}

/**
 * Releases the permits of attempts that ended (finished, requeued or
 * waiting for a retry). A release that fails leaves the permit to expire.
 */
export async function releaseEndedPermits(
  queue: QueueContext,
  services: PolicyServices,
): Promise<void> {
  const ended = queue.store.takeEndedPermits();
  if (ended.length === 0) return;
  const spec = queue.store.config()?.spec;
  if (!spec?.concurrencyKey) return;

  try {
    await services.release(spec.concurrencyKey, spec.name, ended);
  } catch (error) {
    queue.log.error("permit release failed", {
      key: spec.concurrencyKey,
      permits: ended.length,
      ...errorFields(error),
    });
  }
}

/** Renews the leases of every permit the queue holds, when due. */
export async function renewPermits(
  queue: QueueContext,
  services: PolicyServices,
): Promise<void> {
  const dueMs = queue.store.waitUntil("permit_renew_ms");
  if (dueMs === null || dueMs > queue.now()) return;

  const permits = queue.store.permits();
  const spec = queue.store.config()?.spec;
  if (permits.length === 0 || !spec?.concurrencyKey) {
    queue.store.setWaitUntil("permit_renew_ms", null);
    return;
  }
  queue.store.setWaitUntil("permit_renew_ms", queue.now() + PERMIT_RENEW_MS);
  const renewed = await services.renew(spec.concurrencyKey, spec.name, permits);
  if (renewed < permits.length) {
    queue.log.warn("permits lost before renewal", {
      key: spec.concurrencyKey,
      held: permits.length,
      renewed,
    });
  }
}
