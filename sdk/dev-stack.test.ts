import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevStack, loadSecretsKey, startDevStack } from "./dev-stack.ts";

const fixture = (name: string) =>
  fileURLToPath(new URL(`./testing/fixtures/${name}`, import.meta.url));

const root = mkdtempSync(join(tmpdir(), "chalkcompute-dev-"));
const lines: string[] = [];
let stack: DevStack;

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const started = () => lines.filter((l) => l.startsWith("agent-started"));

beforeAll(async () => {
  stack = await startDevStack({
    port: 0,
    root,
    gatewayEntry: fixture("dev-gateway.mjs"),
    agentEntry: fixture("dev-agent.mjs"),
    onLog: (line) => lines.push(line),
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("startDevStack", () => {
  it("serves the Worker with the token binding and storage", async () => {
    const unauthorized = await fetch(stack.url);
    expect(unauthorized.status).toBe(401);

    const headers = { authorization: `Bearer ${stack.token}` };
    const first = await (await fetch(stack.url, { headers })).json();
    const second = await (await fetch(stack.url, { headers })).json();

    expect(first).toEqual({ count: 1, bundleSize: 1, keyBytes: 32 });
    expect(second).toEqual({ count: 2, bundleSize: 1, keyBytes: 32 });
    expect(stack.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("writes dev.json with url and token", () => {
    const config = JSON.parse(readFileSync(stack.configFile, "utf8"));
    expect(stack.configFile).toBe(join(root, ".chalkcompute", "dev.json"));
    expect(config).toEqual({ url: stack.url, token: stack.token });
  });

  it("starts the agent with the gateway's address", async () => {
    await waitFor(() => started().length === 1, "the agent");
    const line = started()[0] ?? "";
    expect(line).toContain(`url=${stack.url}`);
    expect(line).toContain(
      `data=${join(root, ".chalkcompute", "state", "agent")}`,
    );
    expect(line).toContain(`pid=${stack.agentPid}`);
  });

  it("restarts the agent after it is killed", async () => {
    await waitFor(() => stack.agentPid !== undefined, "the agent pid");
    const before = stack.agentPid;
    const count = started().length;

    stack.killAgent();

    await waitFor(() => started().length === count + 1, "a new agent");
    expect(stack.agentPid).not.toBe(before);
    expect(lines.some((l) => l.includes("signal SIGKILL"))).toBe(true);
  });

  it("keeps the secrets key in the state folder", () => {
    const file = join(root, ".chalkcompute", "state", "secrets.key");
    const key = readFileSync(file, "utf8").trim();

    expect(Buffer.from(key, "base64").byteLength).toBe(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadSecretsKey(dirname(file))).toBe(key);
  });

  it("rejects a secrets key of the wrong size", () => {
    const dir = mkdtempSync(join(tmpdir(), "chalkcompute-key-"));
    writeFileSync(join(dir, "secrets.key"), "c2hvcnQ=\n");

    expect(() => loadSecretsKey(dir)).toThrow(
      /secrets\.key does not hold a base64 key of 32 bytes/,
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it("reuses the token on the next start", async () => {
    const keyFile = join(root, ".chalkcompute", "state", "secrets.key");
    const key = readFileSync(keyFile, "utf8");
    const token = stack.token;
    await stack.stop();
    await stack.stop();

    stack = await startDevStack({
      port: 0,
      root,
      agent: false,
      gatewayEntry: fixture("dev-gateway.mjs"),
    });

    expect(stack.token).toBe(token);
    expect(readFileSync(keyFile, "utf8")).toBe(key);
    expect(stack.agentPid).toBeUndefined();
    const headers = { authorization: `Bearer ${token}` };
    const body = await (await fetch(stack.url, { headers })).json();
    expect(body).toEqual({ count: 3, bundleSize: 1, keyBytes: 32 });
  }, 60_000);
});
