/**
 * Entry point of the worker runtime, bundled by the agent into
 * `<dataDir>/runtime/worker.mjs` and run as `node worker.mjs` in each
 * replica. It connects to the agent, loads the user's bundle, serves one
 * function, and exits after a drain once its running calls finish.
 */
import { pathToFileURL } from "node:url";
import type { Run } from "../../schemas/frames.ts";
import {
  functionRegistry,
  setReplicaChannel,
} from "../../sdk/runtime-hooks.ts";
import { RunExecutor } from "./executor.ts";
import { WorkerSession } from "./session.ts";

const REQUIRED_ENV = [
  "CHALKCOMPUTE_BUNDLE",
  "CHALKCOMPUTE_FUNCTION",
  "CHALKCOMPUTE_SOCKET",
  "CHALKCOMPUTE_REPLICA",
] as const;

/** Time a drained worker waits for the agent to end the session before it exits anyway. */
const DRAIN_EXIT_GRACE_MS = 5_000;

function fail(message: string, code = 1): never {
  process.stderr.write(`chalkcompute worker: ${message}\n`);
  process.exit(code);
}

function readEnv(): Record<(typeof REQUIRED_ENV)[number], string> {
  const missing = REQUIRED_ENV.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    fail(
      `missing environment variables ${missing.join(", ")}; the fleet ` +
        "agent sets them when it starts a replica",
      2,
    );
  }
  return Object.fromEntries(
    REQUIRED_ENV.map((name) => [name, process.env[name] as string]),
  ) as Record<(typeof REQUIRED_ENV)[number], string>;
}

async function main(): Promise<void> {
  const env = readEnv();
  const functionName = env.CHALKCOMPUTE_FUNCTION;
  let executor: RunExecutor | undefined;
  let draining = false;

  const session = new WorkerSession(env.CHALKCOMPUTE_SOCKET, {
    onRuns: (runs) => {
      for (const run of runs) start(run);
    },
    onDrain: () => {
      draining = true;
      exitIfIdle();
    },
    onClosed: (reason) => {
      if (draining) process.exit(0);
      fail(`session with the agent closed: ${reason}`);
    },
  });

  const start = (run: Run): void => {
    if (!executor) return;
    executor.execute(run).finally(exitIfIdle);
  };

  const exitIfIdle = (): void => {
    if (!draining || (executor?.running ?? 0) > 0) return;
    setTimeout(() => process.exit(0), DRAIN_EXIT_GRACE_MS).unref();
    session.end().then(() => process.exit(0));
  };

  // Nested calls made while the bundle loads must already reach the agent.
  setReplicaChannel(session.channel);

  try {
    await import(pathToFileURL(env.CHALKCOMPUTE_BUNDLE).href);
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? "") : "";
    fail(
      `loading bundle ${env.CHALKCOMPUTE_BUNDLE} failed: ${String(error)}\n${detail}`,
    );
  }

  const registry = functionRegistry();
  const fn = registry.get(functionName);
  if (!fn) {
    const defined = [...registry.keys()].join(", ") || "no functions";
    fail(
      `function ${functionName} is not defined in bundle ` +
        `${env.CHALKCOMPUTE_BUNDLE} (it defines ${defined}); deploy the ` +
        `module that calls chalkcompute.function for ${functionName}`,
    );
  }

  executor = new RunExecutor(fn, (chunk) => session.sendChunk(chunk));
  session.sendReady([...registry.keys()], process.pid);
}

main().catch((error: unknown) => {
  fail(error instanceof Error ? (error.stack ?? error.message) : String(error));
});
