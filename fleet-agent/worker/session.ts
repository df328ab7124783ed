import * as grpc from "@grpc/grpc-js";
import type {
  AgentMessage,
  CallerFrame,
  Chunk,
  Run,
  ServerFrame,
  WorkerMessage,
} from "../../schemas/frames.ts";
import type { FrameChannel } from "../../sdk/runtime-hooks.ts";
import {
  deserializeAgentMessage,
  emptyWorkerMessage,
  GRPC_OPTIONS,
  SESSION_PATH,
  serializeWorkerMessage,
  unixAddress,
} from "../worker-protocol.ts";

/** Callbacks for the messages that the agent sends to the worker. */
export interface SessionHandlers {
  onRuns(runs: Run[]): void;
  /** The agent asked the worker to finish its running calls and exit. */
  onDrain(): void;
  /** The stream ended or failed; the worker cannot report anything more. */
  onClosed(reason: string): void;
}

/**
 * The worker's end of the gRPC session with its agent. Chunks and nested
 * calls produced in one event-loop turn go out as one WorkerMessage, sent
 * at the end of that turn, so no value waits for a later one.
 */
export class WorkerSession {
  /** Channel for nested calls, installed with `setReplicaChannel`. */
  readonly channel: FrameChannel;

  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<WorkerMessage, AgentMessage>;
  private outbox: WorkerMessage = emptyWorkerMessage();
  private flushScheduled = false;
  private closed = false;
  private ended: Promise<void> | undefined;
  private frameHandler: (frame: ServerFrame) => void = () => {};
  private reconnectHandler: () => void = () => {};

  constructor(
    socketPath: string,
    private readonly handlers: SessionHandlers,
  ) {
    this.client = new grpc.Client(
      unixAddress(socketPath),
      grpc.credentials.createInsecure(),
      GRPC_OPTIONS,
    );
    this.stream = this.client.makeBidiStreamRequest(
      SESSION_PATH,
      serializeWorkerMessage,
      deserializeAgentMessage,
    );
    this.stream.on("data", (message: AgentMessage) => this.receive(message));
    this.stream.on("error", (error: Error) => this.close(error.message));
    this.stream.on("end", () => this.close("the agent ended the session"));
    this.channel = this.createChannel();
  }

  /** Announces that the bundle is loaded and which functions it defines. */
  sendReady(functions: string[], pid: number): void {
    this.write({ ...emptyWorkerMessage(), ready: { functions, pid } });
  }

  /** Queues one chunk for the message sent at the end of this turn. */
  sendChunk(chunk: Chunk): void {
    this.outbox.chunks.push(chunk);
    this.scheduleFlush();
  }

  /**
   * Sends what is queued, half-closes the stream and resolves once the agent
   * ended its side, so that nothing queued is lost when the process exits.
   */
  end(): Promise<void> {
    if (this.ended) return this.ended;
    this.flush();
    this.ended = new Promise((resolve) => {
      this.stream.on("close", resolve);
      this.stream.on("status", () => resolve());
      this.stream.end();
    });
    return this.ended;
  }

  private createChannel(): FrameChannel {
    return {
      send: (frame: CallerFrame) => this.queueCalls(frame),
      onFrame: (handler) => {
        this.frameHandler = handler;
      },
      onReconnect: (handler) => {
        this.reconnectHandler = handler;
      },
      close: () => {},
    };
  }

  private queueCalls(frame: CallerFrame): void {
    const calls = this.outbox.calls ?? { submits: [], subscribes: [] };
    calls.submits.push(...frame.submits);
    calls.subscribes.push(...frame.subscribes);
    this.outbox.calls = calls;
    this.scheduleFlush();
  }

  private receive(message: AgentMessage): void {
    if (message.replies) this.frameHandler(message.replies);
    if (message.relinked) this.reconnectHandler();
    if (message.runs.length > 0) this.handlers.onRuns(message.runs);
    if (message.drain) this.handlers.onDrain();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const message = this.outbox;
    if (message.chunks.length === 0 && !message.calls) return;
    this.outbox = emptyWorkerMessage();
    this.write(message);
  }

  private write(message: WorkerMessage): void {
    if (this.closed) return;
    this.stream.write(message);
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
    this.handlers.onClosed(reason);
  }
}
