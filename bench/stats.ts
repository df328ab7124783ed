/** Latency figures of one measurement, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

/**
 * Returns the nearest-rank percentile of ascending samples: the smallest
 * sample that at least `fraction` of all samples are less than or equal to.
 */
export function percentile(
  sorted: readonly number[],
  fraction: number,
): number {
  if (sorted.length === 0) {
    throw new RangeError("percentile of an empty sample set is undefined");
  }
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`fraction must be in (0, 1], got ${fraction}`);
  }

  const rank = Math.ceil(fraction * sorted.length);
  return sorted[rank - 1]!;
}

/** Summarizes latency samples given in milliseconds, in any order. */
export function summarizeLatencies(
  samplesMs: readonly number[],
): LatencySummary {
  if (samplesMs.length === 0) {
    throw new RangeError("cannot summarize zero latency samples");
  }

  const sorted = [...samplesMs].sort((a, b) => a - b);
  const total = sorted.reduce((sum, value) => sum + value, 0);

  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    meanMs: total / sorted.length,
    minMs: sorted[0]!,
    maxMs: sorted[sorted.length - 1]!,
  };
}
