/**
 * Context shared by the FunctionQueue modules: storage, sockets, clock and logger,
 * plus the limits of the queue section of docs/architecture.md.
 */
import type { Ack, Chunk, ErrorInfo, ServerFrame } from "../schemas/frames.ts";
import { encodeQueueFrame, encodeServerFrame } from "../schemas/frames.ts";
import type { Logger } from "./logger.ts";
import { decideRetry } from "./queue-retry.ts";
import { type QueueSockets, trySend } from "./queue-sockets.ts";
import type { CallRow, QueueStore } from "./queue-store.ts";

/**
 * Executions of one call before a lost replica makes it fail, when the
 * function has no retry policy.
 */
export const MAX_ATTEMPTS = 4;

/** How long a running call's replica may have no link before requeue. */
export const LEASE_GRACE_MS = 10_000;

/** How long finished calls and their chunks are kept. */
export const RETENTION_MS = 24 * 60 * 60 * 1000;

/** State and services of one FunctionQueue, passed to its modules. */
export interface QueueContext {
  store: QueueStore;
  sockets: QueueSockets;
  /** Runs `body` as one SQLite transaction. */
  transaction<T>(body: () => T): T;
  now(): number;
  /** Returns a number in [0, 1), for retry jitter. */
  random(): number;
  log: Logger;
  /**
   * Chunk acknowledgements waiting for the next frame to their link, so
   * that dispatch can send them with the link's runs in one message.
   */
  pendingAcks?: Map<WebSocket, Ack[]>;
}

/**
 * ServerFrames to send once the transaction that produced them committed,
 * one frame per caller connection.
 */
export class Outbox {
  private readonly frames = new Map<string, ServerFrame>();
  private readonly linkAcks = new Map<WebSocket, Ack[]>();

  private frame(connId: string): ServerFrame {
    let frame = this.frames.get(connId);
    if (!frame) {
      frame = { accepted: [], rejected: [], chunks: [] };
      this.frames.set(connId, frame);
    }
    return frame;
  }

  /** Adds an acknowledgement of a stored submit. */
  accept(connId: string, idempotencyKey: string, callId: string): void {
    this.frame(connId).accepted.push({ idempotencyKey, callId });
  }

  /** Adds a rejected submit (`idempotencyKey`) or subscribe (`callId`). */
  reject(
    connId: string,
    target: { idempotencyKey?: string; callId?: string },
    error: ErrorInfo,
  ): void {
    this.frame(connId).rejected.push({
      idempotencyKey: target.idempotencyKey ?? "",
      callId: target.callId ?? "",
      error,
    });
  }

  /** Adds chunks for each of the connections. */
  chunks(connIds: Iterable<string>, chunks: Chunk[]): void {
    if (chunks.length === 0) return;
    for (const connId of connIds) this.frame(connId).chunks.push(...chunks);
  }

  /** Adds acknowledgements of stored chunks for a replica link. */
  ack(link: WebSocket, acks: Ack[]): void {
    if (acks.length === 0) return;
    const list = this.linkAcks.get(link) ?? [];
    list.push(...acks);
    this.linkAcks.set(link, list);
  }

  /** Removes and returns the acknowledgements, to send with runs. */
  takeLinkAcks(): Map<WebSocket, Ack[]> {
    const acks = new Map(this.linkAcks);
    this.linkAcks.clear();
    return acks;
  }

  /** Sends every frame to its connection; connections gone since are skipped. */
  flush(sockets: QueueSockets): void {
    for (const [connId, frame] of this.frames) {
      const socket = sockets.caller(connId);
      if (socket) trySend(socket, encodeServerFrame(frame));
    }
    this.frames.clear();
    for (const [link, acks] of this.linkAcks) {
      trySend(link, encodeQueueFrame({ runs: [], acks }));
    }
    this.linkAcks.clear();
  }
}

/** Builds the ErrorInfo of a failure that the queue itself detected. */
export function queueError(
  code: ErrorInfo["code"],
  type: string,
  message: string,
): ErrorInfo {
  return { code, type, message, stack: "", typeChain: [type] };
}

/**
 * Stores the next chunk of a call, numbered by the queue, and queues it for
 * every subscribed connection. Subscribers are read first because a final
 * chunk deletes the call's subscriptions.
 */
export function storeChunk(
  queue: QueueContext,
  outbox: Outbox,
  call: CallRow,
  chunk: Chunk,
): Chunk {
  const subscribers = queue.store.subscribers(call.callId);
  const stored = queue.store.appendChunk(call, chunk, queue.now());
  outbox.chunks(subscribers, [stored]);
  return stored;
}

/**
 * Fails a running call with an error the queue made, as its final chunk.
 */
export function failCall(
  queue: QueueContext,
  outbox: Outbox,
  call: CallRow,
  error: ErrorInfo,
): void {
  storeChunk(queue, outbox, call, {
    callId: call.callId,
    seq: call.chunkCount,
    attempt: call.attempt,
    kind: "error",
    error,
  });
  queue.log.warn("call failed", {
    callId: call.callId,
    attempt: call.attempt,
    replica: call.replica,
    code: error.code,
    reason: error.message,
  });
}

/**
 * Applies the function's retry policy to a failed attempt of a running
 * call: schedules the retry and returns true, or returns false when the
 * caller must store the error. Without a policy nothing is retried here.
 */
export function retryFailedAttempt(
  queue: QueueContext,
  call: CallRow,
  error: ErrorInfo,
): boolean {
  const policy = queue.store.config()?.spec.retries;
  if (!policy) return false;

  const decision = decideRetry(policy, { ...call, error }, queue.random);
  if (!decision.retry) {
    if (call.chunkCount === 0) {
      queue.log.info("retry skipped", {
        callId: call.callId,
        attempt: call.attempt,
        reason: decision.reason,
      });
    }
    return false;
  }
  const dueMs = queue.now() + decision.waitMs;
  queue.store.scheduleRetry(call.callId, dueMs);
  queue.log.info("retry scheduled", {
    callId: call.callId,
    attempt: call.attempt,
    code: error.code,
    type: error.type,
    waitMs: Math.round(decision.waitMs),
  });
  return true;
}

/**
 * Handles a running call whose replica is gone. Under a retry policy the
 * policy decides; without one the call goes back to the queue when it sent
 * no chunk yet and has attempts left. Otherwise it fails as `unavailable`.
 */
export function recoverLostCall(
  queue: QueueContext,
  outbox: Outbox,
  call: CallRow,
  reason: string,
): void {
  const message =
    call.chunkCount > 0
      ? `call ${call.callId} lost replica ${call.replica} (${reason}) after it sent ${call.chunkCount} chunk(s), so it cannot be retried`
      : `call ${call.callId} lost its replica on each of ${call.attempt} attempts; the last was ${call.replica} (${reason})`;
  const error = queueError("unavailable", "UnavailableError", message);
  if (queue.store.config()?.spec.retries) {
    if (!retryFailedAttempt(queue, call, error)) {
      failCall(queue, outbox, call, error);
    }
    return;
  }

  if (call.chunkCount === 0 && call.attempt < MAX_ATTEMPTS) {
    queue.store.requeue(call.callId);
    queue.log.info("call requeued", {
      callId: call.callId,
      attempt: call.attempt,
      replica: call.replica,
      reason,
    });
    return;
  }
  failCall(queue, outbox, call, error);
}

/** Sends each link the acknowledgements that no runs frame carried. */
export function sendPendingAcks(queue: QueueContext): void {
  const pending = queue.pendingAcks;
  queue.pendingAcks = undefined;
  for (const [link, acks] of pending ?? []) {
    trySend(link, encodeQueueFrame({ runs: [], acks }));
  }
}
