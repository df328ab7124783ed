import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { encodeAgentReport } from "../schemas/frames.ts";
import { catalogStub, fleetStub, queueStub } from "./env.ts";
import {
  FAKE_BUNDLE,
  freshName,
  makeSpec,
  nextFleetFrame,
  TestSocket,
  until,
} from "./test-kit.ts";

const sockets: TestSocket[] = [];

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

async function agentSocket(): Promise<TestSocket> {
  const ws = await TestSocket.open(fleetStub(env), "https://fleet/agent");
  sockets.push(ws);
  return ws;
}

describe("Catalog deploy", () => {
  it("adds a version only when the spec changes", async () => {
    const name = freshName();
    const catalog = catalogStub(env);

    const first = await catalog.deploy([makeSpec(name)]);
    const same = await catalog.deploy([makeSpec(name)]);
    const changed = await catalog.deploy([makeSpec(name, { concurrency: 3 })]);

    expect(first).toEqual([{ name, version: 1, changed: true }]);
    expect(same).toEqual([{ name, version: 1, changed: false }]);
    expect(changed).toEqual([{ name, version: 2, changed: true }]);
    const versions = await catalog.versions(name);
    expect(versions.map((v) => v.spec.concurrency)).toEqual([1, 3]);
    expect((await catalog.get(name))?.version).toBe(2);
  });

  it("configures the function's queue", async () => {
    const name = freshName();
    await catalogStub(env).deploy([makeSpec(name, { timeoutSeconds: 5 })]);
    await catalogStub(env).deploy([makeSpec(name, { timeoutSeconds: 6 })]);
    expect((await queueStub(env, name).stats()).version).toBe(2);
  });

  it("lists every deployed function", async () => {
    const a = freshName("a");
    const b = freshName("b");
    await catalogStub(env).deploy([makeSpec(a), makeSpec(b)]);
    const names = (await catalogStub(env).list()).map((e) => e.name);
    expect(names).toContain(a);
    expect(names).toContain(b);
    expect(await catalogStub(env).get(freshName())).toBeNull();
  });

  it("builds assignments from current specs", async () => {
    const name = freshName();
    await catalogStub(env).deploy([makeSpec(name, { generator: true })]);
    const assignments = await catalogStub(env).assignments();
    const mine = assignments.find((a) => a.function === name);
    expect(mine?.version).toBe(1);
    expect(mine?.bundleHash).toBe(FAKE_BUNDLE);
    expect(JSON.parse(mine?.spec ?? "{}")).toEqual(
      makeSpec(name, { generator: true }),
    );
  });
});

describe("Fleet", () => {
  it("sends assignments on connect and deploy", async () => {
    const before = freshName();
    await catalogStub(env).deploy([makeSpec(before)]);
    const ws = await agentSocket();
    const onConnect = await nextFleetFrame(ws);
    expect(onConnect.assignments.map((a) => a.function)).toContain(before);

    const after = freshName();
    await catalogStub(env).deploy([makeSpec(after)]);
    const onDeploy = await nextFleetFrame(ws);
    const names = onDeploy.assignments.map((a) => a.function);
    expect(names).toContain(before);
    expect(names).toContain(after);
  });

  it("sends nothing for an unchanged deploy", async () => {
    const name = freshName();
    await catalogStub(env).deploy([makeSpec(name)]);
    const ws = await agentSocket();
    await nextFleetFrame(ws);
    await catalogStub(env).deploy([makeSpec(name)]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ws.unread).toBe(0);
  });

  it("keeps the latest report per agent", async () => {
    const ws = await agentSocket();
    await nextFleetFrame(ws);
    const agentId = `agent-${crypto.randomUUID()}`;
    const report = (inFlight: number) =>
      encodeAgentReport({
        agentId,
        hostname: "host-1",
        runtime: "process",
        gpus: [],
        replicas: [
          {
            replicaId: "r1",
            function: "f",
            version: 1,
            state: "serving",
            inFlight,
            cpuPercent: 12.5,
            detail: "",
          },
        ],
      });
    const storedWith = (inFlight: number) =>
      until(async () => {
        const reports = await fleetStub(env).reports();
        const mine = reports.find((r) => r.agentId === agentId);
        return mine?.replicas[0]?.inFlight === inFlight ? mine : null;
      }, `the report with inFlight ${inFlight}`);
    ws.socket.send(report(1));
    await storedWith(1);
    ws.socket.send(report(2));

    const stored = await storedWith(2);
    expect(stored.hostname).toBe("host-1");
    expect(stored.replicas[0]?.cpuPercent).toBe(12.5);
  });
});
