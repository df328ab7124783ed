/**
 * The agent with the docker runtime against a fake gateway and the real
 * Docker engine. Skipped when no engine responds.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type Dockerode from "dockerode";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Assignment, Chunk, Run } from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";
import { encodeValue } from "../schemas/values.ts";
import { type FleetAgent, startAgent } from "./agent.ts";
import { pingDocker } from "./runtime/select-runtime.ts";
import { buildTestBundle } from "./testing/bundles.ts";
import { errorOf, resultOf } from "./testing/chunks.ts";
import { FakeGateway, type FakeLink, waitFor } from "./testing/fake-gateway.ts";

const ping = await pingDocker();
const docker = "docker" in ping ? ping.docker : undefined;

const FUNCTIONS = `
import { appendFileSync, readFileSync } from "node:fs";
register("echo", (value: string) => value);
register("whoami", () => ({ uid: process.getuid?.(), secret: process.env.API_KEY }));
register("printSecret", () => {
  console.log("the key is " + process.env.API_KEY);
  return "printed";
});
register("hog", () => {
  const kept: Buffer[] = [];
  for (;;) kept.push(Buffer.alloc(8 << 20, 1));
});
register("appendVolume", (line: string) => {
  appendFileSync("/data/lines.txt", line + "\\n");
  return readFileSync("/data/lines.txt", "utf8");
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

async function setup(): Promise<void> {
  gateway = await FakeGateway.start();
  bundleHash = gateway.addBundle(bundle);
  dataDir = await mkdtemp(path.join(tmpdir(), "cc-docker-"));
  agent = await startAgent({
    gatewayUrl: gateway.url,
    token: gateway.token,
    dataDir,
    agentId: `docker-test-${process.pid}`,
    runtime: "docker",
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
    generator: false,
    concurrency: 1,
    timeoutSeconds: 60,
    module: "functions.ts",
    bundleHash,
    ...overrides,
  };
  return { function: name, version, bundleHash, spec: JSON.stringify(spec) };
}

function run(args: unknown[]): Run {
  return {
    callId: `fc-docker${serial++}`,
    attempt: 1,
    args: encodeValue(args, "args"),
    deadlineMs: Date.now() + 60_000,
    parentCallId: "",
    traceContext: "",
  };
}

function waitLink(name: string, index = 0, version?: number) {
  return waitFor(
    () =>
      gateway.links.filter(
        (link) =>
          link.function === name &&
          (version === undefined || link.version === version) &&
          link.frames.some((frame) => frame.hello),
      )[index],
    `link ${index} of ${name}`,
    60_000,
  );
}

function waitFinal(callId: string): Promise<Chunk> {
  return waitFor(
    () =>
      gateway.links
        .flatMap((link) => link.frames.flatMap((frame) => frame.chunks))
        .find((chunk) => chunk.callId === callId && chunk.kind !== "value"),
    `final chunk of ${callId}`,
    60_000,
  );
}

async function call(link: FakeLink, args: unknown[]): Promise<Chunk> {
  const r = run(args);
  link.sendRuns([r]);
  return waitFinal(r.callId);
}

async function containerOf(
  replica: string,
): Promise<Dockerode.ContainerInspectInfo> {
  const list = await (docker as Dockerode).listContainers({
    filters: { label: [`chalkcompute.replica=${replica}`] },
  });
  const id = list[0]?.Id;
  if (!id) throw new Error(`no running container for replica ${replica}`);
  return (docker as Dockerode).getContainer(id).inspect();
}

describe.skipIf(!docker)("docker runtime", () => {
  it("serves a call from a hardened, limited container with its secrets", async () => {
    await setup();
    gateway.secrets.set("whoami", { API_KEY: "s3cr3t-value" });
    gateway.assign([
      assignment("whoami", 1, { cpu: 0.5, memoryBytes: 256 * 2 ** 20 }),
    ]);

    const link = await waitLink("whoami");
    expect(resultOf(await call(link, []))).toEqual({
      uid: 1000,
      secret: "s3cr3t-value",
    });

    const info = await containerOf(link.replica);
    expect(info.Config.User).toBe("1000:1000");
    expect(info.Config.Env).toContain("API_KEY=s3cr3t-value");
    expect(info.Config.Labels["chalkcompute.function"]).toBe("whoami");
    expect(info.Config.Labels["chalkcompute.version"]).toBe("1");
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(256 * 2 ** 20);
    expect(info.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(info.HostConfig.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.PidsLimit).toBeGreaterThan(0);
    expect(info.HostConfig.NetworkMode).toBe("none");
    expect(Object.keys(info.HostConfig.Tmpfs ?? {})).toEqual(["/tmp"]);
    expect(JSON.stringify(info.Mounts)).not.toContain("docker.sock");
  }, 120_000);

  it("masks secret values in shipped output lines", async () => {
    await setup();
    gateway.secrets.set("printSecret", { API_KEY: "s3cr3t-value" });
    gateway.assign([assignment("printSecret")]);

    const link = await waitLink("printSecret");
    expect(resultOf(await call(link, []))).toBe("printed");
    const line = await waitFor(
      () => gateway.logLines.find((l) => l.line.startsWith("the key is")),
      "the printed line",
    );
    expect(line).toMatchObject({
      function: "printSecret",
      replica: link.replica,
      version: 1,
      stream: "stdout",
      line: "the key is ***",
    });
    expect(JSON.stringify(gateway.logLines)).not.toContain("s3cr3t-value");
  }, 120_000);

  it("fails a call whose container runs out of memory, then restarts", async () => {
    await setup();
    gateway.assign([assignment("hog", 1, { memoryBytes: 64 * 2 ** 20 })]);

    const link = await waitLink("hog");
    const error = errorOf(await call(link, []));
    expect(error.code).toBe("resourceExhausted");
    expect(error.type).toBe("ResourceExhausted");
    expect(error.message).toBe("replica ran out of memory (limit 64Mi)");
    await waitLink("hog", 1);
  }, 120_000);

  it("keeps volume data across a container kill", async () => {
    await setup();
    const volume = `cc-test-${process.pid}-${Date.now()}`;
    gateway.assign([
      assignment("appendVolume", 1, {
        volumes: [{ name: volume, mountPath: "/data" }],
      }),
    ]);

    try {
      const link = await waitLink("appendVolume");
      expect(resultOf(await call(link, ["one"]))).toBe("one\n");
      const info = await containerOf(link.replica);
      await (docker as Dockerode).getContainer(info.Id).kill();

      const second = await waitLink("appendVolume", 1);
      expect(resultOf(await call(second, ["two"]))).toBe("one\ntwo\n");
    } finally {
      await agent?.stop();
      agent = undefined;
      await (docker as Dockerode)
        .getVolume(volume)
        .remove()
        .catch(() => {});
    }
  }, 120_000);

  it("reports a failed build and keeps the previous version serving", async () => {
    await setup();
    gateway.assign([assignment("echo", 1)]);
    const first = await waitLink("echo", 0, 1);

    gateway.assign([
      assignment("echo", 2, {
        image: {
          base: "chalkcompute/node-base",
          commands: ["echo building", "exit 7"],
          env: { MODE: "test" },
          files: [],
        },
      }),
    ]);
    const failed = await waitFor(
      () =>
        gateway.reports
          .at(-1)
          ?.replicas.find((r) => r.version === 2 && r.state === "build-failed"),
      "a build-failed report",
      60_000,
    );
    expect(failed.detail).toContain(
      'step 4/6: RUN ["/bin/sh","-c","exit 7"] failed',
    );
    expect(failed.detail).toContain("returned a non-zero code: 7");

    const old = gateway.reports.at(-1)?.replicas.find((r) => r.version === 1);
    expect(old?.state).toBe("serving");
    expect(first.closed).toBe(false);
    expect(resultOf(await call(first, ["still here"]))).toBe("still here");
  }, 120_000);
});
