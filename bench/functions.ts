/**
 * The function the benchmark calls. It lives in its own module because the
 * deploy bundles the defining module and every replica evaluates it again,
 * so it must not start work at import.
 */
import * as chalkcompute from "chalkcompute";

/** Returns its argument: a call that measures only the platform's overhead. */
export const noop = chalkcompute.function(
  { name: "bench_noop", concurrency: 64 },
  async (x: number) => x,
);
