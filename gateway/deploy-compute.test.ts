import { describe, expect, it } from "vitest";
import { canonicalSpecJson } from "../durable-objects/catalog-store.ts";
import { freshName, makeSpec } from "../durable-objects/test-kit.ts";
import { type FunctionSpec, validateSpec } from "../schemas/spec.ts";
import { api, postJson, sha256Of, uploadBundle } from "./test-client.ts";

const HASH = "a".repeat(64);

function problemsOf(overrides: Record<string, unknown>): string[] {
  return validateSpec({ ...makeSpec("fn"), ...overrides });
}

const image = {
  base: "chalkcompute/node-base:22",
  commands: ["npm install left-pad"],
  env: { MODE: "prod" },
  workdir: "/app",
  files: [{ hash: HASH, path: "/app/model.json", mode: 0o644 }],
};

describe("validateSpec compute fields", () => {
  it("accepts every field when valid", () => {
    expect(
      problemsOf({
        image,
        cpu: 0.5,
        memoryBytes: 512 * 1024 * 1024,
        gpu: { model: "nvidia-h100", count: 2 },
        secrets: ["prod_postgres", "env.fn"],
        volumes: [{ name: "model-cache", mountPath: "/models" }],
      }),
    ).toEqual([]);
  });

  it.each([
    [{ cpu: 0 }, "cpu must be a number of cores in (0, 256]"],
    [{ cpu: 257 }, "cpu must be"],
    [{ cpu: "2" }, "cpu must be"],
    [{ memoryBytes: 1024 }, "memoryBytes must be an integer >= 16777216"],
    [{ memoryBytes: 2.5e7 + 0.5 }, "memoryBytes must be an integer"],
    [{ gpu: "nvidia-l4" }, "gpu must be"],
    [{ gpu: { model: "NVIDIA L4", count: 1 } }, "gpu.model must be"],
    [{ gpu: { model: "nvidia-l4", count: 0 } }, "gpu.count must be"],
    [{ secrets: "db" }, "secrets must be an array"],
    [{ secrets: ["bad group"] }, 'secrets[0]: secret group name "bad group"'],
    [{ volumes: [{ name: "x", mountPath: "/x" }] }, "volumes[0].name"],
    [{ volumes: [{ name: "cache", mountPath: "rel" }] }, "absolute path"],
    [{ volumes: [{ name: "cache", mountPath: "/" }] }, 'below "/"'],
    [{ volumes: [{ name: "cache", mountPath: "/a/../b" }] }, '".."'],
    [{ volumes: [{ name: "cache", mountPath: "/a:ro" }] }, "':'"],
    [
      {
        volumes: [
          { name: "one", mountPath: "/m" },
          { name: "two", mountPath: "/m" },
        ],
      },
      "mounted twice",
    ],
    [{ image: { ...image, base: " " } }, "image.base must be"],
    [{ image: { ...image, commands: [1] } }, "image.commands must be"],
    [{ image: { ...image, env: { A: 1 } } }, "image.env must be"],
    [{ image: { ...image, env: { "1A": "x" } } }, 'image.env name "1A"'],
    [{ image: { ...image, workdir: "app" } }, "image.workdir"],
    [
      { image: { ...image, files: [{ hash: "x", path: "/a", mode: 1 }] } },
      "image.files[0].hash",
    ],
    [
      { image: { ...image, files: [{ hash: HASH, path: "a", mode: 1 }] } },
      "image.files[0].path",
    ],
    [
      { image: { ...image, files: [{ hash: HASH, path: "/a", mode: -1 }] } },
      "image.files[0].mode",
    ],
  ])("rejects %j", (overrides, message) => {
    const problems = problemsOf(overrides);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });

  it("accepts the env group of a 63-character function name", () => {
    const name = `f${"x".repeat(62)}`;
    expect(problemsOf({ name, secrets: [`env.${name}`] })).toEqual([]);
  });

  it("rejects another function's env group", () => {
    const problems = problemsOf({ secrets: ["env.other"] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(
      "holds another function's Secret.fromEnv values",
    );
  });

  it.each(["/tmp", "/chalkcompute/replica"])(
    "rejects mount path %s",
    (path) => {
      const problems = problemsOf({
        volumes: [{ name: "cache", mountPath: path }],
      });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain("where the replica's own files live");
    },
  );
});

describe("canonicalSpecJson", () => {
  it("orders image env keys and drops unknown fields", () => {
    const a = makeSpec("fn", { image: { ...image, env: { A: "1", B: "2" } } });
    const b = {
      ...makeSpec("fn", { image: { ...image, env: { B: "2", A: "1" } } }),
      color: "red",
    } as FunctionSpec;
    expect(canonicalSpecJson(a)).toBe(canonicalSpecJson(b));
    expect(canonicalSpecJson(b)).not.toContain("color");
  });
});

describe("POST /v1/deploy with compute fields", () => {
  it("stores them and versions on change", async () => {
    const name = freshName();
    const bundleHash = await uploadBundle(`// ${name}`);
    const content = new TextEncoder().encode(`{"model": "${name}"}`);
    const fileHash = await sha256Of(content);
    await api(`/v1/bundles/${fileHash}`, { method: "PUT", body: content });
    const spec = makeSpec(name, {
      bundleHash,
      image: { ...image, files: [{ ...image.files[0], hash: fileHash }] },
      cpu: 2,
      memoryBytes: 1024 ** 3,
      gpu: { model: "nvidia-l4", count: 1 },
      volumes: [{ name: "model-cache", mountPath: "/models" }],
    } as Partial<FunctionSpec>);

    const first = await postJson("/v1/deploy", { functions: [spec] });
    expect(first.status).toBe(200);
    const stored = (await (await api(`/v1/functions/${name}`)).json()) as {
      spec: FunctionSpec;
    };
    expect(stored.spec).toEqual(spec);

    const changed = await postJson("/v1/deploy", {
      functions: [{ ...spec, cpu: 4 }],
    });
    expect(await changed.json()).toEqual({
      functions: [{ name, version: 2, changed: true }],
    });
  });

  it("rejects an image file that was not uploaded", async () => {
    const name = freshName();
    const bundleHash = await uploadBundle(`// ${name}`);
    const spec = makeSpec(name, { bundleHash, image });
    const response = await postJson("/v1/deploy", { functions: [spec] });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain(
      `needs image file /app/model.json ${HASH}`,
    );
  });

  it("rejects invalid compute fields", async () => {
    const spec = makeSpec(freshName(), { cpu: -1 });
    const response = await postJson("/v1/deploy", { functions: [spec] });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("functions[0]: cpu must be");
  });
});
