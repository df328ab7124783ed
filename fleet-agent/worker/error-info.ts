import type { Code, ErrorInfo } from "../../schemas/frames.ts";

/**
 * Describes a thrown value as it travels to the caller. An Error keeps its
 * class name, message, stack and the names of its base classes. Any other
 * thrown value becomes type "Error" with a message describing the value.
 */
export function errorInfoFromThrown(
  thrown: unknown,
  code: Code = "application",
): ErrorInfo {
  if (!(thrown instanceof Error)) {
    return {
      code,
      type: "Error",
      message: describeThrown(thrown),
      stack: "",
      typeChain: ["Error"],
    };
  }

  const nested = nestedRemoteError(thrown);
  if (nested) {
    // A nested call's failure passes through unchanged, so the top caller
    // sees the original type and code (a DeadlockError stays one).
    return {
      code: nested.code,
      type: nested.type,
      message: nested.remoteMessage,
      stack: `${nested.remoteStack}\n    via nested call ${nested.callId}\n${thrown.stack ?? ""}`,
      typeChain: nested.typeChain,
    };
  }

  const chain = typeChainOf(thrown);
  const type = chain[0] ?? "Error";
  return {
    code,
    type,
    message: thrown.message,
    stack: thrown.stack ?? "",
    typeChain: chain,
  };
}

interface NestedFailure {
  code: Code;
  type: string;
  remoteMessage: string;
  remoteStack: string;
  callId: string;
  typeChain: string[];
}

/**
 * Returns the fields of an SDK RemoteError, recognized by shape because the
 * user's bundle carries its own copy of the SDK's classes.
 */
function nestedRemoteError(error: Error): NestedFailure | null {
  const candidate = error as Error & Partial<NestedFailure>;
  if (
    error.name === "RemoteError" &&
    typeof candidate.type === "string" &&
    typeof candidate.code === "string" &&
    typeof candidate.remoteMessage === "string" &&
    Array.isArray(candidate.typeChain)
  ) {
    return {
      code: candidate.code,
      type: candidate.type,
      remoteMessage: candidate.remoteMessage,
      remoteStack: candidate.remoteStack ?? "",
      callId: candidate.callId ?? "",
      typeChain: candidate.typeChain,
    };
  }
  return null;
}

/**
 * Describes a thrown value that is not an Error: its `message` property when
 * it has a string one, else its JSON text, else `String(value)`.
 */
function describeThrown(thrown: unknown): string {
  if (typeof thrown === "object" && thrown !== null) {
    const message = (thrown as { message?: unknown }).message;
    if (typeof message === "string") return message;
    try {
      const json = JSON.stringify(thrown);
      if (json !== undefined) return `non-Error value thrown: ${json}`;
    } catch {
      // A cycle or a bigint: fall back to String().
    }
  }
  return String(thrown);
}

/**
 * Lists the class names of an error from its own class up to `Error`, e.g.
 * ["NetworkError", "Error"]. An anonymous class contributes its `name`
 * property when it is the error's own class, and is skipped otherwise.
 */
export function typeChainOf(error: Error): string[] {
  const chain: string[] = [];
  let proto: unknown = Object.getPrototypeOf(error);

  while (proto !== null && proto !== Object.prototype) {
    const ctor = (proto as { constructor?: { name?: unknown } }).constructor;
    let name = typeof ctor?.name === "string" ? ctor.name : "";
    if (name === "" && chain.length === 0) name = error.name;
    if (name !== "") chain.push(name);
    proto = Object.getPrototypeOf(proto);
  }

  return chain.length > 0 ? chain : [error.name || "Error"];
}
