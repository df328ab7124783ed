/**
 * The main job: starts the local stack (workerd with the gateway and Durable
 * Objects, plus one fleet agent), deploys the example functions, calls each
 * one through the SDK and `add` once over plain HTTP, and prints the results.
 * Exits 0 when every result is the expected one, 1 otherwise.
 *
 *   npm start
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { inspect, isDeepStrictEqual } from "node:util";
import * as chalkcompute from "chalkcompute";
import { startDevStack } from "../sdk/dev-stack.ts";
import { add, divide, fragileGen, readSecret } from "./functions.ts";
import { parseTranscript, translateText } from "./transcript.ts";
import {
  transcribe,
  transcribeAndTranslate,
  translate,
} from "./transcription.ts";

/** The recording whose transcript the examples stream. */
const TRANSCRIPT_PATH = fileURLToPath(
  new URL("./data/standup.txt", import.meta.url),
);
/** A made-up key that `Secret.fromEnv` takes from this process at deploy. */
const EXAMPLE_API_KEY = "sk-example-5f3a9c";
const RUN_LIMIT_MS = 5 * 60_000;
/** Agent output lines kept to print when a check fails. */
const AGENT_LOG_LINES = 60;
/** Printed values longer than this are summarized. */
const MAX_SHOWN_CHARS = 120;

let failures = 0;

/** Prints one result and counts it as a failure unless it is the expected one. */
function expectEqual(label: string, actual: unknown, expected: unknown): void {
  const ok = isDeepStrictEqual(actual, expected);
  let formatted = inspect(actual, { breakLength: Number.POSITIVE_INFINITY });
  if (ok && Array.isArray(actual) && formatted.length > MAX_SHOWN_CHARS) {
    formatted = `${actual.length} items, as expected`;
  }
  if (ok) {
    console.log(`  ok    ${label} = ${formatted}`);
  } else {
    failures += 1;
    console.log(
      `  FAIL  ${label} = ${formatted}, expected ${inspect(expected)}`,
    );
  }
}

/** Prints a remote error and checks its type and message. */
function expectRemoteError(
  label: string,
  error: unknown,
  type: string,
  message: string,
): void {
  if (!(error instanceof chalkcompute.RemoteError)) {
    failures += 1;
    console.log(
      `  FAIL  ${label}: expected a RemoteError, got ${inspect(error)}`,
    );
    return;
  }
  console.log(`  ok    ${label} rejected: ${error.message}`);
  expectEqual(`${label} error.type`, error.type, type);
  expectEqual(`${label} error.message`, error.message, message);
}

/** Runs one example; an unexpected exception counts as a failure. */
async function section(title: string, run: () => Promise<void>) {
  console.log(`\n${title}`);
  try {
    await run();
  } catch (error) {
    failures += 1;
    // A RemoteError's local stack shows only SDK frames, so its message,
    // which starts with the remote type, is what helps.
    const description =
      error instanceof chalkcompute.RemoteError
        ? error.message
        : inspect(error);
    console.log(`  FAIL  unexpected error: ${description}`);
  }
}

async function callAdd() {
  expectEqual("add(3, 5), run locally", add(3, 5), 8);
  expectEqual("await add.remote(3, 5)", await add.remote(3, 5), 8);

  const call = await add.spawn(20, 22);
  console.log(`  spawned ${call.id}`);
  const again = chalkcompute.FunctionCall.fromId(call.id);
  expectEqual("FunctionCall.fromId(id).get()", await again.get(), 42);
}

async function callDivide() {
  expectEqual("await divide.remote(10, 4)", await divide.remote(10, 4), 2.5);

  try {
    const result = await divide.remote(1, 0);
    expectEqual("divide.remote(1, 0)", result, "a RangeError");
  } catch (error) {
    expectRemoteError(
      "divide.remote(1, 0)",
      error,
      "RangeError",
      "RangeError: division by zero",
    );
  }
}

async function callFragileGen() {
  const values: unknown[] = [];
  try {
    for await (const value of fragileGen.remote()) {
      console.log(`  received ${inspect(value)}`);
      values.push(value);
    }
    expectEqual("fragileGen end", "finished", "a ValidationError");
  } catch (error) {
    expectRemoteError(
      "fragileGen.remote()",
      error,
      "ValidationError",
      "ValidationError: something went wrong",
    );
  }
  expectEqual("values before the error", values, ["ok-1", "ok-2"]);
}

async function callTranscribe() {
  const expected = parseTranscript(
    await readFile(TRANSCRIPT_PATH, "utf8"),
    TRANSCRIPT_PATH,
  );
  const received: unknown[] = [];
  const arrivals: number[] = [];
  const start = performance.now();

  const recording = await readFile(TRANSCRIPT_PATH);
  for await (const segment of transcribe.remote(recording, "standup.txt")) {
    const at = performance.now() - start;
    arrivals.push(at);
    received.push(segment);
    console.log(
      `  ${at.toFixed(0).padStart(5)} ms  [${segment.start.toFixed(1)}s] ${segment.text}`,
    );
  }

  expectEqual("segments", received, expected);

  // The worker sleeps before each segment, so a stream that is relayed as it
  // is produced shows the first segment well before the last one.
  const spreadMs = (arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0);
  expectEqual(
    "first segment arrived before the stream ended",
    spreadMs > 500,
    true,
  );
}

async function callPipeline() {
  expectEqual(
    "await translate.remote('Good morning, everyone.', 'es')",
    await translate.remote("Good morning, everyone.", "es"),
    "Buenos días, todos.",
  );

  const lines = parseTranscript(
    await readFile(TRANSCRIPT_PATH, "utf8"),
    TRANSCRIPT_PATH,
  );
  const expected = lines.map((line) => ({
    ...line,
    translated: translateText(line.text, "es"),
  }));

  const received: unknown[] = [];
  const recording = await readFile(TRANSCRIPT_PATH);
  const stream = transcribeAndTranslate.remote(recording, "standup.txt", "es");
  for await (const segment of stream) {
    console.log(`  [${segment.start.toFixed(1)}s] ${segment.translated}`);
    received.push(segment);
  }
  expectEqual("translated segments", received, expected);
}

async function callReadSecret() {
  expectEqual("await readSecret.remote()", await readSecret.remote(), "sk-***");
}

async function callAddOverHttp(url: string, token: string) {
  const response = await fetch(`${url}/v1/functions/add/call`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ args: [3, 5] }),
  });
  console.log(`  POST /v1/functions/add/call -> ${response.status}`);
  expectEqual("HTTP status", response.status, 200);
  expectEqual("HTTP body", await response.json(), { result: 8 });
}

async function main(): Promise<number> {
  const stateDir = await mkdtemp(join(tmpdir(), "chalkcompute-examples-"));
  const agentLog: string[] = [];

  // `root` keeps this stack's dev.json out of the project, where it would
  // replace the one a running `chalkcompute dev` wrote.
  console.log("starting the local stack");
  const stack = await startDevStack({
    port: 0,
    root: stateDir,
    stateDir,
    onLog: (line) => {
      agentLog.push(line);
      if (agentLog.length > AGENT_LOG_LINES) agentLog.shift();
    },
  });

  try {
    // The SDK reads its gateway from these on its first call, and
    // Secret.fromEnv reads the key from this environment when it deploys.
    process.env.CHALKCOMPUTE_URL = stack.url;
    process.env.EXAMPLE_API_KEY = EXAMPLE_API_KEY;
    process.env.CHALKCOMPUTE_TOKEN = stack.token;
    console.log(`gateway at ${stack.url}`);

    const functions = [
      add,
      divide,
      fragileGen,
      readSecret,
      transcribe,
      translate,
      transcribeAndTranslate,
    ];
    const deployStart = performance.now();
    for (const fn of functions) await fn.waitReady();
    const deployMs = performance.now() - deployStart;
    console.log(
      `${functions.length} functions ready in ${deployMs.toFixed(0)} ms`,
    );

    const examples: [string, () => Promise<void>][] = [
      ["add: a single value", callAdd],
      ["divide: an error raised by the handler", callDivide],
      ["fragileGen: a generator that fails after two values", callFragileGen],
      ["transcribe: a stream of segments from a text file", callTranscribe],
      ["transcribeAndTranslate: nested remote calls", callPipeline],
      ["readSecret: a secret from the replica's environment", callReadSecret],
      ["add over HTTP", () => callAddOverHttp(stack.url, stack.token)],
    ];
    for (const [title, run] of examples) await section(title, run);
  } finally {
    await stack.stop();
    await rm(stateDir, { recursive: true, force: true });
  }

  if (failures === 0) {
    console.log("\nall examples passed");
    return 0;
  }
  console.log(`\nlast ${agentLog.length} lines of agent output:`);
  for (const line of agentLog) console.log(`  ${line}`);
  console.log(`\n${failures} checks failed`);
  return 1;
}

setTimeout(() => {
  console.error(`examples timed out after ${RUN_LIMIT_MS} ms`);
  process.exit(1);
}, RUN_LIMIT_MS).unref();

main().then(
  // Exits explicitly because the SDK's WebSocket reconnects until it is
  // closed, which would keep the process alive.
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
