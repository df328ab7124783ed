/**
 * The durable queue of one function (`idFromName(functionName)`): stores
 * calls, dispatches them to replica links by credit and relays their
 * chunks to subscribed callers. Protocol details live in the queue-*
 * modules; this class wires them to the Durable Object events.
 */
import { DurableObject } from "cloudflare:workers";
import { decodeAgentFrame, decodeCallerFrame } from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";
import { type CallView, describeCall } from "./call-status.ts";
import type { Env } from "./env.ts";
import { createLogger, errorFields } from "./logger.ts";
import { checkLeases, runDueWork, scheduleAlarm } from "./queue-alarm.ts";
import { handleCallerFrame } from "./queue-caller-frames.ts";
import { Outbox, type QueueContext, sendPendingAcks } from "./queue-context.ts";
import { dispatch } from "./queue-dispatch.ts";
import { handleAgentFrame, handleLinkClosed } from "./queue-link-frames.ts";
import {
  dispatchRound,
  PERMIT_RETRY_MS,
  type PolicyServices,
  releaseEndedPermits,
  renewPermits,
  usesPolicyObjects,
} from "./queue-policies.ts";
import { QueueSockets, tryClose } from "./queue-sockets.ts";
import { QueueStore } from "./queue-store.ts";
import { semaphoreName } from "./semaphore.ts";

/** Live counts of a queue, for `GET /v1/functions`. */
export interface QueueStats {
  /** Current version, or 0 before the first configure. */
  version: number;
  /** Open, non-draining links of the current version. */
  replicas: number;
  queued: number;
  running: number;
}

const log = createLogger("function-queue");

/** WebSocket close code for a frame that could not be decoded. */
const CLOSE_INVALID_FRAME = 1007;

/** Durable Object holding one function's calls. */
export class FunctionQueue extends DurableObject<Env> {
  private readonly queue: QueueContext;
  /** Alarm time last set, read from storage when the object starts. */
  private alarmAtMs: number | null = null;
  private readonly services: PolicyServices;
  /** The running policy dispatch loop, if any. */
  private pumping: Promise<void> | null = null;
  /** Set when state changed while the policy dispatch loop awaited. */
  private pumpAgain = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.queue = {
      store: new QueueStore(ctx.storage.sql),
      sockets: new QueueSockets(ctx),
      transaction: (body) => ctx.storage.transactionSync(body),
      now: () => Date.now(),
      random: () => Math.random(),
      log,
    };
    this.services = policyServices(env);
    // After hibernation or eviction the sockets and SQLite are all that is
    // left: drop subscriptions of vanished callers and give replicas that
    // lost their links a grace period.
    ctx.blockConcurrencyWhile(async () => {
      const pruned = this.queue.store.pruneSubscriptions(
        this.queue.sockets.openConnIds(),
      );
      if (pruned > 0) log.info("stale subscriptions dropped", { pruned });
      this.alarmAtMs = await ctx.storage.getAlarm();
      const outbox = new Outbox();
      this.queue.transaction(() =>
        checkLeases(this.queue, outbox, this.queue.now()),
      );
      this.settle(outbox);
    });
  }

  /** Sets the spec and version that calls run under; older versions are ignored. */
  async configure(spec: FunctionSpec, version: number): Promise<void> {
    const current = this.queue.store.config();
    if (current && current.version > version) {
      log.warn("stale configure ignored", {
        function: spec.name,
        version,
        currentVersion: current.version,
      });
      return;
    }
    this.queue.store.setConfig({ spec, version });
    if (current?.version !== version) {
      log.info("configured", { function: spec.name, version });
    }
    this.settle(new Outbox());
  }

  /** Returns the status of a call, or null when it is unknown. */
  async getCall(callId: string): Promise<CallView | null> {
    const call = this.queue.store.call(callId);
    if (!call) return null;

    const config = this.queue.store.config();
    const chunks =
      call.finishedMs === null ? [] : this.queue.store.chunks(callId);
    return describeCall(
      call,
      config?.spec.name ?? "",
      config?.spec.generator ?? false,
      chunks,
    );
  }

  /**
   * Tries to dispatch again; a Semaphore calls it when permits of a key
   * this queue waits for were freed.
   */
  async wake(): Promise<void> {
    this.settle(new Outbox());
  }

  /** Returns live counts for the function listing. */
  async stats(): Promise<QueueStats> {
    const config = this.queue.store.config();
    const version = config?.version ?? 0;
    const replicas = new Set(
      this.queue.sockets
        .links()
        .filter((l) => l.state.version === version && !l.state.draining)
        .map((l) => l.state.replica),
    );
    return {
      version,
      replicas: config ? replicas.size : 0,
      queued: this.queue.store.countByStatus("queued"),
      running: this.queue.store.countByStatus("running"),
    };
  }

  /** Accepts WebSocket upgrades on `/caller` (gateways) and `/link` (replicas). */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return jsonError(426, "expected a WebSocket upgrade request");
    }
    if (url.pathname === "/caller") return this.acceptCaller();
    if (url.pathname === "/link") return this.acceptLink(url);
    return jsonError(404, `no route ${url.pathname} on a function queue`);
  }

  private acceptCaller(): Response {
    const pair = new WebSocketPair();
    this.queue.sockets.acceptCaller(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  private acceptLink(url: URL): Response {
    const config = this.queue.store.config();
    if (!config) {
      return jsonError(404, "function is not deployed, so it takes no links");
    }
    const agent = url.searchParams.get("agent") ?? "";
    const replica = url.searchParams.get("replica") ?? "";
    const version = Number(url.searchParams.get("version"));
    if (agent === "" || replica === "" || !Number.isInteger(version)) {
      return jsonError(400, "link needs agent, replica and integer version");
    }

    const pair = new WebSocketPair();
    const previous = this.queue.sockets
      .links()
      .filter((link) => link.state.replica === replica);
    this.queue.sockets.acceptLink(pair[1], {
      agent,
      replica,
      version,
      credits: 0,
      draining: false,
    });
    for (const link of previous) {
      tryClose(link.socket, 1000, "replaced by a newer link of the replica");
    }
    this.queue.store.removeLeaseCheck(replica);
    log.info("link opened", { agent, replica, version });
    this.settle(new Outbox());
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override async webSocketMessage(
    ws: WebSocket,
    message: string | ArrayBuffer,
  ): Promise<void> {
    const state = this.queue.sockets.stateOf(ws);
    if (!state) return;
    if (typeof message === "string") {
      tryClose(ws, CLOSE_INVALID_FRAME, "frames must be binary Cap'n Proto");
      return;
    }

    const outbox = new Outbox();
    try {
      if (state.kind === "caller") {
        const frame = decodeCallerFrame(message);
        handleCallerFrame(this.queue, outbox, state.connId, frame);
      } else {
        const link = { socket: ws, state };
        handleAgentFrame(this.queue, outbox, link, decodeAgentFrame(message));
        this.queue.sockets.saveLink(link);
      }
    } catch (error) {
      log.error("frame rejected", { kind: state.kind, ...errorFields(error) });
      tryClose(ws, CLOSE_INVALID_FRAME, "invalid frame");
      return;
    }
    this.settle(outbox);
  }

  override async webSocketClose(
    ws: WebSocket,
    code: number,
    reason: string,
  ): Promise<void> {
    // 1000 (normal) and 1001 (going away) mean the agent ended the link itself.
    const deliberate = code === 1000 || code === 1001;
    this.socketGone(
      ws,
      `code ${code}${reason ? ` ${reason}` : ""}`,
      deliberate,
    );
    tryClose(ws, 1000, "closed");
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    log.warn("socket error", errorFields(error));
    this.socketGone(ws, "socket error", false);
  }

  override async alarm(): Promise<void> {
    this.alarmAtMs = null;
    const outbox = new Outbox();
    runDueWork(this.queue, outbox);
    this.settle(outbox);
    try {
      await renewPermits(this.queue, this.services);
    } catch (error) {
      log.error("permit renewal failed", errorFields(error));
    }
    this.rearm();
  }

  private socketGone(ws: WebSocket, reason: string, clean: boolean): void {
    const state = this.queue.sockets.stateOf(ws);
    if (!state) return;

    const outbox = new Outbox();
    if (state.kind === "caller") {
      this.queue.store.unsubscribeConnection(state.connId);
    } else {
      handleLinkClosed(
        this.queue,
        outbox,
        { socket: ws, state },
        reason,
        clean,
      );
    }
    this.settle(outbox);
  }

  /**
   * Sends pending frames, dispatches what can run and re-arms the alarm.
   * Synchronous on purpose, see `scheduleAlarm`.
   */
  private settle(outbox: Outbox): void {
    const spec = this.queue.store.config()?.spec;
    const local = !(spec && usesPolicyObjects(spec));
    // Dispatch without policy objects runs now, so the agent's acks can ride
    // in the same frame as its next runs: one message instead of two.
    if (local) this.queue.pendingAcks = outbox.takeLinkAcks();
    outbox.flush(this.queue.sockets);
    if (local) {
      try {
        dispatch(this.queue);
      } finally {
        sendPendingAcks(this.queue);
      }
    } else {
      this.pump();
    }
    this.ctx.waitUntil(releaseEndedPermits(this.queue, this.services));
    this.rearm();
  }

  private rearm(): void {
    this.alarmAtMs = scheduleAlarm(
      this.queue,
      this.ctx.storage,
      this.alarmAtMs,
    );
  }

  /**
   * Runs policy dispatch rounds until one starts nothing and no event
   * arrived meanwhile. Only one loop runs at a time; an event during a
   * round asks the loop for one more.
   */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    const loop = async () => {
      for (;;) {
        this.pumpAgain = false;
        const started = await dispatchRound(this.queue, this.services);
        this.ctx.waitUntil(releaseEndedPermits(this.queue, this.services));
        if (started === 0 && !this.pumpAgain) return;
      }
    };
    this.pumping = loop()
      .catch((error: unknown) => {
        log.error("policy dispatch failed", errorFields(error));
        this.queue.store.setWaitUntil(
          "permit_wait_ms",
          this.queue.now() + PERMIT_RETRY_MS,
        );
      })
      .finally(() => {
        this.pumping = null;
        this.rearm();
      });
    this.ctx.waitUntil(this.pumping);
  }
}

/** Builds the Semaphore and RateLimiter RPCs from the bindings. */
function policyServices(env: Env): PolicyServices {
  const semaphore = (key: string) =>
    env.SEMAPHORE.get(env.SEMAPHORE.idFromName(semaphoreName(key)));
  return {
    acquire: (key, request) => semaphore(key).acquire(request),
    release: (key, queue, holders) => semaphore(key).release(queue, holders),
    renew: (key, queue, holders) => semaphore(key).renew(queue, holders),
    take: (limiter, request) =>
      env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(limiter)).take(request),
  };
}

function jsonError(status: number, message: string): Response {
  return Response.json({ error: { type: "QueueError", message } }, { status });
}
