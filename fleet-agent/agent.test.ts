import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Assignment, Chunk, Run } from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";
import { encodeValue } from "../schemas/values.ts";
import { type FleetAgent, startAgent } from "./agent.ts";
import { buildTestBundle } from "./testing/bundles.ts";
import { errorOf, resultOf } from "./testing/chunks.ts";
import { FakeGateway, type FakeLink, waitFor } from "./testing/fake-gateway.ts";

const FUNCTIONS = `
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

register("add", (x: number, y: number) => x + y);
register("slowAdd", async (x: number, y: number) => {
  await sleep(300);
  return x + y;
});
register("crash", async (code: number) => {
  if (code > 0) process.exit(code);
  return "alive";
});
register("hang", async (ms: number) => {
  await sleep(ms);
  return "woke";
});
register("ticks", async function* (n: number) {
  for (let i = 0; i < n; i++) {
    yield i;
    await sleep(100);
  }
});
register("nested", async () => {
  const hooks = await import(${JSON.stringify(
    path.resolve(import.meta.dirname, "../sdk/runtime-hooks.ts"),
  )});
  const channel = hooks.replicaChannel();
  const parentCallId = hooks.currentCall().callId;
  let attempts = 0;
  const submit = () => {
    attempts++;
    channel.send({
      submits: [{
        function: "inner", idempotencyKey: "key-1", args: new Uint8Array(),
        subscribe: true, parentCallId, traceContext: "",
      }],
      subscribes: [],
    });
  };
  return await new Promise((resolve) => {
    let accepted = "";
    channel.onReconnect(submit);
    channel.onFrame((frame: any) => {
      for (const a of frame.accepted) accepted = a.idempotencyKey + "=" + a.callId;
      for (const c of frame.chunks) {
        if (c.kind === "end") resolve({ accepted, attempts });
      }
    });
    submit();
  });
});
`;

let bundle: Uint8Array;
let gateway: FakeGateway;
let dataDir: string;
let agent: FleetAgent | undefined;
let bundleHash: string;
let serial = 0;

const logger = pino({ level: process.env.AGENT_TEST_LOG ?? "silent" });

beforeAll(async () => {
  bundle = await buildTestBundle(FUNCTIONS);
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await gateway?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

afterAll(async () => {
  await gateway?.close();
});

async function setup(): Promise<void> {
  gateway = await FakeGateway.start();
  bundleHash = gateway.addBundle(bundle);
  dataDir = await mkdtemp(path.join(tmpdir(), "cc-agent-"));
  agent = await startAgent({
    gatewayUrl: gateway.url,
    token: gateway.token,
    dataDir,
    agentId: "agent-test",
    runtime: "process",
    logger,
    reportIntervalMs: 200,
    stopGraceMs: 3_000,
    restartBackoff: { initialMs: 50, maxMs: 200 },
  });
}

function assignment(
  name: string,
  version = 1,
  overrides: Partial<FunctionSpec> = {},
): Assignment {
  const spec: FunctionSpec = {
    name,
    generator: name === "ticks",
    concurrency: 1,
    timeoutSeconds: 60,
    module: "functions.ts",
    bundleHash,
    ...overrides,
  };
  return { function: name, version, bundleHash, spec: JSON.stringify(spec) };
}

function run(args: unknown[], deadlineInMs = 60_000): Run {
  return {
    callId: `fc-call${serial++}`,
    attempt: 1,
    args: encodeValue(args, "args"),
    deadlineMs: Date.now() + deadlineInMs,
    parentCallId: "",
    traceContext: "",
  };
}

function openLinks(name: string, version?: number): FakeLink[] {
  return gateway.links.filter(
    (link) =>
      link.function === name &&
      (version === undefined || link.version === version) &&
      link.frames.some((frame) => frame.hello),
  );
}

async function waitLink(name: string, index = 0, version?: number) {
  return waitFor(
    () => openLinks(name, version)[index],
    `link ${index} of ${name}`,
  );
}

async function waitFinal(callId: string): Promise<Chunk> {
  return waitFor(
    () =>
      gateway.links
        .flatMap((link) => link.frames.flatMap((frame) => frame.chunks))
        .find((chunk) => chunk.callId === callId && chunk.kind !== "value"),
    `final chunk of ${callId}`,
  );
}

function credits(link: FakeLink): number {
  return link.frames.reduce((sum, frame) => sum + frame.credits, 0);
}

describe("fleet agent", () => {
  it("runs an assignment end to end", async () => {
    await setup();
    gateway.assign([assignment("add", 1, { concurrency: 3 })]);

    const link = await waitLink("add");
    expect(link.agent).toBe("agent-test");
    expect(link.version).toBe(1);
    expect(link.frames[0]?.hello).toEqual({ freeSlots: 3, running: [] });
    expect(existsSync(path.join(dataDir, "bundles", `${bundleHash}.mjs`))).toBe(
      true,
    );

    const call = run([3, 5]);
    link.sendRuns([call]);
    const chunk = await waitFinal(call.callId);
    expect(resultOf(chunk)).toBe(8);
    await waitFor(() => credits(link) === 1, "one credit");

    const report = await waitFor(
      () =>
        gateway.reports.find((r) =>
          r.replicas.some((replica) => replica.state === "serving"),
        ),
      "serving report",
    );
    expect(report.agentId).toBe("agent-test");
    expect(report.runtime).toBe("process");
    expect(report.replicas[0]?.function).toBe("add");
  });

  it("streams generator chunks to the link", async () => {
    await setup();
    gateway.assign([assignment("ticks")]);
    const link = await waitLink("ticks");

    const call = run([3]);
    link.sendRuns([call]);
    await waitFinal(call.callId);
    const kinds = gateway
      .chunksOf(link.replica)
      .filter((chunk) => chunk.callId === call.callId)
      .map((chunk) => chunk.kind);
    expect(kinds).toEqual(["value", "value", "value", "end"]);
  });

  it("grants one credit per finished run", async () => {
    await setup();
    gateway.assign([assignment("slowAdd", 1, { concurrency: 2 })]);
    const link = await waitLink("slowAdd");

    const calls = [run([1, 1]), run([2, 2]), run([3, 3])];
    link.sendRuns(calls.slice(0, 2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(credits(link)).toBe(0);
    link.sendRuns(calls.slice(2));

    for (const call of calls) await waitFinal(call.callId);
    await waitFor(() => credits(link) === 3, "three credits");
    expect(link.frames.filter((frame) => frame.hello)).toHaveLength(1);
  });

  it("restarts a crashed replica", async () => {
    await setup();
    gateway.assign([assignment("crash")]);
    const first = await waitLink("crash");

    const doomed = run([3]);
    first.sendRuns([doomed]);
    const error = errorOf(await waitFinal(doomed.callId));
    expect(error.code).toBe("unavailable");
    expect(error.message).toMatch(/exited with code 3/);
    await waitFor(() => first.closed, "first link closed");

    const second = await waitLink("crash", 1);
    expect(second.replica).toBe(first.replica);
    expect(second.frames[0]?.hello).toEqual({ freeSlots: 1, running: [] });
    const next = run([0]);
    second.sendRuns([next]);
    const result = await waitFinal(next.callId);
    expect(resultOf(result)).toBe("alive");
  });

  it("kills a replica past a deadline", async () => {
    await setup();
    gateway.assign([assignment("hang", 1, { concurrency: 2 })]);
    const first = await waitLink("hang");

    const late = run([10_000], 300);
    const bystander = run([10_000]);
    first.sendRuns([late, bystander]);
    const chunk = await waitFinal(late.callId);
    expect(errorOf(chunk).code).toBe("deadlineExceeded");
    const other = await waitFinal(bystander.callId);
    expect(errorOf(other).code).toBe("unavailable");
    expect(errorOf(other).message).toMatch(/passed its deadline/);

    const second = await waitLink("hang", 1);
    const quick = run([1]);
    second.sendRuns([quick]);
    const result = await waitFinal(quick.callId);
    expect(resultOf(result)).toBe("woke");
  });

  it("drains the old version on a new one", async () => {
    await setup();
    gateway.assign([assignment("slowAdd", 1)]);
    const old = await waitLink("slowAdd", 0, 1);

    const running = run([20, 22]);
    old.sendRuns([running]);
    await waitFor(
      () => gateway.reports.some((r) => r.replicas[0]?.inFlight === 1),
      "in-flight report",
    );
    gateway.assign([assignment("slowAdd", 2)]);

    const fresh = await waitLink("slowAdd", 0, 2);
    expect(fresh.replica).not.toBe(old.replica);
    await waitFor(
      () => old.frames.some((frame) => frame.draining),
      "draining frame",
    );
    const chunk = await waitFinal(running.callId);
    expect(resultOf(chunk)).toBe(42);
    await waitFor(() => old.closed, "old link closed");
    expect(credits(old)).toBe(0);
    await waitFor(
      () =>
        gateway.reports
          .at(-1)
          ?.replicas.map((r) => r.version)
          .join() === "2",
      "report without the old replica",
    );
    expect(
      existsSync(path.join(dataDir, "replicas", old.replica, "agent.sock")),
    ).toBe(false);
  });

  it("sends hello again after a link reconnect", async () => {
    await setup();
    gateway.assign([assignment("slowAdd")]);
    const first = await waitLink("slowAdd");

    const call = run([1, 2]);
    first.sendRuns([call]);
    await waitFor(
      () => gateway.reports.some((r) => r.replicas[0]?.inFlight === 1),
      "in-flight report",
    );
    first.socket.terminate();

    const second = await waitLink("slowAdd", 1);
    expect(second.replica).toBe(first.replica);
    expect(second.frames[0]?.hello).toEqual({
      freeSlots: 0,
      running: [call.callId],
    });
    const chunk = await waitFinal(call.callId);
    expect(resultOf(chunk)).toBe(3);
    expect(second.frames.some((frame) => frame.chunks.length > 0)).toBe(true);
  });

  it("reports a replica whose function is missing", async () => {
    await setup();
    gateway.assign([assignment("ghost")]);

    await waitFor(
      () => gateway.reports.some((r) => r.replicas[0]?.state === "crashed"),
      "crashed report",
    );
    expect(openLinks("ghost")).toHaveLength(0);
  });

  it("stops a function missing from the list", async () => {
    await setup();
    gateway.assign([assignment("add")]);
    const link = await waitLink("add");

    gateway.assign([]);
    await waitFor(() => link.closed, "link closed");
    await waitFor(
      () => gateway.reports.at(-1)?.replicas.length === 0,
      "empty report",
    );
  });

  it("downloads each bundle once", async () => {
    await setup();
    gateway.assign([assignment("add"), assignment("slowAdd")]);
    await waitLink("add");
    await waitLink("slowAdd");
    expect(gateway.bundleRequests).toEqual([bundleHash]);
  });

  it("relays nested calls and relinks", async () => {
    await setup();
    gateway.assign([assignment("nested")]);
    const link = await waitLink("nested");

    const call = run([]);
    link.sendRuns([call]);
    const first = await waitFor(
      () => gateway.connects[0]?.frames[0],
      "nested submit",
    );
    const key = first.submits[0]?.idempotencyKey;
    expect(key).toBe(`${link.replica}/key-1`);
    expect(first.submits[0]?.parentCallId).toBe(call.callId);

    // A reconnect makes the worker resubmit over the new connection.
    gateway.connects[0]?.socket.close();
    const again = await waitFor(
      () => gateway.connects[1]?.frames[0],
      "resubmit after reconnect",
    );
    expect(again.submits[0]?.idempotencyKey).toBe(key);
    gateway.connects[1]?.send({
      accepted: [{ idempotencyKey: key as string, callId: "fc-inner" }],
      rejected: [],
      chunks: [{ callId: "fc-inner", seq: 0, attempt: 1, kind: "end" }],
    });

    const chunk = await waitFinal(call.callId);
    expect(resultOf(chunk)).toEqual({
      accepted: "key-1=fc-inner",
      attempts: 2,
    });
  });

  it("stops twice without error", async () => {
    await setup();
    gateway.assign([assignment("add")]);
    await waitLink("add");

    const current = agent as FleetAgent;
    await Promise.all([current.stop(), current.stop()]);
    await current.stop();
    expect(gateway.links[0]?.frames.some((frame) => frame.draining)).toBe(true);
  });
});
