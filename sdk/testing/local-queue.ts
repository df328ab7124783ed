import type {
  CallerFrame,
  Chunk,
  ErrorInfo,
  ServerFrame,
  Submit,
} from "../../schemas/frames.ts";
import { formatCallId, ulid } from "../../schemas/spec.ts";
import { decodeValue, encodeValue } from "../../schemas/values.ts";
import { callContextStorage, functionRegistry } from "../runtime-hooks.ts";
import { MemoryChannel } from "./memory-channel.ts";

/** One caller connection of a LocalQueue. */
export interface QueueConnection {
  /** Handles one CallerFrame from the caller. */
  receive(frame: CallerFrame): void;
  /** Ends the connection's subscriptions. */
  close(): void;
}

type Send = (frame: Partial<ServerFrame>) => void;

/**
 * A queue for tests that runs registered handlers in this process. It replies
 * to submits and subscribes the way a FunctionQueue does (Accepted, numbered
 * chunks stored per call, replay from `fromSeq`, idempotency keys).
 */
export class LocalQueue {
  /** A MemoryChannel connected to this queue, for `setReplicaChannel`. */
  readonly channel = new MemoryChannel();
  /** Every submit received, in order, including resubmits. */
  readonly submits: Submit[] = [];
  private readonly chunks = new Map<string, Chunk[]>();
  private readonly subscribers = new Map<string, Set<Send>>();
  private readonly keys = new Map<string, string>();

  constructor() {
    const connection = this.connect((frame) => this.channel.deliver(frame));
    this.channel.onSent((frame) => connection.receive(frame));
  }

  /** Opens a caller connection whose ServerFrames go to `send`. */
  connect(send: Send): QueueConnection {
    return {
      receive: (frame) => {
        for (const submit of frame.submits) this.handleSubmit(submit, send);
        for (const subscribe of frame.subscribes) {
          this.handleSubscribe(subscribe.callId, subscribe.fromSeq, send);
        }
      },
      close: () => {
        for (const set of this.subscribers.values()) set.delete(send);
      },
    };
  }

  private subscribe(callId: string, send: Send): void {
    let set = this.subscribers.get(callId);
    if (!set) {
      set = new Set();
      this.subscribers.set(callId, set);
    }
    set.add(send);
  }

  private handleSubmit(submit: Submit, send: Send): void {
    this.submits.push(submit);
    const known = this.keys.get(submit.idempotencyKey);
    if (known) {
      if (submit.subscribe) this.subscribe(known, send);
      send({
        accepted: [{ idempotencyKey: submit.idempotencyKey, callId: known }],
      });
      return;
    }

    const fn = functionRegistry().get(submit.function);
    if (!fn) {
      send({
        rejected: [
          {
            idempotencyKey: submit.idempotencyKey,
            callId: "",
            error: errorInfo(
              new Error(`no function ${submit.function}`),
              "notFound",
            ),
          },
        ],
      });
      return;
    }

    const callId = formatCallId(ulid(), submit.function);
    this.keys.set(submit.idempotencyKey, callId);
    this.chunks.set(callId, []);
    if (submit.subscribe) this.subscribe(callId, send);
    send({
      accepted: [{ idempotencyKey: submit.idempotencyKey, callId }],
    });

    const args = decodeValue(submit.args) as unknown[];
    setImmediate(() => {
      void callContextStorage().run({ callId, traceContext: "" }, () =>
        this.run(callId, fn.generator, () => fn.handler(...args)),
      );
    });
  }

  private handleSubscribe(callId: string, fromSeq: number, send: Send): void {
    const stored = this.chunks.get(callId);
    if (!stored) {
      send({
        rejected: [
          {
            idempotencyKey: "",
            callId,
            error: errorInfo(new Error(`no call ${callId}`), "notFound"),
          },
        ],
      });
      return;
    }
    this.subscribe(callId, send);
    const replay = stored.filter((chunk) => chunk.seq >= fromSeq);
    if (replay.length > 0) send({ chunks: replay });
  }

  private async run(
    callId: string,
    generator: boolean,
    invoke: () => unknown,
  ): Promise<void> {
    try {
      if (!generator) {
        const result = await invoke();
        this.emit(callId, { kind: "result", data: encodeValue(result) });
        return;
      }
      for await (const value of invoke() as AsyncIterable<unknown>) {
        this.emit(callId, { kind: "value", data: encodeValue(value) });
      }
      this.emit(callId, { kind: "end" });
    } catch (error) {
      this.emit(callId, { kind: "error", error: errorInfo(error as Error) });
    }
  }

  private emit(callId: string, body: DistributiveOmit<Chunk>): void {
    const stored = this.chunks.get(callId) ?? [];
    const chunk = { ...body, callId, seq: stored.length, attempt: 1 } as Chunk;
    stored.push(chunk);
    for (const send of this.subscribers.get(callId) ?? []) {
      send({ chunks: [chunk] });
    }
  }
}

type DistributiveOmit<T> = T extends unknown
  ? Omit<T, "callId" | "seq" | "attempt">
  : never;

function errorInfo(error: Error, code: ErrorInfo["code"] = "application") {
  const typeChain: string[] = [];
  let proto = Object.getPrototypeOf(error);
  while (proto && proto !== Object.prototype) {
    typeChain.push(proto.constructor.name);
    proto = Object.getPrototypeOf(proto);
  }
  return {
    code,
    type: error.constructor.name,
    message: error.message,
    stack: error.stack ?? "",
    typeChain,
  };
}
