/**
 * The caller multiplexer behind `GET /v1/connect`: splits each CallerFrame
 * by function, forwards the parts over one WebSocket per function queue,
 * and relays the queues' ServerFrames to the caller byte for byte. It keeps
 * no call state, so any lost queue socket closes the caller's socket with
 * 1012 and the SDK resubmits and resubscribes.
 */
import type { Env } from "../durable-objects/env.ts";
import { createLogger, errorFields } from "../durable-objects/logger.ts";
import {
  type CallerFrame,
  decodeCallerFrame,
  encodeCallerFrame,
  encodeServerFrame,
  type Rejected,
} from "../schemas/frames.ts";
import { checkFunctionName, functionOfCallId } from "../schemas/spec.ts";
import { openQueueSocket } from "./queue-client.ts";

/** Close code telling the SDK to reconnect: a hop behind the gateway went away. */
export const CLOSE_RECONNECT = 1012;
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_INVALID_FRAME = 1007;

const log = createLogger("caller-mux");

/** A CallerFrame split per function, plus what the gateway rejects itself. */
export interface SplitFrame {
  parts: Map<string, CallerFrame>;
  rejected: Rejected[];
}

function rejection(
  target: { idempotencyKey?: string; callId?: string },
  code: "invalidArgument" | "notFound",
  message: string,
): Rejected {
  const type = code === "notFound" ? "NotFoundError" : "InvalidArgumentError";
  return {
    idempotencyKey: target.idempotencyKey ?? "",
    callId: target.callId ?? "",
    error: { code, type, message, stack: "", typeChain: [type] },
  };
}

/**
 * Groups submits by `function` and subscribes by the function named in the
 * call id. Submits with an invalid name and subscribes with a malformed id
 * are rejected here, because no queue can own them.
 */
export function splitFrame(frame: CallerFrame): SplitFrame {
  const parts = new Map<string, CallerFrame>();
  const rejected: Rejected[] = [];
  const part = (name: string) => {
    let found = parts.get(name);
    if (!found) {
      found = { submits: [], subscribes: [] };
      parts.set(name, found);
    }
    return found;
  };

  for (const submit of frame.submits) {
    const problem = checkFunctionName(submit.function);
    if (problem) {
      rejected.push(
        rejection(
          { idempotencyKey: submit.idempotencyKey },
          "invalidArgument",
          problem,
        ),
      );
    } else {
      part(submit.function).submits.push(submit);
    }
  }
  for (const subscribe of frame.subscribes) {
    const name = functionOfCallId(subscribe.callId);
    if (name === null) {
      rejected.push(
        rejection(
          { callId: subscribe.callId },
          "notFound",
          `call ${subscribe.callId} not found: it is not a chalkcompute call id`,
        ),
      );
    } else {
      part(name).subscribes.push(subscribe);
    }
  }
  return { parts, rejected };
}

/** Accepts a caller WebSocket and starts multiplexing it. */
export function acceptCallerConnection(env: Env): Response {
  const pair = new WebSocketPair();
  const client = pair[0];
  const server = pair[1];
  // Newer compatibility dates deliver binary messages as Blob by default.
  server.binaryType = "arraybuffer";
  server.accept();
  const mux = new CallerMux(env, server);
  server.addEventListener("message", (event) => mux.onMessage(event.data));
  server.addEventListener("close", () => mux.onClientClosed());
  server.addEventListener("error", () => mux.onClientClosed());
  return new Response(null, { status: 101, webSocket: client });
}

/** One caller connection and the queue sockets opened for it. */
class CallerMux {
  private readonly queues = new Map<string, Promise<WebSocket | null>>();
  private closed = false;

  constructor(
    private readonly env: Env,
    private readonly client: WebSocket,
  ) {}

  onMessage(data: string | ArrayBuffer): void {
    if (this.closed) return;
    if (typeof data === "string") {
      this.shutdown(
        CLOSE_UNSUPPORTED_DATA,
        "frames must be binary Cap'n Proto",
      );
      return;
    }
    let frame: CallerFrame;
    try {
      frame = decodeCallerFrame(data);
    } catch (error) {
      log.warn("caller frame rejected", errorFields(error));
      this.shutdown(CLOSE_INVALID_FRAME, "invalid CallerFrame");
      return;
    }

    const { parts, rejected } = splitFrame(frame);
    if (rejected.length > 0) {
      this.sendToClient(
        encodeServerFrame({ accepted: [], rejected, chunks: [] }),
      );
    }
    for (const [name, part] of parts) {
      this.forward(name, encodeCallerFrame(part));
    }
  }

  onClientClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeQueues();
  }

  /**
   * Sends to the function's queue socket, opening it on first use. Sends to
   * one queue keep their order because they chain on the same promise.
   */
  private forward(name: string, bytes: Uint8Array): void {
    let socket = this.queues.get(name);
    if (!socket) {
      socket = this.open(name);
      this.queues.set(name, socket);
    }
    void socket.then((ws) => {
      if (!ws || this.closed) return;
      try {
        ws.send(bytes);
      } catch (error) {
        log.warn("send to queue failed", {
          function: name,
          ...errorFields(error),
        });
        this.shutdown(CLOSE_RECONNECT, `queue of ${name} is unavailable`);
      }
    });
  }

  private async open(name: string): Promise<WebSocket | null> {
    let ws: WebSocket;
    try {
      ws = await openQueueSocket(this.env, name);
    } catch (error) {
      log.error("queue socket failed to open", {
        function: name,
        ...errorFields(error),
      });
      this.shutdown(CLOSE_RECONNECT, `queue of ${name} is unavailable`);
      return null;
    }

    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string") this.sendToClient(event.data);
    });
    ws.addEventListener("close", (event) => {
      this.shutdown(
        CLOSE_RECONNECT,
        `queue of ${name} closed its socket (code ${event.code})`,
      );
    });
    ws.addEventListener("error", () => {
      this.shutdown(CLOSE_RECONNECT, `queue of ${name} failed`);
    });
    if (this.closed) {
      ws.close(1000, "caller disconnected");
      return null;
    }
    return ws;
  }

  private sendToClient(bytes: ArrayBuffer | Uint8Array): void {
    try {
      this.client.send(bytes);
    } catch (error) {
      log.warn("send to caller failed", errorFields(error));
      this.onClientClosed();
    }
  }

  private shutdown(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    log.info("caller connection closed by gateway", { code, reason });
    try {
      this.client.close(code, reason);
    } catch {
      // The caller already went away.
    }
    this.closeQueues();
  }

  private closeQueues(): void {
    for (const socket of this.queues.values()) {
      void socket.then((ws) => {
        try {
          ws?.close(1000, "caller disconnected");
        } catch {
          // Already closed.
        }
      });
    }
    this.queues.clear();
  }
}
