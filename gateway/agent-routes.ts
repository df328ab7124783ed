/**
 * Agent WebSockets: the control link to the Fleet and each replica's work
 * link to its function's queue. The gateway only checks and forwards the
 * upgrade; the Durable Objects accept the sockets.
 */
import { Hono } from "hono";
import { fleetStub, queueStub } from "../durable-objects/env.ts";
import { checkFunctionName } from "../schemas/spec.ts";
import { badRequest, errorResponse, notFound } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";

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
