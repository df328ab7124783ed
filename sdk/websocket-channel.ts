import {
  type CallerFrame,
  decodeServerFrame,
  encodeCallerFrame,
  type ServerFrame,
} from "../schemas/frames.ts";
import { ReconnectingSocket } from "./reconnecting-socket.ts";
import type { FrameChannel } from "./runtime-hooks.ts";

/** Options of a WebSocketChannel. */
export interface WebSocketChannelOptions {
  /** `ws(s)://HOST/v1/connect` URL of the gateway. */
  url: string;
  /** Bearer token for the upgrade request. */
  token: string;
  /** Receives connect failures and undecodable frames; the channel keeps going. */
  onError?: (error: Error) => void;
  /** First reconnect delay in milliseconds; default 100. */
  initialDelayMs?: number;
  /** Longest reconnect delay in milliseconds; default 5000. */
  maxDelayMs?: number;
}

/**
 * A FrameChannel over a ReconnectingSocket to the gateway's `/v1/connect`.
 * Frames sent before the first connect wait in an outbox. Frames sent while
 * reconnecting are dropped, because the reconnect handler resends the full
 * state of the client (unacknowledged submits, open subscriptions).
 */
export class WebSocketChannel implements FrameChannel {
  private readonly socket: ReconnectingSocket;
  private outbox: Uint8Array[] = [];
  private frameHandler: ((frame: ServerFrame) => void) | undefined;
  private reconnectHandler: (() => void) | undefined;
  private everOpened = false;

  constructor(private readonly options: WebSocketChannelOptions) {
    this.socket = new ReconnectingSocket({
      url: options.url,
      token: options.token,
      initialDelayMs: options.initialDelayMs,
      maxDelayMs: options.maxDelayMs,
      onOpen: (reconnect) => this.handleOpen(reconnect),
      onMessage: (data) => this.handleMessage(data),
      onError: (error) => this.options.onError?.(error),
    });
  }

  /** Resolves after the first successful connect. */
  waitOpen(): Promise<void> {
    return this.socket.waitOpen();
  }

  /** Sends one frame, or keeps it until the first connect. */
  send(frame: CallerFrame): void {
    const bytes = encodeCallerFrame(frame);
    if (this.socket.send(bytes)) return;
    if (!this.everOpened) this.outbox.push(bytes);
  }

  /** Sets the receiver of ServerFrames. */
  onFrame(handler: (frame: ServerFrame) => void): void {
    this.frameHandler = handler;
  }

  /** Sets the handler that resends state after a reconnect. */
  onReconnect(handler: () => void): void {
    this.reconnectHandler = handler;
  }

  /** Sets whether the socket keeps the Node process alive. */
  setRef(active: boolean): void {
    this.socket.setRef(active);
  }

  /** Closes the socket for good; safe to call twice. */
  close(): void {
    this.outbox = [];
    this.socket.close();
  }

  private handleOpen(reconnect: boolean): void {
    this.everOpened = true;
    const outbox = this.outbox;
    this.outbox = [];
    if (reconnect) {
      this.reconnectHandler?.();
      return;
    }
    for (const bytes of outbox) this.socket.send(bytes);
  }

  private handleMessage(data: Uint8Array): void {
    let frame: ServerFrame;
    try {
      frame = decodeServerFrame(data);
    } catch (error) {
      this.options.onError?.(
        new Error(
          `dropped a ServerFrame that could not be decoded ` +
            `(${data.byteLength} bytes): ${(error as Error).message}`,
          { cause: error },
        ),
      );
      return;
    }
    this.frameHandler?.(frame);
  }
}
