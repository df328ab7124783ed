/**
 * Build progress output of `chalkcompute deploy`: a progress bar per
 * function while its image builds, driven by the build detail the agents
 * report, then the function's name and version.
 */
import cliProgress from "cli-progress";
import type { DeployedFunction } from "../deploy.ts";
import { PlacementError, TimeoutError } from "../errors.ts";
import type { GatewayHttp } from "../http.ts";
import {
  type FunctionStatus,
  isServing,
  parseBuildStep,
  pollFunction,
} from "../wait-ready.ts";

/** Options of `waitForBuilds`. */
export interface BuildWaitOptions {
  /** Time limit per function in milliseconds. */
  timeoutMs: number;
  /** How long "no agent can place it" may last before the wait stops, in milliseconds. */
  placementGraceMs: number;
  /** Output stream of the progress bar, or of one line per step when it is not a terminal. */
  stream: NodeJS.WritableStream & { isTTY?: boolean };
  /** Prints one line of the result. */
  print: (line: string) => void;
  /** Prints one warning line. */
  warn: (line: string) => void;
}

/**
 * Waits until each deployed function's image is built or a replica serves,
 * showing build progress, then prints "deployed NAME version N". Throws
 * BuildError for a failed build. A function that no agent can place, or
 * that is not ready in time, gets a warning: it is deployed all the same.
 */
export async function waitForBuilds(
  http: GatewayHttp,
  deployed: DeployedFunction[],
  options: BuildWaitOptions,
): Promise<void> {
  for (const fn of deployed) {
    const note = fn.changed ? "" : " (unchanged)";
    const display = new BuildDisplay(fn.name, options.stream);
    try {
      await pollFunction(http, {
        name: fn.name,
        version: fn.version,
        timeoutMs: options.timeoutMs,
        placementGraceMs: options.placementGraceMs,
        until: (s) => s.build.state === "ready" || isServing(s, fn.version),
        onStatus: (s) => display.update(s),
      });
    } catch (error) {
      display.stop();
      if (error instanceof PlacementError || error instanceof TimeoutError) {
        options.print(`deployed ${fn.name} version ${fn.version}${note}`);
        options.warn(`warning: ${error.message}`);
        continue;
      }
      throw error;
    }
    display.stop();
    options.print(`deployed ${fn.name} version ${fn.version}${note}`);
  }
}

/** A progress bar on a terminal, else one line per build step. */
class BuildDisplay {
  private bar: cliProgress.SingleBar | undefined;
  private lastDetail = "";

  constructor(
    private readonly name: string,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
  ) {}

  update(status: FunctionStatus): void {
    if (status.build.state !== "building") return;
    const detail = status.build.detail;
    if (detail === this.lastDetail) return;
    this.lastDetail = detail;

    const step = parseBuildStep(detail);
    if (!this.stream.isTTY) {
      this.stream.write(`${this.name}: building, ${detail.split("\n")[0]}\n`);
      return;
    }
    if (!step) return;
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.stream,
          format: `${this.name} [{bar}] {value}/{total} {text}`,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(step.total, step.step, { text: step.text });
      return;
    }
    this.bar.setTotal(step.total);
    this.bar.update(step.step, { text: step.text });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
