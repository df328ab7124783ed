/**
 * Placement rules of the Fleet: which assignments an agent can serve given
 * its GPUs, whether a function can be placed on any connected agent, and
 * the build state of a function version from the agents' reports.
 */
import type { AgentReport, Assignment } from "../schemas/frames.ts";
import type { FunctionSpec, GpuSpec } from "../schemas/spec.ts";

/** Whether some connected agent can ever run the function, and why not. */
export type Placement = { ok: true } | { ok: false; message: string };

/** Build state of a function version across the connected agents. */
export interface BuildStatus {
  state: "building" | "failed" | "ready" | "none";
  /** The current build step, or the failing step and the end of its log. */
  detail: string;
}

/** A connected agent and its latest report, null before the first one. */
export interface ConnectedAgent {
  agentId: string;
  report: AgentReport | null;
}

/** Returns the GPU requirement in an assignment's spec JSON, if any. */
export function gpuOfAssignment(assignment: Assignment): GpuSpec | undefined {
  return (JSON.parse(assignment.spec) as FunctionSpec).gpu;
}

/**
 * Returns whether the agent of `report` has `gpu.count` GPUs of the model
 * that are free or held by replicas of `functionName` itself. A GPU held
 * by a replica the report does not list counts as taken.
 */
export function canServeGpu(
  functionName: string,
  gpu: GpuSpec,
  report: AgentReport,
): boolean {
  const functionOfReplica = new Map(
    report.replicas.map((replica) => [replica.replicaId, replica.function]),
  );
  const usable = report.gpus.filter(
    (info) =>
      info.model === gpu.model &&
      (info.replicaId === "" ||
        functionOfReplica.get(info.replicaId) === functionName),
  );
  return usable.length >= gpu.count;
}

/**
 * Returns the assignments one agent should get: every function without a
 * GPU, and a function with one only when the agent's latest report shows
 * enough usable GPUs of its model. Before the first report (`report`
 * null) the agent gets only functions without a GPU.
 */
export function assignmentsForAgent(
  assignments: Assignment[],
  report: AgentReport | null,
): Assignment[] {
  return assignments.filter((assignment) => {
    const gpu = gpuOfAssignment(assignment);
    if (!gpu) return true;
    return report !== null && canServeGpu(assignment.function, gpu, report);
  });
}

/** Summarizes the GPUs of the agents, like "nvidia-h100 x1, nvidia-l4 x2". */
export function summarizeGpus(agents: ConnectedAgent[]): string {
  const counts = new Map<string, number>();
  for (const agent of agents) {
    for (const info of agent.report?.gpus ?? []) {
      counts.set(info.model, (counts.get(info.model) ?? 0) + 1);
    }
  }
  return [...counts.keys()]
    .sort()
    .map((model) => `${model} x${counts.get(model)}`)
    .join(", ");
}

/**
 * Returns whether a function needing `gpu` can run on a connected agent:
 * some agent must have at least `gpu.count` GPUs of the model, free or
 * not, because held GPUs free up when other replicas stop. An agent that
 * has not reported yet counts as able, since its GPUs are still unknown.
 */
export function placementOf(
  gpu: GpuSpec | undefined,
  agents: ConnectedAgent[],
): Placement {
  if (!gpu) return { ok: true };
  if (agents.length === 0)
    return { ok: false, message: "no agent is connected" };

  const able = agents.some(
    (agent) =>
      agent.report === null ||
      agent.report.gpus.filter((info) => info.model === gpu.model).length >=
        gpu.count,
  );
  if (able) return { ok: true };

  const summary = summarizeGpus(agents);
  const fleet =
    summary === "" ? "the fleet has no GPUs" : `the fleet has: ${summary}`;
  const need =
    gpu.count === 1 ? `GPU ${gpu.model}` : `${gpu.count} GPUs ${gpu.model}`;
  return { ok: false, message: `no connected agent has ${need} (${fleet})` };
}

const READY_STATES = new Set(["starting", "serving", "draining", "crashed"]);

/**
 * Returns the build state of `name@version` from the agents' replicas:
 * "ready" when any agent finished building it, else "building" while any
 * agent still builds, else "failed" when a build failed, else "none".
 */
export function buildStatusOf(
  name: string,
  version: number,
  reports: AgentReport[],
): BuildStatus {
  const replicas = reports
    .flatMap((report) => report.replicas)
    .filter((r) => r.function === name && r.version === version);

  if (replicas.some((r) => READY_STATES.has(r.state))) {
    return { state: "ready", detail: "" };
  }
  const building = replicas.find((r) => r.state === "building");
  if (building) return { state: "building", detail: building.detail };
  const failed = replicas.find((r) => r.state === "build-failed");
  if (failed) return { state: "failed", detail: failed.detail };
  return { state: "none", detail: "" };
}
