/** Settings of a RestartBackoff, in milliseconds. */
export interface RestartBackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** A replica that served this long before exiting starts over at `initialMs`. */
  resetAfterMs?: number;
}

/**
 * Delays between restarts of a crashing replica: 0.5 s, doubling up to
 * 10 s, and back to 0.5 s after a run of 60 s without a crash.
 */
export class RestartBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private failures = 0;

  constructor(options: RestartBackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 10_000;
    this.resetAfterMs = options.resetAfterMs ?? 60_000;
  }

  /** Returns the delay before the next restart, given how long the replica served. */
  next(servedMs: number): number {
    if (servedMs >= this.resetAfterMs) this.failures = 0;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** this.failures);
    this.failures++;
    return delay;
  }
}
