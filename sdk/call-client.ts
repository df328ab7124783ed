import type {
  Chunk,
  Rejected,
  ServerFrame,
  Submit,
  Subscribe,
} from "../schemas/frames.ts";
import { NotFoundError, RemoteError } from "./errors.ts";
import { currentCall, type FrameChannel } from "./runtime-hooks.ts";

/** Receives the chunks of one call in order, each exactly once. */
export interface ChunkListener {
  /** Called per chunk; after a final chunk the listener gets nothing more. */
  onChunk(chunk: Chunk): void;
  /** Called when the subscription failed before a final chunk arrived. */
  onError(error: Error): void;
}

/** Options of a CallClient. */
export interface CallClientOptions {
  /**
   * Called with true when the client gets pending work and with false when it
   * has none left, so the channel can keep the process alive only while needed.
   */
  keepAlive?: (active: boolean) => void;
}

interface PendingSubmit {
  submit: Submit;
  listener: ChunkListener | undefined;
  resolve: (callId: string) => void;
  reject: (error: Error) => void;
  /** True once the submit was sent again after a reconnect. */
  resent: boolean;
}

class Subscription {
  /** Sequence number of the next chunk to deliver. */
  nextSeq = 0;
  /** Chunks that arrived ahead of a gap, by sequence number. */
  readonly buffered = new Map<number, Chunk>();

  constructor(
    readonly callId: string,
    readonly listener: ChunkListener,
  ) {}
}

/**
 * Multiplexes every call of a process over one FrameChannel. Everything
 * queued in one tick goes out as one CallerFrame. After a reconnect the client
 * resubmits unacknowledged submits with their original idempotency keys and
 * resubscribes open calls from the chunk after the last one delivered, so each
 * chunk reaches its listener once and in order.
 */
export class CallClient {
  private readonly pendingSubmits = new Map<string, PendingSubmit>();
  private readonly calls = new Map<string, Set<Subscription>>();
  private outgoing: { submits: Submit[]; subscribes: Subscribe[] } = {
    submits: [],
    subscribes: [],
  };
  private flushScheduled = false;
  private active = false;
  private closed = false;

  constructor(
    private readonly channel: FrameChannel,
    private readonly options: CallClientOptions = {},
  ) {
    channel.onFrame((frame) => this.handleFrame(frame));
    channel.onReconnect(() => this.handleReconnect());
    this.options.keepAlive?.(false);
  }

  /** Number of unacknowledged submits plus open subscriptions. */
  get pendingCount(): number {
    let subscriptions = 0;
    for (const set of this.calls.values()) subscriptions += set.size;
    return this.pendingSubmits.size + subscriptions;
  }

  /**
   * Submits a call of `functionName` with serialized `args`; resolves with its
   * call id once the queue stored it. With a listener, the call's chunks are
   * streamed to it from the first one on.
   */
  submit(
    functionName: string,
    args: Uint8Array,
    listener?: ChunkListener,
  ): Promise<string> {
    if (this.closed) return Promise.reject(closedError());

    const parent = currentCall();
    const submit: Submit = {
      function: functionName,
      idempotencyKey: crypto.randomUUID(),
      args,
      subscribe: listener !== undefined,
      parentCallId: parent?.callId ?? "",
      traceContext: parent?.traceContext ?? "",
      heldKeys: parent?.heldKeys ?? [],
    };

    const accepted = new Promise<string>((resolve, reject) => {
      this.pendingSubmits.set(submit.idempotencyKey, {
        submit,
        listener,
        resolve,
        reject,
        resent: false,
      });
    });
    this.outgoing.submits.push(submit);
    this.scheduleFlush();
    this.updateActivity();
    return accepted;
  }

  /**
   * Streams the chunks of an existing call from `fromSeq` on. Returns a
   * function that stops the delivery; the queue keeps the call either way.
   */
  subscribe(callId: string, listener: ChunkListener, fromSeq = 0): () => void {
    if (this.closed) {
      listener.onError(closedError());
      return () => {};
    }

    const subscription = this.attach(callId, listener, fromSeq);
    this.outgoing.subscribes.push({ callId, fromSeq });
    this.scheduleFlush();
    return () => this.detach(subscription);
  }

  /**
   * Stops delivery to `listener` for every call it listens to, including a
   * submit not yet accepted; the calls themselves go on.
   */
  removeListener(listener: ChunkListener): void {
    for (const pending of this.pendingSubmits.values()) {
      if (pending.listener === listener) pending.listener = undefined;
    }
    for (const set of [...this.calls.values()]) {
      for (const subscription of [...set]) {
        if (subscription.listener === listener) this.detach(subscription);
      }
    }
  }

  /** Fails every pending submit and subscription with `error`. */
  failAll(error: Error): void {
    const submits = [...this.pendingSubmits.values()];
    const subscriptions = [...this.calls.values()].flatMap((set) => [...set]);
    this.pendingSubmits.clear();
    this.calls.clear();
    this.updateActivity();

    for (const pending of submits) pending.reject(error);
    for (const subscription of subscriptions) {
      subscription.listener.onError(error);
    }
  }

  /** Closes the channel and fails pending work; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(closedError());
    this.channel.close();
  }

  private attach(
    callId: string,
    listener: ChunkListener,
    fromSeq: number,
  ): Subscription {
    const subscription = new Subscription(callId, listener);
    subscription.nextSeq = fromSeq;
    let set = this.calls.get(callId);
    if (!set) {
      set = new Set();
      this.calls.set(callId, set);
    }
    set.add(subscription);
    this.updateActivity();
    return subscription;
  }

  private detach(subscription: Subscription): void {
    const set = this.calls.get(subscription.callId);
    if (!set?.delete(subscription)) return;
    if (set.size === 0) this.calls.delete(subscription.callId);
    this.updateActivity();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate runs after every pending microtask, so calls started by
    // one burst of promise continuations share a frame.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const { submits, subscribes } = this.outgoing;
    if (submits.length === 0 && subscribes.length === 0) return;
    this.outgoing = { submits: [], subscribes: [] };
    if (this.closed) return;
    this.channel.send({ submits, subscribes });
  }

  private handleReconnect(): void {
    if (this.closed) return;

    // Everything still buffered is part of the state resent below.
    this.outgoing = { submits: [], subscribes: [] };
    const submits: Submit[] = [];
    for (const pending of this.pendingSubmits.values()) {
      pending.resent = true;
      submits.push(pending.submit);
    }
    const subscribes: Subscribe[] = [];
    for (const [callId, set] of this.calls) {
      const fromSeq = Math.min(...[...set].map((s) => s.nextSeq));
      subscribes.push({ callId, fromSeq });
    }

    if (submits.length > 0 || subscribes.length > 0) {
      this.channel.send({ submits, subscribes });
    }
  }

  private handleFrame(frame: ServerFrame): void {
    for (const accepted of frame.accepted) {
      this.handleAccepted(accepted.idempotencyKey, accepted.callId);
    }
    for (const rejected of frame.rejected) this.handleRejected(rejected);
    for (const chunk of frame.chunks) this.handleChunk(chunk);
  }

  private handleAccepted(key: string, callId: string): void {
    const pending = this.pendingSubmits.get(key);
    if (!pending) return;
    this.pendingSubmits.delete(key);

    if (pending.listener) {
      this.attach(callId, pending.listener, 0);
      // The resubmit may not replay chunks produced while its Accepted was
      // lost, so an explicit subscribe fetches them. Duplicates are dropped
      // by sequence number.
      if (pending.resent) {
        this.outgoing.subscribes.push({ callId, fromSeq: 0 });
        this.scheduleFlush();
      }
    }
    this.updateActivity();
    pending.resolve(callId);
  }

  private handleRejected(rejected: Rejected): void {
    if (rejected.idempotencyKey) {
      const pending = this.pendingSubmits.get(rejected.idempotencyKey);
      if (!pending) return;
      this.pendingSubmits.delete(rejected.idempotencyKey);
      this.updateActivity();
      pending.reject(submitRejectionError(rejected, pending.submit.function));
      return;
    }

    const set = this.calls.get(rejected.callId);
    if (!set) return;
    this.calls.delete(rejected.callId);
    this.updateActivity();
    const error = subscribeRejectionError(rejected);
    for (const subscription of set) subscription.listener.onError(error);
  }

  private handleChunk(chunk: Chunk): void {
    const set = this.calls.get(chunk.callId);
    if (!set) return;
    for (const subscription of [...set]) this.deliver(subscription, chunk);
  }

  private deliver(subscription: Subscription, chunk: Chunk): void {
    if (chunk.seq < subscription.nextSeq) return;
    subscription.buffered.set(chunk.seq, chunk);

    let next = subscription.buffered.get(subscription.nextSeq);
    while (next) {
      subscription.buffered.delete(subscription.nextSeq);
      subscription.nextSeq++;
      if (next.kind !== "value") this.detach(subscription);
      subscription.listener.onChunk(next);
      if (next.kind !== "value") return;
      next = subscription.buffered.get(subscription.nextSeq);
    }
  }

  private updateActivity(): void {
    const active = this.pendingSubmits.size > 0 || this.calls.size > 0;
    if (active === this.active) return;
    this.active = active;
    this.options.keepAlive?.(active);
  }
}

function closedError(): Error {
  return new Error("the call client is closed; create a new one to call");
}

function submitRejectionError(rejected: Rejected, functionName: string): Error {
  if (rejected.error.code === "notFound") {
    return new NotFoundError(
      `function ${JSON.stringify(functionName)} is not deployed: call ` +
        "waitReady() on it or run `npx chalkcompute deploy FILE.ts` first",
      functionName,
    );
  }
  return new RemoteError(rejected.error, "");
}

function subscribeRejectionError(rejected: Rejected): Error {
  if (rejected.error.code === "notFound") {
    return new NotFoundError(
      `call ${rejected.callId} not found: the id is wrong or the call ` +
        "finished more than 24 hours ago",
      rejected.callId,
    );
  }
  return new RemoteError(rejected.error, rejected.callId);
}
