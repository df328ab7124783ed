import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { FunctionSpec } from "../schemas/spec.ts";
import {
  type PreparedCompute,
  prepareCompute,
  uploadCompute,
} from "./compute-spec.ts";
import { defaultHttp } from "./default-client.ts";
import { DeployError } from "./errors.ts";
import type { GatewayHttp } from "./http.ts";
import {
  functionRegistry,
  type RegisteredFunction,
  replicaChannel,
} from "./runtime-hooks.ts";
import { pollFunction } from "./wait-ready.ts";

/** A module bundled into one ESM file. */
export interface Bundle {
  code: Uint8Array;
  /** sha256 hex of `code`. */
  hash: string;
  /** Absolute paths of every source file in the bundle. */
  inputs: string[];
}

/** One function's entry in the response of `POST /v1/deploy`. */
export interface DeployedFunction {
  name: string;
  version: number;
  /** False when the catalog already had this exact spec. */
  changed: boolean;
}

/** Options of `deployModule`. */
export interface DeployOptions {
  /** Gateway client; defaults to the configured gateway. */
  http?: GatewayHttp;
  /** Base for the relative `module` path in specs; default the process cwd. */
  cwd?: string;
  /** Receives one line per step (bundling, uploading, deploying). */
  onProgress?: (message: string) => void;
}

/** Options of `waitReady`. */
export interface WaitReadyOptions {
  /** Time limit in milliseconds; default 120000. */
  timeoutMs?: number;
  /**
   * How long the gateway may report that no agent can place the function
   * before waitReady fails, in milliseconds. The default is 3000 for a
   * function with a gpu, else 10000.
   */
  placementGraceMs?: number;
}

const DEFAULT_READY_TIMEOUT_MS = 120_000;
// Agents that just started report their GPUs with their first report; an
// agent started together with the gateway needs a few seconds to connect.
const GPU_PLACEMENT_GRACE_MS = 3_000;
const PLACEMENT_GRACE_MS = 10_000;

// The SDK's entry, so bundles resolve `import "chalkcompute"` to this copy
// even where the package is not installed under node_modules.
const SDK_ENTRY = join(dirname(fileURLToPath(import.meta.url)), "index.ts");

const deploys = new Map<string, Promise<DeployedFunction[]>>();
const deployedVersions = new Map<string, number>();
const readyChecks = new Map<string, Promise<void>>();

/**
 * Deploys the module that defined `fn`, once per process and module. Inside
 * a replica it does nothing: replicas run code that is already deployed.
 */
export function ensureDeployed(fn: RegisteredFunction): Promise<void> {
  if (replicaChannel()) return Promise.resolve();
  if (!fn.modulePath) {
    return Promise.reject(
      new DeployError(
        `cannot deploy function ${JSON.stringify(fn.name)}: the module that ` +
          "defined it is unknown (defined in a REPL or eval?). Define it " +
          "in a .ts file",
      ),
    );
  }

  let deploy = deploys.get(fn.modulePath);
  if (!deploy) {
    deploy = deployModule(fn.modulePath);
    deploys.set(fn.modulePath, deploy);
    deploy.catch(() => deploys.delete(fn.modulePath));
  }
  return deploy.then(() => undefined);
}

/**
 * Deploys `fn` if needed, then polls `GET /v1/functions/{name}` until a
 * replica of the deployed version (or a newer one) serves. Throws BuildError
 * when the version's image failed to build and PlacementError when no
 * connected agent can run it. Inside a replica it resolves at once, because
 * the queue holds calls until a replica serves.
 */
export async function waitReady(
  fn: RegisteredFunction,
  options: WaitReadyOptions = {},
): Promise<void> {
  if (replicaChannel()) return;
  const timeoutMs = options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const started = Date.now();

  await ensureDeployed(fn);
  const version = deployedVersions.get(fn.name) ?? 0;
  const placementGraceMs =
    options.placementGraceMs ??
    (fn.compute?.gpu ? GPU_PLACEMENT_GRACE_MS : PLACEMENT_GRACE_MS);
  await pollFunction(defaultHttp(), {
    name: fn.name,
    version,
    timeoutMs: Math.max(0, timeoutMs - (Date.now() - started)),
    placementGraceMs,
  });
}

/**
 * Deploys `fn` if needed and waits until it is ready, once per deployed
 * version in this process. `remote()` and `spawn()` call it first, so a
 * failed build or placement fails the call at once.
 */
export function ensureReady(fn: RegisteredFunction): Promise<void> {
  if (replicaChannel()) return Promise.resolve();

  return ensureDeployed(fn).then(() => {
    const key = `${fn.name}@${deployedVersions.get(fn.name) ?? 0}`;
    let check = readyChecks.get(key);
    if (!check) {
      check = waitReady(fn);
      readyChecks.set(key, check);
      check.catch(() => readyChecks.delete(key));
    }
    return check;
  });
}

/**
 * Bundles `modulePath`, uploads the bundle and deploys every registered
 * function defined by that module. Returns the catalog's response per function.
 */
export async function deployModule(
  modulePath: string,
  options: DeployOptions = {},
): Promise<DeployedFunction[]> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const progress = options.onProgress ?? (() => {});
  const http = options.http ?? defaultHttp();
  const display = relative(cwd, modulePath) || modulePath;

  const functions = functionsOfModule(modulePath);
  if (functions.length === 0) {
    throw new DeployError(
      `${display} defines no functions: wrap a handler with ` +
        "chalkcompute.function(...) at the top level of the module",
    );
  }

  // Secrets and image files are read first, so that a missing variable or
  // file fails the deploy before anything is uploaded.
  const computes = functions.map((fn) => prepareCompute(fn));

  progress(`bundling ${display}`);
  const bundle = await bundleModule(modulePath);
  checkInputs(bundle, functions, display);
  const sizeKb = (bundle.code.byteLength / 1024).toFixed(1);
  progress(`bundled ${display}: ${sizeKb} KiB, sha256 ${bundle.hash}`);

  progress(`uploading bundle ${bundle.hash.slice(0, 12)}`);
  await http.request("PUT", `/v1/bundles/${bundle.hash}`, {
    body: bundle.code,
    contentType: "text/javascript",
  });

  await uploadCompute(http, computes, progress);

  const specs = functions.map((fn, i) =>
    specOf(fn, display, bundle.hash, computes[i]),
  );
  progress(`deploying ${specs.map((s) => s.name).join(", ")}`);
  const response = await http.request<{ functions?: DeployedFunction[] }>(
    "POST",
    "/v1/deploy",
    { json: { functions: specs } },
  );

  const deployed = checkDeployResponse(response, specs);
  for (const fn of deployed) deployedVersions.set(fn.name, fn.version);
  return deployed;
}

/** Bundles one module with esbuild into a single ESM file for Node 20. */
export async function bundleModule(modulePath: string): Promise<Bundle> {
  const esbuild = await import("esbuild");
  const cwd = process.cwd();

  let result: Awaited<ReturnType<typeof esbuild.build>>;
  try {
    result = await esbuild.build({
      entryPoints: [modulePath],
      absWorkingDir: cwd,
      outfile: join(cwd, "bundle.mjs"),
      bundle: true,
      write: false,
      platform: "node",
      format: "esm",
      target: "node20",
      external: ["esbuild", "bufferutil", "utf-8-validate"],
      // Function names are registry keys; esbuild renames clashing
      // identifiers unless told to keep `.name`.
      keepNames: true,
      alias: existsSync(SDK_ENTRY) ? { chalkcompute: SDK_ENTRY } : {},
      // CommonJS dependencies call require(), which ESM lacks.
      banner: {
        js:
          'import { createRequire as __chalkcomputeCreateRequire } from "node:module";\n' +
          "const require = __chalkcomputeCreateRequire(import.meta.url);",
      },
      metafile: true,
      logLevel: "silent",
    });
  } catch (error) {
    throw new DeployError(
      `bundling ${modulePath} failed: ${(error as Error).message}`,
      { cause: error },
    );
  }

  const output = result.outputFiles?.[0];
  if (!output) {
    throw new DeployError(`bundling ${modulePath} produced no output file`);
  }
  const code = output.contents;
  const hash = createHash("sha256").update(code).digest("hex");
  const inputs = Object.keys(result.metafile?.inputs ?? {}).map((input) =>
    resolve(cwd, input),
  );
  return { code, hash, inputs };
}

function functionsOfModule(modulePath: string): RegisteredFunction[] {
  return [...functionRegistry().values()].filter(
    (fn) => fn.modulePath === modulePath,
  );
}

function checkInputs(
  bundle: Bundle,
  functions: RegisteredFunction[],
  display: string,
): void {
  const inputs = new Set(bundle.inputs);
  for (const fn of functions) {
    if (!inputs.has(fn.modulePath)) {
      throw new DeployError(
        `function ${JSON.stringify(fn.name)} was registered from ` +
          `${fn.modulePath}, which is not part of the bundle of ${display}`,
      );
    }
  }
}

function specOf(
  fn: RegisteredFunction,
  module: string,
  bundleHash: string,
  compute: PreparedCompute | undefined,
): FunctionSpec {
  return {
    name: fn.name,
    generator: fn.generator,
    concurrency: fn.concurrency,
    timeoutSeconds: fn.timeoutSeconds,
    module,
    bundleHash,
    ...compute?.fields,
    ...fn.policies,
  };
}

function checkDeployResponse(
  response: { functions?: DeployedFunction[] } | null,
  specs: FunctionSpec[],
): DeployedFunction[] {
  const deployed = response?.functions;
  if (!Array.isArray(deployed)) {
    throw new DeployError(
      `POST /v1/deploy returned no "functions" list: ${JSON.stringify(response)}`,
    );
  }
  for (const spec of specs) {
    if (!deployed.some((fn) => fn.name === spec.name)) {
      throw new DeployError(
        `POST /v1/deploy did not return function ${JSON.stringify(spec.name)}`,
      );
    }
  }
  return deployed;
}
