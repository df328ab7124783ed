import {
  abortAllDurableObjects,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { Run } from "../schemas/frames.ts";
import type { RetrySpec } from "../schemas/spec.ts";
import { encodeValue } from "../schemas/values.ts";
import { queueStub } from "./env.ts";
import { FORGET_ALL } from "./queue-link-frames.ts";
import {
  appError,
  configureQueue,
  errorCode,
  freshName,
  settle,
  TestCaller,
  TestLink,
  type TestSocket,
  until,
} from "./test-kit.ts";

const sockets: TestSocket[] = [];

async function caller(name: string): Promise<TestCaller> {
  const c = await TestCaller.toQueue(name);
  sockets.push(c.ws);
  return c;
}

async function link(name: string, replica?: string): Promise<TestLink> {
  const l = await TestLink.toQueue(name, { replica });
  sockets.push(l.ws);
  return l;
}

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

function retries(overrides: Partial<RetrySpec> = {}): RetrySpec {
  return {
    kind: "linear",
    attempts: 3,
    initialSeconds: 1,
    multiplier: 2,
    maxWaitSeconds: 60,
    delaySeconds: 0.05,
    jitter: false,
    retryOn: [],
    ...overrides,
  };
}

/** Returns the stored retry due time of a call. */
async function retryDueMs(name: string, callId: string) {
  return runInDurableObject(queueStub(env, name), (_, state) => {
    const row = state.storage.sql
      .exec("SELECT retry_due_ms FROM calls WHERE call_id = ?", callId)
      .toArray()[0];
    return (row?.retry_due_ms ?? null) as number | null;
  });
}

/**
 * Waits until the retry is due and fires the queue's alarm. workerd may
 * have fired it already, which leaves nothing due.
 */
async function fireRetry(name: string, callId: string): Promise<void> {
  const due = await retryDueMs(name, callId);
  if (due !== null) await settle(Math.max(0, due - Date.now()) + 2);
  await runDurableObjectAlarm(queueStub(env, name));
}

/** Submits a call with `heldKeys` and returns the first ServerFrame. */
async function submitHeld(c: TestCaller, name: string, heldKeys: string[]) {
  c.submit(name, crypto.randomUUID(), [], true, heldKeys);
  let frame = await c.frame();
  while (frame.chunks.length === 0) frame = await c.frame("the error chunk");
  return frame;
}

/** Collects runs from the links until `count` arrived or none come. */
async function collectRuns(links: TestLink[], waitMs = 300) {
  await settle(waitMs);
  const runs: Run[] = [];
  for (const l of links) runs.push(...(await l.drainRuns()));
  return runs;
}

describe("FunctionQueue retries", () => {
  it("retries an error after the delay", async () => {
    const name = freshName();
    const stub = await configureQueue(name, {
      retries: retries({ delaySeconds: 0.3 }),
    });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();

    const failedAt = Date.now();
    l.fail(callId, 1, appError(["Error"]));
    const [ack] = await l.nextAcks();
    expect(ack?.nextSeq).toBe(FORGET_ALL);
    const due = await retryDueMs(name, callId);
    expect(due).toBeGreaterThanOrEqual(failedAt + 300);
    expect(due).toBeLessThan(failedAt + 300 + 200);
    const view = await stub.getCall(callId);
    expect(view?.status).toBe("queued");
    expect(view?.attempt).toBe(1);
    await settle();
    expect(l.ws.unread).toBe(0);

    await fireRetry(name, callId);
    const run = (await l.frame("the retry")).runs[0];
    expect(run?.attempt).toBe(2);
    l.result(callId, 2, "ok");
    const [chunk] = await c.chunks(1);
    expect(chunk?.kind).toBe("result");
    expect((await stub.getCall(callId))?.attempt).toBe(2);
  });

  it("follows the exponential schedule", async () => {
    const name = freshName();
    const policy = retries({
      kind: "exponential",
      attempts: 3,
      initialSeconds: 0.04,
      multiplier: 2,
      jitter: true,
    });
    const stub = await configureQueue(name, { retries: policy });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);

    for (let attempt = 1; attempt <= 3; attempt++) {
      const run = (await l.frame(`attempt ${attempt}`)).runs[0];
      expect(run?.attempt).toBe(attempt);
      const failedAt = Date.now();
      l.fail(callId, attempt, appError(["Error"]));
      await l.nextAcks();
      const due = (await retryDueMs(name, callId)) ?? 0;
      const fullMs = 40 * 2 ** (attempt - 1);
      expect(due - failedAt).toBeGreaterThanOrEqual(fullMs / 2 - 1);
      expect(due - failedAt).toBeLessThanOrEqual(fullMs + 200);
      await fireRetry(name, callId);
    }
    await l.frame("attempt 4");
    l.fail(callId, 4, appError(["Error"], "last"));
    const [chunk] = await c.chunks(1);
    expect(errorCode(chunk)).toBe("application");
    const view = await stub.getCall(callId);
    expect(view?.status).toBe("failed");
    expect(view?.attempt).toBe(4);
  });

  it("retries a subclass named in retryOn", async () => {
    const name = freshName();
    await configureQueue(name, {
      retries: retries({ retryOn: ["NetworkError"] }),
    });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    l.fail(callId, 1, appError(["TimeoutError", "NetworkError", "Error"]));
    await l.nextAcks();
    expect(await retryDueMs(name, callId)).not.toBeNull();
  });

  it("fails a non-matching error at once", async () => {
    const name = freshName();
    const stub = await configureQueue(name, {
      retries: retries({ retryOn: ["NetworkError"] }),
    });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    l.fail(callId, 1, appError(["TypeError", "Error"]));
    const [chunk] = await c.chunks(1);
    expect(chunk?.kind).toBe("error");
    expect(chunk?.kind === "error" ? chunk.error.type : "").toBe("TypeError");
    expect((await stub.getCall(callId))?.attempt).toBe(1);
  });

  it("does not retry after a value", async () => {
    const name = freshName();
    await configureQueue(name, { generator: true, retries: retries() });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    l.send({
      chunks: [
        { callId, seq: 0, attempt: 1, kind: "value", data: encodeValue(1) },
        {
          callId,
          seq: 1,
          attempt: 1,
          kind: "error",
          error: appError(["Error"]),
        },
      ],
    });
    const chunks = await c.chunks(2);
    expect(chunks.map((chunk) => chunk.kind)).toEqual(["value", "error"]);
    expect(await retryDueMs(name, callId)).toBeNull();
  });

  it("retries a lost replica with backoff", async () => {
    const name = freshName();
    const stub = await configureQueue(name, {
      retries: retries({ retryOn: ["NetworkError"] }),
    });
    const first = await link(name);
    first.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await first.frame();
    first.ws.close(1001, "crash");
    await until(
      async () => (await retryDueMs(name, callId)) !== null,
      "the retry to be scheduled",
    );
    expect((await stub.getCall(callId))?.status).toBe("queued");

    const second = await link(name);
    second.hello(1);
    await fireRetry(name, callId);
    const run = (await second.frame("the retry")).runs[0];
    expect(run?.attempt).toBe(2);
  });

  it("retries a call past its deadline", async () => {
    const name = freshName();
    const stub = await configureQueue(name, {
      timeoutSeconds: 0.05,
      retries: retries({ attempts: 1 }),
    });
    const l = await link(name);
    l.hello(2);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    await settle(80);
    await runDurableObjectAlarm(stub);
    await fireRetry(name, callId);
    expect((await l.frame("the retry")).runs[0]?.attempt).toBe(2);
  });

  it("keeps a backoff across eviction", async () => {
    const name = freshName();
    await configureQueue(name, { retries: retries({ delaySeconds: 0.2 }) });
    const l = await link(name, "kept");
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    l.fail(callId, 1, appError(["Error"]));
    await l.nextAcks();

    await abortAllDurableObjects();
    const stub = queueStub(env, name);
    const alarm = await runInDurableObject(stub, (_, state) =>
      state.storage.getAlarm(),
    );
    expect(alarm).toBe(await retryDueMs(name, callId));
    const again = await link(name, "kept");
    again.hello(1);
    await fireRetry(name, callId);
    expect((await again.frame("the retry")).runs[0]?.attempt).toBe(2);
  });
});

describe("FunctionQueue deadlock", () => {
  it("fails a self-call at concurrency 1", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const c = await caller(name);
    const frame = await submitHeld(c, name, [`fn:${name}`]);
    const callId = frame.accepted[0]?.callId ?? "";
    const [chunk] = frame.chunks;
    expect(errorCode(chunk)).toBe("failedPrecondition");
    const error = chunk?.kind === "error" ? chunk.error : undefined;
    expect(error?.type).toBe("DeadlockError");
    expect(error?.message).toMatch(
      /calling chain holds.*raise the concurrency/,
    );
    expect((await stub.getCall(callId))?.status).toBe("failed");
  });

  it("fails when ancestors hold every permit", async () => {
    const name = freshName();
    const key = freshName("key");
    await configureQueue(name, { concurrency: 2, concurrencyKey: key });
    const c = await caller(name);
    const frame = await submitHeld(c, name, [
      `key:${key}`,
      "fn:other",
      `key:${key}`,
    ]);
    const [chunk] = frame.chunks;
    expect(errorCode(chunk)).toBe("failedPrecondition");
  });

  it("runs a nested call with a free permit", async () => {
    const name = freshName();
    await configureQueue(name, { concurrency: 2 });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name, [], true, [`fn:${name}`]);
    const run = (await l.frame()).runs[0];
    expect(run?.callId).toBe(callId);
    expect(run?.heldKeys).toEqual([`fn:${name}`, `fn:${name}`]);
  });
});

describe("FunctionQueue rate limit", () => {
  it("dispatches at most rate per window", async () => {
    const name = freshName();
    const stub = await configureQueue(name, {
      concurrency: 10,
      rateLimit: { rate: 2, per: "second", key: freshName("rate") },
    });
    const l = await link(name);
    l.hello(10);
    const c = await caller(name);
    for (let i = 0; i < 5; i++) await c.call(name, [i]);
    expect(await collectRuns([l])).toHaveLength(2);

    const alarm = await runInDurableObject(stub, (_, state) =>
      state.storage.getAlarm(),
    );
    expect(alarm).toBeGreaterThan(Date.now() + 500);
    await settle((alarm ?? 0) - Date.now() + 5);
    await runDurableObjectAlarm(stub);
    expect(await collectRuns([l])).toHaveLength(2);
  });

  it("shares a keyed bucket across functions", async () => {
    const key = freshName("rate");
    const names = [freshName(), freshName()];
    const links: TestLink[] = [];
    for (const name of names) {
      await configureQueue(name, {
        concurrency: 10,
        rateLimit: { rate: 3, per: "minute", key },
      });
      const l = await link(name);
      l.hello(10);
      links.push(l);
      const c = await caller(name);
      for (let i = 0; i < 3; i++) await c.call(name, [i]);
    }
    await settle(300);
    let started = 0;
    for (const l of links) {
      while (l.ws.unread > 0) started += (await l.frame()).runs.length;
    }
    expect(started).toBe(3);
  });
});

describe("FunctionQueue shared concurrency", () => {
  async function permits(key: string): Promise<number> {
    return env.SEMAPHORE.get(env.SEMAPHORE.idFromName(`key:${key}`)).count();
  }

  it("holds a shared key to its cap", async () => {
    const key = freshName("key");
    const names = [freshName(), freshName()];
    const links: TestLink[] = [];
    for (const name of names) {
      await configureQueue(name, { concurrency: 2, concurrencyKey: key });
      const l = await link(name);
      l.hello(5);
      links.push(l);
      const c = await caller(name);
      for (let i = 0; i < 3; i++) await c.call(name, [i]);
    }
    const runs = await collectRuns(links);
    expect(runs).toHaveLength(2);
    expect(await permits(key)).toBe(2);

    // Finishing one run frees its permit, and a waiting queue starts one.
    const done = runs[0];
    if (!done) throw new Error("no run");
    for (const l of links) l.result(done.callId, done.attempt, "ok", 0);
    const next = await until(async () => {
      const started = await collectRuns(links, 20);
      return started.length > 0 ? started : null;
    }, "a waiting call to start");
    expect(next).toHaveLength(1);
    expect(await collectRuns(links)).toHaveLength(0);
    expect(await permits(key)).toBe(2);
  });

  it("keeps held permits across eviction", async () => {
    const key = freshName("key");
    const name = freshName();
    await configureQueue(name, { concurrency: 1, concurrencyKey: key });
    const l = await link(name, "steady");
    l.hello(3);
    const c = await caller(name);
    const first = await c.call(name, [1]);
    await c.call(name, [2]);
    const run = (await l.frame()).runs[0];
    expect(run?.callId).toBe(first);

    await abortAllDurableObjects();
    expect(await permits(key)).toBe(1);
    const again = await link(name, "steady");
    again.hello(2, [first]);
    await settle(200);
    expect(again.ws.unread).toBe(0);

    again.result(first, 1, "ok", 0);
    const next = await until(async () => {
      while (again.ws.unread > 0) {
        const frame = await again.frame();
        if (frame.runs.length > 0) return frame.runs;
      }
      return null;
    }, "the second call to start");
    expect(next).toHaveLength(1);
    expect(await permits(key)).toBe(1);
  });
});
