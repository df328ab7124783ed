/**
 * A single call made by the HTTP API over its own caller socket to the
 * function's queue: the same `/caller` path the multiplexer uses.
 */
import { type Env, queueStub } from "../durable-objects/env.ts";
import {
  type Chunk,
  decodeServerFrame,
  type ErrorInfo,
  encodeCallerFrame,
} from "../schemas/frames.ts";

/** An event of one call as the queue reported it, in arrival order. */
export type CallEvent =
  | { kind: "accepted"; callId: string }
  | { kind: "rejected"; error: ErrorInfo }
  | { kind: "chunk"; chunk: Chunk }
  | { kind: "closed"; reason: string };

/** Opens a caller WebSocket to a function's queue. */
export async function openQueueSocket(
  env: Env,
  functionName: string,
): Promise<WebSocket> {
  const response = await queueStub(env, functionName).fetch(
    "https://queue/caller",
    { headers: { Upgrade: "websocket" } },
  );
  const socket = response.webSocket;
  if (!socket) {
    throw new Error(
      `caller upgrade to the queue of ${functionName} failed with HTTP ${response.status}, expected 101`,
    );
  }
  // Newer compatibility dates deliver binary messages as Blob by default.
  socket.binaryType = "arraybuffer";
  socket.accept();
  return socket;
}

/** Options of one HTTP-made call. */
export interface SubmitOptions {
  functionName: string;
  idempotencyKey: string;
  args: Uint8Array;
  /** Stream the call's chunks back; false for spawn. */
  subscribe: boolean;
}

/**
 * One submitted call whose events can be read in order with `next()`.
 * After a final chunk, a rejection or a close, no more events follow.
 */
export class QueueCall {
  private readonly events: CallEvent[] = [];
  private waiter: ((event: CallEvent) => void) | undefined;
  private done = false;

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string") return;
      const frame = decodeServerFrame(event.data);
      for (const a of frame.accepted) {
        this.push({ kind: "accepted", callId: a.callId });
      }
      for (const r of frame.rejected) {
        this.push({ kind: "rejected", error: r.error });
      }
      for (const chunk of frame.chunks) this.push({ kind: "chunk", chunk });
    });
    socket.addEventListener("close", (event) => {
      this.push({ kind: "closed", reason: `code ${event.code}` });
    });
    socket.addEventListener("error", () => {
      this.push({ kind: "closed", reason: "socket error" });
    });
  }

  /** Opens a socket to the queue and sends the submit. */
  static async submit(env: Env, options: SubmitOptions): Promise<QueueCall> {
    const socket = await openQueueSocket(env, options.functionName);
    const call = new QueueCall(socket);
    socket.send(
      encodeCallerFrame({
        submits: [
          {
            function: options.functionName,
            idempotencyKey: options.idempotencyKey,
            args: options.args,
            subscribe: options.subscribe,
            parentCallId: "",
            traceContext: "",
          },
        ],
        subscribes: [],
      }),
    );
    return call;
  }

  /** Resolves with the next event; after the last one, repeats a `closed`. */
  next(): Promise<CallEvent> {
    const event = this.events.shift();
    if (event) return Promise.resolve(event);
    if (this.done) {
      return Promise.resolve({ kind: "closed", reason: "call finished" });
    }
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    this.done = true;
    try {
      this.socket.close(1000, "call finished");
    } catch {
      // Already closed.
    }
  }

  private push(event: CallEvent): void {
    if (this.done) return;
    const last =
      event.kind === "rejected" ||
      event.kind === "closed" ||
      (event.kind === "chunk" && event.chunk.kind !== "value");
    if (last) this.done = true;

    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter(event);
    } else {
      this.events.push(event);
    }
  }
}
