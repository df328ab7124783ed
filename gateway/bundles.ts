/**
 * Bundle storage in R2 under each bundle's sha256: `PUT` from deployers,
 * `GET` from agents.
 */
import { Hono } from "hono";
import { badRequest, notFound } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";

/** Routes under `/v1/bundles`. */
export const bundleRoutes = new Hono<GatewayEnv>();

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Returns the lowercase hex sha256 of bytes. */
export async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

function invalidName(hash: string): Response {
  return badRequest(
    `bundle name ${JSON.stringify(hash)} is invalid: use the bundle's sha256 as 64 lowercase hex digits`,
  );
}

bundleRoutes.put("/:hash", async (c) => {
  const hash = c.req.param("hash");
  if (!SHA256_HEX.test(hash)) return invalidName(hash);

  const body = await c.req.arrayBuffer();
  const actual = await sha256Hex(body);
  if (actual !== hash) {
    return badRequest(
      `bundle body hashes to ${actual}, not ${hash}; upload it under its own sha256`,
    );
  }
  const existing = await c.env.BUNDLES.head(hash);
  if (!existing) {
    await c.env.BUNDLES.put(hash, body, {
      httpMetadata: { contentType: "application/javascript" },
    });
  }
  return c.json(
    { sha256: hash, size: body.byteLength, created: !existing },
    existing ? 200 : 201,
  );
});

bundleRoutes.get("/:hash", async (c) => {
  const hash = c.req.param("hash");
  if (!SHA256_HEX.test(hash)) return invalidName(hash);

  const object = await c.env.BUNDLES.get(hash);
  if (!object) {
    return notFound(
      `bundle ${hash} not found; upload it with PUT /v1/bundles/${hash}`,
    );
  }
  return new Response(object.body, {
    headers: {
      "Content-Type": "application/javascript",
      "Content-Length": String(object.size),
      ETag: object.httpEtag,
      // The name is the content hash, so the bytes never change.
      "Cache-Control": "public, max-age=31536000, immutable",
    },
  });
});
