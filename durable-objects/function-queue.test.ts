import {
  abortAllDurableObjects,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { encodeValue } from "../schemas/values.ts";
import { queueStub } from "./env.ts";
import { LEASE_GRACE_MS, RETENTION_MS } from "./queue-context.ts";
import {
  chunkValue,
  configureQueue,
  errorCode,
  freshName,
  makeSpec,
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

async function link(
  name: string,
  identity: Parameters<typeof TestLink.toQueue>[1] = {},
): Promise<TestLink> {
  const l = await TestLink.toQueue(name, identity);
  sockets.push(l.ws);
  return l;
}

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

describe("FunctionQueue submit", () => {
  it("rejects submits before configure", async () => {
    const name = freshName();
    const c = await caller(name);
    c.submit(name, "k1", [1]);
    const frame = await c.frame();
    expect(frame.accepted).toEqual([]);
    expect(frame.rejected[0]?.idempotencyKey).toBe("k1");
    expect(frame.rejected[0]?.error.code).toBe("notFound");
  });

  it("returns the same call for a repeated key", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const first = await caller(name);
    first.submit(name, "key-a", [1]);
    first.submit(name, "key-a", [1]);
    const a = (await first.frame()).accepted[0];
    const b = (await first.frame()).accepted[0];
    const second = await caller(name);
    second.submit(name, "key-a", [1]);
    const c = (await second.frame()).accepted[0];

    expect(a?.callId).toMatch(new RegExp(`^fc-[0-9A-Z]{26}-${name}$`));
    expect(b?.callId).toBe(a?.callId);
    expect(c?.callId).toBe(a?.callId);
    expect((await stub.stats()).queued).toBe(1);
  });

  it("rejects args that are not an array", async () => {
    const name = freshName();
    await configureQueue(name);
    const c = await caller(name);
    c.send({
      submits: [
        {
          function: name,
          idempotencyKey: "k",
          args: new Uint8Array([1, 2, 3]),
          subscribe: true,
          parentCallId: "",
          traceContext: "",
        },
      ],
    });
    const frame = await c.frame();
    expect(frame.rejected[0]?.error.code).toBe("invalidArgument");
  });

  it("stores the call before Accepted", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const c = await caller(name);
    const callId = await c.call(name, [1, 2]);
    const view = await stub.getCall(callId);
    expect(view?.status).toBe("queued");
    expect(view?.attempt).toBe(0);
    expect(view?.function).toBe(name);
    expect(view?.version).toBe(1);
  });
});

describe("FunctionQueue dispatch", () => {
  it("waits for credits before dispatch", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const l = await link(name);
    l.hello(0);
    const c = await caller(name);
    const callId = await c.call(name);
    await settle();
    expect(l.ws.unread).toBe(0);

    l.send({ credits: 1 });
    const frame = await l.frame();
    expect(frame.runs.map((r) => r.callId)).toEqual([callId]);
    expect(frame.runs[0]?.attempt).toBe(1);
    expect((await stub.stats()).running).toBe(1);
  });

  it("keeps to the concurrency cap", async () => {
    const name = freshName();
    const stub = await configureQueue(name, { concurrency: 2 });
    const l = await link(name);
    l.hello(5);
    const c = await caller(name);
    const ids = [await c.call(name), await c.call(name), await c.call(name)];

    const runs = [];
    while (runs.length < 2) runs.push(...(await l.frame()).runs);
    await settle();
    expect(l.ws.unread).toBe(0);
    expect(runs.map((r) => r.callId)).toEqual(ids.slice(0, 2));
    expect(await stub.stats()).toMatchObject({ running: 2, queued: 1 });

    l.result(ids[0] as string, 1, "done");
    const next = await l.frame();
    expect(next.runs.map((r) => r.callId)).toEqual([ids[2]]);
  });

  it("spreads runs over links by credits", async () => {
    const name = freshName();
    await configureQueue(name, { concurrency: 4 });
    const a = await link(name);
    const b = await link(name);
    a.hello(2);
    b.hello(2);
    const c = await caller(name);
    c.send({
      submits: [0, 1, 2, 3].map((i) => ({
        function: name,
        idempotencyKey: `k${i}`,
        args: encodeValue([i]),
        subscribe: false,
        parentCallId: "",
        traceContext: "",
      })),
    });
    expect((await c.frame()).accepted).toHaveLength(4);
    const runsA = (await a.frame()).runs;
    const runsB = (await b.frame()).runs;
    expect(runsA).toHaveLength(2);
    expect(runsB).toHaveLength(2);
  });

  it("sets the deadline from timeoutSeconds", async () => {
    const name = freshName();
    await configureQueue(name, { timeoutSeconds: 30 });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const before = Date.now();
    await c.call(name);
    const run = (await l.frame()).runs[0];
    expect(run?.deadlineMs).toBeGreaterThanOrEqual(before + 30_000);
    expect(run?.deadlineMs).toBeLessThan(before + 31_000);
  });
});

describe("FunctionQueue chunks", () => {
  it("stores chunks in seq order once", async () => {
    const name = freshName();
    const stub = await configureQueue(name, { generator: true });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    const value = (seq: number, v: string) => ({
      callId,
      seq,
      attempt: 1,
      kind: "value" as const,
      data: encodeValue(v),
    });
    l.send({ chunks: [value(0, "a"), value(1, "b")] }, { rawSeq: true });
    expect(await l.nextAcks()).toEqual([{ callId, attempt: 1, nextSeq: 2 }]);
    // A copy resent after a reconnect is acknowledged, not stored again.
    l.send({ chunks: [value(1, "b")] }, { rawSeq: true });
    expect(await l.nextAcks()).toEqual([{ callId, attempt: 1, nextSeq: 2 }]);
    l.send(
      { credits: 1, chunks: [{ callId, seq: 2, attempt: 1, kind: "end" }] },
      { rawSeq: true },
    );

    const chunks = await c.chunks(3);
    expect(chunks.map((ch) => ch.seq)).toEqual([0, 1, 2]);
    expect(chunks.map((ch) => ch.kind)).toEqual(["value", "value", "end"]);
    expect(chunkValue(chunks[1])).toBe("b");

    const view = await stub.getCall(callId);
    expect(view?.status).toBe("succeeded");
    expect(view?.values).toEqual(["a", "b"]);
  });

  it("tells the agent to forget chunks of a finished call", async () => {
    const name = freshName();
    await configureQueue(name);
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    l.result(callId, 1, 5);
    await l.nextAcks();
    l.send(
      {
        chunks: [
          { callId, seq: 0, attempt: 1, kind: "result", data: encodeValue(5) },
        ],
      },
      { rawSeq: true },
    );
    expect(await l.nextAcks()).toEqual([
      { callId, attempt: 1, nextSeq: 0xffff_ffff },
    ]);
  });

  it("replays from the requested seq", async () => {
    const name = freshName();
    await configureQueue(name, { generator: true });
    const l = await link(name);
    l.hello(1);
    const first = await caller(name);
    const callId = await first.call(name);
    await l.frame();
    const value = (v: string) => ({
      callId,
      seq: 0,
      attempt: 1,
      kind: "value" as const,
      data: encodeValue(v),
    });
    l.send({ chunks: [value("a"), value("b")] });
    await first.chunks(2);

    const second = await caller(name);
    second.send({ subscribes: [{ callId, fromSeq: 1 }] });
    const replayed = await second.chunks(1);
    expect(replayed.map((ch) => ch.seq)).toEqual([1]);

    l.send({ chunks: [value("c")] });
    const live = await second.chunks(1);
    expect(live.map((ch) => ch.seq)).toEqual([2]);
    const toFirst = await first.chunks(1);
    expect(toFirst.map((ch) => ch.seq)).toEqual([2]);
  });

  it("rejects a subscribe to an unknown call", async () => {
    const name = freshName();
    await configureQueue(name);
    const c = await caller(name);
    const callId = `fc-${"0".repeat(26)}-${name}`;
    c.send({ subscribes: [{ callId, fromSeq: 0 }] });
    const frame = await c.frame();
    expect(frame.rejected[0]?.callId).toBe(callId);
    expect(frame.rejected[0]?.error.code).toBe("notFound");
  });

  it("drops chunks of a stale attempt", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    l.result(callId, 2, "stale");
    await settle();
    expect(c.ws.unread).toBe(0);
    expect((await stub.getCall(callId))?.status).toBe("running");

    l.result(callId, 1, "fresh");
    const [chunk] = await c.chunks(1);
    expect(chunk?.attempt).toBe(1);
    expect((await stub.getCall(callId))?.result).toBe("fresh");
  });

  it("drops chunks from another replica", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const owner = await link(name);
    const other = await link(name);
    owner.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await owner.frame();
    other.result(callId, 1, "wrong");
    await settle();
    expect((await stub.getCall(callId))?.status).toBe("running");
  });
});

describe("FunctionQueue failures", () => {
  it("requeues a call when its link closes", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const first = await link(name);
    first.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await first.frame();

    first.ws.close(1001, "agent stopped");
    await until(
      async () => (await stub.stats()).queued === 1,
      "the call to be requeued",
    );
    const second = await link(name);
    second.hello(1);
    const run = (await second.frame()).runs[0];
    expect(run?.callId).toBe(callId);
    expect(run?.attempt).toBe(2);
  });

  it("fails a streamed call when its link closes", async () => {
    const name = freshName();
    await configureQueue(name, { generator: true });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    l.send({
      chunks: [
        { callId, seq: 0, attempt: 1, kind: "value", data: encodeValue(1) },
      ],
    });
    const [value] = await c.chunks(1);
    expect(value?.kind).toBe("value");
    l.ws.close(1001, "agent stopped");

    const [last] = await c.chunks(1);
    expect(last?.seq).toBe(1);
    expect(errorCode(last)).toBe("unavailable");
  });

  it("fails after four lost attempts", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const c = await caller(name);
    const callId = await c.call(name);
    for (let attempt = 1; attempt <= 4; attempt++) {
      const l = await link(name);
      l.hello(1);
      const run = (await l.frame()).runs[0];
      expect(run?.attempt).toBe(attempt);
      l.ws.close(1001, "crash");
      if (attempt < 4) {
        await until(
          async () => (await stub.stats()).queued === 1,
          `requeue after attempt ${attempt}`,
        );
      }
    }
    const [chunk] = await c.chunks(1);
    expect(errorCode(chunk)).toBe("unavailable");
    expect((await stub.getCall(callId))?.status).toBe("failed");
  });

  it("fails a call past its deadline", async () => {
    const name = freshName();
    const stub = await configureQueue(name, { timeoutSeconds: 0.05 });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    await settle(80);
    await runDurableObjectAlarm(stub);

    const [chunk] = await c.chunks(1);
    expect(errorCode(chunk)).toBe("deadlineExceeded");
    const view = await stub.getCall(callId);
    expect(view?.status).toBe("failed");
    expect(view?.error?.code).toBe("deadlineExceeded");
  });

  it("keeps one alarm at the earliest deadline", async () => {
    const name = freshName();
    const stub = await configureQueue(name, { timeoutSeconds: 60 });
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    await c.call(name);
    const run = (await l.frame()).runs[0];
    const alarm = await runInDurableObject(stub, (_, state) =>
      state.storage.getAlarm(),
    );
    expect(alarm).toBe(run?.deadlineMs);
  });
});

describe("FunctionQueue hello", () => {
  it("requeues leased calls missing from hello", async () => {
    const name = freshName();
    const first = await configureQueue(name);
    const a = await link(name, { replica: "replica-a" });
    a.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await a.frame();

    const again = await link(name, { replica: "replica-a" });
    again.hello(1, []);
    const run = (await again.frame()).runs[0];
    expect(run?.callId).toBe(callId);
    expect(run?.attempt).toBe(2);
    expect((await first.stats()).running).toBe(1);
  });

  it("keeps calls the hello reports running", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const a = await link(name, { replica: "replica-b" });
    a.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await a.frame();

    const again = await link(name, { replica: "replica-b" });
    again.hello(0, [callId]);
    await a.ws.closed();
    await settle();
    expect((await stub.getCall(callId))?.attempt).toBe(1);

    again.result(callId, 1, 42);
    const [chunk] = await c.chunks(1);
    expect(chunk?.kind).toBe("result");
  });
});

describe("FunctionQueue versions", () => {
  it("dispatches only to the current version", async () => {
    const name = freshName();
    const stub = await configureQueue(name, { concurrency: 2 }, 1);
    const old = await link(name, { version: 1 });
    old.hello(1);
    const c = await caller(name);
    const running = await c.call(name);
    await old.frame();

    await stub.configure(makeSpec(name, { concurrency: 2 }), 2);
    const current = await link(name, { version: 2 });
    current.hello(1);
    await settle();
    old.send({ credits: 1 });
    const queued = await c.call(name);
    await settle();
    expect(old.ws.unread).toBe(0);

    const run = (await current.frame()).runs[0];
    expect(run?.callId).toBe(queued);
    expect((await stub.getCall(queued))?.version).toBe(2);

    old.result(running, 1, "old");
    const [chunk] = await c.chunks(1);
    expect(chunk?.callId).toBe(running);
    expect((await stub.getCall(running))?.version).toBe(1);
  });

  it("keeps the old version until a new hello", async () => {
    const name = freshName();
    const stub = await configureQueue(name, { concurrency: 2 }, 1);
    const old = await link(name, { version: 1 });
    old.hello(2);
    const c = await caller(name);
    await c.call(name);
    await old.frame();

    await stub.configure(makeSpec(name, { concurrency: 2 }), 2);
    const current = await link(name, { version: 2 });
    const beforeHello = await c.call(name);
    const run = (await old.frame()).runs[0];
    expect(run?.callId).toBe(beforeHello);
    expect(current.ws.unread).toBe(0);

    current.hello(1);
    old.result(beforeHello, 1, "old", 1);
    await c.chunks(1);
    const afterHello = await c.call(name);
    const next = (await current.frame()).runs[0];
    expect(next?.callId).toBe(afterHello);
    expect((await stub.getCall(afterHello))?.version).toBe(2);
    expect((await stub.getCall(beforeHello))?.version).toBe(1);
  });

  it("ignores a hello of a draining new version", async () => {
    const name = freshName();
    const stub = await configureQueue(name, {}, 1);
    const old = await link(name, { version: 1 });
    old.hello(1);
    await stub.configure(makeSpec(name), 2);
    const current = await link(name, { version: 2 });
    current.send({ hello: { freeSlots: 1, running: [] }, draining: true });
    const c = await caller(name);
    const callId = await c.call(name);
    const run = (await old.frame()).runs[0];
    expect(run?.callId).toBe(callId);
    expect(current.ws.unread).toBe(0);
  });

  it("sends no work to a draining link", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const l = await link(name);
    l.send({ hello: { freeSlots: 1, running: [] }, draining: true });
    const c = await caller(name);
    await c.call(name);
    await settle();
    expect(l.ws.unread).toBe(0);
    expect((await stub.stats()).replicas).toBe(0);
  });

  it("ignores an older configure", async () => {
    const name = freshName();
    const stub = await configureQueue(name, {}, 3);
    await configureQueue(name, {}, 2);
    expect((await stub.stats()).version).toBe(3);
  });
});

describe("FunctionQueue recovery", () => {
  it("deletes calls 24 hours after they finish", async () => {
    const name = freshName();
    const stub = await configureQueue(name);
    const l = await link(name);
    l.hello(1);
    const c = await caller(name);
    const callId = await c.call(name);
    await l.frame();
    l.result(callId, 1, 1);
    await c.chunks(1);

    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE calls SET finished_ms = finished_ms - ?",
        RETENTION_MS + 1000,
      );
    });
    await runDurableObjectAlarm(stub);
    expect(await stub.getCall(callId)).toBeNull();
  });

  it("requeues after the lease grace without a link", async () => {
    const name = freshName();
    await configureQueue(name);
    const c = await caller(name);
    const callId = await c.call(name);
    const l = await link(name, { replica: "gone" });
    l.hello(1);
    await l.frame();
    // Eviction drops the instance without a close event for its links, so
    // the new instance finds a running call whose replica has no link.
    await abortAllDurableObjects();
    const stub = queueStub(env, name);
    const due = await runInDurableObject(stub, (_, state) => {
      const row = state.storage.sql
        .exec("SELECT due_ms FROM lease_checks WHERE replica = 'gone'")
        .toArray()[0];
      return row?.due_ms as number | undefined;
    });
    expect(due).toBeGreaterThan(Date.now() + LEASE_GRACE_MS - 2000);
    expect((await stub.getCall(callId))?.status).toBe("running");

    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE lease_checks SET due_ms = 0");
    });
    await runDurableObjectAlarm(stub);
    const view = await stub.getCall(callId);
    expect(view?.status).toBe("queued");
    expect(view?.attempt).toBe(1);
  });
});
