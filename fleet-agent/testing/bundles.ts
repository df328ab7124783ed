/**
 * Builds user bundles for tests: a module that registers handlers with
 * `functionRegistry().set(...)`, bundled by esbuild the way a deploy would.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const RUNTIME_HOOKS = fileURLToPath(
  new URL("../../sdk/runtime-hooks.ts", import.meta.url),
);

/**
 * Bundles `source`, a module body in which `register(name, handler,
 * options)` defines a function, and returns the bundle's bytes.
 */
export async function buildTestBundle(source: string): Promise<Uint8Array> {
  const dir = await mkdtemp(path.join(tmpdir(), "cc-bundle-"));
  const entry = path.join(dir, "functions.ts");
  const prelude = `
import { functionRegistry } from ${JSON.stringify(RUNTIME_HOOKS)};
function register(name: string, handler: (...args: any[]) => unknown, options: { concurrency?: number } = {}) {
  const generator = Object.prototype.toString.call(handler) === "[object AsyncGeneratorFunction]";
  functionRegistry().set(name, {
    name, handler, generator, modulePath: "",
    concurrency: options.concurrency ?? 1, timeoutSeconds: 300,
  });
}
`;
  await writeFile(entry, `${prelude}\n${source}\n`);

  const outfile = path.join(dir, "bundle.mjs");
  try {
    await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      logLevel: "silent",
    });
    return new Uint8Array(await readFile(outfile));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
