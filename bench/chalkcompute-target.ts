import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DevStack, startDevStack } from "../sdk/dev-stack.ts";
import { noop } from "./functions.ts";
import { type BenchTarget, withTimeout } from "./workload.ts";

const AGENT_LOG_LINES = 40;

/** The last lines of a log, kept to explain a failure. */
class LineBuffer {
  private readonly lines: string[] = [];

  constructor(private readonly capacity: number) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.shift();
  }

  text(): string {
    return this.lines.join("\n");
  }
}

/**
 * Starts the full local stack from this process (workerd with the gateway
 * and Durable Objects, one fleet agent), points the SDK at it, deploys
 * `bench_noop` and waits until a replica serves it.
 */
export async function startChalkcomputeTarget(
  readyTimeoutMs: number,
): Promise<BenchTarget> {
  const stateDir = await mkdtemp(join(tmpdir(), "chalkcompute-bench-"));
  let stack: DevStack | undefined;
  const agentLog = new LineBuffer(AGENT_LOG_LINES);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await stack?.stop();
      await rm(stateDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    // `root` keeps the stack's dev.json out of the project, where it would
    // replace the one a running `chalkcompute dev` wrote.
    // The process runtime by default, so figures compare across machines
    // with and without Docker; CHALKCOMPUTE_AGENT_RUNTIME=docker measures
    // containers instead.
    const runtime = process.env.CHALKCOMPUTE_AGENT_RUNTIME ?? "process";
    stack = await startDevStack({
      port: 0,
      root: stateDir,
      stateDir,
      agentEnv: { CHALKCOMPUTE_AGENT_RUNTIME: runtime },
      onLog: (line) => agentLog.push(line),
    });

    // The SDK reads these on its first call, so setting them here is enough.
    process.env.CHALKCOMPUTE_URL = stack.url;
    process.env.CHALKCOMPUTE_TOKEN = stack.token;
    await withTimeout(noop.waitReady(), readyTimeoutMs, "deploy of bench_noop");

    return {
      versions: { chalkcompute: await projectVersion() },
      call: (index) => noop.remote(index),
      stop,
    };
  } catch (error) {
    await stop();
    throw new Error(
      `chalkcompute target failed; last agent output:\n${agentLog.text()}`,
      { cause: error },
    );
  }
}

async function projectVersion(): Promise<string> {
  const path = new URL("../package.json", import.meta.url);
  const manifest = JSON.parse(await readFile(path, "utf8")) as {
    version: string;
  };
  return manifest.version;
}
