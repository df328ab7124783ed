/**
 * Polling of `GET /v1/functions/{name}` until a deployed version serves,
 * failing early when its image build failed or no agent can place it.
 */
import {
  BuildError,
  HttpError,
  PlacementError,
  TimeoutError,
} from "./errors.ts";
import type { GatewayHttp } from "./http.ts";

/** Build state of a function's current version, as the agents report it. */
export interface BuildStatus {
  state: "building" | "failed" | "ready" | "none";
  /** Current build step, or for a failure the failing step and its log. */
  detail: string;
}

/** The fields of a function's catalog entry that readiness depends on. */
export interface FunctionStatus {
  /** "ready" once a replica serves, else "pending". */
  status: string;
  /** Current version in the catalog. */
  version: number;
  build: BuildStatus;
  placement: { ok: boolean; message: string };
}

/** Options of `pollFunction`. */
export interface PollOptions {
  name: string;
  /** The deployed version to wait for; a newer one counts too. */
  version: number;
  timeoutMs: number;
  /** How long placement may stay not ok before the poll fails, in milliseconds. */
  placementGraceMs: number;
  /** Returns true when the wait is over; default: a replica of `version` serves. */
  until?: (status: FunctionStatus) => boolean;
  /** Receives every status read. */
  onStatus?: (status: FunctionStatus) => void;
}

const FIRST_POLL_MS = 50;
const MAX_POLL_MS = 500;

/**
 * Polls the function's status until `until` holds. Throws BuildError when
 * the current version's build failed, PlacementError when placement stayed
 * not ok for `placementGraceMs`, and TimeoutError after `timeoutMs`.
 */
export async function pollFunction(
  http: GatewayHttp,
  options: PollOptions,
): Promise<FunctionStatus> {
  const { name, version, timeoutMs } = options;
  const until = options.until ?? ((s) => isServing(s, version));
  const deadline = Date.now() + timeoutMs;
  let delay = FIRST_POLL_MS;
  let last: FunctionStatus | undefined;
  let unplacedSince: number | undefined;

  while (true) {
    last = (await fetchFunctionStatus(http, name)) ?? last;
    if (last) {
      options.onStatus?.(last);
      checkBuild(name, last);
      if (until(last)) return last;

      unplacedSince = last.placement.ok
        ? undefined
        : (unplacedSince ?? Date.now());
      if (
        unplacedSince !== undefined &&
        Date.now() - unplacedSince >= options.placementGraceMs
      ) {
        throw new PlacementError(
          `function ${JSON.stringify(name)} cannot run: ${last.placement.message}`,
          name,
        );
      }
    }

    const left = deadline - Date.now();
    if (left <= 0) throw timeoutError(name, version, timeoutMs, last);
    await new Promise((r) => setTimeout(r, Math.min(delay, left)));
    delay = Math.min(MAX_POLL_MS, delay * 2);
  }
}

/**
 * Returns true when a replica of `version` or a newer one serves. While the
 * current version's image builds, a "ready" status comes from an older
 * version, so it does not count.
 */
export function isServing(status: FunctionStatus, version: number): boolean {
  return (
    status.status === "ready" &&
    status.version >= version &&
    status.build.state !== "building"
  );
}

/**
 * Reads `GET /v1/functions/{name}`; undefined while the gateway does not
 * list the function. Missing `build` and `placement` read as "none" and ok.
 */
export async function fetchFunctionStatus(
  http: GatewayHttp,
  name: string,
): Promise<FunctionStatus | undefined> {
  let body: Record<string, unknown> | null;
  try {
    body = await http.request("GET", `/v1/functions/${name}`);
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) return undefined;
    throw error;
  }

  // The entry may come bare or wrapped as {"function": {...}}.
  const entry = (
    body && typeof body.function === "object" ? body.function : body
  ) as Record<string, unknown> | null;
  const build = (entry?.build ?? {}) as Record<string, unknown>;
  const placement = (entry?.placement ?? {}) as Record<string, unknown>;
  return {
    status: String(entry?.status ?? "unknown"),
    version: Number(entry?.version ?? 0),
    build: {
      state: readBuildState(build.state),
      detail: typeof build.detail === "string" ? build.detail : "",
    },
    placement: {
      ok: placement.ok !== false,
      message:
        typeof placement.message === "string"
          ? placement.message
          : "the fleet cannot place it",
    },
  };
}

/** Parses a build detail like "step 3/6: RUN npm install" into its numbers. */
export function parseBuildStep(
  detail: string,
): { step: number; total: number; text: string } | undefined {
  const match = /^step (\d+)\/(\d+):?\s*(.*)$/s.exec(detail);
  if (!match) return undefined;
  const firstLine = (match[3] ?? "").split("\n")[0] ?? "";
  return { step: Number(match[1]), total: Number(match[2]), text: firstLine };
}

function checkBuild(name: string, status: FunctionStatus): void {
  if (status.build.state !== "failed") return;
  const detail = status.build.detail || "(the agent reported no detail)";
  throw new BuildError(
    `image build of function ${JSON.stringify(name)} version ` +
      `${status.version} failed; the previous version, if any, keeps ` +
      `serving. Fix the image and deploy again.\n${detail}`,
    name,
    status.build.detail,
  );
}

function readBuildState(value: unknown): BuildStatus["state"] {
  return value === "building" || value === "failed" || value === "ready"
    ? value
    : "none";
}

function timeoutError(
  name: string,
  version: number,
  timeoutMs: number,
  last: FunctionStatus | undefined,
): TimeoutError {
  const seen = last
    ? `last status ${JSON.stringify(last.status)} at version ${last.version}`
    : "the gateway does not list it yet";
  const building =
    last?.build.state === "building" && last.build.detail
      ? `; image build at ${JSON.stringify(last.build.detail.split("\n")[0])}`
      : "";
  return new TimeoutError(
    `function ${JSON.stringify(name)} was not ready after ${timeoutMs} ms ` +
      `(${seen}, waiting for version ${version}${building}); check that a ` +
      "fleet agent is connected (`npx chalkcompute dev` starts one)",
    timeoutMs,
  );
}
