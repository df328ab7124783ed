/**
 * Handling of replica links: AgentFrames (hello, credits, chunks, draining)
 * and the loss of a link.
 */
import type { AgentFrame, Chunk, LinkHello } from "../schemas/frames.ts";
import {
  type Outbox,
  type QueueContext,
  recoverLostCall,
  storeChunk,
} from "./queue-context.ts";
import type { Link } from "./queue-sockets.ts";

/**
 * Applies one AgentFrame in one transaction: hello reconciliation, credits,
 * draining and chunks. The caller saves the link state and flushes the
 * outbox afterwards.
 */
export function handleAgentFrame(
  queue: QueueContext,
  outbox: Outbox,
  link: Link,
  frame: AgentFrame,
): void {
  queue.transaction(() => {
    if (frame.hello) reconcileHello(queue, outbox, link, frame.hello);
    link.state.credits += frame.credits;
    if (frame.draining && !link.state.draining) {
      link.state.draining = true;
      queue.log.info("replica draining", {
        replica: link.state.replica,
        agent: link.state.agent,
        version: link.state.version,
      });
    }
    for (const chunk of frame.chunks) acceptChunk(queue, outbox, link, chunk);
  });
}

/**
 * Sets the link's credits to its free slots and recovers calls leased to
 * the replica that it does not report as running.
 */
function reconcileHello(
  queue: QueueContext,
  outbox: Outbox,
  link: Link,
  hello: LinkHello,
): void {
  link.state.credits = hello.freeSlots;
  queue.store.removeLeaseCheck(link.state.replica);

  const running = new Set(hello.running);
  for (const call of queue.store.runningCalls(link.state.replica)) {
    if (!running.has(call.callId)) {
      recoverLostCall(queue, outbox, call, "missing from the replica's hello");
    }
  }
}

/**
 * Stores a chunk of a running call leased to this replica with the same
 * attempt; chunks of other attempts, replicas or finished calls are stale.
 */
function acceptChunk(
  queue: QueueContext,
  outbox: Outbox,
  link: Link,
  chunk: Chunk,
): void {
  const call = queue.store.call(chunk.callId);
  const current =
    call !== null &&
    call.status === "running" &&
    call.replica === link.state.replica &&
    call.attempt === chunk.attempt;
  if (!current) {
    queue.log.debug("stale chunk dropped", {
      callId: chunk.callId,
      attempt: chunk.attempt,
      replica: link.state.replica,
      status: call?.status ?? "unknown",
      currentAttempt: call?.attempt ?? 0,
    });
    return;
  }

  storeChunk(queue, outbox, call, chunk);
  if (chunk.kind === "error") {
    queue.log.info("call raised", {
      callId: call.callId,
      attempt: call.attempt,
      code: chunk.error.code,
      type: chunk.error.type,
    });
  }
}

/**
 * Recovers the calls leased to the replica of a closed link, unless another
 * link of the same replica is open: a reconnect that raced the close.
 */
export function handleLinkClosed(
  queue: QueueContext,
  outbox: Outbox,
  closed: Link,
  reason: string,
): void {
  const replica = closed.state.replica;
  const others = queue.sockets
    .links(closed.socket)
    .filter((link) => link.state.replica === replica);
  queue.log.info("link closed", {
    replica,
    agent: closed.state.agent,
    reason,
    replaced: others.length > 0,
  });
  if (others.length > 0) return;

  queue.transaction(() => {
    for (const call of queue.store.runningCalls(replica)) {
      recoverLostCall(queue, outbox, call, `link closed: ${reason}`);
    }
  });
}
