import type { Logger } from "pino";
import {
  type CallerFrame,
  decodeServerFrame,
  encodeCallerFrame,
  type ServerFrame,
} from "../schemas/frames.ts";
import { ReconnectingSocket } from "../sdk/reconnecting-socket.ts";

/** A worker that makes nested calls through the relay. */
export interface RelayClient {
  /** Delivers replies to the worker's own submits and subscribes. */
  reply(frame: ServerFrame): void;
  /** Tells the worker to resubmit and resubscribe after a gateway reconnect. */
  relink(): void;
}

/** Options of a CallRelay. */
export interface CallRelayOptions {
  /** WebSocket URL of the gateway's `/v1/connect`. */
  url: string;
  token: string;
  logger: Logger;
}

const FINAL_KINDS = new Set(["result", "error", "end"]);

/**
 * Carries the nested calls of every worker over one agent-wide connection
 * to the gateway, with the agent's credentials. Each idempotency key gets
 * the replica id as a prefix (`<replicaId>/<key>`), so keys of different
 * workers stay apart and `accepted` and `rejected` find their worker.
 * Chunks are routed by the call ids learned from `accepted` and `subscribe`.
 */
export class CallRelay {
  private socket: ReconnectingSocket | undefined;
  private readonly clients = new Map<string, RelayClient>();
  /** Replica ids that receive each open call's chunks, by call id. */
  private readonly routes = new Map<string, Set<string>>();
  private outgoing: CallerFrame = emptyCallerFrame();
  private flushScheduled = false;
  private connectedOnce = false;
  private closed = false;

  constructor(private readonly options: CallRelayOptions) {}

  /** Registers the worker of a replica under its id. */
  register(replicaId: string, client: RelayClient): void {
    if (replicaId.includes("/")) {
      throw new Error(`replica id ${replicaId} must not contain "/"`);
    }
    this.clients.set(replicaId, client);
  }

  /**
   * Forgets a replica's worker and its routes, after the worker exited or
   * before a new worker process takes the same replica id.
   */
  unregister(replicaId: string): void {
    this.clients.delete(replicaId);
    for (const [callId, replicas] of this.routes) {
      replicas.delete(replicaId);
      if (replicas.size === 0) this.routes.delete(callId);
    }
  }

  /** Forwards a worker's frame; what arrives in one turn goes out as one frame. */
  forward(replicaId: string, frame: CallerFrame): void {
    if (this.closed) return;

    for (const submit of frame.submits) {
      this.outgoing.submits.push({
        ...submit,
        idempotencyKey: `${replicaId}/${submit.idempotencyKey}`,
      });
    }
    for (const subscribe of frame.subscribes) {
      this.addRoute(subscribe.callId, replicaId);
      this.outgoing.subscribes.push(subscribe);
    }

    this.ensureSocket();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Closes the gateway connection; safe to call twice. */
  close(): void {
    this.closed = true;
    this.socket?.close();
  }

  private ensureSocket(): void {
    if (this.socket) return;

    this.socket = new ReconnectingSocket({
      url: this.options.url,
      token: this.options.token,
      onOpen: (reconnect) => this.onOpen(reconnect),
      onMessage: (data) => this.receive(data),
      onClose: (code, reason) => {
        if (this.closed) return;
        this.options.logger.warn(
          { code, reason },
          "nested-call connection to the gateway closed, reconnecting",
        );
      },
      onError: (error) => {
        this.options.logger.warn(
          { err: error },
          "nested-call connection to the gateway failed, retrying",
        );
      },
    });
  }

  private onOpen(reconnect: boolean): void {
    this.options.logger.info({ reconnect }, "nested-call connection open");
    this.connectedOnce = true;
    if (reconnect) {
      this.outgoing = emptyCallerFrame();
      for (const client of this.clients.values()) client.relink();
      return;
    }
    this.flush();
  }

  private flush(): void {
    this.flushScheduled = false;
    const frame = this.outgoing;
    if (frame.submits.length === 0 && frame.subscribes.length === 0) return;

    if (!this.socket?.isOpen) {
      // Before the first connect the frame waits for it. After that it is
      // dropped, because every worker resends it on `relinked`.
      if (this.connectedOnce) this.outgoing = emptyCallerFrame();
      return;
    }
    this.outgoing = emptyCallerFrame();
    this.socket.send(encodeCallerFrame(frame));
  }

  private receive(data: Uint8Array): void {
    let frame: ServerFrame;
    try {
      frame = decodeServerFrame(data);
    } catch (error) {
      this.options.logger.error(
        { err: error },
        "undecodable frame on the nested-call connection, dropped",
      );
      return;
    }

    const replies = new Map<string, ServerFrame>();
    const replyFor = (replicaId: string): ServerFrame => {
      let reply = replies.get(replicaId);
      if (!reply) {
        reply = { accepted: [], rejected: [], chunks: [] };
        replies.set(replicaId, reply);
      }
      return reply;
    };

    for (const accepted of frame.accepted) {
      const key = splitKey(accepted.idempotencyKey);
      if (!key || !this.clients.has(key.replicaId)) continue;
      this.addRoute(accepted.callId, key.replicaId);
      replyFor(key.replicaId).accepted.push({
        ...accepted,
        idempotencyKey: key.key,
      });
    }

    for (const rejected of frame.rejected) {
      if (rejected.idempotencyKey) {
        const key = splitKey(rejected.idempotencyKey);
        if (!key || !this.clients.has(key.replicaId)) continue;
        replyFor(key.replicaId).rejected.push({
          ...rejected,
          idempotencyKey: key.key,
        });
        continue;
      }
      for (const replicaId of this.routes.get(rejected.callId) ?? []) {
        replyFor(replicaId).rejected.push(rejected);
      }
      this.routes.delete(rejected.callId);
    }

    for (const chunk of frame.chunks) {
      for (const replicaId of this.routes.get(chunk.callId) ?? []) {
        replyFor(replicaId).chunks.push(chunk);
      }
      if (FINAL_KINDS.has(chunk.kind)) this.routes.delete(chunk.callId);
    }

    for (const [replicaId, reply] of replies) {
      this.clients.get(replicaId)?.reply(reply);
    }
  }

  private addRoute(callId: string, replicaId: string): void {
    let replicas = this.routes.get(callId);
    if (!replicas) {
      replicas = new Set();
      this.routes.set(callId, replicas);
    }
    replicas.add(replicaId);
  }
}

function splitKey(
  prefixed: string,
): { replicaId: string; key: string } | undefined {
  const slash = prefixed.indexOf("/");
  if (slash <= 0) return undefined;
  return {
    replicaId: prefixed.slice(0, slash),
    key: prefixed.slice(slash + 1),
  };
}

function emptyCallerFrame(): CallerFrame {
  return { submits: [], subscribes: [] };
}
