/**
 * What the commands that move data in bulk (`export`, `import`, `backup`)
 * share: they write one format of their own, read times from flags, and
 * tell the time they took.
 *
 * @module
 */

import { parseTime } from "../internal/time.ts";
import { UsageError } from "./flags.ts";
import type { CommandLine } from "./options.ts";

/**
 * Refuses `--table`, `--json` and `--csv`: the command writes one format.
 *
 * @param line The command line, read.
 * @param command The command's name.
 * @param writes What it writes, for the message.
 * @throws {UsageError} When one of them was given.
 */
export function checkNoFormat(
  line: CommandLine,
  command: string,
  writes: string,
): void {
  for (const flag of ["table", "json", "csv"] as const) {
    if (line[flag]) {
      throw new UsageError(
        `Cannot use --${flag} with ${command}: it writes ${writes}`,
      );
    }
  }
}

/**
 * Reads a time flag, in any form the command line takes.
 *
 * @param text Its value, if given.
 * @param now Seconds since the epoch.
 * @returns The time, or `undefined` when not given.
 * @throws {UsageError} When it is no time.
 */
export function readTimeFlag(
  text: string | undefined,
  now: number,
): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseTime(text, now);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Seconds since `started`, for summaries.
 *
 * @param started A `performance.now()`.
 * @returns The seconds.
 */
export function secondsSince(started: number): number {
  return (performance.now() - started) / 1000;
}

/**
 * A count and its noun: `1 line`, `2 lines`.
 *
 * @param count How many.
 * @param noun Of what, singular.
 * @returns The text.
 */
export function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
