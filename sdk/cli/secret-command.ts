/**
 * `chalkcompute secret set|list|delete`: manages the secret groups stored in
 * the gateway. Values are sent once and never printed.
 */
import { readFileSync } from "node:fs";
import type { GatewayHttp } from "../http.ts";
import { checkSecretGroup, checkVariableName } from "../secret.ts";

/** One group as `GET /v1/secrets` lists it, without values. */
export interface SecretGroupInfo {
  name: string;
  keys: string[];
  updatedAt: string | number;
}

/**
 * Parses `NAME=VALUE` and `NAME=@file` arguments into variables; a value
 * starting with "@" is read from that file, byte for byte. Error messages
 * never contain a value.
 */
export function parseAssignments(
  assignments: string[],
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [i, assignment] of assignments.entries()) {
    const equals = assignment.indexOf("=");
    if (equals <= 0) {
      throw new Error(
        `argument ${i + 1} must be NAME=VALUE or NAME=@file (its value is not shown)`,
      );
    }

    const name = assignment.slice(0, equals);
    checkVariableName(name, "secret set");
    if (name in values) {
      throw new Error(`variable ${name} is given twice; give each name once`);
    }
    const raw = assignment.slice(equals + 1);
    values[name] = raw.startsWith("@")
      ? readValueFile(name, raw.slice(1), readFile)
      : raw;
  }
  return values;
}

/** Replaces the group `group` with `values`; prints the names only. */
export async function setSecret(
  http: GatewayHttp,
  group: string,
  assignments: string[],
  print: (line: string) => void,
): Promise<void> {
  checkGroup(group);
  if (assignments.length === 0) {
    throw new Error(
      "secret set needs at least one NAME=VALUE, like `secret set prod_postgres DATABASE_URL=...`",
    );
  }
  const values = parseAssignments(assignments);

  await http.request("PUT", `/v1/secrets/${encodeURIComponent(group)}`, {
    json: { values },
  });
  const names = Object.keys(values);
  print(
    `stored secret group ${group}: ${names.join(", ")} (${names.length} variable${names.length === 1 ? "" : "s"})`,
  );
}

/** Prints each group with its variable names and time of the last change. */
export async function listSecrets(
  http: GatewayHttp,
  print: (line: string) => void,
): Promise<void> {
  const body = await http.request<{ groups?: SecretGroupInfo[] }>(
    "GET",
    "/v1/secrets",
  );
  const groups = body?.groups ?? [];
  if (groups.length === 0) {
    print(
      "no secret groups; create one with `npx chalkcompute secret set GROUP NAME=VALUE`",
    );
    return;
  }

  const width = Math.max(5, ...groups.map((g) => g.name.length));
  print(`${"GROUP".padEnd(width)}  ${"UPDATED".padEnd(24)}  KEYS`);
  for (const group of groups) {
    const updated = formatTime(group.updatedAt).padEnd(24);
    print(`${group.name.padEnd(width)}  ${updated}  ${group.keys.join(", ")}`);
  }
}

/** Deletes the group `group`. */
export async function deleteSecret(
  http: GatewayHttp,
  group: string,
  print: (line: string) => void,
): Promise<void> {
  checkGroup(group);
  await http.request("DELETE", `/v1/secrets/${encodeURIComponent(group)}`);
  print(`deleted secret group ${group}`);
}

function checkGroup(group: string): void {
  const problem = checkSecretGroup(group);
  if (problem) throw new Error(problem);
}

function readValueFile(
  name: string,
  path: string,
  readFile: (path: string) => string,
): string {
  try {
    return readFile(path);
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    throw new Error(
      `reading the value of ${name} from ${path} failed: ${code}`,
    );
  }
}

function formatTime(value: string | number): string {
  if (typeof value === "number") return new Date(value).toISOString();
  return String(value ?? "");
}
