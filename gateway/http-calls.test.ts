import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { queueStub } from "../durable-objects/env.ts";
import {
  freshName,
  settle,
  type TestLink,
} from "../durable-objects/test-kit.ts";
import { decodeValue, encodeValue } from "../schemas/values.ts";
import { agentLink, api, deployFunction, postJson } from "./test-client.ts";

const links: TestLink[] = [];

async function linkedFunction(
  overrides: Parameters<typeof deployFunction>[0] = {},
) {
  const spec = await deployFunction(overrides);
  const link = await agentLink(spec.name);
  links.push(link);
  link.hello(1);
  return { spec, link };
}

afterEach(() => {
  for (const link of links.splice(0)) link.ws.close();
});

type ErrorJson = {
  error: { type: string; message: string; callId?: string };
};

describe("POST /v1/functions/{name}/call", () => {
  it("returns the result", async () => {
    const { spec, link } = await linkedFunction();
    const pending = postJson(`/v1/functions/${spec.name}/call`, {
      args: [3, 5],
    });
    const run = (await link.frame()).runs[0];
    expect(decodeValue(run?.args ?? new Uint8Array())).toEqual([3, 5]);
    link.result(run?.callId ?? "", 1, 8);

    const response = await pending;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ result: 8 });
  });

  it("converts results to JSON", async () => {
    const { spec, link } = await linkedFunction();
    const pending = postJson(`/v1/functions/${spec.name}/call`, { args: [] });
    const run = (await link.frame()).runs[0];
    link.result(run?.callId ?? "", 1, {
      big: 12n,
      when: new Date(0),
      dropped: undefined,
      set: new Set([1]),
    });
    expect(await (await pending).json()).toEqual({
      result: { big: "12", when: "1970-01-01T00:00:00.000Z", set: [1] },
    });
  });

  it.each([
    ["not JSON", "{", "not valid JSON"],
    ["not an object", "[1]", "must be a JSON object"],
    ["without args", "{}", 'has no "args"'],
    ["with args not an array", '{"args": 3}', "must be an array"],
  ])("rejects a body %s", async (_, body, message) => {
    const spec = await deployFunction();
    const response = await api(`/v1/functions/${spec.name}/call`, {
      method: "POST",
      body,
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorJson).error.message).toContain(
      message,
    );
  });

  it("answers 404 for an unknown function", async () => {
    const response = await postJson(`/v1/functions/${freshName()}/call`, {
      args: [],
    });
    expect(response.status).toBe(404);
  });

  it("answers 404 for an invalid name", async () => {
    const response = await postJson("/v1/functions/9bad/call", { args: [] });
    expect(response.status).toBe(404);
  });

  it.each([
    ["application", 500],
    ["unavailable", 503],
    ["invalidArgument", 400],
  ] as const)("maps a %s error to %i", async (code, status) => {
    const { spec, link } = await linkedFunction();
    const pending = postJson(`/v1/functions/${spec.name}/call`, { args: [] });
    const run = (await link.frame()).runs[0];
    const callId = run?.callId ?? "";
    link.send({
      credits: 1,
      chunks: [
        {
          callId,
          seq: 0,
          attempt: 1,
          kind: "error",
          error: {
            code,
            type: "RangeError",
            message: "too big",
            stack: "RangeError: too big\n    at f",
            typeChain: ["RangeError", "Error"],
          },
        },
      ],
    });

    const response = await pending;
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({
      error: { type: "RangeError", message: "too big", callId },
    });
  });

  it("answers 504 past the deadline", async () => {
    const { spec, link } = await linkedFunction({ timeoutSeconds: 0.05 });
    const pending = postJson(`/v1/functions/${spec.name}/call`, { args: [] });
    const run = (await link.frame()).runs[0];
    await settle(80);
    await runDurableObjectAlarm(queueStub(env, spec.name));

    const response = await pending;
    expect(response.status).toBe(504);
    const body = (await response.json()) as ErrorJson;
    expect(body.error.callId).toBe(run?.callId);
    expect(body.error.type).toBe("DeadlineExceededError");
  });

  it("reuses the call for a repeated Idempotency-Key", async () => {
    const { spec, link } = await linkedFunction();
    const key = `key-${crypto.randomUUID()}`;
    const first = postJson(
      `/v1/functions/${spec.name}/call`,
      { args: [1] },
      { "Idempotency-Key": key },
    );
    const run = (await link.frame()).runs[0];
    link.result(run?.callId ?? "", 1, "once");
    expect(await (await first).json()).toEqual({ result: "once" });

    const second = await postJson(
      `/v1/functions/${spec.name}/call`,
      { args: [1] },
      { "Idempotency-Key": key },
    );
    expect(await second.json()).toEqual({ result: "once" });
    await link.nextAcks();
    expect(link.ws.unread).toBe(0);
  });
});

describe("generator calls", () => {
  // One frame carries every chunk: the test harness may reorder separate
  // sends of one socket, which a real agent connection does not.
  async function streamTwoValues(link: TestLink, fail: boolean) {
    const run = (await link.frame()).runs[0];
    const callId = run?.callId ?? "";
    const head = { callId, seq: 0, attempt: 1 };
    link.send({
      credits: 1,
      chunks: [
        { ...head, kind: "value", data: encodeValue(1) },
        { ...head, kind: "value", data: encodeValue("two") },
        fail
          ? {
              ...head,
              kind: "error",
              error: {
                code: "application",
                type: "ValueError",
                message: "bad",
                stack: "",
                typeChain: ["ValueError"],
              },
            }
          : { ...head, kind: "end" },
      ],
    });
    return callId;
  }

  it("streams NDJSON lines", async () => {
    const { spec, link } = await linkedFunction({ generator: true });
    const pending = postJson(`/v1/functions/${spec.name}/call`, { args: [] });
    await streamTwoValues(link, false);

    const response = await pending;
    expect(response.headers.get("Content-Type")).toBe("application/x-ndjson");
    const lines = (await response.text()).trim().split("\n");
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { value: 1 },
      { value: "two" },
      { done: true },
    ]);
  });

  it("ends NDJSON with the error", async () => {
    const { spec, link } = await linkedFunction({ generator: true });
    const pending = postJson(`/v1/functions/${spec.name}/call`, { args: [] });
    const callId = await streamTwoValues(link, true);

    const lines = (await (await pending).text()).trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[2] ?? "")).toEqual({
      error: { type: "ValueError", message: "bad", callId },
    });
  });

  it("streams Server-Sent Events", async () => {
    const { spec, link } = await linkedFunction({ generator: true });
    const pending = postJson(
      `/v1/functions/${spec.name}/call`,
      { args: [] },
      { Accept: "text/event-stream" },
    );
    await streamTwoValues(link, false);

    const response = await pending;
    expect(response.headers.get("Content-Type")).toBe("text/event-stream");
    expect(await response.text()).toBe(
      'event: value\ndata: {"value":1}\n\n' +
        'event: value\ndata: {"value":"two"}\n\n' +
        'event: done\ndata: {"done":true}\n\n',
    );
  });
});

describe("spawn and GET /v1/calls/{id}", () => {
  it("spawns, then reports the result", async () => {
    const { spec, link } = await linkedFunction();
    const spawned = await postJson(`/v1/functions/${spec.name}/spawn`, {
      args: [2],
    });
    expect(spawned.status).toBe(200);
    const { callId } = (await spawned.json()) as { callId: string };

    const running = await api(`/v1/calls/${callId}`);
    const runningView = (await running.json()) as Record<string, unknown>;
    expect(runningView.callId).toBe(callId);
    expect(runningView.function).toBe(spec.name);
    expect(["queued", "running"]).toContain(runningView.status);

    const run = (await link.frame()).runs[0];
    expect(run?.callId).toBe(callId);
    link.result(callId, 1, 4);
    let view: Record<string, unknown> = {};
    for (let i = 0; i < 100 && view.status !== "succeeded"; i++) {
      view = (await (await api(`/v1/calls/${callId}`)).json()) as typeof view;
      await settle(10);
    }
    expect(view).toMatchObject({
      status: "succeeded",
      attempt: 1,
      result: 4,
      version: 1,
    });
    expect(typeof view.finishedAt).toBe("string");
  });

  it("answers 404 for a malformed id", async () => {
    const response = await api("/v1/calls/not-a-call");
    expect(response.status).toBe(404);
  });

  it("answers 404 for an unknown call", async () => {
    const response = await api(`/v1/calls/fc-${"0".repeat(26)}-${freshName()}`);
    expect(response.status).toBe(404);
  });

  it("answers 404 when spawning an unknown function", async () => {
    const response = await postJson(`/v1/functions/${freshName()}/spawn`, {
      args: [],
    });
    expect(response.status).toBe(404);
  });
});
