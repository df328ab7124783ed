/**
 * GPU discovery with `nvidia-smi` and exclusive allocation of GPUs to
 * replicas. A host without the binary simply has no GPUs.
 */
import { execFile } from "node:child_process";
import type { Logger } from "pino";
import type { GpuInfo } from "../schemas/frames.ts";

const QUERY = [
  "--query-gpu=index,uuid,name,memory.total",
  "--format=csv,noheader,nounits",
];
const DISCOVERY_TIMEOUT_MS = 10_000;

/** One GPU of the host as `nvidia-smi` lists it, with its normalized model. */
export interface HostGpu {
  index: number;
  uuid: string;
  model: string;
  memoryMiB: number;
}

/**
 * Normalizes a marketing name to a model id: "NVIDIA H100 80GB HBM3" becomes
 * "nvidia-h100", "NVIDIA A100-SXM4-40GB" becomes "nvidia-a100".
 */
export function normalizeGpuName(name: string): string {
  const words = name
    .trim()
    .toLowerCase()
    .split(/[\s_]+/)
    .filter((word) => word.length > 0);
  const vendor = words[0] === "nvidia" ? words.shift() : undefined;
  if (words[0] === "tesla" || words[0] === "geforce") words.shift();

  // The model is the first word; a dash starts a form factor or memory size.
  const model = (words[0] ?? "unknown").split("-")[0] as string;
  return `${vendor ?? "nvidia"}-${model}`;
}

/** Parses `nvidia-smi --query-gpu=index,uuid,name,memory.total` CSV output. */
export function parseNvidiaSmi(output: string): HostGpu[] {
  const gpus: HostGpu[] = [];
  for (const line of output.split("\n")) {
    if (!line.trim()) continue;
    const fields = line.split(",").map((field) => field.trim());
    if (fields.length < 4) {
      throw new Error(
        `nvidia-smi line ${JSON.stringify(line)} has ${fields.length} ` +
          "fields; expected index, uuid, name, memory.total",
      );
    }
    const [index, uuid, name, memory] = fields as [
      string,
      string,
      string,
      string,
    ];
    gpus.push({
      index: Number(index),
      uuid,
      model: normalizeGpuName(name),
      memoryMiB: Math.round(Number(memory)) || 0,
    });
  }
  return gpus;
}

/**
 * Lists the host's GPUs by running `nvidia-smi` from PATH. A missing binary
 * means no GPUs and is logged once at info level; any other failure is
 * logged as a warning and also means no GPUs.
 */
export async function discoverGpus(
  logger: Logger,
  binary = "nvidia-smi",
): Promise<HostGpu[]> {
  const output = await new Promise<string | Error>((resolve) => {
    execFile(
      binary,
      QUERY,
      { timeout: DISCOVERY_TIMEOUT_MS },
      (error, stdout) => resolve(error ?? stdout),
    );
  });

  if (output instanceof Error) {
    const code = (output as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      logger.info(`${binary} is not on PATH; this host reports no GPUs`);
    } else {
      logger.warn(
        { err: output },
        `${binary} failed; this host reports no GPUs`,
      );
    }
    return [];
  }

  try {
    const gpus = parseNvidiaSmi(output);
    logger.info(
      { gpus: gpus.map((gpu) => `${gpu.index}:${gpu.model}`) },
      "GPUs discovered",
    );
    return gpus;
  } catch (error) {
    logger.warn({ err: error }, "unreadable nvidia-smi output; no GPUs");
    return [];
  }
}

/** Gives each replica its own GPUs and reports which replica holds which. */
export class GpuAllocator {
  private readonly holders = new Map<string, string>();

  constructor(private readonly gpus: HostGpu[]) {}

  /**
   * Reserves `count` free GPUs of `model` for `replicaId` and returns their
   * uuids, or undefined (reserving nothing) when too few are free.
   */
  allocate(
    replicaId: string,
    model: string,
    count: number,
  ): string[] | undefined {
    const free = this.gpus.filter(
      (gpu) => gpu.model === model && !this.holders.has(gpu.uuid),
    );
    if (free.length < count) return undefined;

    const chosen = free.slice(0, count).map((gpu) => gpu.uuid);
    for (const uuid of chosen) this.holders.set(uuid, replicaId);
    return chosen;
  }

  /** Frees every GPU held by `replicaId`. */
  release(replicaId: string): void {
    for (const [uuid, holder] of this.holders) {
      if (holder === replicaId) this.holders.delete(uuid);
    }
  }

  /** Describes the host's models, e.g. "nvidia-l4 x2", for messages. */
  describe(): string {
    const counts = new Map<string, number>();
    for (const gpu of this.gpus) {
      counts.set(gpu.model, (counts.get(gpu.model) ?? 0) + 1);
    }
    const parts = [...counts].map(([model, n]) => `${model} x${n}`);
    return parts.join(", ") || "no GPUs";
  }

  /** Returns every GPU for the AgentReport, with its holder or "". */
  report(): GpuInfo[] {
    return this.gpus.map((gpu) => ({
      model: gpu.model,
      uuid: gpu.uuid,
      memoryMiB: gpu.memoryMiB,
      index: gpu.index,
      replicaId: this.holders.get(gpu.uuid) ?? "",
    }));
  }
}
