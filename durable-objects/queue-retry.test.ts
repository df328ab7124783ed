import { describe, expect, it } from "vitest";
import type { ErrorInfo } from "../schemas/frames.ts";
import type { RetrySpec } from "../schemas/spec.ts";
import { backoffMs, decideRetry, matchesRetryOn } from "./queue-retry.ts";

function policy(overrides: Partial<RetrySpec> = {}): RetrySpec {
  return {
    kind: "exponential",
    attempts: 3,
    initialSeconds: 1,
    multiplier: 2,
    maxWaitSeconds: 60,
    delaySeconds: 1,
    jitter: false,
    retryOn: [],
    ...overrides,
  };
}

function appError(type: string, typeChain = [type, "Error"]): ErrorInfo {
  return { code: "application", type, message: "boom", stack: "", typeChain };
}

describe("backoffMs", () => {
  it("grows exponentially up to maxWait", () => {
    const p = policy({ initialSeconds: 0.5, multiplier: 3, maxWaitSeconds: 5 });
    const waits = [1, 2, 3, 4].map((n) => backoffMs(p, n));
    expect(waits).toEqual([500, 1500, 4500, 5000]);
  });

  it("keeps the linear delay", () => {
    const p = policy({ kind: "linear", delaySeconds: 2 });
    expect([1, 2, 5].map((n) => backoffMs(p, n))).toEqual([2000, 2000, 2000]);
  });

  it("keeps jitter within half to full", () => {
    const p = policy({ jitter: true, initialSeconds: 1 });
    expect(backoffMs(p, 2, () => 0)).toBe(1000);
    expect(backoffMs(p, 2, () => 0.999999)).toBeLessThan(2000);
    expect(backoffMs(p, 2, () => 0.999999)).toBeGreaterThan(1999);
    for (let i = 0; i < 200; i++) {
      const wait = backoffMs(p, 3);
      expect(wait).toBeGreaterThanOrEqual(2000);
      expect(wait).toBeLessThan(4000);
    }
  });

  it("jitters linear delays too", () => {
    const p = policy({ kind: "linear", delaySeconds: 1, jitter: true });
    expect(backoffMs(p, 1, () => 0.5)).toBe(750);
  });
});

describe("matchesRetryOn", () => {
  it("retries every error with an empty retryOn", () => {
    expect(matchesRetryOn(policy(), appError("TypeError"))).toBe(true);
  });

  it("matches a subclass through typeChain", () => {
    const p = policy({ retryOn: ["NetworkError"] });
    const error = appError("TimeoutError", [
      "TimeoutError",
      "NetworkError",
      "Error",
    ]);
    expect(matchesRetryOn(p, error)).toBe(true);
  });

  it("rejects a class outside retryOn", () => {
    const p = policy({ retryOn: ["NetworkError"] });
    expect(matchesRetryOn(p, appError("TypeError"))).toBe(false);
  });

  it("always retries infrastructure codes", () => {
    const p = policy({ retryOn: ["NetworkError"] });
    for (const code of [
      "unavailable",
      "deadlineExceeded",
      "resourceExhausted",
      "aborted",
    ] as const) {
      const error = { ...appError("X"), code };
      expect(matchesRetryOn(p, error)).toBe(true);
    }
  });

  it("never retries invalid arguments", () => {
    const error = { ...appError("X"), code: "invalidArgument" as const };
    expect(matchesRetryOn(policy(), error)).toBe(false);
  });
});

describe("decideRetry", () => {
  it("stops after the last retry", () => {
    const p = policy({ attempts: 2 });
    const error = appError("Error");
    expect(decideRetry(p, { attempt: 2, chunkCount: 0, error }).retry).toBe(
      true,
    );
    expect(decideRetry(p, { attempt: 3, chunkCount: 0, error }).retry).toBe(
      false,
    );
  });

  it("never retries after a streamed value", () => {
    const decision = decideRetry(policy(), {
      attempt: 1,
      chunkCount: 1,
      error: appError("Error"),
    });
    expect(decision.retry).toBe(false);
  });

  it("allows no retry at zero attempts", () => {
    const decision = decideRetry(policy({ attempts: 0 }), {
      attempt: 1,
      chunkCount: 0,
      error: appError("Error"),
    });
    expect(decision.retry).toBe(false);
  });
});
