/**
 * The single SecretStore object (`idFromName("secrets")`): secret groups in
 * SQLite, each value encrypted with AES-GCM under the Worker secret
 * CHALKCOMPUTE_SECRETS_KEY. Variable names are stored in clear text because
 * `GET /v1/secrets` lists them; values leave this object only through
 * `environment`, which serves the agent route.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { createLogger } from "./logger.ts";
import {
  decodeBase64,
  decryptValue,
  encodeBase64,
  encryptValue,
  importSecretsKey,
  SECRETS_KEY_BINDING,
} from "./secret-crypto.ts";

/** Public view of a group: its variable names, never the values. */
export interface SecretGroupInfo {
  name: string;
  keys: string[];
  /** When the group was last replaced (ISO 8601). */
  updatedAt: string;
}

/** Environment assembled from secret groups. */
export interface SecretEnvironment {
  env: Record<string, string>;
  /** Requested groups that do not exist. */
  missing: string[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS groups (
  name TEXT PRIMARY KEY,
  keys TEXT NOT NULL,
  ciphertext BLOB NOT NULL,
  updated_ms REAL NOT NULL
);
`;

const log = createLogger("secret-store");

type Row = Record<string, SqlStorageValue>;

function readInfo(row: Row): SecretGroupInfo {
  return {
    name: row.name as string,
    keys: JSON.parse(row.keys as string) as string[],
    updatedAt: new Date(row.updated_ms as number).toISOString(),
  };
}

/** Durable Object holding the encrypted secret groups. */
export class SecretStore extends DurableObject<Env> {
  private key: Promise<CryptoKey> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
  }

  /**
   * Replaces a group with `values`, each encrypted with its own IV. The
   * caller has checked the group and variable names.
   */
  async put(
    group: string,
    values: Record<string, string>,
  ): Promise<SecretGroupInfo> {
    const key = await this.cryptoKey();
    const keys = Object.keys(values).sort();
    const sealed: Record<string, string> = {};
    for (const name of keys) {
      const value = values[name] as string;
      sealed[name] = encodeBase64(await encryptValue(key, group, name, value));
    }

    const nowMs = Date.now();
    this.ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO groups (name, keys, ciphertext, updated_ms)
       VALUES (?, ?, ?, ?)`,
      group,
      JSON.stringify(keys),
      new TextEncoder().encode(JSON.stringify(sealed)),
      nowMs,
    );
    log.info("secret group stored", { group, keys: keys.length });
    return { name: group, keys, updatedAt: new Date(nowMs).toISOString() };
  }

  /** Returns every group's name and variable names, by name. */
  async list(): Promise<SecretGroupInfo[]> {
    return this.ctx.storage.sql
      .exec("SELECT name, keys, updated_ms FROM groups ORDER BY name")
      .toArray()
      .map(readInfo);
  }

  /** Deletes a group; returns false when it did not exist. */
  async remove(group: string): Promise<boolean> {
    const cursor = this.ctx.storage.sql.exec(
      "DELETE FROM groups WHERE name = ?",
      group,
    );
    const deleted = cursor.rowsWritten > 0;
    if (deleted) log.info("secret group deleted", { group });
    return deleted;
  }

  /** Returns the groups of `groups` that do not exist, in the given order. */
  async missing(groups: string[]): Promise<string[]> {
    const present = new Set(
      this.ctx.storage.sql
        .exec("SELECT name FROM groups")
        .toArray()
        .map((row) => row.name as string),
    );
    return groups.filter((group) => !present.has(group));
  }

  /**
   * Decrypts the union of the groups' variables; a variable of a later
   * group replaces the same name from an earlier one.
   */
  async environment(groups: string[]): Promise<SecretEnvironment> {
    const key = await this.cryptoKey();
    const env: Record<string, string> = {};
    const missing: string[] = [];
    for (const group of groups) {
      const row = this.ctx.storage.sql
        .exec("SELECT ciphertext FROM groups WHERE name = ?", group)
        .toArray()[0];
      if (!row) {
        missing.push(group);
        continue;
      }

      const sealed = JSON.parse(
        new TextDecoder().decode(row.ciphertext as ArrayBuffer),
      ) as Record<string, string>;
      for (const [name, text] of Object.entries(sealed)) {
        const bytes = decodeBase64(text) as Uint8Array;
        try {
          env[name] = await decryptValue(key, group, name, bytes);
        } catch {
          throw new Error(
            `secret ${name} of group ${group} does not decrypt: ` +
              `${SECRETS_KEY_BINDING} differs from the key it was stored with; ` +
              `restore that key or set the group again`,
          );
        }
      }
    }
    return { env, missing };
  }

  private cryptoKey(): Promise<CryptoKey> {
    if (!this.key) {
      this.key = importSecretsKey(this.env.CHALKCOMPUTE_SECRETS_KEY);
      // A failed import is retried on the next call, after the binding is fixed.
      this.key.catch(() => {
        this.key = null;
      });
    }
    return this.key;
  }
}
