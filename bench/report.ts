import type { MachineInfo } from "./machine.ts";
import type { LatencySummary } from "./stats.ts";
import type { ThroughputResult } from "./workload.ts";

/** Figures measured on one target. */
export interface TargetFigures {
  versions: Record<string, string>;
  sequential: LatencySummary;
  throughput: ThroughputResult;
}

/** Outcome of one target: its figures, or why it could not be measured. */
export type TargetOutcome = TargetFigures | { error: string };

/** Sizes of the measurement, the same for both targets. */
export interface BenchMethod {
  warmupCalls: number;
  sequentialCalls: number;
  throughputCalls: number;
  inFlight: number;
  callTimeoutMs: number;
}

/** chalkcompute's figure divided by BullMQ's; null when either is missing. */
export interface BenchRatios {
  sequentialP50: number | null;
  sequentialP99: number | null;
  throughput: number | null;
}

/** Everything one benchmark run writes to its JSON file. */
export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  method: BenchMethod;
  chalkcompute?: TargetOutcome;
  bullmq?: TargetOutcome;
  ratios: BenchRatios;
}

function figuresOf(outcome: TargetOutcome | undefined): TargetFigures | null {
  if (outcome === undefined || "error" in outcome) return null;
  return outcome;
}

function ratio(own: number | undefined, peer: number | undefined) {
  if (own === undefined || peer === undefined || peer === 0) return null;
  return own / peer;
}

/** Divides each chalkcompute figure by BullMQ's. */
export function computeRatios(
  chalkcompute: TargetOutcome | undefined,
  bullmq: TargetOutcome | undefined,
): BenchRatios {
  const own = figuresOf(chalkcompute);
  const peer = figuresOf(bullmq);

  return {
    sequentialP50: ratio(own?.sequential.p50Ms, peer?.sequential.p50Ms),
    sequentialP99: ratio(own?.sequential.p99Ms, peer?.sequential.p99Ms),
    throughput: ratio(
      own?.throughput.callsPerSecond,
      peer?.throughput.callsPerSecond,
    ),
  };
}

interface Row {
  label: string;
  pick: (figures: TargetFigures) => number;
  digits: number;
  ratio: number | null;
  better: string;
}

function cell(outcome: TargetOutcome | undefined, row: Row): string {
  const figures = figuresOf(outcome);
  if (figures === null) return outcome === undefined ? "not run" : "failed";
  return row.pick(figures).toFixed(row.digits);
}

/** Formats the results as a plain-text table with the machine and method. */
export function formatReport(results: BenchResults): string {
  const { machine, method } = results;
  const rows: Row[] = [
    {
      label: "sequential p50 (ms)",
      pick: (f) => f.sequential.p50Ms,
      digits: 2,
      ratio: results.ratios.sequentialP50,
      better: "lower",
    },
    {
      label: "sequential p99 (ms)",
      pick: (f) => f.sequential.p99Ms,
      digits: 2,
      ratio: results.ratios.sequentialP99,
      better: "lower",
    },
    {
      label: `throughput at ${method.inFlight} in flight (calls/s)`,
      pick: (f) => f.throughput.callsPerSecond,
      digits: 0,
      ratio: results.ratios.throughput,
      better: "higher",
    },
  ];

  const header = ["figure", "chalkcompute", "BullMQ", "ratio", "better"];
  const body = rows.map((row) => [
    row.label,
    cell(results.chalkcompute, row),
    cell(results.bullmq, row),
    row.ratio === null ? "-" : `${row.ratio.toFixed(2)}x`,
    row.better,
  ]);
  const table = alignColumns([header, ...body]);

  const lines = [
    `machine: ${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}, ${machine.os}`,
    `method: ${method.warmupCalls} warm-up calls, then ${method.sequentialCalls} sequential calls; ` +
      `${method.throughputCalls} calls with ${method.inFlight} in flight`,
    ...describeVersions(results),
    "",
    ...table,
    "",
    "ratio = chalkcompute / BullMQ",
  ];
  for (const [name, outcome] of targetEntries(results)) {
    if ("error" in outcome) lines.push(`${name} failed: ${outcome.error}`);
  }
  return lines.join("\n");
}

function targetEntries(results: BenchResults): [string, TargetOutcome][] {
  const entries: [string, TargetOutcome][] = [];
  if (results.chalkcompute)
    entries.push(["chalkcompute", results.chalkcompute]);
  if (results.bullmq) entries.push(["BullMQ", results.bullmq]);
  return entries;
}

function describeVersions(results: BenchResults): string[] {
  const parts: string[] = [];
  for (const [, outcome] of targetEntries(results)) {
    const figures = figuresOf(outcome);
    if (figures === null) continue;
    for (const [name, version] of Object.entries(figures.versions)) {
      parts.push(`${name} ${version}`);
    }
  }
  return parts.length === 0 ? [] : [`versions: ${parts.join(", ")}`];
}

/** Pads the first column on the right and the others on the left. */
function alignColumns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => row[column]!.length)),
  );
  return rows.map((row) =>
    row
      .map((text, column) =>
        column === 0
          ? text.padEnd(widths[column]!)
          : text.padStart(widths[column]!),
      )
      .join("  "),
  );
}
