import { performance } from "node:perf_hooks";
import { type LatencySummary, summarizeLatencies } from "./stats.ts";

/**
 * One no-op call to the system under test. It must resolve to `index`, the
 * argument it was given, so that a broken target cannot pass as a fast one.
 */
export type EchoCall = (index: number) => Promise<unknown>;

/** Settings of a sequential latency measurement. */
export interface SequentialOptions {
  /** Calls made and discarded first, so that caches and replicas are warm. */
  warmupCalls: number;
  /** Calls whose round trips are measured, one after another. */
  calls: number;
  /** Limit of a single call; a slower call fails the measurement. */
  callTimeoutMs: number;
}

/** Settings of a throughput measurement. */
export interface ThroughputOptions {
  /** Total calls to complete. */
  calls: number;
  /** Calls kept in flight at once. */
  inFlight: number;
  callTimeoutMs: number;
}

/** Outcome of a throughput measurement. */
export interface ThroughputResult {
  calls: number;
  inFlight: number;
  seconds: number;
  callsPerSecond: number;
}

/** Raised when a call or a whole step takes longer than its limit. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** Rejects with a `TimeoutError` naming `operation` unless `promise` settles in time. */
export async function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  operation: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new TimeoutError(`${operation} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });

  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function callChecked(
  call: EchoCall,
  index: number,
  timeoutMs: number,
): Promise<void> {
  const result = await withTimeout(call(index), timeoutMs, `call ${index}`);
  if (result !== index) {
    throw new Error(
      `call ${index} returned ${JSON.stringify(result)}; a no-op echo must return its argument`,
    );
  }
}

/** Measures round trips of calls made one at a time, after a warm-up. */
export async function measureSequential(
  call: EchoCall,
  options: SequentialOptions,
): Promise<LatencySummary> {
  for (let i = 0; i < options.warmupCalls; i++) {
    await callChecked(call, i, options.callTimeoutMs);
  }

  const samples: number[] = [];
  for (let i = 0; i < options.calls; i++) {
    const start = performance.now();
    await callChecked(call, i, options.callTimeoutMs);
    samples.push(performance.now() - start);
  }

  return summarizeLatencies(samples);
}

/**
 * Measures completed calls per second with `inFlight` calls outstanding: each
 * of `inFlight` loops starts its next call as soon as its last one resolves.
 */
export async function measureThroughput(
  call: EchoCall,
  options: ThroughputOptions,
): Promise<ThroughputResult> {
  if (!Number.isInteger(options.inFlight) || options.inFlight < 1) {
    throw new RangeError(
      `inFlight must be an integer >= 1, got ${options.inFlight}`,
    );
  }

  let next = 0;
  const runLoop = async (): Promise<void> => {
    while (next < options.calls) {
      const index = next;
      next += 1;
      await callChecked(call, index, options.callTimeoutMs);
    }
  };

  const start = performance.now();
  const loops = Array.from({ length: options.inFlight }, runLoop);
  await Promise.all(loops);
  const seconds = (performance.now() - start) / 1000;

  return {
    calls: options.calls,
    inFlight: options.inFlight,
    seconds,
    callsPerSecond: options.calls / seconds,
  };
}

/** A running system under test: a no-op echo call and how to stop it. */
export interface BenchTarget {
  /** Software versions that produced the figures, by component. */
  versions: Record<string, string>;
  call: EchoCall;
  /** Stops everything the target started; safe to call twice. */
  stop(): Promise<void>;
}
