import { functionOfCallId } from "../schemas/spec.ts";
import { OutcomeCollector, outcomeValue, ValueStream } from "./call-results.ts";
import { defaultCallClient, defaultHttp } from "./default-client.ts";
import { OptionError, TimeoutError } from "./errors.ts";

/** Options of `FunctionCall.get`. */
export interface GetOptions {
  /** Time limit in milliseconds; by default `get` waits until the call ends. */
  timeoutMs?: number;
}

/** Status of a call from `GET /v1/calls/{id}`: attempts, timestamps and, once finished, the outcome. */
export interface CallStatus {
  status: string;
  [field: string]: unknown;
}

/**
 * A handle on a stored call, usable from any process that reaches the same
 * gateway. `Result` is what `get()` resolves with (an array of values for a
 * generator call) and `Item` what `stream()` yields.
 *
 * @example
 * const call = await add.spawn(3, 5);
 * await call.get(); // 8
 * await FunctionCall.fromId(call.id).get(); // 8, from any process
 */
export class FunctionCall<Result = unknown, Item = unknown> {
  /** The call id, `fc-<ULID>-<function name>`. */
  readonly id: string;

  constructor(id: string) {
    if (typeof id !== "string" || functionOfCallId(id) === null) {
      throw new OptionError(
        `call id ${JSON.stringify(id)} is malformed: expected ` +
          '"fc-<26 characters>-<function name>" as returned by spawn()',
      );
    }
    this.id = id;
  }

  /** Returns a handle on the call with this id. */
  static fromId<Result = unknown, Item = unknown>(
    id: string,
  ): FunctionCall<Result, Item> {
    return new FunctionCall(id);
  }

  /** Name of the function this call runs. */
  get functionName(): string {
    return functionOfCallId(this.id) as string;
  }

  /**
   * Waits for the call to end and returns its result; for a generator call,
   * an array of every yielded value. Rejects with RemoteError if it failed.
   */
  async get(options: GetOptions = {}): Promise<Result> {
    checkGetOptions(options);
    const collector = new OutcomeCollector();
    const stop = defaultCallClient().subscribe(this.id, collector, 0);
    const { timeoutMs } = options;
    if (timeoutMs === undefined) {
      return outcomeValue(await collector.promise) as Result;
    }

    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stop();
        reject(
          new TimeoutError(
            `call ${this.id} did not finish within ${timeoutMs} ms; ` +
              "call get() again to keep waiting",
            timeoutMs,
          ),
        );
      }, timeoutMs);
    });
    try {
      const outcome = await Promise.race([collector.promise, expired]);
      return outcomeValue(outcome) as Result;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Streams the values of a generator call from the first one, as they are
   * yielded; a plain call yields its result once.
   */
  stream(): AsyncIterable<Item> {
    const stream = new ValueStream<Item>();
    stream.onStop(defaultCallClient().subscribe(this.id, stream, 0));
    return stream;
  }

  /** Returns the call's status from `GET /v1/calls/{id}`. */
  status(): Promise<CallStatus> {
    return defaultHttp().request<CallStatus>(
      "GET",
      `/v1/calls/${encodeURIComponent(this.id)}`,
    );
  }
}

/** Throws OptionError for unknown keys or a timeout that is not a positive number. */
function checkGetOptions(options: GetOptions): void {
  for (const key of Object.keys(options)) {
    if (key !== "timeoutMs") {
      throw new OptionError(
        `unknown get() option ${JSON.stringify(key)}; the accepted option is timeoutMs`,
      );
    }
  }
  const { timeoutMs } = options;
  if (
    timeoutMs !== undefined &&
    !(typeof timeoutMs === "number" && timeoutMs > 0)
  ) {
    throw new OptionError(
      `timeoutMs must be a number of milliseconds > 0, got ${JSON.stringify(timeoutMs)}`,
    );
  }
}
