import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import * as chalkcompute from "chalkcompute";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  add,
  bigText,
  divide,
  echo,
  fragile,
  overQuota,
  serial,
  wide,
} from "../fixtures/calls.ts";
import { startTestStack, type TestStack } from "../helpers/stack.ts";

const run = promisify(execFile);
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
  await add.waitReady();
});

afterAll(async () => {
  await stack?.stop();
});

describe("single-value calls", () => {
  it("runs the body locally when called directly", () => {
    expect(add(3, 5)).toBe(8);
  });

  it("computes remote results on a worker", async () => {
    await expect(add.remote(3, 5)).resolves.toBe(8);
    await expect(add.remote(-1, 0.5)).resolves.toBe(-0.5);
  });

  it("round-trips every supported value type", async () => {
    const value = {
      missing: undefined,
      bytes: new Uint8Array([0, 1, 255]),
      when: new Date("2026-12-04T10:00:00.000Z"),
      big: 2n ** 70n,
      map: new Map<unknown, unknown>([
        ["a", 1],
        [2, new Set(["x", "y"])],
      ]),
      nested: [null, true, "text", [1.5, { deep: [undefined] }]],
    };
    const result = await echo.remote(value);
    expect(result).toEqual(value);
    const back = result as typeof value;
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(back.when).toBeInstanceOf(Date);
    expect(typeof back.big).toBe("bigint");
    expect(back.map).toBeInstanceOf(Map);
    expect("missing" in back).toBe(true);
  });

  it("rejects a value that cannot travel, naming its place", async () => {
    const bad = { user: { name: "a", callback: () => 1 } };
    await expect(echo.remote(bad)).rejects.toThrow(/args\[0\]\.user\.callback/);
    await expect(echo.remote(bad)).rejects.toBeInstanceOf(
      chalkcompute.ValueError,
    );
  });

  it("rejects arguments over the size limit at the caller", async () => {
    const big = "x".repeat(3 * 1024 * 1024);
    await expect(echo.remote(big)).rejects.toBeInstanceOf(
      chalkcompute.ValueError,
    );
    // The connection stays usable for the next call.
    await expect(add.remote(1, 2)).resolves.toBe(3);
  });

  it("fails a result over the size limit once, naming the limit", async () => {
    const error = await bigText
      .remote(3 * 1024 * 1024)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(chalkcompute.RemoteError);
    expect((error as chalkcompute.RemoteError).message).toMatch(
      /result is 3\.0 MiB when encoded, over the limit of 1\.0 MiB/,
    );
    await expect(bigText.remote(10)).resolves.toBe("y".repeat(10));
  });

  it("runs many calls in parallel over one connection", async () => {
    const inputs = Array.from({ length: 200 }, (_, i) => i);
    const results = await Promise.all(inputs.map((i) => echo.remote(i)));
    expect(results).toEqual(inputs);
  });
});

describe("remote errors", () => {
  it("keeps a built-in error's class name and message", async () => {
    const error = await divide.remote(1, 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(chalkcompute.RemoteError);
    const remote = error as chalkcompute.RemoteError;
    expect(remote.message).toBe("RangeError: division by zero");
    expect(remote.type).toBe("RangeError");
    expect(remote.remoteStack).toContain("division by zero");
    expect(remote.callId).toMatch(/^fc-/);
  });

  it("keeps a user error class name", async () => {
    const error = await overQuota.remote("ada").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(chalkcompute.RemoteError);
    expect((error as Error).message).toBe("QuotaError: user ada is over quota");
    expect((error as chalkcompute.RemoteError).type).toBe("QuotaError");
  });

  it("delivers a generator's values before its error", async () => {
    const seen: string[] = [];
    let caught: unknown;
    try {
      for await (const value of fragile.remote()) seen.push(value);
    } catch (error) {
      caught = error;
    }
    expect(seen).toEqual(["ok-1", "ok-2"]);
    expect(caught).toBeInstanceOf(chalkcompute.RemoteError);
    expect((caught as Error).message).toBe("QuotaError: something went wrong");
  });
});

describe("spawn and retrieval", () => {
  it("spawns a call and gets its result", async () => {
    const call = await add.spawn(20, 22);
    expect(call.id).toMatch(/^fc-/);
    await expect(call.get()).resolves.toBe(42);
    await expect(chalkcompute.FunctionCall.fromId(call.id).get()).resolves.toBe(
      42,
    );
  });

  it("gets a spawned call's result from another process", async () => {
    const call = await add.spawn(7, 8);
    const script = join(import.meta.dirname, "..", "fixtures", "get-call.ts");
    const { stdout } = await run("npx", ["tsx", script, call.id], {
      env: { ...process.env },
      timeout: 60_000,
    });
    expect(JSON.parse(stdout.trim())).toEqual({ result: 15 });
  });

  it("rejects an unknown call id", async () => {
    const missing = chalkcompute.FunctionCall.fromId(
      "fc-00000000000000000000000000-e2e_add",
    );
    await expect(missing.get({ timeoutMs: 10_000 })).rejects.toThrow(
      /not found/i,
    );
  });
});

describe("concurrency", () => {
  it("serializes calls by default", async () => {
    const seen = await Promise.all(
      Array.from({ length: 6 }, () => serial.remote(50)),
    );
    expect(Math.max(...seen)).toBe(1);
  });

  it("runs up to the configured cap at once", async () => {
    await wide.waitReady();
    const seen = await Promise.all(
      Array.from({ length: 12 }, () => wide.remote(200)),
    );
    expect(Math.max(...seen)).toBeLessThanOrEqual(4);
    expect(Math.max(...seen)).toBeGreaterThan(1);
  });
});
