import type { CallerFrame, ServerFrame } from "../../schemas/frames.ts";
import type { FrameChannel } from "../runtime-hooks.ts";

/**
 * An in-memory FrameChannel for tests: it records what the client sends and
 * lets the test deliver ServerFrames and simulate a reconnect.
 */
export class MemoryChannel implements FrameChannel {
  /** Every frame the client sent, in order. */
  readonly sent: CallerFrame[] = [];
  /** Set by `close()`. */
  closed = false;
  private frameHandler: ((frame: ServerFrame) => void) | undefined;
  private reconnectHandler: (() => void) | undefined;
  private listeners: ((frame: CallerFrame) => void)[] = [];

  /** Records one frame and passes it to `onSent` listeners. */
  send(frame: CallerFrame): void {
    this.sent.push(frame);
    for (const listener of this.listeners) listener(frame);
  }

  /** Sets the receiver of ServerFrames. */
  onFrame(handler: (frame: ServerFrame) => void): void {
    this.frameHandler = handler;
  }

  /** Sets the handler run by `reconnect()`. */
  onReconnect(handler: () => void): void {
    this.reconnectHandler = handler;
  }

  /** Marks the channel closed. */
  close(): void {
    this.closed = true;
  }

  /** Calls `listener` with every frame sent from now on. */
  onSent(listener: (frame: CallerFrame) => void): void {
    this.listeners.push(listener);
  }

  /** Delivers a ServerFrame to the client; missing lists are empty. */
  deliver(frame: Partial<ServerFrame>): void {
    this.frameHandler?.({
      accepted: frame.accepted ?? [],
      rejected: frame.rejected ?? [],
      chunks: frame.chunks ?? [],
    });
  }

  /** Simulates a re-established connection. */
  reconnect(): void {
    this.reconnectHandler?.();
  }
}

/** Resolves after pending setImmediate callbacks, such as a client's flush, ran. */
export function nextTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
