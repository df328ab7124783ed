/**
 * Helpers for the gateway tests: authenticated requests through the
 * Worker's own fetch, deploys, and agent links over the agent routes.
 */
import { SELF } from "cloudflare:test";
import {
  freshName,
  makeSpec,
  TestCaller,
  TestLink,
  TestSocket,
} from "../durable-objects/test-kit.ts";
import type { FunctionSpec } from "../schemas/spec.ts";

/** The token the vitest config binds as CHALKCOMPUTE_TOKEN. */
export const TOKEN = "test-token";

const ORIGIN = "https://gateway.test";

/** Sends a request to the gateway with the test token. */
export function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("Authorization")) {
    headers.set("Authorization", `Bearer ${TOKEN}`);
  }
  return SELF.fetch(`${ORIGIN}${path}`, { ...init, headers });
}

/** POSTs a JSON body. */
export function postJson(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

/** Returns the lowercase hex sha256 of some text. */
export async function sha256Of(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

/** Uploads a bundle and returns its hash. */
export async function uploadBundle(source: string): Promise<string> {
  const bytes = new TextEncoder().encode(source);
  const hash = await sha256Of(bytes);
  const response = await api(`/v1/bundles/${hash}`, {
    method: "PUT",
    body: bytes,
  });
  if (!response.ok) {
    throw new Error(`bundle upload failed: ${await response.text()}`);
  }
  return hash;
}

/** Uploads a bundle and deploys one function with it; returns its spec. */
export async function deployFunction(
  overrides: Partial<FunctionSpec> = {},
): Promise<FunctionSpec> {
  const name = overrides.name ?? freshName();
  const bundleHash = await uploadBundle(`export const name = "${name}";`);
  const spec = makeSpec(name, { bundleHash, ...overrides });
  const response = await postJson("/v1/deploy", { functions: [spec] });
  if (!response.ok) {
    throw new Error(`deploy failed: ${await response.text()}`);
  }
  return spec;
}

/** Opens a replica link through `GET /v1/agent/functions/{name}/link`. */
export async function agentLink(name: string, version = 1): Promise<TestLink> {
  const replica = `r-${crypto.randomUUID().slice(0, 8)}`;
  const ws = await TestSocket.open(
    SELF,
    `${ORIGIN}/v1/agent/functions/${name}/link?agent=a1&replica=${replica}&version=${version}`,
    { Authorization: `Bearer ${TOKEN}` },
  );
  return new TestLink(ws, replica);
}

/** Opens an SDK-style connection through `GET /v1/connect`. */
export async function connectCaller(): Promise<TestCaller> {
  const ws = await TestSocket.open(SELF, `${ORIGIN}/v1/connect`, {
    Authorization: `Bearer ${TOKEN}`,
  });
  return new TestCaller(ws);
}
