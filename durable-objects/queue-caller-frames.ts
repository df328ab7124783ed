/**
 * Handling of CallerFrames on a queue's caller connections: durable,
 * idempotent submits and subscriptions that replay stored chunks.
 */
import type { CallerFrame, Submit, Subscribe } from "../schemas/frames.ts";
import { formatCallId, ulid } from "../schemas/spec.ts";
import { decodeValue } from "../schemas/values.ts";
import {
  failCall,
  type Outbox,
  type QueueContext,
  queueError,
} from "./queue-context.ts";
import { deadlockError } from "./queue-dispatch.ts";
import type { CallRow, QueueConfig } from "./queue-store.ts";

/**
 * Stores the frame's submits and subscriptions in one transaction and adds
 * the replies for connection `connId` to the outbox. The caller flushes the
 * outbox after the transaction, so `Accepted` only follows a commit.
 */
export function handleCallerFrame(
  queue: QueueContext,
  outbox: Outbox,
  connId: string,
  frame: CallerFrame,
): void {
  const config = queue.store.config();
  queue.transaction(() => {
    for (const submit of frame.submits) {
      handleSubmit(queue, outbox, connId, config, submit);
    }
    for (const subscribe of frame.subscribes) {
      handleSubscribe(queue, outbox, connId, subscribe);
    }
  });
}

function handleSubmit(
  queue: QueueContext,
  outbox: Outbox,
  connId: string,
  config: QueueConfig | null,
  submit: Submit,
): void {
  const target = { idempotencyKey: submit.idempotencyKey };
  const problem = checkSubmit(config, submit);
  if (problem) {
    outbox.reject(connId, target, problem);
    return;
  }

  const existing = queue.store.callByKey(submit.idempotencyKey);
  if (existing) {
    outbox.accept(connId, submit.idempotencyKey, existing.callId);
    if (submit.subscribe) replay(queue, outbox, connId, existing, 0);
    return;
  }

  const nowMs = queue.now();
  const callId = formatCallId(ulid(nowMs), submit.function);
  queue.store.insertCall({
    callId,
    idempotencyKey: submit.idempotencyKey,
    args: submit.args,
    parentCallId: submit.parentCallId,
    traceContext: submit.traceContext,
    version: config?.version ?? 0,
    createdMs: nowMs,
    heldKeys: submit.heldKeys ?? [],
  });
  if (submit.subscribe) queue.store.subscribe(callId, connId);
  outbox.accept(connId, submit.idempotencyKey, callId);

  // A call whose calling chain holds every permit of its key would wait
  // forever, so it fails at once.
  const deadlock = config && deadlockError(config.spec, submit.heldKeys ?? []);
  const call = deadlock ? queue.store.call(callId) : null;
  if (deadlock && call) failCall(queue, outbox, call, deadlock);
}

function checkSubmit(config: QueueConfig | null, submit: Submit) {
  if (!config || config.spec.name !== submit.function) {
    return queueError(
      "notFound",
      "NotFoundError",
      `function ${submit.function} is not deployed; deploy it before calling it`,
    );
  }
  if (submit.idempotencyKey === "") {
    return queueError(
      "invalidArgument",
      "InvalidArgumentError",
      "submit has an empty idempotency key; give each call a unique key",
    );
  }
  if (!isArgumentList(submit.args)) {
    return queueError(
      "invalidArgument",
      "InvalidArgumentError",
      `args of submit ${submit.idempotencyKey} are not a serialized array of arguments`,
    );
  }
  return null;
}

function isArgumentList(args: Uint8Array): boolean {
  try {
    return Array.isArray(decodeValue(args));
  } catch {
    return false;
  }
}

function handleSubscribe(
  queue: QueueContext,
  outbox: Outbox,
  connId: string,
  subscribe: Subscribe,
): void {
  const call = queue.store.call(subscribe.callId);
  if (!call) {
    outbox.reject(
      connId,
      { callId: subscribe.callId },
      queueError(
        "notFound",
        "NotFoundError",
        `call ${subscribe.callId} not found: it never existed or was deleted 24 hours after it finished`,
      ),
    );
    return;
  }
  replay(queue, outbox, connId, call, subscribe.fromSeq);
}

/** Sends stored chunks from `fromSeq` on and subscribes to the rest. */
function replay(
  queue: QueueContext,
  outbox: Outbox,
  connId: string,
  call: CallRow,
  fromSeq: number,
): void {
  outbox.chunks([connId], queue.store.chunks(call.callId, fromSeq));
  if (call.finishedMs === null) queue.store.subscribe(call.callId, connId);
}
