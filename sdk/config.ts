import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "./errors.ts";

/** Gateway URL and token, with the source they were read from. */
export interface GatewayConfig {
  /** http(s) base URL of the gateway, without a trailing slash. */
  url: string;
  /** Bearer token for every request. */
  token: string;
  /** "env", or the path of the dev.json file the values came from. */
  source: string;
}

/** Inputs of `resolveConfig`; both default to the current process's. */
export interface ResolveConfigOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** Returns the path of the dev stack's connection file under `root`. */
export function devConfigPath(root: string): string {
  return join(root, ".chalkcompute", "dev.json");
}

/**
 * Resolves the gateway URL and token: from CHALKCOMPUTE_URL and
 * CHALKCOMPUTE_TOKEN, or, when neither is set, from the nearest
 * `.chalkcompute/dev.json` at or above the working directory, which
 * `chalkcompute dev` writes. Throws ConfigError when neither source works.
 */
export function resolveConfig(
  options: ResolveConfigOptions = {},
): GatewayConfig {
  const env = options.env ?? process.env;
  const url = env.CHALKCOMPUTE_URL || undefined;
  const token = env.CHALKCOMPUTE_TOKEN || undefined;

  if (url !== undefined && token !== undefined) {
    return { url: normalizeUrl(url, "CHALKCOMPUTE_URL"), token, source: "env" };
  }
  if (url !== undefined || token !== undefined) {
    const missing =
      url === undefined ? "CHALKCOMPUTE_URL" : "CHALKCOMPUTE_TOKEN";
    const present =
      url === undefined ? "CHALKCOMPUTE_TOKEN" : "CHALKCOMPUTE_URL";
    throw new ConfigError(
      `${missing} is not set but ${present} is: set both, or unset both ` +
        "to use the local dev stack",
    );
  }

  const cwd = resolve(options.cwd ?? process.cwd());
  const file = findDevConfig(cwd);
  if (file === null) {
    throw new ConfigError(
      "no gateway configured: CHALKCOMPUTE_URL and CHALKCOMPUTE_TOKEN are " +
        `not set and no .chalkcompute/dev.json exists at or above ${cwd}. ` +
        "Start the local stack with `npx chalkcompute dev`, or set both variables",
    );
  }
  return readDevConfig(file);
}

/** Returns the nearest dev.json at or above `dir`, or null. */
export function findDevConfig(dir: string): string | null {
  let current = resolve(dir);
  while (true) {
    const candidate = devConfigPath(current);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(current);
    if (parent === current) return null;
    current = parent;
  }
}

/** Reads and validates a dev.json file. */
export function readDevConfig(file: string): GatewayConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(
      `cannot read ${file}: ${(error as Error).message}. Restart ` +
        "`npx chalkcompute dev` to rewrite it",
      { cause: error },
    );
  }

  const record = (parsed ?? {}) as Record<string, unknown>;
  for (const key of ["url", "token"]) {
    if (typeof record[key] !== "string" || record[key] === "") {
      throw new ConfigError(
        `${file} has no "${key}" string. Restart \`npx chalkcompute dev\` ` +
          "to rewrite it",
      );
    }
  }
  return {
    url: normalizeUrl(record.url as string, `"url" in ${file}`),
    token: record.token as string,
    source: file,
  };
}

/** Returns the `ws(s)://HOST/v1/connect` URL for an http(s) gateway URL. */
export function connectUrl(url: string): string {
  const parsed = new URL(url);
  parsed.protocol = parsed.protocol === "https:" ? "wss:" : "ws:";
  parsed.pathname = `${parsed.pathname.replace(/\/$/, "")}/v1/connect`;
  return parsed.toString();
}

function normalizeUrl(value: string, origin: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(
      `${origin} is not a valid URL: ${JSON.stringify(value)}; expected ` +
        "e.g. http://127.0.0.1:8787",
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError(
      `${origin} must be an http:// or https:// URL, got ${JSON.stringify(value)}`,
    );
  }
  return parsed.toString().replace(/\/+$/, "");
}
