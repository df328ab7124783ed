import { describe, expect, it } from "vitest";
import { prepareCompute } from "./compute-spec.ts";
import { DeployError, OptionError } from "./errors.ts";
import type { RegisteredFunction } from "./runtime-hooks.ts";
import { checkSecretGroup, Secret } from "./secret.ts";

function fn(secrets: Secret[]): RegisteredFunction {
  return {
    name: "embed",
    handler: () => 1,
    generator: false,
    modulePath: "/m.ts",
    concurrency: 1,
    timeoutSeconds: 1,
    compute: { secrets },
  };
}

describe("Secret", () => {
  it("keeps variable names of fromEnv, once each", () => {
    const secret = Secret.fromEnv("HF_TOKEN", "OTHER", "HF_TOKEN");
    expect(secret.kind).toBe("env");
    expect(secret.names).toEqual(["HF_TOKEN", "OTHER"]);
  });

  it("rejects fromEnv without names or with an invalid name", () => {
    expect(() => Secret.fromEnv()).toThrow(OptionError);
    expect(() => Secret.fromEnv()).toThrow(
      "Secret.fromEnv needs at least one variable name",
    );
    expect(() => Secret.fromEnv("HF-TOKEN")).toThrow(
      'Secret.fromEnv: variable name "HF-TOKEN" is invalid',
    );
  });

  it("names a group with fromIntegration", () => {
    expect(Secret.fromIntegration("prod_postgres").names).toEqual([
      "prod_postgres",
    ]);
    expect(() => Secret.fromIntegration("bad group")).toThrow(
      'Secret.fromIntegration: secret group name "bad group" is invalid',
    );
  });

  it("checks group names", () => {
    expect(checkSecretGroup("a.b-c_1")).toBeNull();
    expect(checkSecretGroup("x".repeat(64))).toContain("is invalid");
    expect(checkSecretGroup("")).toContain("is invalid");
  });
});

describe("prepareCompute secrets", () => {
  it("reads fromEnv values into the function's env group", () => {
    const prepared = prepareCompute(
      fn([
        Secret.fromIntegration("prod_postgres"),
        Secret.fromEnv("HF_TOKEN"),
        Secret.fromEnv("EMPTY"),
      ]),
      { HF_TOKEN: "hf_secret", EMPTY: "" },
    );

    expect(prepared.fields.secrets).toEqual(["prod_postgres", "env.embed"]);
    expect(prepared.envGroup).toEqual({
      name: "env.embed",
      values: { HF_TOKEN: "hf_secret", EMPTY: "" },
    });
  });

  it("keeps groups only, without an env group", () => {
    const prepared = prepareCompute(fn([Secret.fromIntegration("db")]), {});
    expect(prepared.fields.secrets).toEqual(["db"]);
    expect(prepared.envGroup).toBeUndefined();
  });

  it("rejects a variable that is not set, naming it", () => {
    const act = () => prepareCompute(fn([Secret.fromEnv("HF_TOKEN")]), {});
    expect(act).toThrow(DeployError);
    expect(act).toThrow(
      'environment variable HF_TOKEN is not set; function "embed" reads it with Secret.fromEnv("HF_TOKEN")',
    );
  });
});

describe("Secret.fromIntegration and env groups", () => {
  it("rejects another function's env group", () => {
    expect(() => Secret.fromIntegration("env.other")).toThrow(
      /group "env.other" is reserved for one function's Secret.fromEnv values/,
    );
  });
});
