import type { Chunk, Run } from "../schemas/frames.ts";

/**
 * Builds the final error chunk of a call that the agent ended because its
 * worker died or was killed. `type` names a class-like failure kind, since
 * no user error was thrown.
 */
function infrastructureError(
  run: Run,
  code: "unavailable" | "deadlineExceeded" | "resourceExhausted",
  type: string,
  message: string,
): Chunk {
  return {
    callId: run.callId,
    seq: 0,
    attempt: run.attempt,
    kind: "error",
    error: { code, type, message, stack: "", typeChain: [type, "Error"] },
  };
}

/** Builds the `deadlineExceeded` chunk of a call whose worker was killed for it. */
export function deadlineExceededChunk(run: Run, replica: string): Chunk {
  const deadline = new Date(run.deadlineMs).toISOString();
  return infrastructureError(
    run,
    "deadlineExceeded",
    "DeadlineExceededError",
    `call ${run.callId} passed its deadline ${deadline}; ${replica} was ` +
      "killed and restarted",
  );
}

/**
 * Builds the `unavailable` chunk of a call whose worker is gone. `cause`
 * completes "<replica> ...", e.g. "exited with code 3".
 */
export function unavailableChunk(
  run: Run,
  replica: string,
  cause: string,
): Chunk {
  return infrastructureError(
    run,
    "unavailable",
    "UnavailableError",
    `${replica} ${cause} while running call ${run.callId}`,
  );
}

/**
 * Formats a memory limit the way users write it: "64Mi", "4Gi", or a byte
 * count when it is not a whole number of KiB.
 */
export function formatMemory(bytes: number): string {
  const units: [string, number][] = [
    ["Ti", 2 ** 40],
    ["Gi", 2 ** 30],
    ["Mi", 2 ** 20],
    ["Ki", 2 ** 10],
  ];
  for (const [unit, size] of units) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/**
 * Builds the `resourceExhausted` chunk of a call whose replica ran out of
 * memory; callers see "ResourceExhausted: replica ran out of memory (limit 64Mi)".
 */
export function outOfMemoryChunk(run: Run, memoryBytes?: number): Chunk {
  const limit =
    memoryBytes === undefined ? "" : ` (limit ${formatMemory(memoryBytes)})`;
  return infrastructureError(
    run,
    "resourceExhausted",
    "ResourceExhausted",
    `replica ran out of memory${limit}`,
  );
}
