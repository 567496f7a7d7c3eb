/**
 * `pulse export [pattern] [--from T] [--to T]`: the samples as
 * `put <key> <value> <timestamp>` lines on stdout, series in the order their
 * keys were first put and each by timestamp, streamed: what the command
 * holds is a chunk of the answer, whatever its size. `pulse import` sends
 * them back.
 *
 * @module
 */

import { ClientError } from "../client.ts";
import { formatValue } from "../protocol/format_value.ts";
import type { Command, Context } from "./commands.ts";
import { UsageError } from "./flags.ts";
import { checkKey } from "./options.ts";
import { formatRate, Progress } from "./_progress.ts";
import {
  checkNoFormat,
  counted,
  readTimeFlag,
  secondsSince,
} from "./_transfer.ts";

// Every key, whatever its segments.
const EVERY_SERIES = "**";
const ENCODER = new TextEncoder();

/**
 * Writes text to stdout as a whole.
 *
 * @returns `false` once the reader has gone (a closed pipe).
 */
async function write(text: string): Promise<boolean> {
  const bytes = ENCODER.encode(text);
  try {
    for (let written = 0; written < bytes.length;) {
      written += await Deno.stdout.write(bytes.subarray(written));
    }
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) return false;
    throw error;
  }
}

/** The samples the server holds, for the bar's total; when known. */
async function sampleCount(context: Context): Promise<number | undefined> {
  try {
    const samples = (await context.client.stats()).samples;
    return Number.isSafeInteger(samples) ? samples : undefined;
  } catch (error) {
    if (error instanceof ClientError) return undefined;
    throw error;
  }
}

/** `export [pattern] [--from T] [--to T]`. */
async function exportLines(context: Context): Promise<string> {
  const { line, now } = context;
  checkNoFormat(line, "export", "put lines");
  const [patternText] = context.args;
  const pattern = patternText === undefined
    ? EVERY_SERIES
    : checkKey(patternText, "pattern");
  const from = readTimeFlag(line.from, now);
  const to = readTimeFlag(line.to, now);
  if (from !== undefined && to !== undefined && from > to) {
    throw new UsageError(
      `Cannot export from ${from} to ${to}: from is after to`,
    );
  }
  // A bar only when the lines go elsewhere than the terminal it is drawn on.
  let progress: Progress | undefined;
  if (Deno.stderr.isTerminal() && !Deno.stdout.isTerminal()) {
    const everything = patternText === undefined && from === undefined &&
      to === undefined;
    const total = everything ? await sampleCount(context) : undefined;
    progress = new Progress("export", "lines", total);
  }
  const started = performance.now();
  let lines = 0;
  let series = 0;
  let last: string | undefined;
  for await (const rows of context.client.queryRows(pattern, { from, to })) {
    let text = "";
    for (const [key, value, timestamp] of rows) {
      if (key !== last) {
        series++;
        last = key;
      }
      text += `put ${key} ${formatValue(value)} ${timestamp}\n`;
    }
    lines += rows.length;
    // The reader has what it wanted (`| head`): stop asking.
    if (!await write(text)) return "";
    progress?.update(lines, lines);
  }
  progress?.finish();
  const seconds = secondsSince(started);
  console.error(
    `pulse: exported ${counted(lines, "line")} of ${series} series in ${
      seconds.toFixed(2)
    } s (${formatRate(lines, "lines", seconds)})`,
  );
  return "";
}

/** `pulse export`. */
export const EXPORT_COMMAND: Command = {
  usage: "export [pattern] [--from T] [--to T]",
  summary: "write the samples as put lines, for import",
  help: `Writes every sample of the series matching [pattern] (default: every
series) with --from <= timestamp <= --to as "put <key> <value> <timestamp>"
lines on stdout: series in the order their keys were first put, each by
timestamp, values printed as the server prints them. "pulse import" sends
them back; into an empty server, "get *" then answers byte for byte as on
this one. The lines are streamed: memory stays flat whatever their number.

A summary goes to stderr (lines, series, time, rate). When stderr is a
terminal and stdout is not, a progress line shows the count and the rate,
and, when exporting everything, a bar and the time left.

Options:
  --from T   the earliest timestamp (default: the first)
  --to T     the latest timestamp (default: the last)

Times: Unix seconds (1501864247), "now", a duration before now (-1h,
-30m, -7d), or an ISO 8601 date or date-time (2017-08-04,
2017-08-04T16:30:47Z; a date-time without an offset is local time).
Patterns are Graphite-style globs: "palm.*" matches palm.cpu, "palm.**"
everything below palm. --table, --json and --csv do not apply.`,
  flags: ["from", "to"],
  arity: [0, 1],
  run: exportLines,
};
