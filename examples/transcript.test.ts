import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseTranscript, translateText } from "./transcript.ts";

const STANDUP = new URL("./data/standup.txt", import.meta.url);

describe("parseTranscript", () => {
  it("reads start, end and text", () => {
    const segments = parseTranscript(
      "[00:02.8 --> 01:06.1] The build is green again.\n",
      "inline",
    );

    expect(segments).toEqual([
      { start: 2.8, end: 66.1, text: "The build is green again." },
    ]);
  });

  it("skips blank lines", () => {
    const text = "\n[00:00.0 --> 00:01.0] One.\n\n[00:01.0 --> 00:02.0] Two.\n";

    expect(parseTranscript(text, "inline")).toHaveLength(2);
  });

  it("names the file and line of a bad line", () => {
    const text = "[00:00.0 --> 00:01.0] One.\nno timestamps here\n";

    expect(() => parseTranscript(text, "notes.txt")).toThrow(
      /^notes\.txt:2: expected/,
    );
  });

  it("parses the shipped transcript in order", async () => {
    const segments = parseTranscript(await readFile(STANDUP, "utf8"), "x");

    expect(segments).toHaveLength(15);
    for (const [index, segment] of segments.entries()) {
      expect(segment.end).toBeGreaterThan(segment.start);
      if (index > 0) expect(segment.start).toBe(segments[index - 1]!.end);
    }
  });
});

describe("translateText", () => {
  it("replaces known words and keeps punctuation", () => {
    expect(translateText("The build is green again.", "es")).toBe(
      "El compilación está verde otra vez.",
    );
  });

  it("prefers two-word phrases", () => {
    expect(translateText("Good morning, everyone.", "es")).toBe(
      "Buenos días, todos.",
    );
    expect(translateText("Thank you, everyone.", "es")).toBe("Gracias, todos.");
  });

  it("keeps unknown words", () => {
    expect(translateText("Maria will write", "es")).toBe("Maria va a escribir");
  });

  it("rejects an unsupported language", () => {
    expect(() => translateText("hello", "xx")).toThrow(
      /"xx" is not supported; use one of: es/,
    );
  });
});
