@0xc4a7b3e2d1f09a58;

# Every frame that crosses a process boundary in chalkcompute. Each WebSocket
# message and each gRPC message carries exactly one root struct of this file,
# serialized unpacked. Lists let one frame carry many items: a Durable Object
# pays per message, so senders coalesce everything produced in one tick.
#
# Regenerate the TypeScript with `npm run schemas`.

# ---------------------------------------------------------------------------
# Values

# A JavaScript value: what JSON carries plus undefined, bigint, Uint8Array,
# Date, Map and Set, nested to any depth. Arguments travel as an `array` of
# the positional arguments.
struct Value {
  union {
    undefined @0 :Void;
    null @1 :Void;
    bool @2 :Bool;
    number @3 :Float64;
    string @4 :Text;
    bigint @5 :Text;        # decimal digits with an optional leading "-"
    bytes @6 :Data;
    date @7 :Float64;       # milliseconds since the Unix epoch; NaN for an invalid Date
    array @8 :List(Value);
    object @9 :List(Field); # plain objects only, in key insertion order
    map @10 :List(Entry);
    set @11 :List(Value);
  }
}

struct Field {
  key @0 :Text;
  value @1 :Value;
}

struct Entry {
  key @0 :Value;
  value @1 :Value;
}

# ---------------------------------------------------------------------------
# Errors

# Status codes, in the gRPC sense. UNAVAILABLE, DEADLINE_EXCEEDED,
# RESOURCE_EXHAUSTED and ABORTED are transient: the retry policy may retry
# them. APPLICATION means the user's handler threw.
enum Code {
  application @0;
  notFound @1;
  invalidArgument @2;
  unavailable @3;
  deadlineExceeded @4;
  resourceExhausted @5;
  aborted @6;
  internal @7;
  failedPrecondition @8;
  unauthenticated @9;
}

struct ErrorInfo {
  code @0 :Code;
  type @1 :Text;          # class name of the thrown error, e.g. "RangeError"
  message @2 :Text;       # the error's own message, without the type prefix
  stack @3 :Text;         # stack trace where it was thrown, if any
  typeChain @4 :List(Text); # `type` followed by the names of its base classes
}

# ---------------------------------------------------------------------------
# Caller <-> gateway <-> FunctionQueue
#
# The SDK keeps one WebSocket to the gateway (`GET /v1/connect`) and sends
# CallerFrames. The gateway splits each frame by function and forwards the
# parts to each function's FunctionQueue over one WebSocket per queue; the
# queues' ServerFrames are relayed back unchanged. When any hop closes, the
# gateway closes the caller's socket and the caller reconnects, resubmitting
# unacknowledged submits (same idempotency keys) and resubscribing every open
# call from the sequence number after the last chunk it received.

struct CallerFrame {
  submits @0 :List(Submit);
  subscribes @1 :List(Subscribe);
}

struct Submit {
  function @0 :Text;
  # Chosen by the caller, unique per call. A queue that already accepted this
  # key returns the same call id instead of creating a second call.
  idempotencyKey @1 :Text;
  args @2 :Data;           # a serialized Value holding an array
  subscribe @3 :Bool;      # stream this call's chunks back on this connection
  parentCallId @4 :Text;   # set when the call is made from inside a running call
  traceContext @5 :Text;   # W3C traceparent of the caller, if traced
  # Concurrency keys whose permits the calling chain holds, one entry per
  # holding ancestor; set by the agent that relays a nested call.
  heldKeys @6 :List(Text);
}

struct Subscribe {
  callId @0 :Text;         # the function name is part of the id, see CallId
  fromSeq @1 :UInt32;      # first chunk wanted; 0 replays the whole call
}

struct ServerFrame {
  accepted @0 :List(Accepted);
  rejected @1 :List(Rejected);
  chunks @2 :List(Chunk);
}

# Sent once the call is durably stored.
struct Accepted {
  idempotencyKey @0 :Text;
  callId @1 :Text;
}

# A submit or subscribe that failed: unknown function or call, malformed
# arguments, a nested call that would deadlock.
struct Rejected {
  idempotencyKey @0 :Text; # set for a rejected submit
  callId @1 :Text;         # set for a rejected subscribe
  error @2 :ErrorInfo;
}

# One step of a call's output. Every call ends with exactly one final chunk
# (`result`, `error` or `end`); a generator yields `value` chunks before it.
# Sequence numbers start at 0 and have no gaps, so a reader that saw seq n
# resumes from n + 1 and never sees a chunk twice.
#
# On a replica link the agent numbers each attempt's chunks from 0 and the
# queue stores a chunk only if its seq is the next one it expects, so a chunk
# resent after a reconnect is dropped instead of stored twice. A retry happens
# only before the first chunk, so the stored numbering is the agent's.
struct Chunk {
  callId @0 :Text;
  seq @1 :UInt32;
  attempt @2 :UInt32;      # execution that produced the chunk; stale attempts are dropped
  union {
    value @3 :Data;        # a yielded value (serialized Value)
    result @4 :Data;       # the return value (serialized Value); final
    error @5 :ErrorInfo;   # final
    end @6 :Void;          # the generator returned; final
  }
}

# ---------------------------------------------------------------------------
# Fleet agent <-> FunctionQueue: one WebSocket per replica
# (`GET /v1/agent/functions/{name}/link?agent=...&replica=...&version=...`).

struct AgentFrame {
  # First frame on every (re)connected link. The queue requeues calls leased
  # to this replica that are missing from `running`.
  hello @0 :LinkHello;
  # Slots freed since the last frame: the queue may dispatch this many more
  # calls to the replica. Credits are never granted implicitly.
  credits @1 :UInt32;
  chunks @2 :List(Chunk);
  # Set when the replica will take no more work (a newer version replaced it,
  # or the agent is shutting down); calls already running still report.
  draining @3 :Bool;
}

struct LinkHello {
  freeSlots @0 :UInt32;
  running @1 :List(Text);  # call ids this replica is executing right now
}

struct QueueFrame {
  runs @0 :List(Run);
  # Chunks the queue has stored, per call: the agent may forget every chunk
  # of that call below `nextSeq`, and resends the rest after a reconnect.
  acks @1 :List(Ack);
}

struct Ack {
  callId @0 :Text;
  attempt @1 :UInt32;
  nextSeq @2 :UInt32;
}

struct Run {
  callId @0 :Text;
  attempt @1 :UInt32;      # 1 for the first execution
  args @2 :Data;
  deadlineMs @3 :Float64;  # epoch milliseconds after which the attempt has failed
  parentCallId @4 :Text;
  traceContext @5 :Text;
  heldKeys @6 :List(Text); # the Submit's heldKeys plus this call's own key
}

# ---------------------------------------------------------------------------
# Fleet agent <-> Fleet: one WebSocket per agent (`GET /v1/agent/fleet`).

struct FleetFrame {
  # The full set of functions this agent should serve, sent on connect and
  # after every deploy. A function missing from the list is stopped.
  assignments @0 :List(Assignment);
}

struct Assignment {
  function @0 :Text;
  version @1 :UInt32;
  bundleHash @2 :Text;     # sha256 hex of the bundle; `GET /v1/bundles/{hash}`
  spec @3 :Text;           # the FunctionSpec as JSON
}

struct AgentReport {
  agentId @0 :Text;
  hostname @1 :Text;
  runtime @2 :Text;        # "process" or "docker"
  replicas @3 :List(ReplicaReport);
  gpus @4 :List(GpuInfo);  # every GPU on the host, free or not
}

struct GpuInfo {
  model @0 :Text;          # normalized, e.g. "nvidia-h100"
  uuid @1 :Text;
  memoryMiB @2 :UInt32;
  index @3 :UInt32;
  replicaId @4 :Text;      # the replica it is given to, or "" when free
}

struct ReplicaReport {
  replicaId @0 :Text;
  function @1 :Text;
  version @2 :UInt32;
  state @3 :Text;          # "building", "build-failed", "starting", "serving", "draining", "crashed"
  inFlight @4 :UInt32;
  cpuPercent @5 :Float32;
  # Human-readable progress or failure: the current build step, or the failing
  # step and the end of its log.
  detail @6 :Text;
}

# ---------------------------------------------------------------------------
# Fleet agent <-> worker: gRPC over a Unix socket, one bidirectional stream
# per replica (service chalkcompute.Worker, method Session). The agent serves;
# the worker connects.

struct WorkerMessage {
  # First message: the worker loaded the bundle and found these functions.
  ready @0 :WorkerReady;
  chunks @1 :List(Chunk);  # output of runs
  # Nested calls made by running handlers, relayed by the agent to the gateway
  # with its own credentials; idempotency keys are unique per worker.
  calls @2 :CallerFrame;
}

struct WorkerReady {
  functions @0 :List(Text);
  pid @1 :UInt32;
}

struct AgentMessage {
  runs @0 :List(Run);
  replies @1 :ServerFrame;  # answers to the worker's nested calls
  drain @2 :Bool;           # finish running calls, then exit
  # The agent's own gateway connection was re-established: the worker must
  # resubmit unacknowledged nested calls and resubscribe open ones.
  relinked @3 :Bool;
}
