/**
 * Error classes of the SDK. Callers tell failures apart by class (and by
 * `code` on RemoteError), never by message text.
 */
import type { Code, ErrorInfo } from "../schemas/frames.ts";

/**
 * Raised when a remote call fails: the handler threw, or the platform gave up
 * on the call (`code` is then `unavailable`, `deadlineExceeded`, ...).
 *
 * @example
 * try {
 *   await divide.remote(1, 0);
 * } catch (error) {
 *   if (error instanceof RemoteError) console.log(error.type, error.remoteStack);
 * }
 */
export class RemoteError extends Error {
  override name = "RemoteError";
  /** Class name of the error the handler threw, e.g. "RangeError". */
  readonly type: string;
  /** Status code; `application` when the handler itself threw. */
  readonly code: Code;
  /** Stack trace on the worker where the error was thrown, or "". */
  readonly remoteStack: string;
  /** Id of the failed call, or "" when the call was never accepted. */
  readonly callId: string;
  /** `type` followed by the names of its base classes. */
  readonly typeChain: string[];
  /** The error's own message, without the type prefix. */
  readonly remoteMessage: string;

  constructor(info: ErrorInfo, callId: string) {
    super(`${info.type || "Error"}: ${info.message}`);
    this.type = info.type || "Error";
    this.code = info.code;
    this.remoteStack = info.stack;
    this.callId = callId;
    this.typeChain = [...info.typeChain];
    this.remoteMessage = info.message;
  }
}

/** Raised when the SDK's configuration (URL, token, dev.json) is missing or invalid. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Raised at definition time for an invalid function name or option. */
export class OptionError extends TypeError {
  override name = "OptionError";
}

/** Raised when the gateway does not know a function or a call id. */
export class NotFoundError extends Error {
  override name = "NotFoundError";

  constructor(
    message: string,
    /** The function name or call id that was not found. */
    readonly target: string,
  ) {
    super(message);
  }
}

/** Raised when a wait (`get`, `waitReady`) ran past its time limit. */
export class TimeoutError extends Error {
  override name = "TimeoutError";

  constructor(
    message: string,
    /** The limit that was exceeded, in milliseconds. */
    readonly timeoutMs: number,
  ) {
    super(message);
  }
}

/** Raised for an HTTP response from the gateway with a status >= 400. */
export class HttpError extends Error {
  override name = "HttpError";

  constructor(
    message: string,
    /** HTTP status code of the response. */
    readonly status: number,
    /** `error.type` of the JSON error body, or "" when the body had none. */
    readonly type: string,
    /** `error.callId` of the JSON error body, or "". */
    readonly callId = "",
  ) {
    super(message);
  }
}

/** Raised when bundling or deploying a module fails. */
export class DeployError extends Error {
  override name = "DeployError";
}

/**
 * Raised when the image of a function's current version failed to build.
 * The previous version, if any, keeps serving.
 */
export class BuildError extends Error {
  override name = "BuildError";

  constructor(
    message: string,
    /** Name of the function whose image failed. */
    readonly functionName: string,
    /** The failing build step and the last lines of its log, from the agent. */
    readonly detail: string,
  ) {
    super(message);
  }
}

/** Raised when no connected agent can run a function, e.g. no agent has its GPU model. */
export class PlacementError extends Error {
  override name = "PlacementError";

  constructor(
    message: string,
    /** Name of the function that cannot be placed. */
    readonly functionName: string,
  ) {
    super(message);
  }
}
