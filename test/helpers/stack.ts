import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DevStack, startDevStack } from "../../sdk/dev-stack.ts";

/** A dev stack on a free port with its own state, and the log lines it wrote. */
export interface TestStack extends DevStack {
  logs: string[];
  root: string;
}

/**
 * Starts workerd and one agent for a test file, and points the SDK at them
 * through CHALKCOMPUTE_URL and CHALKCOMPUTE_TOKEN. The agent uses the
 * `process` runtime unless `agentEnv` sets CHALKCOMPUTE_AGENT_RUNTIME, so
 * that these tests behave the same with or without a Docker engine.
 */
export async function startTestStack(
  options: { agentEnv?: Record<string, string> } = {},
): Promise<TestStack> {
  const root = await mkdtemp(join(tmpdir(), "chalkcompute-e2e-"));
  const logs: string[] = [];
  const stack = await startDevStack({
    port: 0,
    root,
    stateDir: join(root, "state"),
    agentEnv: { CHALKCOMPUTE_AGENT_RUNTIME: "process", ...options.agentEnv },
    onLog: (line) => {
      logs.push(line);
      if (process.env.CHALKCOMPUTE_TEST_LOGS) process.stderr.write(`${line}\n`);
    },
  });
  process.env.CHALKCOMPUTE_URL = stack.url;
  process.env.CHALKCOMPUTE_TOKEN = stack.token;
  const stop = stack.stop;
  return Object.assign(stack, {
    logs,
    root,
    stop: async () => {
      await stop();
      await rm(root, { recursive: true, force: true });
    },
  });
}

/** Sends an authenticated request to the stack's gateway. */
export function gatewayFetch(
  stack: DevStack,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) {
    headers.set("authorization", `Bearer ${stack.token}`);
  }
  return fetch(new URL(path, stack.url), { ...init, headers });
}

/** Waits until `check` returns true, polling every `intervalMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
