/**
 * Replica logs: agents send batches to `POST /v1/agent/logs`, and
 * `GET /v1/functions/{name}/logs?tail=N&follow=1` returns them as NDJSON,
 * one JSON object per line, staying open with `follow=1`.
 */
import { Hono } from "hono";
import { catalogStub, type Env, logsStub } from "../durable-objects/env.ts";
import {
  encodeNdjson,
  type LogLine,
  MAX_STORED_LINES,
} from "../durable-objects/function-logs.ts";
import { checkFunctionName } from "../schemas/spec.ts";
import { badRequest, notFound } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";

/** Routes under `/v1/functions` that read logs. */
export const logRoutes = new Hono<GatewayEnv>();

/** Lines returned when the request has no `tail`. */
export const DEFAULT_TAIL = 100;

/** Maximum lines in one `POST /v1/agent/logs` body. */
export const MAX_BATCH_LINES = 1000;

/** Longest stored line, in UTF-16 code units; longer lines are cut. */
export const MAX_LINE_LENGTH = 16 * 1024;

/** Maximum problems listed in one error message. */
const MAX_LISTED_PROBLEMS = 5;

const NDJSON_HEADERS = {
  "Content-Type": "application/x-ndjson; charset=utf-8",
  "Cache-Control": "no-store",
};

/** Validates a log batch. Returns its lines or the problems. */
export function parseLogBatch(
  body: unknown,
): { lines: LogLine[] } | { problems: string[] } {
  const lines =
    typeof body === "object" && body !== null
      ? (body as Record<string, unknown>).lines
      : undefined;
  if (!Array.isArray(lines)) {
    return {
      problems: [
        'body must be {"lines": [{"function", "replica", "version", "stream", "line", "ts"}, ...]}',
      ],
    };
  }
  if (lines.length > MAX_BATCH_LINES) {
    return {
      problems: [
        `a batch holds at most ${MAX_BATCH_LINES} lines, got ${lines.length}; send smaller batches`,
      ],
    };
  }

  const problems: string[] = [];
  const parsed: LogLine[] = [];
  lines.forEach((item: unknown, i) => {
    const problem = checkLogLine(item);
    if (problem) {
      problems.push(`lines[${i}]: ${problem}`);
      return;
    }
    const line = item as LogLine;
    parsed.push({
      function: line.function,
      replica: line.replica,
      version: line.version,
      stream: line.stream,
      line: line.line.slice(0, MAX_LINE_LENGTH),
      ts: line.ts,
    });
  });
  if (problems.length > 0) {
    const more = problems.length - MAX_LISTED_PROBLEMS;
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
    if (more > 0) listed.push(`and ${more} more`);
    return { problems: listed };
  }
  return { lines: parsed };
}

function checkLogLine(item: unknown): string | null {
  if (typeof item !== "object" || item === null) {
    return "must be an object";
  }
  const line = item as Record<string, unknown>;
  const nameProblem = checkFunctionName(line.function);
  if (nameProblem) return nameProblem;
  if (typeof line.replica !== "string" || line.replica === "") {
    return "replica must be a non-empty string";
  }
  if (!Number.isInteger(line.version) || (line.version as number) < 1) {
    return `version must be an integer >= 1, got ${JSON.stringify(line.version)}`;
  }
  if (line.stream !== "stdout" && line.stream !== "stderr") {
    return `stream must be "stdout" or "stderr", got ${JSON.stringify(line.stream)}`;
  }
  if (typeof line.line !== "string") return "line must be a string";
  if (typeof line.ts !== "number" || !Number.isFinite(line.ts)) {
    return "ts must be epoch milliseconds";
  }
  return null;
}

/** Stores a validated batch, one append per function, in parallel. */
export async function storeLogBatch(env: Env, lines: LogLine[]): Promise<void> {
  const byFunction = new Map<string, LogLine[]>();
  for (const line of lines) {
    const group = byFunction.get(line.function);
    if (group) group.push(line);
    else byFunction.set(line.function, [line]);
  }
  await Promise.all(
    [...byFunction].map(([name, group]) => logsStub(env, name).append(group)),
  );
}

/** Parses `tail`: an integer in [0, MAX_STORED_LINES], DEFAULT_TAIL when absent. */
export function parseTail(raw: string | undefined): number | string {
  if (raw === undefined || raw === "") return DEFAULT_TAIL;
  const tail = Number(raw);
  if (!Number.isInteger(tail) || tail < 0 || tail > MAX_STORED_LINES) {
    return `tail must be an integer in [0, ${MAX_STORED_LINES}], got ${JSON.stringify(raw)}`;
  }
  return tail;
}

logRoutes.get("/:name/logs", async (c) => {
  const name = c.req.param("name");
  const tail = parseTail(c.req.query("tail"));
  if (typeof tail === "string") return badRequest(tail);
  const follow = ["1", "true"].includes(c.req.query("follow") ?? "");
  const entry = await catalogStub(c.env).get(name);
  if (!entry) return notFound(`function ${name} not found; deploy it first`);

  const stub = logsStub(c.env, name);
  if (follow) {
    const stream = await stub.follow(tail);
    return new Response(stream, { headers: NDJSON_HEADERS });
  }
  const lines = await stub.recent(tail);
  return new Response(encodeNdjson(lines), { headers: NDJSON_HEADERS });
});
