import { describe, expect, it } from "vitest";
import type {
  AgentReport,
  Assignment,
  GpuInfo,
  ReplicaReport,
} from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";
import {
  assignmentsForAgent,
  buildStatusOf,
  placementOf,
} from "./fleet-placement.ts";
import { makeSpec } from "./test-kit.ts";

function gpu(model: string, replicaId = "", index = 0): GpuInfo {
  return {
    model,
    uuid: `GPU-${model}-${index}`,
    memoryMiB: 1,
    index,
    replicaId,
  };
}

function replica(
  fn: string,
  state: string,
  overrides: Partial<ReplicaReport> = {},
): ReplicaReport {
  return {
    replicaId: `r-${fn}`,
    function: fn,
    version: 1,
    state,
    inFlight: 0,
    cpuPercent: 0,
    detail: "",
    ...overrides,
  };
}

function report(gpus: GpuInfo[], replicas: ReplicaReport[] = []): AgentReport {
  return { agentId: "a1", hostname: "h", runtime: "docker", gpus, replicas };
}

function assignment(spec: FunctionSpec): Assignment {
  return {
    function: spec.name,
    version: 1,
    bundleHash: spec.bundleHash,
    spec: JSON.stringify(spec),
  };
}

const plain = assignment(makeSpec("plain"));
const oneL4 = assignment(
  makeSpec("one_l4", { gpu: { model: "nvidia-l4", count: 1 } }),
);
const twoL4 = assignment(
  makeSpec("two_l4", { gpu: { model: "nvidia-l4", count: 2 } }),
);
const all = [plain, oneL4, twoL4];
const names = (list: Assignment[]) => list.map((a) => a.function);

describe("assignmentsForAgent", () => {
  it("sends only functions without a GPU before a report", () => {
    expect(names(assignmentsForAgent(all, null))).toEqual(["plain"]);
  });

  it("sends a GPU function when enough GPUs are free", () => {
    const one = report([gpu("nvidia-l4")]);
    const two = report([gpu("nvidia-l4", "", 0), gpu("nvidia-l4", "", 1)]);
    const other = report([gpu("nvidia-h100")]);

    expect(names(assignmentsForAgent(all, one))).toEqual(["plain", "one_l4"]);
    expect(names(assignmentsForAgent(all, two))).toEqual(names(all));
    expect(names(assignmentsForAgent(all, other))).toEqual(["plain"]);
  });

  it("counts GPUs held by the same function as usable", () => {
    const own = report(
      [gpu("nvidia-l4", "r-one_l4")],
      [replica("one_l4", "serving")],
    );
    const taken = report(
      [gpu("nvidia-l4", "r-other")],
      [replica("other", "serving")],
    );
    const unknownHolder = report([gpu("nvidia-l4", "r-gone")]);

    expect(names(assignmentsForAgent(all, own))).toContain("one_l4");
    expect(names(assignmentsForAgent(all, taken))).toEqual(["plain"]);
    expect(names(assignmentsForAgent(all, unknownHolder))).toEqual(["plain"]);
  });
});

describe("placementOf", () => {
  const l4 = { model: "nvidia-l4", count: 1 };

  it("is ok without a GPU, even with no agent", () => {
    expect(placementOf(undefined, [])).toEqual({ ok: true });
  });

  it("reports no connected agent", () => {
    expect(placementOf(l4, [])).toEqual({
      ok: false,
      message: "no agent is connected",
    });
  });

  it("names the model and what the fleet has", () => {
    const agents = [
      { agentId: "a", report: report([gpu("nvidia-l4"), gpu("nvidia-l4")]) },
    ];
    expect(placementOf({ model: "nvidia-h100", count: 1 }, agents)).toEqual({
      ok: false,
      message:
        "no connected agent has GPU nvidia-h100 (the fleet has: nvidia-l4 x2)",
    });
    expect(placementOf({ model: "nvidia-l4", count: 3 }, agents)).toEqual({
      ok: false,
      message:
        "no connected agent has 3 GPUs nvidia-l4 (the fleet has: nvidia-l4 x2)",
    });
    expect(placementOf(l4, agents)).toEqual({ ok: true });
  });

  it("says when the fleet has no GPUs", () => {
    const agents = [{ agentId: "a", report: report([]) }];
    expect(placementOf(l4, agents)).toEqual({
      ok: false,
      message: "no connected agent has GPU nvidia-l4 (the fleet has no GPUs)",
    });
  });

  it("is ok while an agent has not reported", () => {
    const agents = [
      { agentId: "a", report: report([]) },
      { agentId: "", report: null },
    ];
    expect(placementOf(l4, agents)).toEqual({ ok: true });
  });

  it("is ok when the GPUs exist but are held", () => {
    const agents = [
      {
        agentId: "a",
        report: report([gpu("nvidia-l4", "r-x")], [replica("x", "serving")]),
      },
    ];
    expect(placementOf(l4, agents)).toEqual({ ok: true });
  });
});

describe("buildStatusOf", () => {
  const step = "step 3/6: RUN npm install";
  const failure = "step 4/6: RUN false\nexit code 1";

  it("is none without replicas of the version", () => {
    const reports = [report([], [replica("f", "serving", { version: 2 })])];
    expect(buildStatusOf("f", 1, reports)).toEqual({
      state: "none",
      detail: "",
    });
  });

  it("shows the current step while building", () => {
    const reports = [report([], [replica("f", "building", { detail: step })])];
    expect(buildStatusOf("f", 1, reports)).toEqual({
      state: "building",
      detail: step,
    });
  });

  it("shows the failure detail", () => {
    const reports = [
      report([], [replica("f", "build-failed", { detail: failure })]),
    ];
    expect(buildStatusOf("f", 1, reports)).toEqual({
      state: "failed",
      detail: failure,
    });
  });

  it("prefers ready, then building, over failed", () => {
    const failed = report(
      [],
      [replica("f", "build-failed", { detail: failure })],
    );
    const building = report([], [replica("f", "building", { detail: step })]);
    const serving = report([], [replica("f", "serving")]);

    expect(buildStatusOf("f", 1, [failed, building]).state).toBe("building");
    expect(buildStatusOf("f", 1, [failed, serving]).state).toBe("ready");
    for (const state of ["starting", "serving", "draining", "crashed"]) {
      const reports = [report([], [replica("f", state)])];
      expect(buildStatusOf("f", 1, reports).state).toBe("ready");
    }
  });
});
