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
 * Yields the segments of a recording's transcript. The caller sends the
 * file's bytes, as it would upload audio: a replica, in a container or on
 * another host, cannot read the caller's files. `source` names the file in
 * error messages.
 */
export const transcribe = chalkcompute.function(async function* transcribe(
  recording: Uint8Array,
  source: string,
) {
  const text = new TextDecoder().decode(recording);
  for (const segment of parseTranscript(text, source)) {
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
 * Streams the transcript of `recording`, translating each segment with a
 * nested `translate` call before yielding it.
 */
export const transcribeAndTranslate = chalkcompute.function(
  async function* transcribeAndTranslate(
    recording: Uint8Array,
    source: string,
    targetLang: string,
  ) {
    for await (const segment of transcribe.remote(recording, source)) {
      const translated = await translate.remote(segment.text, targetLang);
      const result: TranslatedSegment = { ...segment, translated };
      yield result;
    }
  },
);
