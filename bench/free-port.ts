import { createServer } from "node:net";

/**
 * Returns a TCP port that was free on `host` a moment ago, for a server that
 * cannot bind port 0 and report its port. Another process may take it before
 * the caller binds it, so callers retry on failure.
 */
export function findFreePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error(`listening on ${host} gave no TCP port`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
