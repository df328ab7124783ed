import { abortAllDurableObjects } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { checkRequest, GUARD_MS } from "./rate-limiter.ts";
import { settle } from "./test-kit.ts";

function limiter() {
  const name = `key:${crypto.randomUUID()}`;
  return () => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(name));
}

describe("RateLimiter", () => {
  it("grants up to rate in bulk", async () => {
    const stub = limiter();
    const first = await stub().take({ count: 3, rate: 5, windowMs: 60_000 });
    expect(first.grantedAtMs).toHaveLength(3);
    expect(first.nextFreeMs).toBeNull();

    const second = await stub().take({ count: 4, rate: 5, windowMs: 60_000 });
    expect(second.grantedAtMs).toHaveLength(2);
    expect(second.nextFreeMs).toBe(
      (first.grantedAtMs[0] ?? 0) + 60_000 + GUARD_MS + 1,
    );
  });

  it("frees tokens once the window slides", async () => {
    const stub = limiter();
    const first = await stub().take({ count: 2, rate: 2, windowMs: 150 });
    expect(first.grantedAtMs).toHaveLength(2);
    const blocked = await stub().take({ count: 1, rate: 2, windowMs: 150 });
    expect(blocked.grantedAtMs).toHaveLength(0);

    await settle(Math.max(0, (blocked.nextFreeMs ?? 0) - Date.now()) + 5);
    const later = await stub().take({ count: 5, rate: 2, windowMs: 150 });
    expect(later.grantedAtMs).toHaveLength(2);
  });

  it("never exceeds rate in any window", async () => {
    const stub = limiter();
    const times: number[] = [];
    const windowMs = 100;
    const deadline = Date.now() + 600;
    while (Date.now() < deadline) {
      const grant = await stub().take({ count: 3, rate: 4, windowMs });
      times.push(...grant.grantedAtMs);
      await settle(7);
    }
    for (const start of times) {
      const inWindow = times.filter((t) => t >= start && t <= start + windowMs);
      expect(inWindow.length).toBeLessThanOrEqual(4);
    }
    expect(times.length).toBeGreaterThanOrEqual(12);
  });

  it("keeps the log across a restart", async () => {
    const stub = limiter();
    await stub().take({ count: 3, rate: 3, windowMs: 60_000 });
    await abortAllDurableObjects();
    const after = await stub().take({ count: 1, rate: 3, windowMs: 60_000 });
    expect(after.grantedAtMs).toHaveLength(0);
    expect(await stub().grants(60_000)).toHaveLength(3);
  });

  it("rejects a rate of zero", () => {
    expect(() => checkRequest({ count: 1, rate: 0, windowMs: 1000 })).toThrow(
      /rate must be an integer >= 1, got 0/,
    );
  });
});
