import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

/** Source entry of the worker runtime. */
export const WORKER_ENTRY = fileURLToPath(
  new URL("./worker/main.ts", import.meta.url),
);

// Bundled CommonJS dependencies (grpc-js) call `require`, which ESM lacks.
const REQUIRE_BANNER =
  'import { createRequire as __chalkcomputeCreateRequire } from "node:module";\n' +
  "const require = __chalkcomputeCreateRequire(import.meta.url);";

/**
 * Bundles the worker runtime into `<dataDir>/runtime/worker.mjs`, a single
 * file that runs with plain `node` and needs no node_modules beside it.
 * Returns the path of the written file.
 */
export async function buildWorkerRuntime(dataDir: string): Promise<string> {
  const outfile = path.join(dataDir, "runtime", "worker.mjs");
  await mkdir(path.dirname(outfile), { recursive: true });

  await esbuild.build({
    entryPoints: [WORKER_ENTRY],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    banner: { js: REQUIRE_BANNER },
    logLevel: "silent",
  });

  return outfile;
}
