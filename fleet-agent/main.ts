/**
 * Runs a fleet agent configured by environment variables until SIGINT or
 * SIGTERM: CHALKCOMPUTE_URL (gateway base URL), CHALKCOMPUTE_TOKEN,
 * CHALKCOMPUTE_AGENT_DATA (data folder, default `.chalkcompute/agent`) and
 * CHALKCOMPUTE_AGENT_RUNTIME ("docker", "process" or "auto", the default).
 */
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { type FleetAgent, startAgent } from "./agent.ts";
import type { RuntimeChoice } from "./runtime/select-runtime.ts";

const logger = pino({ name: "chalkcompute-agent" });

/** Starts the agent from the environment and stops it on a signal. */
export async function runAgentFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<FleetAgent> {
  const gatewayUrl = env.CHALKCOMPUTE_URL;
  const token = env.CHALKCOMPUTE_TOKEN;
  if (!gatewayUrl || !token) {
    throw new Error(
      "CHALKCOMPUTE_URL and CHALKCOMPUTE_TOKEN must be set to the gateway's " +
        "URL and token",
    );
  }

  const runtime = env.CHALKCOMPUTE_AGENT_RUNTIME || "auto";
  if (!["docker", "process", "auto"].includes(runtime)) {
    throw new Error(
      `CHALKCOMPUTE_AGENT_RUNTIME is ${JSON.stringify(runtime)}; use ` +
        '"docker", "process" or "auto"',
    );
  }

  const agent = await startAgent({
    gatewayUrl,
    token,
    dataDir: env.CHALKCOMPUTE_AGENT_DATA || ".chalkcompute/agent",
    runtime: runtime as RuntimeChoice,
    logger,
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, "second signal, exiting without draining");
      process.exit(1);
    }
    logger.info({ signal }, "signal received, stopping agent");
    agent.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "stopping agent failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return agent;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(entry).href) {
  runAgentFromEnv().catch((error: unknown) => {
    logger.fatal({ err: error }, "agent failed to start");
    process.exit(1);
  });
}
