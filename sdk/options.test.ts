import { describe, expect, it } from "vitest";
import { OptionError } from "./errors.ts";
import { isAsyncGeneratorFunction, resolveFunctionOptions } from "./options.ts";
import { Secret } from "./secret.ts";

function named(x: number) {
  return x;
}

describe("resolveFunctionOptions", () => {
  it("applies defaults", () => {
    expect(resolveFunctionOptions(undefined, named)).toEqual({
      name: "named",
      concurrency: 1,
      timeoutSeconds: 300,
      compute: {},
      policies: {},
    });
  });

  it("prefers options.name over the handler name", () => {
    const resolved = resolveFunctionOptions({ name: "other" }, named);
    expect(resolved.name).toBe("other");
  });

  it("rejects a handler without a name", () => {
    expect(() => resolveFunctionOptions({}, () => 1)).toThrow(OptionError);
    expect(() => resolveFunctionOptions({}, () => 1)).toThrow(
      /function has no name/,
    );
  });

  it("rejects invalid names with the value", () => {
    expect(() => resolveFunctionOptions({ name: "9lives" }, named)).toThrow(
      'function name "9lives" is invalid',
    );
    expect(() => resolveFunctionOptions({ name: "" }, named)).toThrow(
      'function name "" is invalid',
    );
    expect(() => resolveFunctionOptions({ name: 3 }, named)).toThrow(
      "function name 3 is invalid",
    );
  });

  it("names the handler when its own name is invalid", () => {
    const handler = { "bad name"() {} }["bad name"];
    expect(() => resolveFunctionOptions(undefined, handler)).toThrow(
      /"bad name" is invalid.*taken from the handler/,
    );
  });

  it.each([
    [0, "concurrency must be an integer >= 1, got 0"],
    [1.5, "concurrency must be an integer >= 1, got 1.5"],
    ["2", 'concurrency must be an integer >= 1, got "2"'],
    [-3, "concurrency must be an integer >= 1, got -3"],
  ])("rejects concurrency %j", (value, message) => {
    const act = () => resolveFunctionOptions({ concurrency: value }, named);
    expect(act).toThrow(OptionError);
    expect(act).toThrow(message);
  });

  it.each([
    [0, "got 0"],
    [-1, "got -1"],
    [86_401, "got 86401"],
    [Number.NaN, "got NaN"],
    ["10", 'got "10"'],
  ])("rejects timeout %j", (value, got) => {
    const act = () => resolveFunctionOptions({ timeout: value }, named);
    expect(act).toThrow(
      `timeout must be a number of seconds > 0 and <= 86400, ${got}`,
    );
  });

  it("accepts valid concurrency and timeout", () => {
    const resolved = resolveFunctionOptions(
      { concurrency: 4, timeout: 0.5 },
      named,
    );
    expect(resolved.concurrency).toBe(4);
    expect(resolved.timeoutSeconds).toBe(0.5);
  });

  it("rejects unknown keys and lists the accepted ones", () => {
    const act = () => resolveFunctionOptions({ retry: 3 }, named);
    expect(act).toThrow(OptionError);
    expect(act).toThrow(
      'unknown option "retry"; accepted options are name, concurrency, ' +
        "timeout, image, cpu, memory, gpu, secrets, volumes, retries, rateLimit",
    );
  });

  it("rejects options that are not an object", () => {
    expect(() => resolveFunctionOptions([], named)).toThrow(
      "options must be an object, got []",
    );
    expect(() => resolveFunctionOptions(null, named)).toThrow(
      "options must be an object, got null",
    );
  });

  it("rejects a handler that is not a function", () => {
    expect(() => resolveFunctionOptions({ name: "x" }, 3)).toThrow(
      "handler must be a function, got 3",
    );
  });
});

describe("isAsyncGeneratorFunction", () => {
  it("detects async generator functions only", () => {
    async function* asyncGen() {
      yield 1;
    }
    function* syncGen() {
      yield 1;
    }
    expect(isAsyncGeneratorFunction(asyncGen)).toBe(true);
    expect(isAsyncGeneratorFunction(async () => 1)).toBe(false);
    expect(isAsyncGeneratorFunction(syncGen)).toBe(false);
    expect(isAsyncGeneratorFunction(named)).toBe(false);
    expect(isAsyncGeneratorFunction(undefined)).toBe(false);
  });
});

describe("compute options of resolveFunctionOptions", () => {
  it("validates compute options with the function", () => {
    const resolved = resolveFunctionOptions(
      { cpu: 2, memory: "512Mi", gpu: "nvidia-l4" },
      named,
    );
    expect(resolved.compute).toEqual({
      cpu: 2,
      memoryBytes: 512 * 2 ** 20,
      gpu: { model: "nvidia-l4", count: 1 },
    });
    expect(() => resolveFunctionOptions({ memory: "4GB!" }, named)).toThrow(
      OptionError,
    );
  });

  it("accepts a long name with Secret.fromEnv", () => {
    const name = `f${"x".repeat(62)}`;
    const act = () =>
      resolveFunctionOptions({ name, secrets: [Secret.fromEnv("A")] }, named);
    expect(act).not.toThrow();
  });
});
