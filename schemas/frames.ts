/**
 * Plain TypeScript views of the frames in chalkcompute.capnp, with one encode
 * and one decode function per root struct. Components work with these
 * objects; only this module touches the generated Cap'n Proto classes.
 */
import * as capnp from "capnp-es";
import * as schema from "./chalkcompute.ts";

export const CODES = [
  "application",
  "notFound",
  "invalidArgument",
  "unavailable",
  "deadlineExceeded",
  "resourceExhausted",
  "aborted",
  "internal",
  "failedPrecondition",
  "unauthenticated",
] as const;

/** Status code of a failed call; the order matches the `Code` enum. */
export type Code = (typeof CODES)[number];

/** Codes that a retry policy may retry. */
export const TRANSIENT_CODES: ReadonlySet<Code> = new Set([
  "unavailable",
  "deadlineExceeded",
  "resourceExhausted",
  "aborted",
]);

/** A failure as it travels: the thrown error's class name, message and stack. */
export interface ErrorInfo {
  code: Code;
  type: string;
  message: string;
  stack: string;
  typeChain: string[];
}

/** A request to start a call; see `Submit` in the schema. */
export interface Submit {
  function: string;
  idempotencyKey: string;
  args: Uint8Array;
  subscribe: boolean;
  parentCallId: string;
  traceContext: string;
  /** Concurrency keys held by the calling chain, one entry per holder; absent means none. */
  heldKeys?: string[];
}

/** A request to stream a call's chunks from `fromSeq` on. */
export interface Subscribe {
  callId: string;
  fromSeq: number;
}

/** Caller to gateway, and gateway to one FunctionQueue. */
export interface CallerFrame {
  submits: Submit[];
  subscribes: Subscribe[];
}

/** Acknowledgement that a submit is durably stored. */
export interface Accepted {
  idempotencyKey: string;
  callId: string;
}

/** A failed submit (`idempotencyKey` set) or subscribe (`callId` set). */
export interface Rejected {
  idempotencyKey: string;
  callId: string;
  error: ErrorInfo;
}

interface ChunkHead {
  callId: string;
  seq: number;
  attempt: number;
}

/** One step of a call's output; `result`, `error` and `end` are final. */
export type Chunk = ChunkHead &
  (
    | { kind: "value"; data: Uint8Array }
    | { kind: "result"; data: Uint8Array }
    | { kind: "error"; error: ErrorInfo }
    | { kind: "end" }
  );

/** FunctionQueue to gateway to caller. */
export interface ServerFrame {
  accepted: Accepted[];
  rejected: Rejected[];
  chunks: Chunk[];
}

/** First frame of an agent's replica link. */
export interface LinkHello {
  freeSlots: number;
  running: string[];
}

/** Replica link, agent to FunctionQueue. */
export interface AgentFrame {
  hello: LinkHello | null;
  credits: number;
  chunks: Chunk[];
  draining: boolean;
}

/** One execution of a call, sent to a replica. */
export interface Run {
  callId: string;
  attempt: number;
  args: Uint8Array;
  deadlineMs: number;
  parentCallId: string;
  traceContext: string;
  /** Concurrency keys held by this call and its ancestors; absent means none. */
  heldKeys?: string[];
}

/** The queue has stored every chunk of this call attempt below `nextSeq`. */
export interface Ack {
  callId: string;
  attempt: number;
  nextSeq: number;
}

/** Replica link, FunctionQueue to agent. */
export interface QueueFrame {
  runs: Run[];
  acks: Ack[];
}

/** A function version an agent should serve. `spec` is FunctionSpec JSON. */
export interface Assignment {
  function: string;
  version: number;
  bundleHash: string;
  spec: string;
}

/** Fleet to agent. */
export interface FleetFrame {
  assignments: Assignment[];
}

/** State of one replica as its agent reports it. */
export interface ReplicaReport {
  replicaId: string;
  function: string;
  version: number;
  state: string;
  inFlight: number;
  cpuPercent: number;
  detail: string;
}

/** One GPU of an agent's host. */
export interface GpuInfo {
  model: string;
  uuid: string;
  memoryMiB: number;
  index: number;
  /** Replica holding it, or "" when free. */
  replicaId: string;
}

/** Agent to Fleet. */
export interface AgentReport {
  agentId: string;
  hostname: string;
  runtime: string;
  replicas: ReplicaReport[];
  gpus: GpuInfo[];
}

/** Worker to agent over gRPC. */
export interface WorkerMessage {
  ready: { functions: string[]; pid: number } | null;
  chunks: Chunk[];
  calls: CallerFrame | null;
}

/** Agent to worker over gRPC. */
export interface AgentMessage {
  runs: Run[];
  replies: ServerFrame | null;
  drain: boolean;
  relinked: boolean;
}

// ---------------------------------------------------------------------------
// Encoding helpers

function finish(message: capnp.Message): Uint8Array {
  return new Uint8Array(message.toArrayBuffer());
}

function open<T extends capnp.Struct>(
  bytes: Uint8Array | ArrayBuffer,
  type: capnp.StructCtor<T>,
): T {
  return new capnp.Message(bytes, false).getRoot(type);
}

function setData(init: (n: number) => capnp.Data, bytes: Uint8Array): void {
  init(bytes.byteLength).copyBuffer(bytes);
}

function copyData(data: capnp.Data): Uint8Array {
  return new Uint8Array(data.toUint8Array());
}

function writeTextList(
  init: (n: number) => capnp.List<string>,
  items: string[],
): void {
  const list = init(items.length);
  for (let i = 0; i < items.length; i++) list.set(i, items[i] as string);
}

function writeError(target: schema.ErrorInfo, error: ErrorInfo): void {
  target.code = CODES.indexOf(error.code) as schema.Code;
  target.type = error.type;
  target.message = error.message;
  target.stack = error.stack;
  writeTextList((n) => target._initTypeChain(n), error.typeChain);
}

function readError(source: schema.ErrorInfo): ErrorInfo {
  return {
    code: CODES[source.code] ?? "internal",
    type: source.type,
    message: source.message,
    stack: source.stack,
    typeChain: [...source.typeChain],
  };
}

function writeSubmit(target: schema.Submit, submit: Submit): void {
  target.function = submit.function;
  target.idempotencyKey = submit.idempotencyKey;
  setData((n) => target._initArgs(n), submit.args);
  target.subscribe = submit.subscribe;
  target.parentCallId = submit.parentCallId;
  target.traceContext = submit.traceContext;
  writeTextList((n) => target._initHeldKeys(n), submit.heldKeys ?? []);
}

function readSubmit(source: schema.Submit): Submit {
  return {
    function: source.function,
    idempotencyKey: source.idempotencyKey,
    args: copyData(source.args),
    subscribe: source.subscribe,
    parentCallId: source.parentCallId,
    traceContext: source.traceContext,
    heldKeys: [...source.heldKeys],
  };
}

function writeCallerFrame(
  target: schema.CallerFrame,
  frame: CallerFrame,
): void {
  const submits = target._initSubmits(frame.submits.length);
  frame.submits.forEach((s, i) => {
    writeSubmit(submits.get(i), s);
  });
  const subscribes = target._initSubscribes(frame.subscribes.length);
  frame.subscribes.forEach((s, i) => {
    const item = subscribes.get(i);
    item.callId = s.callId;
    item.fromSeq = s.fromSeq;
  });
}

function readCallerFrame(source: schema.CallerFrame): CallerFrame {
  return {
    submits: Array.from(source.submits, readSubmit),
    subscribes: Array.from(source.subscribes, (s) => ({
      callId: s.callId,
      fromSeq: s.fromSeq,
    })),
  };
}

function writeChunk(target: schema.Chunk, chunk: Chunk): void {
  target.callId = chunk.callId;
  target.seq = chunk.seq;
  target.attempt = chunk.attempt;
  switch (chunk.kind) {
    case "value":
      setData((n) => target._initValue(n), chunk.data);
      break;
    case "result":
      setData((n) => target._initResult(n), chunk.data);
      break;
    case "error":
      writeError(target._initError(), chunk.error);
      break;
    case "end":
      target.end = true;
      break;
  }
}

function readChunk(source: schema.Chunk): Chunk {
  const head = {
    callId: source.callId,
    seq: source.seq,
    attempt: source.attempt,
  };
  switch (source.which()) {
    case schema.Chunk_Which.VALUE:
      return { ...head, kind: "value", data: copyData(source.value) };
    case schema.Chunk_Which.RESULT:
      return { ...head, kind: "result", data: copyData(source.result) };
    case schema.Chunk_Which.ERROR:
      return { ...head, kind: "error", error: readError(source.error) };
    default:
      return { ...head, kind: "end" };
  }
}

function writeChunks(
  init: (n: number) => capnp.List<schema.Chunk>,
  chunks: Chunk[],
): void {
  const list = init(chunks.length);
  chunks.forEach((c, i) => {
    writeChunk(list.get(i), c);
  });
}

function writeServerFrame(
  target: schema.ServerFrame,
  frame: ServerFrame,
): void {
  const accepted = target._initAccepted(frame.accepted.length);
  frame.accepted.forEach((a, i) => {
    const item = accepted.get(i);
    item.idempotencyKey = a.idempotencyKey;
    item.callId = a.callId;
  });
  const rejected = target._initRejected(frame.rejected.length);
  frame.rejected.forEach((r, i) => {
    const item = rejected.get(i);
    item.idempotencyKey = r.idempotencyKey;
    item.callId = r.callId;
    writeError(item._initError(), r.error);
  });
  writeChunks((n) => target._initChunks(n), frame.chunks);
}

function readServerFrame(source: schema.ServerFrame): ServerFrame {
  return {
    accepted: Array.from(source.accepted, (a) => ({
      idempotencyKey: a.idempotencyKey,
      callId: a.callId,
    })),
    rejected: Array.from(source.rejected, (r) => ({
      idempotencyKey: r.idempotencyKey,
      callId: r.callId,
      error: readError(r.error),
    })),
    chunks: Array.from(source.chunks, readChunk),
  };
}

function writeRun(target: schema.Run, run: Run): void {
  target.callId = run.callId;
  target.attempt = run.attempt;
  setData((n) => target._initArgs(n), run.args);
  target.deadlineMs = run.deadlineMs;
  target.parentCallId = run.parentCallId;
  target.traceContext = run.traceContext;
  writeTextList((n) => target._initHeldKeys(n), run.heldKeys ?? []);
}

function readRun(source: schema.Run): Run {
  return {
    callId: source.callId,
    attempt: source.attempt,
    args: copyData(source.args),
    deadlineMs: source.deadlineMs,
    parentCallId: source.parentCallId,
    traceContext: source.traceContext,
    heldKeys: [...source.heldKeys],
  };
}

// ---------------------------------------------------------------------------
// Root structs

/** Serializes a CallerFrame. */
export function encodeCallerFrame(frame: CallerFrame): Uint8Array {
  const message = new capnp.Message();
  writeCallerFrame(message.initRoot(schema.CallerFrame), frame);
  return finish(message);
}

/** Deserializes a CallerFrame. */
export function decodeCallerFrame(
  bytes: Uint8Array | ArrayBuffer,
): CallerFrame {
  return readCallerFrame(open(bytes, schema.CallerFrame));
}

/** Serializes a ServerFrame. */
export function encodeServerFrame(frame: ServerFrame): Uint8Array {
  const message = new capnp.Message();
  writeServerFrame(message.initRoot(schema.ServerFrame), frame);
  return finish(message);
}

/** Deserializes a ServerFrame. */
export function decodeServerFrame(
  bytes: Uint8Array | ArrayBuffer,
): ServerFrame {
  return readServerFrame(open(bytes, schema.ServerFrame));
}

/** Serializes an AgentFrame. */
export function encodeAgentFrame(frame: AgentFrame): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(schema.AgentFrame);
  if (frame.hello) {
    const hello = root._initHello();
    hello.freeSlots = frame.hello.freeSlots;
    writeTextList((n) => hello._initRunning(n), frame.hello.running);
  }
  root.credits = frame.credits;
  writeChunks((n) => root._initChunks(n), frame.chunks);
  root.draining = frame.draining;
  return finish(message);
}

/** Deserializes an AgentFrame. */
export function decodeAgentFrame(bytes: Uint8Array | ArrayBuffer): AgentFrame {
  const root = open(bytes, schema.AgentFrame);
  return {
    hello: root._hasHello()
      ? { freeSlots: root.hello.freeSlots, running: [...root.hello.running] }
      : null,
    credits: root.credits,
    chunks: Array.from(root.chunks, readChunk),
    draining: root.draining,
  };
}

/** Serializes a QueueFrame. */
export function encodeQueueFrame(frame: QueueFrame): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(schema.QueueFrame);
  const runs = root._initRuns(frame.runs.length);
  frame.runs.forEach((r, i) => {
    writeRun(runs.get(i), r);
  });
  const acks = root._initAcks(frame.acks.length);
  frame.acks.forEach((a, i) => {
    const item = acks.get(i);
    item.callId = a.callId;
    item.attempt = a.attempt;
    item.nextSeq = a.nextSeq;
  });
  return finish(message);
}

/** Deserializes a QueueFrame. */
export function decodeQueueFrame(bytes: Uint8Array | ArrayBuffer): QueueFrame {
  const root = open(bytes, schema.QueueFrame);
  return {
    runs: Array.from(root.runs, readRun),
    acks: Array.from(root.acks, (a) => ({
      callId: a.callId,
      attempt: a.attempt,
      nextSeq: a.nextSeq,
    })),
  };
}

/** Serializes a FleetFrame. */
export function encodeFleetFrame(frame: FleetFrame): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(schema.FleetFrame);
  const list = root._initAssignments(frame.assignments.length);
  frame.assignments.forEach((a, i) => {
    const item = list.get(i);
    item.function = a.function;
    item.version = a.version;
    item.bundleHash = a.bundleHash;
    item.spec = a.spec;
  });
  return finish(message);
}

/** Deserializes a FleetFrame. */
export function decodeFleetFrame(bytes: Uint8Array | ArrayBuffer): FleetFrame {
  const root = open(bytes, schema.FleetFrame);
  return {
    assignments: Array.from(root.assignments, (a) => ({
      function: a.function,
      version: a.version,
      bundleHash: a.bundleHash,
      spec: a.spec,
    })),
  };
}

/** Serializes an AgentReport. */
export function encodeAgentReport(report: AgentReport): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(schema.AgentReport);
  root.agentId = report.agentId;
  root.hostname = report.hostname;
  root.runtime = report.runtime;
  const list = root._initReplicas(report.replicas.length);
  report.replicas.forEach((r, i) => {
    const item = list.get(i);
    item.replicaId = r.replicaId;
    item.function = r.function;
    item.version = r.version;
    item.state = r.state;
    item.inFlight = r.inFlight;
    item.cpuPercent = r.cpuPercent;
    item.detail = r.detail;
  });
  const gpus = root._initGpus(report.gpus.length);
  report.gpus.forEach((g, i) => {
    const item = gpus.get(i);
    item.model = g.model;
    item.uuid = g.uuid;
    item.memoryMiB = g.memoryMiB;
    item.index = g.index;
    item.replicaId = g.replicaId;
  });
  return finish(message);
}

/** Deserializes an AgentReport. */
export function decodeAgentReport(
  bytes: Uint8Array | ArrayBuffer,
): AgentReport {
  const root = open(bytes, schema.AgentReport);
  return {
    agentId: root.agentId,
    hostname: root.hostname,
    runtime: root.runtime,
    replicas: Array.from(root.replicas, (r) => ({
      replicaId: r.replicaId,
      function: r.function,
      version: r.version,
      state: r.state,
      inFlight: r.inFlight,
      cpuPercent: r.cpuPercent,
      detail: r.detail,
    })),
    gpus: Array.from(root.gpus, (g) => ({
      model: g.model,
      uuid: g.uuid,
      memoryMiB: g.memoryMiB,
      index: g.index,
      replicaId: g.replicaId,
    })),
  };
}

/** Serializes a WorkerMessage. */
export function encodeWorkerMessage(msg: WorkerMessage): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(schema.WorkerMessage);
  if (msg.ready) {
    const ready = root._initReady();
    writeTextList((n) => ready._initFunctions(n), msg.ready.functions);
    ready.pid = msg.ready.pid;
  }
  writeChunks((n) => root._initChunks(n), msg.chunks);
  if (msg.calls) writeCallerFrame(root._initCalls(), msg.calls);
  return finish(message);
}

/** Deserializes a WorkerMessage. */
export function decodeWorkerMessage(
  bytes: Uint8Array | ArrayBuffer,
): WorkerMessage {
  const root = open(bytes, schema.WorkerMessage);
  return {
    ready: root._hasReady()
      ? { functions: [...root.ready.functions], pid: root.ready.pid }
      : null,
    chunks: Array.from(root.chunks, readChunk),
    calls: root._hasCalls() ? readCallerFrame(root.calls) : null,
  };
}

/** Serializes an AgentMessage. */
export function encodeAgentMessage(msg: AgentMessage): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(schema.AgentMessage);
  const runs = root._initRuns(msg.runs.length);
  msg.runs.forEach((r, i) => {
    writeRun(runs.get(i), r);
  });
  if (msg.replies) writeServerFrame(root._initReplies(), msg.replies);
  root.drain = msg.drain;
  root.relinked = msg.relinked;
  return finish(message);
}

/** Deserializes an AgentMessage. */
export function decodeAgentMessage(
  bytes: Uint8Array | ArrayBuffer,
): AgentMessage {
  const root = open(bytes, schema.AgentMessage);
  return {
    runs: Array.from(root.runs, readRun),
    replies: root._hasReplies() ? readServerFrame(root.replies) : null,
    drain: root.drain,
    relinked: root.relinked,
  };
}
