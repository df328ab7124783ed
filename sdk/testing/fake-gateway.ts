import { createHash } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import {
  decodeCallerFrame,
  encodeServerFrame,
  type ServerFrame,
} from "../../schemas/frames.ts";
import type { FunctionSpec } from "../../schemas/spec.ts";
import { LocalQueue } from "./local-queue.ts";

/** A build state as `GET /v1/functions/{name}` reports it. */
export interface BuildReport {
  state: "building" | "failed" | "ready" | "none";
  detail: string;
}

/**
 * A gateway for SDK tests on 127.0.0.1: the HTTP routes the SDK uses
 * (bundles, deploy, function status with build and placement, secrets,
 * logs) and `/v1/connect` backed
 * by a LocalQueue that runs handlers in this process.
 */
export class FakeGateway {
  readonly token = "test-token";
  readonly queue = new LocalQueue();
  /** Uploaded bundles by sha256. */
  readonly bundles = new Map<string, Uint8Array>();
  /** Bodies of every `POST /v1/deploy`. */
  readonly deploys: FunctionSpec[][] = [];
  /** Current version per function name. */
  readonly versions = new Map<string, number>();
  /** `GET /v1/functions/{name}` returns "pending" this many times first. */
  pendingPolls = 0;
  /** Every request as "METHOD /path". */
  readonly requests: string[] = [];
  /** Secret groups by name, as `PUT /v1/secrets/{group}` stored them. */
  readonly secrets = new Map<string, Record<string, string>>();
  /**
   * Build states that `GET /v1/functions/{name}` returns, one per poll; the
   * last one repeats. Absent means no `build` field.
   */
  readonly builds = new Map<string, BuildReport[]>();
  /** Placement that `GET /v1/functions/{name}` returns; absent means ok. */
  readonly placements = new Map<string, { ok: boolean; message?: string }>();
  /** Stored log lines of every function, oldest first. */
  readonly logs: Record<string, unknown>[] = [];
  private readonly logFollowers = new Set<{
    name: string;
    res: ServerResponse;
  }>();
  private readonly server = createServer((req, res) => {
    void this.handle(req, res);
  });
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<WebSocket>();
  /** Frames to the caller are dropped while this is true. */
  dropServerFrames = false;

  /** Starts listening on a free loopback port. */
  async start(): Promise<void> {
    this.server.on("upgrade", (req, socket, head) => {
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        socket.end("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
    await new Promise<void>((resolve) => {
      this.server.listen(0, "127.0.0.1", resolve);
    });
  }

  /** Base URL, e.g. http://127.0.0.1:40123. */
  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Number of open caller sockets. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Closes every caller socket with `code`, as the gateway does when a queue hop closes. */
  dropConnections(code = 1012): void {
    for (const socket of this.sockets) socket.close(code, "queue closed");
  }

  /** Stores a log line and sends it to every follower of its function. */
  appendLog(line: Record<string, unknown>): void {
    this.logs.push(line);
    for (const follower of this.logFollowers) {
      if (follower.name === line.function) {
        follower.res.write(`${JSON.stringify(line)}\n`);
      }
    }
  }

  /** Ends every followed log response. */
  endLogStreams(): void {
    for (const follower of this.logFollowers) follower.res.end();
    this.logFollowers.clear();
  }

  /** Stops the server and closes every socket. */
  async stop(): Promise<void> {
    this.endLogStreams();
    for (const socket of this.sockets) socket.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(ws: WebSocket): void {
    this.sockets.add(ws);
    const connection = this.queue.connect((frame) => {
      if (this.dropServerFrames || ws.readyState !== WebSocket.OPEN) return;
      const full: ServerFrame = {
        accepted: frame.accepted ?? [],
        rejected: frame.rejected ?? [],
        chunks: frame.chunks ?? [],
      };
      ws.send(encodeServerFrame(full));
    });
    ws.on("message", (data: Buffer) => {
      connection.receive(decodeCallerFrame(new Uint8Array(data)));
    });
    ws.on("close", () => {
      this.sockets.delete(ws);
      connection.close();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const path = req.url ?? "/";
    this.requests.push(`${req.method} ${path}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      return reply(res, 401, {
        error: { type: "unauthenticated", message: "missing or wrong token" },
      });
    }

    const body = await readBody(req);
    const bundle = path.match(/^\/v1\/bundles\/([0-9a-f]{64})$/);
    if (req.method === "PUT" && bundle) {
      const hash = createHash("sha256").update(body).digest("hex");
      if (hash !== bundle[1]) {
        return reply(res, 400, {
          error: { type: "invalidArgument", message: "hash mismatch" },
        });
      }
      this.bundles.set(hash, body);
      return reply(res, 200, { hash });
    }
    if (req.method === "POST" && path === "/v1/deploy") {
      return this.deploy(res, JSON.parse(body.toString()));
    }
    const url = new URL(path, "http://localhost");
    const fn = url.pathname.match(/^\/v1\/functions\/([^/]+)$/);
    if (req.method === "GET" && fn) return this.functionStatus(res, fn[1]);
    const logs = url.pathname.match(/^\/v1\/functions\/([^/]+)\/logs$/);
    if (req.method === "GET" && logs) return this.serveLogs(res, url, logs[1]);
    if (url.pathname.startsWith("/v1/secrets")) {
      return this.handleSecrets(req.method ?? "", url.pathname, body, res);
    }
    return reply(res, 404, {
      error: { type: "notFound", message: `no route ${path}` },
    });
  }

  private deploy(res: ServerResponse, body: { functions: FunctionSpec[] }) {
    for (const spec of body.functions) {
      const missing = spec.secrets?.find((group) => !this.secrets.has(group));
      if (missing) {
        return reply(res, 400, {
          error: {
            type: "invalidArgument",
            message: `secret group ${missing} does not exist`,
          },
        });
      }
    }
    this.deploys.push(body.functions);
    const functions = body.functions.map((spec) => {
      const version = (this.versions.get(spec.name) ?? 0) + 1;
      this.versions.set(spec.name, version);
      return { name: spec.name, version, changed: true };
    });
    return reply(res, 200, { functions });
  }

  private handleSecrets(
    method: string,
    path: string,
    body: Buffer,
    res: ServerResponse,
  ) {
    if (method === "GET" && path === "/v1/secrets") {
      const groups = [...this.secrets].map(([name, values]) => ({
        name,
        keys: Object.keys(values),
        updatedAt: 1_700_000_000_000,
      }));
      return reply(res, 200, { groups });
    }
    const group = decodeURIComponent(path.slice("/v1/secrets/".length));
    if (method === "PUT") {
      this.secrets.set(group, JSON.parse(body.toString()).values);
      return reply(res, 200, { name: group });
    }
    if (method === "DELETE" && this.secrets.delete(group)) {
      return reply(res, 200, { deleted: group });
    }
    return reply(res, 404, {
      error: { type: "notFound", message: `secret group ${group} not found` },
    });
  }

  private serveLogs(res: ServerResponse, url: URL, name = "") {
    const tail = Number(url.searchParams.get("tail") ?? 100);
    const lines = this.logs.filter((l) => l.function === name).slice(-tail);
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    for (const line of lines) res.write(`${JSON.stringify(line)}\n`);
    if (url.searchParams.get("follow") === "1") {
      this.logFollowers.add({ name, res });
      return;
    }
    res.end();
  }

  private functionStatus(res: ServerResponse, name = "") {
    const version = this.versions.get(name);
    if (version === undefined) {
      return reply(res, 404, {
        error: { type: "notFound", message: `function ${name} not found` },
      });
    }
    const ready = this.pendingPolls <= 0;
    this.pendingPolls--;
    const builds = this.builds.get(name);
    const build = builds && builds.length > 1 ? builds.shift() : builds?.[0];
    return reply(res, 200, {
      name,
      version,
      status: ready ? "ready" : "pending",
      ...(build ? { build } : {}),
      placement: this.placements.get(name) ?? { ok: true },
    });
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}
