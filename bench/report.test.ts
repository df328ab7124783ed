import { describe, expect, it } from "vitest";
import {
  type BenchResults,
  computeRatios,
  formatReport,
  type TargetFigures,
} from "./report.ts";

function figures(p50Ms: number, p99Ms: number, callsPerSecond: number) {
  const result: TargetFigures = {
    versions: {},
    sequential: {
      count: 500,
      p50Ms,
      p99Ms,
      meanMs: p50Ms,
      minMs: p50Ms,
      maxMs: p99Ms,
    },
    throughput: {
      calls: 3000,
      inFlight: 64,
      seconds: 3000 / callsPerSecond,
      callsPerSecond,
    },
  };
  return result;
}

function results(partial: Partial<BenchResults>): BenchResults {
  return {
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:01:00.000Z",
    machine: {
      cores: 2,
      cpuModel: "Test CPU",
      memoryGiB: 4,
      node: "v20.0.0",
      os: "linux",
    },
    method: {
      warmupCalls: 50,
      sequentialCalls: 500,
      throughputCalls: 3000,
      inFlight: 64,
      callTimeoutMs: 10_000,
    },
    ratios: computeRatios(partial.chalkcompute, partial.bullmq),
    ...partial,
  };
}

describe("computeRatios", () => {
  it("divides chalkcompute by BullMQ", () => {
    const ratios = computeRatios(figures(2, 8, 3000), figures(1, 4, 12000));

    expect(ratios.sequentialP50).toBe(2);
    expect(ratios.sequentialP99).toBe(2);
    expect(ratios.throughput).toBe(0.25);
  });

  it("gives null when a side failed", () => {
    const ratios = computeRatios({ error: "no stack" }, figures(1, 4, 12000));

    expect(ratios.sequentialP50).toBeNull();
    expect(ratios.throughput).toBeNull();
  });

  it("gives null when a side did not run", () => {
    expect(computeRatios(figures(1, 2, 3), undefined).sequentialP99).toBeNull();
  });
});

describe("formatReport", () => {
  it("prints figures and ratios", () => {
    const text = formatReport(
      results({
        chalkcompute: figures(2, 8, 3000),
        bullmq: figures(1, 4, 12000),
      }),
    );

    expect(text).toContain("2 cores, Test CPU");
    expect(text).toMatch(
      /sequential p50 \(ms\)\s+2\.00\s+1\.00\s+2\.00x\s+lower/,
    );
    expect(text).toMatch(
      /throughput at 64 in flight \(calls\/s\)\s+3000\s+12000\s+0\.25x\s+higher/,
    );
  });

  it("marks missing and failed targets", () => {
    const text = formatReport(
      results({ chalkcompute: { error: "stack did not start" } }),
    );

    expect(text).toMatch(/sequential p50 \(ms\)\s+failed\s+not run\s+-/);
    expect(text).toContain("chalkcompute failed: stack did not start");
  });
});
