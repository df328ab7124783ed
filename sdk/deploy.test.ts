import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDefaultClient } from "./default-client.ts";
import { bundleModule, deployModule } from "./deploy.ts";
import { DeployError, TimeoutError } from "./errors.ts";
import { GatewayHttp } from "./http.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import { add, countUp, divide } from "./testing/fixtures/functions.ts";

const FIXTURE = fileURLToPath(
  new URL("./testing/fixtures/functions.ts", import.meta.url),
);
const SDK_INDEX = fileURLToPath(new URL("./index.ts", import.meta.url));

const gateway = new FakeGateway();
const scratch = mkdtempSync(join(tmpdir(), "chalkcompute-deploy-"));

beforeAll(async () => {
  await gateway.start();
  process.env.CHALKCOMPUTE_URL = gateway.url;
  process.env.CHALKCOMPUTE_TOKEN = gateway.token;
});

afterAll(async () => {
  closeDefaultClient();
  await gateway.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe("bundleModule", () => {
  it("bundles the module with the SDK and hashes it", async () => {
    const bundle = await bundleModule(FIXTURE);

    const hash = createHash("sha256").update(bundle.code).digest("hex");
    expect(bundle.hash).toBe(hash);
    expect(bundle.inputs).toContain(FIXTURE);
    expect(bundle.inputs).toContain(SDK_INDEX);
  });

  it("produces a bundle that plain Node loads", async () => {
    const bundle = await bundleModule(FIXTURE);
    const file = join(scratch, `${bundle.hash}.mjs`);
    writeFileSync(file, bundle.code);

    const script =
      `await import(${JSON.stringify(pathToFileURL(file).href)});` +
      "const registry = globalThis[Symbol.for('chalkcompute.registry')];" +
      "const add = registry.get('add');" +
      "console.log(JSON.stringify([[...registry.keys()], add.handler(2, 3)," +
      " registry.get('countUp').generator]));";
    const output = execFileSync(
      process.execPath,
      ["--input-type=module", "-e", script],
      { cwd: scratch, encoding: "utf8", timeout: 20_000 },
    );

    const [names, sum, generator] = JSON.parse(output);
    expect(names).toEqual([
      "add",
      "countUp",
      "divide",
      "failAfterTwo",
      "addThenDouble",
      "echo",
    ]);
    expect(sum).toBe(5);
    expect(generator).toBe(true);
  });

  it("reports a syntax error as DeployError", async () => {
    const broken = join(scratch, "broken.ts");
    writeFileSync(broken, "export const x = ;\n");

    const error = await bundleModule(broken).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeployError);
    expect((error as Error).message).toContain("broken.ts");
  });
});

describe("deployModule", () => {
  it("uploads the bundle and deploys one spec per function", async () => {
    const progress: string[] = [];
    const deployed = await deployModule(FIXTURE, {
      http: new GatewayHttp(gateway),
      onProgress: (line) => progress.push(line),
    });

    const specs = gateway.deploys.at(-1) ?? [];
    const hash = specs[0]?.bundleHash ?? "";
    expect(gateway.bundles.has(hash)).toBe(true);
    expect(specs.map((s) => s.name)).toEqual([
      "add",
      "countUp",
      "divide",
      "failAfterTwo",
      "addThenDouble",
      "echo",
    ]);
    expect(specs[1]).toEqual({
      name: "countUp",
      generator: true,
      concurrency: 2,
      timeoutSeconds: 30,
      module: "sdk/testing/fixtures/functions.ts",
      bundleHash: hash,
    });
    expect(deployed.map((d) => d.name)).toContain("add");
    expect(progress[0]).toBe("bundling sdk/testing/fixtures/functions.ts");
    expect(progress.some((line) => line.startsWith("uploading bundle"))).toBe(
      true,
    );
  });

  it("rejects a module that defines no functions", async () => {
    const empty = join(scratch, "empty.ts");
    writeFileSync(empty, "export const x = 1;\n");

    await expect(
      deployModule(empty, { http: new GatewayHttp(gateway) }),
    ).rejects.toThrow(/defines no functions/);
  });
});

describe("remote functions against a gateway", () => {
  it("deploys the module once, then calls", async () => {
    const before = gateway.deploys.length;

    await expect(add.remote(3, 5)).resolves.toBe(8);
    await expect(divide.remote(8, 2)).resolves.toBe(4);
    const values: number[] = [];
    for await (const value of countUp.remote(3)) values.push(value);

    expect(values).toEqual([0, 1, 2]);
    expect(gateway.deploys.length).toBe(before + 1);
  });

  it("waits until the function is ready", async () => {
    gateway.pendingPolls = 3;
    const polls = () =>
      gateway.requests.filter((r) => r === "GET /v1/functions/add").length;
    const before = polls();

    await add.waitReady();

    expect(polls() - before).toBe(4);
  });

  it("times out waitReady with the last status", async () => {
    gateway.pendingPolls = 1_000;

    const error = await divide
      .waitReady({ timeoutMs: 150 })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(
      /function "divide" was not ready after 150 ms \(last status "pending"/,
    );
    gateway.pendingPolls = 0;
  });

  it("spawns and fetches a call by id", async () => {
    const call = await add.spawn(20, 22);
    await expect(call.get({ timeoutMs: 5_000 })).resolves.toBe(42);
  });
});
