import type { Run } from "../schemas/frames.ts";

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A call a worker is executing, and whether it passed its deadline. */
export interface RunningCall {
  run: Run;
  pastDeadline: boolean;
}

/**
 * The calls one worker process is executing, keyed by call id and attempt,
 * each with a timer that fires `onDeadline` once its `deadlineMs` passes.
 */
export class RunningCalls {
  private readonly calls = new Map<
    string,
    RunningCall & { timer: NodeJS.Timeout | undefined }
  >();

  constructor(private readonly onDeadline: (call: RunningCall) => void) {}

  /** Number of calls running. */
  get size(): number {
    return this.calls.size;
  }

  /** Returns the ids of the running calls, for `hello`. */
  callIds(): string[] {
    return [...this.calls.values()].map((call) => call.run.callId);
  }

  /** Starts tracking a run and its deadline. */
  add(run: Run): void {
    this.calls.set(key(run.callId, run.attempt), {
      run,
      pastDeadline: false,
      timer: this.deadlineTimer(run, () => {
        const current = this.calls.get(key(run.callId, run.attempt));
        if (!current) return;
        current.pastDeadline = true;
        this.onDeadline(current);
      }),
    });
  }

  /** Returns whether this attempt of the call is running. */
  has(callId: string, attempt: number): boolean {
    return this.calls.has(key(callId, attempt));
  }

  /** Stops tracking a call after its final chunk. */
  finish(callId: string, attempt: number): void {
    const call = this.calls.get(key(callId, attempt));
    clearTimeout(call?.timer);
    this.calls.delete(key(callId, attempt));
  }

  /** Stops tracking every call and returns them, after the worker exited. */
  takeAll(): RunningCall[] {
    const calls = [...this.calls.values()];
    for (const call of calls) clearTimeout(call.timer);
    this.calls.clear();
    return calls.map(({ run, pastDeadline }) => ({ run, pastDeadline }));
  }

  private deadlineTimer(
    run: Run,
    fire: () => void,
  ): NodeJS.Timeout | undefined {
    if (!Number.isFinite(run.deadlineMs) || run.deadlineMs <= 0) {
      return undefined;
    }
    const delay = Math.max(0, run.deadlineMs - Date.now());
    return setTimeout(fire, Math.min(MAX_TIMER_MS, delay));
  }
}

function key(callId: string, attempt: number): string {
  return `${callId}/${attempt}`;
}
