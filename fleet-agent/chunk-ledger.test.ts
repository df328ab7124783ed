import { describe, expect, it } from "vitest";
import type { Chunk } from "../schemas/frames.ts";
import { ChunkLedger, FORGET_ALL } from "./chunk-ledger.ts";

function value(callId: string, attempt = 1): Chunk {
  return { callId, seq: 0, attempt, kind: "value", data: new Uint8Array([1]) };
}

function end(callId: string, attempt = 1): Chunk {
  return { callId, seq: 0, attempt, kind: "end" };
}

describe("ChunkLedger", () => {
  it("numbers chunks per call attempt", () => {
    const ledger = new ChunkLedger();
    const numbered = ledger.record([
      value("a"),
      value("b"),
      value("a"),
      value("a", 2),
    ]);
    expect(numbered.map((c) => `${c.callId}#${c.attempt}:${c.seq}`)).toEqual([
      "a#1:0",
      "b#1:0",
      "a#1:1",
      "a#2:0",
    ]);
  });

  it("keeps chunks until acknowledged", () => {
    const ledger = new ChunkLedger();
    ledger.record([value("a"), value("a"), value("a")]);
    ledger.acknowledge([{ callId: "a", attempt: 1, nextSeq: 2 }]);
    expect(ledger.unacked().map((c) => c.seq)).toEqual([2]);
    expect(ledger.size).toBe(1);
  });

  it("continues numbering after acknowledgements", () => {
    const ledger = new ChunkLedger();
    ledger.record([value("a")]);
    ledger.acknowledge([{ callId: "a", attempt: 1, nextSeq: 1 }]);
    expect(ledger.record([value("a")])[0]?.seq).toBe(1);
  });

  it("forgets an ended call once acknowledged", () => {
    const ledger = new ChunkLedger();
    ledger.record([value("a"), end("a")]);
    expect(ledger.endedUnackedCallIds()).toEqual(["a"]);
    ledger.acknowledge([{ callId: "a", attempt: 1, nextSeq: 2 }]);
    expect(ledger.endedUnackedCallIds()).toEqual([]);
    expect(ledger.size).toBe(0);
    expect(ledger.record([value("a")])[0]?.seq).toBe(0);
  });

  it("drops everything of an attempt the queue gave up", () => {
    const ledger = new ChunkLedger();
    ledger.record([value("a"), value("b")]);
    ledger.acknowledge([{ callId: "a", attempt: 1, nextSeq: FORGET_ALL }]);
    expect(ledger.unacked().map((c) => c.callId)).toEqual(["b"]);
  });

  it("ignores acknowledgements of unknown attempts", () => {
    const ledger = new ChunkLedger();
    ledger.record([value("a")]);
    ledger.acknowledge([{ callId: "a", attempt: 2, nextSeq: 5 }]);
    expect(ledger.size).toBe(1);
  });
});
