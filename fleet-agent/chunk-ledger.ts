import type { Ack, Chunk } from "../schemas/frames.ts";

/** `Ack.nextSeq` of a call the queue no longer waits for: forget all of it. */
export const FORGET_ALL = 0xffff_ffff;

const FINAL_KINDS = new Set<Chunk["kind"]>(["result", "error", "end"]);

interface AttemptChunks {
  callId: string;
  nextSeq: number;
  /** True once the final chunk is recorded. */
  ended: boolean;
  /** Chunks the queue has not acknowledged yet, in seq order. */
  unacked: Chunk[];
}

/**
 * Numbers one replica's output chunks per call attempt and keeps each chunk
 * until the queue acknowledges it. The ledger outlives the replica's links:
 * after a reconnect every unacknowledged chunk is sent again, and the queue
 * drops those it already stored by their seq. So a chunk that was in flight
 * when a link or the queue went down is neither lost nor stored twice.
 */
export class ChunkLedger {
  private readonly attempts = new Map<string, AttemptChunks>();

  /** Assigns each chunk the next seq of its call attempt and keeps it. */
  record(chunks: Chunk[]): Chunk[] {
    return chunks.map((chunk) => {
      const key = attemptKey(chunk.callId, chunk.attempt);
      let entry = this.attempts.get(key);
      if (!entry) {
        entry = { callId: chunk.callId, nextSeq: 0, ended: false, unacked: [] };
        this.attempts.set(key, entry);
      }
      const numbered = { ...chunk, seq: entry.nextSeq } as Chunk;
      entry.nextSeq += 1;
      entry.ended ||= FINAL_KINDS.has(chunk.kind);
      entry.unacked.push(numbered);
      return numbered;
    });
  }

  /** Drops the chunks that the queue has stored, and attempts it is done with. */
  acknowledge(acks: Ack[]): void {
    for (const ack of acks) {
      const key = attemptKey(ack.callId, ack.attempt);
      const entry = this.attempts.get(key);
      if (!entry) continue;
      if (ack.nextSeq === FORGET_ALL) {
        this.attempts.delete(key);
        continue;
      }
      entry.unacked = entry.unacked.filter((c) => c.seq >= ack.nextSeq);
      if (entry.ended && entry.unacked.length === 0) this.attempts.delete(key);
    }
  }

  /** Every unacknowledged chunk, in seq order within each call. */
  unacked(): Chunk[] {
    return [...this.attempts.values()].flatMap((entry) => entry.unacked);
  }

  /** Call ids that ended but whose chunks are not all acknowledged. */
  endedUnackedCallIds(): string[] {
    return [...this.attempts.values()]
      .filter((entry) => entry.ended && entry.unacked.length > 0)
      .map((entry) => entry.callId);
  }

  /** Number of chunks the queue has not acknowledged. */
  get size(): number {
    let count = 0;
    for (const entry of this.attempts.values()) count += entry.unacked.length;
    return count;
  }
}

function attemptKey(callId: string, attempt: number): string {
  return `${callId}#${attempt}`;
}
