import type { Logger } from "pino";
import {
  type AgentFrame,
  type Chunk,
  decodeQueueFrame,
  encodeAgentFrame,
  type QueueFrame,
  type Run,
} from "../schemas/frames.ts";
import { ReconnectingSocket } from "../sdk/reconnecting-socket.ts";
import type { ChunkLedger } from "./chunk-ledger.ts";

/** Options of a ReplicaLink. */
export interface ReplicaLinkOptions {
  /** WebSocket URL of `/v1/agent/functions/{name}/link?agent=&replica=&version=`. */
  url: string;
  token: string;
  logger: Logger;
  /** The function's concurrency: the free slots of an idle replica. */
  concurrency: number;
  /** Call ids the worker is executing now, for `hello`. */
  running(): string[];
  onRuns(runs: Run[]): void;
  /** The replica's chunk ledger, shared by its successive links. */
  ledger: ChunkLedger;
}

/**
 * One replica's work link to its FunctionQueue, for the life of one worker
 * process. Chunks and credits produced in one event-loop turn go out as one
 * AgentFrame. After the `hello` of every connect, the link sends again each
 * chunk the queue has not acknowledged (see ChunkLedger).
 */
export class ReplicaLink {
  private readonly socket: ReconnectingSocket;
  /** Chunks to send on the current connection, in order. */
  private chunks: Chunk[] = [];
  private credits = 0;
  private draining = false;
  private drainingSent = false;
  private flushScheduled = false;
  private closed = false;
  private flushedWaiters: (() => void)[] = [];

  constructor(private readonly options: ReplicaLinkOptions) {
    this.socket = new ReconnectingSocket({
      url: options.url,
      token: options.token,
      onOpen: (reconnect) => this.onOpen(reconnect),
      onMessage: (data) => this.receive(data),
      onClose: (code, reason) => {
        if (this.closed) return;
        options.logger.warn(
          { code, reason },
          "replica link closed, reconnecting",
        );
      },
      onError: (error) => {
        options.logger.warn({ err: error }, "replica link failed, retrying");
      },
    });
  }

  /** Numbers chunks in the ledger and queues them for the queue. */
  sendChunks(chunks: Chunk[]): void {
    this.chunks.push(...this.options.ledger.record(chunks));
    this.scheduleFlush();
  }

  /** Grants the queue credits for slots that became free. */
  grantCredits(count: number): void {
    if (this.draining) return;
    this.credits += count;
    this.scheduleFlush();
  }

  /** Tells the queue that this replica takes no more work. */
  setDraining(): void {
    if (this.draining) return;
    this.draining = true;
    this.credits = 0;
    this.scheduleFlush();
  }

  /**
   * Sends what is queued and waits up to `timeoutMs` for the queue to
   * acknowledge every chunk, then closes the socket. Chunks still
   * unacknowledged stay in the ledger for the replica's next link.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    this.flush();

    if (this.options.ledger.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.flushedWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }

    this.closed = true;
    this.socket.close();
    this.chunks = [];
  }

  private onOpen(reconnect: boolean): void {
    // Calls whose final chunk is not acknowledged count as running until the
    // queue stores that chunk, so `hello` must not make it requeue them.
    const finished = this.options.ledger.endedUnackedCallIds();
    const running = [...this.options.running(), ...finished];
    const freeSlots = this.draining
      ? 0
      : Math.max(0, this.options.concurrency - running.length);

    this.options.logger.info(
      { reconnect, freeSlots, running: running.length },
      "replica link open",
    );
    this.socket.send(
      encodeAgentFrame({
        hello: { freeSlots, running },
        credits: 0,
        chunks: [],
        draining: this.draining,
      }),
    );

    // `hello` replaces every credit granted before it.
    this.drainingSent = this.draining;
    this.credits = this.draining ? 0 : finished.length;
    this.chunks = this.options.ledger.unacked();
    this.flush();
  }

  private receive(data: Uint8Array): void {
    let frame: QueueFrame;
    try {
      frame = decodeQueueFrame(data);
    } catch (error) {
      this.options.logger.error(
        { err: error },
        "undecodable frame on the replica link, dropped",
      );
      return;
    }
    if (frame.acks.length > 0) {
      this.options.ledger.acknowledge(frame.acks);
      this.notifyFlushed();
    }
    if (frame.runs.length > 0) this.options.onRuns(frame.runs);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || !this.socket.isOpen) return;
    const announce = this.draining && !this.drainingSent;
    if (this.chunks.length === 0 && this.credits === 0 && !announce) {
      this.notifyFlushed();
      return;
    }

    const frame: AgentFrame = {
      hello: null,
      credits: this.credits,
      chunks: this.chunks,
      draining: this.draining,
    };
    if (this.socket.send(encodeAgentFrame(frame))) {
      this.chunks = [];
      this.credits = 0;
      this.drainingSent = this.draining;
    }
    this.notifyFlushed();
  }

  private notifyFlushed(): void {
    if (this.options.ledger.size > 0) return;
    const waiters = this.flushedWaiters;
    this.flushedWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
