import {
  abortAllDurableObjects,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PERMIT_LEASE_MS } from "./semaphore.ts";

function semaphore() {
  const name = `key:${crypto.randomUUID()}`;
  return () => env.SEMAPHORE.get(env.SEMAPHORE.idFromName(name));
}

function holders(prefix: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    callId: `${prefix}-${i}`,
    attempt: 1,
  }));
}

describe("Semaphore", () => {
  it("grants at most max permits", async () => {
    const stub = semaphore();
    const a = await stub().acquire({
      queue: "a",
      max: 3,
      holders: holders("a", 2),
    });
    const b = await stub().acquire({
      queue: "b",
      max: 3,
      holders: holders("b", 2),
    });
    expect(a).toHaveLength(2);
    expect(b).toHaveLength(1);
    expect(await stub().count()).toBe(3);
  });

  it("grants a held permit again", async () => {
    const stub = semaphore();
    const [holder] = holders("a", 1);
    if (!holder) throw new Error("no holder");
    await stub().acquire({ queue: "a", max: 1, holders: [holder] });
    const again = await stub().acquire({
      queue: "a",
      max: 1,
      holders: [holder],
    });
    expect(again).toEqual([holder]);
    expect(await stub().count()).toBe(1);
  });

  it("frees a permit on release", async () => {
    const stub = semaphore();
    const [first, second] = holders("a", 2);
    if (!first || !second) throw new Error("no holders");
    await stub().acquire({ queue: "a", max: 1, holders: [first] });
    expect(
      await stub().acquire({ queue: "a", max: 1, holders: [second] }),
    ).toHaveLength(0);

    expect(await stub().release("a", [first])).toBe(1);
    expect(
      await stub().acquire({ queue: "a", max: 1, holders: [second] }),
    ).toHaveLength(1);
  });

  it("reclaims an expired lease", async () => {
    const stub = semaphore();
    await stub().acquire({ queue: "gone", max: 1, holders: holders("g", 1) });
    const alarm = await runInDurableObject(stub(), (_, state) =>
      state.storage.getAlarm(),
    );
    expect(alarm).toBeGreaterThan(Date.now() + PERMIT_LEASE_MS - 5000);

    await runInDurableObject(stub(), (_, state) => {
      state.storage.sql.exec("UPDATE permits SET expires_ms = 0");
    });
    await runDurableObjectAlarm(stub());
    expect(await stub().count()).toBe(0);
  });

  it("keeps a renewed lease", async () => {
    const stub = semaphore();
    const held = holders("r", 1);
    await stub().acquire({ queue: "r", max: 1, holders: held });
    await runInDurableObject(stub(), (_, state) => {
      state.storage.sql.exec(
        "UPDATE permits SET expires_ms = ?",
        Date.now() + 50,
      );
    });
    expect(await stub().renew("r", held)).toBe(1);
    await runDurableObjectAlarm(stub());
    expect(await stub().count()).toBe(1);
  });

  it("keeps permits across a restart", async () => {
    const stub = semaphore();
    await stub().acquire({ queue: "a", max: 2, holders: holders("a", 2) });
    await abortAllDurableObjects();
    const late = await stub().acquire({
      queue: "b",
      max: 2,
      holders: holders("b", 1),
    });
    expect(late).toHaveLength(0);
    expect(await stub().count()).toBe(2);
  });
});
