/**
 * Plain helpers of the transcription example: parsing a timestamped
 * transcript and a word-by-word translation. They hold no remote functions,
 * so tests and other modules can use them directly.
 */

/** One line of speech, with its start and end in seconds from the beginning. */
export interface Segment {
  start: number;
  end: number;
  text: string;
}

const LINE_PATTERN =
  /^\[(\d+):(\d{2}(?:\.\d+)?) --> (\d+):(\d{2}(?:\.\d+)?)\]\s+(\S.*)$/;

/**
 * Parses lines of the form `[mm:ss.s --> mm:ss.s] text`, skipping blank
 * lines. Throws a SyntaxError naming `source` and the line of any other form.
 */
export function parseTranscript(text: string, source: string): Segment[] {
  const segments: Segment[] = [];
  const lines = text.split(/\r?\n/);

  for (const [index, line] of lines.entries()) {
    if (line.trim() === "") continue;

    const match = LINE_PATTERN.exec(line);
    if (!match) {
      throw new SyntaxError(
        `${source}:${index + 1}: expected "[mm:ss.s --> mm:ss.s] text", got ${JSON.stringify(line)}`,
      );
    }
    const [, startMin, startSec, endMin, endSec, words] = match;
    segments.push({
      start: Number(startMin) * 60 + Number(startSec),
      end: Number(endMin) * 60 + Number(endSec),
      text: words!.trim(),
    });
  }
  return segments;
}

/**
 * Word and two-word phrase tables by target language. The example needs a
 * translation it can run offline, so this is a lookup table, not a translator:
 * words missing from it pass through unchanged and grammar is not adjusted.
 */
const TABLES: Record<string, Record<string, string>> = {
  es: {
    "good morning": "buenos días",
    "thank you": "gracias",
    "see you": "hasta",
    after: "después de",
    again: "otra vez",
    any: "alguna",
    are: "son",
    before: "antes del",
    both: "ambos",
    bugs: "errores",
    build: "compilación",
    can: "puedo",
    demo: "demostración",
    docs: "documentos",
    everyone: "todos",
    fixed: "arreglamos",
    friday: "viernes",
    green: "verde",
    have: "tenemos",
    help: "ayudar",
    i: "yo",
    is: "está",
    lunch: "almuerzo",
    more: "más",
    need: "necesitan",
    needs: "necesita",
    new: "nueva",
    notes: "notas",
    on: "el",
    one: "una",
    open: "abiertos",
    page: "página",
    please: "por favor",
    questions: "preguntas",
    queue: "cola",
    release: "versión",
    review: "revisión",
    server: "servidor",
    slow: "lenta",
    small: "pequeños",
    start: "empezamos",
    team: "equipo",
    test: "prueba",
    the: "el",
    thursday: "jueves",
    today: "hoy",
    tomorrow: "mañana",
    two: "dos",
    we: "nosotros",
    will: "va a",
    with: "con",
    write: "escribir",
    yesterday: "ayer",
  },
};

/** Returns the target languages that `translateText` accepts. */
export function supportedLanguages(): string[] {
  return Object.keys(TABLES);
}

/**
 * Translates `text` word by word with the table of `targetLang`, keeping
 * punctuation and the capital letter of each word it replaces. Throws a
 * RangeError for a language without a table.
 */
export function translateText(text: string, targetLang: string): string {
  const table = TABLES[targetLang];
  if (table === undefined) {
    throw new RangeError(
      `target language ${JSON.stringify(targetLang)} is not supported; use one of: ${supportedLanguages().join(", ")}`,
    );
  }

  // Splitting on a capture group keeps the separators: words sit at odd indexes.
  const parts = text.split(/(\p{L}+)/u);
  const output: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 0) {
      output.push(part);
      continue;
    }

    const next = parts[i + 2];
    if (parts[i + 1] === " " && next !== undefined) {
      const phrase = table[`${part} ${next}`.toLowerCase()];
      if (phrase !== undefined) {
        output.push(matchCapital(part, phrase));
        i += 2;
        continue;
      }
    }

    const word = table[part.toLowerCase()];
    output.push(word === undefined ? part : matchCapital(part, word));
  }
  return output.join("");
}

function matchCapital(source: string, translation: string): string {
  const first = source[0]!;
  if (first === first.toLowerCase()) return translation;
  return translation[0]!.toUpperCase() + translation.slice(1);
}
