/**
 * SQLite storage of the Catalog: each function's current spec and every
 * version it had.
 */
import type { FunctionSpec, ImageSpec } from "../schemas/spec.ts";

/** A function's entry in the catalog. */
export interface CatalogEntry {
  name: string;
  version: number;
  spec: FunctionSpec;
  /** When the current version was deployed (ISO 8601). */
  deployedAt: string;
}

/** Outcome of deploying one spec. */
export interface DeployOutcome {
  name: string;
  version: number;
  /** False when the spec equaled the current one, so no version was added. */
  changed: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS functions (
  name TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  spec TEXT NOT NULL,
  deployed_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  spec TEXT NOT NULL,
  deployed_ms REAL NOT NULL,
  PRIMARY KEY (name, version)
) WITHOUT ROWID;
`;

/**
 * Returns the spec's JSON with keys in a fixed order, so that two equal
 * specs compare equal as strings. Absent compute fields stay absent.
 */
export function canonicalSpecJson(spec: FunctionSpec): string {
  const canonical: FunctionSpec = {
    name: spec.name,
    generator: spec.generator,
    concurrency: spec.concurrency,
    timeoutSeconds: spec.timeoutSeconds,
    module: spec.module,
    bundleHash: spec.bundleHash,
  };
  if (spec.image) canonical.image = canonicalImage(spec.image);
  if (spec.cpu !== undefined) canonical.cpu = spec.cpu;
  if (spec.memoryBytes !== undefined) canonical.memoryBytes = spec.memoryBytes;
  if (spec.gpu)
    canonical.gpu = { model: spec.gpu.model, count: spec.gpu.count };
  if (spec.secrets) canonical.secrets = [...spec.secrets];
  if (spec.volumes) {
    canonical.volumes = spec.volumes.map((v) => ({
      name: v.name,
      mountPath: v.mountPath,
    }));
  }
  if (spec.retries) {
    canonical.retries = { ...spec.retries, retryOn: [...spec.retries.retryOn] };
  }
  if (spec.rateLimit) {
    const { rate, per, key } = spec.rateLimit;
    canonical.rateLimit = { rate, per, key };
  }
  if (spec.concurrencyKey !== undefined) {
    canonical.concurrencyKey = spec.concurrencyKey;
  }
  return JSON.stringify(canonical);
}

function canonicalImage(image: ImageSpec): ImageSpec {
  const env: Record<string, string> = {};
  for (const key of Object.keys(image.env).sort()) {
    env[key] = image.env[key] as string;
  }
  const canonical: ImageSpec = {
    base: image.base,
    commands: [...image.commands],
    env,
    files: image.files.map((f) => ({
      hash: f.hash,
      path: f.path,
      mode: f.mode,
    })),
  };
  if (image.workdir !== undefined) canonical.workdir = image.workdir;
  return canonical;
}

type Row = Record<string, SqlStorageValue>;

function readEntry(row: Row): CatalogEntry {
  return {
    name: row.name as string,
    version: row.version as number,
    spec: JSON.parse(row.spec as string) as FunctionSpec,
    deployedAt: new Date(row.deployed_ms as number).toISOString(),
  };
}

/** Typed queries over the Catalog's SQLite database. */
export class CatalogStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  /** Stores a spec as the function's next version unless it is unchanged. */
  deploy(spec: FunctionSpec, nowMs: number): DeployOutcome {
    const json = canonicalSpecJson(spec);
    const current = this.get(spec.name);
    if (current && canonicalSpecJson(current.spec) === json) {
      return { name: spec.name, version: current.version, changed: false };
    }

    const version = (current?.version ?? 0) + 1;
    this.sql.exec(
      `INSERT OR REPLACE INTO functions (name, version, spec, deployed_ms)
       VALUES (?, ?, ?, ?)`,
      spec.name,
      version,
      json,
      nowMs,
    );
    this.sql.exec(
      `INSERT INTO versions (name, version, spec, deployed_ms)
       VALUES (?, ?, ?, ?)`,
      spec.name,
      version,
      json,
      nowMs,
    );
    return { name: spec.name, version, changed: true };
  }

  /** Returns a function's current entry, or null. */
  get(name: string): CatalogEntry | null {
    const row = this.sql
      .exec("SELECT * FROM functions WHERE name = ?", name)
      .toArray()[0];
    return row ? readEntry(row) : null;
  }

  /** Returns every function, by name. */
  list(): CatalogEntry[] {
    return this.sql
      .exec("SELECT * FROM functions ORDER BY name")
      .toArray()
      .map(readEntry);
  }

  /** Returns one version of a function, or null when it does not exist. */
  version(name: string, version: number): CatalogEntry | null {
    const row = this.sql
      .exec(
        "SELECT * FROM versions WHERE name = ? AND version = ?",
        name,
        version,
      )
      .toArray()[0];
    return row ? readEntry(row) : null;
  }

  /** Returns every version of a function, oldest first. */
  versions(name: string): CatalogEntry[] {
    return this.sql
      .exec("SELECT * FROM versions WHERE name = ? ORDER BY version", name)
      .toArray()
      .map(readEntry);
  }
}
