import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { bearerToken, tokensEqual } from "./auth.ts";
import { api } from "./test-client.ts";

describe("gateway auth", () => {
  const routes: [string, string][] = [
    ["GET", "/v1/functions"],
    ["GET", "/v1/functions/add"],
    ["POST", "/v1/functions/add/call"],
    ["POST", "/v1/functions/add/spawn"],
    ["GET", "/v1/calls/fc-x"],
    ["PUT", `/v1/bundles/${"a".repeat(64)}`],
    ["GET", `/v1/bundles/${"a".repeat(64)}`],
    ["POST", "/v1/deploy"],
    ["GET", "/v1/connect"],
    ["GET", "/v1/agent/fleet"],
    ["GET", "/v1/agent/functions/add/link"],
    ["GET", "/unknown"],
  ];

  it.each(routes)("rejects %s %s without a token", async (method, path) => {
    const response = await SELF.fetch(`https://gateway.test${path}`, {
      method,
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain("missing bearer token");
  });

  it("rejects a wrong token", async () => {
    const response = await api("/v1/functions", {
      headers: { Authorization: "Bearer wrong-token" },
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { type: string } };
    expect(body.error.type).toBe("Unauthorized");
  });

  it("accepts the right token", async () => {
    const response = await api("/v1/functions");
    expect(response.status).toBe(200);
  });

  it("answers unknown routes with 404", async () => {
    const response = await api("/v2/nothing");
    expect(response.status).toBe(404);
  });

  it("parses bearer headers", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer abc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });

  it("compares tokens", async () => {
    expect(await tokensEqual("abc", "abc")).toBe(true);
    expect(await tokensEqual("abc", "abd")).toBe(false);
    expect(await tokensEqual("abc", "abcd")).toBe(false);
  });
});
