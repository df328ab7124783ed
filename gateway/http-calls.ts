/**
 * HTTP invocation: `POST /v1/functions/{name}/call` and `/spawn`, and
 * `GET /v1/calls/{id}`.
 */
import { type Context, Hono } from "hono";
import { catalogStub, queueStub } from "../durable-objects/env.ts";
import { checkFunctionName, functionOfCallId } from "../schemas/spec.ts";
import {
  encodeValue,
  MAX_VALUE_BYTES,
  ValueError,
  ValueTooLargeError,
} from "../schemas/values.ts";
import {
  callErrorResponse,
  lostCallError,
  singleValueResponse,
  streamResponse,
} from "./call-responses.ts";
import { badRequest, errorResponse, notFound } from "./errors.ts";
import type { GatewayEnv } from "./hono-env.ts";
import { QueueCall } from "./queue-client.ts";

/** Routes under `/v1/functions/{name}` that start calls. */
export const callRoutes = new Hono<GatewayEnv>();

/** Routes under `/v1/calls`. */
export const callStatusRoutes = new Hono<GatewayEnv>();

/** Outcome of parsing the body of `/call` and `/spawn`. */
type ParsedArgs =
  | { ok: true; args: Uint8Array }
  | { ok: false; response: Response };

/** Parses `{"args": [...]}` and serializes the arguments. */
export async function parseArgs(request: Request): Promise<ParsedArgs> {
  // A body this large cannot hold arguments under the value limit.
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) return tooLarge(declared);
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) return tooLarge(text.length);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return fail(
      `request body is not valid JSON (${reason}); send {"args": [...]}`,
    );
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return fail('request body must be a JSON object such as {"args": [1, 2]}');
  }
  const args = (body as Record<string, unknown>).args;
  if (args === undefined) {
    return fail(
      'request body has no "args"; send {"args": [...]}, [] for none',
    );
  }
  if (!Array.isArray(args)) {
    return fail(`"args" must be an array of arguments, got ${typeName(args)}`);
  }

  try {
    return { ok: true, args: encodeValue(args, "args") };
  } catch (error) {
    if (error instanceof ValueTooLargeError) {
      return {
        ok: false,
        response: errorResponse(413, "PayloadTooLarge", error.message),
      };
    }
    if (error instanceof ValueError) return fail(error.message);
    throw error;
  }
}

/** Largest request body read; JSON text is at most a few times its encoding. */
const MAX_BODY_BYTES = 4 * MAX_VALUE_BYTES;

function tooLarge(bytes: number): ParsedArgs {
  const message =
    `request body has ${bytes} bytes, over the limit of ${MAX_BODY_BYTES}; ` +
    "store large data elsewhere and send its location";
  return {
    ok: false,
    response: errorResponse(413, "PayloadTooLarge", message),
  };
}

function fail(message: string): ParsedArgs {
  return { ok: false, response: badRequest(message) };
}

function typeName(value: unknown): string {
  return value === null ? "null" : typeof value;
}

/** Resolves the function of a call route, or returns the 404 response. */
async function deployedSpec(c: Context<GatewayEnv>, name: string) {
  if (checkFunctionName(name) !== null) {
    return notFound(
      `function ${JSON.stringify(name)} not found: ${checkFunctionName(name)}`,
    );
  }
  // NOTE: every HTTP call asks the one Catalog object for the spec, which
  // caps HTTP throughput at that object; the function's queue has the spec too.
  const entry = await catalogStub(c.env).get(name);
  if (!entry) {
    return notFound(`function ${name} not found; deploy it first`);
  }
  return entry.spec;
}

/** Reads events until the call is accepted, then returns its id, or the error response. */
async function waitAccepted(call: QueueCall): Promise<string | Response> {
  for (;;) {
    const event = await call.next();
    if (event.kind === "accepted") return event.callId;
    if (event.kind === "rejected") return callErrorResponse(event.error, "");
    if (event.kind === "closed") {
      return callErrorResponse(lostCallError(event.reason), "");
    }
  }
}

function idempotencyKey(c: Context<GatewayEnv>): string {
  return c.req.header("Idempotency-Key") || `http-${crypto.randomUUID()}`;
}

/**
 * Parses the body, checks the function and submits the call; returns the
 * error response of the first step that fails.
 */
async function submitFromRequest(
  c: Context<GatewayEnv>,
  subscribe: boolean,
): Promise<Response | { call: QueueCall; generator: boolean }> {
  const name = c.req.param("name") ?? "";
  const parsed = await parseArgs(c.req.raw);
  if (!parsed.ok) return parsed.response;
  const spec = await deployedSpec(c, name);
  if (spec instanceof Response) return spec;

  const call = await QueueCall.submit(c.env, {
    functionName: name,
    idempotencyKey: idempotencyKey(c),
    args: parsed.args,
    subscribe,
  });
  return { call, generator: spec.generator };
}

callRoutes.post("/:name/call", async (c) => {
  const submitted = await submitFromRequest(c, true);
  if (submitted instanceof Response) return submitted;
  const { call, generator } = submitted;

  const callId = await waitAccepted(call);
  if (callId instanceof Response) {
    call.close();
    return callId;
  }
  if (!generator) return singleValueResponse(call, callId);

  const sse = (c.req.header("Accept") ?? "").includes("text/event-stream");
  return streamResponse(call, callId, sse ? "sse" : "ndjson");
});

callRoutes.post("/:name/spawn", async (c) => {
  const submitted = await submitFromRequest(c, false);
  if (submitted instanceof Response) return submitted;
  const { call } = submitted;

  try {
    const callId = await waitAccepted(call);
    return callId instanceof Response ? callId : c.json({ callId });
  } finally {
    call.close();
  }
});

callStatusRoutes.get("/:id", async (c) => {
  const callId = c.req.param("id");
  const functionName = functionOfCallId(callId);
  if (functionName === null) {
    return notFound(
      `call ${callId} not found: it is not a chalkcompute call id`,
    );
  }
  const view = await queueStub(c.env, functionName).getCall(callId);
  if (!view) {
    return notFound(
      `call ${callId} not found: it never existed or was deleted 24 hours after it finished`,
    );
  }
  return Response.json(view);
});
