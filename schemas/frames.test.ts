import { describe, expect, it } from "vitest";
import * as frames from "./frames.ts";

const error: frames.ErrorInfo = {
  code: "deadlineExceeded",
  type: "DeadlineExceededError",
  message: "late",
  stack: "at x",
  typeChain: ["DeadlineExceededError", "Error"],
};

describe("frame codecs", () => {
  it("round-trips a CallerFrame", () => {
    const frame: frames.CallerFrame = {
      submits: [
        {
          function: "add",
          idempotencyKey: "k1",
          args: new Uint8Array([1, 2, 3]),
          subscribe: true,
          parentCallId: "fc-parent",
          traceContext: "00-abc-def-01",
          heldKeys: ["fn:add", "key:gpu"],
        },
      ],
      subscribes: [{ callId: "fc-x", fromSeq: 7 }],
    };
    expect(frames.decodeCallerFrame(frames.encodeCallerFrame(frame))).toEqual(
      frame,
    );
  });

  it("round-trips every chunk kind in a ServerFrame", () => {
    const head = { callId: "fc-1", attempt: 2 };
    const frame: frames.ServerFrame = {
      accepted: [{ idempotencyKey: "k", callId: "fc-1" }],
      rejected: [{ idempotencyKey: "", callId: "fc-2", error }],
      chunks: [
        { ...head, seq: 0, kind: "value", data: new Uint8Array([9]) },
        { ...head, seq: 1, kind: "result", data: new Uint8Array([8]) },
        { ...head, seq: 2, kind: "error", error },
        { ...head, seq: 3, kind: "end" },
      ],
    };
    expect(frames.decodeServerFrame(frames.encodeServerFrame(frame))).toEqual(
      frame,
    );
  });

  it("round-trips agent and queue frames", () => {
    const agent: frames.AgentFrame = {
      hello: { freeSlots: 3, running: ["fc-a"] },
      credits: 2,
      chunks: [],
      draining: true,
    };
    expect(frames.decodeAgentFrame(frames.encodeAgentFrame(agent))).toEqual(
      agent,
    );

    const queue: frames.QueueFrame = {
      runs: [
        {
          callId: "fc-a",
          attempt: 1,
          args: new Uint8Array([1]),
          deadlineMs: 1_700_000_000_000.5,
          parentCallId: "",
          traceContext: "",
          heldKeys: ["fn:a"],
        },
      ],
      acks: [{ callId: "fc-a", attempt: 1, nextSeq: 4 }],
    };
    expect(frames.decodeQueueFrame(frames.encodeQueueFrame(queue))).toEqual(
      queue,
    );
  });

  it("round-trips fleet frames and reports", () => {
    const fleet: frames.FleetFrame = {
      assignments: [
        { function: "f", version: 3, bundleHash: "ab", spec: "{}" },
      ],
    };
    expect(frames.decodeFleetFrame(frames.encodeFleetFrame(fleet))).toEqual(
      fleet,
    );

    const report: frames.AgentReport = {
      agentId: "a",
      hostname: "h",
      runtime: "docker",
      replicas: [
        {
          replicaId: "r",
          function: "f",
          version: 3,
          state: "building",
          inFlight: 1,
          cpuPercent: 50,
          detail: "step 2/5",
        },
      ],
      gpus: [
        {
          model: "nvidia-l4",
          uuid: "GPU-1",
          memoryMiB: 23034,
          index: 0,
          replicaId: "r",
        },
      ],
    };
    expect(frames.decodeAgentReport(frames.encodeAgentReport(report))).toEqual(
      report,
    );
  });

  it("round-trips worker messages", () => {
    const worker: frames.WorkerMessage = {
      ready: { functions: ["f"], pid: 42 },
      chunks: [],
      calls: { submits: [], subscribes: [{ callId: "fc-1", fromSeq: 0 }] },
    };
    const back = frames.decodeWorkerMessage(frames.encodeWorkerMessage(worker));
    expect(back).toEqual(worker);

    const agent: frames.AgentMessage = {
      runs: [],
      replies: { accepted: [], rejected: [], chunks: [] },
      drain: false,
      relinked: true,
    };
    expect(frames.decodeAgentMessage(frames.encodeAgentMessage(agent))).toEqual(
      agent,
    );
  });
});
