import type { Logger } from "pino";

/** One captured line of a replica's output, as `POST /v1/agent/logs` takes it. */
export interface LogLine {
  function: string;
  replica: string;
  version: number;
  stream: "stdout" | "stderr";
  line: string;
  /** Epoch milliseconds. */
  ts: number;
}

/** Options of a LogShipper. */
export interface LogShipperOptions {
  gateway: URL;
  token: string;
  logger: Logger;
  /** Time between sends; default 250 ms. */
  intervalMs?: number;
  /** Lines that trigger an immediate send, and the most one request carries; default 200. */
  batchLines?: number;
  /** Lines kept while the gateway is unreachable; older ones are dropped. Default 10000. */
  maxBuffered?: number;
  fetch?: typeof fetch;
}

/**
 * Ships replica output to the gateway in batches. While the gateway is down
 * it keeps the newest `maxBuffered` lines, drops the oldest, and logs how
 * many it dropped once sending works again.
 */
export class LogShipper {
  private buffer: LogLine[] = [];
  private dropped = 0;
  private droppedSinceLog = 0;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly batchLines: number;
  private readonly maxBuffered: number;

  constructor(private readonly options: LogShipperOptions) {
    this.intervalMs = options.intervalMs ?? 250;
    this.batchLines = options.batchLines ?? 200;
    this.maxBuffered = options.maxBuffered ?? 10_000;
  }

  /** Lines dropped since the shipper started. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** Lines waiting to be sent. */
  get pending(): number {
    return this.buffer.length;
  }

  /** Queues one line; sends at once when a full batch is waiting. */
  add(line: LogLine): void {
    if (this.closed) return;
    this.buffer.push(line);
    const excess = this.buffer.length - this.maxBuffered;
    if (excess > 0) {
      this.buffer.splice(0, excess);
      this.dropped += excess;
      this.droppedSinceLog += excess;
    }

    if (this.buffer.length >= this.batchLines) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Sends what is buffered; resolves when that attempt has finished. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sending ??= this.sendAll().finally(() => {
      this.sending = undefined;
      if (this.buffer.length > 0 && !this.closed) {
        this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
      }
    });
    return this.sending;
  }

  /** Sends what is left once, then stops taking lines. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async sendAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.batchLines);
      if (!(await this.send(batch))) return;
      this.buffer.splice(0, batch.length);
      if (this.droppedSinceLog > 0) {
        this.options.logger.warn(
          { dropped: this.droppedSinceLog, total: this.dropped },
          `dropped ${this.droppedSinceLog} replica log lines while the gateway was unreachable`,
        );
        this.droppedSinceLog = 0;
      }
    }
  }

  /** Returns true when the gateway took the batch. */
  private async send(lines: LogLine[]): Promise<boolean> {
    try {
      const response = await (this.options.fetch ?? fetch)(
        new URL("/v1/agent/logs", this.options.gateway),
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${this.options.token}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ lines }),
          signal: AbortSignal.timeout(10_000),
        },
      );
      await response.body?.cancel();
      // A route the gateway lacks will not appear by retrying; drop the batch.
      if (response.status === 404) return true;
      return response.ok;
    } catch {
      return false;
    }
  }
}
