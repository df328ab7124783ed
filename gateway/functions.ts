/**
 * Deploy and the function listing: `POST /v1/deploy`,
 * `GET /v1/functions` and `GET /v1/functions/{name}`.
 */
import { Hono } from "hono";
import type { CatalogEntry } from "../durable-objects/catalog-store.ts";
import { catalogStub, type Env, queueStub } from "../durable-objects/env.ts";
import type { QueueStats } from "../durable-objects/function-queue.ts";
import { type FunctionSpec, validateSpec } from "../schemas/spec.ts";
import { badRequest, notFound } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";

/** Routes `/v1/deploy`. */
export const deployRoutes = new Hono<GatewayEnv>();

/** Routes under `/v1/functions` that read the catalog. */
export const functionRoutes = new Hono<GatewayEnv>();

/** A catalog entry with the live state of its queue. */
export interface FunctionStatus {
  name: string;
  version: number;
  /** `ready` once a replica of the current version is linked. */
  status: "ready" | "pending";
  replicas: number;
  queued: number;
  running: number;
  spec: FunctionSpec;
  deployedAt: string;
}

/** Merges a catalog entry with its queue's stats. */
export function functionStatus(
  entry: CatalogEntry,
  stats: QueueStats,
): FunctionStatus {
  const replicas = stats.version === entry.version ? stats.replicas : 0;
  return {
    name: entry.name,
    version: entry.version,
    status: replicas > 0 ? "ready" : "pending",
    replicas,
    queued: stats.queued,
    running: stats.running,
    spec: entry.spec,
    deployedAt: entry.deployedAt,
  };
}

async function withStats(env: Env, entry: CatalogEntry) {
  const stats = await queueStub(env, entry.name).stats();
  return functionStatus(entry, stats);
}

/**
 * Validates a deploy body. Returns the specs, reduced to the FunctionSpec
 * fields, or the list of problems.
 */
export function parseDeployBody(
  body: unknown,
): { specs: FunctionSpec[] } | { problems: string[] } {
  const functions =
    typeof body === "object" && body !== null
      ? (body as Record<string, unknown>).functions
      : undefined;
  if (!Array.isArray(functions) || functions.length === 0) {
    return {
      problems: [
        'body must be {"functions": [FunctionSpec, ...]} with at least one spec',
      ],
    };
  }

  const problems: string[] = [];
  const seen = new Set<string>();
  functions.forEach((spec: unknown, i) => {
    const label = `functions[${i}]`;
    for (const problem of validateSpec(spec)) {
      problems.push(`${label}: ${problem}`);
    }
    const name = (spec as { name?: unknown } | null)?.name;
    if (typeof name === "string" && seen.has(name)) {
      problems.push(`${label}: function ${name} appears twice in one deploy`);
    }
    if (typeof name === "string") seen.add(name);
  });
  if (problems.length > 0) return { problems };

  return {
    specs: (functions as FunctionSpec[]).map((s) => ({
      name: s.name,
      generator: s.generator,
      concurrency: s.concurrency,
      timeoutSeconds: s.timeoutSeconds,
      module: s.module,
      bundleHash: s.bundleHash,
    })),
  };
}

deployRoutes.post("/", async (c) => {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return badRequest(
      'request body is not valid JSON; send {"functions": [...]}',
    );
  }
  const parsed = parseDeployBody(body);
  if ("problems" in parsed) {
    return badRequest(`invalid deploy: ${parsed.problems.join("; ")}`);
  }

  const missing: string[] = [];
  await Promise.all(
    parsed.specs.map(async (spec) => {
      if (!(await c.env.BUNDLES.head(spec.bundleHash))) {
        missing.push(`${spec.name} needs bundle ${spec.bundleHash}`);
      }
    }),
  );
  if (missing.length > 0) {
    return badRequest(
      `invalid deploy: ${missing.join("; ")}; upload bundles with PUT /v1/bundles/{sha256} first`,
    );
  }

  const outcomes = await catalogStub(c.env).deploy(parsed.specs);
  return c.json({ functions: outcomes });
});

functionRoutes.get("/", async (c) => {
  const entries = await catalogStub(c.env).list();
  const functions = await Promise.all(
    entries.map((entry) => withStats(c.env, entry)),
  );
  return c.json({ functions });
});

functionRoutes.get("/:name", async (c) => {
  const name = c.req.param("name");
  const entry = await catalogStub(c.env).get(name);
  if (!entry) return notFound(`function ${name} not found; deploy it first`);
  return c.json(await withStats(c.env, entry));
});
