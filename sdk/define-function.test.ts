import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { ValueError } from "../schemas/values.ts";
import * as chalkcompute from "./index.ts";
import { functionRegistry, setReplicaChannel } from "./runtime-hooks.ts";
import {
  add,
  addThenDouble,
  countUp,
  divide,
  echo,
  failAfterTwo,
} from "./testing/fixtures/functions.ts";
import { LocalQueue } from "./testing/local-queue.ts";

const FIXTURE = fileURLToPath(
  new URL("./testing/fixtures/functions.ts", import.meta.url),
);

// A replica channel makes the SDK call through the in-process queue and
// skips deploying, as inside a replica.
const queue = new LocalQueue();
beforeAll(() => {
  setReplicaChannel(queue.channel);
});

describe("chalkcompute.function", () => {
  it("runs the handler locally when called", () => {
    expect(add(3, 5)).toBe(8);
    expect(add.name).toBe("add");
  });

  it("registers name, options and module path", () => {
    const entry = functionRegistry().get("countUp");
    expect(entry?.generator).toBe(true);
    expect(entry?.concurrency).toBe(2);
    expect(entry?.timeoutSeconds).toBe(30);
    expect(entry?.modulePath).toBe(FIXTURE);
    expect(functionRegistry().get("add")?.generator).toBe(false);
    expect(functionRegistry().get("add")?.modulePath).toBe(FIXTURE);
  });

  it("rejects a name defined in another module", () => {
    expect(() =>
      chalkcompute.function({ name: "add" }, (x: number) => x),
    ).toThrow(chalkcompute.OptionError);
    expect(() =>
      chalkcompute.function({ name: "add" }, (x: number) => x),
    ).toThrow(/"add" is already defined in .*functions\.ts/);
  });

  it("replaces a definition when its module is evaluated again", () => {
    // One call site run twice, as when a module is evaluated again.
    const define = (value: number) =>
      chalkcompute.function({ name: "twice" }, () => value);
    const first = define(1);
    const second = define(2);
    expect(first()).toBe(1);
    expect(second()).toBe(2);
    expect(functionRegistry().get("twice")?.handler()).toBe(2);
  });

  it("throws at definition for invalid options", () => {
    expect(() =>
      chalkcompute.function({ name: "x", concurrency: 0 }, () => 1),
    ).toThrow("concurrency must be an integer >= 1, got 0");
    expect(() => chalkcompute.function(() => 1)).toThrow(
      chalkcompute.OptionError,
    );
  });

  it("types remote results", () => {
    expectTypeOf(add.remote).returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(countUp.remote).returns.toEqualTypeOf<AsyncIterable<number>>();
    expectTypeOf(add.spawn).returns.resolves.toEqualTypeOf<
      chalkcompute.FunctionCall<number, number>
    >();
    expectTypeOf(countUp.spawn).returns.resolves.toEqualTypeOf<
      chalkcompute.FunctionCall<number[], number>
    >();
  });
});

describe("remote calls", () => {
  it("returns the result of a plain function", async () => {
    await expect(add.remote(3, 5)).resolves.toBe(8);
  });

  it("streams a generator's values", async () => {
    const values: number[] = [];
    for await (const value of countUp.remote(4)) values.push(value);
    expect(values).toEqual([0, 1, 2, 3]);
  });

  it("rejects with the remote error's type and message", async () => {
    const error = await divide.remote(1, 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(chalkcompute.RemoteError);
    const remote = error as chalkcompute.RemoteError;
    expect(remote.message).toBe("InputError: division by zero");
    expect(remote.type).toBe("InputError");
    expect(remote.typeChain).toEqual(["InputError", "RangeError", "Error"]);
    expect(remote.remoteStack).toContain("functions.ts");
    expect(remote.callId).toMatch(/^fc-.*-divide$/);
  });

  it("yields values before a generator's error", async () => {
    const values: string[] = [];
    let caught: unknown;
    try {
      for await (const value of failAfterTwo.remote()) values.push(value);
    } catch (error) {
      caught = error;
    }
    expect(values).toEqual(["a", "b"]);
    expect(caught).toBeInstanceOf(chalkcompute.RemoteError);
    expect((caught as Error).message).toBe("TypeError: third value is missing");
  });

  it("round-trips rich values", async () => {
    const value = {
      when: new Date(1_700_000_000_000),
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2, 3]),
      tags: new Set(["a"]),
      index: new Map<unknown, unknown>([[1, { nested: [undefined, null] }]]),
    };
    await expect(echo.remote(value)).resolves.toEqual(value);
  });

  it("rejects bad arguments with their path before sending", async () => {
    const sent = queue.submits.length;
    const error = await echo
      .remote({ items: [1, () => 2] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValueError);
    expect((error as ValueError).path).toBe("args[0].items[1]");
    expect(() => countUp.remote(Symbol("n") as unknown as number)).toThrow(
      /args\[0\] is a symbol/,
    );
    await expect(
      echo.spawn(
        new (class Point {
          norm() {
            return 0;
          }
        })(),
      ),
    ).rejects.toThrow(/args\[0\] is an instance of class Point/);
    expect(queue.submits.length).toBe(sent);
  });

  it("passes the parent call id to nested calls", async () => {
    await expect(addThenDouble.remote(2, 3)).resolves.toBe(10);
    const outer = queue.submits.findLast((s) => s.function === "addThenDouble");
    const inner = queue.submits.findLast((s) => s.function === "add");
    expect(outer?.parentCallId).toBe("");
    expect(inner?.parentCallId).toMatch(/^fc-.*-addThenDouble$/);
  });

  it("resolves waitReady at once inside a replica", async () => {
    await expect(add.waitReady({ timeoutMs: 1 })).resolves.toBeUndefined();
  });
});

describe("FunctionCall", () => {
  it("spawns and gets the result", async () => {
    const call = await add.spawn(3, 5);
    expect(call.id).toMatch(/^fc-[0-9A-Z]{26}-add$/);
    expect(call.functionName).toBe("add");
    await expect(call.get()).resolves.toBe(8);
  });

  it("gets the same result from the id alone", async () => {
    const call = await add.spawn(1, 2);
    await expect(chalkcompute.FunctionCall.fromId(call.id).get()).resolves.toBe(
      3,
    );
  });

  it("collects a generator call's values", async () => {
    const call = await countUp.spawn(3);
    await expect(call.get()).resolves.toEqual([0, 1, 2]);
    const streamed: number[] = [];
    for await (const value of call.stream()) streamed.push(value);
    expect(streamed).toEqual([0, 1, 2]);
  });

  it("rejects a failed call with RemoteError", async () => {
    const call = await divide.spawn(1, 0);
    await expect(call.get()).rejects.toBeInstanceOf(chalkcompute.RemoteError);
  });

  it("rejects an unknown call with NotFoundError", async () => {
    const call = chalkcompute.FunctionCall.fromId(
      "fc-01J00000000000000000000000-add",
    );
    await expect(call.get()).rejects.toBeInstanceOf(chalkcompute.NotFoundError);
  });

  it("times out get() with TimeoutError", async () => {
    const never = chalkcompute.function(
      { name: "never" },
      () => new Promise(() => {}),
    );
    const call = await never.spawn();
    const error = await call.get({ timeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(chalkcompute.TimeoutError);
    expect((error as chalkcompute.TimeoutError).timeoutMs).toBe(20);
  });

  it("rejects malformed ids", () => {
    expect(() => chalkcompute.FunctionCall.fromId("abc")).toThrow(
      /call id "abc" is malformed/,
    );
  });

  it("rejects an id that is not a string", () => {
    const act = () => chalkcompute.FunctionCall.fromId(42 as never);
    expect(act).toThrow(chalkcompute.OptionError);
    expect(act).toThrow(/call id 42 is malformed/);
  });

  it("rejects unknown or invalid get() options", async () => {
    const call = chalkcompute.FunctionCall.fromId(
      "fc-00000000000000000000000000-add",
    );
    await expect(call.get({ timeout: 3 } as never)).rejects.toThrow(
      'unknown get() option "timeout"; the accepted option is timeoutMs',
    );
    await expect(call.get({ timeoutMs: -1 })).rejects.toThrow(
      "timeoutMs must be a number of milliseconds > 0, got -1",
    );
  });
});

describe("definition errors", () => {
  it("names a value passed instead of a handler", () => {
    expect(() => chalkcompute.function(42 as never)).toThrow(
      "chalkcompute.function takes a handler function, or options and a handler, got 42",
    );
  });

  it("rejects a class as handler", () => {
    class Model {}
    expect(() =>
      chalkcompute.function({ name: "class_handler" }, Model as never),
    ).toThrow(/handler must be a function, got class Model/);
  });

  it("rejects one name defined twice in one module", () => {
    chalkcompute.function({ name: "twice_here" }, () => 1);
    expect(() =>
      chalkcompute.function({ name: "twice_here" }, () => 2),
    ).toThrow(
      /function name "twice_here" is defined twice in .*define-function\.test\.ts/,
    );
  });
});
