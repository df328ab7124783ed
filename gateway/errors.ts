/**
 * JSON error bodies and the HTTP status of each failure code, as the
 * gateway routes in docs/architecture.md define them.
 */
import type { Code, ErrorInfo } from "../schemas/frames.ts";

/** Body of every error response. */
export interface ErrorBody {
  error: { type: string; message: string; callId?: string };
}

/** HTTP status of a call that failed or was rejected with this code. */
export const STATUS_BY_CODE: Record<Code, number> = {
  application: 500,
  notFound: 404,
  invalidArgument: 400,
  unavailable: 503,
  deadlineExceeded: 504,
  // A replica that ran out of memory: a server-side failure, not throttling.
  resourceExhausted: 500,
  aborted: 409,
  internal: 500,
  failedPrecondition: 412,
  unauthenticated: 401,
};

/** Builds the JSON error object of a failed call. */
export function callErrorBody(error: ErrorInfo, callId: string): ErrorBody {
  const body: ErrorBody = {
    error: { type: error.type, message: error.message },
  };
  if (callId !== "") body.error.callId = callId;
  return body;
}

/** Returns a JSON error response. */
export function errorResponse(
  status: number,
  type: string,
  message: string,
): Response {
  const body: ErrorBody = { error: { type, message } };
  return Response.json(body, { status });
}

/** Returns a 400 response for a malformed request. */
export function badRequest(message: string): Response {
  return errorResponse(400, "BadRequest", message);
}

/** Returns a 404 response. */
export function notFound(message: string): Response {
  return errorResponse(404, "NotFound", message);
}
