/**
 * Handling of replica links: AgentFrames (hello, credits, chunks, draining)
 * and the loss of a link.
 */
import type { Ack, AgentFrame, Chunk, LinkHello } from "../schemas/frames.ts";
import {
  LEASE_GRACE_MS,
  type Outbox,
  type QueueContext,
  recoverLostCall,
  retryFailedAttempt,
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
  const acks = new Map<string, Ack>();
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
    if (frame.hello) promoteServingVersion(queue, link);
    for (const chunk of frame.chunks) {
      const ack = acceptChunk(queue, outbox, link, chunk);
      acks.set(`${ack.callId}#${ack.attempt}`, ack);
    }
  });
  outbox.ack(link.socket, [...acks.values()]);
}

/** `Ack.nextSeq` telling the agent to forget every chunk of an attempt. */
export const FORGET_ALL = 0xffff_ffff;

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
  link.state.helloed = true;
  queue.store.removeLeaseCheck(link.state.replica);

  const running = new Set(hello.running);
  for (const call of queue.store.runningCalls(link.state.replica)) {
    if (!running.has(call.callId)) {
      recoverLostCall(queue, outbox, call, "missing from the replica's hello");
    }
  }
}

/**
 * Makes the link's version the serving version once a non-draining link of
 * the configured version sent hello. Until then calls keep going to the
 * links of the version served before.
 */
function promoteServingVersion(queue: QueueContext, link: Link): void {
  const config = queue.store.config();
  if (!config || link.state.draining) return;
  if (link.state.version !== config.version) return;

  const serving = queue.store.servingVersion();
  if (serving !== null && serving >= link.state.version) return;
  queue.store.setServingVersion(link.state.version);
  queue.log.info("serving version changed", {
    from: serving,
    to: link.state.version,
    replica: link.state.replica,
  });
}

/**
 * Stores a chunk of a running call leased to this replica with the same
 * attempt, if its seq is the next one; a lower seq is a copy resent after a
 * reconnect. Chunks of other attempts, replicas or finished calls are stale.
 * Returns the acknowledgement for the agent.
 */
function acceptChunk(
  queue: QueueContext,
  outbox: Outbox,
  link: Link,
  chunk: Chunk,
): Ack {
  const ack = { callId: chunk.callId, attempt: chunk.attempt, nextSeq: 0 };
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
    return { ...ack, nextSeq: FORGET_ALL };
  }
  if (chunk.seq !== call.chunkCount) {
    // Lower: a copy the queue stored before. Higher: a gap, which an ordered
    // link never produces; the agent resends from `nextSeq` on its next connect.
    if (chunk.seq > call.chunkCount) {
      queue.log.error("chunk after a gap dropped", {
        callId: chunk.callId,
        seq: chunk.seq,
        expected: call.chunkCount,
      });
    }
    return { ...ack, nextSeq: call.chunkCount };
  }

  // A retried attempt's error is not stored: the agent forgets its chunks
  // and the call waits in the queue for its backoff to end.
  if (chunk.kind === "error" && retryFailedAttempt(queue, call, chunk.error)) {
    return { ...ack, nextSeq: FORGET_ALL };
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
  return { ...ack, nextSeq: call.chunkCount };
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
  closedByAgent: boolean,
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

  // An agent that closed its link on purpose is done with the replica. Any
  // other close (a network failure, a killed agent) may be followed by a
  // reconnect whose `hello` continues the calls, so it gets the lease grace.
  if (!closedByAgent) {
    if (queue.store.runningCalls(replica).length > 0) {
      queue.store.addLeaseCheck(replica, queue.now() + LEASE_GRACE_MS);
    }
    return;
  }
  queue.transaction(() => {
    for (const call of queue.store.runningCalls(replica)) {
      recoverLostCall(queue, outbox, call, `link closed: ${reason}`);
    }
  });
}
