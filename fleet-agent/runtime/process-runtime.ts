import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
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
    CHALKCOMPUTE_BUNDLE: launch.bundlePath,
    CHALKCOMPUTE_FUNCTION: launch.functionName,
    CHALKCOMPUTE_SOCKET: launch.socketPath,
    CHALKCOMPUTE_REPLICA: launch.replicaId,
  };
}
