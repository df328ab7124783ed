/**
 * Turns a function's compute options into FunctionSpec fields at deploy
 * time: reads the image's local files and the `Secret.fromEnv` variables,
 * then uploads both before the spec is deployed.
 */
import type { FunctionSpec } from "../schemas/spec.ts";
import { DeployError } from "./errors.ts";
import type { GatewayHttp } from "./http.ts";
import type { RegisteredFunction } from "./runtime-hooks.ts";
import { Secret } from "./secret.ts";

/** Spec fields of one function's compute options, with what must be uploaded first. */
export interface PreparedCompute {
  fields: Pick<
    FunctionSpec,
    "image" | "cpu" | "memoryBytes" | "gpu" | "secrets" | "volumes"
  >;
  /** Image file contents by sha256, uploaded to `/v1/bundles/{sha256}`. */
  blobs: Map<string, Uint8Array>;
  /** The `Secret.fromEnv` group of the function and its values, if any. */
  envGroup?: { name: string; values: Record<string, string> };
}

/**
 * Reads everything a function's compute options need from the local
 * machine. Throws before anything is uploaded when a variable named by
 * `Secret.fromEnv` is not set or an image file cannot be read.
 */
export function prepareCompute(
  fn: RegisteredFunction,
  env: Record<string, string | undefined> = process.env,
): PreparedCompute {
  const compute = fn.compute ?? {};
  const prepared: PreparedCompute = { fields: {}, blobs: new Map() };

  if (compute.image) {
    const { spec, files } = compute.image.resolve();
    prepared.fields.image = spec;
    for (const file of files) prepared.blobs.set(file.hash, file.content);
  }
  if (compute.cpu !== undefined) prepared.fields.cpu = compute.cpu;
  if (compute.memoryBytes !== undefined) {
    prepared.fields.memoryBytes = compute.memoryBytes;
  }
  if (compute.gpu) prepared.fields.gpu = { ...compute.gpu };
  if (compute.volumes) {
    prepared.fields.volumes = compute.volumes.map((v) => ({ ...v }));
  }
  if (compute.secrets?.length) {
    const { groups, envGroup } = secretGroups(fn.name, compute.secrets, env);
    prepared.fields.secrets = groups;
    if (envGroup) prepared.envGroup = envGroup;
  }
  return prepared;
}

/** Uploads the image files and `Secret.fromEnv` groups of prepared functions. */
export async function uploadCompute(
  http: GatewayHttp,
  prepared: PreparedCompute[],
  progress: (message: string) => void,
): Promise<void> {
  const blobs = new Map<string, Uint8Array>();
  for (const entry of prepared) {
    for (const [hash, content] of entry.blobs) blobs.set(hash, content);
  }
  if (blobs.size > 0) progress(`uploading ${blobs.size} image file(s)`);
  for (const [hash, content] of blobs) {
    await http.request("PUT", `/v1/bundles/${hash}`, {
      body: content,
      contentType: "application/octet-stream",
    });
  }

  for (const { envGroup } of prepared) {
    if (!envGroup) continue;
    const names = Object.keys(envGroup.values).join(", ");
    progress(`storing secret group ${envGroup.name} (${names})`);
    await http.request(
      "PUT",
      `/v1/secrets/${encodeURIComponent(envGroup.name)}`,
      { json: { values: envGroup.values } },
    );
  }
}

/**
 * Returns the group names for the spec, in the order of `secrets` (later
 * groups win on the agent), with every `fromEnv` variable in one group
 * placed where the first `fromEnv` appears.
 */
function secretGroups(
  functionName: string,
  secrets: Secret[],
  env: Record<string, string | undefined>,
): Pick<PreparedCompute, "envGroup"> & { groups: string[] } {
  const groups: string[] = [];
  const values: Record<string, string> = {};
  const envGroupName = Secret.envGroupOf(functionName);

  for (const secret of secrets) {
    if (secret.kind === "group") {
      const group = secret.names[0] ?? "";
      if (!groups.includes(group)) groups.push(group);
      continue;
    }
    for (const name of secret.names) {
      const value = env[name];
      if (value === undefined) {
        throw new DeployError(
          `environment variable ${name} is not set; function ` +
            `${JSON.stringify(functionName)} reads it with ` +
            `Secret.fromEnv("${name}"). Set it in the environment that deploys`,
        );
      }
      values[name] = value;
    }
    if (!groups.includes(envGroupName)) groups.push(envGroupName);
  }

  const hasEnv = groups.includes(envGroupName);
  return {
    groups,
    envGroup: hasEnv ? { name: envGroupName, values } : undefined,
  };
}
