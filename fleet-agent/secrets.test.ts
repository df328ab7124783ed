import { describe, expect, it } from "vitest";
import { fetchSecretEnv, secretRedactor } from "./secrets.ts";

describe("secretRedactor", () => {
  it("masks every value, longest first", () => {
    const redact = secretRedactor(["hunter22", "hunter22-extended", "ab"]);
    expect(redact("key=hunter22-extended and hunter22 twice hunter22")).toBe(
      "key=*** and *** twice ***",
    );
    // Values under four characters would mask ordinary text.
    expect(redact("ab cd")).toBe("ab cd");
  });
});

describe("fetchSecretEnv", () => {
  const options = {
    gateway: new URL("http://127.0.0.1:9"),
    token: "t",
    functionName: "fn",
    version: 3,
  };

  it("asks for the version's env with the agent token", async () => {
    let seen: Request | undefined;
    const env = await fetchSecretEnv({
      ...options,
      fetch: async (input, init) => {
        seen = new Request(input, init);
        return Response.json({ env: { API_KEY: "v" } });
      },
    });
    expect(env).toEqual({ API_KEY: "v" });
    expect(seen?.url).toBe(
      "http://127.0.0.1:9/v1/agent/functions/fn/secrets?version=3",
    );
    expect(seen?.headers.get("authorization")).toBe("Bearer t");
  });

  it("treats 404 as no secrets and other failures as errors", async () => {
    const status = (code: number) => async () =>
      new Response("{}", { status: code });
    await expect(
      fetchSecretEnv({ ...options, fetch: status(404) }),
    ).resolves.toEqual({});
    await expect(
      fetchSecretEnv({ ...options, fetch: status(500) }),
    ).rejects.toThrow(/secrets of fn version 3 failed with HTTP 500/);
  });
});
