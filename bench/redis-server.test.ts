import { createConnection } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  installedRedisVersion,
  type RedisServer,
  startRedisServer,
} from "./redis-server.ts";

// Starting the server installs Debian's package when it is missing; tests
// only run where it is already installed, so that they never call apt-get.
const hasRedis = installedRedisVersion() !== null;

function sendInline(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(2000, () => reject(new Error("no reply in 2 s")));
    socket.on("error", reject);
    socket.on("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (chunk) => {
      socket.destroy();
      resolve(chunk.toString());
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

describe.skipIf(!hasRedis)("startRedisServer", () => {
  let server: RedisServer | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it("serves on loopback without persistence", async () => {
    server = await startRedisServer();

    expect(server.host).toBe("127.0.0.1");
    expect(server.version).toMatch(/^\d+\.\d+/);
    expect(await sendInline(server.port, "PING")).toBe("+PONG\r\n");
    expect(await sendInline(server.port, "CONFIG GET save")).toContain(
      "$0\r\n",
    );
    expect(await sendInline(server.port, "CONFIG GET appendonly")).toContain(
      "no",
    );
  });

  it("stops on repeated calls", async () => {
    server = await startRedisServer();
    const { port } = server;

    await Promise.all([server.stop(), server.stop()]);

    expect(await canConnect(port)).toBe(false);
  });
});
