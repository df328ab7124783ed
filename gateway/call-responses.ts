/**
 * Turns a call's events into HTTP responses: one JSON body for a
 * single-value call, NDJSON or Server-Sent Events for a generator.
 */
import type { Chunk, ErrorInfo } from "../schemas/frames.ts";
import { decodeValue, toJson } from "../schemas/values.ts";
import { callErrorBody, STATUS_BY_CODE } from "./errors.ts";
import type { QueueCall } from "./queue-client.ts";

/** Error of a call whose queue socket closed before the final chunk. */
export function lostCallError(reason: string): ErrorInfo {
  return {
    code: "unavailable",
    type: "UnavailableError",
    message: `the connection to the function queue closed (${reason}) before the call finished; fetch its result with GET /v1/calls/{id}`,
    stack: "",
    typeChain: ["UnavailableError"],
  };
}

/** Returns the JSON error response of a failed call. */
export function callErrorResponse(error: ErrorInfo, callId: string): Response {
  return Response.json(callErrorBody(error, callId), {
    status: STATUS_BY_CODE[error.code],
  });
}

/**
 * Waits for the final chunk of a single-value call and returns
 * `{"result": ...}`, or the error with its status code.
 */
export async function singleValueResponse(
  call: QueueCall,
  callId: string,
): Promise<Response> {
  try {
    for (;;) {
      const event = await call.next();
      if (event.kind === "closed") {
        return callErrorResponse(lostCallError(event.reason), callId);
      }
      if (event.kind === "rejected") {
        return callErrorResponse(event.error, callId);
      }
      if (event.kind !== "chunk") continue;

      const chunk = event.chunk;
      if (chunk.kind === "error") {
        return callErrorResponse(chunk.error, callId);
      }
      if (chunk.kind === "result") {
        return Response.json({ result: toJson(decodeValue(chunk.data)) });
      }
      if (chunk.kind === "end") return Response.json({ result: null });
    }
  } finally {
    call.close();
  }
}

/** Encoding of a generator's stream: NDJSON lines or SSE events. */
export type StreamFormat = "ndjson" | "sse";

/** One item of a generator's stream, shaped as its NDJSON line. */
type StreamItem =
  | { value: unknown }
  | { done: true }
  | { error: ReturnType<typeof callErrorBody>["error"] };

function itemOfChunk(chunk: Chunk, callId: string): StreamItem {
  switch (chunk.kind) {
    case "value":
      return { value: toJson(decodeValue(chunk.data)) };
    case "error":
      return callErrorBody(chunk.error, callId);
    default:
      // A generator ends with `end`; a `result` here means the handler
      // returned a value after yielding, which a `for await` loop ignores.
      return { done: true };
  }
}

function formatItem(item: StreamItem, format: StreamFormat): string {
  const json = JSON.stringify(item);
  if (format === "ndjson") return `${json}\n`;
  let event = "error";
  if ("value" in item) event = "value";
  if ("done" in item) event = "done";
  return `event: ${event}\ndata: ${json}\n\n`;
}

/**
 * Streams a generator call: one item per value as it arrives, then
 * `{"done": true}` or an `{"error": ...}` item.
 */
export function streamResponse(
  call: QueueCall,
  callId: string,
  format: StreamFormat,
): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  const write = (item: StreamItem) =>
    writer.write(encoder.encode(formatItem(item, format)));

  const pump = async () => {
    try {
      for (;;) {
        const event = await call.next();
        if (event.kind === "accepted") continue;
        if (event.kind === "closed") {
          await write(callErrorBody(lostCallError(event.reason), callId));
          break;
        }
        if (event.kind === "rejected") {
          await write(callErrorBody(event.error, callId));
          break;
        }
        await write(itemOfChunk(event.chunk, callId));
        if (event.chunk.kind !== "value") break;
      }
      await writer.close();
    } catch {
      // The HTTP client went away; the call itself goes on in the queue.
      await writer.abort().catch(() => {});
    } finally {
      call.close();
    }
  };
  void pump();

  const contentType =
    format === "ndjson" ? "application/x-ndjson" : "text/event-stream";
  return new Response(readable, {
    headers: {
      "Content-Type": contentType,
      "Cache-Control": "no-cache",
      "X-Call-Id": callId,
    },
  });
}
