/**
 * A stand-in for the gateway in agent tests: one HTTP server on 127.0.0.1
 * that serves bundles, secrets and the log route, and accepts the agent's
 * WebSockets (Fleet link, replica links, nested-call connection), recording
 * every frame and log line.
 */
import { createHash } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import {
  type AgentFrame,
  type AgentReport,
  type Assignment,
  type CallerFrame,
  decodeAgentFrame,
  decodeAgentReport,
  decodeCallerFrame,
  encodeFleetFrame,
  encodeQueueFrame,
  encodeServerFrame,
  type Run,
  type ServerFrame,
} from "../../schemas/frames.ts";
import type { LogLine } from "../log-shipper.ts";

/** One accepted replica link and the frames it sent. */
export interface FakeLink {
  function: string;
  agent: string;
  replica: string;
  version: number;
  socket: WebSocket;
  frames: AgentFrame[];
  closed: boolean;
  /** Sends runs to the replica. */
  sendRuns(runs: Run[]): void;
}

/** One accepted `/v1/connect` connection and the frames it sent. */
export interface FakeConnect {
  socket: WebSocket;
  frames: CallerFrame[];
  send(frame: ServerFrame): void;
}

/** A fake gateway; see the module comment. */
export class FakeGateway {
  readonly bundles = new Map<string, Uint8Array>();
  readonly reports: AgentReport[] = [];
  readonly links: FakeLink[] = [];
  readonly connects: FakeConnect[] = [];
  readonly fleetSockets: WebSocket[] = [];
  /** Requests for bundles, by hash. */
  readonly bundleRequests: string[] = [];
  /** Secret environment served to replicas, by function name. */
  readonly secrets = new Map<string, Record<string, string>>();
  /** Replica output lines the agent shipped. */
  readonly logLines: LogLine[] = [];
  private assignments: Assignment[] = [];
  private readonly server: Server;
  private readonly wss = new WebSocketServer({ noServer: true });

  private constructor(readonly token: string) {
    this.server = createServer((request, response) =>
      this.onRequest(request, response),
    );
    this.server.on("upgrade", (request, socket, head) => {
      if (request.headers.authorization !== `Bearer ${this.token}`) {
        socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) =>
        this.onSocket(ws, request),
      );
    });
  }

  /** Starts a fake gateway on a free port of 127.0.0.1. */
  static async start(token = "test-token"): Promise<FakeGateway> {
    const gateway = new FakeGateway(token);
    await new Promise<void>((resolve) =>
      gateway.server.listen(0, "127.0.0.1", resolve),
    );
    return gateway;
  }

  /** Base URL, http://127.0.0.1:PORT. */
  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Stores a bundle and returns its sha256. */
  addBundle(code: Uint8Array): string {
    const hash = createHash("sha256").update(code).digest("hex");
    this.bundles.set(hash, code);
    return hash;
  }

  /** Sets the assignments and sends them to every connected agent. */
  assign(assignments: Assignment[]): void {
    this.assignments = assignments;
    const frame = encodeFleetFrame({ assignments });
    for (const socket of this.fleetSockets) {
      if (socket.readyState === WebSocket.OPEN) socket.send(frame);
    }
  }

  /** Returns the chunks sent on every link of one replica, in arrival order. */
  chunksOf(replica: string): AgentFrame["chunks"] {
    return this.links
      .filter((link) => link.replica === replica)
      .flatMap((link) => link.frames.flatMap((frame) => frame.chunks));
  }

  /** Closes every socket and the server. */
  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    if (request.headers.authorization !== `Bearer ${this.token}`) {
      response.writeHead(401).end();
      return;
    }
    const secrets = /^\/v1\/agent\/functions\/([^/]+)\/secrets\?/.exec(
      request.url ?? "",
    );
    const env = secrets && this.secrets.get(secrets[1] as string);
    if (env) {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ env }));
      return;
    }
    if (request.url === "/v1/agent/logs" && request.method === "POST") {
      let body = "";
      request.on("data", (data: Buffer) => {
        body += data.toString();
      });
      request.on("end", () => {
        const { lines } = JSON.parse(body) as { lines: LogLine[] };
        this.logLines.push(...lines);
        response.writeHead(200).end("{}");
      });
      return;
    }
    const match = /^\/v1\/bundles\/([0-9a-f]{64})$/.exec(request.url ?? "");
    const bundle = match ? this.bundles.get(match[1] as string) : undefined;
    if (match) this.bundleRequests.push(match[1] as string);
    if (!bundle) {
      response.writeHead(404).end('{"error":{"type":"NotFound"}}');
      return;
    }
    response.writeHead(200, { "content-type": "text/javascript" });
    response.end(bundle);
  }

  private onSocket(socket: WebSocket, request: IncomingMessage): void {
    const url = new URL(request.url ?? "/", "http://localhost");
    const link = /^\/v1\/agent\/functions\/([^/]+)\/link$/.exec(url.pathname);

    if (url.pathname === "/v1/agent/fleet") {
      this.fleetSockets.push(socket);
      socket.on("message", (data: Buffer) => {
        this.reports.push(decodeAgentReport(new Uint8Array(data)));
      });
      socket.send(encodeFleetFrame({ assignments: this.assignments }));
    } else if (link) {
      this.acceptLink(socket, decodeURIComponent(link[1] as string), url);
    } else if (url.pathname === "/v1/connect") {
      const connect: FakeConnect = {
        socket,
        frames: [],
        send: (frame) => socket.send(encodeServerFrame(frame)),
      };
      socket.on("message", (data: Buffer) => {
        connect.frames.push(decodeCallerFrame(new Uint8Array(data)));
      });
      this.connects.push(connect);
    } else {
      socket.close(4004, "unknown route");
    }
  }

  private acceptLink(socket: WebSocket, name: string, url: URL): void {
    const link: FakeLink = {
      function: name,
      agent: url.searchParams.get("agent") ?? "",
      replica: url.searchParams.get("replica") ?? "",
      version: Number(url.searchParams.get("version")),
      socket,
      frames: [],
      closed: false,
      sendRuns: (runs) => socket.send(encodeQueueFrame({ runs, acks: [] })),
    };
    socket.on("message", (data: Buffer) => {
      const frame = decodeAgentFrame(new Uint8Array(data));
      link.frames.push(frame);
      // Acknowledge stored chunks as the queue does, so closing links do not
      // wait for acknowledgements that never come.
      const acks = frame.chunks.map((chunk) => ({
        callId: chunk.callId,
        attempt: chunk.attempt,
        nextSeq: chunk.seq + 1,
      }));
      if (acks.length > 0) socket.send(encodeQueueFrame({ runs: [], acks }));
    });
    socket.on("close", () => {
      link.closed = true;
    });
    this.links.push(link);
  }
}

/** Polls `check` until it returns a value other than undefined or false. */
export async function waitFor<T>(
  check: () => T | undefined | false,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
