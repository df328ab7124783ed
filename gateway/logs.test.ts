import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { logsStub } from "../durable-objects/env.ts";
import type { LogLine } from "../durable-objects/function-logs.ts";
import { freshName, until } from "../durable-objects/test-kit.ts";
import { parseLogBatch, parseTail } from "./logs.ts";
import { api, deployFunction, postJson } from "./test-client.ts";

function logLine(name: string, line: string, extra: Partial<LogLine> = {}) {
  return {
    function: name,
    replica: "r-1",
    version: 1,
    stream: "stdout",
    line,
    ts: Date.now(),
    ...extra,
  };
}

function parseNdjson(text: string): LogLine[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as LogLine);
}

/** Reads NDJSON lines from a stream until `count` arrived. */
class NdjsonReader {
  private buffer = "";
  readonly lines: LogLine[] = [];
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  async read(count: number): Promise<LogLine[]> {
    while (this.lines.length < count) {
      const { done, value } = await this.reader.read();
      if (done) throw new Error(`stream ended after ${this.lines.length}`);
      this.buffer += this.decoder.decode(value, { stream: true });
      const parts = this.buffer.split("\n");
      this.buffer = parts.pop() ?? "";
      for (const part of parts) {
        if (part !== "") this.lines.push(JSON.parse(part) as LogLine);
      }
    }
    return this.lines.slice(0, count);
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

describe("POST /v1/agent/logs", () => {
  it("stores lines per function in order", async () => {
    const a = await deployFunction();
    const b = await deployFunction();
    const response = await postJson("/v1/agent/logs", {
      lines: [
        logLine(a.name, "a1"),
        logLine(b.name, "b1", { stream: "stderr" }),
        logLine(a.name, "a2"),
      ],
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 3 });

    const logs = await api(`/v1/functions/${a.name}/logs`);
    expect(logs.headers.get("Content-Type")).toContain("application/x-ndjson");
    const lines = parseNdjson(await logs.text());
    expect(lines.map((l) => l.line)).toEqual(["a1", "a2"]);
    expect(lines[0]).toMatchObject({
      function: a.name,
      replica: "r-1",
      version: 1,
      stream: "stdout",
    });
    const other = parseNdjson(
      await (await api(`/v1/functions/${b.name}/logs`)).text(),
    );
    expect(other).toEqual([
      expect.objectContaining({ line: "b1", stream: "stderr" }),
    ]);
  });

  it("rejects malformed lines", async () => {
    const response = await postJson("/v1/agent/logs", {
      lines: [logLine("fn_x", "ok", { stream: "stdin" as "stdout" })],
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('stream must be \\"stdout\\"');
    expect((await postJson("/v1/agent/logs", {})).status).toBe(400);
  });
});

describe("GET /v1/functions/{name}/logs", () => {
  it("returns the last N lines", async () => {
    const spec = await deployFunction();
    const lines = Array.from({ length: 10 }, (_, i) =>
      logLine(spec.name, `line ${i}`),
    );
    await postJson("/v1/agent/logs", { lines });

    const response = await api(`/v1/functions/${spec.name}/logs?tail=3`);
    const tail = parseNdjson(await response.text());
    expect(tail.map((l) => l.line)).toEqual(["line 7", "line 8", "line 9"]);
    const none = await api(`/v1/functions/${spec.name}/logs?tail=0`);
    expect(await none.text()).toBe("");
  });

  it("answers 404 for an unknown function", async () => {
    const response = await api(`/v1/functions/${freshName()}/logs`);
    expect(response.status).toBe(404);
    const follow = await api(`/v1/functions/${freshName()}/logs?follow=1`);
    expect(follow.status).toBe(404);
  });

  it("rejects an invalid tail", async () => {
    const spec = await deployFunction();
    const response = await api(`/v1/functions/${spec.name}/logs?tail=-1`);
    expect(response.status).toBe(400);
    expect(parseTail("6000")).toContain("tail must be an integer");
    expect(parseTail(undefined)).toBe(100);
  });

  it("follows new lines after the tail", async () => {
    const spec = await deployFunction();
    await postJson("/v1/agent/logs", {
      lines: [logLine(spec.name, "old 1"), logLine(spec.name, "old 2")],
    });

    const response = await api(
      `/v1/functions/${spec.name}/logs?follow=1&tail=1`,
    );
    expect(response.status).toBe(200);
    const reader = new NdjsonReader(
      response.body as ReadableStream<Uint8Array>,
    );
    expect((await reader.read(1)).map((l) => l.line)).toEqual(["old 2"]);

    await postJson("/v1/agent/logs", { lines: [logLine(spec.name, "new 1")] });
    await postJson("/v1/agent/logs", {
      lines: [logLine(spec.name, "new 2"), logLine(spec.name, "new 3")],
    });
    const lines = await reader.read(4);
    expect(lines.map((l) => l.line)).toEqual([
      "old 2",
      "new 1",
      "new 2",
      "new 3",
    ]);

    await reader.cancel();
    const stub = logsStub(env, spec.name);
    // The next append notices the closed reader and drops the follower.
    await until(async () => {
      await stub.append([logLine(spec.name, "after") as LogLine]);
      return (await stub.followerCount()) === 0;
    }, "the follower to be dropped");
  });
});

describe("FunctionLogs retention", () => {
  it("keeps the last 5000 lines", async () => {
    const name = freshName();
    const stub = logsStub(env, name);
    const batch = (from: number, count: number) =>
      Array.from(
        { length: count },
        (_, i) => logLine(name, `n${from + i}`) as LogLine,
      );
    for (let from = 0; from < 5200; from += 1000) {
      await stub.append(batch(from, Math.min(1000, 5200 - from)));
    }

    const all = await stub.recent(6000);
    expect(all.length).toBe(5000);
    expect(all[0]?.line).toBe("n200");
    expect(all.at(-1)?.line).toBe("n5199");
  });
});

describe("parseLogBatch", () => {
  it("cuts long lines and limits the batch", () => {
    const parsed = parseLogBatch({
      lines: [logLine("fn_a", "x".repeat(20_000))],
    });
    expect("lines" in parsed).toBe(true);
    const lines = "lines" in parsed ? parsed.lines : [];
    expect(lines[0]?.line.length).toBe(16 * 1024);
    const big = parseLogBatch({
      lines: Array.from({ length: 1001 }, () => logLine("fn_a", "x")),
    });
    expect(big).toEqual({
      problems: [expect.stringContaining("at most 1000")],
    });
  });
});
