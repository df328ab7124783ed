/** Assertions on chunks that narrow them to one kind. */
import { expect } from "vitest";
import type { Chunk, ErrorInfo } from "../../schemas/frames.ts";
import { decodeValue } from "../../schemas/values.ts";

/** Asserts that the chunk is an error chunk and returns its error. */
export function errorOf(chunk: Chunk): ErrorInfo {
  expect(chunk.kind).toBe("error");
  if (chunk.kind !== "error") throw new Error("unreachable");
  return chunk.error;
}

/** Asserts that the chunk is a result chunk and returns the decoded value. */
export function resultOf(chunk: Chunk): unknown {
  expect(chunk.kind).toBe("result");
  if (chunk.kind !== "result") throw new Error("unreachable");
  return decodeValue(chunk.data);
}
