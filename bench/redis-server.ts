import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { findFreePort } from "./free-port.ts";

const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const APT_TIMEOUT_MS = 5 * 60_000;
const PORT_ATTEMPTS = 3;

/** A private Redis server on loopback, started by `startRedisServer`. */
export interface RedisServer {
  host: string;
  port: number;
  /** Version that `redis-server --version` printed, e.g. "7.0.15". */
  version: string;
  /** Stops the server and deletes its working folder; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Returns the version of `redis-server` on PATH. When it is missing and this
 * process runs as root, installs Debian's `redis-server` package first.
 */
export function ensureRedisServerInstalled(): string {
  const version = installedRedisVersion();
  if (version !== null) return version;

  if (process.getuid?.() !== 0) {
    throw new Error(
      "redis-server is not installed; run `apt-get install -y redis-server` as root, then rerun",
    );
  }

  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [
    ["update", "-q"],
    ["install", "-y", "-q", "redis-server"],
  ]) {
    const result = spawnSync("apt-get", args, {
      env,
      stdio: ["ignore", "inherit", "inherit"],
      timeout: APT_TIMEOUT_MS,
    });
    if (result.status !== 0) {
      throw new Error(
        `apt-get ${args.join(" ")} failed with status ${result.status}; install redis-server by hand`,
      );
    }
  }

  const installed = installedRedisVersion();
  if (installed === null) {
    throw new Error("redis-server is still missing after apt-get install");
  }
  return installed;
}

/** Returns the version of `redis-server` on PATH, or null when it is missing. */
export function installedRedisVersion(): string | null {
  const result = spawnSync("redis-server", ["--version"], {
    encoding: "utf8",
  });
  if (result.error || result.status !== 0) return null;

  const match = /v=(\S+)/.exec(result.stdout);
  return match?.[1] ?? "unknown";
}

/**
 * Starts `redis-server` on a free loopback port with persistence off
 * (no RDB snapshots, no append-only file) and waits until it replies to PING.
 */
export async function startRedisServer(): Promise<RedisServer> {
  const version = ensureRedisServerInstalled();
  const dir = await mkdtemp(join(tmpdir(), "chalkcompute-bench-redis-"));

  let lastError: unknown;
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const port = await findFreePort(HOST);
    const child = spawnRedis(port, dir);
    try {
      await waitForPing(child, port);
      return makeHandle(child, port, version, dir);
    } catch (error) {
      lastError = error;
      await stopChild(child);
    }
  }

  await rm(dir, { recursive: true, force: true });
  throw new Error(
    `redis-server did not start after ${PORT_ATTEMPTS} attempts`,
    { cause: lastError },
  );
}

function spawnRedis(port: number, dir: string): ChildProcess {
  const args = [
    "--bind",
    HOST,
    "--port",
    String(port),
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
  ];
  const child = spawn("redis-server", args, {
    stdio: ["ignore", "ignore", "pipe"],
  });

  // A crash of the benchmark must not leave the server running.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.off("exit", killOnExit));
  return child;
}

async function waitForPing(child: ChildProcess, port: number): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `redis-server exited with ${child.exitCode ?? child.signalCode} on port ${port}: ${stderr.trim()}`,
      );
    }
    if (await ping(port)) return;
    await sleep(50);
  }
  throw new Error(
    `redis-server on port ${port} did not reply to PING within ${START_TIMEOUT_MS} ms`,
  );
}

/** Sends an inline PING and resolves true on "+PONG", false on any failure. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let reply = "";
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };

    socket.setTimeout(500, () => finish(false));
    socket.on("error", () => finish(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) finish(reply.startsWith("+PONG"));
    });
  });
}

function makeHandle(
  child: ChildProcess,
  port: number,
  version: string,
  dir: string,
): RedisServer {
  let stopping: Promise<void> | undefined;
  return {
    host: HOST,
    port,
    version,
    stop() {
      stopping ??= stopChild(child).then(() =>
        rm(dir, { recursive: true, force: true }),
      );
      return stopping;
    },
  };
}

/** Sends SIGTERM, then SIGKILL if the process is still there after a grace period. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;

  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => resolve()),
  );
  child.kill("SIGTERM");
  const graceful = await Promise.race([
    exited.then(() => true),
    sleep(STOP_TIMEOUT_MS, false),
  ]);
  if (!graceful) {
    child.kill("SIGKILL");
    await exited;
  }
}
