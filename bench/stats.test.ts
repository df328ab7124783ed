import { describe, expect, it } from "vitest";
import { percentile, summarizeLatencies } from "./stats.ts";

describe("percentile", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it("takes the nearest rank", () => {
    expect(percentile(hundred, 0.5)).toBe(50);
    expect(percentile(hundred, 0.99)).toBe(99);
    expect(percentile(hundred, 1)).toBe(100);
  });

  it("rounds the rank up on small sets", () => {
    expect(percentile([10, 20, 30], 0.5)).toBe(20);
    expect(percentile([10, 20, 30], 0.99)).toBe(30);
  });

  it("returns the only sample", () => {
    expect(percentile([7], 0.01)).toBe(7);
  });

  it("rejects an empty set", () => {
    expect(() => percentile([], 0.5)).toThrow(RangeError);
  });

  it("rejects fractions outside (0, 1]", () => {
    expect(() => percentile(hundred, 0)).toThrow(/got 0/);
    expect(() => percentile(hundred, 1.5)).toThrow(/got 1.5/);
    expect(() => percentile(hundred, Number.NaN)).toThrow(/got NaN/);
  });
});

describe("summarizeLatencies", () => {
  it("sorts before ranking", () => {
    const summary = summarizeLatencies([5, 1, 4, 2, 3]);

    expect(summary.count).toBe(5);
    expect(summary.p50Ms).toBe(3);
    expect(summary.p99Ms).toBe(5);
    expect(summary.meanMs).toBe(3);
    expect(summary.minMs).toBe(1);
    expect(summary.maxMs).toBe(5);
  });

  it("leaves the input unchanged", () => {
    const samples = [3, 1, 2];
    summarizeLatencies(samples);

    expect(samples).toEqual([3, 1, 2]);
  });

  it("rejects zero samples", () => {
    expect(() => summarizeLatencies([])).toThrow(/zero latency samples/);
  });
});
