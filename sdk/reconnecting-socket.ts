import WebSocket from "ws";

/** A WebSocket upgrade that the server answered with a plain HTTP response. */
export class WebSocketUpgradeError extends Error {
  override name = "WebSocketUpgradeError";

  constructor(
    message: string,
    /** HTTP status of the response, e.g. 401 for a wrong token. */
    readonly status: number,
  ) {
    super(message);
  }
}

/** Options of a ReconnectingSocket. */
export interface ReconnectingSocketOptions {
  /** ws:// or wss:// URL. */
  url: string;
  /** Bearer token sent in the Authorization header. */
  token: string;
  /** First reconnect delay in milliseconds; doubles up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Called after every successful (re)connect, before queued sends flush. */
  onOpen?: (reconnect: boolean) => void;
  onMessage: (data: Uint8Array) => void;
  /** Called when an open socket closes; a reconnect follows unless closed. */
  onClose?: (code: number, reason: string) => void;
  /** Called with connect failures; the socket keeps retrying. */
  onError?: (error: Error) => void;
}

/**
 * A binary WebSocket client that reconnects with exponential backoff and
 * jitter until `close()`. Sends made while disconnected are dropped and
 * reported as false: the protocols above it resend what was not
 * acknowledged after `onOpen`.
 */
export class ReconnectingSocket {
  private socket: WebSocket | undefined;
  private closed = false;
  private everOpened = false;
  private attempt = 0;
  private ref = true;
  private timer: NodeJS.Timeout | undefined;
  private readonly opened: Promise<void>;
  private resolveOpened!: () => void;

  constructor(private readonly options: ReconnectingSocketOptions) {
    this.opened = new Promise((resolve) => {
      this.resolveOpened = resolve;
    });
    this.connect();
  }

  /** True while the socket is open. */
  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Resolves after the first successful connect. */
  waitOpen(): Promise<void> {
    return this.opened;
  }

  /** Sends one binary message; returns false if the socket is not open. */
  send(data: Uint8Array): boolean {
    if (!this.isOpen) return false;
    this.socket?.send(data);
    return true;
  }

  /** Closes the socket for good; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.socket?.close(1000, "closed by client");
  }

  private connect(): void {
    const socket = new WebSocket(this.options.url, {
      headers: { authorization: `Bearer ${this.options.token}` },
      perMessageDeflate: false,
    });
    socket.binaryType = "nodebuffer";
    this.socket = socket;
    let opened = false;

    socket.on("open", () => {
      opened = true;
      this.applyRef();
      this.attempt = 0;
      const reconnect = this.everOpened;
      this.everOpened = true;
      this.options.onOpen?.(reconnect);
      this.resolveOpened();
    });
    socket.on("message", (data: Buffer) => {
      this.options.onMessage(
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
    });
    socket.on("unexpected-response", (_request, response) => {
      const status = response.statusCode ?? 0;
      this.options.onError?.(
        new WebSocketUpgradeError(
          `WebSocket upgrade to ${redact(this.options.url)} failed with HTTP ${status}`,
          status,
        ),
      );
      socket.terminate();
    });
    socket.on("error", (error) => {
      this.options.onError?.(error);
    });
    socket.on("close", (code, reason) => {
      if (this.socket !== socket) return;
      if (opened) this.options.onClose?.(code, reason.toString());
      this.scheduleReconnect();
    });
  }

  /**
   * Sets whether this socket keeps the Node process alive. A client unrefs
   * it while it has no pending work, so that a script can exit.
   */
  setRef(active: boolean): void {
    this.ref = active;
    this.applyRef();
  }

  private applyRef(): void {
    // ws does not expose its net.Socket publicly; `_socket` is the documented-in-source field.
    const raw = (
      this.socket as unknown as { _socket?: { ref(): void; unref(): void } }
    )?._socket;
    if (this.ref) {
      raw?.ref();
      this.timer?.ref?.();
    } else {
      raw?.unref();
      this.timer?.unref?.();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const initial = this.options.initialDelayMs ?? 100;
    const max = this.options.maxDelayMs ?? 5_000;
    const delay = Math.min(max, initial * 2 ** this.attempt);
    this.attempt++;
    // Full jitter keeps many clients from reconnecting in lockstep after a deploy.
    this.timer = setTimeout(
      () => this.connect(),
      delay / 2 + Math.random() * (delay / 2),
    );
    if (!this.ref) this.timer.unref?.();
  }
}

function redact(url: string): string {
  return url.replace(/token=[^&]*/g, "token=***");
}
