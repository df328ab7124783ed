/**
 * The RateLimiter Durable Object: one per rate-limit key, shared by every
 * function that names the key. It keeps a sliding-window log of grant
 * times in SQLite, so in any window of `windowMs` at most `rate` tokens
 * are granted, also across restarts of the object. A token bucket of
 * capacity `rate` would allow up to twice that in one window, so it is not
 * used here.
 */
import { DurableObject } from "cloudflare:workers";
import type { RateLimitSpec } from "../schemas/spec.ts";
import type { Env } from "./env.ts";
import { createLogger } from "./logger.ts";

const log = createLogger("rate-limiter");

/**
 * Time a grant stays in the log beyond its window. Runs reach the workers
 * with some milliseconds of jitter, so without it two bursts granted one
 * window apart could start within less than one window at the workers.
 * It lowers the achieved rate of a saturated per-second limit by up to 5%.
 */
export const GUARD_MS = 50;

/** Length of one `per` unit in milliseconds. */
export const PER_MS: Record<RateLimitSpec["per"], number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
};

/** A request for up to `count` tokens under a limit of `rate` per `windowMs`. */
export interface TokenRequest {
  count: number;
  rate: number;
  windowMs: number;
}

/** Tokens granted now, and when the next one frees if some were not. */
export interface TokenGrant {
  /** Grant time of each token granted, all equal to the time of the request. */
  grantedAtMs: number[];
  /** When the next token frees; null when every requested token was granted. */
  nextFreeMs: number | null;
}

/** Durable Object holding the grant log of one rate-limit key. */
export class RateLimiter extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS grants (granted_ms REAL NOT NULL)",
    );
    this.sql.exec(
      "CREATE INDEX IF NOT EXISTS grants_by_time ON grants (granted_ms)",
    );
  }

  /**
   * Grants up to `count` tokens now. A grant at time t stays in the log
   * until `t + windowMs + GUARD_MS`, so any window of `windowMs` (and of
   * `windowMs + GUARD_MS`) contains at most `rate` grants.
   */
  async take(request: TokenRequest): Promise<TokenGrant> {
    checkRequest(request);
    const nowMs = Date.now();
    this.sql.exec(
      "DELETE FROM grants WHERE granted_ms < ?",
      nowMs - request.windowMs - GUARD_MS,
    );
    const used = this.sql.exec("SELECT COUNT(*) AS n FROM grants").one()
      .n as number;

    const granted = Math.max(0, Math.min(request.count, request.rate - used));
    for (let i = 0; i < granted; i++) {
      this.sql.exec("INSERT INTO grants (granted_ms) VALUES (?)", nowMs);
    }
    if (granted === request.count) {
      return { grantedAtMs: new Array(granted).fill(nowMs), nextFreeMs: null };
    }

    // The oldest grant in the log frees the next token once it is more
    // than `windowMs + GUARD_MS` old.
    const oldest = this.sql
      .exec("SELECT MIN(granted_ms) AS t FROM grants")
      .one().t as number;
    const nextFreeMs = oldest + request.windowMs + GUARD_MS + 1;
    log.debug("tokens short", {
      requested: request.count,
      granted,
      nextFreeMs,
    });
    return { grantedAtMs: new Array(granted).fill(nowMs), nextFreeMs };
  }

  /** Returns the grant times in the current window, oldest first. */
  async grants(windowMs: number): Promise<number[]> {
    return this.sql
      .exec(
        "SELECT granted_ms FROM grants WHERE granted_ms >= ? ORDER BY granted_ms",
        Date.now() - windowMs - GUARD_MS,
      )
      .toArray()
      .map((row) => row.granted_ms as number);
  }
}

/** Throws a RangeError naming the field of an invalid token request. */
export function checkRequest(request: TokenRequest): void {
  if (!Number.isInteger(request.count) || request.count < 0) {
    throw new RangeError(
      `token count must be an integer >= 0, got ${request.count}`,
    );
  }
  if (!Number.isInteger(request.rate) || request.rate < 1) {
    throw new RangeError(`rate must be an integer >= 1, got ${request.rate}`);
  }
  if (!(request.windowMs > 0)) {
    throw new RangeError(`windowMs must be > 0, got ${request.windowMs}`);
  }
}
