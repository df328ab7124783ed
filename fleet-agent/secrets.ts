/**
 * A replica's secret environment: fetched from the gateway right before the
 * replica starts, passed to it as environment variables, and masked in
 * every output line the agent captures. Values are never logged.
 */

/** Replacement of a secret value in captured output. */
export const REDACTED = "***";

/** Values shorter than this are not masked: they would hide ordinary text. */
const MIN_REDACTED_LENGTH = 4;

/** Options of `fetchSecretEnv`. */
export interface SecretFetchOptions {
  gateway: URL;
  token: string;
  functionName: string;
  version: number;
  fetch?: typeof fetch;
}

/**
 * Fetches `GET /v1/agent/functions/{name}/secrets?version=V` and returns the
 * variables, or an empty object when the gateway answers 404 (no secrets).
 */
export async function fetchSecretEnv(
  options: SecretFetchOptions,
): Promise<Record<string, string>> {
  const url = new URL(
    `/v1/agent/functions/${encodeURIComponent(options.functionName)}/secrets`,
    options.gateway,
  );
  url.searchParams.set("version", String(options.version));

  const response = await (options.fetch ?? fetch)(url, {
    headers: { authorization: `Bearer ${options.token}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status === 404) return {};
  if (!response.ok) {
    throw new Error(
      `fetching the secrets of ${options.functionName} version ` +
        `${options.version} failed with HTTP ${response.status}`,
    );
  }

  const body = (await response.json()) as { env?: unknown };
  return checkEnv(body.env, options.functionName);
}

function checkEnv(env: unknown, functionName: string): Record<string, string> {
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw new Error(
      `the secrets response of ${functionName} has no "env" object`,
    );
  }
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string") {
      throw new Error(
        `secret ${name} of ${functionName} is not a string in the response`,
      );
    }
    result[name] = value;
  }
  return result;
}

/**
 * Returns a function that replaces every occurrence of the given values in
 * a line with `***`. Longer values are replaced first, so a value that
 * contains another is masked whole.
 */
export function secretRedactor(values: string[]): (line: string) => string {
  const masked = [...new Set(values)]
    .filter((value) => value.length >= MIN_REDACTED_LENGTH)
    .sort((a, b) => b.length - a.length);
  if (masked.length === 0) return (line) => line;

  return (line) => {
    let result = line;
    for (const value of masked) {
      if (result.includes(value)) result = result.split(value).join(REDACTED);
    }
    return result;
  };
}
