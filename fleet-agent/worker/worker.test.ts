import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  AgentMessage,
  Chunk,
  Run,
  WorkerMessage,
} from "../../schemas/frames.ts";
import { decodeValue, encodeValue } from "../../schemas/values.ts";
import { buildTestBundle } from "../testing/bundles.ts";
import { errorOf, resultOf } from "../testing/chunks.ts";
import { waitFor } from "../testing/fake-gateway.ts";
import { buildWorkerRuntime } from "../worker-build.ts";
import {
  emptyAgentMessage,
  unixAddress,
  WORKER_SERVICE,
} from "../worker-protocol.ts";

const FUNCTIONS = `
class NetworkError extends Error {}

register("add", (x: number, y: number) => x + y);
register("addLater", async (x: number, y: number) => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  return x + y;
});
register("countSlowly", async function* (n: number) {
  for (let i = 0; i < n; i++) {
    yield i;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});
register("burst", async function* () {
  for (let i = 0; i < 100; i++) yield i;
});
register("failNetwork", () => {
  throw new NetworkError("link down");
});
register("failString", () => {
  throw "plain failure";
});
register("failAfterTwo", async function* () {
  yield 1;
  yield 2;
  throw new RangeError("third value out of range");
});
register("returnFunction", () => () => 1);
register("nested", async () => {
  const hooks = await import(${JSON.stringify(
    path.resolve(import.meta.dirname, "../../sdk/runtime-hooks.ts"),
  )});
  const channel = hooks.replicaChannel();
  const parent = hooks.currentCall();
  return await new Promise((resolve) => {
    channel.onFrame((frame: any) => {
      const chunk = frame.chunks[0];
      if (chunk) resolve({ parent: parent.callId, got: chunk.kind });
    });
    channel.send({
      submits: [{
        function: "inner", idempotencyKey: "k1", args: new Uint8Array(),
        subscribe: true, parentCallId: parent.callId, traceContext: "",
      }],
      subscribes: [],
    });
  });
});
`;

interface Received {
  at: number;
  message: WorkerMessage;
}

/** A gRPC server on a Unix socket with one real worker process attached. */
interface Harness {
  received: Received[];
  chunks(): (Chunk & { at: number })[];
  send(message: Partial<AgentMessage>): void;
  exited: Promise<number | null>;
  stderr(): string;
  close(): Promise<void>;
}

let dir: string;
let workerPath: string;
let bundlePath: string;
let serial = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cc-worker-"));
  workerPath = await buildWorkerRuntime(dir);
  bundlePath = path.join(dir, "bundle.mjs");
  await writeFile(bundlePath, await buildTestBundle(FUNCTIONS));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function startWorker(functionName: string): Promise<Harness> {
  const socketPath = path.join(dir, `w${serial++}.sock`);
  const received: Received[] = [];
  let session: grpc.ServerDuplexStream<WorkerMessage, AgentMessage> | undefined;

  const server = new grpc.Server();
  server.addService(WORKER_SERVICE, {
    Session: (call: grpc.ServerDuplexStream<WorkerMessage, AgentMessage>) => {
      session = call;
      call.on("data", (message: WorkerMessage) =>
        received.push({ at: Date.now(), message }),
      );
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(
      unixAddress(socketPath),
      grpc.ServerCredentials.createInsecure(),
      (error) => (error ? reject(error) : resolve()),
    ),
  );

  const child = spawn(process.execPath, [workerPath], {
    env: {
      ...process.env,
      CHALKCOMPUTE_BUNDLE: bundlePath,
      CHALKCOMPUTE_FUNCTION: functionName,
      CHALKCOMPUTE_SOCKET: socketPath,
      CHALKCOMPUTE_REPLICA: `test-${serial}`,
    },
    stdio: ["ignore", "inherit", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (data: Buffer) => {
    stderr += data.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => resolve(code)),
  );

  return {
    received,
    chunks: () =>
      received.flatMap(({ at, message }) =>
        message.chunks.map((chunk) => ({ ...chunk, at })),
      ),
    send: (message) => session?.write({ ...emptyAgentMessage(), ...message }),
    exited,
    stderr: () => stderr,
    close: async () => {
      child.kill("SIGKILL");
      await exited;
      server.forceShutdown();
    },
  };
}

async function startReady(functionName: string): Promise<Harness> {
  const harness = await startWorker(functionName);
  await waitFor(
    () => harness.received.find((r) => r.message.ready),
    `ready from ${functionName}`,
  );
  return harness;
}

function run(callId: string, args: unknown[], attempt = 1): Run {
  return {
    callId,
    attempt,
    args: encodeValue(args, "args"),
    deadlineMs: Date.now() + 60_000,
    parentCallId: "",
    traceContext: "",
  };
}

async function finalChunk(harness: Harness, callId: string) {
  return waitFor(
    () =>
      harness.chunks().find((c) => c.callId === callId && c.kind !== "value"),
    `final chunk of ${callId}`,
  );
}

describe("worker runtime", () => {
  it("reports ready with the bundle's functions", async () => {
    const harness = await startReady("add");
    const ready = harness.received.find((r) => r.message.ready)?.message.ready;
    expect(ready?.functions).toContain("add");
    expect(ready?.functions).toContain("countSlowly");
    expect(ready?.pid).toBeGreaterThan(0);
    await harness.close();
  });

  it("returns a plain handler's value", async () => {
    const harness = await startReady("add");
    harness.send({ runs: [run("c1", [3, 5], 2)] });

    const chunk = await finalChunk(harness, "c1");
    expect(resultOf(chunk)).toBe(8);
    expect(chunk.attempt).toBe(2);
    expect(chunk.seq).toBe(0);
    await harness.close();
  });

  it("runs calls concurrently", async () => {
    const harness = await startReady("addLater");
    const started = Date.now();
    harness.send({ runs: [run("a", [1, 1]), run("b", [2, 2])] });

    await finalChunk(harness, "a");
    await finalChunk(harness, "b");
    expect(Date.now() - started).toBeLessThan(1000);
    await harness.close();
  });

  it("streams generator values as yielded", async () => {
    const harness = await startReady("countSlowly");
    harness.send({ runs: [run("g", [3])] });

    const end = await finalChunk(harness, "g");
    const chunks = harness.chunks().filter((c) => c.callId === "g");
    const values = chunks.filter((c) => c.kind === "value");
    expect(end.kind).toBe("end");
    expect(
      values.map((c) => c.kind === "value" && decodeValue(c.data)),
    ).toEqual([0, 1, 2]);
    // The generator sleeps 200 ms after each value, so the first value
    // reaching the agent well before the end proves it was not held back.
    expect(end.at - (values[0]?.at ?? end.at)).toBeGreaterThanOrEqual(400);
    await harness.close();
  });

  it("coalesces values of one tick", async () => {
    const harness = await startReady("burst");
    harness.send({ runs: [run("b", [])] });

    await finalChunk(harness, "b");
    const messages = harness.received.filter((r) => r.message.chunks.length);
    const values = harness.chunks().filter((c) => c.kind === "value");
    expect(values).toHaveLength(100);
    expect(messages.length).toBeLessThan(10);
    await harness.close();
  });

  it("reports an error's type chain", async () => {
    const harness = await startReady("failNetwork");
    harness.send({ runs: [run("e", [])] });

    const error = errorOf(await finalChunk(harness, "e"));
    expect(error.code).toBe("application");
    expect(error.type).toBe("NetworkError");
    expect(error.message).toBe("link down");
    expect(error.typeChain).toEqual(["NetworkError", "Error"]);
    expect(error.stack).toContain("link down");
    await harness.close();
  });

  it("reports a thrown string as Error", async () => {
    const harness = await startReady("failString");
    harness.send({ runs: [run("s", [])] });

    const chunk = await finalChunk(harness, "s");
    expect(errorOf(chunk).type).toBe("Error");
    expect(errorOf(chunk).message).toBe("plain failure");
    await harness.close();
  });

  it("delivers values before a generator's error", async () => {
    const harness = await startReady("failAfterTwo");
    harness.send({ runs: [run("f", [])] });

    const chunk = await finalChunk(harness, "f");
    const kinds = harness
      .chunks()
      .filter((c) => c.callId === "f")
      .map((c) => c.kind);
    expect(kinds).toEqual(["value", "value", "error"]);
    expect(errorOf(chunk).type).toBe("RangeError");
    await harness.close();
  });

  it("rejects a result that cannot travel", async () => {
    const harness = await startReady("returnFunction");
    harness.send({ runs: [run("r", [])] });

    const chunk = await finalChunk(harness, "r");
    expect(errorOf(chunk).code).toBe("invalidArgument");
    expect(errorOf(chunk).message).toMatch(/^result is/);
    await harness.close();
  });

  it("rejects arguments that are not an array", async () => {
    const harness = await startReady("add");
    harness.send({ runs: [{ ...run("x", []), args: encodeValue(7) }] });

    const chunk = await finalChunk(harness, "x");
    expect(errorOf(chunk).code).toBe("invalidArgument");
    await harness.close();
  });

  it("relays nested calls with the parent id", async () => {
    const harness = await startReady("nested");
    harness.send({ runs: [run("outer", [])] });

    const calls = await waitFor(
      () =>
        harness.received.find((r) => r.message.calls)?.message.calls ??
        undefined,
      "nested submit",
    );
    expect(calls.submits[0]?.idempotencyKey).toBe("k1");
    expect(calls.submits[0]?.parentCallId).toBe("outer");
    harness.send({
      replies: {
        accepted: [{ idempotencyKey: "k1", callId: "inner-1" }],
        rejected: [],
        chunks: [{ callId: "inner-1", seq: 0, attempt: 1, kind: "end" }],
      },
    });

    const chunk = await finalChunk(harness, "outer");
    expect(resultOf(chunk)).toEqual({
      parent: "outer",
      got: "end",
    });
    await harness.close();
  });

  it("exits after a drain once calls finish", async () => {
    const harness = await startReady("addLater");
    harness.send({ runs: [run("d", [1, 2])] });
    harness.send({ drain: true });

    expect(await harness.exited).toBe(0);
    const chunk = harness.chunks().find((c) => c.callId === "d");
    expect(chunk?.kind).toBe("result");
    await harness.close();
  });

  it("fails when the function is missing", async () => {
    const harness = await startWorker("missing");

    expect(await harness.exited).toBe(1);
    expect(harness.stderr()).toMatch(/function missing is not defined/);
    expect(harness.stderr()).toMatch(/add, /);
    await harness.close();
  });
});
