import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { freshName, makeSpec } from "../durable-objects/test-kit.ts";
import { createApp } from "./app.ts";
import { parseSecretValues } from "./secrets.ts";
import { api, postJson, TOKEN, uploadBundle } from "./test-client.ts";

const VALUE = "pg://user:hunter2-do-not-leak@db";
const OTHER_VALUE = "other-value-do-not-leak";

function putGroup(group: string, values: unknown): Promise<Response> {
  return api(`/v1/secrets/${group}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ values }),
  });
}

/** Reads a body as text and checks that no secret value is in it. */
async function bodyWithoutValues(response: Response): Promise<string> {
  const text = await response.text();
  expect(text).not.toContain(VALUE);
  expect(text).not.toContain(OTHER_VALUE);
  return text;
}

async function deployWithSecrets(name: string, secrets: string[]) {
  const bundleHash = await uploadBundle(`// ${name}`);
  const spec = makeSpec(name, { bundleHash, secrets });
  return postJson("/v1/deploy", { functions: [spec] });
}

describe("secret routes", () => {
  it("stores, lists and deletes a group without values", async () => {
    const group = freshName("grp");

    const put = await putGroup(group, { DATABASE_URL: VALUE });
    expect(put.status).toBe(200);
    const putBody = JSON.parse(await bodyWithoutValues(put));
    expect(putBody).toMatchObject({ name: group, keys: ["DATABASE_URL"] });

    const list = await api("/v1/secrets");
    expect(list.status).toBe(200);
    const listBody = JSON.parse(await bodyWithoutValues(list)) as {
      groups: { name: string; keys: string[]; updatedAt: string }[];
    };
    const mine = listBody.groups.find((g) => g.name === group);
    expect(mine?.keys).toEqual(["DATABASE_URL"]);
    expect(Date.parse(mine?.updatedAt ?? "")).toBeGreaterThan(0);

    const removed = await api(`/v1/secrets/${group}`, { method: "DELETE" });
    expect(removed.status).toBe(200);
    await bodyWithoutValues(removed);
    const again = await api(`/v1/secrets/${group}`, { method: "DELETE" });
    expect(again.status).toBe(404);
  });

  it("rejects invalid names without echoing values", async () => {
    const badGroup = await putGroup("bad group!", { A: VALUE });
    expect(badGroup.status).toBe(400);
    await bodyWithoutValues(badGroup);

    const badName = await putGroup(freshName("grp"), { "1BAD": VALUE });
    expect(badName.status).toBe(400);
    const text = await bodyWithoutValues(badName);
    expect(text).toContain("1BAD");

    const notString = await putGroup(freshName("grp"), { A: 5 });
    expect(notString.status).toBe(400);
    expect(await notString.text()).toContain("value of A must be a string");
  });

  it("answers 500 naming the binding when the key is missing", async () => {
    const app = createApp();
    const request = new Request(`https://gateway.test/v1/secrets/g1`, {
      method: "PUT",
      headers: {
        Authorization: `Bearer ${TOKEN}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ values: { A: VALUE } }),
    });
    const response = await app.fetch(request, {
      ...env,
      CHALKCOMPUTE_SECRETS_KEY: undefined,
    });
    expect(response.status).toBe(500);
    const text = await bodyWithoutValues(response);
    expect(text).toContain("CHALKCOMPUTE_SECRETS_KEY");
    expect(text).toContain("wrangler secret put");
  });
});

describe("deploy with secrets", () => {
  it("rejects a group that does not exist", async () => {
    const group = freshName("grp");
    const response = await deployWithSecrets(freshName(), [group]);
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text).toContain(`secret group ${group}`);
    expect(text).toContain(`npx chalkcompute secret set ${group} NAME=value`);
  });

  it("accepts an existing group and the env group form", async () => {
    const name = freshName();
    const group = freshName("grp");
    await putGroup(group, { A: VALUE });
    await putGroup(`env.${name}`, { B: OTHER_VALUE });

    const response = await deployWithSecrets(name, [group, `env.${name}`]);
    expect(response.status).toBe(200);
    await bodyWithoutValues(response);

    const status = await api(`/v1/functions/${name}`);
    const text = await bodyWithoutValues(status);
    expect(JSON.parse(text).spec.secrets).toEqual([group, `env.${name}`]);
  });
});

describe("GET /v1/agent/functions/{name}/secrets", () => {
  it("returns the union of the version's groups", async () => {
    const name = freshName();
    const first = freshName("grp");
    const second = freshName("grp");
    await putGroup(first, { DATABASE_URL: VALUE, SHARED: "first" });
    await putGroup(second, { SHARED: "second" });
    expect((await deployWithSecrets(name, [first, second])).status).toBe(200);

    const response = await api(`/v1/agent/functions/${name}/secrets?version=1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      env: { DATABASE_URL: VALUE, SHARED: "second" },
    });
  });

  it("returns only the groups the version names", async () => {
    const name = freshName();
    const group = freshName("grp");
    await putGroup(group, { A: VALUE });
    await deployWithSecrets(name, [group]);
    await deployWithSecrets(name, []);

    const v1 = await api(`/v1/agent/functions/${name}/secrets?version=1`);
    const v2 = await api(`/v1/agent/functions/${name}/secrets?version=2`);
    expect(await v1.json()).toEqual({ env: { A: VALUE } });
    expect(await v2.json()).toEqual({ env: {} });
  });

  it("answers 404 for an unknown function or version", async () => {
    const unknown = await api(
      `/v1/agent/functions/${freshName()}/secrets?version=1`,
    );
    expect(unknown.status).toBe(404);

    const name = freshName();
    await deployWithSecrets(name, []);
    const noVersion = await api(
      `/v1/agent/functions/${name}/secrets?version=7`,
    );
    expect(noVersion.status).toBe(404);
    const badVersion = await api(`/v1/agent/functions/${name}/secrets`);
    expect(badVersion.status).toBe(400);
  });

  it("refuses to delete a group a deployed function names", async () => {
    const name = freshName();
    const group = freshName("grp");
    await putGroup(group, { A: VALUE });
    await deployWithSecrets(name, [group]);

    const response = await api(`/v1/secrets/${group}`, { method: "DELETE" });
    expect(response.status).toBe(409);
    const text = await bodyWithoutValues(response);
    expect(text).toContain(name);
  });

  it("answers 412 naming a group deleted after a redeploy", async () => {
    const name = freshName();
    const group = freshName("grp");
    await putGroup(group, { A: VALUE });
    await deployWithSecrets(name, [group]);
    // Version 2 drops the group, so it may go; version 1 still names it.
    await deployWithSecrets(name, []);
    const deleted = await api(`/v1/secrets/${group}`, { method: "DELETE" });
    expect(deleted.status).toBe(200);

    const response = await api(`/v1/agent/functions/${name}/secrets?version=1`);
    expect(response.status).toBe(412);
    const text = await bodyWithoutValues(response);
    expect(text).toContain(group);
  });
});

describe("parseSecretValues", () => {
  it("rejects an empty or oversized group", () => {
    expect(parseSecretValues({ values: {} })).toHaveProperty("problems");
    expect(parseSecretValues({ values: [] })).toHaveProperty("problems");
    const big = { values: { A: "x".repeat(70 * 1024) } };
    expect(parseSecretValues(big)).toEqual({
      problems: [expect.stringContaining("at most 65536 bytes")],
    });
  });
});

describe("secret logging", () => {
  it("writes no value to the console", async () => {
    const written: string[] = [];
    const spies = (["log", "info", "warn", "error"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        written.push(args.map(String).join(" "));
      }),
    );
    try {
      const name = freshName();
      const group = freshName("grp");
      await putGroup(group, { A: VALUE });
      await putGroup("bad group", { A: OTHER_VALUE });
      await deployWithSecrets(name, [group]);
      await api(`/v1/agent/functions/${name}/secrets?version=1`);
      await api("/v1/secrets");
      await api(`/v1/secrets/${group}`, { method: "DELETE" });
    } finally {
      for (const spy of spies) spy.mockRestore();
    }

    expect(written.some((line) => line.includes("secret group stored"))).toBe(
      true,
    );
    for (const line of written) {
      expect(line).not.toContain(VALUE);
      expect(line).not.toContain(OTHER_VALUE);
    }
  });
});
