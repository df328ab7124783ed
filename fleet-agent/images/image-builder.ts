import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import type Dockerode from "dockerode";
import type { Logger } from "pino";
import { pack } from "tar-stream";
import type { ImageSpec } from "../../schemas/spec.ts";
import {
  BASE_IMAGE,
  BASE_REPOSITORY,
  ensureBaseImage,
  followOutput,
  imageExists,
} from "./base-image.ts";
import { type BuildMessage, BuildProgress } from "./build-progress.ts";
import {
  contextFileName,
  renderDockerfile,
  WORKER_CONTEXT_FILE,
} from "./dockerfile.ts";

/** Repository of the function images this agent builds. */
export const FUNCTION_REPOSITORY = "chalkcompute/fn";

/** The image of a spec without one: the base plus the worker runtime. */
export const DEFAULT_IMAGE: ImageSpec = {
  base: "",
  commands: [],
  env: {},
  files: [],
};

/** A failed image build; `detail` is the failing step and the end of its log. */
export class ImageBuildError extends Error {
  constructor(readonly detail: string) {
    super(`image build failed: ${detail}`);
    this.name = "ImageBuildError";
  }
}

/** Options of an ImageBuilder. */
export interface ImageBuilderOptions {
  docker: Dockerode;
  logger: Logger;
  /** Path of the bundled worker runtime, copied into every image. */
  workerPath: string;
  /** Returns the local path of a blob, downloading it from the gateway if needed. */
  blob(hash: string): Promise<string>;
}

/**
 * Builds replica images from image specs. An image is tagged
 * `chalkcompute/fn:<16 hex>` from a hash of the spec, the resolved base and
 * the worker runtime, and reused while the engine still has it.
 */
export class ImageBuilder {
  private base: Promise<string> | undefined;
  private workerHash: Promise<string> | undefined;
  private readonly builds = new Map<string, Promise<string>>();

  constructor(private readonly options: ImageBuilderOptions) {}

  /**
   * Returns the tag of the image for `image` (the default image when
   * undefined), building it first when the engine lacks it. `onStep`
   * receives each build step, e.g. "step 2/4: RUN npm install". Rejects
   * with ImageBuildError when a step fails.
   */
  async ensure(
    image: ImageSpec | undefined,
    onStep: (step: string) => void = () => {},
  ): Promise<string> {
    const spec = image ?? DEFAULT_IMAGE;
    const baseRef = await this.resolveBase(spec.base);
    const tag = await this.tagOf(spec, baseRef);

    let build = this.builds.get(tag);
    if (!build) {
      build = this.buildUnlessPresent(spec, baseRef, tag, onStep);
      this.builds.set(tag, build);
      const forget = () => this.builds.delete(tag);
      build.then(forget, forget);
    }
    return build;
  }

  /** Returns the tag that `ensure` gives `image`. */
  async tagOf(image: ImageSpec, baseRef: string): Promise<string> {
    this.workerHash ??= readFile(this.options.workerPath).then((bytes) =>
      createHash("sha256").update(bytes).digest("hex"),
    );
    const key = JSON.stringify({
      base: baseRef,
      env: Object.entries(image.env).sort(([a], [b]) => a.localeCompare(b)),
      workdir: image.workdir ?? "",
      commands: image.commands,
      files: image.files,
      worker: await this.workerHash,
    });
    const hash = createHash("sha256").update(key).digest("hex");
    return `${FUNCTION_REPOSITORY}:${hash.slice(0, 16)}`;
  }

  /**
   * The offline base stands for an empty base and for the base repository
   * without a tag; any other reference is used as written and must be on
   * the engine or pullable by it.
   */
  private async resolveBase(base: string): Promise<string> {
    if (base === "" || base === BASE_REPOSITORY || base === BASE_IMAGE) {
      this.base ??= ensureBaseImage(this.options.docker, this.options.logger);
      this.base.catch(() => {
        this.base = undefined;
      });
      return this.base;
    }
    return base;
  }

  private async buildUnlessPresent(
    image: ImageSpec,
    baseRef: string,
    tag: string,
    onStep: (step: string) => void,
  ): Promise<string> {
    const { docker, logger } = this.options;
    if (await imageExists(docker, tag)) return tag;

    const started = Date.now();
    const progress = new BuildProgress(onStep);
    const context = await this.buildContext(image, baseRef);
    const output = await docker.buildImage(context, {
      t: tag,
      rm: true,
      forcerm: true,
      labels: { "chalkcompute.image": "function" },
    });
    await followOutput(docker, output, (message) =>
      progress.take(message as BuildMessage),
    );

    if (progress.error !== undefined) {
      throw new ImageBuildError(progress.failureDetail());
    }
    logger.info(
      { image: tag, base: baseRef, ms: Date.now() - started },
      "replica image built",
    );
    return tag;
  }

  private async buildContext(
    image: ImageSpec,
    baseRef: string,
  ): Promise<NodeJS.ReadableStream> {
    const archive = pack();
    archive.entry(
      { name: "Dockerfile", mode: 0o644 },
      renderDockerfile(image, baseRef),
    );
    archive.entry(
      { name: WORKER_CONTEXT_FILE, mode: 0o644 },
      await readFile(this.options.workerPath),
    );

    archive.entry({ name: "files/", type: "directory", mode: 0o755 });
    for (const [index, file] of image.files.entries()) {
      const content = await readFile(await this.options.blob(file.hash));
      archive.entry(
        { name: contextFileName(index), mode: file.mode & 0o7777 },
        content,
      );
    }
    archive.finalize();
    return Readable.from(archive);
  }
}
