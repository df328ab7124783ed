import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildError } from "../errors.ts";
import { GatewayHttp } from "../http.ts";
import { FakeGateway } from "../testing/fake-gateway.ts";
import { parseBuildStep } from "../wait-ready.ts";
import { waitForBuilds } from "./deploy-progress.ts";

const gateway = new FakeGateway();
let http: GatewayHttp;

beforeAll(async () => {
  await gateway.start();
  http = new GatewayHttp(gateway);
  gateway.versions.set("built", 3);
  gateway.versions.set("broken", 2);
  gateway.versions.set("gpuOnly", 1);
});

afterAll(async () => {
  await gateway.stop();
});

function output(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY, columns: 100 });
  let text = "";
  stream.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

function collect() {
  const printed: string[] = [];
  const warned: string[] = [];
  return {
    printed,
    warned,
    print: (l: string) => printed.push(l),
    warn: (l: string) => warned.push(l),
  };
}

describe("waitForBuilds", () => {
  it("prints each build step, then name and version", async () => {
    gateway.builds.set("built", [
      { state: "building", detail: "step 1/3: FROM node:20" },
      { state: "building", detail: "step 2/3: RUN npm install" },
      { state: "ready", detail: "" },
    ]);
    const out = output(false);
    const lines = collect();

    await waitForBuilds(http, [{ name: "built", version: 3, changed: true }], {
      timeoutMs: 5_000,
      placementGraceMs: 1_000,
      stream: out.stream,
      ...lines,
    });

    expect(out.text()).toBe(
      "built: building, step 1/3: FROM node:20\n" +
        "built: building, step 2/3: RUN npm install\n",
    );
    expect(lines.printed).toEqual(["deployed built version 3"]);
  });

  it("draws a progress bar on a terminal", async () => {
    gateway.builds.set("built", [
      { state: "building", detail: "step 1/4: FROM node:20" },
      { state: "building", detail: "step 3/4: RUN make" },
      { state: "ready", detail: "" },
    ]);
    const out = output(true);

    await waitForBuilds(http, [{ name: "built", version: 3, changed: false }], {
      timeoutMs: 5_000,
      placementGraceMs: 1_000,
      stream: out.stream,
      ...collect(),
    });

    expect(out.text()).toContain("built [");
    expect(out.text()).toContain("3/4 RUN make");
  });

  it("throws the failing step and its log", async () => {
    gateway.builds.set("broken", [
      { state: "building", detail: "step 1/2: FROM node:20" },
      { state: "failed", detail: "step 2/2: RUN exit 3\nboom: exit 3" },
    ]);
    const lines = collect();

    const error = await waitForBuilds(
      http,
      [{ name: "broken", version: 2, changed: true }],
      {
        timeoutMs: 5_000,
        placementGraceMs: 1_000,
        stream: output(false).stream,
        ...lines,
      },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BuildError);
    expect((error as Error).message).toContain(
      "step 2/2: RUN exit 3\nboom: exit 3",
    );
    expect(lines.printed).toEqual([]);
  });

  it("warns when no agent can place the function", async () => {
    gateway.pendingPolls = 1_000;
    gateway.placements.set("gpuOnly", {
      ok: false,
      message:
        "no connected agent has GPU nvidia-h100 (the fleet has: nvidia-l4 x2)",
    });
    const lines = collect();

    await waitForBuilds(
      http,
      [{ name: "gpuOnly", version: 1, changed: true }],
      {
        timeoutMs: 5_000,
        placementGraceMs: 100,
        stream: output(false).stream,
        ...lines,
      },
    );
    gateway.pendingPolls = 0;

    expect(lines.printed).toEqual(["deployed gpuOnly version 1"]);
    expect(lines.warned).toEqual([
      'warning: function "gpuOnly" cannot run: no connected agent has GPU nvidia-h100 (the fleet has: nvidia-l4 x2)',
    ]);
  });
});

describe("parseBuildStep", () => {
  it("reads step, total and the step's first line", () => {
    expect(parseBuildStep("step 3/6: RUN npm install\nlog")).toEqual({
      step: 3,
      total: 6,
      text: "RUN npm install",
    });
    expect(parseBuildStep("pulling base")).toBeUndefined();
  });
});
