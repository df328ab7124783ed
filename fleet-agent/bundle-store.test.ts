import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BundleStore, sha256 } from "./bundle-store.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import { parseGatewayUrl } from "./urls.ts";

const code = new TextEncoder().encode("export const x = 1;\n");
let gateway: FakeGateway;
let dir: string;
let store: BundleStore;

beforeEach(async () => {
  gateway = await FakeGateway.start();
  dir = await mkdtemp(path.join(tmpdir(), "cc-bundles-"));
  store = new BundleStore({
    gateway: parseGatewayUrl(gateway.url),
    token: gateway.token,
    dir,
    logger: pino({ level: "silent" }),
  });
});

afterEach(async () => {
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

describe("BundleStore", () => {
  it("downloads once and reuses the file", async () => {
    const hash = gateway.addBundle(code);

    const [first, second] = await Promise.all([
      store.get(hash),
      store.get(hash),
    ]);
    const third = await store.get(hash);
    expect(first).toBe(path.join(dir, `${hash}.mjs`));
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(await readFile(first)).toEqual(Buffer.from(code));
    expect(gateway.bundleRequests).toEqual([hash]);
  });

  it("rejects a bundle with another hash", async () => {
    const hash = sha256(new TextEncoder().encode("something else"));
    gateway.bundles.set(hash, code);

    await expect(store.get(hash)).rejects.toThrow(
      /has sha256 [0-9a-f]{64}, not/,
    );
  });

  it("downloads again over a corrupt cache", async () => {
    const hash = gateway.addBundle(code);
    await writeFile(path.join(dir, `${hash}.mjs`), "corrupt");

    const file = await store.get(hash);
    expect(await readFile(file)).toEqual(Buffer.from(code));
  });

  it("names the status of a failed download", async () => {
    const hash = sha256(new TextEncoder().encode("never uploaded"));

    await expect(store.get(hash)).rejects.toThrow(/failed with HTTP 404/);
  });

  it("rejects a malformed hash", async () => {
    await expect(store.get("../etc/passwd")).rejects.toThrow(/64 lowercase/);
  });
});
