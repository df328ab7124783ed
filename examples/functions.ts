/**
 * Small remote functions: arithmetic, errors, a generator that fails midway
 * and a function that reads a secret from its environment.
 *
 * This module only defines functions. Every replica imports it again to find
 * its handler, so calls belong in another module (see main.ts).
 */
import * as chalkcompute from "chalkcompute";

/** Adds two numbers. The handler's own name, `add`, becomes the function name. */
export const add = chalkcompute.function(function add(x: number, y: number) {
  return x + y;
});

/**
 * Divides `a` by `b`. JavaScript returns Infinity for a division by zero, so
 * the handler throws a RangeError itself; the caller receives it as a
 * `RemoteError` of type "RangeError".
 */
export const divide = chalkcompute.function(function divide(
  a: number,
  b: number,
) {
  if (b === 0) throw new RangeError("division by zero");
  return a / b;
});

/** An error class of the user's own; its name travels with the error. */
export class ValidationError extends Error {
  override name = "ValidationError";
}

/**
 * Yields two values, then throws. The caller receives both values before its
 * loop rejects with a `RemoteError` of type "ValidationError".
 */
export const fragileGen = chalkcompute.function(async function* fragileGen() {
  yield "ok-1";
  yield "ok-2";
  throw new ValidationError("something went wrong");
});

/** Raised when a function needs an environment variable that is not set. */
export class MissingSecretError extends Error {
  override name = "MissingSecretError";
}

/**
 * Returns EXAMPLE_API_KEY from the replica's environment, masked after its
 * first three characters. The agent sets the variable; the caller never
 * sends it, and the masked form keeps it out of logs and output.
 */
export const readSecret = chalkcompute.function(
  { secrets: [chalkcompute.Secret.fromEnv("EXAMPLE_API_KEY")] },
  function readSecret() {
    const key = process.env.EXAMPLE_API_KEY;
    if (!key) {
      throw new MissingSecretError(
        "EXAMPLE_API_KEY is not set in the replica; set it in the environment of the process that deploys",
      );
    }
    return `${key.slice(0, 3)}***`;
  },
);
