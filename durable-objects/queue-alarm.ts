/**
 * Timed work of a FunctionQueue: deadlines, lease checks of replicas
 * without a link, retry backoffs, rate-limit waits and retention. All of it is keyed by due times in
 * SQLite, so running it twice, or before anything is due, changes nothing
 * more than one timely run.
 */
import { errorFields } from "./logger.ts";
import {
  failCall,
  LEASE_GRACE_MS,
  type Outbox,
  type QueueContext,
  queueError,
  RETENTION_MS,
  recoverLostCall,
  retryFailedAttempt,
} from "./queue-context.ts";

/** Runs whatever is due at `queue.now()`. */
export function runDueWork(queue: QueueContext, outbox: Outbox): void {
  const nowMs = queue.now();
  queue.transaction(() => {
    failExpiredCalls(queue, outbox, nowMs);
    checkLeases(queue, outbox, nowMs);
    const released = queue.store.releaseDueRetries(nowMs);
    if (released > 0) queue.log.debug("retries due", { released });
    for (const key of ["rate_wait_ms", "permit_wait_ms"] as const) {
      const dueMs = queue.store.waitUntil(key);
      if (dueMs !== null && dueMs <= nowMs) queue.store.setWaitUntil(key, null);
    }
    const deleted = queue.store.deleteFinishedBefore(nowMs - RETENTION_MS);
    if (deleted > 0) queue.log.info("finished calls deleted", { deleted });
  });
}

function failExpiredCalls(
  queue: QueueContext,
  outbox: Outbox,
  nowMs: number,
): void {
  for (const call of queue.store.expiredCalls(nowMs)) {
    const lateMs = nowMs - (call.deadlineMs ?? nowMs);
    const error = queueError(
      "deadlineExceeded",
      "DeadlineExceededError",
      `call ${call.callId} attempt ${call.attempt} on replica ${call.replica} passed its deadline (${lateMs} ms ago)`,
    );
    if (!retryFailedAttempt(queue, call, error)) {
      failCall(queue, outbox, call, error);
    }
  }
}

/**
 * Starts a grace period for each replica that has running calls but has
 * no open link, and recovers its calls once the period is over. A link
 * that connects in time cancels the check.
 */
export function checkLeases(
  queue: QueueContext,
  outbox: Outbox,
  nowMs: number,
): void {
  const linked = new Set(queue.sockets.links().map((l) => l.state.replica));
  const checks = queue.store.leaseChecks();
  const running = queue.store.runningCalls();
  const leased = new Set(running.map((call) => call.replica ?? ""));

  for (const [replica] of checks) {
    if (!leased.has(replica) || linked.has(replica)) {
      queue.store.removeLeaseCheck(replica);
    }
  }
  for (const call of running) {
    const replica = call.replica ?? "";
    if (linked.has(replica)) continue;

    const dueMs = checks.get(replica);
    if (dueMs === undefined) {
      queue.store.addLeaseCheck(replica, nowMs + LEASE_GRACE_MS);
      checks.set(replica, nowMs + LEASE_GRACE_MS);
      queue.log.info("lease check started", { replica, callId: call.callId });
    } else if (dueMs <= nowMs) {
      recoverLostCall(
        queue,
        outbox,
        call,
        `replica had no link for ${LEASE_GRACE_MS / 1000} s`,
      );
      queue.store.removeLeaseCheck(replica);
    }
  }
}

/**
 * Keeps the single alarm at the earliest due time. `current` is the alarm
 * time this object last set. Returns the time now set, or null when nothing
 * is due.
 *
 * It does not await the storage call, so a WebSocket handler that calls it
 * runs to completion without yielding, and frames of one socket never
 * interleave. The output gate still delays outgoing messages until the
 * alarm change is stored.
 */
export function scheduleAlarm(
  queue: QueueContext,
  storage: DurableObjectStorage,
  current: number | null,
): number | null {
  // Due times carry fractions of a millisecond (jittered backoff), but alarms
  // fire on whole milliseconds. Rounding up makes the alarm fire at or after
  // the due time. With a fractional time, retries sometimes never fired
  // (seen with workerd 1.20260426): the alarm ran just before the due time and
  // the same time set again from inside the handler did not fire.
  const next = queue.store.nextDueMs(RETENTION_MS);
  const due = next === null ? null : Math.ceil(next);
  if (due === current) return due;

  const change = due === null ? storage.deleteAlarm() : storage.setAlarm(due);
  change.catch((error: unknown) => {
    queue.log.error("alarm change failed", { due, ...errorFields(error) });
  });
  return due;
}
