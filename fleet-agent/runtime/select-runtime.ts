import Dockerode from "dockerode";
import type { Logger } from "pino";

/** The runtimes an agent can be asked for. */
export type RuntimeChoice = "docker" | "process" | "auto";

const PING_TIMEOUT_MS = 2_000;

/**
 * Returns a client for the engine at DOCKER_HOST or the default socket when
 * it responds to a ping within two seconds, else the reason it did not.
 */
export async function pingDocker(): Promise<
  { docker: Dockerode } | { reason: string }
> {
  const docker = new Dockerode();
  const where = process.env.DOCKER_HOST || "/var/run/docker.sock";
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no response within ${PING_TIMEOUT_MS} ms`)),
      PING_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([docker.ping(), timeout]);
    return { docker };
  } catch (error) {
    return {
      reason: `no Docker engine responded at ${where}: ${(error as Error).message}`,
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves a runtime choice. "auto" uses Docker when an engine responds and
 * the process runtime otherwise, logging which and why; "docker" fails when
 * no engine responds.
 */
export async function selectRuntime(
  choice: RuntimeChoice,
  logger: Logger,
): Promise<{ name: "process" } | { name: "docker"; docker: Dockerode }> {
  if (choice === "process") return { name: "process" };

  const ping = await pingDocker();
  if ("docker" in ping) {
    if (choice === "auto") {
      logger.info("runtime auto: a Docker engine responded, using docker");
    }
    return { name: "docker", docker: ping.docker };
  }
  if (choice === "docker") {
    throw new Error(
      `agent runtime "docker" needs a Docker engine: ${ping.reason}. ` +
        "Start dockerd or use --runtime process",
    );
  }
  logger.info(
    { reason: ping.reason },
    "runtime auto: no Docker engine, using process",
  );
  return { name: "process" };
}
