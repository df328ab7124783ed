/**
 * The process-wide clients that `remote()`, `spawn()` and FunctionCall use.
 * They live on `globalThis` under `Symbol.for` keys so that the two copies of
 * the SDK inside a replica (the worker runtime's and the bundle's) share one
 * CallClient: a FrameChannel has a single frame handler.
 */
import { CallClient } from "./call-client.ts";
import { connectUrl, type GatewayConfig, resolveConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { GatewayHttp } from "./http.ts";
import { WebSocketUpgradeError } from "./reconnecting-socket.ts";
import { type FrameChannel, replicaChannel } from "./runtime-hooks.ts";
import { WebSocketChannel } from "./websocket-channel.ts";

interface ClientState {
  /** The replica channel the client uses, or undefined for a gateway client. */
  channel: FrameChannel | undefined;
  config: GatewayConfig | undefined;
  client: CallClient;
}

const STATE_KEY = Symbol.for("chalkcompute.defaultClient");
const globals = globalThis as unknown as Record<symbol, unknown>;

/**
 * Returns the CallClient of this process: over the agent's channel inside a
 * replica, else over one WebSocket to the configured gateway.
 */
export function defaultCallClient(): CallClient {
  const channel = replicaChannel();
  const state = globals[STATE_KEY] as ClientState | undefined;
  if (state && state.channel === channel) return state.client;
  state?.client.close();

  const next = channel
    ? { channel, config: undefined, client: new CallClient(channel) }
    : gatewayClient(resolveConfig());
  globals[STATE_KEY] = next;
  return next.client;
}

/** Returns an HTTP client for the configured gateway. */
export function defaultHttp(): GatewayHttp {
  const state = globals[STATE_KEY] as ClientState | undefined;
  return new GatewayHttp(state?.config ?? resolveConfig());
}

/** Closes the process's CallClient, if any; the next call opens a new one. */
export function closeDefaultClient(): void {
  const state = globals[STATE_KEY] as ClientState | undefined;
  globals[STATE_KEY] = undefined;
  state?.client.close();
}

function gatewayClient(config: GatewayConfig): ClientState {
  let client: CallClient | undefined;
  const channel = new WebSocketChannel({
    url: connectUrl(config.url),
    token: config.token,
    onError: (error) => {
      if (!(error instanceof WebSocketUpgradeError)) return;
      if (error.status !== 401 && error.status !== 403) return;
      client?.failAll(
        new ConfigError(
          `the gateway at ${config.url} rejected the token from ` +
            `${config.source === "env" ? "CHALKCOMPUTE_TOKEN" : config.source} ` +
            `(HTTP ${error.status}); set the token the gateway was started with`,
        ),
      );
    },
  });
  client = new CallClient(channel, {
    keepAlive: (active) => channel.setRef(active),
  });
  return { channel: undefined, config, client };
}
