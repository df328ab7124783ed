import { describe, expect, it } from "vitest";
import { api, sha256Of } from "./test-client.ts";

describe("bundle routes", () => {
  it("stores and serves a bundle by hash", async () => {
    const bytes = new TextEncoder().encode(
      `export const n = ${Math.random()};`,
    );
    const hash = await sha256Of(bytes);

    const put = await api(`/v1/bundles/${hash}`, {
      method: "PUT",
      body: bytes,
    });
    expect(put.status).toBe(201);
    const again = await api(`/v1/bundles/${hash}`, {
      method: "PUT",
      body: bytes,
    });
    expect(again.status).toBe(200);

    const get = await api(`/v1/bundles/${hash}`);
    expect(get.status).toBe(200);
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(bytes);
  });

  it("rejects a body that does not match its hash", async () => {
    const hash = await sha256Of(new TextEncoder().encode("one"));
    const put = await api(`/v1/bundles/${hash}`, {
      method: "PUT",
      body: "two",
    });
    expect(put.status).toBe(400);
    const body = (await put.json()) as { error: { message: string } };
    expect(body.error.message).toContain(`not ${hash}`);
  });

  it("rejects a name that is no sha256", async () => {
    const put = await api("/v1/bundles/abc", { method: "PUT", body: "x" });
    expect(put.status).toBe(400);
  });

  it("answers 404 for a missing bundle", async () => {
    const get = await api(`/v1/bundles/${"f".repeat(64)}`);
    expect(get.status).toBe(404);
  });
});
