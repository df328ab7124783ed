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
  it("defines the four commands", () => {
    const names = buildProgram().commands.map((c) => c.name());
    expect(names).toEqual(["dev", "deploy", "call", "agent"]);
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
