/**
 * The `chalkcompute` command line: `dev`, `deploy`, `call`, `agent`,
 * `secret` and `logs`.
 */
import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Command, InvalidArgumentError, Option } from "commander";
import { encodeValue, toJson } from "../../schemas/values.ts";
import { ValueStream } from "../call-results.ts";
import {
  closeDefaultClient,
  defaultCallClient,
  defaultHttp,
} from "../default-client.ts";
import { deployModule } from "../deploy.ts";
import { startDevStack } from "../dev-stack.ts";
import { RemoteError } from "../errors.ts";
import { functionRegistry } from "../runtime-hooks.ts";
import { waitForBuilds } from "./deploy-progress.ts";
import { printLogs } from "./logs-command.ts";
import { deleteSecret, listSecrets, setSecret } from "./secret-command.ts";

/** Replica runtimes of the agent. "auto" picks Docker when an engine responds. */
const RUNTIMES = ["auto", "docker", "process"] as const;
type RuntimeChoice = (typeof RUNTIMES)[number];

const runtimeOption = () =>
  new Option(
    "--runtime <runtime>",
    "replica runtime: docker, process, or auto (Docker when an engine responds)",
  ).choices(RUNTIMES);

// An agent started together with `chalkcompute dev` needs a few seconds to
// connect before the Fleet can place functions on it.
const DEPLOY_PLACEMENT_GRACE_MS = 10_000;

/** Builds the command tree; `run` parses argv with it. */
export function buildProgram(): Command {
  const program = new Command("chalkcompute")
    .description("Run TypeScript functions remotely on a fleet of machines")
    .showHelpAfterError();

  program
    .command("dev")
    .description("start the local gateway (workerd) and one fleet agent")
    .option(
      "--port <port>",
      "gateway port on 127.0.0.1; 0 picks a free one",
      parsePort,
      8787,
    )
    .option(
      "--state <dir>",
      "folder for queue, catalog and bundle state",
      ".chalkcompute/state",
    )
    .option("--no-agent", "start the gateway without a fleet agent")
    .addOption(runtimeOption())
    .action(runDev);

  program
    .command("deploy")
    .description(
      "deploy the functions a module defines and wait for their images",
    )
    .argument("<file>", "TypeScript module that defines functions")
    .option("--no-wait", "return once deployed, without waiting for builds")
    .option(
      "--timeout <seconds>",
      "how long to wait for each function's build",
      parsePositive,
      600,
    )
    .action(runDeploy);

  program
    .command("call")
    .description("call a deployed function and print its result or values")
    .argument("<name>", "function name")
    .argument(
      "[args...]",
      "arguments, each parsed as JSON, else taken as a string",
    )
    .action(runCall);

  program
    .command("agent")
    .description("run a fleet agent that serves deployed functions")
    .requiredOption(
      "--gateway <url>",
      "gateway base URL, e.g. https://cc.example.com",
    )
    .requiredOption("--token <token>", "gateway bearer token")
    .option(
      "--data-dir <dir>",
      "folder for bundles and replica state",
      ".chalkcompute/agent",
    )
    .addOption(runtimeOption().default("auto"))
    .action(runAgent);

  addSecretCommands(program);

  program
    .command("logs")
    .description("print the stdout and stderr lines of a function's replicas")
    .argument("<name>", "function name")
    .option("-f, --follow", "keep printing new lines until interrupted", false)
    .option(
      "-n, --tail <lines>",
      "number of stored lines to print first; 0 prints only new lines",
      parseCount,
      100,
    )
    .action(runLogs);

  return program;
}

function addSecretCommands(program: Command): void {
  const secret = program
    .command("secret")
    .description(
      "manage secret groups that functions receive as environment variables",
    );
  const print = (line: string) => console.log(line);

  secret
    .command("set")
    .description(
      "create or replace a group; NAME=@file reads a value from a file",
    )
    .argument("<group>", "group name: 1-63 letters, digits, '_', '-' or '.'")
    .argument("<assignments...>", "NAME=VALUE or NAME=@file")
    .action((group: string, assignments: string[]) =>
      setSecret(defaultHttp(), group, assignments, print),
    );

  secret
    .command("list")
    .description("list groups with their variable names (never values)")
    .action(() => listSecrets(defaultHttp(), print));

  secret
    .command("delete")
    .description("delete a group")
    .argument("<group>", "group name")
    .action((group: string) => deleteSecret(defaultHttp(), group, print));
}

async function runDev(options: {
  port: number;
  state: string;
  agent: boolean;
  runtime?: RuntimeChoice;
}): Promise<void> {
  const stack = await startDevStack({
    port: options.port,
    stateDir: resolve(options.state),
    agent: options.agent,
    agentEnv: options.runtime
      ? { CHALKCOMPUTE_AGENT_RUNTIME: options.runtime }
      : undefined,
    onLog: (line) => console.error(line),
  });

  console.log(`CHALKCOMPUTE_URL=${stack.url}`);
  console.log(`CHALKCOMPUTE_TOKEN=${stack.token}`);
  console.log(
    `chalkcompute dev ready: gateway ${stack.url}, ` +
      `${options.agent ? "one agent" : "no agent"}, config ${stack.configFile}`,
  );

  // Miniflare's own SIGINT and SIGTERM handlers dispose workerd and exit at
  // once; the stack then sends SIGTERM to the agent, which drains and exits.
  // The stop below finishes the job where no such handler runs.
  const shutdown = (signal: string, code: number) => {
    console.error(`received ${signal}, stopping workerd and the agent`);
    stack.stop().finally(() => process.exit(code));
  };
  process.prependListener("SIGINT", () => shutdown("SIGINT", 130));
  process.prependListener("SIGTERM", () => shutdown("SIGTERM", 143));
  await new Promise<never>(() => {});
}

async function runDeploy(
  file: string,
  options: { wait: boolean; timeout: number },
): Promise<void> {
  const path = resolve(file);
  console.log(`importing ${relative(process.cwd(), path) || path}`);
  await import(pathToFileURL(path).href);

  const modules = [...functionRegistry().values()]
    .map((fn) => fn.modulePath)
    .filter(
      (modulePath, i, all) => modulePath && all.indexOf(modulePath) === i,
    );
  if (modules.length === 0) {
    throw new Error(
      `${file} defines no functions: wrap handlers with chalkcompute.function(...)`,
    );
  }

  const http = defaultHttp();
  for (const modulePath of modules) {
    const deployed = await deployModule(modulePath, {
      http,
      onProgress: (line) => console.log(line),
    });
    if (!options.wait) {
      for (const fn of deployed) {
        const note = fn.changed ? "" : " (unchanged)";
        console.log(`deployed ${fn.name} version ${fn.version}${note}`);
      }
      continue;
    }
    await waitForBuilds(http, deployed, {
      timeoutMs: options.timeout * 1000,
      placementGraceMs: DEPLOY_PLACEMENT_GRACE_MS,
      stream: process.stderr,
      print: (line) => console.log(line),
      warn: (line) => console.error(line),
    });
  }
}

async function runLogs(
  name: string,
  options: { follow: boolean; tail: number },
): Promise<void> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  try {
    await printLogs(defaultHttp(), name, {
      follow: options.follow,
      tail: options.tail,
      print: (line) => console.log(line),
      signal: abort.signal,
    });
  } finally {
    process.off("SIGINT", stop);
  }
}

async function runCall(name: string, rawArgs: string[]): Promise<void> {
  const args = rawArgs.map(parseArgument);
  const bytes = encodeValue(args, "args");
  const stream = new ValueStream<unknown>();

  const callId = await defaultCallClient().submit(name, bytes, stream);
  console.error(`call ${callId}`);
  for await (const value of stream) {
    console.log(JSON.stringify(toJson(value)));
  }
}

async function runAgent(options: {
  gateway: string;
  token: string;
  dataDir: string;
  runtime: RuntimeChoice;
}): Promise<void> {
  const { startAgent } = await import("../../fleet-agent/index.ts");
  type AgentRuntime = Parameters<typeof startAgent>[0]["runtime"];
  const agent = await startAgent({
    gatewayUrl: options.gateway,
    token: options.token,
    dataDir: resolve(options.dataDir),
    runtime: options.runtime as AgentRuntime,
  });
  console.error(
    `agent ${agent.agentId} started for gateway ${options.gateway}`,
  );

  await new Promise<void>((resolveStop) => {
    const shutdown = (signal: string) => {
      console.error(`received ${signal}, draining replicas`);
      agent.stop().then(resolveStop, (error: unknown) => {
        console.error(`stopping the agent failed: ${(error as Error).message}`);
        process.exitCode = 1;
        resolveStop();
      });
    };
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.once("SIGTERM", () => shutdown("SIGTERM"));
  });
}

function parseCount(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) {
    throw new InvalidArgumentError(`expected an integer >= 0, got ${value}`);
  }
  return number;
}

function parsePositive(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new InvalidArgumentError(`expected an integer >= 1, got ${value}`);
  }
  return number;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(`expected an integer 0-65535, got ${value}`);
  }
  return port;
}

/** Parses one CLI argument as JSON, falling back to the raw string. */
export function parseArgument(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function report(error: unknown): void {
  if (error instanceof RemoteError) {
    console.error(`${error.message} (call ${error.callId || "not accepted"})`);
    if (error.remoteStack) console.error(error.remoteStack);
    return;
  }
  console.error(
    error instanceof Error ? `${error.name}: ${error.message}` : error,
  );
}

/** Runs the CLI with `argv` and sets the exit code. */
export async function run(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    report(error);
    process.exitCode = 1;
  } finally {
    closeDefaultClient();
  }
}
