import { isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Returns the absolute path of the module that called `callee`, read from a
 * V8 stack trace, or "" when the caller is not a file (REPL, eval, data: URL).
 * Frames of `callee` and everything it called are left out, so the SDK finds
 * the user's module even when both are bundled into one file.
 */
export function callerModulePath(
  callee: (...args: never[]) => unknown,
): string {
  return callerSite(callee).path;
}

/**
 * Returns the module path and the `line:column` of the call to `callee`, as
 * `callerModulePath` finds them; `location` is "" when unknown.
 */
export function callerSite(callee: (...args: never[]) => unknown): {
  path: string;
  location: string;
} {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 10;
  try {
    Error.captureStackTrace(holder, callee);
  } finally {
    Error.stackTraceLimit = limit;
  }

  const frames = (holder.stack ?? "").split("\n").slice(1);
  for (const frame of frames) {
    const path = pathOfFrame(frame);
    if (path !== null) {
      const location = /:(\d+:\d+)\)?$/.exec(frame.trim())?.[1] ?? "";
      return { path, location };
    }
  }
  return { path: "", location: "" };
}

/**
 * Returns the file path of one `    at ...` line of a V8 stack trace, or null
 * when the frame has no file location (node: internals, native code).
 */
export function pathOfFrame(frame: string): string | null {
  const text = frame.trim();
  if (!text.startsWith("at ")) return null;

  let location = text.slice(3).trim();
  if (location.endsWith(")")) {
    const open = location.lastIndexOf("(");
    if (open === -1) return null;
    location = location.slice(open + 1, -1);
  } else if (location.startsWith("async ")) {
    location = location.slice("async ".length);
  }

  const file = location.replace(/:\d+:\d+$/, "").replace(/:\d+$/, "");
  return toAbsolutePath(file);
}

function toAbsolutePath(file: string): string | null {
  if (file.startsWith("file://")) {
    const url = new URL(file);
    url.search = "";
    url.hash = "";
    return fileURLToPath(url);
  }
  if (isAbsolute(file)) return file.replace(/[?#].*$/, "");
  return null;
}
