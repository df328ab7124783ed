import type { GatewayConfig } from "./config.ts";
import { HttpError } from "./errors.ts";

/** Body and headers of one gateway request. */
export interface RequestOptions {
  /** Sent as JSON with `content-type: application/json`. */
  json?: unknown;
  /** Sent as is; `contentType` names its type. */
  body?: Uint8Array;
  contentType?: string;
}

/**
 * Sends authenticated requests to the gateway's HTTP API and parses JSON
 * responses. A status >= 400 becomes an HttpError carrying the status and the
 * message of the `{"error": {...}}` body.
 */
export class GatewayHttp {
  constructor(private readonly config: Pick<GatewayConfig, "url" | "token">) {}

  /** Base URL of the gateway. */
  get url(): string {
    return this.config.url;
  }

  /** Sends one request and returns the parsed JSON body (null when empty). */
  async request<T = unknown>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.config.token}`,
      accept: "application/json",
    };
    let body: Uint8Array | string | undefined;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      headers["content-type"] =
        options.contentType ?? "application/octet-stream";
      body = options.body;
    }

    const response = await this.send(method, path, headers, body);
    const text = await response.text();
    if (!response.ok)
      throw errorOfResponse(method, path, response.status, text);
    if (text === "") return null as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new HttpError(
        `${method} ${path} returned a body that is not JSON: ` +
          `${text.slice(0, 200)}`,
        response.status,
        "",
      );
    }
  }

  /**
   * Sends one request and returns the response with its body unread, for
   * streamed bodies such as NDJSON. A status >= 400 becomes an HttpError.
   */
  async open(
    method: string,
    path: string,
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers = { authorization: `Bearer ${this.config.token}` };
    const response = await this.send(method, path, headers, undefined, signal);
    if (!response.ok) {
      const text = await response.text();
      throw errorOfResponse(method, path, response.status, text);
    }
    return response;
  }

  private async send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Uint8Array | string | undefined,
    signal?: AbortSignal,
  ): Promise<Response> {
    try {
      return await fetch(`${this.config.url}${path}`, {
        method,
        headers,
        body,
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      const cause = (error as { cause?: { code?: string } }).cause;
      throw new HttpError(
        `${method} ${this.config.url}${path} failed: ` +
          `${cause?.code ?? (error as Error).message}. Check that the gateway ` +
          "is running (`npx chalkcompute dev`) and CHALKCOMPUTE_URL is right",
        0,
        "",
      );
    }
  }
}

function errorOfResponse(
  method: string,
  path: string,
  status: number,
  text: string,
): HttpError {
  let type = "";
  let message = text.slice(0, 500);
  let callId = "";
  try {
    const error = (JSON.parse(text) as { error?: Record<string, unknown> })
      .error;
    if (error && typeof error === "object") {
      type = typeof error.type === "string" ? error.type : "";
      message = typeof error.message === "string" ? error.message : message;
      callId = typeof error.callId === "string" ? error.callId : "";
    }
  } catch {
    // A body that is not JSON is reported as text.
  }

  const hint =
    status === 401
      ? "; check CHALKCOMPUTE_TOKEN or restart `npx chalkcompute dev`"
      : "";
  return new HttpError(
    `${method} ${path} failed with HTTP ${status}: ${message || "(no body)"}${hint}`,
    status,
    type,
    callId,
  );
}
