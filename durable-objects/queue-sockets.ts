/**
 * The WebSockets a FunctionQueue keeps open through the Hibernation API: caller
 * connections from gateways and replica links from agents. Each socket's
 * state lives in its attachment, so it survives hibernation and eviction.
 */

/** State of one replica link. */
export interface LinkState {
  kind: "link";
  agent: string;
  replica: string;
  /** Function version the replica runs. */
  version: number;
  /** Runs the replica can take now; hello sets it, AgentFrames add to it. */
  credits: number;
  /** True once the replica reported that it takes no more work. */
  draining: boolean;
  /** True once the link sent its hello. */
  helloed?: boolean;
}

/** State of one caller connection. */
export interface CallerState {
  kind: "caller";
  connId: string;
}

/** State stored in a socket's attachment. */
export type SocketState = LinkState | CallerState;

/** An open replica link with its state. */
export interface Link {
  socket: WebSocket;
  state: LinkState;
}

const LINK_TAG = "link";
const CALLER_TAG = "caller";

function connTag(connId: string): string {
  return `conn:${connId}`;
}

/** Access to the queue's sockets and their attachments. */
export class QueueSockets {
  constructor(private readonly ctx: DurableObjectState) {}

  /** Accepts a replica link. */
  acceptLink(socket: WebSocket, state: Omit<LinkState, "kind">): Link {
    const link: Link = { socket, state: { kind: "link", ...state } };
    this.ctx.acceptWebSocket(socket, [LINK_TAG]);
    socket.serializeAttachment(link.state);
    return link;
  }

  /** Accepts a caller connection and returns its id. */
  acceptCaller(socket: WebSocket): string {
    const connId = crypto.randomUUID();
    const state: CallerState = { kind: "caller", connId };
    this.ctx.acceptWebSocket(socket, [CALLER_TAG, connTag(connId)]);
    socket.serializeAttachment(state);
    return connId;
  }

  /** Returns the state attached to a socket, or null for a foreign socket. */
  stateOf(socket: WebSocket): SocketState | null {
    const state = socket.deserializeAttachment() as SocketState | null;
    return state && (state.kind === "link" || state.kind === "caller")
      ? state
      : null;
  }

  /** Returns the open replica links, optionally without one socket. */
  links(except?: WebSocket): Link[] {
    const links: Link[] = [];
    for (const socket of this.ctx.getWebSockets(LINK_TAG)) {
      if (socket === except || socket.readyState !== WebSocket.OPEN) continue;
      const state = this.stateOf(socket);
      if (state?.kind === "link") links.push({ socket, state });
    }
    return links;
  }

  /** Writes a link's state back to its attachment. */
  saveLink(link: Link): void {
    link.socket.serializeAttachment(link.state);
  }

  /** Returns the ids of the open caller connections. */
  openConnIds(): Set<string> {
    const ids = new Set<string>();
    for (const socket of this.ctx.getWebSockets(CALLER_TAG)) {
      const state = this.stateOf(socket);
      if (state?.kind === "caller" && socket.readyState === WebSocket.OPEN) {
        ids.add(state.connId);
      }
    }
    return ids;
  }

  /** Returns the open socket of a caller connection, or undefined. */
  caller(connId: string): WebSocket | undefined {
    return this.ctx
      .getWebSockets(connTag(connId))
      .find((socket) => socket.readyState === WebSocket.OPEN);
  }
}

/**
 * Sends one binary message. Returns false when the socket is already
 * closing: the close handler then does the recovery, so the caller only
 * skips it.
 */
export function trySend(socket: WebSocket, bytes: Uint8Array): boolean {
  try {
    socket.send(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Closes a socket, ignoring one that is already closed. */
export function tryClose(
  socket: WebSocket,
  code: number,
  reason: string,
): void {
  try {
    socket.close(code, reason);
  } catch {
    // Already closed: nothing left to do.
  }
}
