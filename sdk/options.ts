import {
  checkFunctionName,
  DEFAULT_CONCURRENCY,
  DEFAULT_TIMEOUT_SECONDS,
  MAX_TIMEOUT_SECONDS,
} from "../schemas/spec.ts";
import { OptionError } from "./errors.ts";

/** Options of `chalkcompute.function`. */
export interface FunctionOptions {
  /** Function name; defaults to the handler's own name. */
  name?: string;
  /** Maximum calls running at once across the fleet; default 1. */
  concurrency?: number;
  /** Deadline of one attempt in seconds, at most 86400; default 300. */
  timeout?: number;
}

/** Options after validation, with defaults applied. */
export interface ResolvedOptions {
  name: string;
  concurrency: number;
  timeoutSeconds: number;
}

const ACCEPTED_OPTIONS = ["name", "concurrency", "timeout"] as const;

/**
 * Validates the options of a function definition and applies defaults.
 * Throws OptionError naming the option, the value and what is accepted.
 */
export function resolveFunctionOptions(
  options: unknown,
  handler: unknown,
): ResolvedOptions {
  if (typeof handler !== "function") {
    throw new OptionError(
      `handler must be a function, got ${describe(handler)}`,
    );
  }

  const record = checkOptionsObject(options);
  const name = resolveName(record.name, handler.name);
  const concurrency = resolveConcurrency(record.concurrency);
  const timeoutSeconds = resolveTimeout(record.timeout);

  return { name, concurrency, timeoutSeconds };
}

/** Returns true when `handler` is an async generator function. */
export function isAsyncGeneratorFunction(handler: unknown): boolean {
  return (
    typeof handler === "function" &&
    handler.constructor?.name === "AsyncGeneratorFunction"
  );
}

function checkOptionsObject(options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (
    typeof options !== "object" ||
    options === null ||
    Array.isArray(options)
  ) {
    throw new OptionError(
      `options must be an object, got ${describe(options)}`,
    );
  }

  const accepted: readonly string[] = ACCEPTED_OPTIONS;
  for (const key of Object.keys(options)) {
    if (!accepted.includes(key)) {
      throw new OptionError(
        `unknown option ${JSON.stringify(key)}; accepted options are ` +
          ACCEPTED_OPTIONS.join(", "),
      );
    }
  }
  return options as Record<string, unknown>;
}

function resolveName(option: unknown, handlerName: string): string {
  if (option === undefined && !handlerName) {
    throw new OptionError(
      'function has no name: pass { name: "..." } as the first argument ' +
        "or use a named function expression",
    );
  }

  const name = option === undefined ? handlerName : option;
  const problem = checkFunctionName(name);
  if (problem) {
    const origin = option === undefined ? " (taken from the handler)" : "";
    throw new OptionError(`${problem}${origin}`);
  }
  return name as string;
}

function resolveConcurrency(option: unknown): number {
  if (option === undefined) return DEFAULT_CONCURRENCY;
  if (!Number.isInteger(option) || (option as number) < 1) {
    throw new OptionError(
      `concurrency must be an integer >= 1, got ${describe(option)}`,
    );
  }
  return option as number;
}

function resolveTimeout(option: unknown): number {
  if (option === undefined) return DEFAULT_TIMEOUT_SECONDS;
  if (
    typeof option !== "number" ||
    !(option > 0) ||
    option > MAX_TIMEOUT_SECONDS
  ) {
    throw new OptionError(
      `timeout must be a number of seconds > 0 and <= ${MAX_TIMEOUT_SECONDS}, ` +
        `got ${describe(option)}`,
    );
  }
  return option;
}

function describe(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return `${value}n`;
  if (value === undefined) return "undefined";
  if (typeof value === "number") return String(value);
  return JSON.stringify(value) ?? String(value);
}
