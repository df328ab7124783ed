import { describe, expect, it } from "vitest";
import { validateSpec } from "../schemas/spec.ts";
import { defineFunction } from "./define-function.ts";
import { OptionError } from "./errors.ts";
import { resolveFunctionOptions } from "./options.ts";
import {
  ConcurrencyPolicy,
  RateLimitPolicy,
  RetryPolicy,
  resolvePolicies,
} from "./policies.ts";

class NetworkError extends Error {}

function handler() {
  return 1;
}

describe("RetryPolicy", () => {
  it("applies the exponential defaults", () => {
    expect(RetryPolicy.exponential().spec).toEqual({
      kind: "exponential",
      attempts: 3,
      initialSeconds: 1,
      multiplier: 2,
      maxWaitSeconds: 60,
      delaySeconds: 0,
      jitter: true,
      retryOn: [],
    });
  });

  it("applies the linear defaults", () => {
    const spec = RetryPolicy.linear().spec;
    expect(spec.kind).toBe("linear");
    expect(spec.attempts).toBe(3);
    expect(spec.delaySeconds).toBe(1);
    expect(spec.jitter).toBe(false);
  });

  it("stores class names of retryOn", () => {
    const policy = RetryPolicy.linear({
      retryOn: [NetworkError, "TimeoutError"],
    });
    expect(policy.spec.retryOn).toEqual(["NetworkError", "TimeoutError"]);
  });

  it.each([
    [{ attempts: -1 }, /attempts must be an integer >= 0, got -1/],
    [{ attempts: 1.5 }, /attempts must be an integer >= 0, got 1.5/],
    [{ initial: -1 }, /initial must be a number of seconds >= 0, got -1/],
    [{ maxWait: -2 }, /maxWait must be a number of seconds >= 0, got -2/],
    [{ multiplier: 0.5 }, /multiplier must be a number >= 1, got 0.5/],
    [{ retryOn: [""] }, /retryOn\[0\] must be an error class/],
  ])("rejects exponential %j", (options, message) => {
    expect(() => RetryPolicy.exponential(options)).toThrow(message);
  });

  it("rejects a negative linear delay", () => {
    expect(() => RetryPolicy.linear({ delay: -1 })).toThrow(OptionError);
  });
});

describe("RateLimitPolicy", () => {
  it("defaults to per second without a key", () => {
    expect(new RateLimitPolicy({ rate: 5 }).spec).toEqual({
      rate: 5,
      per: "second",
      key: "",
    });
  });

  it("rejects a rate of zero", () => {
    expect(() => new RateLimitPolicy({ rate: 0 })).toThrow(
      /rate must be an integer >= 1, got 0/,
    );
  });

  it("rejects an unknown per", () => {
    expect(
      () => new RateLimitPolicy({ rate: 1, per: "day" as "hour" }),
    ).toThrow(/per must be "second", "minute" or "hour", got "day"/);
  });

  it("rejects an empty key", () => {
    expect(() => new RateLimitPolicy({ rate: 1, key: "" })).toThrow(
      /key must be a non-empty string, got ""/,
    );
  });
});

describe("ConcurrencyPolicy", () => {
  it("rejects maxConcurrent of zero", () => {
    expect(() => new ConcurrencyPolicy({ maxConcurrent: 0 })).toThrow(
      /maxConcurrent must be an integer >= 1, got 0/,
    );
  });

  it("rejects an empty key", () => {
    expect(() => new ConcurrencyPolicy({ maxConcurrent: 2, key: " " })).toThrow(
      /key must be a non-empty string/,
    );
  });
});

describe("resolvePolicies", () => {
  it("turns a retry count into exponential", () => {
    const { policies } = resolvePolicies({ retries: 4 }, 1);
    expect(policies.retries?.kind).toBe("exponential");
    expect(policies.retries?.attempts).toBe(4);
  });

  it("turns a rate into per second", () => {
    const { policies } = resolvePolicies({ rateLimit: 20 }, 1);
    expect(policies.rateLimit).toEqual({ rate: 20, per: "second", key: "" });
  });

  it("takes the cap and key of a ConcurrencyPolicy", () => {
    const pool = new ConcurrencyPolicy({ maxConcurrent: 4, key: "gpu-pool" });
    expect(resolvePolicies({ concurrency: pool }, 1)).toEqual({
      concurrency: 4,
      policies: { concurrencyKey: "gpu-pool" },
    });
  });

  it("keeps the default cap without options", () => {
    expect(resolvePolicies({}, 1)).toEqual({ concurrency: 1, policies: {} });
  });

  it.each([
    [{ retries: -1 }, /retries attempts must be an integer >= 0, got -1/],
    [{ retries: "3" }, /retries must be an integer >= 0 or a RetryPolicy/],
    [{ rateLimit: 0 }, /rateLimit must be an integer >= 1/],
    [{ concurrency: 0 }, /concurrency must be an integer >= 1/],
  ])("rejects %j", (options, message) => {
    expect(() => resolvePolicies(options, 1)).toThrow(message);
  });
});

describe("function options with policies", () => {
  it("accepts the policy options", () => {
    const resolved = resolveFunctionOptions(
      {
        retries: RetryPolicy.linear({ attempts: 2 }),
        rateLimit: new RateLimitPolicy({ rate: 3, per: "minute", key: "api" }),
        concurrency: new ConcurrencyPolicy({ maxConcurrent: 3, key: "pool" }),
      },
      handler,
    );
    expect(resolved.concurrency).toBe(3);
    expect(resolved.policies.concurrencyKey).toBe("pool");
    expect(resolved.policies.rateLimit?.key).toBe("api");
    expect(resolved.policies.retries?.attempts).toBe(2);
  });

  it("fails at definition on a bad value", () => {
    expect(() =>
      defineFunction({ name: "bad_rate", rateLimit: 0 }, handler),
    ).toThrow(OptionError);
  });

  it("builds spec fields the queue accepts", () => {
    const { concurrency, policies } = resolvePolicies(
      {
        retries: RetryPolicy.linear(),
        rateLimit: 5,
        concurrency: new ConcurrencyPolicy({ maxConcurrent: 2, key: "k" }),
      },
      1,
    );
    const spec = {
      name: "fn",
      generator: false,
      concurrency,
      timeoutSeconds: 10,
      module: "m.ts",
      bundleHash: "0".repeat(64),
      ...policies,
    };
    expect(validateSpec(spec)).toEqual([]);
    expect(validateSpec({ ...spec, concurrencyKey: "" })).toEqual([
      'concurrencyKey must be a non-empty string, got ""',
    ]);
  });
});
