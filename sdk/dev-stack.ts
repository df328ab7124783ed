/**
 * The local stack behind `chalkcompute dev`: the gateway Worker and its
 * Durable Objects on workerd through Miniflare, plus one fleet agent as a
 * child process that is restarted whenever it exits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { devConfigPath } from "./config.ts";

/** Options of `startDevStack`. */
export interface DevStackOptions {
  /** Port of the gateway on 127.0.0.1; 0 picks a free one. Default 8787. */
  port?: number;
  /** Folder that `.chalkcompute/dev.json` is written under; default the cwd. */
  root?: string;
  /** Folder for Durable Object, R2 and agent state; default `.chalkcompute/state` under `root`. */
  stateDir?: string;
  /** Whether to run a fleet agent; default true. */
  agent?: boolean;
  /** Worker entry to bundle; default `gateway/index.ts` of this repository. */
  gatewayEntry?: string;
  /** Agent entry run with `node --import tsx`; default `fleet-agent/main.ts`. */
  agentEntry?: string;
  /** Extra environment variables for the agent and so for its replicas. */
  agentEnv?: Record<string, string>;
  /** Receives the output lines of workerd and the agent; default stderr. */
  onLog?: (line: string) => void;
}

/** A running dev stack. */
export interface DevStack {
  /** http base URL of the gateway. */
  url: string;
  /** Bearer token the gateway accepts. */
  token: string;
  /** Path of the dev.json file written for SDK clients. */
  configFile: string;
  /** Process id of the current agent, or undefined when none runs. */
  readonly agentPid: number | undefined;
  /** Kills the agent with SIGKILL; the supervisor starts a new one after a backoff. */
  killAgent(): void;
  /** Stops the agent and starts a new one at once. */
  restartAgent(): Promise<void>;
  /**
   * Stops workerd and starts it again on the same port and state, as a
   * deploy does in production: every WebSocket closes, stored state stays.
   */
  restartGateway(): Promise<void>;
  /** Stops the agent, then workerd; safe to call twice. */
  stop(): Promise<void>;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const COMPATIBILITY_DATE = "2026-04-20";
// The agent drains its replicas on SIGTERM; SIGKILL would orphan them.
const AGENT_STOP_GRACE_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 250;
const MAX_RESTART_DELAY_MS = 5_000;
// An agent that ran this long before exiting restarts without backoff.
const HEALTHY_RUN_MS = 10_000;
const SECRETS_KEY_FILE = "secrets.key";
const SECRETS_KEY_BYTES = 32;

/** Starts workerd with the gateway and, unless disabled, one agent. */
export async function startDevStack(
  options: DevStackOptions = {},
): Promise<DevStack> {
  const root = resolve(options.root ?? process.cwd());
  const stateDir = resolve(
    options.stateDir ?? join(root, ".chalkcompute", "state"),
  );
  const log = options.onLog ?? ((line) => process.stderr.write(`${line}\n`));
  mkdirSync(stateDir, { recursive: true });

  const configFile = devConfigPath(root);
  const token = reuseToken(configFile) ?? randomBytes(24).toString("hex");
  const script = await bundleGateway(
    options.gatewayEntry ?? join(REPO_ROOT, "gateway", "index.ts"),
  );

  // Agents get their own token: agent routes return secret values, so the
  // caller token in dev.json must not open them.
  const agentToken = loadAgentToken(stateDir);
  const { Miniflare } = await import("miniflare");
  const miniflareOptions = {
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ["nodejs_compat"],
    host: "127.0.0.1",
    port: options.port ?? 8787,
    durableObjects: {
      FUNCTION_QUEUE: { className: "FunctionQueue", useSQLite: true },
      CATALOG: { className: "Catalog", useSQLite: true },
      FLEET: { className: "Fleet", useSQLite: true },
      SECRET_STORE: { className: "SecretStore", useSQLite: true },
      FUNCTION_LOGS: { className: "FunctionLogs", useSQLite: true },
      RATE_LIMITER: { className: "RateLimiter", useSQLite: true },
      SEMAPHORE: { className: "Semaphore", useSQLite: true },
    },
    r2Buckets: ["BUNDLES"],
    bindings: {
      CHALKCOMPUTE_TOKEN: token,
      CHALKCOMPUTE_AGENT_TOKEN: agentToken,
      CHALKCOMPUTE_SECRETS_KEY: loadSecretsKey(stateDir),
    },
    defaultPersistRoot: stateDir,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      forwardLines(stdout, log);
      forwardLines(stderr, log);
    },
  };
  let miniflare = new Miniflare(miniflareOptions);
  const ready = await miniflare.ready;
  const url = ready.origin;

  mkdirSync(dirname(configFile), { recursive: true });
  writeFileSync(configFile, `${JSON.stringify({ url, token }, null, 2)}\n`, {
    mode: 0o600,
  });

  const supervisor =
    options.agent === false
      ? undefined
      : new AgentSupervisor({
          entry:
            options.agentEntry ?? join(REPO_ROOT, "fleet-agent", "main.ts"),
          env: {
            ...options.agentEnv,
            CHALKCOMPUTE_URL: url,
            CHALKCOMPUTE_TOKEN: agentToken,
            CHALKCOMPUTE_AGENT_DATA: join(stateDir, "agent"),
          },
          log,
        });
  supervisor?.start();

  // Miniflare's exit hook ends the process on SIGINT and SIGTERM before an
  // async stop could finish, so the agent is told to drain at exit instead.
  const signalAgentAtExit = () => supervisor?.signalExit();
  process.on("exit", signalAgentAtExit);

  let stopping: Promise<void> | undefined;
  return {
    url,
    token,
    configFile,
    get agentPid() {
      return supervisor?.pid;
    },
    killAgent: () => supervisor?.kill(),
    restartAgent: async () => supervisor?.restart(),
    restartGateway: async () => {
      await miniflare.dispose();
      miniflare = new Miniflare({
        ...miniflareOptions,
        port: ready.port ? Number(ready.port) : undefined,
      });
      await miniflare.ready;
    },
    stop: () => {
      stopping ??= (async () => {
        process.off("exit", signalAgentAtExit);
        await supervisor?.stop();
        await miniflare.dispose();
      })();
      return stopping;
    },
  };
}

/**
 * Bundles the gateway Worker for workerd: ESM, neutral platform, with
 * `cloudflare:*` and `node:*` imports left to the runtime.
 */
export async function bundleGateway(entry: string): Promise<string> {
  if (!existsSync(entry)) {
    throw new Error(`gateway entry ${entry} does not exist`);
  }

  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    outfile: join(REPO_ROOT, "gateway.mjs"),
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    external: ["cloudflare:*", "node:*"],
    logLevel: "silent",
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`bundling ${entry} produced no output`);
  return output.text;
}

/**
 * Returns the base64 AES-256 key that encrypts stored secrets, kept in
 * `<stateDir>/secrets.key` (mode 0600) so that a restarted stack can decrypt
 * what an earlier one stored. Creates the file with 32 random bytes when absent.
 */
export function loadSecretsKey(stateDir: string): string {
  const file = join(stateDir, SECRETS_KEY_FILE);
  if (existsSync(file)) {
    const key = readFileSync(file, "utf8").trim();
    if (Buffer.from(key, "base64").byteLength !== SECRETS_KEY_BYTES) {
      throw new Error(
        `${file} does not hold a base64 key of ${SECRETS_KEY_BYTES} bytes; ` +
          "restore it, or delete it to start over (stored secrets are then lost)",
      );
    }
    return key;
  }

  const key = randomBytes(SECRETS_KEY_BYTES).toString("base64");
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: "wx" });
  return key;
}

/** Returns the agent token kept in `<stateDir>/agent.token`, creating it when absent. */
export function loadAgentToken(stateDir: string): string {
  const file = join(stateDir, "agent.token");
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (token) return token;
  }
  const token = randomBytes(24).toString("hex");
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

function reuseToken(configFile: string): string | undefined {
  try {
    const parsed = JSON.parse(readFileSync(configFile, "utf8"));
    return typeof parsed?.token === "string" && parsed.token
      ? parsed.token
      : undefined;
  } catch {
    return undefined;
  }
}

interface SupervisorOptions {
  entry: string;
  env: Record<string, string>;
  log: (line: string) => void;
}

/** Runs the agent as a child process and restarts it with backoff when it exits. */
class AgentSupervisor {
  private child: ChildProcess | undefined;
  private stopped = false;
  private delayMs = FIRST_RESTART_DELAY_MS;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SupervisorOptions) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  start(): void {
    if (this.stopped) return;
    const startedAt = Date.now();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", this.options.entry],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...this.options.env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    this.forwardLines(child);

    child.on("exit", (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopped) return;
      if (Date.now() - startedAt > HEALTHY_RUN_MS) {
        this.delayMs = FIRST_RESTART_DELAY_MS;
      }
      this.options.log(
        `agent pid ${child.pid} exited (code ${code}, signal ${signal}); ` +
          `restarting in ${this.delayMs} ms`,
      );
      this.timer = setTimeout(() => this.start(), this.delayMs);
      this.delayMs = Math.min(MAX_RESTART_DELAY_MS, this.delayMs * 2);
    });
  }

  kill(): void {
    this.child?.kill("SIGKILL");
  }

  /** Sends SIGTERM without waiting, for a process that is exiting. */
  signalExit(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.child?.kill("SIGTERM");
  }

  async restart(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    clearTimeout(this.timer);
    if (child) await terminate(child);
    this.delayMs = FIRST_RESTART_DELAY_MS;
    this.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const child = this.child;
    this.child = undefined;
    if (child) await terminate(child);
  }

  private forwardLines(child: ChildProcess): void {
    if (child.stdout) forwardLines(child.stdout, this.options.log);
    if (child.stderr) forwardLines(child.stderr, this.options.log);
  }
}

/** Passes each complete line of a stream to `log`. */
function forwardLines(stream: Readable, log: (line: string) => void): void {
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    const lines = (rest + text).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) log(line);
  });
}

/** Sends SIGTERM, then SIGKILL after a grace period; resolves on exit. */
function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), AGENT_STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
