/**
 * The Semaphore Durable Object: one per concurrency key, shared by every
 * function that names the key. Permits are leases in SQLite held by
 * (queue, call id, attempt): released when the attempt ends, renewed while
 * it runs and reclaimed once the lease expires, so a holder that vanished
 * cannot keep a permit. At most `max` permits are outstanding at any time,
 * also across restarts of the object.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { createLogger, errorFields } from "./logger.ts";

const log = createLogger("semaphore");

/** How long a permit lasts without a renewal. */
export const PERMIT_LEASE_MS = 60_000;

/** One permit holder: an attempt of a call of a queue. */
export interface PermitHolder {
  callId: string;
  attempt: number;
}

/** A bulk request for permits of one queue. */
export interface PermitRequest {
  /** Function name of the requesting queue, which the Semaphore wakes. */
  queue: string;
  /** Maximum permits outstanding for the key. */
  max: number;
  /** Holders in the order they should get permits. */
  holders: PermitHolder[];
}

/** Returns the name of the Semaphore object of a concurrency key. */
export function semaphoreName(key: string): string {
  return `key:${key}`;
}

/** Durable Object holding the permits of one concurrency key. */
export class Semaphore extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS permits (
        queue TEXT NOT NULL,
        call_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        expires_ms REAL NOT NULL,
        PRIMARY KEY (queue, call_id, attempt)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS waiters (
        queue TEXT PRIMARY KEY
      );
    `);
  }

  /**
   * Grants permits to the first holders while fewer than `max` are
   * outstanding, and returns the holders that got one. A holder that
   * already has a permit keeps it and counts as granted. When some holders
   * got none, the queue is registered and woken once permits free.
   */
  async acquire(request: PermitRequest): Promise<PermitHolder[]> {
    const nowMs = Date.now();
    const granted: PermitHolder[] = [];
    let waiting = false;
    this.ctx.storage.transactionSync(() => {
      this.reclaimExpired(nowMs);
      let outstanding = this.outstanding();
      for (const holder of request.holders) {
        if (this.holds(request.queue, holder)) {
          granted.push(holder);
          continue;
        }
        if (outstanding >= request.max) {
          waiting = true;
          continue;
        }
        this.sql.exec(
          "INSERT INTO permits (queue, call_id, attempt, expires_ms) VALUES (?, ?, ?, ?)",
          request.queue,
          holder.callId,
          holder.attempt,
          nowMs + PERMIT_LEASE_MS,
        );
        outstanding++;
        granted.push(holder);
      }
      if (waiting) {
        this.sql.exec(
          "INSERT OR IGNORE INTO waiters (queue) VALUES (?)",
          request.queue,
        );
      }
    });
    await this.scheduleAlarm();
    return granted;
  }

  /** Releases permits and wakes the waiting queues if any were freed. */
  async release(queue: string, holders: PermitHolder[]): Promise<number> {
    let freed = 0;
    for (const holder of holders) {
      freed += this.sql.exec(
        "DELETE FROM permits WHERE queue = ? AND call_id = ? AND attempt = ?",
        queue,
        holder.callId,
        holder.attempt,
      ).rowsWritten;
    }
    if (freed > 0) this.wakeWaiters();
    await this.scheduleAlarm();
    return freed;
  }

  /** Extends the leases of permits the queue still holds. */
  async renew(queue: string, holders: PermitHolder[]): Promise<number> {
    const expiresMs = Date.now() + PERMIT_LEASE_MS;
    let renewed = 0;
    for (const holder of holders) {
      renewed += this.sql.exec(
        `UPDATE permits SET expires_ms = ?
         WHERE queue = ? AND call_id = ? AND attempt = ?`,
        expiresMs,
        queue,
        holder.callId,
        holder.attempt,
      ).rowsWritten;
    }
    await this.scheduleAlarm();
    return renewed;
  }

  /** Returns the number of permits outstanding, expired ones excluded. */
  async count(): Promise<number> {
    this.reclaimExpired(Date.now());
    return this.outstanding();
  }

  override async alarm(): Promise<void> {
    if (this.reclaimExpired(Date.now()) > 0) this.wakeWaiters();
    await this.scheduleAlarm();
  }

  private holds(queue: string, holder: PermitHolder): boolean {
    return (
      this.sql
        .exec(
          "SELECT 1 FROM permits WHERE queue = ? AND call_id = ? AND attempt = ?",
          queue,
          holder.callId,
          holder.attempt,
        )
        .toArray().length > 0
    );
  }

  private outstanding(): number {
    return this.sql.exec("SELECT COUNT(*) AS n FROM permits").one().n as number;
  }

  private reclaimExpired(nowMs: number): number {
    const expired = this.sql
      .exec(
        "SELECT queue, call_id, attempt FROM permits WHERE expires_ms <= ?",
        nowMs,
      )
      .toArray();
    if (expired.length === 0) return 0;

    this.sql.exec("DELETE FROM permits WHERE expires_ms <= ?", nowMs);
    log.warn("expired permits reclaimed", {
      permits: expired.map(
        (row) => `${row.queue}/${row.call_id}#${row.attempt}`,
      ),
    });
    return expired.length;
  }

  /** Wakes every waiting queue and clears the waiter list. */
  private wakeWaiters(): void {
    const queues = this.sql
      .exec("SELECT queue FROM waiters")
      .toArray()
      .map((row) => row.queue as string);
    if (queues.length === 0) return;

    this.sql.exec("DELETE FROM waiters");
    for (const queue of queues) {
      const stub = this.env.FUNCTION_QUEUE.get(
        this.env.FUNCTION_QUEUE.idFromName(queue),
      );
      this.ctx.waitUntil(
        stub.wake().catch((error: unknown) => {
          log.error("wake failed", { queue, ...errorFields(error) });
        }),
      );
    }
  }

  /** Keeps the alarm at the earliest lease expiry, or none without permits. */
  private async scheduleAlarm(): Promise<void> {
    const row = this.sql
      .exec("SELECT MIN(expires_ms) AS due FROM permits")
      .one();
    const due = typeof row.due === "number" ? row.due : null;
    if (due === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(due);
  }
}
