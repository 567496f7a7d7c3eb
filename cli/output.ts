/**
 * How the command line prints answers: an aligned table for people, the
 * protocol's own lines for pipes, and JSON or CSV for scripts; which of them
 * the flags choose, and the writing to stdout.
 *
 * @module
 */

import type { OpenConnection, Samples } from "../client.ts";
import { formatValue } from "../protocol/format_value.ts";
import { UsageError } from "./flags.ts";

/** An output format of the command line. */
export type Format = "table" | "plain" | "json" | "csv";

/** Bounds of `Date`: later or earlier timestamps have no calendar time. */
const MAX_DATE_SECONDS = 8.64e12;

/** A timestamp as UTC calendar time, `2017-08-04T16:30:47Z`. */
function calendar(timestamp: number): string {
  if (Math.abs(timestamp) > MAX_DATE_SECONDS) return "-";
  return new Date(timestamp * 1000).toISOString().replace(".000Z", "Z");
}

/** Quotes a CSV field when it holds a comma, a quote or a line break. */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csv(header: string[], rows: string[][]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(",") + "\n")
    .join("");
}

/**
 * Lays rows out in columns two spaces apart under a header; the columns
 * flagged in `right` are aligned to the right (numbers).
 */
function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => row[i].length))
  );
  const line = (row: string[]) =>
    row.map((cell, i) =>
      right[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])
    ).join("  ").trimEnd() + "\n";
  return [header, ...rows].map(line).join("");
}

/**
 * Prints samples by key, as `get`, `last` and `query` return them.
 *
 * - table: `key`, `timestamp`, `time (UTC)` and `value` columns;
 * - plain: the protocol's `<key> <value> <timestamp>` lines;
 * - json: `{"<key>": [[<timestamp>, <value>], ...]}`, as `Client.get`;
 * - csv: a `key,timestamp,value` header, then a row per sample.
 *
 * @param samples Samples by key.
 * @param format The output format.
 * @returns The text to print.
 */
export function renderSamples(samples: Samples, format: Format): string {
  if (format === "json") return JSON.stringify(samples) + "\n";
  const rows: string[][] = [];
  for (const [key, list] of Object.entries(samples)) {
    for (const [timestamp, value] of list) {
      rows.push([key, String(timestamp), formatValue(value)]);
    }
  }
  switch (format) {
    case "plain":
      return rows.map(([key, timestamp, value]) =>
        `${key} ${value} ${timestamp}\n`
      ).join("");
    case "csv":
      return csv(["key", "timestamp", "value"], rows);
    case "table":
      if (rows.length === 0) return "(no samples)\n";
      return table(
        ["key", "timestamp", "time (UTC)", "value"],
        rows.map(([key, timestamp, value]) => [
          key,
          timestamp,
          calendar(Number(timestamp)),
          value,
        ]),
        [false, true, false, true],
      );
  }
}

/**
 * Prints series names, as `keys` returns them: one a line (table and
 * plain), a JSON array, or CSV under a `key` header.
 *
 * @param keys The names.
 * @param format The output format.
 * @returns The text to print.
 */
export function renderKeys(keys: string[], format: Format): string {
  switch (format) {
    case "json":
      return JSON.stringify(keys) + "\n";
    case "csv":
      return csv(["key"], keys.map((key) => [key]));
    case "table":
      if (keys.length === 0) return "(no series)\n";
      return keys.map((key) => `${key}\n`).join("");
    case "plain":
      return keys.map((key) => `${key}\n`).join("");
  }
}

/**
 * Prints how many series `delete` removed: `deleted 3 series` (table), `3`
 * (plain), `{"deleted":3}` (json), or `deleted` then `3` (csv).
 *
 * @param count How many series.
 * @param format The output format.
 * @returns The text to print.
 */
export function renderDeleted(count: number, format: Format): string {
  switch (format) {
    case "json":
      return JSON.stringify({ deleted: count }) + "\n";
    case "csv":
      return `deleted\n${count}\n`;
    case "table":
      return `deleted ${count} series\n`;
    case "plain":
      return `${count}\n`;
  }
}

/**
 * Prints the server's figures: aligned `name value` columns (table), the
 * protocol's `name value` lines (plain), a JSON object, or CSV under a
 * `name,value` header.
 *
 * @param stats Figures by name.
 * @param format The output format.
 * @returns The text to print.
 */
export function renderStats(
  stats: Record<string, number>,
  format: Format,
): string {
  const rows = Object.entries(stats).map(([name, value]) => [
    name,
    String(value),
  ]);
  switch (format) {
    case "json":
      return JSON.stringify(stats) + "\n";
    case "csv":
      return csv(["name", "value"], rows);
    case "table":
      return table(["name", "value"], rows, [false, true]);
    case "plain":
      return rows.map(([name, value]) => `${name} ${value}\n`).join("");
  }
}

/**
 * Prints the connections open on the server, as `clients` lists them:
 * aligned columns under the fields' names (table), the protocol's
 * `id=<n> addr=<ip:port> ...` lines (plain), a JSON array of objects, or
 * CSV under a header of the fields' names.
 *
 * @param connections The connections.
 * @param format The output format.
 * @returns The text to print.
 */
export function renderClients(
  connections: OpenConnection[],
  format: Format,
): string {
  if (format === "json") return JSON.stringify(connections) + "\n";
  if (format === "plain") {
    return connections.map((connection) =>
      Object.entries(connection).map(([name, value]) => `${name}=${value}`)
        .join(" ") + "\n"
    ).join("");
  }
  // Every field any line has, in the order they first appear.
  const names = [...new Set(connections.flatMap(Object.keys))];
  const rows = connections.map((connection) =>
    names.map((name) => String(connection[name] ?? ""))
  );
  if (format === "csv") return csv(names, rows);
  if (rows.length === 0) return "(no connections)\n";
  return table(
    names,
    rows,
    names.map((name) => typeof connections[0][name] === "number"),
  );
}

/**
 * Prints that a command without an answer worked: a sentence on a terminal
 * (table), nothing for scripts, as `put` prints nothing.
 *
 * @param sentence What happened, such as `compacted`.
 * @param format The output format.
 * @returns The text to print.
 */
export function renderDone(sentence: string, format: Format): string {
  return format === "table" ? `${sentence}\n` : "";
}

/**
 * Prints the answer to `ping`: `pong`, or `"pong"` in JSON.
 *
 * @param format The output format.
 * @returns The text to print.
 */
export function renderPong(format: Format): string {
  return format === "json" ? '"pong"\n' : "pong\n";
}

/** The format switches of the command line. */
export interface FormatFlags {
  /** `--table` was given. */
  table: boolean;
  /** `--json` was given. */
  json: boolean;
  /** `--csv` was given. */
  csv: boolean;
}

/**
 * The output format the switches choose: the one given, else a table on a
 * terminal and the protocol's own lines elsewhere.
 *
 * @param flags Which switches were given.
 * @returns The format.
 * @throws {UsageError} When more than one was given.
 */
export function chooseFormat(flags: FormatFlags): Format {
  const chosen = (["table", "json", "csv"] as const).filter((name) =>
    flags[name]
  );
  if (chosen.length > 1) {
    throw new UsageError(
      `Cannot print ${
        chosen.map((name) => `--${name}`).join(" and ")
      } at once: choose one`,
    );
  }
  return chosen[0] ?? (Deno.stdout.isTerminal() ? "table" : "plain");
}

/**
 * Writes all of `text` to stdout; a reader that went away is no error.
 *
 * @param text What to print.
 */
export async function print(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  try {
    for (let written = 0; written < bytes.length;) {
      written += await Deno.stdout.write(bytes.subarray(written));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}
