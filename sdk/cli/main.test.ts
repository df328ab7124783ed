import { describe, expect, it } from "vitest";
import { buildProgram, parseArgument } from "./main.ts";

describe("parseArgument", () => {
  it.each([
    ["3", 3],
    ["-1.5", -1.5],
    ["true", true],
    ["null", null],
    ['"quoted"', "quoted"],
    ["[1,2]", [1, 2]],
    ['{"a":1}', { a: 1 }],
    ["hello", "hello"],
    ["{broken", "{broken"],
  ])("parses %s", (raw, value) => {
    expect(parseArgument(raw)).toEqual(value);
  });
});

describe("buildProgram", () => {
  it("defines the commands", () => {
    const names = buildProgram().commands.map((c) => c.name());
    expect(names).toEqual(["dev", "deploy", "call", "agent", "secret", "logs"]);
  });

  it("passes the agent runtime choice", () => {
    const agent = buildProgram().commands.find((c) => c.name() === "agent");
    agent?.parseOptions(["--runtime", "docker"]);
    expect(agent?.opts().runtime).toBe("docker");
  });

  it("defaults the agent runtime to auto", () => {
    const agent = buildProgram().commands.find((c) => c.name() === "agent");
    agent?.parseOptions([]);
    expect(agent?.opts().runtime).toBe("auto");
  });

  it("defaults dev to port 8787 with an agent", () => {
    const dev = buildProgram().commands.find((c) => c.name() === "dev");
    dev?.parseOptions([]);
    expect(dev?.opts()).toEqual({
      port: 8787,
      state: ".chalkcompute/state",
      agent: true,
    });
  });
});
