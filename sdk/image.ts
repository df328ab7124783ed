/**
 * The container image a function runs in: a base reference plus build
 * steps. Each builder call returns a new Image and validates its input at
 * once; local files are read only when the function is deployed.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix, resolve } from "node:path";
import type { ImageSpec } from "../schemas/spec.ts";
import { OptionError } from "./errors.ts";
import { replicaChannel } from "./runtime-hooks.ts";
import { checkVariableName } from "./secret.ts";

/** A local file or folder to copy into the image. */
interface LocalSource {
  kind: "file" | "dir";
  /** Absolute path on the deployer's machine. */
  localPath: string;
  /** Absolute path inside the image. */
  remotePath: string;
}

/** One file of an image, read from disk, with the content to upload. */
export interface ImageFile {
  hash: string;
  path: string;
  mode: number;
  content: Uint8Array;
}

interface ImageState {
  base: string;
  commands: readonly string[];
  env: Readonly<Record<string, string>>;
  workdir: string | undefined;
  sources: readonly LocalSource[];
}

const MAX_REFERENCE_LENGTH = 255;

/**
 * A container image for `function({ image })`. Without one, a function runs
 * in the default Node image that carries the worker runtime.
 *
 * @example
 * const image = chalkcompute.Image.base("node:20-bookworm")
 *   .runCommands("apt-get update", "apt-get install -y ffmpeg")
 *   .env({ NODE_ENV: "production" })
 *   .workdir("/app")
 *   .addLocalFile("./model.json", "/app/model.json");
 */
export class Image {
  private constructor(private readonly state: ImageState) {}

  /** Starts an image from a base reference such as "node:20-bookworm". */
  static base(reference: string): Image {
    if (
      typeof reference !== "string" ||
      reference.trim() === "" ||
      /\s/.test(reference) ||
      reference.length > MAX_REFERENCE_LENGTH
    ) {
      throw new OptionError(
        `Image.base: reference ${JSON.stringify(reference)} is invalid: ` +
          `use an image name like "node:20-bookworm", without spaces, at ` +
          `most ${MAX_REFERENCE_LENGTH} characters`,
      );
    }
    return new Image({
      base: reference,
      commands: [],
      env: {},
      workdir: undefined,
      sources: [],
    });
  }

  /** Adds shell commands, each run as its own build step, in order. */
  runCommands(...commands: string[]): Image {
    if (commands.length === 0) {
      throw new OptionError(
        'Image.runCommands needs at least one command, like runCommands("npm install -g tsx")',
      );
    }
    for (const command of commands) {
      if (typeof command !== "string" || command.trim() === "") {
        throw new OptionError(
          `Image.runCommands: command ${JSON.stringify(command)} is invalid: ` +
            "each command must be a non-empty string",
        );
      }
    }
    return this.with({ commands: [...this.state.commands, ...commands] });
  }

  /** Sets environment variables of the image; later calls override earlier ones. */
  env(variables: Record<string, string>): Image {
    if (
      typeof variables !== "object" ||
      variables === null ||
      Array.isArray(variables)
    ) {
      throw new OptionError(
        `Image.env needs an object of variables like { NODE_ENV: "production" }, ` +
          `got ${JSON.stringify(variables)}`,
      );
    }
    for (const [name, value] of Object.entries(variables)) {
      checkVariableName(name, "Image.env");
      if (typeof value !== "string") {
        throw new OptionError(
          `Image.env: value of ${name} must be a string, got ${JSON.stringify(value)}`,
        );
      }
    }
    return this.with({ env: { ...this.state.env, ...variables } });
  }

  /** Sets the working directory of the image, an absolute path. */
  workdir(path: string): Image {
    checkRemotePath(path, "Image.workdir");
    return this.with({ workdir: path });
  }

  /** Copies one local file into the image at `remotePath` (absolute). */
  addLocalFile(localPath: string, remotePath: string): Image {
    const source = localSource("file", localPath, remotePath);
    return this.with({ sources: [...this.state.sources, source] });
  }

  /** Copies a local folder, recursively, into the image at `remoteDir` (absolute). */
  addLocalDir(localDir: string, remoteDir: string): Image {
    const source = localSource("dir", localDir, remoteDir);
    return this.with({ sources: [...this.state.sources, source] });
  }

  /**
   * Reads the local files and returns the spec with the content of each
   * file, which the deploy uploads under its sha256. Throws OptionError when
   * a file went missing since the image was defined.
   */
  resolve(): { spec: ImageSpec; files: ImageFile[] } {
    const byPath = new Map<string, ImageFile>();
    for (const source of this.state.sources) {
      for (const file of readSource(source)) byPath.set(file.path, file);
    }
    const files = [...byPath.values()];

    const spec: ImageSpec = {
      base: this.state.base,
      commands: [...this.state.commands],
      env: { ...this.state.env },
      files: files.map(({ hash, path, mode }) => ({ hash, path, mode })),
    };
    if (this.state.workdir !== undefined) spec.workdir = this.state.workdir;
    return { spec, files };
  }

  private with(change: Partial<ImageState>): Image {
    return new Image({ ...this.state, ...change });
  }
}

function localSource(
  kind: "file" | "dir",
  localPath: string,
  remotePath: string,
): LocalSource {
  const method = kind === "file" ? "Image.addLocalFile" : "Image.addLocalDir";
  if (typeof localPath !== "string" || localPath === "") {
    throw new OptionError(
      `${method}: local path ${JSON.stringify(localPath)} is invalid: pass ` +
        "a path relative to the working directory or an absolute one",
    );
  }
  checkRemotePath(remotePath, method);

  const absolute = resolve(localPath);
  // A replica evaluates the defining module again, without the deployer's
  // files; their content is already in the image.
  if (!replicaChannel()) checkLocalPath(kind, absolute, localPath, method);
  return { kind, localPath: absolute, remotePath };
}

function checkLocalPath(
  kind: "file" | "dir",
  absolute: string,
  displayPath: string,
  method: string,
): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(absolute).isDirectory();
  } catch {
    throw new OptionError(
      `${method}: local ${kind === "file" ? "file" : "folder"} ` +
        `${JSON.stringify(displayPath)} does not exist (resolved to ${absolute})`,
    );
  }
  if (kind === "file" && isDirectory) {
    throw new OptionError(
      `${method}: ${JSON.stringify(displayPath)} is a folder; use Image.addLocalDir for folders`,
    );
  }
  if (kind === "dir" && !isDirectory) {
    throw new OptionError(
      `${method}: ${JSON.stringify(displayPath)} is not a folder; use Image.addLocalFile for files`,
    );
  }
}

function checkRemotePath(path: unknown, method: string): void {
  if (
    typeof path !== "string" ||
    !path.startsWith("/") ||
    posix.normalize(path) !== path ||
    path.includes("\n")
  ) {
    throw new OptionError(
      `${method}: path ${JSON.stringify(path)} must be an absolute, ` +
        'normalized path inside the image, like "/app" or "/app/data.json"',
    );
  }
}

function readSource(source: LocalSource): ImageFile[] {
  if (source.kind === "file") {
    return [readFile(source.localPath, source.remotePath)];
  }
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(source.localPath);
  } catch {
    throw missingAtDeploy(source.localPath);
  }
  if (!stat.isDirectory()) throw missingAtDeploy(source.localPath);

  return listFiles(source.localPath).map((relative) =>
    readFile(
      join(source.localPath, relative),
      posix.join(source.remotePath, relative.split("\\").join("/")),
    ),
  );
}

function readFile(localPath: string, remotePath: string): ImageFile {
  let content: Buffer;
  let mode: number;
  try {
    content = readFileSync(localPath);
    mode = statSync(localPath).mode & 0o777;
  } catch {
    throw missingAtDeploy(localPath);
  }
  const hash = createHash("sha256").update(content).digest("hex");
  return { hash, path: remotePath, mode, content: new Uint8Array(content) };
}

/** Returns the paths of the regular files under `dir`, relative to it, sorted; symbolic links are skipped. */
function listFiles(dir: string, prefix = ""): string[] {
  const files: string[] = [];
  const entries = readdirSync(join(dir, prefix), { withFileTypes: true });
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const relative = prefix ? join(prefix, entry.name) : entry.name;
    if (entry.isDirectory()) files.push(...listFiles(dir, relative));
    else if (entry.isFile()) files.push(relative);
  }
  return files;
}

function missingAtDeploy(path: string): OptionError {
  return new OptionError(
    `image file ${path} cannot be read at deploy time; it existed when the ` +
      "image was defined. Restore it or remove it from the image",
  );
}
