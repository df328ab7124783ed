import { describe, expect, it } from "vitest";
import { freshName, makeSpec } from "../durable-objects/test-kit.ts";
import { parseDeployBody } from "./functions.ts";
import {
  agentLink,
  api,
  deployFunction,
  postJson,
  uploadBundle,
} from "./test-client.ts";

describe("POST /v1/deploy", () => {
  it("versions a function", async () => {
    const name = freshName();
    const bundleHash = await uploadBundle(`// ${name}`);
    const spec = makeSpec(name, { bundleHash });

    const first = await postJson("/v1/deploy", { functions: [spec] });
    const same = await postJson("/v1/deploy", { functions: [spec] });
    const changed = await postJson("/v1/deploy", {
      functions: [{ ...spec, concurrency: 2 }],
    });

    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({
      functions: [{ name, version: 1, changed: true }],
    });
    expect(await same.json()).toEqual({
      functions: [{ name, version: 1, changed: false }],
    });
    expect(await changed.json()).toEqual({
      functions: [{ name, version: 2, changed: true }],
    });
  });

  it("rejects a body that is not JSON", async () => {
    const response = await api("/v1/deploy", { method: "POST", body: "{" });
    expect(response.status).toBe(400);
  });

  it("lists every problem of the specs", async () => {
    const response = await postJson("/v1/deploy", {
      functions: [{ name: "1bad", generator: "no" }],
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain("functions[0]: function name");
    expect(body.error.message).toContain("generator must be a boolean");
    expect(body.error.message).toContain("concurrency must be");
  });

  it("rejects a spec whose bundle is missing", async () => {
    const spec = makeSpec(freshName(), { bundleHash: "e".repeat(64) });
    const response = await postJson("/v1/deploy", { functions: [spec] });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain("PUT /v1/bundles");
  });
});

describe("parseDeployBody", () => {
  it("rejects a missing list", () => {
    expect(parseDeployBody({})).toHaveProperty("problems");
    expect(parseDeployBody({ functions: [] })).toHaveProperty("problems");
  });

  it("rejects a name deployed twice", () => {
    const spec = makeSpec("twice");
    const parsed = parseDeployBody({ functions: [spec, spec] });
    expect(parsed).toEqual({
      problems: ["functions[1]: function twice appears twice in one deploy"],
    });
  });

  it("drops fields outside the spec", () => {
    const spec = { ...makeSpec("extra"), color: "red" };
    const parsed = parseDeployBody({ functions: [spec] });
    expect(parsed).toEqual({ specs: [makeSpec("extra")] });
  });
});

describe("GET /v1/functions", () => {
  it("shows pending, then ready once a replica links", async () => {
    const spec = await deployFunction();
    const pending = await api(`/v1/functions/${spec.name}`);
    expect(pending.status).toBe(200);
    expect(await pending.json()).toMatchObject({
      name: spec.name,
      version: 1,
      status: "pending",
      replicas: 0,
      queued: 0,
      running: 0,
    });

    const link = await agentLink(spec.name);
    link.hello(1);
    const ready = await api(`/v1/functions/${spec.name}`);
    expect(await ready.json()).toMatchObject({ status: "ready", replicas: 1 });

    const list = await api("/v1/functions");
    const body = (await list.json()) as {
      functions: { name: string; status: string }[];
    };
    const mine = body.functions.find((f) => f.name === spec.name);
    expect(mine?.status).toBe("ready");
    link.ws.close();
  });

  it("counts a linked replica of an old version as pending", async () => {
    const spec = await deployFunction();
    const link = await agentLink(spec.name, 1);
    await deployFunction({ ...spec, concurrency: 2 });
    const response = await api(`/v1/functions/${spec.name}`);
    expect(await response.json()).toMatchObject({
      version: 2,
      status: "pending",
    });
    link.ws.close();
  });

  it("answers 404 for an unknown function", async () => {
    const response = await api(`/v1/functions/${freshName()}`);
    expect(response.status).toBe(404);
  });
});
