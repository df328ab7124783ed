import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AgentReport,
  encodeAgentReport,
  type ReplicaReport,
} from "../schemas/frames.ts";
import { catalogStub, fleetStub } from "./env.ts";
import {
  freshName,
  makeSpec,
  nextFleetFrame,
  settle,
  TestSocket,
  until,
} from "./test-kit.ts";

const sockets: TestSocket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await settle(50);
});

async function agentSocket(): Promise<TestSocket> {
  const ws = await TestSocket.open(fleetStub(env), "https://fleet/agent");
  sockets.push(ws);
  return ws;
}

function freshModel(): string {
  return `nvidia-t${crypto.randomUUID().slice(0, 8)}`;
}

function sendReport(
  ws: TestSocket,
  agentId: string,
  gpus: { model: string; replicaId?: string }[],
  replicas: Partial<ReplicaReport>[] = [],
): void {
  const report: AgentReport = {
    agentId,
    hostname: "host",
    runtime: "docker",
    gpus: gpus.map((g, index) => ({
      model: g.model,
      uuid: `GPU-${agentId}-${index}`,
      memoryMiB: 24_000,
      index,
      replicaId: g.replicaId ?? "",
    })),
    replicas: replicas.map((r) => ({
      replicaId: "r1",
      function: "f",
      version: 1,
      state: "serving",
      inFlight: 0,
      cpuPercent: 0,
      detail: "",
      ...r,
    })),
  };
  ws.socket.send(encodeAgentReport(report));
}

async function functionStatus(name: string) {
  const response = await SELF.fetch(
    `https://gateway.test/v1/functions/${name}`,
    { headers: { Authorization: "Bearer test-token" } },
  );
  return (await response.json()) as {
    build: { state: string; detail: string };
    placement: { ok: boolean; message?: string };
  };
}

describe("Fleet GPU placement", () => {
  it("sends a GPU function only after a report shows the GPU", async () => {
    const model = freshModel();
    const plain = freshName();
    const gpuFn = freshName();
    await catalogStub(env).deploy([
      makeSpec(plain),
      makeSpec(gpuFn, { gpu: { model, count: 1 } }),
    ]);

    const ws = await agentSocket();
    const first = (await nextFleetFrame(ws)).assignments.map((a) => a.function);
    expect(first).toContain(plain);
    expect(first).not.toContain(gpuFn);

    sendReport(ws, `agent-${model}`, [{ model }]);
    const second = (await nextFleetFrame(ws)).assignments.map(
      (a) => a.function,
    );
    expect(second).toContain(plain);
    expect(second).toContain(gpuFn);

    // The same report again changes nothing, so nothing is re-sent.
    sendReport(ws, `agent-${model}`, [{ model }]);
    await settle(100);
    expect(ws.unread).toBe(0);
  });

  it("withdraws a GPU function when another takes the GPU", async () => {
    const model = freshModel();
    const gpuFn = freshName();
    const agentId = `agent-${model}`;
    await catalogStub(env).deploy([
      makeSpec(gpuFn, { gpu: { model, count: 1 } }),
    ]);
    const ws = await agentSocket();
    await nextFleetFrame(ws);
    sendReport(ws, agentId, [{ model }]);
    const withGpu = await nextFleetFrame(ws);
    expect(withGpu.assignments.map((a) => a.function)).toContain(gpuFn);

    sendReport(
      ws,
      agentId,
      [{ model, replicaId: "r-other" }],
      [{ replicaId: "r-other", function: "other" }],
    );
    const without = await nextFleetFrame(ws);
    expect(without.assignments.map((a) => a.function)).not.toContain(gpuFn);
  });

  it("shows placement in the function status", async () => {
    const model = freshModel();
    const name = freshName();
    await catalogStub(env).deploy([
      makeSpec(name, { gpu: { model, count: 1 } }),
    ]);
    const ws = await agentSocket();
    await nextFleetFrame(ws);
    sendReport(ws, `agent-${model}`, [
      { model: "nvidia-l4" },
      { model: "nvidia-l4" },
    ]);

    const status = await until(async () => {
      const s = await functionStatus(name);
      return s.placement.ok ? null : s;
    }, "placement to be not ok");
    expect(status.placement.message).toContain(
      `no connected agent has GPU ${model}`,
    );
    expect(status.placement.message).toContain("nvidia-l4 x2");
  });
});

describe("Fleet build status", () => {
  it("follows the replicas' build state", async () => {
    const name = freshName();
    await catalogStub(env).deploy([makeSpec(name)]);
    const agentId = `agent-${name}`;
    const ws = await agentSocket();
    await nextFleetFrame(ws);
    expect((await functionStatus(name)).build).toEqual({
      state: "none",
      detail: "",
    });

    const step = "step 3/6: RUN npm install";
    sendReport(
      ws,
      agentId,
      [],
      [{ function: name, state: "building", detail: step }],
    );
    const building = await until(async () => {
      const s = await functionStatus(name);
      return s.build.state === "building" ? s : null;
    }, "build state building");
    expect(building.build.detail).toBe(step);
    expect(building.placement).toEqual({ ok: true });

    const failure = "step 4/6: RUN false\nexit code 1";
    sendReport(
      ws,
      agentId,
      [],
      [{ function: name, state: "build-failed", detail: failure }],
    );
    const failed = await until(async () => {
      const s = await functionStatus(name);
      return s.build.state === "failed" ? s : null;
    }, "build state failed");
    expect(failed.build.detail).toBe(failure);
  });

  it("ignores reports of disconnected agents", async () => {
    const name = freshName();
    await catalogStub(env).deploy([makeSpec(name)]);
    const ws = await agentSocket();
    await nextFleetFrame(ws);
    sendReport(ws, `agent-${name}`, [], [{ function: name, state: "serving" }]);
    await until(
      async () => (await functionStatus(name)).build.state === "ready",
      "build state ready",
    );

    ws.close();
    await until(
      async () => (await functionStatus(name)).build.state === "none",
      "build state none after the agent left",
    );
  });

  it("lists build and placement for every function", async () => {
    const name = freshName();
    await catalogStub(env).deploy([makeSpec(name)]);
    const response = await SELF.fetch("https://gateway.test/v1/functions", {
      headers: { Authorization: "Bearer test-token" },
    });
    const body = (await response.json()) as {
      functions: { name: string; build: unknown; placement: unknown }[];
    };
    const mine = body.functions.find((f) => f.name === name);
    expect(mine?.build).toEqual({ state: "none", detail: "" });
    expect(mine?.placement).toEqual({ ok: true });
  });
});
