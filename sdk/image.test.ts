import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OptionError } from "./errors.ts";
import { Image } from "./image.ts";

const scratch = mkdtempSync(join(tmpdir(), "chalkcompute-image-"));
const sha256 = (text: string) =>
  createHash("sha256").update(text).digest("hex");

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("Image builder", () => {
  it("serializes every step to an ImageSpec", () => {
    const file = join(scratch, "model.json");
    writeFileSync(file, '{"w":1}');
    chmodSync(file, 0o640);

    const image = Image.base("node:20-bookworm")
      .runCommands("apt-get update", "apt-get install -y ffmpeg")
      .env({ NODE_ENV: "production" })
      .env({ LOG_LEVEL: "debug" })
      .workdir("/app")
      .addLocalFile(file, "/app/model.json");

    const { spec, files } = image.resolve();
    expect(spec).toEqual({
      base: "node:20-bookworm",
      commands: ["apt-get update", "apt-get install -y ffmpeg"],
      env: { NODE_ENV: "production", LOG_LEVEL: "debug" },
      workdir: "/app",
      files: [
        { hash: sha256('{"w":1}'), path: "/app/model.json", mode: 0o640 },
      ],
    });
    expect(Buffer.from(files[0]?.content ?? []).toString()).toBe('{"w":1}');
  });

  it("returns a new Image from each call", () => {
    const base = Image.base("node:20");
    const withCommand = base.runCommands("true");

    expect(base.resolve().spec.commands).toEqual([]);
    expect(withCommand.resolve().spec.commands).toEqual(["true"]);
    expect(base.resolve().spec).not.toHaveProperty("workdir");
  });

  it("adds a folder recursively under the remote folder", () => {
    const dir = join(scratch, "assets");
    mkdirSync(join(dir, "nested"), { recursive: true });
    writeFileSync(join(dir, "b.txt"), "b");
    writeFileSync(join(dir, "nested", "a.txt"), "a");

    const { spec } = Image.base("node:20").addLocalDir(dir, "/srv").resolve();

    expect(spec.files.map((f) => f.path)).toEqual([
      "/srv/b.txt",
      "/srv/nested/a.txt",
    ]);
    expect(spec.files[1]?.hash).toBe(sha256("a"));
  });

  it("reads local files at deploy time", () => {
    const file = join(scratch, "late.txt");
    writeFileSync(file, "v1");
    const image = Image.base("node:20").addLocalFile(file, "/late.txt");
    writeFileSync(file, "v2");

    expect(image.resolve().spec.files[0]?.hash).toBe(sha256("v2"));
  });

  it("reports a file removed before the deploy", () => {
    const file = join(scratch, "gone.txt");
    writeFileSync(file, "x");
    const image = Image.base("node:20").addLocalFile(file, "/gone.txt");
    rmSync(file);

    expect(() => image.resolve()).toThrow(
      `image file ${file} cannot be read at deploy time`,
    );
  });
});

describe("Image validation", () => {
  it.each([[""], ["  "], ["node 20"]])("rejects base reference %j", (ref) => {
    const act = () => Image.base(ref);
    expect(act).toThrow(OptionError);
    expect(act).toThrow(
      `Image.base: reference ${JSON.stringify(ref)} is invalid`,
    );
  });

  it("rejects a relative workdir", () => {
    expect(() => Image.base("node:20").workdir("app")).toThrow(
      'Image.workdir: path "app" must be an absolute, normalized path inside the image',
    );
  });

  it("rejects empty and missing commands", () => {
    expect(() => Image.base("node:20").runCommands()).toThrow(
      "Image.runCommands needs at least one command",
    );
    expect(() => Image.base("node:20").runCommands("ls", " ")).toThrow(
      'Image.runCommands: command " " is invalid',
    );
  });

  it("rejects invalid environment variables", () => {
    expect(() => Image.base("node:20").env({ "1X": "a" })).toThrow(
      'Image.env: variable name "1X" is invalid',
    );
    const badValue = { X: 1 } as unknown as Record<string, string>;
    expect(() => Image.base("node:20").env(badValue)).toThrow(
      "Image.env: value of X must be a string, got 1",
    );
  });

  it("rejects a missing local file with its path", () => {
    const act = () =>
      Image.base("node:20").addLocalFile("./no-such-file.txt", "/x.txt");
    expect(act).toThrow(OptionError);
    expect(act).toThrow(
      'Image.addLocalFile: local file "./no-such-file.txt" does not exist',
    );
  });

  it("rejects mismatched file and folder", () => {
    const file = join(scratch, "plain.txt");
    writeFileSync(file, "x");
    expect(() => Image.base("node:20").addLocalFile(scratch, "/d")).toThrow(
      "is a folder; use Image.addLocalDir for folders",
    );
    expect(() => Image.base("node:20").addLocalDir(file, "/d")).toThrow(
      "is not a folder; use Image.addLocalFile for files",
    );
  });

  it("rejects a relative remote path", () => {
    const file = join(scratch, "rel.txt");
    writeFileSync(file, "x");
    expect(() => Image.base("node:20").addLocalFile(file, "rel.txt")).toThrow(
      'Image.addLocalFile: path "rel.txt" must be an absolute',
    );
  });
});
