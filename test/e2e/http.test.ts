import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { add, divide, fragile } from "../fixtures/calls.ts";
import {
  gatewayFetch,
  startTestStack,
  type TestStack,
} from "../helpers/stack.ts";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
  await Promise.all([add.waitReady(), divide.waitReady(), fragile.waitReady()]);
});

afterAll(async () => {
  await stack?.stop();
});

function postJson(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return gatewayFetch(stack, path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("authentication", () => {
  it("rejects a request without a token", async () => {
    const response = await fetch(new URL("/v1/functions", stack.url));
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/token/i);
  });

  it("keeps agent routes closed to the caller token", async () => {
    const response = await gatewayFetch(
      stack,
      "/v1/agent/functions/e2e_add/secrets?version=1",
    );
    expect(response.status).toBe(401);
  });

  it("rejects a wrong token", async () => {
    const response = await gatewayFetch(stack, "/v1/functions", {
      headers: { authorization: "Bearer not-the-token" },
    });
    expect(response.status).toBe(401);
  });
});

describe("calls over HTTP", () => {
  it("returns a single result", async () => {
    const response = await postJson("/v1/functions/e2e_add/call", {
      args: [3, 5],
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ result: 8 });
  });

  it("streams a generator as NDJSON", async () => {
    const response = await postJson("/v1/functions/e2e_fragile/call", {
      args: [],
    });
    expect(response.headers.get("content-type")).toMatch(/ndjson/);
    const lines = (await response.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.slice(0, 2)).toEqual([{ value: "ok-1" }, { value: "ok-2" }]);
    expect(lines[2].error.type).toBe("QuotaError");
    expect(lines[2].error.message).toBe("something went wrong");
  });

  it("streams a generator as server-sent events", async () => {
    const response = await postJson(
      "/v1/functions/e2e_fragile/call",
      { args: [] },
      { accept: "text/event-stream" },
    );
    expect(response.headers.get("content-type")).toMatch(/text\/event-stream/);
    const events = (await response.text())
      .trim()
      .split("\n\n")
      .map((block) => {
        const [event, data] = block.split("\n");
        return { event, data: JSON.parse(data!.replace(/^data: /, "")) };
      });
    expect(events.slice(0, 2)).toEqual([
      { event: "event: value", data: { value: "ok-1" } },
      { event: "event: value", data: { value: "ok-2" } },
    ]);
    expect(events[2]?.event).toBe("event: error");
    expect(events[2]?.data.error.type).toBe("QuotaError");
  });

  it("returns a 5xx with the error form when the function raised", async () => {
    const response = await postJson("/v1/functions/e2e_divide/call", {
      args: [1, 0],
    });
    expect(response.status).toBe(500);
    const body = (await response.json()) as {
      error: { type: string; message: string; callId: string };
    };
    expect(body.error.type).toBe("RangeError");
    expect(body.error.message).toBe("division by zero");
    expect(body.error.callId).toMatch(/^fc-/);
  });

  it("spawns a call and reports it by id", async () => {
    const spawned = await postJson("/v1/functions/e2e_add/spawn", {
      args: [2, 2],
    });
    expect(spawned.status).toBe(200);
    const { callId } = (await spawned.json()) as { callId: string };

    let status: { status: string; result?: unknown };
    do {
      const response = await gatewayFetch(stack, `/v1/calls/${callId}`);
      expect(response.status).toBe(200);
      status = (await response.json()) as typeof status;
    } while (status.status === "queued" || status.status === "running");
    expect(status.status).toBe("succeeded");
    expect(status.result).toBe(4);
  });
});

describe("client errors", () => {
  it("returns 404 for an unknown function", async () => {
    const response = await postJson("/v1/functions/no_such_fn/call", {
      args: [],
    });
    expect(response.status).toBe(404);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain("no_such_fn");
  });

  it("returns 404 for an unknown call", async () => {
    const response = await gatewayFetch(
      stack,
      "/v1/calls/fc-00000000000000000000000000-e2e_add",
    );
    expect(response.status).toBe(404);
  });

  it("returns 400 for a body that is not JSON", async () => {
    const response = await postJson("/v1/functions/e2e_add/call", "{not json");
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/json/i);
  });

  it("returns 413 for arguments over the size limit", async () => {
    const response = await postJson("/v1/functions/e2e_add/call", {
      args: ["x".repeat(2 * 1024 * 1024)],
    });
    expect(response.status).toBe(413);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/over the limit/);
  });

  it("returns 400 when args is not an array", async () => {
    const response = await postJson("/v1/functions/e2e_add/call", { args: 3 });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain("args");
  });
});

describe("catalog", () => {
  it("lists deployed functions with their status", async () => {
    const response = await gatewayFetch(stack, "/v1/functions");
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      functions: { name: string; status: string }[];
    };
    const add = body.functions.find((f) => f.name === "e2e_add");
    expect(add?.status).toBe("ready");
  });

  it("describes one function", async () => {
    const response = await gatewayFetch(stack, "/v1/functions/e2e_add");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { name: string; version: number };
    expect(body.name).toBe("e2e_add");
    expect(body.version).toBeGreaterThanOrEqual(1);
  });
});
