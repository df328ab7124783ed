import { describe, expect, it } from "vitest";
import type { Chunk, ErrorInfo } from "../schemas/frames.ts";
import { encodeValue } from "../schemas/values.ts";
import { CallClient } from "./call-client.ts";
import { OutcomeCollector, ValueStream } from "./call-results.ts";
import { NotFoundError, RemoteError } from "./errors.ts";
import { callContextStorage } from "./runtime-hooks.ts";
import { MemoryChannel, nextTick } from "./testing/memory-channel.ts";

const CALL_A = "fc-01J0000000000000000000000A-add";
const CALL_B = "fc-01J0000000000000000000000B-add";

function valueChunk(callId: string, seq: number, value: unknown): Chunk {
  return { callId, seq, attempt: 1, kind: "value", data: encodeValue(value) };
}

function resultChunk(callId: string, seq: number, value: unknown): Chunk {
  return { callId, seq, attempt: 1, kind: "result", data: encodeValue(value) };
}

function endChunk(callId: string, seq: number): Chunk {
  return { callId, seq, attempt: 1, kind: "end" };
}

const RANGE_ERROR: ErrorInfo = {
  code: "application",
  type: "RangeError",
  message: "n must be positive",
  stack: "RangeError: n must be positive\n    at gen (/bundle.mjs:3:9)",
  typeChain: ["RangeError", "Error"],
};

function setup() {
  const channel = new MemoryChannel();
  const activity: boolean[] = [];
  const client = new CallClient(channel, {
    keepAlive: (active) => activity.push(active),
  });
  return { channel, client, activity };
}

describe("CallClient", () => {
  it("coalesces calls made in one tick into one frame", async () => {
    const { channel, client } = setup();

    for (let i = 0; i < 50; i++) {
      client.submit("add", encodeValue([i, 1]), new OutcomeCollector());
    }
    await nextTick();

    expect(channel.sent).toHaveLength(1);
    expect(channel.sent[0]?.submits).toHaveLength(50);
    const keys = new Set(channel.sent[0]?.submits.map((s) => s.idempotencyKey));
    expect(keys.size).toBe(50);
  });

  it("coalesces calls started after awaited promises", async () => {
    const { channel, client } = setup();

    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await Promise.resolve();
        await Promise.resolve();
        client.submit("add", encodeValue([i]));
      }),
    );
    await nextTick();

    expect(channel.sent).toHaveLength(1);
    expect(channel.sent[0]?.submits).toHaveLength(20);
  });

  it("resolves the call id and the result", async () => {
    const { channel, client } = setup();
    const collector = new OutcomeCollector();

    const accepted = client.submit("add", encodeValue([3, 5]), collector);
    await nextTick();
    const submit = channel.sent[0]?.submits[0];
    expect(submit?.subscribe).toBe(true);
    expect(submit?.function).toBe("add");
    channel.deliver({
      accepted: [
        { idempotencyKey: submit?.idempotencyKey ?? "", callId: CALL_A },
      ],
      chunks: [resultChunk(CALL_A, 0, 8)],
    });

    await expect(accepted).resolves.toBe(CALL_A);
    await expect(collector.promise).resolves.toEqual({
      kind: "result",
      value: 8,
    });
    expect(client.pendingCount).toBe(0);
  });

  it("resubmits unacknowledged submits with the same keys", async () => {
    const { channel, client } = setup();
    const first = new OutcomeCollector();
    const second = new OutcomeCollector();
    client.submit("add", encodeValue([1]), first);
    client.submit("add", encodeValue([2]), second);
    await nextTick();
    const [a, b] = channel.sent[0]?.submits ?? [];
    channel.deliver({
      accepted: [{ idempotencyKey: a?.idempotencyKey ?? "", callId: CALL_A }],
    });

    channel.reconnect();

    const resent = channel.sent[1];
    expect(resent?.submits.map((s) => s.idempotencyKey)).toEqual([
      b?.idempotencyKey,
    ]);
    expect(resent?.submits[0]?.args).toEqual(b?.args);
    expect(resent?.subscribes).toEqual([{ callId: CALL_A, fromSeq: 0 }]);
  });

  it("subscribes from 0 after a resubmitted call is accepted", async () => {
    const { channel, client } = setup();
    const collector = new OutcomeCollector();
    client.submit("add", encodeValue([1]), collector);
    await nextTick();
    const key = channel.sent[0]?.submits[0]?.idempotencyKey ?? "";

    channel.reconnect();
    channel.deliver({ accepted: [{ idempotencyKey: key, callId: CALL_A }] });
    await nextTick();

    expect(channel.sent[2]?.subscribes).toEqual([
      { callId: CALL_A, fromSeq: 0 },
    ]);
    channel.deliver({ chunks: [resultChunk(CALL_A, 0, 2)] });
    await expect(collector.promise).resolves.toEqual({
      kind: "result",
      value: 2,
    });
  });

  it("resubscribes open calls from the chunk after the last one", async () => {
    const { channel, client } = setup();
    const stream = new ValueStream<number>();
    client.subscribe(CALL_A, stream, 0);
    await nextTick();
    expect(channel.sent[0]?.subscribes).toEqual([
      { callId: CALL_A, fromSeq: 0 },
    ]);
    channel.deliver({
      chunks: [valueChunk(CALL_A, 0, 10), valueChunk(CALL_A, 1, 11)],
    });

    channel.reconnect();

    expect(channel.sent[1]?.subscribes).toEqual([
      { callId: CALL_A, fromSeq: 2 },
    ]);
    expect(channel.sent[1]?.submits).toEqual([]);
  });

  it("drops duplicate chunks and delivers in order", async () => {
    const { channel, client } = setup();
    const stream = new ValueStream<number>();
    client.subscribe(CALL_A, stream, 0);

    channel.deliver({ chunks: [valueChunk(CALL_A, 0, 0)] });
    channel.deliver({ chunks: [valueChunk(CALL_A, 0, 0)] });
    channel.deliver({ chunks: [valueChunk(CALL_A, 2, 2)] });
    channel.deliver({
      chunks: [valueChunk(CALL_A, 1, 1), valueChunk(CALL_A, 1, 1)],
    });
    channel.deliver({
      chunks: [valueChunk(CALL_A, 2, 2), endChunk(CALL_A, 3)],
    });
    channel.deliver({ chunks: [valueChunk(CALL_A, 3, 99)] });

    const values: number[] = [];
    for await (const value of stream) values.push(value);
    expect(values).toEqual([0, 1, 2]);
    expect(client.pendingCount).toBe(0);
  });

  it("keeps chunks of different calls apart", async () => {
    const { channel, client } = setup();
    const a = new OutcomeCollector();
    const b = new OutcomeCollector();
    client.subscribe(CALL_A, a);
    client.subscribe(CALL_B, b);

    channel.deliver({
      chunks: [resultChunk(CALL_B, 0, "b"), resultChunk(CALL_A, 0, "a")],
    });

    await expect(a.promise).resolves.toEqual({ kind: "result", value: "a" });
    await expect(b.promise).resolves.toEqual({ kind: "result", value: "b" });
  });

  it("rejects a plain call with a RemoteError", async () => {
    const { channel, client } = setup();
    const collector = new OutcomeCollector();
    client.subscribe(CALL_A, collector);

    channel.deliver({
      chunks: [
        {
          callId: CALL_A,
          seq: 0,
          attempt: 1,
          kind: "error",
          error: { ...RANGE_ERROR, message: "division by zero" },
        },
      ],
    });

    const error = await collector.promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    const remote = error as RemoteError;
    expect(remote.name).toBe("RemoteError");
    expect(remote.message).toBe("RangeError: division by zero");
    expect(remote.type).toBe("RangeError");
    expect(remote.code).toBe("application");
    expect(remote.callId).toBe(CALL_A);
    expect(remote.remoteStack).toContain("/bundle.mjs:3:9");
    expect(remote.typeChain).toEqual(["RangeError", "Error"]);
  });

  it("yields a generator's values, then rejects", async () => {
    const { channel, client } = setup();
    const stream = new ValueStream<number>();
    client.subscribe(CALL_A, stream);
    channel.deliver({
      chunks: [
        valueChunk(CALL_A, 0, 1),
        valueChunk(CALL_A, 1, 2),
        {
          callId: CALL_A,
          seq: 2,
          attempt: 1,
          kind: "error",
          error: RANGE_ERROR,
        },
      ],
    });

    const values: number[] = [];
    let caught: unknown;
    try {
      for await (const value of stream) values.push(value);
    } catch (error) {
      caught = error;
    }

    expect(values).toEqual([1, 2]);
    expect(caught).toBeInstanceOf(RemoteError);
    expect((caught as RemoteError).message).toBe(
      "RangeError: n must be positive",
    );
  });

  it("collects a generator's values for get()", async () => {
    const { channel, client } = setup();
    const collector = new OutcomeCollector();
    client.subscribe(CALL_A, collector);

    channel.deliver({
      chunks: [
        valueChunk(CALL_A, 0, new Date(0)),
        valueChunk(CALL_A, 1, new Map([[1n, new Set(["x"])]])),
        endChunk(CALL_A, 2),
      ],
    });

    await expect(collector.promise).resolves.toEqual({
      kind: "values",
      values: [new Date(0), new Map([[1n, new Set(["x"])]])],
    });
  });

  it("maps a rejected submit to NotFoundError", async () => {
    const { channel, client } = setup();
    const accepted = client.submit("missing", encodeValue([]));
    await nextTick();
    const key = channel.sent[0]?.submits[0]?.idempotencyKey ?? "";

    channel.deliver({
      rejected: [
        {
          idempotencyKey: key,
          callId: "",
          error: { ...RANGE_ERROR, code: "notFound", type: "NotFound" },
        },
      ],
    });

    const error = await accepted.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).target).toBe("missing");
    expect((error as Error).message).toContain('function "missing"');
    expect(client.pendingCount).toBe(0);
  });

  it("maps other rejections to RemoteError", async () => {
    const { channel, client } = setup();
    const collector = new OutcomeCollector();
    client.subscribe(CALL_A, collector);

    channel.deliver({
      rejected: [
        {
          idempotencyKey: "",
          callId: CALL_A,
          error: {
            ...RANGE_ERROR,
            code: "failedPrecondition",
            type: "Deadlock",
            message: "add waits on itself",
          },
        },
      ],
    });

    const error = await collector.promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).code).toBe("failedPrecondition");
    expect((error as RemoteError).callId).toBe(CALL_A);
  });

  it("carries the parent call into nested submits", async () => {
    const { channel, client } = setup();

    await callContextStorage().run(
      { callId: CALL_B, traceContext: "00-abc-def-01" },
      async () => {
        await Promise.resolve();
        client.submit("add", encodeValue([1]));
      },
    );
    client.submit("add", encodeValue([2]));
    await nextTick();

    const [nested, top] = channel.sent[0]?.submits ?? [];
    expect(nested?.parentCallId).toBe(CALL_B);
    expect(nested?.traceContext).toBe("00-abc-def-01");
    expect(top?.parentCallId).toBe("");
    expect(top?.traceContext).toBe("");
  });

  it("keeps the process alive only while work is pending", async () => {
    const { channel, client, activity } = setup();
    const collector = new OutcomeCollector();
    client.submit("add", encodeValue([1]), collector);
    await nextTick();
    const key = channel.sent[0]?.submits[0]?.idempotencyKey ?? "";
    expect(activity).toEqual([false, true]);

    channel.deliver({
      accepted: [{ idempotencyKey: key, callId: CALL_A }],
      chunks: [resultChunk(CALL_A, 0, 1)],
    });

    expect(activity).toEqual([false, true, false]);
  });

  it("stops delivery to a removed listener", async () => {
    const { channel, client } = setup();
    const stream = new ValueStream<number>();
    client.subscribe(CALL_A, stream);

    client.removeListener(stream);
    channel.deliver({ chunks: [valueChunk(CALL_A, 0, 1)] });
    channel.reconnect();

    expect(client.pendingCount).toBe(0);
    expect(channel.sent).toHaveLength(0);
  });

  it("fails pending work on close", async () => {
    const { channel, client } = setup();
    const accepted = client.submit("add", encodeValue([1]));
    const collector = new OutcomeCollector();
    client.subscribe(CALL_A, collector);

    client.close();
    client.close();

    await expect(accepted).rejects.toThrow(/closed/);
    await expect(collector.promise).rejects.toThrow(/closed/);
    expect(channel.closed).toBe(true);
  });
});
