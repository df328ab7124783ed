import type { FunctionSpec } from "../../schemas/spec.ts";

/**
 * The boundary between the replica supervisor and whatever isolates a
 * replica: a child process or a container. A runtime prepares what a spec
 * needs (an image), starts the worker runtime with the replica's environment
 * and reports its exit; the supervisor owns everything else (gRPC, links,
 * restarts).
 */

/** Everything a runtime needs to start one replica. */
export interface ReplicaLaunch {
  replicaId: string;
  functionName: string;
  version: number;
  /** The function's spec: image, limits and volumes. */
  spec: FunctionSpec;
  /** The agent's data folder; the process runtime keeps volumes under it. */
  dataDir: string;
  /** Secret environment variables of the replica; never logged. */
  env: Record<string, string>;
  /** Uuids of the GPUs given to this replica alone. */
  gpus: string[];
  /** Absolute path of the bundled worker runtime (`worker.mjs`). */
  workerPath: string;
  /** Absolute path of the user's bundle. */
  bundlePath: string;
  /** Absolute path of the Unix socket the agent serves gRPC on. */
  socketPath: string;
  /** The replica's own folder; the worker's working directory. */
  replicaDir: string;
  /** Receives each line the worker writes to stdout or stderr. */
  onOutput(stream: "stdout" | "stderr", line: string): void;
  /** Receives failures after the start, such as a signal that could not be sent. */
  onError(error: Error): void;
}

/** End of a replica's process: its exit code, or the signal that killed it. */
export interface ReplicaExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the kernel killed the replica for exceeding its memory limit. */
  oomKilled?: boolean;
}

/** A started replica. */
export interface ReplicaHandle {
  /** Process id on the host. */
  readonly pid: number;
  /** Resolves once the replica has exited, never rejects. */
  readonly exited: Promise<ReplicaExit>;
  /** Sends a signal to the replica; SIGKILL unless another is given. */
  kill(signal?: NodeJS.Signals): void;
}

/** A way to run replicas. */
export interface Runtime {
  /** Name reported to the Fleet, e.g. "process". */
  readonly name: string;
  /**
   * Makes what every replica of `spec` needs, such as its image, reporting
   * each build step to `onStep`. Rejects with ImageBuildError when a build
   * fails; the replica then waits for a new assignment instead of retrying.
   */
  prepare?(spec: FunctionSpec, onStep: (step: string) => void): Promise<void>;
  /** Starts one replica; rejects if it could not be started at all. */
  start(launch: ReplicaLaunch): Promise<ReplicaHandle>;
}

/** Formats an exit for logs and error messages. */
export function describeExit(exit: ReplicaExit): string {
  if (exit.oomKilled) return "an out-of-memory kill";
  if (exit.signal) return `signal ${exit.signal}`;
  return `code ${exit.code ?? "unknown"}`;
}
