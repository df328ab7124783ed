/**
 * Dispatch of queued calls to replica links by credits, under the
 * function's concurrency cap.
 */
import { encodeQueueFrame, type Run } from "../schemas/frames.ts";
import type { QueueContext } from "./queue-context.ts";
import { type Link, trySend } from "./queue-sockets.ts";

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
 * Starts as many queued calls as the concurrency cap and the credits of
 * current-version, non-draining links allow, sending one QueueFrame per
 * link. Returns the number of calls started.
 */
export function dispatch(queue: QueueContext): number {
  const config = queue.store.config();
  if (!config) return 0;

  const room = config.spec.concurrency - queue.store.countByStatus("running");
  if (room <= 0) return 0;
  const links = queue.sockets
    .links()
    .filter(
      (link) =>
        link.state.version === config.version &&
        !link.state.draining &&
        link.state.credits > 0,
    );
  const credits = links.map((link) => link.state.credits);
  const totalCredits = credits.reduce((sum, n) => sum + n, 0);
  if (totalCredits === 0) return 0;
  const queued = queue.store.queuedCalls(Math.min(room, totalCredits));
  if (queued.length === 0) return 0;

  const plan = planDispatch(queued.length, credits);
  const nowMs = queue.now();
  const deadlineMs = nowMs + config.spec.timeoutSeconds * 1000;
  const runs = new Map<Link, Run[]>();
  queue.transaction(() => {
    plan.forEach((linkIndex, i) => {
      const call = queued[i];
      const link = links[linkIndex];
      if (!call || !link) return;
      queue.store.markRunning(call.callId, {
        replica: link.state.replica,
        version: link.state.version,
        nowMs,
        deadlineMs,
      });
      link.state.credits -= 1;
      const list = runs.get(link) ?? [];
      list.push({
        callId: call.callId,
        attempt: call.attempt + 1,
        args: call.args,
        deadlineMs,
        parentCallId: call.parentCallId,
        traceContext: call.traceContext,
      });
      runs.set(link, list);
    });
  });

  for (const [link, list] of runs) {
    queue.sockets.saveLink(link);
    trySend(link.socket, encodeQueueFrame({ runs: list, acks: [] }));
    queue.log.info("calls started", {
      replica: link.state.replica,
      agent: link.state.agent,
      calls: list.map((run) => `${run.callId}#${run.attempt}`),
    });
  }
  return plan.length;
}
