/**
 * Validation of the compute options of `chalkcompute.function`: image, cpu,
 * memory, gpu, secrets and volumes. Each parser throws OptionError naming
 * the option, the value and the accepted forms.
 */
import { posix } from "node:path";
import {
  type GpuSpec,
  VOLUME_NAME_PATTERN,
  type VolumeSpec,
} from "../schemas/spec.ts";
import { OptionError } from "./errors.ts";
import { Image } from "./image.ts";
import { Secret } from "./secret.ts";

/** Compute options after validation; absent fields mean the default. */
export interface ComputeOptions {
  image?: Image;
  /** CPU limit in cores. */
  cpu?: number;
  memoryBytes?: number;
  gpu?: GpuSpec;
  secrets?: Secret[];
  volumes?: VolumeSpec[];
}

export const MAX_CPU_CORES = 256;
export const MIN_MEMORY_BYTES = 16 * 1024 * 1024;
export const MAX_GPU_COUNT = 16;

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};
const SIZE_PATTERN = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/;
const GPU_PATTERN = /^([a-z0-9-]+)(?::(\d+))?$/;

/** Validates every compute option present in `options`. */
export function resolveComputeOptions(
  options: Record<string, unknown>,
): ComputeOptions {
  const compute: ComputeOptions = {};
  if (options.image !== undefined) compute.image = parseImage(options.image);
  if (options.cpu !== undefined) compute.cpu = parseCpu(options.cpu);
  if (options.memory !== undefined) {
    compute.memoryBytes = parseMemory(options.memory);
  }
  if (options.gpu !== undefined) compute.gpu = parseGpu(options.gpu);
  if (options.secrets !== undefined) {
    compute.secrets = parseSecrets(options.secrets);
  }
  if (options.volumes !== undefined) {
    compute.volumes = parseVolumes(options.volumes);
  }
  return compute;
}

/** Parses `cpu`: a number of cores or its decimal string, > 0 and <= 256. */
export function parseCpu(value: unknown): number {
  const cores =
    typeof value === "string" && /^\d+(\.\d+)?$/.test(value)
      ? Number(value)
      : value;
  if (typeof cores !== "number" || !(cores > 0) || cores > MAX_CPU_CORES) {
    throw new OptionError(
      `cpu must be a number of cores > 0 and <= ${MAX_CPU_CORES}, like 2, ` +
        `"2" or "0.5", got ${describe(value)}`,
    );
  }
  return cores;
}

/**
 * Parses `memory` into bytes: a plain integer of bytes, or a size with a
 * binary (Ki, Mi, Gi, Ti) or decimal (K, M, G, T) suffix. At least 16Mi.
 */
export function parseMemory(value: unknown): number {
  const bytes = sizeInBytes(value);
  if (bytes === undefined) {
    throw new OptionError(
      `memory must be a size like "512Mi" or "4Gi" (suffixes Ki, Mi, Gi, ` +
        `Ti, K, M, G, T) or an integer number of bytes, got ${describe(value)}`,
    );
  }
  if (bytes < MIN_MEMORY_BYTES) {
    throw new OptionError(
      `memory must be at least 16Mi (${MIN_MEMORY_BYTES} bytes), got ${describe(value)}`,
    );
  }
  return bytes;
}

/** Parses `gpu`: "MODEL" or "MODEL:COUNT", model lowercase, count 1-16. */
export function parseGpu(value: unknown): GpuSpec {
  const match = typeof value === "string" ? GPU_PATTERN.exec(value) : null;
  const count = match?.[2] === undefined ? 1 : Number(match[2]);
  if (!match?.[1] || !(count >= 1 && count <= MAX_GPU_COUNT)) {
    throw new OptionError(
      `gpu must be "MODEL" or "MODEL:COUNT" with a lowercase model and a ` +
        `count 1-${MAX_GPU_COUNT}, like "nvidia-l4" or "nvidia-h100:2", ` +
        `got ${describe(value)}`,
    );
  }
  return { model: match[1], count };
}

/** Parses `volumes`: [name, mountPath] pairs, no name or path twice. */
export function parseVolumes(value: unknown): VolumeSpec[] {
  if (!Array.isArray(value)) {
    throw new OptionError(
      'volumes must be an array of [name, mountPath] pairs, like [["model-cache", "/models"]], ' +
        `got ${describe(value)}`,
    );
  }

  const volumes = value.map((entry, i) => parseVolume(entry, i));
  for (const [i, volume] of volumes.entries()) {
    const earlier = volumes.slice(0, i);
    if (earlier.some((v) => v.name === volume.name)) {
      throw new OptionError(
        `volumes[${i}]: volume ${JSON.stringify(volume.name)} is mounted twice; mount each volume once`,
      );
    }
    if (earlier.some((v) => v.mountPath === volume.mountPath)) {
      throw new OptionError(
        `volumes[${i}]: mount path ${JSON.stringify(volume.mountPath)} is used twice; give each volume its own path`,
      );
    }
  }
  return volumes;
}

function parseVolume(entry: unknown, i: number): VolumeSpec {
  if (!Array.isArray(entry) || entry.length !== 2) {
    throw new OptionError(
      `volumes[${i}] must be a [name, mountPath] pair like ["model-cache", "/models"], ` +
        `got ${describe(entry)}`,
    );
  }

  const [name, mountPath] = entry as unknown[];
  if (typeof name !== "string" || !VOLUME_NAME_PATTERN.test(name)) {
    throw new OptionError(
      `volumes[${i}]: volume name ${describe(name)} is invalid: use 2-63 ` +
        "letters, digits, '_', '.' or '-', starting with a letter or digit",
    );
  }
  if (
    typeof mountPath !== "string" ||
    !mountPath.startsWith("/") ||
    mountPath.endsWith("/") ||
    posix.normalize(mountPath) !== mountPath
  ) {
    throw new OptionError(
      `volumes[${i}]: mount path ${describe(mountPath)} is invalid: use an ` +
        'absolute, normalized path other than "/", like "/models"',
    );
  }
  const reserved = ["/chalkcompute", "/tmp"].find(
    (root) => mountPath === root || mountPath.startsWith(`${root}/`),
  );
  if (reserved) {
    throw new OptionError(
      `volumes[${i}]: mount path ${describe(mountPath)} is reserved: ` +
        `${reserved} holds the replica's own files; mount elsewhere, like "/models"`,
    );
  }
  return { name, mountPath };
}

function parseImage(value: unknown): Image {
  if (!(value instanceof Image)) {
    throw new OptionError(
      'image must be an Image, like chalkcompute.Image.base("node:20-bookworm"), ' +
        `got ${describe(value)}`,
    );
  }
  return value;
}

function parseSecrets(value: unknown): Secret[] {
  if (!Array.isArray(value)) {
    throw new OptionError(
      'secrets must be an array of Secret, like [Secret.fromEnv("HF_TOKEN")], ' +
        `got ${describe(value)}`,
    );
  }
  for (const [i, secret] of value.entries()) {
    if (!(secret instanceof Secret)) {
      throw new OptionError(
        `secrets[${i}] must be a Secret from Secret.fromEnv(...) or ` +
          `Secret.fromIntegration(...), got ${describe(secret)}`,
      );
    }
  }
  return value as Secret[];
}

function sizeInBytes(value: unknown): number | undefined {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  }
  if (typeof value !== "string") return undefined;

  const match = SIZE_PATTERN.exec(value);
  if (!match?.[1]) return undefined;
  const unit = SIZE_UNITS[match[2] ?? ""] ?? 1;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "function") return "a function";
  if (typeof value === "number") return String(value);
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const name = value.constructor?.name;
    if (name && name !== "Object") return `an instance of ${name}`;
  }
  return JSON.stringify(value) ?? String(value);
}
