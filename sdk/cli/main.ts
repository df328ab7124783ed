/**
 * The `chalkcompute` command line: `dev`, `deploy`, `call` and `agent`.
 */
import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { encodeValue, toJson } from "../../schemas/values.ts";
import { ValueStream } from "../call-results.ts";
import { closeDefaultClient, defaultCallClient } from "../default-client.ts";
import { deployModule } from "../deploy.ts";
import { startDevStack } from "../dev-stack.ts";
import { RemoteError } from "../errors.ts";
import { functionRegistry } from "../runtime-hooks.ts";

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
    .action(runDev);

  program
    .command("deploy")
    .description("deploy the functions a module defines")
    .argument("<file>", "TypeScript module that defines functions")
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
    .action(runAgent);

  return program;
}

async function runDev(options: {
  port: number;
  state: string;
  agent: boolean;
}): Promise<void> {
  const stack = await startDevStack({
    port: options.port,
    stateDir: resolve(options.state),
    agent: options.agent,
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

async function runDeploy(file: string): Promise<void> {
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

  for (const modulePath of modules) {
    const deployed = await deployModule(modulePath, {
      onProgress: (line) => console.log(line),
    });
    for (const fn of deployed) {
      const note = fn.changed ? "" : " (unchanged)";
      console.log(`deployed ${fn.name} version ${fn.version}${note}`);
    }
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
}): Promise<void> {
  const { startAgent } = await import("../../fleet-agent/index.ts");
  const agent = await startAgent({
    gatewayUrl: options.gateway,
    token: options.token,
    dataDir: resolve(options.dataDir),
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
