/**
 * The real stack with the docker runtime: workerd, an agent that runs each
 * replica in a container, and the Docker engine. Functions are deployed over
 * HTTP with hand-written specs so each compute option is set exactly.
 * Skipped when no engine responds; CI starts one.
 */
import path from "node:path";
import type Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pingDocker } from "../../fleet-agent/runtime/select-runtime.ts";
import type { FunctionSpec } from "../../schemas/spec.ts";
import { bundleModule } from "../../sdk/deploy.ts";
import {
  gatewayFetch,
  startTestStack,
  type TestStack,
  waitFor,
} from "../helpers/stack.ts";

const ping = await pingDocker();
const docker = "docker" in ping ? ping.docker : undefined;
const FIXTURE = path.resolve(
  import.meta.dirname,
  "../fixtures/docker-functions.ts",
);
const SECRET = "e2e-docker-secret-5f1c";
const VOLUME = `e2e-docker-${process.pid}`;

let stack: TestStack;
let bundleHash: string;

beforeAll(async () => {
  if (!docker) return;
  stack = await startTestStack({
    agentEnv: { CHALKCOMPUTE_AGENT_RUNTIME: "docker" },
  });
  const bundle = await bundleModule(FIXTURE);
  bundleHash = bundle.hash;
  const upload = await gatewayFetch(stack, `/v1/bundles/${bundle.hash}`, {
    method: "PUT",
    body: bundle.code,
  });
  expect(upload.ok).toBe(true);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await docker
    ?.getVolume(VOLUME)
    .remove()
    .catch(() => {});
});

async function deploy(
  name: string,
  options: Partial<FunctionSpec> = {},
): Promise<number> {
  const spec: FunctionSpec = {
    name,
    generator: false,
    concurrency: 1,
    timeoutSeconds: 60,
    module: "test/fixtures/docker-functions.ts",
    bundleHash,
    ...options,
  };
  const response = await gatewayFetch(stack, "/v1/deploy", {
    method: "POST",
    body: JSON.stringify({ functions: [spec] }),
    headers: { "content-type": "application/json" },
  });
  const body = (await response.json()) as {
    functions: { version: number }[];
  };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.functions[0]?.version ?? 0;
}

async function callHttp(
  name: string,
  args: unknown[],
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await gatewayFetch(stack, `/v1/functions/${name}/call`, {
    method: "POST",
    body: JSON.stringify({ args }),
    headers: { "content-type": "application/json" },
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function containersOf(name: string): Promise<Dockerode.ContainerInfo[]> {
  return (docker as Dockerode).listContainers({
    filters: { label: [`chalkcompute.function=${name}`] },
  });
}

async function inspectOne(name: string) {
  let id = "";
  await waitFor(async () => {
    id = (await containersOf(name))[0]?.Id ?? "";
    return id !== "";
  }, 60_000);
  return (docker as Dockerode).getContainer(id).inspect();
}

describe.skipIf(!docker)("docker runtime on the stack", () => {
  it("serves a call from a limited, hardened container with its secret", async () => {
    const secret = await gatewayFetch(stack, "/v1/secrets/e2e_docker", {
      method: "PUT",
      body: JSON.stringify({ values: { E2E_API_KEY: SECRET } }),
      headers: { "content-type": "application/json" },
    });
    expect(secret.ok).toBe(true);
    await deploy("e2e_docker_whoami", {
      cpu: 0.5,
      memoryBytes: 256 * 2 ** 20,
      secrets: ["e2e_docker"],
    });

    const { status, body } = await callHttp("e2e_docker_whoami", []);
    expect(status).toBe(200);
    expect(body.result).toEqual({ uid: 1000, key: SECRET });

    const info = await inspectOne("e2e_docker_whoami");
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(256 * 2 ** 20);
    expect(info.Config.User).toBe("1000:1000");
    expect(info.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(info.HostConfig.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.PidsLimit).toBeGreaterThan(0);
    expect(info.Config.Env).toContain(`E2E_API_KEY=${SECRET}`);

    // The secret is in no API response and no log line.
    for (const route of [
      "/v1/secrets",
      "/v1/functions",
      "/v1/functions/e2e_docker_whoami",
      "/v1/functions/e2e_docker_whoami/logs?tail=1000",
    ]) {
      const text = await (await gatewayFetch(stack, route)).text();
      expect(text, route).not.toContain(SECRET);
    }
    expect(stack.logs.join("\n")).not.toContain(SECRET);
  }, 120_000);

  it("masks the secret in an error message", async () => {
    await deploy("e2e_docker_leak", { secrets: ["e2e_docker"] });
    const { status, body } = await callHttp("e2e_docker_leak", []);
    expect(status).toBe(500);
    expect(body.error).toMatchObject({ message: "the key is ***" });
    expect(JSON.stringify(body)).not.toContain(SECRET);
  }, 120_000);

  it("fails a call that runs the container out of memory", async () => {
    await deploy("e2e_docker_hog", { memoryBytes: 64 * 2 ** 20 });
    const { status, body } = await callHttp("e2e_docker_hog", []);
    expect(status).toBeGreaterThanOrEqual(500);
    expect(body.error).toMatchObject({
      type: "ResourceExhausted",
      message: "replica ran out of memory (limit 64Mi)",
    });
  }, 120_000);

  it("keeps a file on a volume across a container kill", async () => {
    await deploy("e2e_docker_append", {
      volumes: [{ name: VOLUME, mountPath: "/data" }],
    });
    expect((await callHttp("e2e_docker_append", ["one"])).body.result).toBe(
      "one\n",
    );

    const first = await inspectOne("e2e_docker_append");
    await (docker as Dockerode).getContainer(first.Id).kill();
    await waitFor(async () => {
      const ids = (await containersOf("e2e_docker_append")).map((c) => c.Id);
      return ids.length > 0 && !ids.includes(first.Id);
    }, 60_000);

    expect((await callHttp("e2e_docker_append", ["two"])).body.result).toBe(
      "one\ntwo\n",
    );
  }, 120_000);

  it("fails a call whose container is killed mid-call", async () => {
    await deploy("e2e_docker_slow");
    await inspectOne("e2e_docker_slow");
    const pending = callHttp("e2e_docker_slow", ["x", 20_000]);

    await new Promise((r) => setTimeout(r, 1_000));
    const [container] = await containersOf("e2e_docker_slow");
    await (docker as Dockerode).getContainer(container?.Id ?? "").kill();

    const { status, body } = await pending;
    expect(status).toBe(503);
    expect(body.error).toMatchObject({ type: "UnavailableError" });
    expect(String((body.error as { message: string }).message)).toMatch(
      /exited with signal SIGKILL while running call/,
    );
  }, 120_000);

  it("shows a failed build and keeps the previous version serving", async () => {
    await deploy("e2e_docker_slow");
    // Version 1 must serve before version 2 exists for it to keep serving.
    await waitFor(async () => {
      const response = await gatewayFetch(
        stack,
        "/v1/functions/e2e_docker_slow",
      );
      return (
        ((await response.json()) as { status?: string }).status === "ready"
      );
    }, 60_000);
    const version = await deploy("e2e_docker_slow", {
      image: {
        base: "chalkcompute/node-base",
        commands: ["echo preparing", "exit 3"],
        env: {},
        files: [],
      },
    });

    let build: { state?: string; detail?: string } = {};
    await waitFor(async () => {
      const response = await gatewayFetch(
        stack,
        "/v1/functions/e2e_docker_slow",
      );
      build = ((await response.json()) as { build?: typeof build }).build ?? {};
      return build.state === "failed";
    }, 60_000);
    expect(build.detail).toContain('RUN ["/bin/sh","-c","exit 3"] failed');
    expect(build.detail).toContain("returned a non-zero code: 3");
    expect(version).toBeGreaterThan(1);

    const { status, body } = await callHttp("e2e_docker_slow", ["old", 10]);
    expect(status).toBe(200);
    expect(body.result).toBe("old");
  }, 120_000);
});
