import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayHttp } from "../http.ts";
import { FakeGateway } from "../testing/fake-gateway.ts";
import { formatLogLine, printLogs } from "./logs-command.ts";

const gateway = new FakeGateway();
let http: GatewayHttp;

const line = (n: number, fn = "embed") => ({
  function: fn,
  replica: "r-1",
  version: 1,
  stream: n % 2 ? "stderr" : "stdout",
  line: `line ${n}`,
  ts: Date.UTC(2026, 0, 1, 0, 0, n),
});

beforeAll(async () => {
  await gateway.start();
  http = new GatewayHttp(gateway);
  for (let n = 0; n < 5; n++) gateway.appendLog(line(n));
  gateway.appendLog(line(9, "other"));
});

afterAll(async () => {
  await gateway.stop();
});

describe("printLogs", () => {
  it("prints the last lines of the function", async () => {
    const printed: string[] = [];
    await printLogs(http, "embed", {
      follow: false,
      tail: 2,
      print: (l) => printed.push(l),
    });

    expect(printed).toEqual([
      "2026-01-01T00:00:03.000Z r-1 stderr line 3",
      "2026-01-01T00:00:04.000Z r-1 stdout line 4",
    ]);
    expect(gateway.requests.at(-1)).toBe("GET /v1/functions/embed/logs?tail=2");
  });

  it("follows new lines until aborted", async () => {
    const printed: string[] = [];
    const abort = new AbortController();

    const done = printLogs(http, "embed", {
      follow: true,
      tail: 1,
      print: (l) => {
        printed.push(l);
        if (printed.length === 3) abort.abort();
      },
      signal: abort.signal,
    });
    await new Promise((r) => setTimeout(r, 100));
    gateway.appendLog(line(5));
    gateway.appendLog(line(6, "other"));
    gateway.appendLog(line(7));
    await done;

    expect(printed.map((l) => l.split(" ").slice(-2).join(" "))).toEqual([
      "line 4",
      "line 5",
      "line 7",
    ]);
    expect(gateway.requests.at(-1)).toBe(
      "GET /v1/functions/embed/logs?tail=1&follow=1",
    );
  });

  it("reports an unknown token as an HTTP error", async () => {
    const bad = new GatewayHttp({ url: gateway.url, token: "wrong" });
    await expect(
      printLogs(bad, "embed", { follow: false, tail: 1, print: () => {} }),
    ).rejects.toThrow(/HTTP 401/);
  });
});

describe("formatLogLine", () => {
  it("prints time, replica, stream and line", () => {
    expect(formatLogLine({ ...line(0), stream: "stdout" })).toBe(
      "2026-01-01T00:00:00.000Z r-1 stdout line 0",
    );
  });
});
