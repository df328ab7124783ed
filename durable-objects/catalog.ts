/**
 * The single Catalog object (`idFromName("catalog")`): function specs and
 * versions. A deploy configures each function's queue and then publishes the
 * new assignment list to the Fleet.
 */
import { DurableObject } from "cloudflare:workers";
import type { Assignment } from "../schemas/frames.ts";
import type { FunctionSpec } from "../schemas/spec.ts";
import {
  type CatalogEntry,
  CatalogStore,
  canonicalSpecJson,
  type DeployOutcome,
} from "./catalog-store.ts";
import { type Env, fleetStub, queueStub } from "./env.ts";
import { createLogger } from "./logger.ts";

const log = createLogger("catalog");

/** Durable Object holding every function's spec and versions. */
export class Catalog extends DurableObject<Env> {
  private readonly store: CatalogStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new CatalogStore(ctx.storage.sql);
  }

  /**
   * Stores the specs (validated by the caller), one new version per changed
   * spec, then configures every deployed function's queue and, when
   * anything changed, publishes the assignments to the Fleet.
   */
  async deploy(specs: FunctionSpec[]): Promise<DeployOutcome[]> {
    const nowMs = Date.now();
    const outcomes = this.ctx.storage.transactionSync(() =>
      specs.map((spec) => this.store.deploy(spec, nowMs)),
    );

    // Unchanged specs are configured too: configure is idempotent, and it
    // repairs a queue that missed an earlier configure.
    await Promise.all(
      outcomes.map((outcome) => {
        const entry = this.store.get(outcome.name);
        if (!entry) throw new Error(`function ${outcome.name} vanished`);
        return queueStub(this.env, entry.name).configure(
          entry.spec,
          entry.version,
        );
      }),
    );
    const changed = outcomes.filter((outcome) => outcome.changed);
    if (changed.length > 0) {
      await fleetStub(this.env).publish(this.assignments());
    }
    log.info("deployed", {
      functions: outcomes.map((o) => `${o.name}@${o.version}`),
      changed: changed.map((o) => o.name),
    });
    return outcomes;
  }

  /** Returns every function's current entry. */
  async list(): Promise<CatalogEntry[]> {
    return this.store.list();
  }

  /** Returns a function's current entry, or null when it was never deployed. */
  async get(name: string): Promise<CatalogEntry | null> {
    return this.store.get(name);
  }

  /** Returns one version of a function, or null when it does not exist. */
  async version(name: string, version: number): Promise<CatalogEntry | null> {
    return this.store.version(name, version);
  }

  /** Returns every version of a function, oldest first. */
  async versions(name: string): Promise<CatalogEntry[]> {
    return this.store.versions(name);
  }

  /** Returns what every agent should serve: each function's current version. */
  assignments(): Assignment[] {
    return this.store.list().map((entry) => ({
      function: entry.name,
      version: entry.version,
      bundleHash: entry.spec.bundleHash,
      spec: canonicalSpecJson(entry.spec),
    }));
  }
}
