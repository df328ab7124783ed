import { describe, expect, it } from "vitest";
import {
  parseCpu,
  parseGpu,
  parseMemory,
  parseVolumes,
  resolveComputeOptions,
} from "./compute-options.ts";
import { OptionError } from "./errors.ts";
import { Image } from "./image.ts";
import { Secret } from "./secret.ts";

describe("parseCpu", () => {
  it.each([
    [2, 2],
    ["2", 2],
    ["0.5", 0.5],
    [0.25, 0.25],
    [256, 256],
  ])("accepts %j", (value, cores) => {
    expect(parseCpu(value)).toBe(cores);
  });

  it.each([
    [0, "got 0"],
    [-1, "got -1"],
    [257, "got 257"],
    ["two", 'got "two"'],
    ["", 'got ""'],
    ["1e3", 'got "1e3"'],
    [Number.NaN, "got NaN"],
  ])("rejects %j", (value, got) => {
    const act = () => parseCpu(value);
    expect(act).toThrow(OptionError);
    expect(act).toThrow(
      `cpu must be a number of cores > 0 and <= 256, like 2, "2" or "0.5", ${got}`,
    );
  });
});

describe("parseMemory", () => {
  it.each([
    ["512Mi", 512 * 2 ** 20],
    ["4Gi", 4 * 2 ** 30],
    ["1Ti", 2 ** 40],
    ["16384Ki", 16 * 2 ** 20],
    ["1G", 1e9],
    ["256M", 256e6],
    ["20000K", 20_000_000],
    ["1T", 1e12],
    ["1.5Gi", 1.5 * 2 ** 30],
    ["33554432", 33_554_432],
    [33_554_432, 33_554_432],
  ])("parses %j", (value, bytes) => {
    expect(parseMemory(value)).toBe(bytes);
  });

  it.each([["4GB!"], ["4gb"], ["Gi"], [""], ["-1Gi"], [1.5], [true]])(
    "rejects %j with the accepted forms",
    (value) => {
      const act = () => parseMemory(value);
      expect(act).toThrow(OptionError);
      expect(act).toThrow(
        `memory must be a size like "512Mi" or "4Gi" (suffixes Ki, Mi, Gi, Ti, K, M, G, T) or an integer number of bytes, got ${JSON.stringify(value)}`,
      );
    },
  );

  it("rejects less than 16Mi", () => {
    expect(() => parseMemory("8Mi")).toThrow(
      'memory must be at least 16Mi (16777216 bytes), got "8Mi"',
    );
    expect(() => parseMemory(1024)).toThrow("got 1024");
  });
});

describe("parseGpu", () => {
  it("parses a model with the default count", () => {
    expect(parseGpu("nvidia-l4")).toEqual({ model: "nvidia-l4", count: 1 });
  });

  it("parses a model with a count", () => {
    expect(parseGpu("nvidia-h100:2")).toEqual({
      model: "nvidia-h100",
      count: 2,
    });
    expect(parseGpu("nvidia-a10:16").count).toBe(16);
  });

  it.each([
    ["NVIDIA-L4"],
    ["nvidia-h100:0"],
    ["nvidia-h100:17"],
    [""],
    [":2"],
    ["l4:x"],
    [2],
  ])("rejects %j", (value) => {
    const act = () => parseGpu(value);
    expect(act).toThrow(OptionError);
    expect(act).toThrow(
      `gpu must be "MODEL" or "MODEL:COUNT" with a lowercase model and a count 1-16, like "nvidia-l4" or "nvidia-h100:2", got ${JSON.stringify(value)}`,
    );
  });
});

describe("parseVolumes", () => {
  it("parses name and mount path pairs", () => {
    expect(
      parseVolumes([
        ["model-cache", "/models"],
        ["data.v2", "/var/data"],
      ]),
    ).toEqual([
      { name: "model-cache", mountPath: "/models" },
      { name: "data.v2", mountPath: "/var/data" },
    ]);
  });

  it("rejects a value that is not an array", () => {
    expect(() => parseVolumes("model-cache:/models")).toThrow(
      'volumes must be an array of [name, mountPath] pairs, like [["model-cache", "/models"]], got "model-cache:/models"',
    );
  });

  it("rejects an entry that is not a pair", () => {
    expect(() => parseVolumes([["cache"]])).toThrow(
      'volumes[0] must be a [name, mountPath] pair like ["model-cache", "/models"], got ["cache"]',
    );
  });

  it.each([["-cache"], [""], ["a b"], ["x".repeat(64)]])(
    "rejects volume name %j",
    (name) => {
      expect(() => parseVolumes([[name, "/data"]])).toThrow(
        `volumes[0]: volume name ${JSON.stringify(name)} is invalid`,
      );
    },
  );

  it.each([
    ["/"],
    ["models"],
    ["/models/"],
    ["/a/../b"],
    ["/a//b"],
    ["/a/./b"],
  ])("rejects mount path %j", (path) => {
    expect(() => parseVolumes([["cache", path]])).toThrow(
      `volumes[0]: mount path ${JSON.stringify(path)} is invalid: use an absolute, normalized path other than "/", like "/models"`,
    );
  });

  it("rejects a mount path used twice", () => {
    const act = () =>
      parseVolumes([
        ["aa", "/data"],
        ["bb", "/data"],
      ]);
    expect(act).toThrow(
      'volumes[1]: mount path "/data" is used twice; give each volume its own path',
    );
  });

  it("rejects a volume mounted twice", () => {
    const act = () =>
      parseVolumes([
        ["aa", "/one"],
        ["aa", "/two"],
      ]);
    expect(act).toThrow('volumes[1]: volume "aa" is mounted twice');
  });
});

describe("resolveComputeOptions", () => {
  it("returns only the options present", () => {
    expect(resolveComputeOptions({})).toEqual({});
    expect(resolveComputeOptions({ cpu: "0.5", memory: "1Gi" })).toEqual({
      cpu: 0.5,
      memoryBytes: 2 ** 30,
    });
  });

  it("keeps the Image and Secret objects", () => {
    const image = Image.base("node:20");
    const secret = Secret.fromIntegration("db");
    const compute = resolveComputeOptions({ image, secrets: [secret] });
    expect(compute.image).toBe(image);
    expect(compute.secrets).toEqual([secret]);
  });

  it("rejects an image that is not an Image", () => {
    expect(() => resolveComputeOptions({ image: "node:20" })).toThrow(
      'image must be an Image, like chalkcompute.Image.base("node:20-bookworm"), got "node:20"',
    );
  });

  it("rejects secrets that are not Secrets", () => {
    expect(() => resolveComputeOptions({ secrets: "HF_TOKEN" })).toThrow(
      'secrets must be an array of Secret, like [Secret.fromEnv("HF_TOKEN")], got "HF_TOKEN"',
    );
    expect(() =>
      resolveComputeOptions({ secrets: [Secret.fromEnv("A"), "B"] }),
    ).toThrow(
      'secrets[1] must be a Secret from Secret.fromEnv(...) or Secret.fromIntegration(...), got "B"',
    );
  });
});

describe("reserved mount paths", () => {
  it.each(["/tmp", "/tmp/cache", "/chalkcompute", "/chalkcompute/replica"])(
    "rejects %s",
    (path) => {
      expect(() => parseVolumes([["cache", path]])).toThrow(/is reserved/);
    },
  );
});
