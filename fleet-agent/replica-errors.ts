import type { Chunk, Run } from "../schemas/frames.ts";

/**
 * Builds the final error chunk of a call that the agent ended because its
 * worker died or was killed. `type` names a class-like failure kind, since
 * no user error was thrown.
 */
function infrastructureError(
  run: Run,
  code: "unavailable" | "deadlineExceeded",
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
