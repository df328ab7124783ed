/**
 * Measures a no-op remote call on chalkcompute's full local stack and the
 * same work on BullMQ with a private Redis server. The targets run one after
 * the other on this machine. The run prints a table of figures and ratios and
 * writes them to `.bench/results.json`.
 *
 *   npm run bench
 *   npm run bench -- --only bullmq --sequential 200
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startBullmqTarget } from "./bullmq-target.ts";
import { describeMachine } from "./machine.ts";
import {
  type BenchMethod,
  type BenchResults,
  computeRatios,
  formatReport,
  type TargetOutcome,
} from "./report.ts";
import {
  type BenchTarget,
  measureSequential,
  measureThroughput,
  withTimeout,
} from "./workload.ts";

const TARGETS = ["bullmq", "chalkcompute"] as const;
type TargetName = (typeof TARGETS)[number];

const START_TIMEOUT_MS = 120_000;
/** The whole run stops here even if a call hangs past its own limit. */
const RUN_LIMIT_MS = 15 * 60_000;

const USAGE = `usage: npm run bench -- [options]
  --only NAME            measure one target: ${TARGETS.join(" or ")}
  --warmup N             sequential warm-up calls (default 50)
  --sequential N         measured sequential calls (default 500)
  --throughput N         calls in the throughput run (default 3000)
  --in-flight N          calls in flight in the throughput run (default 64)
  --call-timeout-ms N    limit of one call in milliseconds (default 10000)
  --out PATH             JSON results file (default .bench/results.json)`;

interface RunOptions {
  targets: TargetName[];
  method: BenchMethod;
  outPath: string;
}

function parseOptions(argv: string[]): RunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: "string" },
      warmup: { type: "string", default: "50" },
      sequential: { type: "string", default: "500" },
      throughput: { type: "string", default: "3000" },
      "in-flight": { type: "string", default: "64" },
      "call-timeout-ms": { type: "string", default: "10000" },
      out: { type: "string", default: ".bench/results.json" },
      help: { type: "boolean", default: false },
    },
  });

  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }

  const only = values.only;
  if (only !== undefined && !TARGETS.includes(only as TargetName)) {
    throw new Error(
      `--only must be ${TARGETS.join(" or ")}, got ${JSON.stringify(only)}`,
    );
  }

  return {
    targets: only === undefined ? [...TARGETS] : [only as TargetName],
    method: {
      warmupCalls: parseCount("--warmup", values.warmup, 0),
      sequentialCalls: parseCount("--sequential", values.sequential, 1),
      throughputCalls: parseCount("--throughput", values.throughput, 1),
      inFlight: parseCount("--in-flight", values["in-flight"], 1),
      callTimeoutMs: parseCount(
        "--call-timeout-ms",
        values["call-timeout-ms"],
        1,
      ),
    },
    outPath: resolve(values.out),
  };
}

function parseCount(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`${flag} must be an integer >= ${min}, got ${text}`);
  }
  return value;
}

async function startTarget(
  name: TargetName,
  method: BenchMethod,
): Promise<BenchTarget> {
  if (name === "bullmq") {
    return withTimeout(
      startBullmqTarget({
        callTimeoutMs: method.callTimeoutMs,
        inFlight: method.inFlight,
      }),
      START_TIMEOUT_MS,
      "start of Redis and BullMQ",
    );
  }

  // Loaded only when measured, so the BullMQ half runs on its own.
  const { startChalkcomputeTarget } = await import("./chalkcompute-target.ts");
  return withTimeout(
    startChalkcomputeTarget(START_TIMEOUT_MS),
    2 * START_TIMEOUT_MS,
    "start of the chalkcompute dev stack",
  );
}

async function measureTarget(
  name: TargetName,
  method: BenchMethod,
): Promise<TargetOutcome> {
  let target: BenchTarget | undefined;
  try {
    console.log(`\n${name}: starting`);
    target = await startTarget(name, method);

    console.log(
      `${name}: ${method.sequentialCalls} sequential calls after ${method.warmupCalls} warm-up calls`,
    );
    const sequential = await measureSequential(target.call, {
      warmupCalls: method.warmupCalls,
      calls: method.sequentialCalls,
      callTimeoutMs: method.callTimeoutMs,
    });
    console.log(
      `${name}: p50 ${sequential.p50Ms.toFixed(2)} ms, p99 ${sequential.p99Ms.toFixed(2)} ms`,
    );

    console.log(
      `${name}: ${method.throughputCalls} calls with ${method.inFlight} in flight`,
    );
    const throughput = await measureThroughput(target.call, {
      calls: method.throughputCalls,
      inFlight: method.inFlight,
      callTimeoutMs: method.callTimeoutMs,
    });
    console.log(`${name}: ${throughput.callsPerSecond.toFixed(0)} calls/s`);

    return { versions: target.versions, sequential, throughput };
  } catch (error) {
    console.error(`${name}: failed:`, error);
    return { error: describeError(error) };
  } finally {
    await target?.stop();
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return `${error.name}: ${error.message}${cause}`;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  const outcomes: Partial<Record<TargetName, TargetOutcome>> = {};

  for (const name of options.targets) {
    outcomes[name] = await measureTarget(name, options.method);
  }

  const results: BenchResults = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: describeMachine(),
    method: options.method,
    ...outcomes,
    ratios: computeRatios(outcomes.chalkcompute, outcomes.bullmq),
  };
  console.log(`\n${formatReport(results)}`);

  await mkdir(dirname(options.outPath), { recursive: true });
  await writeFile(options.outPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults written to ${options.outPath}`);

  const failed = Object.values(outcomes).some((outcome) => "error" in outcome);
  return failed ? 1 : 0;
}

setTimeout(() => {
  console.error(`benchmark timed out after ${RUN_LIMIT_MS} ms`);
  process.exit(2);
}, RUN_LIMIT_MS).unref();

main().then(
  // Exits explicitly: SDK and client sockets may still hold the event loop.
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
