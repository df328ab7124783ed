import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { nextFleetFrame, TestSocket } from "../durable-objects/test-kit.ts";
import { api, deployFunction, TOKEN } from "./test-client.ts";

const sockets: TestSocket[] = [];

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

const upgrade = { Upgrade: "websocket" };

describe("agent routes", () => {
  it("sends the fleet frame on connect", async () => {
    const spec = await deployFunction();
    const ws = await TestSocket.open(
      SELF,
      "https://gateway.test/v1/agent/fleet",
      { Authorization: `Bearer ${TOKEN}` },
    );
    sockets.push(ws);
    const frame = await nextFleetFrame(ws);
    const mine = frame.assignments.find((a) => a.function === spec.name);
    expect(mine?.bundleHash).toBe(spec.bundleHash);
  });

  it.each([
    ["agent", "?replica=r&version=1"],
    ["replica", "?agent=a&version=1"],
    ["version", "?agent=a&replica=r"],
  ])("rejects a link without %s", async (param, query) => {
    const response = await api(`/v1/agent/functions/f/link${query}`, {
      headers: upgrade,
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain(param);
  });

  it("rejects a version that is no integer", async () => {
    const response = await api(
      "/v1/agent/functions/f/link?agent=a&replica=r&version=x",
      { headers: upgrade },
    );
    expect(response.status).toBe(400);
  });

  it("rejects a link to an undeployed function", async () => {
    const response = await api(
      "/v1/agent/functions/never_deployed/link?agent=a&replica=r&version=1",
      { headers: upgrade },
    );
    expect(response.status).toBe(404);
  });

  it("requires a WebSocket upgrade", async () => {
    const fleet = await api("/v1/agent/fleet");
    expect(fleet.status).toBe(426);
    const connect = await api("/v1/connect");
    expect(connect.status).toBe(426);
  });
});
