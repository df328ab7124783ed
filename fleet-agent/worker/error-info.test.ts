import { describe, expect, it } from "vitest";
import { errorInfoFromThrown, typeChainOf } from "./error-info.ts";

class NetworkError extends Error {}
class TimeoutError extends NetworkError {
  override name = "TimeoutError";
}

describe("errorInfoFromThrown", () => {
  it("keeps a built-in error's type", () => {
    const info = errorInfoFromThrown(new RangeError("too big"));
    expect(info.code).toBe("application");
    expect(info.type).toBe("RangeError");
    expect(info.message).toBe("too big");
    expect(info.stack).toContain("too big");
    expect(info.typeChain).toEqual(["RangeError", "Error"]);
  });

  it("walks a user class chain", () => {
    const info = errorInfoFromThrown(new TimeoutError("slow"));
    expect(info.type).toBe("TimeoutError");
    expect(info.typeChain).toEqual(["TimeoutError", "NetworkError", "Error"]);
  });

  it("reports a thrown string as Error", () => {
    const info = errorInfoFromThrown("boom");
    expect(info.type).toBe("Error");
    expect(info.message).toBe("boom");
    expect(info.stack).toBe("");
    expect(info.typeChain).toEqual(["Error"]);
  });

  it("reports a thrown object as JSON", () => {
    const info = errorInfoFromThrown({ reason: 1 });
    expect(info.message).toBe('non-Error value thrown: {"reason":1}');
  });

  it("uses a thrown object's message", () => {
    const info = errorInfoFromThrown({ code: "E_OBJ", message: "obj msg" });
    expect(info.message).toBe("obj msg");
  });

  it("falls back to String() for a cyclic object", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(errorInfoFromThrown(cyclic).message).toBe("[object Object]");
  });

  it("takes the given code", () => {
    expect(errorInfoFromThrown(new Error("x"), "internal").code).toBe(
      "internal",
    );
  });
});

describe("typeChainOf", () => {
  it("uses name for an anonymous class", () => {
    const Anonymous = (() => class extends Error {})();
    Object.defineProperty(Anonymous, "name", { value: "" });
    const error = new Anonymous("x");
    error.name = "CustomName";
    expect(typeChainOf(error)).toEqual(["CustomName", "Error"]);
  });

  it("passes a nested call's failure through", () => {
    const nested = Object.assign(new Error("DeadlockError: needs key k"), {
      name: "RemoteError",
      type: "DeadlockError",
      code: "failedPrecondition",
      remoteMessage: "needs key k",
      remoteStack: "at inner",
      callId: "fc-inner",
      typeChain: ["DeadlockError"],
    });
    const info = errorInfoFromThrown(nested);
    expect(info.type).toBe("DeadlockError");
    expect(info.code).toBe("failedPrecondition");
    expect(info.message).toBe("needs key k");
    expect(info.typeChain).toEqual(["DeadlockError"]);
    expect(info.stack).toContain("via nested call fc-inner");
  });
});
