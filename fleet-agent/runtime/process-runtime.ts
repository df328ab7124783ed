/**
 * The process runtime: each replica is a child `node` process of the agent,
 * with no isolation and no limits. It ignores `image`, `cpu`, `memory` and
 * `gpu`, and maps a volume to the folder `<dataDir>/volumes/<name>`. Unlike
 * a container, a child process cannot mount that folder at the volume's
 * absolute path, so the runtime makes the mount path a symbolic link to it
 * when it can (the path is free, or already such a link, and its parent is
 * writable). Otherwise the replica fails to start and the message says to
 * use the docker runtime. Such links are visible to everything on the host.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { lstat, mkdir, readlink, symlink } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { VolumeSpec } from "../../schemas/spec.ts";
import type {
  ReplicaExit,
  ReplicaHandle,
  ReplicaLaunch,
  Runtime,
} from "./runtime.ts";

/**
 * Agent settings that a worker must not inherit: workers hold no gateway
 * credentials, and their nested calls go through the agent instead.
 */
const WITHHELD_ENV = ["CHALKCOMPUTE_URL", "CHALKCOMPUTE_TOKEN"];

/** Runs each replica as a child `node` process of the agent. */
export class ProcessRuntime implements Runtime {
  readonly name = "process";

  /** Starts `node worker.mjs` with the replica's environment. */
  async start(launch: ReplicaLaunch): Promise<ReplicaHandle> {
    for (const volume of launch.spec.volumes ?? []) {
      await linkVolume(launch.dataDir, volume);
    }

    const child = spawn(process.execPath, [launch.workerPath], {
      cwd: launch.replicaDir,
      env: workerEnv(launch),
      stdio: ["ignore", "pipe", "pipe"],
    });

    const exited = new Promise<ReplicaExit>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    // once() rejects if "error" comes first, e.g. when node cannot be executed.
    await once(child, "spawn");
    child.on("error", (error) => launch.onError(error));

    for (const stream of ["stdout", "stderr"] as const) {
      const lines = createInterface({ input: child[stream], crlfDelay: 1 });
      lines.on("line", (line) => launch.onOutput(stream, line));
    }

    return {
      pid: child.pid ?? 0,
      exited,
      kill: (signal: NodeJS.Signals = "SIGKILL") => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal);
        }
      },
    };
  }
}

function workerEnv(launch: ReplicaLaunch): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of WITHHELD_ENV) delete env[name];

  return {
    ...env,
    ...launch.env,
    CHALKCOMPUTE_BUNDLE: launch.bundlePath,
    CHALKCOMPUTE_FUNCTION: launch.functionName,
    CHALKCOMPUTE_SOCKET: launch.socketPath,
    CHALKCOMPUTE_REPLICA: launch.replicaId,
  };
}

/** Folder that holds a volume's data in the process runtime. */
export function volumeFolder(dataDir: string, name: string): string {
  return path.join(dataDir, "volumes", name);
}

/**
 * Makes `volume.mountPath` a symbolic link to the volume's folder, or
 * throws saying why it cannot.
 */
export async function linkVolume(
  dataDir: string,
  volume: VolumeSpec,
): Promise<void> {
  const folder = volumeFolder(dataDir, volume.name);
  await mkdir(folder, { recursive: true });

  const existing = await lstat(volume.mountPath).catch(() => undefined);
  if (existing) {
    const target = existing.isSymbolicLink()
      ? await readlink(volume.mountPath)
      : undefined;
    if (target !== undefined && path.resolve(target) === folder) return;
    throw new Error(
      `the process runtime cannot mount volume ${volume.name} at ` +
        `${volume.mountPath}: the path already exists. Use the docker ` +
        "runtime (chalkcompute agent --runtime docker) or a free mount path",
    );
  }

  try {
    await mkdir(path.dirname(volume.mountPath), { recursive: true });
    await symlink(folder, volume.mountPath, "dir");
  } catch (error) {
    throw new Error(
      `the process runtime cannot mount volume ${volume.name} at ` +
        `${volume.mountPath} (${(error as Error).message}). Use the docker ` +
        "runtime (chalkcompute agent --runtime docker)",
    );
  }
}
