/**
 * The gateway's Hono app: bearer auth in front of every route of
 * docs/architecture.md.
 */
import { Hono } from "hono";
import { createLogger, errorFields } from "../durable-objects/logger.ts";
import { agentRoutes } from "./agent-routes.ts";
import { requireToken } from "./auth.ts";
import { bundleRoutes } from "./bundles.ts";
import { acceptCallerConnection } from "./caller-mux.ts";
import { errorResponse } from "./errors.ts";
import { deployRoutes, functionRoutes } from "./functions.ts";
import type { GatewayEnv } from "./hono-env.ts";
import { callRoutes, callStatusRoutes } from "./http-calls.ts";
import { logRoutes } from "./logs.ts";
import { secretRoutes } from "./secrets.ts";

const log = createLogger("gateway");

/** Builds the gateway app. */
export function createApp(): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.use("*", requireToken);

  app.get("/v1/connect", (c) => {
    if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse(
        426,
        "UpgradeRequired",
        "/v1/connect is a WebSocket: send 'Upgrade: websocket'",
      );
    }
    return acceptCallerConnection(c.env);
  });
  app.route("/v1/functions", callRoutes);
  app.route("/v1/functions", functionRoutes);
  app.route("/v1/functions", logRoutes);
  app.route("/v1/calls", callStatusRoutes);
  app.route("/v1/bundles", bundleRoutes);
  app.route("/v1/deploy", deployRoutes);
  app.route("/v1/secrets", secretRoutes);
  app.route("/v1/agent", agentRoutes);

  app.notFound((c) =>
    errorResponse(404, "NotFound", `no route ${c.req.method} ${c.req.path}`),
  );
  app.onError((error, c) => {
    log.error("request failed", {
      method: c.req.method,
      path: c.req.path,
      ...errorFields(error),
    });
    return errorResponse(
      500,
      "InternalError",
      "the gateway failed to handle the request; see its logs",
    );
  });
  return app;
}
