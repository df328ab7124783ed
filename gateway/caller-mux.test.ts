import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { queueStub } from "../durable-objects/env.ts";
import type { TestSocket } from "../durable-objects/test-kit.ts";
import { encodeValue } from "../schemas/values.ts";
import { CLOSE_RECONNECT, splitFrame } from "./caller-mux.ts";
import { agentLink, connectCaller, deployFunction } from "./test-client.ts";

const sockets: TestSocket[] = [];

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

function submit(fn: string, key: string) {
  return {
    function: fn,
    idempotencyKey: key,
    args: new Uint8Array(),
    subscribe: true,
    parentCallId: "",
    traceContext: "",
  };
}

describe("splitFrame", () => {
  it("groups by function and rejects bad names", () => {
    const callId = `fc-${"0".repeat(26)}-b`;
    const split = splitFrame({
      submits: [submit("a", "1"), submit("b", "2"), submit("a", "3")],
      subscribes: [
        { callId, fromSeq: 2 },
        { callId: "garbage", fromSeq: 0 },
      ],
    });
    expect([...split.parts.keys()]).toEqual(["a", "b"]);
    expect(split.parts.get("a")?.submits.map((s) => s.idempotencyKey)).toEqual([
      "1",
      "3",
    ]);
    expect(split.parts.get("b")?.subscribes).toEqual([{ callId, fromSeq: 2 }]);
    expect(split.rejected.map((r) => r.error.code)).toEqual(["notFound"]);

    const bad = splitFrame({
      submits: [submit("no spaces", "k")],
      subscribes: [],
    });
    expect(bad.rejected[0]?.idempotencyKey).toBe("k");
    expect(bad.rejected[0]?.error.code).toBe("invalidArgument");
  });
});

describe("GET /v1/connect", () => {
  it("multiplexes calls to two functions", async () => {
    const add = await deployFunction();
    const mul = await deployFunction();
    const addLink = await agentLink(add.name);
    const mulLink = await agentLink(mul.name);
    sockets.push(addLink.ws, mulLink.ws);
    addLink.hello(1);
    mulLink.hello(1);
    const caller = await connectCaller();
    sockets.push(caller.ws);

    const addCall = await caller.call(add.name, [2, 3]);
    const mulCall = await caller.call(mul.name, [2, 3]);
    expect(addCall).toContain(add.name);
    expect(mulCall).toContain(mul.name);
    expect((await addLink.frame()).runs[0]?.callId).toBe(addCall);
    expect((await mulLink.frame()).runs[0]?.callId).toBe(mulCall);

    addLink.result(addCall, 1, 5);
    mulLink.result(mulCall, 1, 6);
    const chunks = await caller.chunks(2);
    expect(chunks.map((c) => c.callId).sort()).toEqual(
      [addCall, mulCall].sort(),
    );
  });

  it("rejects invalid names and call ids itself", async () => {
    const caller = await connectCaller();
    sockets.push(caller.ws);
    caller.submit("has space", "k1", []);
    const submitFrame = await caller.frame();
    expect(submitFrame.rejected[0]?.error.code).toBe("invalidArgument");

    caller.send({ subscribes: [{ callId: "nope", fromSeq: 0 }] });
    const subscribeFrame = await caller.frame();
    expect(subscribeFrame.rejected[0]?.callId).toBe("nope");
    expect(subscribeFrame.rejected[0]?.error.code).toBe("notFound");
  });

  it("relays a queue's rejection of an unknown function", async () => {
    const caller = await connectCaller();
    sockets.push(caller.ws);
    caller.submit("never_deployed_fn", "k1", []);
    const frame = await caller.frame();
    expect(frame.rejected[0]?.idempotencyKey).toBe("k1");
    expect(frame.rejected[0]?.error.code).toBe("notFound");
  });

  it("resubscribes after a reconnect", async () => {
    const spec = await deployFunction({ generator: true });
    const link = await agentLink(spec.name);
    sockets.push(link.ws);
    link.hello(1);
    const first = await connectCaller();
    sockets.push(first.ws);
    const callId = await first.call(spec.name);
    await link.frame();
    const value = (v: number) => ({
      callId,
      seq: 0,
      attempt: 1,
      kind: "value" as const,
      data: encodeValue(v),
    });
    link.send({ chunks: [value(1), value(2)] });
    expect((await first.chunks(2)).map((c) => c.seq)).toEqual([0, 1]);
    first.ws.close();

    const second = await connectCaller();
    sockets.push(second.ws);
    second.send({ subscribes: [{ callId, fromSeq: 2 }] });
    link.send({ chunks: [value(3)] });
    const [chunk] = await second.chunks(1);
    expect(chunk?.seq).toBe(2);
  });

  it("closes the caller with 1012 when a queue socket closes", async () => {
    const spec = await deployFunction();
    const caller = await connectCaller();
    sockets.push(caller.ws);
    await caller.call(spec.name);

    await runInDurableObject(queueStub(env, spec.name), (_, state) => {
      for (const ws of state.getWebSockets("caller")) {
        ws.close(1001, "queue restarting");
      }
    });
    const closed = await caller.ws.closed();
    expect(closed.code).toBe(CLOSE_RECONNECT);
  });
});
