import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { type LogLine, LogShipper } from "./log-shipper.ts";

function line(n: number): LogLine {
  return {
    function: "fn",
    replica: "r1",
    version: 1,
    stream: "stdout",
    line: `line ${n}`,
    ts: n,
  };
}

function recorder(ok: () => boolean) {
  const batches: LogLine[][] = [];
  const fetch = async (_url: unknown, init?: RequestInit) => {
    if (!ok()) throw new Error("connection refused");
    batches.push(JSON.parse(String(init?.body)).lines);
    return new Response("{}");
  };
  return { batches, fetch: fetch as typeof globalThis.fetch };
}

const base = {
  gateway: new URL("http://127.0.0.1:9"),
  token: "t",
  logger: pino({ level: "silent" }),
};

describe("LogShipper", () => {
  it("sends a full batch at once and the rest after the interval", async () => {
    const { batches, fetch } = recorder(() => true);
    const shipper = new LogShipper({
      ...base,
      fetch,
      intervalMs: 50,
      batchLines: 3,
    });
    for (let i = 0; i < 3; i++) shipper.add(line(i));
    await new Promise((r) => setTimeout(r, 10));
    expect(batches.map((b) => b.length)).toEqual([3]);

    shipper.add(line(3));
    await new Promise((r) => setTimeout(r, 10));
    expect(batches.length).toBe(1);

    await new Promise((r) => setTimeout(r, 80));
    expect(batches.map((b) => b.map((l) => l.ts))).toEqual([[0, 1, 2], [3]]);
    await shipper.close();
  });

  it("keeps the newest lines while the gateway is down and counts the rest", async () => {
    let up = false;
    const { batches, fetch } = recorder(() => up);
    const shipper = new LogShipper({
      ...base,
      fetch,
      intervalMs: 10,
      batchLines: 100,
      maxBuffered: 5,
    });
    for (let i = 0; i < 8; i++) shipper.add(line(i));
    await shipper.flush();
    expect(shipper.droppedLines).toBe(3);
    expect(shipper.pending).toBe(5);

    up = true;
    await shipper.flush();
    expect(batches.flat().map((l) => l.ts)).toEqual([3, 4, 5, 6, 7]);
    await shipper.close();
  });
});
