/**
 * Deploy and the function listing: `POST /v1/deploy`,
 * `GET /v1/functions` and `GET /v1/functions/{name}`.
 */
import { Hono } from "hono";
import {
  type CatalogEntry,
  canonicalSpecJson,
} from "../durable-objects/catalog-store.ts";
import {
  catalogStub,
  type Env,
  fleetStub,
  queueStub,
  secretStoreStub,
} from "../durable-objects/env.ts";
import type { FleetStatus } from "../durable-objects/fleet.ts";
import type {
  BuildStatus,
  Placement,
} from "../durable-objects/fleet-placement.ts";
import type { QueueStats } from "../durable-objects/function-queue.ts";
import { type FunctionSpec, validateSpec } from "../schemas/spec.ts";
import { badRequest, notFound } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";

/** Routes `/v1/deploy`. */
export const deployRoutes = new Hono<GatewayEnv>();

/** Routes under `/v1/functions` that read the catalog. */
export const functionRoutes = new Hono<GatewayEnv>();

/** A catalog entry with the live state of its queue and of the fleet. */
export interface FunctionStatus {
  name: string;
  version: number;
  /** `ready` once a replica of the current version is linked. */
  status: "ready" | "pending";
  replicas: number;
  queued: number;
  running: number;
  /** Image build of the current version, from the agents' reports. */
  build: BuildStatus;
  /** Whether a connected agent can run the function (its GPU). */
  placement: Placement;
  spec: FunctionSpec;
  deployedAt: string;
}

/** Merges a catalog entry with its queue's stats and its fleet status. */
export function functionStatus(
  entry: CatalogEntry,
  stats: QueueStats,
  fleet: Pick<FleetStatus, "build" | "placement">,
): FunctionStatus {
  const replicas = stats.version === entry.version ? stats.replicas : 0;
  return {
    name: entry.name,
    version: entry.version,
    status: replicas > 0 ? "ready" : "pending",
    replicas,
    queued: stats.queued,
    running: stats.running,
    build: fleet.build,
    placement: fleet.placement,
    spec: entry.spec,
    deployedAt: entry.deployedAt,
  };
}

/** Returns the status of each entry, asking the Fleet once for all. */
async function statusesOf(
  env: Env,
  entries: CatalogEntry[],
): Promise<FunctionStatus[]> {
  const [fleet, stats] = await Promise.all([
    fleetStub(env).statuses(
      entries.map((e) => ({ name: e.name, version: e.version })),
    ),
    Promise.all(entries.map((e) => queueStub(env, e.name).stats())),
  ]);
  return entries.map((entry, i) =>
    functionStatus(entry, stats[i] as QueueStats, fleet[i] as FleetStatus),
  );
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

  // The canonical form keeps only FunctionSpec fields.
  return {
    specs: (functions as FunctionSpec[]).map(
      (s) => JSON.parse(canonicalSpecJson(s)) as FunctionSpec,
    ),
  };
}

/** Returns a problem for each bundle or image file not in the blob store. */
async function missingBlobs(
  env: Env,
  specs: FunctionSpec[],
): Promise<string[]> {
  const needed: { name: string; what: string; hash: string }[] = [];
  for (const spec of specs) {
    needed.push({ name: spec.name, what: "bundle", hash: spec.bundleHash });
    for (const file of spec.image?.files ?? []) {
      needed.push({
        name: spec.name,
        what: `image file ${file.path}`,
        hash: file.hash,
      });
    }
  }

  const present = await Promise.all(
    needed.map(async (blob) => (await env.BUNDLES.head(blob.hash)) !== null),
  );
  return needed
    .filter((_, i) => !present[i])
    .map((blob) => `${blob.name} needs ${blob.what} ${blob.hash}`);
}

/** Returns a problem for each secret group a spec names that does not exist. */
async function missingSecretGroups(
  env: Env,
  specs: FunctionSpec[],
): Promise<string[]> {
  const groups = [...new Set(specs.flatMap((spec) => spec.secrets ?? []))];
  if (groups.length === 0) return [];

  const missing = new Set(await secretStoreStub(env).missing(groups));
  const problems: string[] = [];
  for (const spec of specs) {
    for (const group of spec.secrets ?? []) {
      if (!missing.has(group)) continue;
      problems.push(
        `secret group ${group} named by ${spec.name} does not exist; ` +
          `create it with \`npx chalkcompute secret set ${group} NAME=value\``,
      );
    }
  }
  return problems;
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

  const missing = await missingBlobs(c.env, parsed.specs);
  if (missing.length > 0) {
    return badRequest(
      `invalid deploy: ${missing.join("; ")}; upload bundles and image files with PUT /v1/bundles/{sha256} first`,
    );
  }
  const missingGroups = await missingSecretGroups(c.env, parsed.specs);
  if (missingGroups.length > 0) {
    return badRequest(`invalid deploy: ${missingGroups.join("; ")}`);
  }

  const outcomes = await catalogStub(c.env).deploy(parsed.specs);
  return c.json({ functions: outcomes });
});

functionRoutes.get("/", async (c) => {
  const entries = await catalogStub(c.env).list();
  const functions = await statusesOf(c.env, entries);
  return c.json({ functions });
});

functionRoutes.get("/:name", async (c) => {
  const name = c.req.param("name");
  const entry = await catalogStub(c.env).get(name);
  if (!entry) return notFound(`function ${name} not found; deploy it first`);
  const [status] = await statusesOf(c.env, [entry]);
  return c.json(status);
});
