/**
 * `chalkcompute logs NAME`: prints the captured stdout and stderr lines of a
 * function's replicas from `GET /v1/functions/{name}/logs` (NDJSON), and
 * with `follow` keeps printing new lines until the stream ends or is aborted.
 */
import type { GatewayHttp } from "../http.ts";

/** One captured output line as the gateway stores it. */
export interface LogLine {
  function: string;
  replica: string;
  version: number;
  stream: "stdout" | "stderr";
  line: string;
  /** Time the agent captured the line, in epoch milliseconds. */
  ts: number;
}

/** Options of `printLogs`. */
export interface LogsOptions {
  /** Keep the response open and print new lines as they arrive. */
  follow: boolean;
  /** Number of stored lines to print first. */
  tail: number;
  print: (line: string) => void;
  /** Ends a followed stream. */
  signal?: AbortSignal;
}

/** Streams a function's log lines and prints each as "time replica stream line". */
export async function printLogs(
  http: GatewayHttp,
  name: string,
  options: LogsOptions,
): Promise<void> {
  const query = new URLSearchParams({ tail: String(options.tail) });
  if (options.follow) query.set("follow", "1");
  const path = `/v1/functions/${encodeURIComponent(name)}/logs?${query}`;

  let response: Response;
  try {
    response = await http.open("GET", path, options.signal);
  } catch (error) {
    if (options.signal?.aborted) return;
    throw error;
  }
  if (!response.body) return;

  const decoder = new TextDecoder();
  let rest = "";
  try {
    for await (const chunk of response.body) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split(
        "\n",
      );
      rest = lines.pop() ?? "";
      for (const line of lines) printLine(line, options.print);
    }
  } catch (error) {
    if (options.signal?.aborted) return;
    throw error;
  }
  printLine(rest, options.print);
}

/** Formats one log line as "2026-05-01T12:00:00.000Z REPLICA stdout TEXT". */
export function formatLogLine(entry: LogLine): string {
  const time = Number.isFinite(entry.ts)
    ? new Date(entry.ts).toISOString()
    : String(entry.ts);
  return `${time} ${entry.replica} ${entry.stream} ${entry.line}`;
}

function printLine(text: string, print: (line: string) => void): void {
  if (text.trim() === "") return;
  let entry: LogLine;
  try {
    entry = JSON.parse(text) as LogLine;
  } catch {
    print(`(unparsed) ${text}`);
    return;
  }
  print(formatLogLine(entry));
}
