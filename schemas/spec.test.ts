import { describe, expect, it } from "vitest";
import {
  checkFunctionName,
  formatCallId,
  functionOfCallId,
  ulid,
} from "./spec.ts";

describe("call ids", () => {
  it("carry the function name", () => {
    const id = formatCallId(ulid(), "my-fn_2");
    expect(id).toMatch(/^fc-[0-9A-Z]{26}-my-fn_2$/);
    expect(functionOfCallId(id)).toBe("my-fn_2");
  });

  it.each([
    "",
    "fc-",
    "fc-SHORT-add",
    "xx-00000000000000000000000000-add",
    "fc-00000000000000000000000000-",
    "fc-00000000000000000000000000-bad name",
  ])("rejects malformed id %j", (id) => {
    expect(functionOfCallId(id)).toBeNull();
  });
});

describe("ulid", () => {
  it("sorts by time", () => {
    expect(ulid(1_000) < ulid(2_000)).toBe(true);
    expect(ulid()).toHaveLength(26);
  });
});

describe("function names", () => {
  it.each(["add", "_x", "a-b_c9", "a".repeat(63)])("accepts %j", (name) => {
    expect(checkFunctionName(name)).toBeNull();
  });

  it.each(["", "9lives", "has space", "a".repeat(64), 5])(
    "rejects %j",
    (name) => {
      expect(checkFunctionName(name)).toMatch(/is invalid: use 1-63 letters/);
    },
  );
});
