import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayHttp } from "../http.ts";
import { FakeGateway } from "../testing/fake-gateway.ts";
import {
  deleteSecret,
  listSecrets,
  parseAssignments,
  setSecret,
} from "./secret-command.ts";

const gateway = new FakeGateway();
const scratch = mkdtempSync(join(tmpdir(), "chalkcompute-secret-"));
let http: GatewayHttp;

beforeAll(async () => {
  await gateway.start();
  http = new GatewayHttp(gateway);
});

afterAll(async () => {
  await gateway.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe("parseAssignments", () => {
  it("parses values and reads @file values as they are", () => {
    const file = join(scratch, "pem");
    writeFileSync(file, "line1\nline2\n");

    expect(parseAssignments(["A=1", "B=x=y", "C=", `D=@${file}`])).toEqual({
      A: "1",
      B: "x=y",
      C: "",
      D: "line1\nline2\n",
    });
  });

  it("rejects an argument without a name and never shows its value", () => {
    const act = () => parseAssignments(["A=1", "sk-live-123"]);
    expect(act).toThrow(
      "argument 2 must be NAME=VALUE or NAME=@file (its value is not shown)",
    );
    expect(act).not.toThrow(/sk-live-123/);
  });

  it("rejects an invalid or repeated name", () => {
    expect(() => parseAssignments(["1A=v"])).toThrow(
      'secret set: variable name "1A" is invalid',
    );
    expect(() => parseAssignments(["A=v", "A=w"])).toThrow(
      "variable A is given twice",
    );
  });

  it("names the variable whose file cannot be read", () => {
    expect(() => parseAssignments(["KEY=@/no/such/file"])).toThrow(
      "reading the value of KEY from /no/such/file failed: ENOENT",
    );
  });
});

describe("secret commands", () => {
  it("sets a group and prints only the names", async () => {
    const lines: string[] = [];
    await setSecret(
      http,
      "prod_postgres",
      ["DATABASE_URL=postgres://u:pw@db/x", "POOL=4"],
      (line) => lines.push(line),
    );

    expect(gateway.secrets.get("prod_postgres")).toEqual({
      DATABASE_URL: "postgres://u:pw@db/x",
      POOL: "4",
    });
    expect(lines).toEqual([
      "stored secret group prod_postgres: DATABASE_URL, POOL (2 variables)",
    ]);
  });

  it("rejects an invalid group before sending", async () => {
    const before = gateway.requests.length;
    await expect(
      setSecret(http, "bad group", ["A=1"], () => {}),
    ).rejects.toThrow('secret group name "bad group" is invalid');
    expect(gateway.requests.length).toBe(before);
  });

  it("lists groups with names, never values", async () => {
    gateway.secrets.set("api", { TOKEN: "t0ps3cret" });
    const lines: string[] = [];

    await listSecrets(http, (line) => lines.push(line));

    expect(lines[0]).toMatch(/^GROUP\s+UPDATED\s+KEYS$/);
    expect(
      lines.some((l) => /^api\s+2023-11-14T22:13:20\.000Z\s+TOKEN$/.test(l)),
    ).toBe(true);
    expect(lines.join("\n")).not.toContain("t0ps3cret");
  });

  it("deletes a group and reports a missing one", async () => {
    gateway.secrets.set("old", { A: "1" });
    const lines: string[] = [];

    await deleteSecret(http, "old", (line) => lines.push(line));

    expect(gateway.secrets.has("old")).toBe(false);
    expect(lines).toEqual(["deleted secret group old"]);
    await expect(deleteSecret(http, "old", () => {})).rejects.toThrow(
      /HTTP 404: secret group old not found/,
    );
  });
});
