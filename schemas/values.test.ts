import { describe, expect, it } from "vitest";
import {
  decodeValue,
  encodeValue,
  MAX_VALUE_BYTES,
  toJson,
  ValueError,
  ValueTooLargeError,
} from "./values.ts";

function roundTrip(value: unknown): unknown {
  return decodeValue(encodeValue(value));
}

describe("value codec", () => {
  it("round-trips JSON values", () => {
    const value = { a: [1, -0.5, "x", true, null], b: { c: "" } };
    expect(roundTrip(value)).toEqual(value);
  });

  it("round-trips the types JSON lacks", () => {
    const value = [
      undefined,
      123456789012345678901234567890n,
      -5n,
      new Uint8Array([0, 255]),
      new Date(1_700_000_000_000),
      new Map<unknown, unknown>([
        [1, "one"],
        ["two", new Set([2])],
      ]),
    ];
    const back = roundTrip(value) as unknown[];
    expect(back).toEqual(value);
    expect(back[3]).toBeInstanceOf(Uint8Array);
    expect(back[4]).toBeInstanceOf(Date);
    expect(back[5]).toBeInstanceOf(Map);
  });

  it("keeps special numbers", () => {
    const back = roundTrip([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -0,
    ]) as number[];
    expect(back[0]).toBeNaN();
    expect(back[1]).toBe(Number.POSITIVE_INFINITY);
    expect(Object.is(back[2], -0)).toBe(true);
  });

  it("keeps a __proto__ key as data", () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}}');
    const back = roundTrip(value) as Record<string, unknown>;
    expect(Object.keys(back)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("sends a class instance without methods as its fields", () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(roundTrip(new Point(1, 2))).toEqual({ x: 1, y: 2 });
  });

  it.each([
    ["a function", [1, { cb: () => 1 }], "args[1].cb"],
    ["a symbol", [Symbol("s")], "args[0]"],
    [
      "a class instance with methods",
      [
        new (class Box {
          open() {}
        })(),
      ],
      "args[0]",
    ],
    ["a typed array", [new Float32Array(2)], "args[0]"],
    ["a promise", [Promise.resolve(1)], "args[0]"],
    ["a map value", [new Map([["k", () => 1]])], 'args[0].get("k")'],
  ])("rejects %s naming its place", (_, value, path) => {
    let error: unknown;
    try {
      encodeValue(value, "args");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValueError);
    expect((error as ValueError).path).toBe(path);
    expect((error as Error).message).toContain(path);
  });

  it("rejects a circular reference", () => {
    const value: Record<string, unknown> = {};
    value.self = value;
    expect(() => encodeValue(value, "args")).toThrow(
      /args\.self is a circular reference/,
    );
  });

  it("rejects a value over the size limit", () => {
    const big = "x".repeat(MAX_VALUE_BYTES + 1);
    let error: unknown;
    try {
      encodeValue([big], "args");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValueTooLargeError);
    expect(error).toBeInstanceOf(ValueError);
    expect((error as Error).message).toMatch(
      /^args is 1\.0 MiB when encoded, over the limit of 1\.0 MiB per value/,
    );
  });

  it("accepts a value just under the size limit", () => {
    const text = "x".repeat(MAX_VALUE_BYTES - 64);
    expect(roundTrip(text)).toBe(text);
  });

  it("shortens the path of a value nested too deep", () => {
    let value: unknown = 1;
    for (let i = 0; i < 600; i++) value = [value];
    expect(() => encodeValue(value, "args")).toThrow(/\.\.\./);
    try {
      encodeValue(value, "args");
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(250);
    }
  });

  it("allows the same object twice without a cycle", () => {
    const shared = { n: 1 };
    expect(roundTrip([shared, shared])).toEqual([{ n: 1 }, { n: 1 }]);
  });
});

describe("toJson", () => {
  it("converts what JSON lacks", () => {
    const json = toJson({
      u: undefined,
      big: 10n,
      bytes: new Uint8Array([1, 2]),
      when: new Date("2026-01-01T00:00:00.000Z"),
      set: new Set([1]),
      named: new Map([["a", 1]]),
      keyed: new Map([[1, "a"]]),
      list: [undefined, Number.NaN],
      proto: new Map([["__proto__", 1]]),
    });
    expect(json).toEqual({
      big: "10",
      bytes: "AQI=",
      when: "2026-01-01T00:00:00.000Z",
      set: [1],
      named: { a: 1 },
      keyed: [[1, "a"]],
      list: [null, null],
      proto: JSON.parse('{"__proto__": 1}'),
    });
    expect(JSON.stringify((json as { proto: unknown }).proto)).toBe(
      '{"__proto__":1}',
    );
  });
});
