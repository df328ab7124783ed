import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import {
  type EchoCall,
  measureSequential,
  measureThroughput,
  TimeoutError,
  withTimeout,
} from "./workload.ts";

const echo: EchoCall = async (index) => index;

describe("measureSequential", () => {
  it("measures each call after warm-up", async () => {
    const seen: number[] = [];
    const call: EchoCall = async (index) => {
      seen.push(index);
      return index;
    };

    const summary = await measureSequential(call, {
      warmupCalls: 3,
      calls: 10,
      callTimeoutMs: 1000,
    });

    expect(summary.count).toBe(10);
    expect(seen).toHaveLength(13);
    expect(summary.p50Ms).toBeGreaterThanOrEqual(0);
  });

  it("runs one call at a time", async () => {
    let running = 0;
    let maxRunning = 0;
    const call: EchoCall = async (index) => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await sleep(1);
      running -= 1;
      return index;
    };

    await measureSequential(call, {
      warmupCalls: 0,
      calls: 5,
      callTimeoutMs: 1000,
    });

    expect(maxRunning).toBe(1);
  });

  it("rejects a call that returns something else", async () => {
    const wrong: EchoCall = async () => "nothing";
    const options = { warmupCalls: 0, calls: 1, callTimeoutMs: 1000 };

    await expect(measureSequential(wrong, options)).rejects.toThrow(
      /call 0 returned "nothing"/,
    );
  });

  it("rejects a call past its limit", async () => {
    const slow: EchoCall = () => sleep(200, 0);
    const options = { warmupCalls: 0, calls: 1, callTimeoutMs: 20 };

    await expect(measureSequential(slow, options)).rejects.toBeInstanceOf(
      TimeoutError,
    );
  });
});

describe("measureThroughput", () => {
  it("keeps the requested calls in flight", async () => {
    let running = 0;
    let maxRunning = 0;
    const indexes = new Set<number>();
    const call: EchoCall = async (index) => {
      indexes.add(index);
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await sleep(2);
      running -= 1;
      return index;
    };

    const result = await measureThroughput(call, {
      calls: 100,
      inFlight: 8,
      callTimeoutMs: 1000,
    });

    expect(maxRunning).toBe(8);
    expect(indexes.size).toBe(100);
    expect(result.calls).toBe(100);
    expect(result.callsPerSecond).toBeCloseTo(100 / result.seconds);
  });

  it("never exceeds the call count with many loops", async () => {
    let count = 0;
    const call: EchoCall = async (index) => {
      count += 1;
      return index;
    };

    await measureThroughput(call, {
      calls: 5,
      inFlight: 64,
      callTimeoutMs: 1000,
    });

    expect(count).toBe(5);
  });

  it("rejects a non-positive in-flight count", async () => {
    const options = { calls: 1, inFlight: 0, callTimeoutMs: 1000 };

    await expect(measureThroughput(echo, options)).rejects.toThrow(
      /inFlight must be an integer >= 1, got 0/,
    );
  });
});

describe("withTimeout", () => {
  it("passes a prompt value through", async () => {
    await expect(withTimeout(Promise.resolve(4), 100, "x")).resolves.toBe(4);
  });

  it("names the step that timed out", async () => {
    await expect(withTimeout(sleep(200), 10, "redis start")).rejects.toThrow(
      "redis start timed out after 10 ms",
    );
  });
});
