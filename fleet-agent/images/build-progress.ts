/** Lines of build log kept for a failure's detail. */
export const FAILURE_LOG_LINES = 30;

/** One JSON message of Docker's build output stream. */
export interface BuildMessage {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

const STEP = /^Step (\d+)\/(\d+) : (.*)$/;
/** Terminal color codes that the engine adds to a failing step's stderr. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC.
const ANSI_ESCAPE = /\u001b\[[0-9;]*[A-Za-z]/g;
/** Engine bookkeeping between steps, not output of the step itself. */
const BOOKKEEPING = /^( ---> |Removing intermediate container )/;

/**
 * Follows Docker's build output: the current step ("step 3/6: RUN npm
 * install") and the last lines of log, to describe a failure.
 */
export class BuildProgress {
  /** The current step, e.g. "step 3/6: RUN npm install"; "" before the first. */
  step = "";
  /** Error reported by the engine, if the build failed. */
  error: string | undefined;
  private readonly tail: string[] = [];

  constructor(private readonly onStep: (step: string) => void = () => {}) {}

  /** Takes one decoded message of the build stream. */
  take(message: BuildMessage): void {
    if (message.error || message.errorDetail?.message) {
      this.error = message.errorDetail?.message ?? message.error;
      return;
    }
    if (typeof message.stream !== "string") return;

    for (const raw of message.stream.replace(ANSI_ESCAPE, "").split("\n")) {
      const line = raw.trimEnd();
      if (!line) continue;
      const step = STEP.exec(line);
      if (step) {
        this.step = `step ${step[1]}/${step[2]}: ${step[3]}`;
        this.tail.length = 0;
        this.onStep(this.step);
        continue;
      }
      if (BOOKKEEPING.test(raw)) continue;
      this.tail.push(line);
      if (this.tail.length > FAILURE_LOG_LINES) this.tail.shift();
    }
  }

  /** Describes a failed build: the failing step, the end of its log, the error. */
  failureDetail(): string {
    const header = this.step
      ? `${this.step} failed`
      : "the image build failed before its first step";
    return [header, ...this.tail, ...(this.error ? [this.error] : [])].join(
      "\n",
    );
  }
}
