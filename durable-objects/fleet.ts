/**
 * The single Fleet object (`idFromName("fleet")`): one hibernatable
 * WebSocket per agent. It sends each agent the full FleetFrame on connect
 * and after every deploy, and keeps the latest AgentReport per agent.
 */
import { DurableObject } from "cloudflare:workers";
import {
  type AgentReport,
  type Assignment,
  decodeAgentReport,
  encodeFleetFrame,
} from "../schemas/frames.ts";
import { catalogStub, type Env } from "./env.ts";
import { createLogger, errorFields } from "./logger.ts";
import { tryClose, trySend } from "./queue-sockets.ts";

/** An agent's latest report with the time it arrived. */
export interface StoredReport extends AgentReport {
  receivedAt: string;
}

interface AgentState {
  agentId: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reports (
  agent_id TEXT PRIMARY KEY,
  report TEXT NOT NULL,
  received_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

const AGENT_TAG = "agent";
const log = createLogger("fleet");

/** Durable Object holding the agents' control links. */
export class Fleet extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
  }

  /** Accepts an agent's WebSocket on `/agent` and sends it the assignments. */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/agent") {
      return Response.json(
        { error: { type: "FleetError", message: `no route ${url.pathname}` } },
        { status: 404 },
      );
    }
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return Response.json(
        {
          error: {
            type: "FleetError",
            message: "expected a WebSocket upgrade request",
          },
        },
        { status: 426 },
      );
    }

    const pair = new WebSocketPair();
    const state: AgentState = { agentId: "" };
    this.ctx.acceptWebSocket(pair[1], [AGENT_TAG]);
    pair[1].serializeAttachment(state);
    // Accepting first means a publish that lands while the list loads
    // reaches this socket too, and `currentAssignments` prefers it.
    const assignments = await this.currentAssignments();
    trySend(pair[1], encodeFleetFrame({ assignments }));
    log.info("agent connected", { assignments: assignments.length });
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /** Stores the new assignment list and sends it to every agent. Returns the number reached. */
  async publish(assignments: Assignment[]): Promise<number> {
    this.storeAssignments(assignments);
    const frame = encodeFleetFrame({ assignments });
    let reached = 0;
    for (const socket of this.ctx.getWebSockets(AGENT_TAG)) {
      if (trySend(socket, frame)) reached++;
    }
    log.info("assignments published", {
      assignments: assignments.map((a) => `${a.function}@${a.version}`),
      agents: reached,
    });
    return reached;
  }

  /** Returns the latest report of every agent that has sent one. */
  async reports(): Promise<StoredReport[]> {
    return this.ctx.storage.sql
      .exec("SELECT report, received_ms FROM reports ORDER BY agent_id")
      .toArray()
      .map((row) => ({
        ...(JSON.parse(row.report as string) as AgentReport),
        receivedAt: new Date(row.received_ms as number).toISOString(),
      }));
  }

  override async webSocketMessage(
    ws: WebSocket,
    message: string | ArrayBuffer,
  ): Promise<void> {
    if (typeof message === "string") {
      tryClose(ws, 1007, "frames must be binary Cap'n Proto");
      return;
    }
    let report: AgentReport;
    try {
      report = decodeAgentReport(message);
    } catch (error) {
      log.error("agent report rejected", errorFields(error));
      tryClose(ws, 1007, "invalid AgentReport");
      return;
    }

    this.ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO reports (agent_id, report, received_ms)
       VALUES (?, ?, ?)`,
      report.agentId,
      JSON.stringify(report),
      Date.now(),
    );
    const state = ws.deserializeAttachment() as AgentState | null;
    if (state?.agentId !== report.agentId) {
      ws.serializeAttachment({ agentId: report.agentId });
      log.info("agent identified", {
        agentId: report.agentId,
        hostname: report.hostname,
        runtime: report.runtime,
      });
    }
  }

  override async webSocketClose(
    ws: WebSocket,
    code: number,
    reason: string,
  ): Promise<void> {
    const state = ws.deserializeAttachment() as AgentState | null;
    log.info("agent disconnected", { agentId: state?.agentId, code, reason });
    tryClose(ws, 1000, "closed");
  }

  private async currentAssignments(): Promise<Assignment[]> {
    const stored = this.storedAssignments();
    if (stored) return stored;

    const fromCatalog = await catalogStub(this.env).assignments();
    const publishedMeanwhile = this.storedAssignments();
    if (publishedMeanwhile) return publishedMeanwhile;
    this.storeAssignments(fromCatalog);
    return fromCatalog;
  }

  private storedAssignments(): Assignment[] | null {
    const row = this.ctx.storage.sql
      .exec("SELECT value FROM meta WHERE key = 'assignments'")
      .toArray()[0];
    return row ? (JSON.parse(row.value as string) as Assignment[]) : null;
  }

  private storeAssignments(assignments: Assignment[]): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('assignments', ?)",
      JSON.stringify(assignments),
    );
  }
}
