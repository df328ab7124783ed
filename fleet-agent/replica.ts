import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type {
  AgentMessage,
  Assignment,
  Chunk,
  ReplicaReport,
  Run,
  WorkerMessage,
} from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";
import { RestartBackoff, type RestartBackoffOptions } from "./backoff.ts";
import type { BundleStore } from "./bundle-store.ts";
import type { CallRelay } from "./call-relay.ts";
import { ChunkLedger } from "./chunk-ledger.ts";
import { ImageBuildError } from "./images/image-builder.ts";
import type { LogShipper } from "./log-shipper.ts";
import {
  deadlineExceededChunk,
  outOfMemoryChunk,
  unavailableChunk,
} from "./replica-errors.ts";
import { ReplicaLink } from "./replica-link.ts";
import { type RunningCall, RunningCalls } from "./running-calls.ts";
import {
  describeExit,
  type ReplicaExit,
  type ReplicaHandle,
  type Runtime,
} from "./runtime/runtime.ts";
import { fetchSecretEnv, secretRedactor } from "./secrets.ts";
import { websocketUrl } from "./urls.ts";
import { emptyAgentMessage } from "./worker-protocol.ts";
import {
  checkSocketPath,
  serveWorkerSocket,
  type WorkerStream,
} from "./worker-server.ts";

/** Lifecycle state of a replica, as reported to the Fleet. */
export type ReplicaState =
  | "building"
  | "build-failed"
  | "starting"
  | "serving"
  | "draining"
  | "crashed";

/** Options of a Replica. */
export interface ReplicaOptions {
  /** Replica id; default a new one from `Replica.newId()`. */
  id?: string;
  agentId: string;
  assignment: Assignment;
  spec: FunctionSpec;
  dataDir: string;
  gateway: URL;
  token: string;
  runtime: Runtime;
  bundles: BundleStore;
  /** Path of the bundled worker runtime. */
  workerPath: string;
  relay: CallRelay;
  logger: Logger;
  /** Called when the state or the number of running calls changes. */
  onChange(): void;
  /** Time a worker has to load its bundle and send `ready`; default 60 s. */
  readyTimeoutMs?: number;
  backoff?: RestartBackoffOptions;
  /** Uuids of the GPUs the agent gave this replica; default none. */
  gpus?: string[];
  /** Ships the replica's output lines to the gateway; when absent they are only logged. */
  logs?: LogShipper;
  /** Fetches the replica's secret environment; default `fetchSecretEnv`. */
  secrets?: () => Promise<Record<string, string>>;
}

const LINK_CLOSE_TIMEOUT_MS = 5_000;
const FINAL_KINDS = new Set(["result", "error", "end"]);

/** One worker process of the replica, from its start to its exit. */
interface Generation {
  handle: ReplicaHandle;
  session: WorkerStream | undefined;
  link: ReplicaLink | undefined;
  readyAt: number | undefined;
  running: RunningCalls;
  /** True once a call's deadline made the agent kill the worker. */
  deadlineKill: boolean;
  /** Reason the agent killed the worker, if it did. */
  killReason: string | undefined;
  exited: boolean;
}

/**
 * Supervises one replica of one function version. It serves gRPC on the
 * replica's Unix socket, starts the worker through the runtime and links it
 * to the function's queue once it is ready. It kills a worker whose call
 * passed its deadline, and restarts the worker until the replica is drained.
 */
export class Replica {
  readonly id: string;
  readonly functionName: string;
  readonly version: number;
  /** Resolves once the replica has stopped for good. */
  readonly stopped: Promise<void>;

  private state: ReplicaState = "starting";
  private detail = "";
  private redact: (line: string) => string = (line) => line;
  private readonly logger: Logger;
  private readonly dir: string;
  private readonly socketPath: string;
  private readonly backoff: RestartBackoff;
  private server: grpc.Server | undefined;
  private generation: Generation | undefined;
  private draining = false;
  private readonly ledger = new ChunkLedger();
  private wake: (() => void) | undefined;

  /** Returns a new random replica id. */
  static newId(): string {
    return `r${randomBytes(6).toString("hex")}`;
  }

  constructor(private readonly options: ReplicaOptions) {
    this.id = options.id ?? Replica.newId();
    this.functionName = options.assignment.function;
    this.version = options.assignment.version;
    this.logger = options.logger.child({
      replicaId: this.id,
      function: this.functionName,
      version: this.version,
    });
    this.dir = path.join(options.dataDir, "replicas", this.id);
    this.socketPath = path.join(this.dir, "agent.sock");
    checkSocketPath(this.socketPath);
    this.backoff = new RestartBackoff(options.backoff);
    this.stopped = this.supervise();
  }

  /** Returns the replica's entry of the AgentReport. */
  report(): ReplicaReport {
    return {
      replicaId: this.id,
      function: this.functionName,
      version: this.version,
      state: this.state,
      inFlight: this.generation?.running.size ?? 0,
      // TODO: measure CPU of the worker process; reported as 0 until then.
      cpuPercent: 0,
      detail: this.detail,
    };
  }

  /** The replica's current lifecycle state. */
  get currentState(): ReplicaState {
    return this.state;
  }

  /**
   * Stops taking work: the link announces `draining`, the worker finishes its
   * running calls and exits, and the replica is not restarted. Resolves once
   * the replica has stopped.
   */
  drain(): Promise<void> {
    if (this.draining) return this.stopped;
    this.draining = true;
    this.logger.info("draining replica");
    this.setState("draining");

    const generation = this.generation;
    if (generation) {
      generation.link?.setDraining();
      if (generation.readyAt) {
        this.writeToWorker(generation, { drain: true });
      } else {
        generation.killReason = "the replica was stopped before it was ready";
        generation.handle.kill();
      }
    }
    this.wake?.();
    return this.stopped;
  }

  /** Drains the replica and kills its worker if it has not exited after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    const timer = setTimeout(() => {
      const generation = this.generation;
      if (!generation || generation.exited) return;
      this.logger.warn(
        { graceMs, running: generation.running.size },
        "replica did not drain in time, killing it",
      );
      generation.killReason = `the agent stopped and ${graceMs} ms passed`;
      generation.handle.kill();
    }, graceMs);

    await this.drain();
    clearTimeout(timer);
  }

  private async supervise(): Promise<void> {
    try {
      this.server = await serveWorkerSocket(this.socketPath, (call) =>
        this.onSession(call),
      );
    } catch (error) {
      this.logger.error(
        { err: error, socketPath: this.socketPath },
        "serving gRPC on the replica socket failed; the replica will not start",
      );
      this.setState("crashed");
      await this.shutdown();
      return;
    }

    while (!this.draining) {
      const outcome = await this.runGeneration();
      if (this.draining) break;
      if (outcome.buildFailed) {
        // A failed build fails again until a new assignment replaces it.
        while (!this.draining) await this.sleep(60_000);
        break;
      }

      // A kill for a passed deadline is not the worker's fault: restart at once.
      const delayMs = outcome.deadlineKill
        ? 0
        : this.backoff.next(outcome.servedMs);
      this.setState("crashed");
      this.logger.info({ delayMs }, "restarting replica");
      await this.sleep(delayMs);
    }

    await this.shutdown();
  }

  private async runGeneration(): Promise<{
    servedMs: number;
    deadlineKill: boolean;
    buildFailed?: boolean;
  }> {
    // A runtime that prepares an image reports "building" until it is done,
    // because Fleet reads "starting" as a finished build.
    this.setState(this.options.runtime.prepare ? "building" : "starting");
    let handle: ReplicaHandle;
    try {
      await this.prepare();
      const bundlePath = await this.options.bundles.get(
        this.options.assignment.bundleHash,
      );
      const env = await this.secretEnv();
      this.redact = secretRedactor(Object.values(env));
      handle = await this.options.runtime.start({
        replicaId: this.id,
        functionName: this.functionName,
        version: this.version,
        spec: this.options.spec,
        dataDir: this.options.dataDir,
        env,
        gpus: this.options.gpus ?? [],
        workerPath: this.options.workerPath,
        bundlePath,
        socketPath: this.socketPath,
        replicaDir: this.dir,
        onOutput: (stream, line) => this.onOutput(stream, line),
        onError: (error) =>
          this.logger.error({ err: error }, "replica runtime error"),
      });
    } catch (error) {
      if (error instanceof ImageBuildError) {
        this.logger.error({ detail: error.detail }, "image build failed");
        this.setDetail(error.detail);
        this.setState("build-failed");
        return { servedMs: 0, deadlineKill: false, buildFailed: true };
      }
      this.logger.error({ err: error }, "starting replica failed");
      this.setDetail(
        `starting the replica failed: ${(error as Error).message}`,
      );
      return { servedMs: 0, deadlineKill: false };
    }
    this.setDetail("");

    const generation: Generation = {
      handle,
      session: undefined,
      link: undefined,
      readyAt: undefined,
      running: new RunningCalls((call) => this.onDeadline(generation, call)),
      deadlineKill: false,
      killReason: undefined,
      exited: false,
    };
    this.generation = generation;
    this.logger.info({ pid: handle.pid }, "replica started");
    this.options.relay.register(this.id, {
      reply: (replies) => this.writeToWorker(generation, { replies }),
      relink: () => this.writeToWorker(generation, { relinked: true }),
    });
    if (this.draining) handle.kill();

    const readyTimeoutMs = this.options.readyTimeoutMs ?? 60_000;
    const readyTimer = setTimeout(() => {
      if (generation.readyAt) return;
      this.logger.error(
        { readyTimeoutMs },
        "worker did not report ready in time, killing it",
      );
      generation.killReason = `the worker was not ready after ${readyTimeoutMs} ms`;
      handle.kill();
    }, readyTimeoutMs);

    const exit = await handle.exited;
    clearTimeout(readyTimer);
    generation.exited = true;
    await this.finishGeneration(generation, exit);

    return {
      servedMs: generation.readyAt ? Date.now() - generation.readyAt : 0,
      deadlineKill: generation.deadlineKill,
    };
  }

  private async finishGeneration(
    generation: Generation,
    exit: ReplicaExit,
  ): Promise<void> {
    const clean = this.draining && exit.code === 0;
    const running = generation.running.size;
    if (clean && running === 0) {
      this.logger.info({ exit: describeExit(exit) }, "replica exited");
    } else {
      this.logger.error(
        { exit: describeExit(exit), running, reason: generation.killReason },
        "replica exited unexpectedly",
      );
    }

    const failures = generation.running
      .takeAll()
      .map((call) => this.failureChunk(generation, call, exit));
    this.setState(this.draining ? "draining" : "crashed");

    generation.session?.end();
    this.options.relay.unregister(this.id);
    if (generation.link) {
      generation.link.sendChunks(failures);
      await generation.link.close(LINK_CLOSE_TIMEOUT_MS);
    }
    this.generation = undefined;
  }

  /** Builds the replica's image through the runtime, reporting each step. */
  private async prepare(): Promise<void> {
    const prepare = this.options.runtime.prepare?.bind(this.options.runtime);
    if (!prepare) return;
    await prepare(this.options.spec, (step) => {
      this.setDetail(step);
      this.setState("building");
    });
    this.setState("starting");
  }

  private async secretEnv(): Promise<Record<string, string>> {
    if (this.options.secrets) return this.options.secrets();
    return fetchSecretEnv({
      gateway: this.options.gateway,
      token: this.options.token,
      functionName: this.functionName,
      version: this.version,
    });
  }

  /** Masks secret values in a line, then logs it and ships it to the gateway. */
  private onOutput(stream: "stdout" | "stderr", raw: string): void {
    const line = this.redact(raw);
    this.logger.info({ stream }, line);
    this.options.logs?.add({
      function: this.functionName,
      replica: this.id,
      version: this.version,
      stream,
      line,
      ts: Date.now(),
    });
  }

  private failureChunk(
    generation: Generation,
    { run, pastDeadline }: RunningCall,
    exit: ReplicaExit,
  ): Chunk {
    const replica = `replica ${this.id} of ${this.functionName}`;
    if (pastDeadline) return deadlineExceededChunk(run, replica);
    if (exit.oomKilled) {
      return outOfMemoryChunk(run, this.options.spec.memoryBytes);
    }

    const cause = generation.killReason
      ? `was killed because ${generation.killReason}`
      : `exited with ${describeExit(exit)}`;
    return unavailableChunk(run, replica, cause);
  }

  private onSession(call: WorkerStream): void {
    const generation = this.generation;
    if (!generation || generation.session || generation.exited) {
      this.logger.warn("worker session without a starting worker, closing it");
      call.end();
      return;
    }

    generation.session = call;
    call.on("data", (message: WorkerMessage) =>
      this.onWorkerMessage(generation, message),
    );
    // The worker half-closes after a drain; ending our side lets it exit.
    call.on("end", () => call.end());
    call.on("error", (error: Error) => {
      if (generation.exited) return;
      this.logger.warn({ err: error }, "worker session failed");
    });
  }

  private onWorkerMessage(
    generation: Generation,
    message: WorkerMessage,
  ): void {
    if (message.ready) this.onReady(generation, message.ready.functions);
    if (message.chunks.length > 0) this.onChunks(generation, message.chunks);
    if (message.calls) this.options.relay.forward(this.id, message.calls);
  }

  private onReady(generation: Generation, functions: string[]): void {
    if (generation.readyAt || generation.exited) return;

    if (!functions.includes(this.functionName)) {
      generation.killReason =
        `its bundle defines ${functions.join(", ") || "no functions"}, ` +
        `not ${this.functionName}`;
      this.logger.error(
        { functions },
        "worker is ready but does not serve the function, killing it",
      );
      generation.handle.kill();
      return;
    }

    generation.readyAt = Date.now();
    this.logger.info({ pid: generation.handle.pid }, "replica ready");
    if (this.draining) {
      this.writeToWorker(generation, { drain: true });
      return;
    }

    generation.link = new ReplicaLink({
      url: websocketUrl(
        this.options.gateway,
        `/v1/agent/functions/${encodeURIComponent(this.functionName)}/link`,
        {
          agent: this.options.agentId,
          replica: this.id,
          version: String(this.version),
        },
      ),
      token: this.options.token,
      logger: this.logger,
      concurrency: this.options.spec.concurrency,
      running: () => generation.running.callIds(),
      onRuns: (runs) => this.onRuns(generation, runs),
      ledger: this.ledger,
    });
    this.setState("serving");
  }

  private onRuns(generation: Generation, runs: Run[]): void {
    const accepted: Run[] = [];
    const rejected: Chunk[] = [];

    for (const run of runs) {
      if (generation.exited || !generation.session) {
        const replica = `replica ${this.id} of ${this.functionName}`;
        rejected.push(unavailableChunk(run, replica, "was restarting"));
        continue;
      }

      generation.running.add(run);
      accepted.push(run);
    }

    if (rejected.length > 0) generation.link?.sendChunks(rejected);
    if (accepted.length > 0) {
      this.writeToWorker(generation, { runs: accepted });
      this.options.onChange();
    }
  }

  private onDeadline(generation: Generation, { run }: RunningCall): void {
    if (generation.exited) return;
    generation.deadlineKill = true;
    generation.killReason ??= `call ${run.callId} passed its deadline`;
    this.logger.warn(
      { callId: run.callId, attempt: run.attempt },
      "call passed its deadline, killing the replica",
    );
    generation.handle.kill();
  }

  /**
   * Masks secret values in an error's message and stack, which reach the
   * caller and the queue's storage as the replica's output lines reach logs.
   */
  private redactError(chunk: Chunk): Chunk {
    if (chunk.kind !== "error") return chunk;
    const { message, stack } = chunk.error;
    return {
      ...chunk,
      error: {
        ...chunk.error,
        message: this.redact(message),
        stack: this.redact(stack),
      },
    };
  }

  private onChunks(generation: Generation, chunks: Chunk[]): void {
    const forward: Chunk[] = [];
    let finished = 0;

    for (const chunk of chunks) {
      if (!generation.running.has(chunk.callId, chunk.attempt)) {
        this.logger.warn(
          { callId: chunk.callId, attempt: chunk.attempt },
          "chunk for a call the replica is not running, dropped",
        );
        continue;
      }

      forward.push(this.redactError({ ...chunk, seq: 0 }));
      if (FINAL_KINDS.has(chunk.kind)) {
        generation.running.finish(chunk.callId, chunk.attempt);
        finished++;
      }
    }

    generation.link?.sendChunks(forward);
    if (finished > 0) {
      generation.link?.grantCredits(finished);
      this.options.onChange();
    }
  }

  private writeToWorker(
    generation: Generation,
    message: Partial<AgentMessage>,
  ): void {
    if (!generation.session || generation.exited) return;
    generation.session.write({ ...emptyAgentMessage(), ...message });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async shutdown(): Promise<void> {
    this.server?.forceShutdown();
    this.options.relay.unregister(this.id);
    await rm(this.dir, { recursive: true, force: true }).catch((error) =>
      this.logger.warn({ err: error }, "removing the replica folder failed"),
    );
    if (this.ledger.size > 0) {
      this.logger.warn(
        { chunks: this.ledger.size },
        "replica stopped with chunks the queue never received",
      );
    }
    this.logger.info("replica stopped");
  }

  private setDetail(detail: string): void {
    if (this.detail === detail) return;
    this.detail = detail;
    this.options.onChange();
  }

  private setState(state: ReplicaState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onChange();
  }
}
