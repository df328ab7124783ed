/**
 * Dispatch of queued calls to replica links by credits, under the
 * function's concurrency cap, to links of the serving version.
 */
import { encodeQueueFrame, type Run } from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";
import {
  failCall,
  Outbox,
  type QueueContext,
  queueError,
} from "./queue-context.ts";
import { type Link, trySend } from "./queue-sockets.ts";
import type { CallRow, QueueConfig } from "./queue-store.ts";

/**
 * Assigns `count` calls to links with the given credits, each call to the
 * link with the most credits left so that work spreads over replicas.
 * Returns the link index of each call; it is shorter than `count` when the
 * credits run out.
 */
export function planDispatch(count: number, credits: number[]): number[] {
  const left = [...credits];
  const plan: number[] = [];
  for (let i = 0; i < count; i++) {
    let best = -1;
    for (let j = 0; j < left.length; j++) {
      if (
        (left[j] ?? 0) > 0 &&
        (best < 0 || (left[j] ?? 0) > (left[best] ?? 0))
      )
        best = j;
    }
    if (best < 0) break;
    plan.push(best);
    left[best] = (left[best] ?? 0) - 1;
  }
  return plan;
}

/**
 * Returns the concurrency key of a function as call chains carry it in
 * `heldKeys`: `key:<key>` for a shared key, else `fn:<name>`.
 */
export function heldKeyOf(spec: FunctionSpec): string {
  return spec.concurrencyKey ? `key:${spec.concurrencyKey}` : `fn:${spec.name}`;
}

/**
 * Returns the deadlock error of a call whose calling chain holds every
 * permit of the function's concurrency key, or null. Those ancestors wait
 * for this call, so it would never get a permit.
 */
export function deadlockError(spec: FunctionSpec, heldKeys: string[]) {
  const key = heldKeyOf(spec);
  const held = heldKeys.filter((k) => k === key).length;
  if (held < spec.concurrency) return null;

  const option = spec.concurrencyKey
    ? `ConcurrencyPolicy({ maxConcurrent }) of key "${spec.concurrencyKey}"`
    : `concurrency of ${spec.name}`;
  return queueError(
    "failedPrecondition",
    "DeadlockError",
    `call of ${spec.name} needs a permit of concurrency key ${key} that its own calling chain holds (${held} of cap ${spec.concurrency}), so it would wait forever; raise the ${option}`,
  );
}

/**
 * Returns the version calls are dispatched to: the configured version once
 * one of its links sent hello, else the version served before.
 */
export function servingVersion(queue: QueueContext, config: QueueConfig) {
  const serving = queue.store.servingVersion();
  return serving === null || serving > config.version
    ? config.version
    : serving;
}

/** Links that can take runs now, and how many calls may start. */
interface Capacity {
  links: Link[];
  slots: number;
}

/** Returns the links with credits and the number of calls that may start. */
export function capacity(queue: QueueContext, config: QueueConfig): Capacity {
  const version = servingVersion(queue, config);
  const room = config.spec.concurrency - queue.store.countByStatus("running");
  const links = queue.sockets
    .links()
    .filter(
      (link) =>
        link.state.version === version &&
        !link.state.draining &&
        link.state.credits > 0,
    );
  const credits = links.reduce((sum, link) => sum + link.state.credits, 0);
  return { links, slots: Math.max(0, Math.min(room, credits)) };
}

/**
 * Starts as many queued calls as the concurrency cap and the credits of
 * serving, non-draining links allow. Used when the function needs no
 * Semaphore or RateLimiter. Returns the number of calls started.
 */
export function dispatch(queue: QueueContext): number {
  const config = queue.store.config();
  if (!config) return 0;

  const { slots } = capacity(queue, config);
  if (slots === 0) return 0;
  const queued = queue.store.queuedCalls(slots);
  const holders = queued.map((call) => ({
    callId: call.callId,
    attempt: call.attempt + 1,
  }));
  return startCalls(queue, holders, false).length;
}

/** A call attempt to start. */
export interface StartRequest {
  callId: string;
  /** The attempt number the run gets, one more than the stored attempt. */
  attempt: number;
}

/**
 * Starts the requested attempts that are still queued and dispatchable on
 * links with credits, in order, and sends one QueueFrame per link. Calls
 * whose chain holds every permit of their key fail as deadlocked instead.
 * With `permitted`, each started attempt is recorded as holding a
 * Semaphore permit. Returns the requests that started.
 */
export function startCalls(
  queue: QueueContext,
  requests: StartRequest[],
  permitted: boolean,
): StartRequest[] {
  const config = queue.store.config();
  if (!config || requests.length === 0) return [];

  const outbox = new Outbox();
  const started: StartRequest[] = [];
  const runs = new Map<Link, Run[]>();
  queue.transaction(() => {
    const { links, slots } = capacity(queue, config);
    const calls = requests
      .map((request) => queue.store.call(request.callId))
      .filter((call, i): call is CallRow => isStartable(call, requests[i]))
      .filter((call) => !failIfDeadlocked(queue, outbox, config, call))
      .slice(0, slots);
    const plan = planDispatch(
      calls.length,
      links.map((link) => link.state.credits),
    );
    const nowMs = queue.now();
    const deadlineMs = nowMs + config.spec.timeoutSeconds * 1000;
    const ownKey = heldKeyOf(config.spec);
    plan.forEach((linkIndex, i) => {
      const call = calls[i];
      const link = links[linkIndex];
      if (!call || !link) return;
      queue.store.markRunning(call.callId, {
        replica: link.state.replica,
        version: link.state.version,
        nowMs,
        deadlineMs,
      });
      const attempt = call.attempt + 1;
      if (permitted) queue.store.addPermit({ callId: call.callId, attempt });
      started.push({ callId: call.callId, attempt });
      link.state.credits -= 1;
      const list = runs.get(link) ?? [];
      list.push({
        callId: call.callId,
        attempt,
        args: call.args,
        deadlineMs,
        parentCallId: call.parentCallId,
        traceContext: call.traceContext,
        heldKeys: [...call.heldKeys, ownKey],
      });
      runs.set(link, list);
    });
  });

  outbox.flush(queue.sockets);
  for (const [link, list] of runs) {
    queue.sockets.saveLink(link);
    const acks = queue.pendingAcks?.get(link.socket) ?? [];
    queue.pendingAcks?.delete(link.socket);
    trySend(link.socket, encodeQueueFrame({ runs: list, acks }));
    queue.log.info("calls started", {
      replica: link.state.replica,
      agent: link.state.agent,
      calls: list.map((run) => `${run.callId}#${run.attempt}`),
    });
  }
  return started;
}

function isStartable(
  call: CallRow | null,
  request: StartRequest | undefined,
): boolean {
  return (
    call !== null &&
    request !== undefined &&
    call.status === "queued" &&
    call.retryDueMs === null &&
    call.attempt + 1 === request.attempt
  );
}

function failIfDeadlocked(
  queue: QueueContext,
  outbox: Outbox,
  config: QueueConfig,
  call: CallRow,
): boolean {
  const error = deadlockError(config.spec, call.heldKeys);
  if (!error) return false;
  failCall(queue, outbox, call, error);
  return true;
}
