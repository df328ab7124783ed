import type { ImageSpec } from "../../schemas/spec.ts";

/** Path of the worker runtime inside every replica image. */
export const WORKER_IN_IMAGE = "/opt/chalkcompute/worker.mjs";

/** Build-context name of the worker runtime. */
export const WORKER_CONTEXT_FILE = "chalkcompute-worker.mjs";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Build-context name of the image spec's `index`-th file. */
export function contextFileName(index: number): string {
  return `files/${index}`;
}

/**
 * Turns an image spec into a Dockerfile: FROM the resolved base, ENV,
 * WORKDIR, one COPY per file (modes come from the build context), one RUN
 * per command, and the worker runtime as the last layer. Instructions use
 * the JSON forms, so paths and commands need no shell quoting.
 */
export function renderDockerfile(image: ImageSpec, baseRef: string): string {
  const lines = [`FROM ${baseRef}`];

  for (const [name, value] of Object.entries(image.env)) {
    if (!ENV_NAME.test(name)) {
      throw new TypeError(
        `image env name ${JSON.stringify(name)} is invalid: use letters, ` +
          "digits and '_', not starting with a digit",
      );
    }
    lines.push(`ENV ${name}=${JSON.stringify(value)}`);
  }
  if (image.workdir) lines.push(`WORKDIR ${image.workdir}`);

  image.files.forEach((file, index) => {
    lines.push(`COPY ${JSON.stringify([contextFileName(index), file.path])}`);
  });
  for (const command of image.commands) {
    lines.push(`RUN ${JSON.stringify(["/bin/sh", "-c", command])}`);
  }

  lines.push(`COPY ${JSON.stringify([WORKER_CONTEXT_FILE, WORKER_IN_IMAGE])}`);
  return `${lines.join("\n")}\n`;
}
