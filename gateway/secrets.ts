/**
 * Secret groups: `PUT /v1/secrets/{group}`, `GET /v1/secrets`,
 * `DELETE /v1/secrets/{group}`. No response or log of these routes
 * contains a secret value; validation messages name variables only.
 */
import { Hono } from "hono";
import { catalogStub, secretStoreStub } from "../durable-objects/env.ts";
import { checkSecretsKey } from "../durable-objects/secret-crypto.ts";
import {
  checkSecretGroupName,
  SECRET_VARIABLE_PATTERN,
} from "../schemas/spec.ts";
import { badRequest, errorResponse, notFound } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";

/** Routes under `/v1/secrets`. */
export const secretRoutes = new Hono<GatewayEnv>();

/** Maximum variables in one group. */
export const MAX_SECRETS_PER_GROUP = 100;

/** Largest total size of a group's names and values, in bytes of UTF-8. */
export const MAX_GROUP_BYTES = 64 * 1024;

/** Returns a 500 response when the key binding is unusable, else null. */
export function secretsKeyFailure(raw: string | undefined): Response | null {
  const problem = checkSecretsKey(raw);
  return problem ? errorResponse(500, "SecretsKeyError", problem) : null;
}

/**
 * Validates a `PUT /v1/secrets/{group}` body. Returns the values or the
 * problems; a problem names the variable, never its value.
 */
export function parseSecretValues(
  body: unknown,
): { values: Record<string, string> } | { problems: string[] } {
  const values =
    typeof body === "object" && body !== null
      ? (body as Record<string, unknown>).values
      : undefined;
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    return {
      problems: ['body must be {"values": {"NAME": "value", ...}}'],
    };
  }

  const problems: string[] = [];
  const entries = Object.entries(values as Record<string, unknown>);
  if (entries.length === 0) {
    problems.push("values must name at least one variable");
  }
  if (entries.length > MAX_SECRETS_PER_GROUP) {
    problems.push(
      `a group holds at most ${MAX_SECRETS_PER_GROUP} variables, got ${entries.length}`,
    );
  }
  let bytes = 0;
  for (const [name, value] of entries) {
    if (!SECRET_VARIABLE_PATTERN.test(name)) {
      problems.push(
        `variable name ${JSON.stringify(name)} is invalid: use letters, digits and '_', not starting with a digit`,
      );
    }
    if (typeof value !== "string") {
      problems.push(`the value of ${name} must be a string`);
      continue;
    }
    bytes += new TextEncoder().encode(name + value).length;
  }
  if (bytes > MAX_GROUP_BYTES) {
    problems.push(
      `a group holds at most ${MAX_GROUP_BYTES} bytes of names and values, got ${bytes}`,
    );
  }
  if (problems.length > 0) return { problems };
  return { values: values as Record<string, string> };
}

secretRoutes.get("/", async (c) => {
  const groups = await secretStoreStub(c.env).list();
  return c.json({ groups });
});

secretRoutes.put("/:group", async (c) => {
  const group = c.req.param("group");
  const groupProblem = checkSecretGroupName(group);
  if (groupProblem) return badRequest(groupProblem);
  const keyFailure = secretsKeyFailure(c.env.CHALKCOMPUTE_SECRETS_KEY);
  if (keyFailure) return keyFailure;

  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return badRequest(
      'request body is not valid JSON; send {"values": {"NAME": "value"}}',
    );
  }
  const parsed = parseSecretValues(body);
  if ("problems" in parsed) {
    return badRequest(
      `invalid secret group ${group}: ${parsed.problems.join("; ")}`,
    );
  }

  const info = await secretStoreStub(c.env).put(group, parsed.values);
  return c.json(info);
});

secretRoutes.delete("/:group", async (c) => {
  const group = c.req.param("group");
  const groupProblem = checkSecretGroupName(group);
  if (groupProblem) return notFound(`secret group not found: ${groupProblem}`);

  // A deployed function naming the group could not start another replica.
  const users = (await catalogStub(c.env).list())
    .filter((entry) => entry.spec.secrets?.includes(group))
    .map((entry) => entry.name);
  if (users.length > 0) {
    return errorResponse(
      409,
      "Conflict",
      `secret group ${group} is used by ${users.join(", ")}; deploy them without it, then delete the group`,
    );
  }

  const deleted = await secretStoreStub(c.env).remove(group);
  if (!deleted) return notFound(`secret group ${group} not found`);
  return c.json({ deleted: group });
});
