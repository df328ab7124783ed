import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { type Logger, pino } from "pino";
import {
  type Assignment,
  decodeFleetFrame,
  encodeAgentReport,
  type FleetFrame,
} from "../schemas/frames.ts";
import { type FunctionSpec, validateSpec } from "../schemas/spec.ts";
import { ReconnectingSocket } from "../sdk/reconnecting-socket.ts";
import type { RestartBackoffOptions } from "./backoff.ts";
import { BundleStore } from "./bundle-store.ts";
import { CallRelay } from "./call-relay.ts";
import { discoverGpus, GpuAllocator } from "./gpus.ts";
import { ImageBuilder } from "./images/image-builder.ts";
import { LogShipper } from "./log-shipper.ts";
import { Replica } from "./replica.ts";
import { DockerRuntime } from "./runtime/docker-runtime.ts";
import { ProcessRuntime } from "./runtime/process-runtime.ts";
import type { Runtime } from "./runtime/runtime.ts";
import { type RuntimeChoice, selectRuntime } from "./runtime/select-runtime.ts";
import { parseGatewayUrl, websocketUrl } from "./urls.ts";
import { buildWorkerRuntime } from "./worker-build.ts";

/** Options of `startAgent`. */
export interface AgentOptions {
  /** Gateway base URL, http:// or https://. */
  gatewayUrl: string;
  /** Bearer token of the gateway. */
  token: string;
  /** Folder for bundles, the worker runtime and replica sockets. */
  dataDir: string;
  /**
   * Replica runtime: "docker" (a container per replica), "process" (a child
   * Node process) or "auto" (the default: docker when an engine responds).
   */
  runtime?: RuntimeChoice;
  /** Id reported to the Fleet; by default one is created and kept in `<dataDir>/agent-id`. */
  agentId?: string;
  logger?: Logger;
  /** Interval between AgentReports in milliseconds; default 5000. */
  reportIntervalMs?: number;
  /** Time `stop()` lets replicas finish running calls before killing them; default 30000 ms. */
  stopGraceMs?: number;
  /** Restart delays of crashing replicas. */
  restartBackoff?: RestartBackoffOptions;
}

/** A running fleet agent. */
export interface FleetAgent {
  readonly agentId: string;
  /** Drains or kills every replica and closes the gateway links; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a fleet agent: builds the worker runtime, connects to the gateway's
 * Fleet link, and runs one replica per assigned function version.
 *
 * @example
 * const agent = await startAgent({
 *   gatewayUrl: "http://127.0.0.1:8787",
 *   token: process.env.CHALKCOMPUTE_TOKEN ?? "",
 *   dataDir: ".chalkcompute/agent",
 * });
 * process.on("SIGTERM", () => agent.stop());
 */
export async function startAgent(options: AgentOptions): Promise<FleetAgent> {
  const gateway = parseGatewayUrl(options.gatewayUrl);
  if (!options.token) {
    throw new TypeError(
      "agent token is empty; pass the gateway's token (CHALKCOMPUTE_TOKEN)",
    );
  }
  const choice = options.runtime ?? "auto";
  if (!["docker", "process", "auto"].includes(choice)) {
    throw new TypeError(
      `agent runtime ${JSON.stringify(choice)} is not supported; use ` +
        '"docker", "process" or "auto"',
    );
  }

  const dataDir = path.resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const agentId = options.agentId ?? (await loadAgentId(dataDir));
  const logger = (options.logger ?? pino({ name: "chalkcompute-agent" })).child(
    { agentId },
  );

  const started = Date.now();
  const workerPath = await buildWorkerRuntime(dataDir);
  logger.info(
    { workerPath, buildMs: Date.now() - started },
    "worker runtime built",
  );

  const bundles = new BundleStore({
    gateway,
    token: options.token,
    dir: path.join(dataDir, "bundles"),
    logger,
  });
  const selected = await selectRuntime(choice, logger);
  let runtime: Runtime = new ProcessRuntime();
  if (selected.name === "docker") {
    const images = new ImageBuilder({
      docker: selected.docker,
      logger,
      workerPath,
      blob: (hash) => bundles.get(hash),
    });
    const docker = new DockerRuntime({
      docker: selected.docker,
      images,
      logger,
      agentId,
    });
    await docker.removeLeftovers();
    runtime = docker;
  }

  const gpus = new GpuAllocator(await discoverGpus(logger));
  const agent = new Agent({
    ...options,
    agentId,
    gateway,
    dataDir,
    logger,
    workerPath,
    runtime,
    bundles,
    gpus,
  });
  logger.info(
    { gateway: gateway.origin, dataDir, runtime: runtime.name },
    "agent started",
  );
  return agent;
}

interface AgentSettings {
  agentId: string;
  gateway: URL;
  token: string;
  dataDir: string;
  logger: Logger;
  workerPath: string;
  runtime: Runtime;
  bundles: BundleStore;
  gpus: GpuAllocator;
  reportIntervalMs?: number;
  stopGraceMs?: number;
  restartBackoff?: RestartBackoffOptions;
}

class Agent implements FleetAgent {
  readonly agentId: string;
  private readonly logger: Logger;
  private readonly bundles: BundleStore;
  private readonly relay: CallRelay;
  private readonly logs: LogShipper;
  private readonly fleet: ReconnectingSocket;
  private readonly reportTimer: NodeJS.Timeout;
  /** Replicas of the assigned versions, by `function@version`. */
  private readonly replicas = new Map<string, Replica>();
  /** Replicas draining because their version is no longer assigned. */
  private readonly retiring = new Set<Replica>();
  /**
   * Replicas of versions no longer assigned that keep serving until a newer
   * replica of their function serves, by `function@version`.
   */
  private readonly superseded = new Map<string, Replica>();
  private reportScheduled = false;
  private closed = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly settings: AgentSettings) {
    this.agentId = settings.agentId;
    this.logger = settings.logger;
    this.bundles = settings.bundles;
    this.logs = new LogShipper({
      gateway: settings.gateway,
      token: settings.token,
      logger: this.logger.child({ link: "logs" }),
    });
    this.relay = new CallRelay({
      url: websocketUrl(settings.gateway, "/v1/connect"),
      token: settings.token,
      logger: this.logger.child({ link: "connect" }),
    });
    this.fleet = new ReconnectingSocket({
      url: websocketUrl(settings.gateway, "/v1/agent/fleet"),
      token: settings.token,
      onOpen: (reconnect) => {
        this.logger.info({ reconnect }, "fleet link open");
        this.sendReport();
      },
      onMessage: (data) => this.onFleetMessage(data),
      onClose: (code, reason) => {
        if (this.closed) return;
        this.logger.warn({ code, reason }, "fleet link closed, reconnecting");
      },
      onError: (error) => {
        this.logger.warn({ err: error }, "fleet link failed, retrying");
      },
    });
    this.reportTimer = setInterval(
      () => this.sendReport(),
      settings.reportIntervalMs ?? 5_000,
    );
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const graceMs = this.settings.stopGraceMs ?? 30_000;
    const replicas = this.allReplicas();
    this.logger.info({ replicas: replicas.length, graceMs }, "agent stopping");

    await Promise.all(replicas.map((replica) => replica.stop(graceMs)));
    this.replicas.clear();
    this.superseded.clear();
    this.retiring.clear();
    await this.logs.close();
    clearInterval(this.reportTimer);
    this.sendReport();
    this.closed = true;
    this.fleet.close();
    this.relay.close();
    this.logger.info("agent stopped");
  }

  private onFleetMessage(data: Uint8Array): void {
    if (this.stopping) return;
    let frame: FleetFrame;
    try {
      frame = decodeFleetFrame(data);
    } catch (error) {
      this.logger.error({ err: error }, "undecodable fleet frame, dropped");
      return;
    }
    this.reconcile(frame.assignments);
  }

  /** Starts replicas of new assignments and drains those no longer assigned. */
  private reconcile(assignments: Assignment[]): void {
    const wanted = new Map<
      string,
      { assignment: Assignment; spec: FunctionSpec }
    >();
    for (const assignment of assignments) {
      const spec = parseSpec(assignment, this.logger);
      if (spec) wanted.set(assignmentKey(assignment), { assignment, spec });
    }

    for (const [key, { assignment, spec }] of wanted) {
      const existing = this.replicas.get(key);
      // A failed build is retried only when an assignment arrives again.
      if (existing?.currentState === "build-failed") {
        this.replicas.delete(key);
        this.retire(existing);
      } else if (existing) {
        continue;
      }
      const replica = this.startReplica(assignment, spec);
      if (replica) this.replicas.set(key, replica);
    }

    for (const [key, replica] of this.replicas) {
      if (wanted.has(key)) continue;
      this.replicas.delete(key);
      this.superseded.set(key, replica);
    }
    this.retireSuperseded();
    this.scheduleReport();
  }

  /**
   * Drains each superseded replica once a newer replica of its function
   * serves, or at once when its function is no longer assigned or it does
   * not serve itself. Until then it keeps serving, so a failed build of a
   * new version leaves the previous one serving calls.
   */
  private retireSuperseded(): void {
    for (const [key, old] of this.superseded) {
      const successors = [...this.replicas.values()].filter(
        (replica) =>
          replica.functionName === old.functionName &&
          replica.version > old.version,
      );
      const successorServes = successors.some(
        (replica) => replica.currentState === "serving",
      );
      if (
        successors.length > 0 &&
        !successorServes &&
        old.currentState === "serving"
      ) {
        continue;
      }
      this.superseded.delete(key);
      this.retire(old);
    }
  }

  private retire(replica: Replica): void {
    this.retiring.add(replica);
    replica.drain().then(() => {
      this.retiring.delete(replica);
      this.settings.gpus.release(replica.id);
      this.scheduleReport();
    });
  }

  private allReplicas(): Replica[] {
    return [
      ...this.replicas.values(),
      ...this.superseded.values(),
      ...this.retiring,
    ];
  }

  private startReplica(
    assignment: Assignment,
    spec: FunctionSpec,
  ): Replica | undefined {
    let gpus: string[] = [];
    const replicaId = Replica.newId();
    if (spec.gpu) {
      const allocated = this.settings.gpus.allocate(
        replicaId,
        spec.gpu.model,
        spec.gpu.count,
      );
      if (!allocated) {
        this.logger.warn(
          {
            function: assignment.function,
            version: assignment.version,
            gpu: spec.gpu,
            host: this.settings.gpus.describe(),
          },
          `no ${spec.gpu.count} free ${spec.gpu.model} GPU(s) on this host; ` +
            "the replica waits for the next assignment",
        );
        return undefined;
      }
      gpus = allocated;
    }

    try {
      const replica = new Replica({
        id: replicaId,
        gpus,
        logs: this.logs,
        agentId: this.agentId,
        assignment,
        spec,
        dataDir: this.settings.dataDir,
        gateway: this.settings.gateway,
        token: this.settings.token,
        runtime: this.settings.runtime,
        bundles: this.bundles,
        workerPath: this.settings.workerPath,
        relay: this.relay,
        logger: this.logger,
        onChange: () => this.scheduleReport(),
        backoff: this.settings.restartBackoff,
      });
      replica.stopped.then(() => this.settings.gpus.release(replica.id));
      this.logger.info(
        {
          replicaId: replica.id,
          function: assignment.function,
          version: assignment.version,
        },
        "replica assigned",
      );
      return replica;
    } catch (error) {
      this.settings.gpus.release(replicaId);
      this.logger.error(
        {
          err: error,
          function: assignment.function,
          version: assignment.version,
        },
        "creating replica failed",
      );
      return undefined;
    }
  }

  private scheduleReport(): void {
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    setImmediate(() => {
      this.reportScheduled = false;
      if (!this.stopping) this.retireSuperseded();
      this.sendReport();
    });
  }

  private sendReport(): void {
    this.fleet.send(
      encodeAgentReport({
        agentId: this.agentId,
        hostname: hostname(),
        runtime: this.settings.runtime.name,
        replicas: this.allReplicas().map((replica) => replica.report()),
        gpus: this.settings.gpus.report(),
      }),
    );
  }
}

function assignmentKey(assignment: Assignment): string {
  return `${assignment.function}@${assignment.version}`;
}

function parseSpec(
  assignment: Assignment,
  logger: Logger,
): FunctionSpec | undefined {
  const ids = { function: assignment.function, version: assignment.version };
  let spec: unknown;
  try {
    spec = JSON.parse(assignment.spec);
  } catch (error) {
    logger.error(
      { ...ids, err: error },
      "assignment spec is not JSON, skipped",
    );
    return undefined;
  }

  const problems = validateSpec(spec);
  if (problems.length > 0) {
    logger.error({ ...ids, problems }, "assignment spec is invalid, skipped");
    return undefined;
  }
  return spec as FunctionSpec;
}

/** Reads the agent id kept in the data folder, creating it on first start. */
async function loadAgentId(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "agent-id");
  const stored = await readFile(file, "utf8").catch(() => "");
  if (stored.trim()) return stored.trim();

  const host = hostname()
    .replace(/[^A-Za-z0-9-]/g, "-")
    .slice(0, 40);
  const agentId = `${host}-${randomBytes(4).toString("hex")}`;
  await writeFile(file, `${agentId}\n`);
  return agentId;
}
