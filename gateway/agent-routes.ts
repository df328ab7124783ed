/**
 * Agent routes: the control link to the Fleet and each replica's work link
 * to its function's queue (WebSockets the Durable Objects accept), a
 * replica's secret environment, and log batches.
 */
import { Hono } from "hono";
import {
  catalogStub,
  fleetStub,
  queueStub,
  secretStoreStub,
} from "../durable-objects/env.ts";
import { createLogger } from "../durable-objects/logger.ts";
import { checkFunctionName } from "../schemas/spec.ts";
import { badRequest, errorResponse, notFound } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";
import { parseLogBatch, storeLogBatch } from "./logs.ts";
import { secretsKeyFailure } from "./secrets.ts";

const log = createLogger("agent-routes");

/** Routes under `/v1/agent`. */
export const agentRoutes = new Hono<GatewayEnv>();

function isUpgrade(request: Request): boolean {
  return request.headers.get("Upgrade")?.toLowerCase() === "websocket";
}

function upgradeRequired(): Response {
  return errorResponse(
    426,
    "UpgradeRequired",
    "this route is a WebSocket: send 'Upgrade: websocket'",
  );
}

agentRoutes.get("/fleet", async (c) => {
  if (!isUpgrade(c.req.raw)) return upgradeRequired();
  return fleetStub(c.env).fetch(new Request("https://fleet/agent", c.req.raw));
});

agentRoutes.get("/functions/:name/link", async (c) => {
  const name = c.req.param("name");
  const nameProblem = checkFunctionName(name);
  if (nameProblem) return notFound(`function not found: ${nameProblem}`);

  const missing = ["agent", "replica", "version"].filter(
    (param) => !c.req.query(param),
  );
  if (missing.length > 0) {
    return badRequest(
      `link is missing query parameter(s) ${missing.join(", ")}; use ?agent=A&replica=R&version=V`,
    );
  }
  const version = Number(c.req.query("version"));
  if (!Number.isInteger(version) || version < 1) {
    return badRequest(
      `version must be an integer >= 1, got ${JSON.stringify(c.req.query("version"))}`,
    );
  }
  if (!isUpgrade(c.req.raw)) return upgradeRequired();

  const target = new URL("https://queue/link");
  for (const param of ["agent", "replica", "version"]) {
    target.searchParams.set(param, c.req.query(param) ?? "");
  }
  return queueStub(c.env, name).fetch(new Request(target, c.req.raw));
});

agentRoutes.get("/functions/:name/secrets", async (c) => {
  const name = c.req.param("name");
  const version = Number(c.req.query("version"));
  if (!Number.isInteger(version) || version < 1) {
    return badRequest(
      `version must be an integer >= 1, got ${JSON.stringify(c.req.query("version") ?? null)}; use ?version=V`,
    );
  }
  const entry = await catalogStub(c.env).version(name, version);
  if (!entry) return notFound(`function ${name} has no version ${version}`);

  const groups = entry.spec.secrets ?? [];
  if (groups.length === 0) return c.json({ env: {} });
  const keyFailure = secretsKeyFailure(c.env.CHALKCOMPUTE_SECRETS_KEY);
  if (keyFailure) return keyFailure;

  const { env, missing } = await secretStoreStub(c.env).environment(groups);
  if (missing.length > 0) {
    return errorResponse(
      412,
      "SecretGroupNotFound",
      `secret group(s) ${missing.join(", ")} named by ${name}@${version} do not exist; ` +
        `create each with \`npx chalkcompute secret set GROUP NAME=value\``,
    );
  }
  log.info("secret environment sent", {
    function: name,
    version,
    groups: groups.length,
    variables: Object.keys(env).length,
  });
  return c.json({ env });
});

agentRoutes.post("/logs", async (c) => {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return badRequest('request body is not valid JSON; send {"lines": [...]}');
  }
  const parsed = parseLogBatch(body);
  if ("problems" in parsed) {
    return badRequest(`invalid log batch: ${parsed.problems.join("; ")}`);
  }

  await storeLogBatch(c.env, parsed.lines);
  return c.json({ accepted: parsed.lines.length });
});
