import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { doubledTicker, sumOfDoubles, ticker } from "../fixtures/streaming.ts";
import { startTestStack, type TestStack } from "../helpers/stack.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
  await ticker.waitReady();
});

afterAll(async () => {
  await stack?.stop();
});

describe("generator streaming", () => {
  it("delivers each value while the generator still runs", async () => {
    const gapMs = 400;
    const arrivals: { index: number; yieldedAt: number; arrivedAt: number }[] =
      [];
    for await (const tick of ticker.remote(4, gapMs)) {
      arrivals.push({ ...tick, arrivedAt: Date.now() });
    }

    expect(arrivals.map((a) => a.index)).toEqual([0, 1, 2, 3]);
    const lastYield = arrivals[3]!.yieldedAt;
    // The first value reached the caller long before the last was produced.
    expect(arrivals[0]!.arrivedAt).toBeLessThan(lastYield - gapMs);
    for (const arrival of arrivals) {
      expect(arrival.arrivedAt - arrival.yieldedAt).toBeLessThan(gapMs);
    }
  });

  it("streams an empty generator", async () => {
    const values: unknown[] = [];
    for await (const value of ticker.remote(0, 0)) values.push(value);
    expect(values).toEqual([]);
  });
});

describe("nested calls", () => {
  it("calls other functions from inside a function", async () => {
    await expect(sumOfDoubles.remote([1, 2, 3])).resolves.toBe(12);
  });

  it("streams from a generator that calls a generator", async () => {
    const values: number[] = [];
    for await (const value of doubledTicker.remote(5)) values.push(value);
    expect(values).toEqual([0, 2, 4, 6, 8]);
  });
});
