import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as chalkcompute from "chalkcompute";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  crashOnce,
  exponential,
  exponentialJitter,
  failsAfterValue,
  limitedA,
  limitedB,
  linear,
  linearJitter,
  notRetried,
  pooledA,
  pooledB,
  selfCall,
} from "../fixtures/policies.ts";
import { startTestStack, type TestStack } from "../helpers/stack.ts";

let stack: TestStack;
let dir: string;
let fileCount = 0;

beforeAll(async () => {
  stack = await startTestStack();
  dir = await mkdtemp(join(tmpdir(), "chalkcompute-policies-"));
  await Promise.all(
    [
      pooledA,
      pooledB,
      limitedA,
      limitedB,
      exponential,
      exponentialJitter,
      linear,
      linearJitter,
      notRetried,
      failsAfterValue,
      crashOnce,
      selfCall,
    ].map((fn) => fn.waitReady()),
  );
});

afterAll(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function freshFile(): string {
  fileCount++;
  return join(dir, `record-${fileCount}.log`);
}

async function readLines(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.split("\n").filter((line) => line !== "");
}

/** Returns the gaps in ms between the attempt times recorded in `file`. */
async function attemptGaps(file: string): Promise<number[]> {
  const times = (await readLines(file)).map(Number);
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

// Dispatch, process start-up of the handler and the alarm add latency to
// each wait; on an idle 2-core machine it stays well under this.
const SLACK_MS = 400;

describe("shared concurrency key", () => {
  it("never runs more than 3 at once", async () => {
    const file = freshFile();
    const calls = Array.from({ length: 300 }, (_, i) =>
      (i % 2 === 0 ? pooledA : pooledB).remote(file, i, 10),
    );
    const results = await Promise.all(calls);
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i));

    let running = 0;
    let maxRunning = 0;
    for (const line of await readLines(file)) {
      running += line.startsWith("+") ? 1 : -1;
      maxRunning = Math.max(maxRunning, running);
    }
    console.log(`policies: max concurrency seen ${maxRunning} (cap 3)`);
    expect(maxRunning).toBeLessThanOrEqual(3);
    expect(maxRunning).toBeGreaterThanOrEqual(2);
  }, 120_000);
});

describe("shared rate key", () => {
  it("keeps any 1 s window at 20", async () => {
    const file = freshFile();
    const started = Date.now();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 220; i++) {
      calls.push((i % 2 === 0 ? limitedA : limitedB).remote(file, i));
    }
    await Promise.all(calls);
    const times = (await readLines(file)).map(Number).sort((a, b) => a - b);
    expect(times).toHaveLength(220);

    let busiest = 0;
    for (const [i, start] of times.entries()) {
      let j = i;
      while (j < times.length && (times[j] as number) < start + 1000) j++;
      busiest = Math.max(busiest, j - i);
    }
    // Grants come in bursts, so the rate counts the dispatches before the
    // last burst over the time from the first dispatch to the last burst.
    const first = times[0] as number;
    const last = times[times.length - 1] as number;
    const beforeLast = times.filter((t) => t < last - 100).length;
    const rate = (beforeLast * 1000) / (last - first);
    console.log(
      `policies: rate limit 20/s, busiest 1 s window ${busiest}, achieved ${rate.toFixed(2)}/s over ${((last - first) / 1000).toFixed(1)} s (${((Date.now() - started) / 1000).toFixed(1)} s wall)`,
    );
    expect(busiest).toBeLessThanOrEqual(20);
    expect(rate).toBeGreaterThan(15);
  }, 60_000);
});

describe("retry backoff", () => {
  it("waits 0.2, 0.4, 0.8 s exponentially", async () => {
    const file = freshFile();
    const call = await exponential.spawn(file, 3);
    await expect(call.get()).resolves.toBe(4);
    const gaps = await attemptGaps(file);
    console.log(`policies: exponential gaps ${gaps.join(", ")} ms`);
    expect(gaps).toHaveLength(3);
    [200, 400, 800].forEach((wait, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(wait);
      expect(gaps[i]).toBeLessThan(wait + SLACK_MS);
    });
    expect((await call.status()).attempt).toBe(4);
  });

  it("keeps jittered gaps within half to full", async () => {
    const file = freshFile();
    await expect(exponentialJitter.remote(file, 3)).resolves.toBe(4);
    const gaps = await attemptGaps(file);
    console.log(`policies: exponential jitter gaps ${gaps.join(", ")} ms`);
    [200, 400, 800].forEach((wait, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(wait / 2);
      expect(gaps[i]).toBeLessThan(wait + SLACK_MS);
    });
  });

  it("waits 0.3 s linearly", async () => {
    const file = freshFile();
    await expect(linear.remote(file, 2)).resolves.toBe(3);
    const gaps = await attemptGaps(file);
    console.log(`policies: linear gaps ${gaps.join(", ")} ms`);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(300);
      expect(gap).toBeLessThan(300 + SLACK_MS);
    }
  });

  it("keeps jittered linear gaps in bounds", async () => {
    const file = freshFile();
    await expect(linearJitter.remote(file, 2)).resolves.toBe(3);
    const gaps = await attemptGaps(file);
    console.log(`policies: linear jitter gaps ${gaps.join(", ")} ms`);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(150);
      expect(gap).toBeLessThan(300 + SLACK_MS);
    }
  });

  it("fails once retries are used up", async () => {
    const file = freshFile();
    const call = await linear.spawn(file, 5);
    await expect(call.get()).rejects.toThrow(/attempt 3 failed on purpose/);
    expect(await readLines(file)).toHaveLength(3);
    expect((await call.status()).attempt).toBe(3);
  });
});

describe("retry rules", () => {
  it("does not retry a non-matching error", async () => {
    const file = freshFile();
    const call = await notRetried.spawn(file);
    const error = await call.get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(chalkcompute.RemoteError);
    expect((error as chalkcompute.RemoteError).type).toBe("TypeError");
    expect(await readLines(file)).toHaveLength(1);
    expect((await call.status()).attempt).toBe(1);
  });

  it("does not retry after a value", async () => {
    const file = freshFile();
    const values: unknown[] = [];
    const consume = async () => {
      for await (const value of failsAfterValue.remote(file)) {
        values.push(value);
      }
    };
    await expect(consume()).rejects.toThrow(/failed after a value/);
    expect(values).toEqual([1]);
    expect(await readLines(file)).toHaveLength(1);
  });

  it("retries a replica killed mid-call", async () => {
    const file = freshFile();
    const call = await crashOnce.spawn(file);
    await expect(call.get({ timeoutMs: 50_000 })).resolves.toBe(2);
    expect((await call.status()).attempt).toBe(2);
  }, 60_000);
});

describe("deadlock", () => {
  it("fails a self-call at concurrency 1 fast", async () => {
    const started = Date.now();
    const outcome = (await selfCall.remote(1)) as Record<string, unknown>;
    const elapsedMs = Date.now() - started;
    expect(outcome.type).toBe("DeadlockError");
    expect(outcome.code).toBe("failedPrecondition");
    expect(String(outcome.message)).toMatch(/raise the concurrency/);
    expect(elapsedMs).toBeLessThan(10_000);
  });
});
