import type { Chunk } from "../schemas/frames.ts";
import { decodeValue } from "../schemas/values.ts";
import type { ChunkListener } from "./call-client.ts";
import { RemoteError } from "./errors.ts";

/** How a call ended: a plain function's return value or a generator's values. */
export type CallOutcome =
  | { kind: "result"; value: unknown }
  | { kind: "values"; values: unknown[] };

/**
 * Collects the chunks of one call into its outcome. `promise` rejects with a
 * RemoteError when the call failed, even after yielding values.
 */
export class OutcomeCollector implements ChunkListener {
  /** Settles when the final chunk arrives or the subscription fails. */
  readonly promise: Promise<CallOutcome>;
  private readonly values: unknown[] = [];
  private resolve!: (outcome: CallOutcome) => void;
  private reject!: (error: Error) => void;

  constructor() {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Receives one chunk; see ChunkListener. */
  onChunk(chunk: Chunk): void {
    try {
      this.collect(chunk);
    } catch (error) {
      this.reject(error as Error);
    }
  }

  /** Receives a subscription failure; see ChunkListener. */
  onError(error: Error): void {
    this.reject(error);
  }

  private collect(chunk: Chunk): void {
    switch (chunk.kind) {
      case "value":
        this.values.push(decodeChunkData(chunk.callId, chunk.data));
        return;
      case "result":
        this.resolve({
          kind: "result",
          value: decodeChunkData(chunk.callId, chunk.data),
        });
        return;
      case "end":
        this.resolve({ kind: "values", values: this.values });
        return;
      case "error":
        this.reject(new RemoteError(chunk.error, chunk.callId));
        return;
    }
  }
}

/** Returns what `FunctionCall.get()` resolves with for an outcome. */
export function outcomeValue(outcome: CallOutcome): unknown {
  return outcome.kind === "result" ? outcome.value : outcome.values;
}

/**
 * An AsyncIterable of the values of one call, fed by a ChunkListener. Values
 * buffer until read. A `result` chunk is yielded as the only value, so that a
 * plain call can be streamed too. An error chunk makes the iteration reject
 * with a RemoteError after every value before it was read. It is iterable
 * once: a second `for await` throws.
 */
export class ValueStream<T> implements AsyncIterable<T>, ChunkListener {
  private readonly buffer: T[] = [];
  private done = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private iterated = false;
  private stop: (() => void) | undefined;

  /** Sets the function that stops delivery when the reader leaves early. */
  onStop(stop: () => void): void {
    this.stop = stop;
  }

  /** Receives one chunk; see ChunkListener. */
  onChunk(chunk: Chunk): void {
    switch (chunk.kind) {
      case "value":
      case "result":
        try {
          this.buffer.push(decodeChunkData(chunk.callId, chunk.data) as T);
        } catch (error) {
          this.failure ??= error as Error;
        }
        if (chunk.kind === "result") this.done = true;
        break;
      case "end":
        this.done = true;
        break;
      case "error":
        this.failure = new RemoteError(chunk.error, chunk.callId);
        break;
    }
    this.notify();
  }

  /** Ends the iteration with `error` once buffered values are read. */
  onError(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) {
      throw new TypeError(
        "this stream of remote values was already iterated; call remote() " +
          "again or use FunctionCall.stream() for a second reader",
      );
    }
    this.iterated = true;

    return {
      next: () => this.next(),
      return: async () => {
        this.finishEarly();
        return { done: true, value: undefined };
      },
    };
  }

  private async next(): Promise<IteratorResult<T>> {
    while (true) {
      if (this.buffer.length > 0) {
        return { done: false, value: this.buffer.shift() as T };
      }
      if (this.failure) throw this.failure;
      if (this.done) return { done: true, value: undefined };
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private finishEarly(): void {
    this.done = true;
    this.buffer.length = 0;
    this.stop?.();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

function decodeChunkData(callId: string, data: Uint8Array): unknown {
  try {
    return decodeValue(data);
  } catch (error) {
    throw new Error(
      `could not decode a value of call ${callId}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
