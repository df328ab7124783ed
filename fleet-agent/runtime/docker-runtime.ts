/**
 * Runs each replica in a Docker container through dockerode. Containers are
 * hardened: user 1000, every capability dropped, no-new-privileges, a pids
 * limit, a read-only root with a writable tmpfs at /tmp, no Docker socket,
 * and no network. The worker reaches the agent only through the Unix socket
 * in the bind-mounted replica folder.
 * NOTE: functions that need the network have no option for it yet.
 */
import { chmod } from "node:fs/promises";
import { constants } from "node:os";
import { createInterface } from "node:readline";
import { PassThrough } from "node:stream";
import type Dockerode from "dockerode";
import type { Logger } from "pino";
import { ensureBaseImage } from "../images/base-image.ts";
import { WORKER_IN_IMAGE } from "../images/dockerfile.ts";
import type { ImageBuilder } from "../images/image-builder.ts";
import type {
  ReplicaExit,
  ReplicaHandle,
  ReplicaLaunch,
  Runtime,
} from "./runtime.ts";

/** Mount point of the replica folder, which holds the agent's socket. */
export const REPLICA_MOUNT = "/chalkcompute/replica";
/** Read-only mount point of the user's bundle. */
export const BUNDLE_MOUNT = "/chalkcompute/bundle.mjs";
/** The unprivileged user every replica runs as. */
export const CONTAINER_USER = "1000:1000";
/** Most processes and threads one replica may run. */
export const PIDS_LIMIT = 512;

const TMPFS_OPTIONS = "rw,nosuid,nodev,size=256m";
const LABEL = "chalkcompute";

/** Options of a DockerRuntime. */
export interface DockerRuntimeOptions {
  docker: Dockerode;
  images: ImageBuilder;
  logger: Logger;
  /** Labels every container with it, so a restarted agent can remove its leftovers. */
  agentId: string;
}

/**
 * Returns the container's create options for a launch: image, command,
 * environment, limits, hardening, mounts, GPUs and labels.
 */
export function containerOptions(
  launch: ReplicaLaunch,
  image: string,
  agentId: string,
): Dockerode.ContainerCreateOptions {
  const { spec } = launch;
  const env = {
    ...launch.env,
    CHALKCOMPUTE_BUNDLE: BUNDLE_MOUNT,
    CHALKCOMPUTE_FUNCTION: launch.functionName,
    CHALKCOMPUTE_SOCKET: `${REPLICA_MOUNT}/agent.sock`,
    CHALKCOMPUTE_REPLICA: launch.replicaId,
  };

  const hostConfig: Dockerode.HostConfig = {
    Binds: [
      `${launch.replicaDir}:${REPLICA_MOUNT}:rw`,
      `${launch.bundlePath}:${BUNDLE_MOUNT}:ro`,
    ],
    Mounts: (spec.volumes ?? []).map((volume) => ({
      Type: "volume" as const,
      Source: volume.name,
      Target: volume.mountPath,
    })),
    CapDrop: ["ALL"],
    SecurityOpt: ["no-new-privileges"],
    ReadonlyRootfs: true,
    Tmpfs: { "/tmp": TMPFS_OPTIONS },
    PidsLimit: PIDS_LIMIT,
    NetworkMode: "none",
  };
  if (spec.cpu !== undefined) hostConfig.NanoCpus = Math.round(spec.cpu * 1e9);
  if (spec.memoryBytes !== undefined) {
    hostConfig.Memory = spec.memoryBytes;
    // Equal to Memory: no swap, so the limit is a hard one.
    hostConfig.MemorySwap = spec.memoryBytes;
  }
  if (launch.gpus.length > 0) {
    hostConfig.DeviceRequests = [
      { Driver: "nvidia", DeviceIDs: launch.gpus, Capabilities: [["gpu"]] },
    ];
  }

  return {
    name: `chalkcompute-${launch.functionName}-${launch.replicaId}`,
    Image: image,
    Cmd: ["node", WORKER_IN_IMAGE],
    Env: Object.entries(env).map(([name, value]) => `${name}=${value}`),
    User: CONTAINER_USER,
    WorkingDir: spec.image?.workdir || REPLICA_MOUNT,
    Labels: {
      [LABEL]: "replica",
      [`${LABEL}.agent`]: agentId,
      [`${LABEL}.function`]: launch.functionName,
      [`${LABEL}.version`]: String(launch.version),
      [`${LABEL}.replica`]: launch.replicaId,
    },
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: hostConfig,
  };
}

/** Maps a container's exit status to a code or, above 128, a signal. */
export function containerExit(
  statusCode: number,
  oomKilled: boolean,
): ReplicaExit {
  const signal = Object.entries(constants.signals).find(
    ([, number]) => statusCode > 128 && number === statusCode - 128,
  )?.[0] as NodeJS.Signals | undefined;
  return signal
    ? { code: null, signal, oomKilled }
    : { code: statusCode, signal: null, oomKilled };
}

/** Runs each replica as a hardened container. */
export class DockerRuntime implements Runtime {
  readonly name = "docker";
  private readonly docker: Dockerode;
  private readonly logger: Logger;
  private readonly volumes = new Map<string, Promise<void>>();

  constructor(private readonly options: DockerRuntimeOptions) {
    this.docker = options.docker;
    this.logger = options.logger;
  }

  /** Removes containers that an earlier run of this agent left behind. */
  async removeLeftovers(): Promise<void> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL}.agent=${this.options.agentId}`] },
    });
    for (const info of containers) {
      await this.docker
        .getContainer(info.Id)
        .remove({ force: true })
        .catch(() => {});
    }
    if (containers.length > 0) {
      this.logger.info(
        { containers: containers.length },
        "removed replica containers left by an earlier run",
      );
    }
  }

  /** Builds the spec's image, or finds it already built. */
  async prepare(
    spec: ReplicaLaunch["spec"],
    onStep: (step: string) => void,
  ): Promise<void> {
    await this.options.images.ensure(spec.image, onStep);
  }

  /** Creates and starts the replica's container and follows its output. */
  async start(launch: ReplicaLaunch): Promise<ReplicaHandle> {
    const image = await this.options.images.ensure(launch.spec.image);
    for (const volume of launch.spec.volumes ?? []) {
      await this.ensureVolume(volume.name);
    }
    // The worker runs as user 1000 and must be able to connect.
    await chmod(launch.socketPath, 0o666);

    const container = await this.docker.createContainer(
      containerOptions(launch, image, this.options.agentId),
    );
    const remove = () =>
      container.remove({ force: true }).catch((error: unknown) => {
        if ((error as { statusCode?: number }).statusCode === 404) return;
        launch.onError(error as Error);
      });

    try {
      const output = await container.attach({
        stream: true,
        stdout: true,
        stderr: true,
      });
      this.followOutput(output, launch);
      await container.start();
    } catch (error) {
      await remove();
      throw error;
    }

    const state = (await container.inspect()).State;
    const exited = this.waitForExit(container, launch).finally(remove);

    return {
      pid: state.Pid,
      exited,
      kill: (signal: NodeJS.Signals = "SIGKILL") => {
        container.kill({ signal }).catch((error: unknown) => {
          const status = (error as { statusCode?: number }).statusCode;
          // 404 and 409: the container is gone or no longer running.
          if (status !== 404 && status !== 409) launch.onError(error as Error);
        });
      },
    };
  }

  private followOutput(
    output: NodeJS.ReadableStream,
    launch: ReplicaLaunch,
  ): void {
    const streams = { stdout: new PassThrough(), stderr: new PassThrough() };
    this.docker.modem.demuxStream(output, streams.stdout, streams.stderr);
    output.on("end", () => {
      streams.stdout.end();
      streams.stderr.end();
    });
    for (const name of ["stdout", "stderr"] as const) {
      const lines = createInterface({ input: streams[name], crlfDelay: 1 });
      lines.on("line", (line) => launch.onOutput(name, line));
    }
  }

  private async waitForExit(
    container: Dockerode.Container,
    launch: ReplicaLaunch,
  ): Promise<ReplicaExit> {
    try {
      const result = (await container.wait()) as { StatusCode: number };
      const state = (await container.inspect()).State;
      return containerExit(result.StatusCode, state.OOMKilled);
    } catch (error) {
      launch.onError(error as Error);
      return { code: null, signal: "SIGKILL" };
    }
  }

  /**
   * Creates a named volume on first use and gives its root to the container
   * user, so replicas running as 1000 can write to it.
   */
  private ensureVolume(name: string): Promise<void> {
    let pending = this.volumes.get(name);
    if (!pending) {
      pending = this.createVolume(name);
      this.volumes.set(name, pending);
      pending.catch(() => this.volumes.delete(name));
    }
    return pending;
  }

  private async createVolume(name: string): Promise<void> {
    const volume = this.docker.getVolume(name);
    const existing = await volume.inspect().catch((error: unknown) => {
      if ((error as { statusCode?: number }).statusCode === 404) return null;
      throw error;
    });
    if (existing) return;

    await this.docker.createVolume({
      Name: name,
      Labels: { [`${LABEL}.volume`]: name },
    });
    const base = await ensureBaseImage(this.docker, this.logger);
    const helper = await this.docker.createContainer({
      Image: base,
      Cmd: ["node", "-e", "require('fs').chownSync('/volume', 1000, 1000)"],
      User: "0:0",
      Labels: { [LABEL]: "volume-setup" },
      HostConfig: {
        Mounts: [{ Type: "volume", Source: name, Target: "/volume" }],
        NetworkMode: "none",
      },
    });
    try {
      await helper.start();
      const result = (await helper.wait()) as { StatusCode: number };
      if (result.StatusCode !== 0) {
        throw new Error(
          `giving volume ${name} to user 1000 failed with code ${result.StatusCode}`,
        );
      }
    } finally {
      await helper.remove({ force: true }).catch(() => {});
    }
    this.logger.info({ volume: name }, "volume created");
  }
}
