/**
 * The flags of the `pulse` command line: every one of them for
 * {@linkcode parseArgs}, those every command takes, their help, and the
 * {@linkcode Client} they describe.
 *
 * @module
 */

import { Client } from "../client.ts";
import { describe } from "../internal/describe.ts";
import { DEFAULT_HOSTNAME, DEFAULT_PORT } from "../protocol/defaults.ts";
import { isKey } from "../protocol/grammar.ts";
import {
  type Args,
  parseArgs,
  readCount,
  readDuration,
  UsageError,
} from "./flags.ts";

/** The default of `--timeout`: 10 seconds. */
const DEFAULT_TIMEOUT = 10_000;

/** Every flag of the command line, global or a command's own. */
const FLAGS = {
  string: [
    "host",
    "port",
    "token",
    "ca",
    "timeout",
    "step",
    "agg",
    "every",
    "prefix",
    "buffer",
    "from",
    "to",
    "http",
  ],
  boolean: ["tls", "table", "json", "csv", "help", "version"],
  alias: { h: "help" },
} as const;

/** The name of a flag of the command line. */
export type FlagName =
  | typeof FLAGS.string[number]
  | typeof FLAGS.boolean[number];

/** The command line, read: its flags by name and its positionals in `_`. */
export type CommandLine = Args<
  typeof FLAGS.string[number],
  typeof FLAGS.boolean[number],
  never,
  Record<never, never>
>;

/** The flags every command takes. */
export const GLOBAL_FLAGS: readonly FlagName[] = [
  "host",
  "port",
  "token",
  "tls",
  "ca",
  "timeout",
  "table",
  "json",
  "csv",
  "help",
  "version",
];

/** The help of {@linkcode GLOBAL_FLAGS}. */
export const GLOBAL_HELP = `Options for every command:
  --host HOST        the server's address (default ${DEFAULT_HOSTNAME})
  --port PORT        the server's port (default ${DEFAULT_PORT})
  --token SECRET     log in with this token (default: $PULSE_TOKEN)
  --tls              connect over TLS
  --ca FILE          trust this PEM certificate too (implies --tls)
  --timeout DURATION give up on an answer after this long, 0s for never
                     (default 10s)
  --table            print an aligned table (default on a terminal)
  --json             print JSON
  --csv              print CSV
  --version          print the version
  -h, --help         show help

Without --table, --json or --csv, output that is not a terminal gets the
protocol's own lines: "<key> <value> <timestamp>" per sample.`;

/**
 * Reads the arguments.
 *
 * @param args The arguments, such as `["get", "palm.cpu", "--json"]`.
 * @returns The flags and the positionals.
 * @throws {UsageError} On a flag it cannot read.
 */
export function parseCommandLine(args: readonly string[]): CommandLine {
  return parseArgs(args, FLAGS);
}

/**
 * The flags given on the command line, by name.
 *
 * @param line The command line, read.
 * @returns The names of the switches on and the flags with a value.
 */
export function givenFlags(line: CommandLine): FlagName[] {
  return [...FLAGS.string, ...FLAGS.boolean].filter((name) =>
    line[name] !== undefined && line[name] !== false
  );
}

/**
 * Checks a key, a pattern or a prefix by the protocol's grammar.
 *
 * @param text The argument.
 * @param what What it is, for the message: `key`, `pattern`, `prefix`.
 * @returns The text.
 * @throws {UsageError} When it is empty or holds whitespace.
 */
export function checkKey(text: string, what: string): string {
  if (!isKey(text)) {
    throw new UsageError(
      `Cannot use the ${what} "${text}": it is empty or holds whitespace`,
    );
  }
  return text;
}

/**
 * The address the command line talks to, for messages.
 *
 * @param line The command line, read.
 * @returns Such as `127.0.0.1:8888`.
 */
export function serverAddress(line: CommandLine): string {
  return `${line.host ?? DEFAULT_HOSTNAME}:${line.port ?? DEFAULT_PORT}`;
}

/**
 * Makes the client the flags describe; it connects on first use.
 *
 * @param line The command line, read.
 * @returns The client.
 * @throws {UsageError} On a port, timeout or token it cannot use, or a
 * `--ca` file it cannot read.
 */
export async function clientFor(line: CommandLine): Promise<Client> {
  const port = line.port === undefined
    ? DEFAULT_PORT
    : readCount("--port", line.port, { min: 1, max: 65535 });
  const timeout = line.timeout === undefined
    ? DEFAULT_TIMEOUT
    : readDuration("--timeout", line.timeout);
  const token = line.token ?? Deno.env.get("PULSE_TOKEN");
  if (token !== undefined && !isKey(token)) {
    throw new UsageError(
      "Cannot use the token: it is empty or holds whitespace",
    );
  }
  let caCerts: string[] | undefined;
  if (line.ca !== undefined) {
    try {
      caCerts = [await Deno.readTextFile(line.ca)];
    } catch (error) {
      throw new UsageError(`Cannot read --ca ${line.ca}: ${describe(error)}`);
    }
  }
  return new Client(line.host ?? DEFAULT_HOSTNAME, port, {
    timeout: timeout > 0 ? timeout : undefined,
    token,
    tls: line.tls || caCerts !== undefined,
    caCerts,
  });
}
