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

/**
 * A gateway for SDK tests on 127.0.0.1: the HTTP routes the SDK uses
 * (bundles, deploy, function status, call status) and `/v1/connect` backed
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
  /** `GET /v1/functions/{name}` answers "pending" this many times first. */
  pendingPolls = 0;
  /** Every request as "METHOD /path". */
  readonly requests: string[] = [];
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

  /** Stops the server and closes every socket. */
  async stop(): Promise<void> {
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
      return reply(res, 200, this.deploy(JSON.parse(body.toString())));
    }
    const fn = path.match(/^\/v1\/functions\/([^/]+)$/);
    if (req.method === "GET" && fn) return this.functionStatus(res, fn[1]);
    return reply(res, 404, {
      error: { type: "notFound", message: `no route ${path}` },
    });
  }

  private deploy(body: { functions: FunctionSpec[] }) {
    this.deploys.push(body.functions);
    const functions = body.functions.map((spec) => {
      const version = (this.versions.get(spec.name) ?? 0) + 1;
      this.versions.set(spec.name, version);
      return { name: spec.name, version, changed: true };
    });
    return { functions };
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
    return reply(res, 200, {
      name,
      version,
      status: ready ? "ready" : "pending",
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
