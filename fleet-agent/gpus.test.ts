import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discoverGpus, GpuAllocator, normalizeGpuName } from "./gpus.ts";

const logger = pino({ level: "silent" });
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cc-gpus-"));
  await writeFile(
    path.join(dir, "nvidia-smi"),
    `#!/bin/sh
[ "$1" = "--query-gpu=index,uuid,name,memory.total" ] || exit 9
echo "0, GPU-aaaa, NVIDIA L4, 23034"
echo "1, GPU-bbbb, NVIDIA L4, 23034"
echo "2, GPU-cccc, NVIDIA H100 80GB HBM3, 81559"
`,
  );
  await chmod(path.join(dir, "nvidia-smi"), 0o755);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("normalizeGpuName", () => {
  it.each([
    ["NVIDIA L4", "nvidia-l4"],
    ["NVIDIA H100 80GB HBM3", "nvidia-h100"],
    ["NVIDIA A100-SXM4-40GB", "nvidia-a100"],
    ["NVIDIA H200", "nvidia-h200"],
    ["Tesla T4", "nvidia-t4"],
  ])("%s -> %s", (name, model) => {
    expect(normalizeGpuName(name)).toBe(model);
  });
});

describe("discoverGpus", () => {
  it("parses the output of nvidia-smi on PATH", async () => {
    const gpus = await discoverGpus(logger, path.join(dir, "nvidia-smi"));
    expect(gpus).toEqual([
      { index: 0, uuid: "GPU-aaaa", model: "nvidia-l4", memoryMiB: 23034 },
      { index: 1, uuid: "GPU-bbbb", model: "nvidia-l4", memoryMiB: 23034 },
      { index: 2, uuid: "GPU-cccc", model: "nvidia-h100", memoryMiB: 81559 },
    ]);
  });

  it("reports no GPUs when the binary is missing", async () => {
    const gpus = await discoverGpus(logger, path.join(dir, "missing-smi"));
    expect(gpus).toEqual([]);
  });
});

describe("GpuAllocator", () => {
  it("gives GPUs exclusively and frees them on release", async () => {
    const gpus = await discoverGpus(logger, path.join(dir, "nvidia-smi"));
    const allocator = new GpuAllocator(gpus);

    expect(allocator.allocate("r1", "nvidia-l4", 1)).toEqual(["GPU-aaaa"]);
    expect(allocator.allocate("r2", "nvidia-l4", 2)).toBeUndefined();
    expect(allocator.allocate("r2", "nvidia-l4", 1)).toEqual(["GPU-bbbb"]);
    expect(allocator.allocate("r3", "nvidia-a100", 1)).toBeUndefined();
    expect(allocator.report().map((gpu) => gpu.replicaId)).toEqual([
      "r1",
      "r2",
      "",
    ]);

    allocator.release("r1");
    expect(allocator.allocate("r3", "nvidia-l4", 1)).toEqual(["GPU-aaaa"]);
    expect(allocator.describe()).toBe("nvidia-l4 x2, nvidia-h100 x1");
  });
});
