/**
 * SQLite storage of a FunctionQueue: calls, their chunks, caller
 * subscriptions and lease checks. Every method is synchronous, so a caller
 * can group several of them in one `transactionSync`.
 */
import type { Chunk, ErrorInfo } from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";

/** Lifecycle state of a call. */
export type CallStatus = "queued" | "running" | "succeeded" | "failed";

/** One row of the `calls` table. */
export interface CallRow {
  callId: string;
  idempotencyKey: string;
  status: CallStatus;
  args: Uint8Array;
  parentCallId: string;
  traceContext: string;
  /** Function version the call was submitted under, then dispatched to. */
  version: number;
  /** Executions started so far; 0 while never dispatched. */
  attempt: number;
  /** Replica running the current attempt, or null. */
  replica: string | null;
  deadlineMs: number | null;
  /** Chunks stored so far, which is also the next sequence number. */
  chunkCount: number;
  /** While a retry waits out its backoff: when it may be dispatched. */
  retryDueMs: number | null;
  /** Concurrency keys the calling chain holds, from the submit. */
  heldKeys: string[];
  createdMs: number;
  startedMs: number | null;
  finishedMs: number | null;
}

/** The queue's configuration, set by the Catalog. */
export interface QueueConfig {
  spec: FunctionSpec;
  version: number;
}

/** A new call as a submit describes it. */
export interface NewCall {
  callId: string;
  idempotencyKey: string;
  args: Uint8Array;
  parentCallId: string;
  traceContext: string;
  version: number;
  createdMs: number;
  heldKeys: string[];
}

/** A semaphore permit the queue holds for one attempt of a call. */
export interface PermitRow {
  callId: string;
  attempt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
  call_id TEXT PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  args BLOB NOT NULL,
  parent_call_id TEXT NOT NULL,
  trace_context TEXT NOT NULL,
  version INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  replica TEXT,
  deadline_ms REAL,
  chunk_count INTEGER NOT NULL DEFAULT 0,
  created_ms REAL NOT NULL,
  started_ms REAL,
  finished_ms REAL
);
CREATE INDEX IF NOT EXISTS calls_by_status ON calls (status);
CREATE INDEX IF NOT EXISTS calls_by_finish ON calls (finished_ms)
  WHERE finished_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS chunks (
  call_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  kind TEXT NOT NULL,
  data BLOB,
  error TEXT,
  PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
  call_id TEXT NOT NULL,
  conn_id TEXT NOT NULL,
  PRIMARY KEY (call_id, conn_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subscriptions_by_conn ON subscriptions (conn_id);
CREATE TABLE IF NOT EXISTS lease_checks (
  replica TEXT PRIMARY KEY,
  due_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS permits (
  call_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  PRIMARY KEY (call_id, attempt)
) WITHOUT ROWID;
`;

/** Columns added to `calls` after its first version, added on open. */
const ADDED_CALL_COLUMNS: Record<string, string> = {
  retry_due_ms: "REAL",
  held_keys: "TEXT NOT NULL DEFAULT '[]'",
};

/** Meta keys of the due times that are not stored per call. */
export type WaitKey = "rate_wait_ms" | "permit_wait_ms" | "permit_renew_ms";

type Row = Record<string, SqlStorageValue>;

/** Copies bytes into an ArrayBuffer of exactly their length, as SQLite binds BLOBs. */
function toBlob(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}

function fromBlob(value: SqlStorageValue): Uint8Array {
  return value instanceof ArrayBuffer
    ? new Uint8Array(value)
    : new Uint8Array();
}

function numberOrNull(value: SqlStorageValue): number | null {
  return typeof value === "number" ? value : null;
}

function readCall(row: Row): CallRow {
  return {
    callId: row.call_id as string,
    idempotencyKey: row.idempotency_key as string,
    status: row.status as CallStatus,
    args: fromBlob(row.args ?? null),
    parentCallId: row.parent_call_id as string,
    traceContext: row.trace_context as string,
    version: row.version as number,
    attempt: row.attempt as number,
    replica: (row.replica ?? null) as string | null,
    deadlineMs: numberOrNull(row.deadline_ms ?? null),
    chunkCount: row.chunk_count as number,
    retryDueMs: numberOrNull(row.retry_due_ms ?? null),
    heldKeys: JSON.parse((row.held_keys as string | undefined) ?? "[]"),
    createdMs: row.created_ms as number,
    startedMs: numberOrNull(row.started_ms ?? null),
    finishedMs: numberOrNull(row.finished_ms ?? null),
  };
}

function readChunk(row: Row): Chunk {
  const head = {
    callId: row.call_id as string,
    seq: row.seq as number,
    attempt: row.attempt as number,
  };
  switch (row.kind) {
    case "value":
      return { ...head, kind: "value", data: fromBlob(row.data ?? null) };
    case "result":
      return { ...head, kind: "result", data: fromBlob(row.data ?? null) };
    case "error":
      return {
        ...head,
        kind: "error",
        error: JSON.parse(row.error as string) as ErrorInfo,
      };
    default:
      return { ...head, kind: "end" };
  }
}

/** Typed queries over a FunctionQueue's SQLite database. */
export class QueueStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
    const columns = new Set(
      sql
        .exec("SELECT name FROM pragma_table_info('calls')")
        .toArray()
        .map((row) => row.name as string),
    );
    for (const [column, type] of Object.entries(ADDED_CALL_COLUMNS)) {
      if (!columns.has(column)) {
        sql.exec(`ALTER TABLE calls ADD COLUMN ${column} ${type}`);
      }
    }
  }

  /** Returns the stored configuration, or null before the first configure. */
  config(): QueueConfig | null {
    const rows = this.sql
      .exec("SELECT value FROM meta WHERE key = 'config'")
      .toArray();
    const value = rows[0]?.value;
    return typeof value === "string"
      ? (JSON.parse(value) as QueueConfig)
      : null;
  }

  /** Stores the configuration. */
  setConfig(config: QueueConfig): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('config', ?)",
      JSON.stringify(config),
    );
  }

  /** Returns the call with this idempotency key, or null. */
  callByKey(idempotencyKey: string): CallRow | null {
    const row = this.sql
      .exec("SELECT * FROM calls WHERE idempotency_key = ?", idempotencyKey)
      .toArray()[0];
    return row ? readCall(row) : null;
  }

  /** Returns the call with this id, or null. */
  call(callId: string): CallRow | null {
    const row = this.sql
      .exec("SELECT * FROM calls WHERE call_id = ?", callId)
      .toArray()[0];
    return row ? readCall(row) : null;
  }

  /** Inserts a call in state `queued`. */
  insertCall(call: NewCall): void {
    this.sql.exec(
      `INSERT INTO calls (call_id, idempotency_key, status, args,
         parent_call_id, trace_context, version, created_ms, held_keys)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)`,
      call.callId,
      call.idempotencyKey,
      toBlob(call.args),
      call.parentCallId,
      call.traceContext,
      call.version,
      call.createdMs,
      JSON.stringify(call.heldKeys),
    );
  }

  /** Counts calls in one state. */
  countByStatus(status: CallStatus): number {
    const row = this.sql
      .exec("SELECT COUNT(*) AS n FROM calls WHERE status = ?", status)
      .one();
    return row.n as number;
  }

  /**
   * Returns up to `limit` queued calls that may be dispatched, oldest
   * submission first; retries still in their backoff are left out.
   */
  queuedCalls(limit: number): CallRow[] {
    return this.sql
      .exec(
        `SELECT * FROM calls WHERE status = 'queued' AND retry_due_ms IS NULL
         ORDER BY rowid LIMIT ?`,
        limit,
      )
      .toArray()
      .map(readCall);
  }

  /** Returns every running call, or those leased to one replica. */
  runningCalls(replica?: string): CallRow[] {
    const cursor =
      replica === undefined
        ? this.sql.exec("SELECT * FROM calls WHERE status = 'running'")
        : this.sql.exec(
            "SELECT * FROM calls WHERE status = 'running' AND replica = ?",
            replica,
          );
    return cursor.toArray().map(readCall);
  }

  /** Returns running calls whose deadline is at or before `nowMs`. */
  expiredCalls(nowMs: number): CallRow[] {
    return this.sql
      .exec(
        "SELECT * FROM calls WHERE status = 'running' AND deadline_ms <= ?",
        nowMs,
      )
      .toArray()
      .map(readCall);
  }

  /** Leases a queued call to a replica as its next attempt. */
  markRunning(
    callId: string,
    lease: {
      replica: string;
      version: number;
      nowMs: number;
      deadlineMs: number;
    },
  ): void {
    this.sql.exec(
      `UPDATE calls SET status = 'running', attempt = attempt + 1,
         replica = ?, version = ?, deadline_ms = ?, retry_due_ms = NULL,
         started_ms = COALESCE(started_ms, ?)
       WHERE call_id = ? AND status = 'queued'`,
      lease.replica,
      lease.version,
      lease.deadlineMs,
      lease.nowMs,
      callId,
    );
  }

  /** Puts a running call back in the queue, keeping its attempt count. */
  requeue(callId: string): void {
    this.sql.exec(
      `UPDATE calls SET status = 'queued', replica = NULL, deadline_ms = NULL
       WHERE call_id = ?`,
      callId,
    );
  }

  /** Puts a running call back in the queue to be retried at `dueMs`. */
  scheduleRetry(callId: string, dueMs: number): void {
    this.sql.exec(
      `UPDATE calls SET status = 'queued', replica = NULL, deadline_ms = NULL,
         retry_due_ms = ?
       WHERE call_id = ?`,
      dueMs,
      callId,
    );
  }

  /** Makes retries whose backoff ended by `nowMs` dispatchable. */
  releaseDueRetries(nowMs: number): number {
    const due = this.sql
      .exec("SELECT COUNT(*) AS n FROM calls WHERE retry_due_ms <= ?", nowMs)
      .one().n as number;
    if (due > 0) {
      this.sql.exec(
        "UPDATE calls SET retry_due_ms = NULL WHERE retry_due_ms <= ?",
        nowMs,
      );
    }
    return due;
  }

  /** Records a semaphore permit held for a call attempt. */
  addPermit(permit: PermitRow): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO permits (call_id, attempt) VALUES (?, ?)",
      permit.callId,
      permit.attempt,
    );
  }

  /** Returns every permit the queue holds. */
  permits(): PermitRow[] {
    return this.sql
      .exec("SELECT call_id, attempt FROM permits")
      .toArray()
      .map((row) => ({
        callId: row.call_id as string,
        attempt: row.attempt as number,
      }));
  }

  /**
   * Deletes and returns the permits whose attempt is no longer running:
   * the attempt finished, was requeued or waits for a retry.
   */
  takeEndedPermits(): PermitRow[] {
    const ended = this.sql
      .exec(
        `SELECT p.call_id, p.attempt FROM permits p
         LEFT JOIN calls c ON c.call_id = p.call_id
           AND c.status = 'running' AND c.attempt = p.attempt
         WHERE c.call_id IS NULL`,
      )
      .toArray()
      .map((row) => ({
        callId: row.call_id as string,
        attempt: row.attempt as number,
      }));
    for (const permit of ended) {
      this.sql.exec(
        "DELETE FROM permits WHERE call_id = ? AND attempt = ?",
        permit.callId,
        permit.attempt,
      );
    }
    return ended;
  }

  /** Returns a stored due time, or null. */
  waitUntil(key: WaitKey): number | null {
    const row = this.sql
      .exec("SELECT value FROM meta WHERE key = ?", key)
      .toArray()[0];
    return row ? Number(row.value) : null;
  }

  /** Stores a due time, or clears it with null. */
  setWaitUntil(key: WaitKey, dueMs: number | null): void {
    if (dueMs === null) {
      this.sql.exec("DELETE FROM meta WHERE key = ?", key);
      return;
    }
    this.sql.exec(
      "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
      key,
      String(dueMs),
    );
  }

  /** Returns the version links are served for, or null before any hello. */
  servingVersion(): number | null {
    const row = this.sql
      .exec("SELECT value FROM meta WHERE key = 'serving_version'")
      .toArray()[0];
    return row ? Number(row.value) : null;
  }

  /** Stores the version calls are dispatched to. */
  setServingVersion(version: number): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('serving_version', ?)",
      String(version),
    );
  }

  /**
   * Stores the call's next chunk under the sequence number the queue assigns
   * and, for a final chunk, finishes the call. Returns the stored chunk.
   */
  appendChunk(call: CallRow, chunk: Chunk, nowMs: number): Chunk {
    const stored = { ...chunk, seq: call.chunkCount } as Chunk;
    const data =
      stored.kind === "value" || stored.kind === "result"
        ? toBlob(stored.data)
        : null;
    const error = stored.kind === "error" ? JSON.stringify(stored.error) : null;
    this.sql.exec(
      `INSERT INTO chunks (call_id, seq, attempt, kind, data, error)
       VALUES (?, ?, ?, ?, ?, ?)`,
      stored.callId,
      stored.seq,
      stored.attempt,
      stored.kind,
      data,
      error,
    );
    call.chunkCount += 1;

    if (stored.kind === "value") {
      this.sql.exec(
        "UPDATE calls SET chunk_count = ? WHERE call_id = ?",
        call.chunkCount,
        call.callId,
      );
      return stored;
    }
    call.status = stored.kind === "error" ? "failed" : "succeeded";
    call.finishedMs = nowMs;
    this.sql.exec(
      `UPDATE calls SET chunk_count = ?, status = ?, finished_ms = ?,
         deadline_ms = NULL
       WHERE call_id = ?`,
      call.chunkCount,
      call.status,
      nowMs,
      call.callId,
    );
    this.sql.exec("DELETE FROM subscriptions WHERE call_id = ?", call.callId);
    return stored;
  }

  /** Returns a call's chunks with `seq >= fromSeq`, in order. */
  chunks(callId: string, fromSeq = 0): Chunk[] {
    return this.sql
      .exec(
        "SELECT * FROM chunks WHERE call_id = ? AND seq >= ? ORDER BY seq",
        callId,
        fromSeq,
      )
      .toArray()
      .map(readChunk);
  }

  /** Records that a caller connection wants a call's chunks. */
  subscribe(callId: string, connId: string): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO subscriptions (call_id, conn_id) VALUES (?, ?)",
      callId,
      connId,
    );
  }

  /** Returns the connections subscribed to a call. */
  subscribers(callId: string): string[] {
    return this.sql
      .exec("SELECT conn_id FROM subscriptions WHERE call_id = ?", callId)
      .toArray()
      .map((row) => row.conn_id as string);
  }

  /** Drops every subscription of a closed connection. */
  unsubscribeConnection(connId: string): void {
    this.sql.exec("DELETE FROM subscriptions WHERE conn_id = ?", connId);
  }

  /** Drops subscriptions of connections that are not in `openConnIds`. */
  pruneSubscriptions(openConnIds: ReadonlySet<string>): number {
    const connIds = this.sql
      .exec("SELECT DISTINCT conn_id FROM subscriptions")
      .toArray()
      .map((row) => row.conn_id as string);
    const stale = connIds.filter((id) => !openConnIds.has(id));
    for (const connId of stale) this.unsubscribeConnection(connId);
    return stale.length;
  }

  /** Returns pending lease checks by replica. */
  leaseChecks(): Map<string, number> {
    const rows = this.sql
      .exec("SELECT replica, due_ms FROM lease_checks")
      .toArray();
    return new Map(rows.map((r) => [r.replica as string, r.due_ms as number]));
  }

  /** Schedules a check of a replica's lease unless one is pending. */
  addLeaseCheck(replica: string, dueMs: number): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO lease_checks (replica, due_ms) VALUES (?, ?)",
      replica,
      dueMs,
    );
  }

  /** Cancels the lease check of a replica. */
  removeLeaseCheck(replica: string): void {
    this.sql.exec("DELETE FROM lease_checks WHERE replica = ?", replica);
  }

  /** Deletes calls finished at or before `cutoffMs`, with their chunks. */
  deleteFinishedBefore(cutoffMs: number): number {
    const expired = this.sql
      .exec("SELECT COUNT(*) AS n FROM calls WHERE finished_ms <= ?", cutoffMs)
      .one().n as number;
    if (expired === 0) return 0;

    this.sql.exec(
      `DELETE FROM chunks WHERE call_id IN
         (SELECT call_id FROM calls WHERE finished_ms <= ?)`,
      cutoffMs,
    );
    this.sql.exec("DELETE FROM calls WHERE finished_ms <= ?", cutoffMs);
    return expired;
  }

  /**
   * Returns the earliest time at which alarm work falls due: a deadline, a
   * lease check, the end of a retry backoff, the next rate-limit token, a
   * permit renewal or the retention of the oldest finished call.
   */
  nextDueMs(retentionMs: number): number | null {
    const row = this.sql
      .exec(
        `SELECT MIN(due) AS due FROM (
           SELECT MIN(deadline_ms) AS due FROM calls WHERE status = 'running'
           UNION ALL SELECT MIN(retry_due_ms) FROM calls
           UNION ALL SELECT MIN(CAST(value AS REAL)) FROM meta
             WHERE key IN ('rate_wait_ms', 'permit_wait_ms', 'permit_renew_ms')
           UNION ALL SELECT MIN(due_ms) FROM lease_checks
           UNION ALL SELECT MIN(finished_ms) + ? FROM calls
             WHERE finished_ms IS NOT NULL
         )`,
        retentionMs,
      )
      .one();
    return numberOrNull(row.due ?? null);
  }
}
