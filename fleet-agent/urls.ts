/** Checks a gateway base URL; throws when it is not http:// or https://. */
export function parseGatewayUrl(gatewayUrl: string): URL {
  let url: URL;
  try {
    url = new URL(gatewayUrl);
  } catch {
    throw new TypeError(
      `gateway URL ${JSON.stringify(gatewayUrl)} is invalid; pass ` +
        "http://HOST:PORT or https://HOST",
    );
  }

  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `gateway URL ${gatewayUrl} must start with http:// or https://, ` +
        `got ${url.protocol}//`,
    );
  }
  return url;
}

/** Returns the HTTP URL of a gateway route, e.g. `/v1/bundles/HASH`. */
export function httpUrl(gateway: URL, route: string): string {
  const url = new URL(gateway.href);
  url.pathname = `${gateway.pathname.replace(/\/+$/, "")}${route}`;
  url.search = "";
  return url.href;
}

/** Returns the WebSocket URL of a gateway route, e.g. `/v1/agent/fleet`. */
export function websocketUrl(
  gateway: URL,
  route: string,
  query: Record<string, string> = {},
): string {
  const url = new URL(httpUrl(gateway, route));
  url.protocol = gateway.protocol === "https:" ? "wss:" : "ws:";
  url.search = new URLSearchParams(query).toString();
  return url.href;
}
