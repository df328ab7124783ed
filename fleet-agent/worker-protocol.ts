/**
 * The gRPC contract between the agent and a worker process: service
 * `chalkcompute.Worker`, method `Session`, one bidirectional stream per
 * worker. Messages are the Cap'n Proto bytes of `WorkerMessage` (worker to
 * agent) and `AgentMessage` (agent to worker); no protobuf is involved.
 */
import type * as grpc from "@grpc/grpc-js";
import {
  type AgentMessage,
  decodeAgentMessage,
  decodeWorkerMessage,
  encodeAgentMessage,
  encodeWorkerMessage,
  type WorkerMessage,
} from "../schemas/frames.ts";

/** Full gRPC path of the session method. */
export const SESSION_PATH = "/chalkcompute.Worker/Session";

/** Channel options shared by both ends: frames may be larger than 4 MiB. */
export const GRPC_OPTIONS = {
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
} as const;

/** Serializes a worker-to-agent message for gRPC. */
export function serializeWorkerMessage(message: WorkerMessage): Buffer {
  return toBuffer(encodeWorkerMessage(message));
}

/** Deserializes a worker-to-agent message received over gRPC. */
export function deserializeWorkerMessage(bytes: Buffer): WorkerMessage {
  return decodeWorkerMessage(bytes);
}

/** Serializes an agent-to-worker message for gRPC. */
export function serializeAgentMessage(message: AgentMessage): Buffer {
  return toBuffer(encodeAgentMessage(message));
}

/** Deserializes an agent-to-worker message received over gRPC. */
export function deserializeAgentMessage(bytes: Buffer): AgentMessage {
  return decodeAgentMessage(bytes);
}

/** Service definition of `chalkcompute.Worker` for `Server.addService`. */
export const WORKER_SERVICE: grpc.ServiceDefinition = {
  Session: {
    path: SESSION_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: serializeWorkerMessage,
    requestDeserialize: deserializeWorkerMessage,
    responseSerialize: serializeAgentMessage,
    responseDeserialize: deserializeAgentMessage,
    originalName: "session",
  },
};

/** Returns the gRPC address of a Unix socket path. */
export function unixAddress(socketPath: string): string {
  return `unix:${socketPath}`;
}

/** Returns an AgentMessage with every field empty. */
export function emptyAgentMessage(): AgentMessage {
  return { runs: [], replies: null, drain: false, relinked: false };
}

/** Returns a WorkerMessage with every field empty. */
export function emptyWorkerMessage(): WorkerMessage {
  return { ready: null, chunks: [], calls: null };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
