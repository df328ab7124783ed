import * as chalkcompute from "chalkcompute";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { slowCount, slowEcho } from "../fixtures/faults.ts";
import { startTestStack, type TestStack, waitFor } from "../helpers/stack.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
  await slowEcho.waitReady();
  await slowCount.waitReady();
});

afterAll(async () => {
  await stack?.stop();
});

describe("agent failure", () => {
  it("completes queued calls after the agent is killed and restarts", async () => {
    const calls = await Promise.all(
      Array.from({ length: 5 }, (_, i) => slowEcho.spawn(i, 300)),
    );
    // Let the first call start, then kill the agent with the rest still queued.
    await new Promise((r) => setTimeout(r, 150));
    const killedPid = stack.agentPid;
    stack.killAgent();
    await waitFor(
      () => stack.agentPid !== undefined && stack.agentPid !== killedPid,
    );

    const results = await Promise.all(
      calls.map((c) => c.get({ timeoutMs: 50_000 })),
    );
    expect(results).toEqual([0, 1, 2, 3, 4]);
  });
});

describe("gateway restart", () => {
  it("streams every value once, in order, across a workerd restart", async () => {
    const values: number[] = [];
    const consume = (async () => {
      for await (const value of slowCount.remote(12, 150)) values.push(value);
    })();
    await waitFor(() => values.length >= 3);
    await stack.restartGateway();

    await consume;
    expect(values).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it("keeps results of finished calls across a restart", async () => {
    const call = await slowEcho.spawn(99, 10);
    await expect(call.get()).resolves.toBe(99);
    await stack.restartGateway();
    await expect(
      chalkcompute.FunctionCall.fromId(call.id).get({ timeoutMs: 20_000 }),
    ).resolves.toBe(99);
  });
});
