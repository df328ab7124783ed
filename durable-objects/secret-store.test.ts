import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { secretStoreStub } from "./env.ts";
import {
  checkSecretsKey,
  decryptValue,
  encryptValue,
  importSecretsKey,
  SecretsKeyError,
} from "./secret-crypto.ts";
import type { SecretStore } from "./secret-store.ts";
import { freshName } from "./test-kit.ts";

const VALUE = "s3cr3t-value-that-must-not-leak";

describe("secret-crypto", () => {
  it("rejects a missing or malformed key", async () => {
    expect(checkSecretsKey(undefined)).toContain("wrangler secret put");
    expect(checkSecretsKey(undefined)).toContain("CHALKCOMPUTE_SECRETS_KEY");
    expect(checkSecretsKey("not base64!")).toContain("not base64 of 32");
    expect(checkSecretsKey(btoa("short"))).toContain("not base64 of 32");
    await expect(importSecretsKey("")).rejects.toBeInstanceOf(SecretsKeyError);
  });

  it("round-trips with a fresh IV per value", async () => {
    const key = await importSecretsKey(env.CHALKCOMPUTE_SECRETS_KEY);
    const a = await encryptValue(key, "g", "A", VALUE);
    const b = await encryptValue(key, "g", "A", VALUE);

    expect(a).not.toEqual(b);
    expect(await decryptValue(key, "g", "A", a)).toBe(VALUE);
  });

  it("binds a value to its group and name", async () => {
    const key = await importSecretsKey(env.CHALKCOMPUTE_SECRETS_KEY);
    const sealed = await encryptValue(key, "g", "A", VALUE);

    await expect(decryptValue(key, "other", "A", sealed)).rejects.toThrow();
    await expect(decryptValue(key, "g", "B", sealed)).rejects.toThrow();
  });
});

describe("SecretStore", () => {
  it("stores values encrypted at rest", async () => {
    const group = freshName("grp");
    const stub = secretStoreStub(env);
    await stub.put(group, { TOKEN: VALUE });

    const raw = await runInDurableObject(
      stub,
      (_instance: SecretStore, state) =>
        state.storage.sql
          .exec("SELECT * FROM groups WHERE name = ?", group)
          .toArray()[0],
    );
    expect(raw).toBeDefined();
    const bytes = new Uint8Array(raw?.ciphertext as ArrayBuffer);
    const asText = new TextDecoder().decode(bytes);
    const asLatin1 = String.fromCharCode(...bytes);
    expect(asText).not.toContain(VALUE);
    expect(asLatin1).not.toContain(VALUE);
    expect(asText).not.toContain(btoa(VALUE));
    expect(JSON.stringify(raw)).not.toContain(VALUE);
    expect(raw?.keys).toBe('["TOKEN"]');
  });

  it("lists names and keys only", async () => {
    const group = freshName("grp");
    await secretStoreStub(env).put(group, { B: VALUE, A: VALUE });

    const groups = await secretStoreStub(env).list();
    const mine = groups.find((g) => g.name === group);
    expect(mine?.keys).toEqual(["A", "B"]);
    expect(JSON.stringify(groups)).not.toContain(VALUE);
  });

  it("merges groups with later groups winning", async () => {
    const first = freshName("grp");
    const second = freshName("grp");
    const stub = secretStoreStub(env);
    await stub.put(first, { SHARED: "from-first", ONLY_FIRST: "1" });
    await stub.put(second, { SHARED: "from-second" });

    const result = await stub.environment([first, second, "absent-group"]);
    expect(result.env).toEqual({
      SHARED: "from-second",
      ONLY_FIRST: "1",
    });
    expect(result.missing).toEqual(["absent-group"]);
  });

  it("replaces and deletes a group", async () => {
    const group = freshName("grp");
    const stub = secretStoreStub(env);
    await stub.put(group, { OLD: "1" });
    await stub.put(group, { NEW: "2" });

    expect((await stub.environment([group])).env).toEqual({ NEW: "2" });
    expect(await stub.missing([group, "nope"])).toEqual(["nope"]);
    expect(await stub.remove(group)).toBe(true);
    expect(await stub.remove(group)).toBe(false);
    expect(await stub.missing([group])).toEqual([group]);
  });
});
