import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { closeDefaultClient } from "./default-client.ts";
import { deployModule } from "./deploy.ts";
import { BuildError, DeployError, PlacementError } from "./errors.ts";
import { GatewayHttp } from "./http.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import { embed, plainCompute } from "./testing/fixtures/compute-functions.ts";

const FIXTURE = fileURLToPath(
  new URL("./testing/fixtures/compute-functions.ts", import.meta.url),
);
const IMAGE_FILE_HASH = createHash("sha256")
  .update("weights v1\n")
  .digest("hex");

const gateway = new FakeGateway();

beforeAll(async () => {
  await gateway.start();
  process.env.CHALKCOMPUTE_URL = gateway.url;
  process.env.CHALKCOMPUTE_TOKEN = gateway.token;
});

beforeEach(() => {
  process.env.CC_TEST_TOKEN = "s3cr3t-value";
  gateway.secrets.set("prod_db", { DATABASE_URL: "postgres://x" });
  gateway.builds.clear();
  gateway.placements.clear();
});

afterAll(async () => {
  closeDefaultClient();
  await gateway.stop();
});

describe("deployModule with compute options", () => {
  it("sends every compute option in the spec", async () => {
    await deployModule(FIXTURE, { http: new GatewayHttp(gateway) });

    const spec = gateway.deploys.at(-1)?.find((s) => s.name === "embed");
    expect(spec).toMatchObject({
      image: {
        base: "node:20-bookworm",
        commands: ["npm install -g left-pad"],
        env: { MODE: "test" },
        workdir: "/app",
        files: [{ hash: IMAGE_FILE_HASH, path: "/app/weights.txt" }],
      },
      cpu: 0.5,
      memoryBytes: 256 * 2 ** 20,
      gpu: { model: "nvidia-l4", count: 2 },
      secrets: ["prod_db", "env.embed"],
      volumes: [{ name: "model-cache", mountPath: "/models" }],
    });
    expect(typeof spec?.image?.files[0]?.mode).toBe("number");
  });

  it("leaves compute fields out of a default function", async () => {
    await deployModule(FIXTURE, { http: new GatewayHttp(gateway) });

    const spec = gateway.deploys.at(-1)?.find((s) => s.name === "plainCompute");
    expect(Object.keys(spec ?? {}).sort()).toEqual([
      "bundleHash",
      "concurrency",
      "generator",
      "module",
      "name",
      "timeoutSeconds",
    ]);
  });

  it("uploads image files and env secrets before the deploy", async () => {
    const start = gateway.requests.length;
    await deployModule(FIXTURE, { http: new GatewayHttp(gateway) });

    const requests = gateway.requests.slice(start);
    const upload = requests.indexOf(`PUT /v1/bundles/${IMAGE_FILE_HASH}`);
    const secret = requests.indexOf("PUT /v1/secrets/env.embed");
    const deploy = requests.indexOf("POST /v1/deploy");
    expect(upload).toBeGreaterThanOrEqual(0);
    expect(secret).toBeGreaterThan(upload);
    expect(deploy).toBeGreaterThan(secret);
    expect(gateway.secrets.get("env.embed")).toEqual({
      CC_TEST_TOKEN: "s3cr3t-value",
    });
    expect(
      Buffer.from(gateway.bundles.get(IMAGE_FILE_HASH) ?? []).toString(),
    ).toBe("weights v1\n");
  });

  it("fails before uploading when a fromEnv variable is missing", async () => {
    delete process.env.CC_TEST_TOKEN;
    const start = gateway.requests.length;

    const error = await deployModule(FIXTURE, {
      http: new GatewayHttp(gateway),
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeployError);
    expect((error as Error).message).toContain(
      "environment variable CC_TEST_TOKEN is not set",
    );
    expect(gateway.requests.slice(start)).toEqual([]);
  });

  it("never sends secret values in the spec", async () => {
    await deployModule(FIXTURE, { http: new GatewayHttp(gateway) });
    expect(JSON.stringify(gateway.deploys.at(-1))).not.toContain(
      "s3cr3t-value",
    );
  });
});

describe("waitReady with build and placement", () => {
  it("fails at once with the build failure detail", async () => {
    gateway.builds.set("plainCompute", [
      { state: "building", detail: "step 1/3: FROM node:20" },
      {
        state: "failed",
        detail: "step 2/3: RUN npm install nope\nnpm ERR! 404 nope",
      },
    ]);

    const error = await plainCompute.waitReady().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BuildError);
    expect((error as BuildError).detail).toContain("npm ERR! 404 nope");
    expect((error as Error).message).toContain(
      'image build of function "plainCompute"',
    );
    expect((error as Error).message).toContain(
      "step 2/3: RUN npm install nope",
    );
  });

  it("fails remote() the same way", async () => {
    gateway.builds.set("plainCompute", [
      { state: "failed", detail: "step 1/1: RUN false" },
    ]);
    await expect(plainCompute.remote(2)).rejects.toBeInstanceOf(BuildError);
  });

  it("fails with the placement message when no agent has the GPU", async () => {
    const message =
      "no connected agent has GPU nvidia-l4 (the fleet has: nvidia-h100 x2)";
    gateway.placements.set("embed", { ok: false, message });
    gateway.pendingPolls = 1_000;

    const started = Date.now();
    const error = await embed
      .waitReady({ placementGraceMs: 100 })
      .catch((e: unknown) => e);
    gateway.pendingPolls = 0;

    expect(error).toBeInstanceOf(PlacementError);
    expect((error as Error).message).toBe(
      `function "embed" cannot run: ${message}`,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("waits while placement recovers within the grace period", async () => {
    gateway.placements.set("plainCompute", {
      ok: false,
      message: "no agent is connected",
    });
    setTimeout(() => gateway.placements.delete("plainCompute"), 200);

    await expect(
      plainCompute.waitReady({ placementGraceMs: 5_000 }),
    ).resolves.toBeUndefined();
  });

  it("calls a function once its build is ready", async () => {
    gateway.builds.set("plainCompute", [
      { state: "building", detail: "step 1/2: FROM node:20" },
      { state: "ready", detail: "" },
    ]);
    await expect(plainCompute.remote(21)).resolves.toBe(42);
  });
});
