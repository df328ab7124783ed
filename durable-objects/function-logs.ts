/**
 * One FunctionLogs object per function name (`idFromName(name)`): the last
 * lines its replicas wrote to stdout and stderr, in the order the agents
 * sent them, and the open follow streams that receive each new line.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { createLogger } from "./logger.ts";

/** Output stream of a replica that a line came from. */
export type LogStream = "stdout" | "stderr";

/** One line of replica output, as agents send it and the API returns it. */
export interface LogLine {
  function: string;
  replica: string;
  version: number;
  stream: LogStream;
  line: string;
  /** When the agent captured the line, in epoch milliseconds. */
  ts: number;
}

/** Lines kept per function; older lines are deleted as new ones arrive. */
export const MAX_STORED_LINES = 5000;

/**
 * Bytes a follower may leave unread before its stream is aborted, so a
 * stalled reader cannot grow this object's memory without bound.
 */
const MAX_UNREAD_BYTES = 1024 * 1024;

/** An open follow stream and the bytes written to it but not yet read. */
interface Follower {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  unreadBytes: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS lines (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  function TEXT NOT NULL,
  replica TEXT NOT NULL,
  version INTEGER NOT NULL,
  stream TEXT NOT NULL,
  line TEXT NOT NULL,
  ts REAL NOT NULL
);
`;

const log = createLogger("function-logs");
const encoder = new TextEncoder();

type Row = Record<string, SqlStorageValue>;

function readLine(row: Row): LogLine {
  return {
    function: row.function as string,
    replica: row.replica as string,
    version: row.version as number,
    stream: row.stream as LogStream,
    line: row.line as string,
    ts: row.ts as number,
  };
}

/** Encodes lines as NDJSON: one JSON object and a newline per line. */
export function encodeNdjson(lines: LogLine[]): Uint8Array {
  return encoder.encode(
    lines.map((line) => `${JSON.stringify(line)}\n`).join(""),
  );
}

/** Durable Object holding one function's recent log lines. */
export class FunctionLogs extends DurableObject<Env> {
  private readonly followers = new Set<Follower>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
  }

  /**
   * Stores lines (validated by the caller), deletes lines beyond the last
   * MAX_STORED_LINES, and sends the lines to every follower.
   */
  async append(lines: LogLine[]): Promise<number> {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const line of lines) {
        sql.exec(
          `INSERT INTO lines (function, replica, version, stream, line, ts)
           VALUES (?, ?, ?, ?, ?, ?)`,
          line.function,
          line.replica,
          line.version,
          line.stream,
          line.line,
          line.ts,
        );
      }
      sql.exec(
        "DELETE FROM lines WHERE seq <= (SELECT MAX(seq) FROM lines) - ?",
        MAX_STORED_LINES,
      );
    });

    if (lines.length > 0 && this.followers.size > 0) {
      const bytes = encodeNdjson(lines);
      for (const follower of this.followers) this.send(follower, bytes);
    }
    return lines.length;
  }

  /** Returns the last `count` lines, oldest first. */
  async recent(count: number): Promise<LogLine[]> {
    return this.lastLines(count);
  }

  /**
   * Returns an NDJSON stream of the last `count` lines followed by every
   * line appended while the stream is open. Reading the tail and adding the
   * follower happen in one turn, so no line is missed or sent twice.
   */
  async follow(count: number): Promise<ReadableStream<Uint8Array>> {
    // workerd's IdentityTransformStream, unlike a JavaScript
    // TransformStream, errors the writer when the RPC caller cancels the
    // stream, so a follower that went away is noticed on its next write.
    const { readable, writable } = new IdentityTransformStream();
    const follower: Follower = { writer: writable.getWriter(), unreadBytes: 0 };
    const tail = this.lastLines(count);
    this.followers.add(follower);
    const remove = () => this.followers.delete(follower);
    follower.writer.closed.then(remove, remove);
    log.info("follower added", { followers: this.followers.size });

    if (tail.length > 0) this.send(follower, encodeNdjson(tail));
    return readable;
  }

  /** Returns the number of open follow streams. */
  async followerCount(): Promise<number> {
    return this.followers.size;
  }

  private lastLines(count: number): LogLine[] {
    if (count <= 0) return [];
    return this.ctx.storage.sql
      .exec(
        `SELECT * FROM (SELECT * FROM lines ORDER BY seq DESC LIMIT ?)
         ORDER BY seq`,
        count,
      )
      .toArray()
      .map(readLine);
  }

  private send(follower: Follower, bytes: Uint8Array): void {
    if (follower.unreadBytes + bytes.length > MAX_UNREAD_BYTES) {
      log.warn("follower dropped: it stopped reading", {
        unreadBytes: follower.unreadBytes,
      });
      this.followers.delete(follower);
      follower.writer
        .abort(new Error("log reader stopped reading"))
        .catch(() => {});
      return;
    }

    follower.unreadBytes += bytes.length;
    follower.writer.write(bytes).then(
      () => {
        follower.unreadBytes -= bytes.length;
      },
      // The reader went away; `closed` rejects too and removes it.
      () => this.followers.delete(follower),
    );
  }
}
