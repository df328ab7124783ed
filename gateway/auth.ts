/**
 * Bearer-token authentication for every gateway route. The token is the
 * `CHALKCOMPUTE_TOKEN` binding.
 */
import type { MiddlewareHandler } from "hono";
import { errorResponse } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";

const encoder = new TextEncoder();

async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}

/**
 * Compares two secrets in constant time. Hashing first gives both sides the
 * same length, so the comparison does not reveal the token's length either.
 */
export async function tokensEqual(
  given: string,
  expected: string,
): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** Returns the token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1] ?? null;
}

/** Rejects requests without the right bearer token with 401. */
export const requireToken: MiddlewareHandler<GatewayEnv> = async (c, next) => {
  const expected = c.env.CHALKCOMPUTE_TOKEN;
  if (!expected) {
    return errorResponse(
      500,
      "ConfigurationError",
      "the gateway has no CHALKCOMPUTE_TOKEN binding; set it as a secret",
    );
  }

  const given = bearerToken(c.req.header("Authorization"));
  if (given === null) {
    return errorResponse(
      401,
      "Unauthorized",
      "missing bearer token: send 'Authorization: Bearer <CHALKCOMPUTE_TOKEN>'",
    );
  }
  if (!(await tokensEqual(given, expected))) {
    return errorResponse(
      401,
      "Unauthorized",
      "invalid bearer token: use the CHALKCOMPUTE_TOKEN of this gateway",
    );
  }
  await next();
};
