import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { requireToken } from "./auth.ts";
import type { GatewayEnv } from "./hono-env.ts";

const app = new Hono<GatewayEnv>();
app.use("*", requireToken);
app.get("/v1/functions", (c) => c.text("caller route"));
app.get("/v1/agent/functions/f/secrets", (c) => c.text("agent route"));

const separate = {
  CHALKCOMPUTE_TOKEN: "caller-token",
  CHALKCOMPUTE_AGENT_TOKEN: "agent-token",
};

function get(path: string, token: string, env: object) {
  return app.request(
    path,
    { headers: { authorization: `Bearer ${token}` } },
    env,
  );
}

describe("requireToken with an agent token", () => {
  it("rejects the caller token on agent routes", async () => {
    const response = await get(
      "/v1/agent/functions/f/secrets",
      "caller-token",
      separate,
    );
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain("CHALKCOMPUTE_AGENT_TOKEN");
  });

  it("accepts the agent token on agent routes", async () => {
    const response = await get(
      "/v1/agent/functions/f/secrets",
      "agent-token",
      separate,
    );
    expect(response.status).toBe(200);
  });

  it("accepts both tokens on caller routes", async () => {
    expect((await get("/v1/functions", "caller-token", separate)).status).toBe(
      200,
    );
    expect((await get("/v1/functions", "agent-token", separate)).status).toBe(
      200,
    );
  });

  it("rejects any other token", async () => {
    expect((await get("/v1/functions", "wrong", separate)).status).toBe(401);
    expect(
      (await get("/v1/agent/functions/f/secrets", "wrong", separate)).status,
    ).toBe(401);
  });
});

describe("requireToken with one token", () => {
  const single = { CHALKCOMPUTE_TOKEN: "only-token" };

  it("accepts it on every route", async () => {
    expect((await get("/v1/functions", "only-token", single)).status).toBe(200);
    expect(
      (await get("/v1/agent/functions/f/secrets", "only-token", single)).status,
    ).toBe(200);
  });
});
