/**
 * Helpers for the workerd tests: fresh function names, specs, and test
 * WebSocket clients that speak the caller and link protocols.
 */
import { env } from "cloudflare:workers";
import {
  type Ack,
  type AgentFrame,
  type CallerFrame,
  type Chunk,
  decodeFleetFrame,
  decodeQueueFrame,
  decodeServerFrame,
  type ErrorInfo,
  encodeAgentFrame,
  encodeCallerFrame,
  type FleetFrame,
  type QueueFrame,
  type Run,
  type ServerFrame,
} from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";
import { decodeValue, encodeValue } from "../schemas/values.ts";
import { queueStub } from "./env.ts";

/** Sha256 hex used as a placeholder bundle hash. */
export const FAKE_BUNDLE = "0".repeat(64);

/** Returns a function name that no other test uses. */
export function freshName(prefix = "fn"): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** Builds a valid spec with defaults for what the test does not set. */
export function makeSpec(
  name: string,
  overrides: Partial<FunctionSpec> = {},
): FunctionSpec {
  return {
    name,
    generator: false,
    concurrency: 1,
    timeoutSeconds: 300,
    module: "test.ts",
    bundleHash: FAKE_BUNDLE,
    ...overrides,
  };
}

/** Configures a function's queue directly, as the Catalog would. */
export async function configureQueue(
  name: string,
  overrides: Partial<FunctionSpec> = {},
  version = 1,
) {
  const stub = queueStub(env, name);
  await stub.configure(makeSpec(name, overrides), version);
  return stub;
}

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs`. */
export async function until<T>(
  check: () => T | Promise<T>,
  description: string,
  timeoutMs = 3000,
): Promise<NonNullable<T>> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() - start > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${description}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits `ms` milliseconds, for checks that something did not happen. */
export function settle(ms = 100): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A WebSocket client that buffers binary messages and records the close. */
export class TestSocket {
  readonly messages: ArrayBuffer[] = [];
  closeEvent: { code: number; reason: string } | null = null;
  private read = 0;

  constructor(readonly socket: WebSocket) {
    socket.binaryType = "arraybuffer";
    socket.accept();
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") this.messages.push(event.data);
    });
    socket.addEventListener("close", (event) => {
      this.closeEvent = { code: event.code, reason: event.reason };
    });
  }

  /** Upgrades through a fetcher and wraps the socket; fails on another status. */
  static async open(
    fetcher: { fetch(input: string, init?: RequestInit): Promise<Response> },
    url: string,
    headers: Record<string, string> = {},
  ): Promise<TestSocket> {
    const response = await fetcher.fetch(url, {
      headers: { Upgrade: "websocket", ...headers },
    });
    if (!response.webSocket) {
      throw new Error(
        `upgrade of ${url} failed with HTTP ${response.status}: ${await response.text()}`,
      );
    }
    return new TestSocket(response.webSocket);
  }

  /** Resolves with the next unread message. */
  async next(
    description = "a message",
    timeoutMs = 3000,
  ): Promise<ArrayBuffer> {
    await until(() => this.messages.length > this.read, description, timeoutMs);
    const message = this.messages[this.read] as ArrayBuffer;
    this.read++;
    return message;
  }

  /** Number of messages received but not read yet. */
  get unread(): number {
    return this.messages.length - this.read;
  }

  /** Resolves with the close code once the peer closed the socket. */
  async closed(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    const event = await until(
      () => this.closeEvent,
      "the socket to close",
      timeoutMs,
    );
    return event as { code: number; reason: string };
  }

  close(code = 1000, reason = "test done"): void {
    try {
      this.socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }
}

/** Test side of a caller connection: sends CallerFrames, reads ServerFrames. */
export class TestCaller {
  constructor(readonly ws: TestSocket) {}

  /** Opens a caller connection straight to a queue. */
  static async toQueue(name: string): Promise<TestCaller> {
    return new TestCaller(
      await TestSocket.open(queueStub(env, name), "https://queue/caller"),
    );
  }

  send(frame: Partial<CallerFrame>): void {
    this.ws.socket.send(
      encodeCallerFrame({ submits: [], subscribes: [], ...frame }),
    );
  }

  /** Sends one submit of `args` with the key and function given. */
  submit(
    name: string,
    idempotencyKey: string,
    args: unknown[] = [],
    subscribe = true,
    heldKeys: string[] = [],
  ): void {
    this.send({
      submits: [
        {
          function: name,
          idempotencyKey,
          args: encodeValue(args, "args"),
          subscribe,
          parentCallId: "",
          traceContext: "",
          heldKeys,
        },
      ],
    });
  }

  async frame(description = "a ServerFrame"): Promise<ServerFrame> {
    return decodeServerFrame(await this.ws.next(description));
  }

  /** Reads frames until `count` chunks arrived, and returns them. */
  async chunks(count: number): Promise<Chunk[]> {
    const chunks: Chunk[] = [];
    while (chunks.length < count) {
      chunks.push(...(await this.frame(`${count} chunks`)).chunks);
    }
    return chunks;
  }

  /** Submits and returns the call id from the Accepted. */
  async call(
    name: string,
    args: unknown[] = [],
    subscribe = true,
    heldKeys: string[] = [],
  ) {
    const key = crypto.randomUUID();
    this.submit(name, key, args, subscribe, heldKeys);
    const frame = await this.frame("Accepted");
    const accepted = frame.accepted.find((a) => a.idempotencyKey === key);
    if (!accepted) {
      throw new Error(`submit ${key} not accepted: ${JSON.stringify(frame)}`);
    }
    return accepted.callId;
  }
}

/** Identity of a test replica link. */
export interface LinkIdentity {
  agent?: string;
  replica?: string;
  version?: number;
}

/** Test side of a replica link: sends AgentFrames, reads QueueFrames. */
export class TestLink {
  readonly replica: string;

  constructor(
    readonly ws: TestSocket,
    replica: string,
  ) {
    this.replica = replica;
  }

  /** Opens a link straight to a queue. */
  static async toQueue(
    name: string,
    identity: LinkIdentity = {},
  ): Promise<TestLink> {
    const replica = identity.replica ?? `r-${crypto.randomUUID().slice(0, 8)}`;
    const query = new URLSearchParams({
      agent: identity.agent ?? "agent-1",
      replica,
      version: String(identity.version ?? 1),
    });
    const ws = await TestSocket.open(
      queueStub(env, name),
      `https://queue/link?${query}`,
    );
    return new TestLink(ws, replica);
  }

  /** Acknowledgements received so far, in order. */
  readonly acks: Ack[] = [];
  private readonly nextSeqs = new Map<string, number>();

  /**
   * Sends an AgentFrame. Chunks are numbered per call attempt as an agent
   * numbers them, unless `rawSeq` keeps the seqs given.
   */
  send(frame: Partial<AgentFrame>, options: { rawSeq?: boolean } = {}): void {
    const chunks = (frame.chunks ?? []).map((chunk) => {
      if (options.rawSeq) return chunk;
      const key = `${chunk.callId}#${chunk.attempt}`;
      const seq = this.nextSeqs.get(key) ?? 0;
      this.nextSeqs.set(key, seq + 1);
      return { ...chunk, seq };
    });
    this.ws.socket.send(
      encodeAgentFrame({
        hello: null,
        credits: 0,
        draining: false,
        ...frame,
        chunks,
      }),
    );
  }

  hello(freeSlots: number, running: string[] = []): void {
    this.send({ hello: { freeSlots, running } });
  }

  /** Returns the next QueueFrame with runs, collecting acks on the way. */
  async frame(description = "a QueueFrame"): Promise<QueueFrame> {
    for (;;) {
      const frame = decodeQueueFrame(await this.ws.next(description));
      this.acks.push(...frame.acks);
      if (frame.runs.length > 0 || frame.acks.length === 0) return frame;
    }
  }

  /** Reads every unread QueueFrame without waiting, and returns their runs. */
  async drainRuns(): Promise<Run[]> {
    const runs: Run[] = [];
    while (this.ws.unread > 0) {
      const frame = decodeQueueFrame(await this.ws.next());
      this.acks.push(...frame.acks);
      runs.push(...frame.runs);
    }
    return runs;
  }

  /** Waits for the next acknowledgement frame and returns its acks. */
  async nextAcks(): Promise<Ack[]> {
    for (;;) {
      const frame = decodeQueueFrame(await this.ws.next("an ack frame"));
      this.acks.push(...frame.acks);
      if (frame.acks.length > 0) return frame.acks;
    }
  }

  /** Sends the final `error` chunk of a run, as the first chunk. */
  fail(callId: string, attempt: number, error: ErrorInfo, credits = 1): void {
    this.send({
      credits,
      chunks: [{ callId, seq: 0, attempt, kind: "error", error }],
    });
  }

  /** Sends the final `result` chunk of a run. */
  result(callId: string, attempt: number, value: unknown, credits = 1): void {
    this.send({
      credits,
      chunks: [
        {
          callId,
          seq: 0,
          attempt,
          kind: "result",
          data: encodeValue(value),
        },
      ],
    });
  }
}

/** Builds the ErrorInfo of an application error of class `typeChain[0]`. */
export function appError(typeChain: string[], message = "boom"): ErrorInfo {
  return {
    code: "application",
    type: typeChain[0] ?? "Error",
    message,
    stack: "",
    typeChain,
  };
}

/** Returns the error code of an error chunk, or undefined for other chunks. */
export function errorCode(chunk: Chunk | undefined): string | undefined {
  return chunk?.kind === "error" ? chunk.error.code : undefined;
}

/** Returns the decoded value of a value chunk, or undefined for other chunks. */
export function chunkValue(chunk: Chunk | undefined): unknown {
  return chunk?.kind === "value" ? decodeValue(chunk.data) : undefined;
}

/** Reads a FleetFrame from an agent's control socket. */
export async function nextFleetFrame(ws: TestSocket): Promise<FleetFrame> {
  return decodeFleetFrame(await ws.next("a FleetFrame"));
}
