/**
 * A streaming transcription and a two-step pipeline built on it.
 *
 * `transcribe` yields the segments of a transcript file one by one, as a
 * speech model would while it decodes audio. `transcribeAndTranslate` calls
 * `transcribe` and `translate` remotely from inside its own replica and
 * yields each translated segment as soon as it has it.
 *
 * This module only defines functions; main.ts calls them.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as chalkcompute from "chalkcompute";
import { parseTranscript, type Segment, translateText } from "./transcript.ts";

/** Pause before each segment, standing in for the time decoding takes. */
const SEGMENT_DELAY_MS = 100;

/** A segment with its translation added. */
export interface TranslatedSegment extends Segment {
  translated: string;
}

/**
 * Yields the segments of the transcript at `path`. The path must be absolute
 * because the replica runs the bundled module from its own folder, so a path
 * relative to the caller's script would point elsewhere.
 */
export const transcribe = chalkcompute.function(async function* transcribe(
  path: string,
) {
  if (!isAbsolute(path)) {
    throw new TypeError(
      `transcribe needs an absolute path, got ${JSON.stringify(path)}; resolve it in the caller`,
    );
  }

  const text = await readFile(path, "utf8");
  for (const segment of parseTranscript(text, path)) {
    await sleep(SEGMENT_DELAY_MS);
    yield segment;
  }
});

/** Translates one line of text into `targetLang` ("es"). */
export const translate = chalkcompute.function(function translate(
  text: string,
  targetLang: string,
) {
  return translateText(text, targetLang);
});

/**
 * Streams the transcript at `path`, translating each segment with a nested
 * `translate` call before yielding it.
 */
export const transcribeAndTranslate = chalkcompute.function(
  async function* transcribeAndTranslate(path: string, targetLang: string) {
    for await (const segment of transcribe.remote(path)) {
      const translated = await translate.remote(segment.text, targetLang);
      const result: TranslatedSegment = { ...segment, translated };
      yield result;
    }
  },
);
