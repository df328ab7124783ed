/**
 * The JSON view of a stored call that `GET /v1/calls/{id}` returns.
 */
import type { Chunk, Code } from "../schemas/frames.ts";
import { decodeValue, toJson } from "../schemas/values.ts";
import type { CallRow, CallStatus } from "./queue-store.ts";

/**
 * A value as JSON carries it (`toJson` output). Objects and arrays stay
 * `object` because the RPC stub types of a recursive JSON type are too
 * deep for tsc.
 */
export type JsonValue = string | number | boolean | null | object;

/** Status of one call, with its outcome once finished. */
export interface CallView {
  callId: string;
  function: string;
  /** Function version the call was submitted under or last ran on. */
  version: number;
  status: CallStatus;
  /** Executions started so far. */
  attempt: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Return value of a finished single-value call, as JSON. */
  result?: JsonValue;
  /** Values a finished generator yielded, as JSON. */
  values?: JsonValue[];
  error?: { type: string; message: string; code: Code };
}

function jsonOf(data: Uint8Array): JsonValue {
  return toJson(decodeValue(data)) as JsonValue;
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * Builds the view of a call from its row and, when finished, its chunks.
 * `generator` is true when the function streams values, and a call whose
 * chunks say otherwise (it yielded values, or ended with `end`) counts as a
 * generator too.
 */
export function describeCall(
  call: CallRow,
  functionName: string,
  generator: boolean,
  chunks: Chunk[],
): CallView {
  const view: CallView = {
    callId: call.callId,
    function: functionName,
    version: call.version,
    status: call.status,
    attempt: call.attempt,
    createdAt: new Date(call.createdMs).toISOString(),
    startedAt: isoOrNull(call.startedMs),
    finishedAt: isoOrNull(call.finishedMs),
  };
  if (call.finishedMs === null) return view;

  const values: JsonValue[] = [];
  let streamed = generator;
  for (const chunk of chunks) {
    switch (chunk.kind) {
      case "value":
        values.push(jsonOf(chunk.data));
        streamed = true;
        break;
      case "result":
        view.result = jsonOf(chunk.data);
        break;
      case "end":
        streamed = true;
        break;
      case "error":
        view.error = {
          type: chunk.error.type,
          message: chunk.error.message,
          code: chunk.error.code,
        };
        break;
    }
  }
  if (streamed) view.values = values;
  return view;
}
