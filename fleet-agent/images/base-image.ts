/**
 * The offline base image: a root filesystem holding the host's `node`, a
 * POSIX shell and a few core tools with the shared libraries they link,
 * imported with `docker import`. No registry is needed, so it works on
 * machines that cannot pull. Production may name any pulled base instead.
 */
import { execFile } from "node:child_process";
import { access, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import type Dockerode from "dockerode";
import type { Logger } from "pino";
import { pack } from "tar-stream";

const run = promisify(execFile);

/** Repository of the offline base image; its tag is the host's node version. */
export const BASE_REPOSITORY = "chalkcompute/node-base";

/** Tag of the offline base image for this agent's node. */
export const BASE_IMAGE = `${BASE_REPOSITORY}:${process.versions.node}`;

/** Tools copied beside `sh` so image commands can do basic file work. */
const TOOLS = [
  "cat",
  "chmod",
  "cp",
  "env",
  "id",
  "ls",
  "mkdir",
  "mv",
  "rm",
  "sleep",
  "touch",
];

const PASSWD =
  "root:x:0:0:root:/root:/bin/sh\nworker:x:1000:1000:worker:/tmp:/bin/sh\n";
const GROUP = "root:x:0:\nworker:x:1000:\n";

/** Builds the offline base image unless the engine already has it. */
export async function ensureBaseImage(
  docker: Dockerode,
  logger: Logger,
): Promise<string> {
  if (await imageExists(docker, BASE_IMAGE)) return BASE_IMAGE;

  const started = Date.now();
  const files = await rootfsFiles();
  const archive = await rootfsArchive(files);
  const [repo, tag] = BASE_IMAGE.split(":") as [string, string];
  const output = await docker.importImage(archive, { repo, tag });
  await followOutput(docker, output);

  if (!(await imageExists(docker, BASE_IMAGE))) {
    throw new Error(`docker import did not create ${BASE_IMAGE}`);
  }
  logger.info(
    { image: BASE_IMAGE, files: files.size, ms: Date.now() - started },
    "offline base image built",
  );
  return BASE_IMAGE;
}

/** Returns true when the engine has an image with this reference. */
export async function imageExists(
  docker: Dockerode,
  reference: string,
): Promise<boolean> {
  try {
    await docker.getImage(reference).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

/**
 * Waits for a Docker progress stream to end. It rejects on a stream error
 * and, unless `onMessage` takes the messages, on an error message.
 */
export function followOutput(
  docker: Dockerode,
  stream: NodeJS.ReadableStream,
  onMessage?: (message: Record<string, unknown>) => void,
): Promise<void> {
  let failure: string | undefined;
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null) => {
        if (error) reject(error);
        else if (failure) reject(new Error(failure));
        else resolve();
      },
      (message: Record<string, unknown>) => {
        if (onMessage) onMessage(message);
        else if (typeof message.error === "string") failure = message.error;
      },
    );
  });
}

/**
 * Maps each path inside the image to the host file it is copied from: the
 * running node at /usr/local/bin/node, sh at /bin/sh, the tools under /bin,
 * and every shared library at the path `ldd` names.
 */
async function rootfsFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  files.set("/usr/local/bin/node", process.execPath);

  const shell = await findOnPath("sh");
  if (shell) files.set("/bin/sh", shell);
  for (const tool of TOOLS) {
    const found = await findOnPath(tool);
    if (found) files.set(`/bin/${tool}`, found);
  }

  for (const binary of [...files.values()]) {
    for (const library of await sharedLibraries(binary)) {
      files.set(library, library);
    }
  }
  return files;
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** Absolute paths of the libraries `ldd` lists for a binary. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run("ldd", [binary]).catch(() => ({ stdout: "" }));
  const libraries: string[] = [];
  for (const line of stdout.split("\n")) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match) libraries.push(match[1] as string);
  }
  return libraries;
}

/** Packs the files into a tar stream with every folder at mode 0755. */
async function rootfsArchive(
  files: Map<string, string>,
): Promise<NodeJS.ReadableStream> {
  const archive = pack();
  const folders = new Set<string>(["tmp", "etc"]);
  for (const target of files.keys()) {
    let dir = path.posix.dirname(target);
    while (dir !== "/") {
      folders.add(dir.slice(1));
      dir = path.posix.dirname(dir);
    }
  }

  for (const folder of [...folders].sort()) {
    const mode = folder === "tmp" ? 0o1777 : 0o755;
    archive.entry({ name: `${folder}/`, type: "directory", mode });
  }
  for (const [target, source] of files) {
    const content = await readFile(source);
    const mode = (await stat(source)).mode & 0o755;
    archive.entry({ name: target.slice(1), mode: mode | 0o444 }, content);
  }
  archive.entry({ name: "etc/passwd", mode: 0o644 }, PASSWD);
  archive.entry({ name: "etc/group", mode: 0o644 }, GROUP);
  archive.finalize();
  return Readable.from(archive);
}
