/**
 * Secrets a function receives as environment variables: values read from
 * the deployer's environment at deploy time, or a named group stored in the
 * gateway with `npx chalkcompute secret set`.
 */
import { OptionError } from "./errors.ts";

/** Rule for secret group names: 1-63 letters, digits, `_`, `-` or `.`. */
export const SECRET_GROUP_PATTERN = /^[A-Za-z0-9_.-]{1,63}$/;

/** Rule for environment variable names. */
export const VARIABLE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Prefix of the group name for a function's `Secret.fromEnv` values. */
export const ENV_GROUP_PREFIX = "env.";

/**
 * A source of secret environment variables for `function({ secrets })`.
 *
 * @example
 * chalkcompute.function(
 *   { secrets: [Secret.fromEnv("HF_TOKEN"), Secret.fromIntegration("db")] },
 *   async function embed(text: string) { ... },
 * );
 */
export class Secret {
  private constructor(
    /** "env" for values read at deploy time, "group" for a stored group. */
    readonly kind: "env" | "group",
    /** Variable names (kind "env") or the group name (kind "group"). */
    readonly names: readonly string[],
  ) {}

  /**
   * Reads the named variables from the deployer's environment when the
   * function is deployed and stores them in the group `env.<functionName>`.
   * A variable that is not set fails the deploy.
   */
  static fromEnv(...names: string[]): Secret {
    if (names.length === 0) {
      throw new OptionError(
        'Secret.fromEnv needs at least one variable name, like Secret.fromEnv("HF_TOKEN")',
      );
    }
    for (const name of names) checkVariableName(name, "Secret.fromEnv");

    const unique = [...new Set(names)];
    return new Secret("env", unique);
  }

  /**
   * Names a secret group stored in the gateway, created with
   * `npx chalkcompute secret set GROUP NAME=VALUE`.
   */
  static fromIntegration(group: string): Secret {
    const problem = checkSecretGroup(group);
    if (problem) throw new OptionError(`Secret.fromIntegration: ${problem}`);
    if (group.startsWith(ENV_GROUP_PREFIX)) {
      throw new OptionError(
        `Secret.fromIntegration: group ${JSON.stringify(group)} is reserved ` +
          `for one function's Secret.fromEnv values; name a group without the "${ENV_GROUP_PREFIX}" prefix`,
      );
    }
    return new Secret("group", [group]);
  }

  /** Name of the group holding the `fromEnv` values of `functionName`. */
  static envGroupOf(functionName: string): string {
    return `${ENV_GROUP_PREFIX}${functionName}`;
  }
}

/** Returns a message for an invalid secret group name, or null. */
export function checkSecretGroup(group: unknown): string | null {
  if (typeof group !== "string" || !SECRET_GROUP_PATTERN.test(group)) {
    return (
      `secret group name ${describeValue(group)} is invalid: use 1-63 ` +
      "letters, digits, '_', '-' or '.'"
    );
  }
  return null;
}

/** Throws OptionError for an invalid environment variable name. */
export function checkVariableName(name: unknown, where: string): void {
  if (typeof name !== "string" || !VARIABLE_NAME_PATTERN.test(name)) {
    throw new OptionError(
      `${where}: variable name ${describeValue(name)} is invalid: use ` +
        "letters, digits and '_', not starting with a digit",
    );
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return "undefined";
  return JSON.stringify(value) ?? String(value);
}
