/**
 * Bearer-token authentication for every gateway route. Callers use the
 * `CHALKCOMPUTE_TOKEN` binding. When `CHALKCOMPUTE_AGENT_TOKEN` is bound too,
 * the agent routes (`/v1/agent/...`) accept only that token, because they
 * return secret values. Agents may use it on every other route as well.
 * Without it, one token serves both.
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
  const callerToken = c.env.CHALKCOMPUTE_TOKEN;
  if (!callerToken) {
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

  const agentToken = c.env.CHALKCOMPUTE_AGENT_TOKEN;
  const agentRoute = c.req.path.startsWith("/v1/agent/");
  const isAgent =
    agentToken !== undefined && agentToken !== ""
      ? await tokensEqual(given, agentToken)
      : await tokensEqual(given, callerToken);
  if (agentRoute && !isAgent) {
    return errorResponse(
      401,
      "Unauthorized",
      "invalid bearer token: agent routes take the agent token of this gateway (CHALKCOMPUTE_AGENT_TOKEN)",
    );
  }
  if (!isAgent && !(await tokensEqual(given, callerToken))) {
    return errorResponse(
      401,
      "Unauthorized",
      "invalid bearer token: use the CHALKCOMPUTE_TOKEN of this gateway",
    );
  }
  await next();
};
