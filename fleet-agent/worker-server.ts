import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { AgentMessage, WorkerMessage } from "../schemas/frames.ts";
import {
  GRPC_OPTIONS,
  unixAddress,
  WORKER_SERVICE,
} from "./worker-protocol.ts";

/** The agent's end of a worker's gRPC session. */
export type WorkerStream = grpc.ServerDuplexStream<WorkerMessage, AgentMessage>;

/** Longest path a Unix socket address can contain on Linux, in bytes. */
const MAX_SOCKET_PATH_BYTES = 107;

/** Throws when a socket path does not fit a Unix socket address. */
export function checkSocketPath(socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `replica socket path ${socketPath} is ${bytes} bytes, over the ` +
        `${MAX_SOCKET_PATH_BYTES}-byte limit of Unix sockets; use a shorter ` +
        "data directory",
    );
  }
}

/**
 * Serves `chalkcompute.Worker` on a Unix socket, replacing a stale socket
 * file left by an earlier agent. Call `forceShutdown()` to stop it.
 */
export async function serveWorkerSocket(
  socketPath: string,
  onSession: (call: WorkerStream) => void,
): Promise<grpc.Server> {
  checkSocketPath(socketPath);
  await mkdir(path.dirname(socketPath), { recursive: true });
  await rm(socketPath, { force: true });

  const server = new grpc.Server(GRPC_OPTIONS);
  server.addService(WORKER_SERVICE, { Session: onSession });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(
      unixAddress(socketPath),
      grpc.ServerCredentials.createInsecure(),
      (error) => (error ? reject(error) : resolve()),
    );
  });
  return server;
}
