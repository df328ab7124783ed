/**
 * The single Fleet object (`idFromName("fleet")`): one hibernatable
 * WebSocket per agent. It keeps the latest AgentReport per agent and sends
 * each agent the assignments it can serve (see fleet-placement.ts) on
 * connect, after every deploy, and when a report changes that list.
 */
import { DurableObject } from "cloudflare:workers";
import {
  type AgentReport,
  type Assignment,
  decodeAgentReport,
  encodeFleetFrame,
} from "../schemas/frames.ts";
import { catalogStub, type Env } from "./env.ts";
import {
  assignmentsForAgent,
  type BuildStatus,
  buildStatusOf,
  type ConnectedAgent,
  gpuOfAssignment,
  type Placement,
  placementOf,
} from "./fleet-placement.ts";
import { createLogger, errorFields } from "./logger.ts";
import { tryClose, trySend } from "./queue-sockets.ts";

/** An agent's latest report with the time it arrived. */
export interface StoredReport extends AgentReport {
  receivedAt: string;
}

/** Build state and placement of one function version. */
export interface FleetStatus {
  name: string;
  version: number;
  build: BuildStatus;
  placement: Placement;
}

interface AgentState {
  agentId: string;
  /** SHA-256 of the assignment list last sent on this socket. */
  sentDigest: string;
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
    const state: AgentState = { agentId: "", sentDigest: "" };
    this.ctx.acceptWebSocket(pair[1], [AGENT_TAG]);
    pair[1].serializeAttachment(state);
    // Accepting first means a publish that lands while the list loads
    // reaches this socket too, and `currentAssignments` prefers it. Until
    // the agent's first report, its GPUs are unknown, so it gets only
    // functions without a GPU.
    const assignments = await this.currentAssignments();
    const sent = await this.sendAssignments(pair[1], assignments, null);
    log.info("agent connected", { assignments: sent });
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /**
   * Stores the new assignment list and sends every agent the part it can
   * serve. Returns the number of agents reached.
   */
  async publish(assignments: Assignment[]): Promise<number> {
    this.storeAssignments(assignments);
    let reached = 0;
    for (const socket of this.ctx.getWebSockets(AGENT_TAG)) {
      const state = socket.deserializeAttachment() as AgentState | null;
      const report = state?.agentId ? this.report(state.agentId) : null;
      const sent = await this.sendAssignments(socket, assignments, report);
      if (sent !== null) reached++;
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

  /** Returns the build state and placement of one function version. */
  async status(name: string, version: number): Promise<FleetStatus> {
    const [status] = await this.statuses([{ name, version }]);
    return status as FleetStatus;
  }

  /**
   * Returns the build state and placement of each function version, from
   * the latest reports of the connected agents.
   */
  async statuses(
    items: { name: string; version: number }[],
  ): Promise<FleetStatus[]> {
    const agents = this.connectedAgents();
    const reports = agents.flatMap((agent) =>
      agent.report ? [agent.report] : [],
    );
    const assignments = await this.currentAssignments();
    const byName = new Map(assignments.map((a) => [a.function, a]));

    return items.map(({ name, version }) => {
      const assignment = byName.get(name);
      const gpu = assignment ? gpuOfAssignment(assignment) : undefined;
      return {
        name,
        version,
        build: buildStatusOf(name, version, reports),
        placement: placementOf(gpu, agents),
      };
    });
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
      ws.serializeAttachment({
        agentId: report.agentId,
        sentDigest: state?.sentDigest ?? "",
      });
      log.info("agent identified", {
        agentId: report.agentId,
        hostname: report.hostname,
        runtime: report.runtime,
        gpus: report.gpus.length,
      });
    }

    // A report can change which GPU functions the agent can serve.
    const assignments = await this.currentAssignments();
    const servable = assignmentsForAgent(assignments, report);
    const digest = await digestOf(servable);
    const sentDigest = (ws.deserializeAttachment() as AgentState).sentDigest;
    if (digest !== sentDigest) {
      await this.sendAssignments(ws, assignments, report);
      log.info("assignments re-sent after report", {
        agentId: report.agentId,
        assignments: servable.map((a) => `${a.function}@${a.version}`),
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

  /**
   * Sends the socket the assignments its agent can serve and records their
   * digest. Returns how many were sent, or null when the send failed.
   */
  private async sendAssignments(
    socket: WebSocket,
    assignments: Assignment[],
    report: AgentReport | null,
  ): Promise<number | null> {
    const servable = assignmentsForAgent(assignments, report);
    const digest = await digestOf(servable);
    if (!trySend(socket, encodeFleetFrame({ assignments: servable }))) {
      return null;
    }

    const state = socket.deserializeAttachment() as AgentState | null;
    socket.serializeAttachment({
      agentId: state?.agentId ?? "",
      sentDigest: digest,
    });
    return servable.length;
  }

  /** Returns each connected agent once, with its latest report. */
  private connectedAgents(): ConnectedAgent[] {
    const agents = new Map<string, ConnectedAgent>();
    let unidentified = 0;
    for (const socket of this.ctx.getWebSockets(AGENT_TAG)) {
      if (socket.readyState !== WebSocket.OPEN) continue;
      const state = socket.deserializeAttachment() as AgentState | null;
      if (!state?.agentId) {
        // Connected but not yet reported: its GPUs are unknown.
        agents.set(`unidentified-${unidentified++}`, {
          agentId: "",
          report: null,
        });
        continue;
      }
      agents.set(state.agentId, {
        agentId: state.agentId,
        report: this.report(state.agentId),
      });
    }
    return [...agents.values()];
  }

  private report(agentId: string): AgentReport | null {
    const row = this.ctx.storage.sql
      .exec("SELECT report FROM reports WHERE agent_id = ?", agentId)
      .toArray()[0];
    return row ? (JSON.parse(row.report as string) as AgentReport) : null;
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

/** Returns the SHA-256 hex of an assignment list's function versions. */
async function digestOf(assignments: Assignment[]): Promise<string> {
  const key = assignments.map((a) => `${a.function}@${a.version}`).join("\n");
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(key),
  );
  return Array.from(new Uint8Array(digest), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}
