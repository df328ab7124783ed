/**
 * Structured JSON logging for the Worker and Durable Objects. workerd has no
 * pino, and its log pipeline (wrangler tail, Logpush) takes console output,
 * so one JSON object per line goes to the console.
 */

/** Severity of a log record. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Fields of a log record: ids and counts, never a secret. */
export type LogFields = Record<string, unknown>;

/** A logger that tags every record with the component that wrote it. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Creates a logger whose records carry `component`. */
export function createLogger(component: string): Logger {
  const write = (level: LogLevel, message: string, fields?: LogFields) => {
    const record = {
      time: new Date().toISOString(),
      level,
      component,
      message,
      ...fields,
    };
    // biome-ignore lint/suspicious/noConsole: workerd collects console output as its log stream, and pino does not run there.
    console[level === "debug" ? "log" : level](JSON.stringify(record));
  };
  return {
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}

/** Returns an error's message and stack as log fields. */
export function errorFields(error: unknown): LogFields {
  if (error instanceof Error) {
    return { error: `${error.name}: ${error.message}`, stack: error.stack };
  }
  return { error: String(error) };
}
