import type { Chunk, ErrorInfo, Run } from "../../schemas/frames.ts";
import { decodeValue, encodeValue, ValueError } from "../../schemas/values.ts";
import {
  callContextStorage,
  type RegisteredFunction,
} from "../../sdk/runtime-hooks.ts";
import { errorInfoFromThrown } from "./error-info.ts";

type ChunkHead = { callId: string; seq: number; attempt: number };

/**
 * Executes runs of one registered function and reports each step as a chunk.
 * Every run ends with exactly one final chunk (`result`, `end` or `error`).
 */
export class RunExecutor {
  private readonly active = new Set<string>();

  constructor(
    private readonly fn: RegisteredFunction,
    private readonly emit: (chunk: Chunk) => void,
  ) {}

  /** Number of runs that have not yet sent their final chunk. */
  get running(): number {
    return this.active.size;
  }

  /** Executes one run; resolves after its final chunk was emitted. */
  async execute(run: Run): Promise<void> {
    const head: ChunkHead = {
      callId: run.callId,
      seq: 0,
      attempt: run.attempt,
    };
    this.active.add(run.callId);

    try {
      const args = decodeArgs(run);
      if (args instanceof Error) {
        this.emitError(head, errorInfoFromThrown(args, "invalidArgument"));
        return;
      }

      const context = {
        callId: run.callId,
        traceContext: run.traceContext,
        heldKeys: run.heldKeys ?? [],
      };
      await callContextStorage().run(context, () =>
        this.fn.generator ? this.stream(head, args) : this.call(head, args),
      );
    } finally {
      this.active.delete(run.callId);
    }
  }

  private async call(head: ChunkHead, args: unknown[]): Promise<void> {
    let result: unknown;
    try {
      result = await this.fn.handler(...args);
    } catch (thrown) {
      this.emitError(head, errorInfoFromThrown(thrown));
      return;
    }

    const data = encodeOutput(result, "result");
    if (!(data instanceof Uint8Array)) {
      this.emitError(head, data);
      return;
    }
    this.emit({ ...head, kind: "result", data });
  }

  private async stream(head: ChunkHead, args: unknown[]): Promise<void> {
    try {
      const iterable = this.fn.handler(...args);
      if (!isIterable(iterable)) {
        throw new TypeError(
          `function ${this.fn.name} is registered as a generator but its ` +
            `handler returned ${describe(iterable)}; define it with ` +
            "`async function*`",
        );
      }

      for await (const value of iterable) {
        const data = encodeOutput(value, "value");
        if (!(data instanceof Uint8Array)) {
          // Leaving the loop calls the generator's return(), so its finally blocks run.
          this.emitError(head, data);
          return;
        }
        this.emit({ ...head, kind: "value", data });
      }
    } catch (thrown) {
      this.emitError(head, errorInfoFromThrown(thrown));
      return;
    }

    this.emit({ ...head, kind: "end" });
  }

  private emitError(head: ChunkHead, error: ErrorInfo): void {
    this.emit({ ...head, kind: "error", error });
  }
}

function decodeArgs(run: Run): unknown[] | Error {
  let args: unknown;
  try {
    args = decodeValue(run.args);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return new TypeError(
      `arguments of call ${run.callId} could not be decoded: ${reason}`,
    );
  }

  if (!Array.isArray(args)) {
    return new TypeError(
      `arguments of call ${run.callId} must be an array of positional ` +
        `arguments, got ${describe(args)}`,
    );
  }
  return args;
}

/** Encodes a result or yielded value, or describes why it cannot travel. */
function encodeOutput(value: unknown, root: string): Uint8Array | ErrorInfo {
  try {
    return encodeValue(value, root);
  } catch (error) {
    const code = error instanceof ValueError ? "invalidArgument" : "internal";
    return errorInfoFromThrown(error, code);
  }
}

function isIterable(
  value: unknown,
): value is AsyncIterable<unknown> | Iterable<unknown> {
  if (typeof value !== "object" || value === null) return false;
  return Symbol.asyncIterator in value || Symbol.iterator in value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
