import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { callerModulePath, pathOfFrame } from "./module-path.ts";

describe("pathOfFrame", () => {
  it.each([
    ["    at file:///app/jobs/add.ts:3:20", "/app/jobs/add.ts"],
    ["    at Object.<anonymous> (/app/jobs/add.ts:3:20)", "/app/jobs/add.ts"],
    ["    at async file:///app/jobs/add.ts:9:1", "/app/jobs/add.ts"],
    [
      "    at file:///app/jobs/add.ts?tsx-namespace=1712:3:20",
      "/app/jobs/add.ts",
    ],
    ["    at run (file:///app/a%20b/x.mjs:1:2)", "/app/a b/x.mjs"],
  ])("reads %s", (frame, path) => {
    expect(pathOfFrame(frame)).toBe(path);
  });

  it.each([
    "    at ModuleJob.run (node:internal/modules/esm/module_job:234:25)",
    "    at new Promise (<anonymous>)",
    "    at eval (eval at <anonymous> (x), <anonymous>:1:1)",
    "Error: boom",
  ])("returns null for %s", (frame) => {
    expect(pathOfFrame(frame)).toBeNull();
  });
});

describe("callerModulePath", () => {
  it("returns the module that called the given function", () => {
    function define() {
      return callerModulePath(define);
    }
    expect(define()).toBe(fileURLToPath(import.meta.url));
  });
});
