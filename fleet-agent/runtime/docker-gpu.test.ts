// Checks the GPU device requests of a replica container as the engine
// stores them. The container is created but never started: starting it needs
// the NVIDIA container runtime, which only a GPU host has.
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { FunctionSpec } from "../../schemas/spec.ts";
import { ensureBaseImage } from "../images/base-image.ts";
import { containerOptions } from "./docker-runtime.ts";
import type { ReplicaLaunch } from "./runtime.ts";
import { pingDocker } from "./select-runtime.ts";

const ping = await pingDocker();
const docker = "docker" in ping ? ping.docker : undefined;
const created: string[] = [];

afterEach(async () => {
  for (const id of created.splice(0)) {
    await docker?.getContainer(id).remove({ force: true });
  }
});

function launch(gpus: string[]): ReplicaLaunch {
  const spec: FunctionSpec = {
    name: "gpu_fn",
    generator: false,
    concurrency: 1,
    timeoutSeconds: 60,
    module: "gpu.ts",
    bundleHash: "0".repeat(64),
    gpu: { model: "nvidia-h100", count: gpus.length },
  };
  return {
    replicaId: `r-${crypto.randomUUID().slice(0, 8)}`,
    functionName: "gpu_fn",
    version: 1,
    spec,
    dataDir: "/tmp",
    env: {},
    gpus,
    workerPath: "/tmp/worker.mjs",
    bundlePath: "/tmp/bundle.mjs",
    socketPath: "/tmp/agent.sock",
    replicaDir: "/tmp",
    onOutput: () => {},
    onError: () => {},
  } as ReplicaLaunch;
}

describe.skipIf(!docker)("docker GPU device requests", () => {
  it("names exactly the assigned GPUs", async () => {
    const engine = docker!;
    const image = await ensureBaseImage(engine, pino({ level: "silent" }));
    const uuids = ["GPU-11111111-aaaa", "GPU-22222222-bbbb"];
    const options = containerOptions(launch(uuids), image, "agent-test");
    const container = await engine.createContainer(options);
    created.push(container.id);

    const info = await container.inspect();
    const requests = info.HostConfig.DeviceRequests ?? [];
    expect(requests).toHaveLength(1);
    expect(requests[0]?.Driver).toBe("nvidia");
    expect(requests[0]?.DeviceIDs).toEqual(uuids);
    expect(requests[0]?.Capabilities).toEqual([["gpu"]]);
  });

  it("requests no device without GPUs", async () => {
    const engine = docker!;
    const image = await ensureBaseImage(engine, pino({ level: "silent" }));
    const container = await engine.createContainer(
      containerOptions(launch([]), image, "agent-test"),
    );
    created.push(container.id);

    const info = await container.inspect();
    expect(info.HostConfig.DeviceRequests ?? []).toEqual([]);
  });
});
