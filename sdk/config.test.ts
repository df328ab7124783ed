import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  connectUrl,
  devConfigPath,
  findDevConfig,
  resolveConfig,
} from "./config.ts";
import { ConfigError } from "./errors.ts";

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "chalkcompute-config-"));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function writeDevConfig(dir: string, content: unknown): string {
  const file = devConfigPath(dir);
  mkdirSync(join(dir, ".chalkcompute"), { recursive: true });
  writeFileSync(
    file,
    typeof content === "string" ? content : JSON.stringify(content),
  );
  return file;
}

describe("resolveConfig", () => {
  it("reads both variables from the environment", () => {
    const config = resolveConfig({
      env: {
        CHALKCOMPUTE_URL: "https://cc.example.com/",
        CHALKCOMPUTE_TOKEN: "t0k",
      },
      cwd: root,
    });
    expect(config).toEqual({
      url: "https://cc.example.com",
      token: "t0k",
      source: "env",
    });
  });

  it("prefers the environment over dev.json", () => {
    writeDevConfig(root, { url: "http://127.0.0.1:1", token: "dev" });
    const config = resolveConfig({
      env: { CHALKCOMPUTE_URL: "http://127.0.0.1:2", CHALKCOMPUTE_TOKEN: "e" },
      cwd: root,
    });
    expect(config.token).toBe("e");
  });

  it("names the missing variable when only one is set", () => {
    const onlyUrl = () =>
      resolveConfig({ env: { CHALKCOMPUTE_URL: "http://x" }, cwd: root });
    expect(onlyUrl).toThrow(ConfigError);
    expect(onlyUrl).toThrow(/^CHALKCOMPUTE_TOKEN is not set/);
    const onlyToken = () =>
      resolveConfig({ env: { CHALKCOMPUTE_TOKEN: "t" }, cwd: root });
    expect(onlyToken).toThrow(/^CHALKCOMPUTE_URL is not set/);
  });

  it("rejects a URL that is not http(s)", () => {
    const act = () =>
      resolveConfig({
        env: { CHALKCOMPUTE_URL: "ftp://x", CHALKCOMPUTE_TOKEN: "t" },
        cwd: root,
      });
    expect(act).toThrow("CHALKCOMPUTE_URL must be an http:// or https:// URL");
    expect(() =>
      resolveConfig({
        env: { CHALKCOMPUTE_URL: "not a url", CHALKCOMPUTE_TOKEN: "t" },
        cwd: root,
      }),
    ).toThrow("CHALKCOMPUTE_URL is not a valid URL");
  });

  it("finds dev.json in a parent directory", () => {
    const file = writeDevConfig(root, {
      url: "http://127.0.0.1:8787",
      token: "dev-token",
    });
    const nested = join(root, "a", "b");
    mkdirSync(nested, { recursive: true });

    const config = resolveConfig({ env: {}, cwd: nested });

    expect(config).toEqual({
      url: "http://127.0.0.1:8787",
      token: "dev-token",
      source: file,
    });
    expect(findDevConfig(nested)).toBe(file);
  });

  it("tells the user to start the dev stack when nothing is found", () => {
    const act = () => resolveConfig({ env: {}, cwd: root });
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(/npx chalkcompute dev/);
    expect(act).toThrow(/CHALKCOMPUTE_URL and CHALKCOMPUTE_TOKEN/);
  });

  it("rejects a malformed dev.json", () => {
    writeDevConfig(root, "{not json");
    expect(() => resolveConfig({ env: {}, cwd: root })).toThrow(
      /cannot read .*dev\.json/,
    );
    writeDevConfig(root, { url: "http://127.0.0.1:8787" });
    expect(() => resolveConfig({ env: {}, cwd: root })).toThrow(
      /has no "token" string/,
    );
  });
});

describe("connectUrl", () => {
  it("maps http to ws and https to wss", () => {
    expect(connectUrl("http://127.0.0.1:8787")).toBe(
      "ws://127.0.0.1:8787/v1/connect",
    );
    expect(connectUrl("https://cc.example.com/base")).toBe(
      "wss://cc.example.com/base/v1/connect",
    );
  });
});
