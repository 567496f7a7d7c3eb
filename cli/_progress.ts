/**
 * Progress of the long commands (`export`, `import`, `backup`): a line on
 * the terminal, redrawn in place, with a bar, the rate and the time left
 * when the total is known; and the counts, rates and times of their
 * summaries.
 *
 * @module
 */

/** What is counted: lines, or bytes. */
export type Unit = "lines" | "bytes";

/** Where a command stands, for {@linkcode progressLine}. */
export interface ProgressState {
  /** How far it is, in the unit of `total`. */
  done: number;
  /** Where it ends, when known. */
  total: number | undefined;
  /** What it counts for people: lines or bytes so far. */
  count: number;
  /** The unit of `count`. */
  unit: Unit;
  /** Seconds since it started. */
  seconds: number;
}

const BAR_WIDTH = 24;
const REDRAW_MS = 100;
const GROUPED = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const MIB = 1024 * 1024;

/**
 * A count for people: `1,234,567 lines`, or bytes as `12.3 MiB`.
 *
 * @param count The count.
 * @param unit What it counts.
 * @returns The text.
 */
export function formatCount(count: number, unit: Unit): string {
  if (unit === "lines") return `${GROUPED.format(count)} lines`;
  return count < MIB
    ? `${GROUPED.format(count)} B`
    : `${(count / MIB).toFixed(1)} MiB`;
}

/**
 * A rate for people: `812,345 lines/s`, `40.1 MiB/s`.
 *
 * @param count How many.
 * @param unit Of what.
 * @param seconds In how long.
 * @returns The text.
 */
export function formatRate(count: number, unit: Unit, seconds: number): string {
  return `${formatCount(seconds > 0 ? count / seconds : 0, unit)}/s`;
}

/**
 * A time left: `0:07`, `12:03`, `1:02:03`.
 *
 * @param seconds How long.
 * @returns The text.
 */
export function formatDuration(seconds: number): string {
  const whole = Math.ceil(seconds);
  const two = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(whole / 3600);
  const m = Math.floor(whole / 60) % 60;
  const s = whole % 60;
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/**
 * The progress line of a command: with a total,
 * `[######------]  42%  1,234 lines  5,678 lines/s  ETA 0:12`; without, the
 * count and the rate.
 *
 * @param state Where it stands.
 * @returns The line, without a newline.
 */
export function progressLine(state: ProgressState): string {
  const { done, total, count, unit, seconds } = state;
  const rate = formatRate(count, unit, seconds);
  if (total === undefined || total <= 0) {
    return `${formatCount(count, unit)}  ${rate}`;
  }
  const fraction = Math.min(1, done / total);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const left = done > 0 && seconds > 0
    ? `ETA ${formatDuration((total - Math.min(done, total)) * seconds / done)}`
    : "ETA -";
  return `${bar} ${percent}  ${formatCount(count, unit)}  ${rate}  ${left}`;
}

/**
 * A progress line on stderr, a terminal: redrawn in place at most ten times
 * a second, and erased at the end.
 */
export class Progress {
  #label: string;
  #total: number | undefined;
  #unit: Unit;
  #started = performance.now();
  #drawn = -Infinity;
  #encoder = new TextEncoder();

  /**
   * Starts counting.
   *
   * @param label The command, first on the line.
   * @param unit What the count counts.
   * @param total Where `done` ends, when known.
   */
  constructor(label: string, unit: Unit, total: number | undefined) {
    this.#label = label;
    this.#unit = unit;
    this.#total = total;
  }

  /**
   * Redraws the line, unless it was drawn in the last 100 ms.
   *
   * @param done How far it is, in the unit of the total.
   * @param count What it counts so far.
   */
  update(done: number, count: number): void {
    const now = performance.now();
    if (now - this.#drawn < REDRAW_MS) return;
    this.#drawn = now;
    const line = progressLine({
      done,
      total: this.#total,
      count,
      unit: this.#unit,
      seconds: (now - this.#started) / 1000,
    });
    this.#write(`\r\x1b[Kpulse: ${this.#label} ${line}`);
  }

  /** Erases the line. */
  finish(): void {
    if (this.#drawn !== -Infinity) this.#write("\r\x1b[K");
  }

  #write(text: string): void {
    const bytes = this.#encoder.encode(text);
    for (let written = 0; written < bytes.length;) {
      written += Deno.stderr.writeSync(bytes.subarray(written));
    }
  }
}
