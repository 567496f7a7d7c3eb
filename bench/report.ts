/**
 * Formatting of the benchmark report: markdown tables and human units.
 *
 * @module
 */

const MIB = 1024 * 1024;

/** A cell that starts with a figure, to be right-aligned. */
const FIGURE = /^[\d.,]|^n\/a$/;

/**
 * Renders a markdown table. Columns of figures are right-aligned so that
 * their digits line up; columns of words are left-aligned.
 *
 * @param headers The column titles.
 * @param rows The cells, already formatted.
 */
export function table(headers: string[], rows: string[][]): string {
  const align = headers.map((_, i) =>
    rows.every((row) => FIGURE.test(row[i])) ? "--:" : "---"
  );
  return [headers, align, ...rows]
    .map((cells) => `| ${cells.join(" | ")} |`)
    .join("\n");
}

/** The median of some figures: robust to one noisy round among three. */
export function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Formats a count or rate with thousands separators: `1,234,567`. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** Formats a latency in milliseconds with three significant digits. */
export function formatMs(milliseconds: number): string {
  if (!Number.isFinite(milliseconds)) return "n/a";
  return `${milliseconds.toPrecision(3)} ms`;
}

/** Formats a number of bytes in MiB. */
export function formatMiB(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}
