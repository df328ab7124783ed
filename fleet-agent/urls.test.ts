import { describe, expect, it } from "vitest";
import { httpUrl, parseGatewayUrl, websocketUrl } from "./urls.ts";

describe("parseGatewayUrl", () => {
  it("rejects a ws URL", () => {
    expect(() => parseGatewayUrl("ws://127.0.0.1:1")).toThrow(/http:\/\//);
  });

  it("rejects text that is no URL", () => {
    expect(() => parseGatewayUrl("localhost")).toThrow(/invalid/);
  });
});

describe("websocketUrl", () => {
  it("maps http to ws with a query", () => {
    const gateway = parseGatewayUrl("http://127.0.0.1:8787/");
    expect(websocketUrl(gateway, "/v1/agent/fleet")).toBe(
      "ws://127.0.0.1:8787/v1/agent/fleet",
    );
    expect(
      websocketUrl(gateway, "/v1/agent/functions/f/link", { agent: "a b" }),
    ).toBe("ws://127.0.0.1:8787/v1/agent/functions/f/link?agent=a+b");
  });

  it("maps https to wss and keeps a path prefix", () => {
    const gateway = parseGatewayUrl("https://example.test/edge");
    expect(websocketUrl(gateway, "/v1/connect")).toBe(
      "wss://example.test/edge/v1/connect",
    );
  });
});

describe("httpUrl", () => {
  it("joins a route without a double slash", () => {
    const gateway = parseGatewayUrl("http://127.0.0.1:8787/");
    expect(httpUrl(gateway, "/v1/bundles/ab")).toBe(
      "http://127.0.0.1:8787/v1/bundles/ab",
    );
  });
});
