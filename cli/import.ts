/**
 * `pulse import FILE|-`: sends the `put` lines of a file (or stdin), as
 * `pulse export` writes them, pipelined on one connection. It shows a
 * progress line on a terminal, prints a summary on stderr, and exits 1
 * naming the lines that were refused.
 *
 * @module
 */

import { ClientError } from "../client.ts";
import { describe } from "../internal/describe.ts";
import type { Command, Context } from "./commands.ts";
import { formatRate, Progress } from "./_progress.ts";
import { checkNoFormat, counted, secondsSince } from "./_transfer.ts";

// Refused lines shown with their reason, and named in the final message.
const REASONS_SHOWN = 10;
const NUMBERS_SHOWN = 20;

/**
 * The refused lines of lowest number, with their reasons: answers of the
 * server come after the lines refused unsent, so they arrive out of order.
 */
class FirstRefused {
  readonly lines: [line: number, reason: string][] = [];

  add(line: number, reason: string): void {
    const lines = this.lines;
    if (lines.length === NUMBERS_SHOWN && line > lines[NUMBERS_SHOWN - 1][0]) {
      return;
    }
    let i = lines.length;
    while (i > 0 && lines[i - 1][0] > line) i--;
    lines.splice(i, 0, [line, reason]);
    if (lines.length > NUMBERS_SHOWN) lines.pop();
  }
}

/** Where the lines come from, and their size when it is known. */
async function openSource(
  path: string,
): Promise<{ source: ReadableStream<Uint8Array>; size?: number }> {
  if (path === "-") return { source: Deno.stdin.readable };
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw new ClientError(`Cannot read ${path}: ${describe(error)}`);
  }
  const info = await file.stat();
  return { source: file.readable, size: info.isFile ? info.size : undefined };
}

/** `import FILE|-`. */
async function importLines(context: Context): Promise<string> {
  checkNoFormat(context.line, "import", "a summary on stderr");
  const { source, size } = await openSource(context.args[0]);
  const progress = Deno.stderr.isTerminal()
    ? new Progress("import", "lines", size)
    : undefined;
  const first = new FirstRefused();
  const started = performance.now();
  let report;
  try {
    report = await context.client.putLines(source, {
      onRefused: (line, reason) => first.add(line, reason),
      onProgress: (counts) => progress?.update(counts.bytes, counts.lines),
    });
  } finally {
    progress?.finish();
  }
  const seconds = secondsSince(started);
  for (const [line, reason] of first.lines.slice(0, REASONS_SHOWN)) {
    console.error(`pulse: line ${line}: ${reason}`);
  }
  const numbers = first.lines.map(([line]) => line);
  const { stored, lines, refused } = report;
  console.error(
    `pulse: imported ${stored} of ${counted(lines, "line")} in ${
      seconds.toFixed(2)
    } s (${formatRate(stored, "lines", seconds)}), ${refused} refused`,
  );
  if (refused > 0) {
    const more = refused > numbers.length
      ? ` and ${refused - numbers.length} more`
      : "";
    throw new ClientError(
      `Cannot import ${refused} of ${counted(lines, "line")}: refused line${
        refused === 1 ? "" : "s"
      } ${numbers.join(", ")}${more}`,
    );
  }
  return "";
}

/** `pulse import`. */
export const IMPORT_COMMAND: Command = {
  usage: "import <file|->",
  summary: "send put lines from a file or stdin, as export writes them",
  help: `Sends the "put <key> <value> <timestamp>" lines of <file> (or of stdin,
with -), as "pulse export" writes them, pipelined on one connection, with a
bounded number of answers in flight: memory stays flat whatever the size.
Blank lines are skipped; a line may end in \\r\\n.

On a terminal, stderr shows a progress line: a bar and the time left for a
file, the count and the rate for stdin. At the end a summary goes to
stderr: lines stored and read, time, rate, lines refused.

A line that is not a valid put (or is longer than 1 MiB) is refused without
being sent, and a put the server refuses (older than its retention window,
say) is refused with the server's reason; the rest is stored all the same.
The first ${REASONS_SHOWN} refused lines are shown with their reason, and
the command then exits 1 naming up to ${NUMBERS_SHOWN} of their numbers.
--table, --json and --csv do not apply.`,
  flags: [],
  arity: [1, 1],
  run: importLines,
};
