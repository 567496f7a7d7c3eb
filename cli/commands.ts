/**
 * The commands of the `pulse` command line, each with its arguments, its
 * help and what it runs, and the help pages made of them.
 *
 * @module
 */

import { Agent, DEFAULT_BUFFER, DEFAULT_EVERY } from "../agent/agent.ts";
import { hostPrefix } from "../agent/host.ts";
import type { Client, Samples } from "../client.ts";
import { parseStep, parseTime } from "../internal/time.ts";
import { parseValueText } from "../protocol/grammar.ts";
import { AGGREGATIONS, isAggregation } from "../store/query.ts";
import { BACKUP_COMMAND } from "./backup.ts";
import { EXPORT_COMMAND } from "./export.ts";
import { readDuration, UsageError } from "./flags.ts";
import { IMPORT_COMMAND } from "./import.ts";
import {
  checkKey,
  type CommandLine,
  type FlagName,
  givenFlags,
  GLOBAL_FLAGS,
  GLOBAL_HELP,
  serverAddress,
} from "./options.ts";
import {
  type Format,
  renderClients,
  renderDeleted,
  renderDone,
  renderKeys,
  renderPong,
  renderSamples,
  renderStats,
} from "./output.ts";

/** What a command runs with. */
export interface Context {
  /** Its arguments, after the command's name. */
  args: string[];
  /** The whole command line, read. */
  line: CommandLine;
  /** How to print. */
  format: Format;
  /** Seconds since the epoch, read once so that `-1h` and `now` agree. */
  now: number;
  /** The server's client; it connects on first use. */
  client: Client;
}

/** What one command takes and does. */
export interface Command {
  /** Its arguments, for the usage line. */
  usage: string;
  /** One line for the overview. */
  summary: string;
  /** The rest of its help. */
  help: string;
  /** The flags it takes beyond the global ones. */
  flags: readonly FlagName[];
  /** The fewest and the most arguments. */
  arity: [min: number, max: number];
  /** Runs it; returns the text to print. */
  run(context: Context): Promise<string>;
}

const TIME_HELP =
  `Times: Unix seconds (1501864247), "now", a duration before now (-1h,
-30m, -7d), or an ISO 8601 date or date-time (2017-08-04, 2017-08-04T16:30:47Z;
a date-time without an offset is local time).`;

const PATTERN_HELP =
  `Patterns are Graphite-style globs on dot-separated names: * and ? match
within one segment, ** one or more whole segments, {cpu,memory}
alternatives, [a-z] and [!x] classes. "palm.*" matches palm.cpu, not
palm.disk.root; "palm.**" matches both. Quote them for the shell.`;

/** Runs a reader of internal/time.ts, its error a usage error. */
function reading<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Reads a time argument. */
function time(text: string, now: number): number {
  return reading(() => parseTime(text, now));
}

/** Runs a read of samples and renders them. */
async function samplesOf(
  context: Context,
  read: (client: Client) => Promise<Samples>,
): Promise<string> {
  return renderSamples(await read(context.client), context.format);
}

/** `put <key> <value> [timestamp]`. */
async function put(context: Context): Promise<string> {
  const [key, valueText, timeText] = context.args;
  // The protocol's own grammar: what the server would refuse is refused.
  const value = parseValueText(valueText);
  if (Number.isNaN(value)) {
    throw new UsageError(
      `Cannot put the value "${valueText}": it is not a finite decimal number`,
    );
  }
  const timestamp = timeText === undefined
    ? context.now
    : time(timeText, context.now);
  await context.client.put(checkKey(key, "key"), value, timestamp);
  return "";
}

/** `query <pattern> <from> <to> [--step S] [--agg A]`. */
function query(context: Context): Promise<string> {
  const [pattern, fromText, toText] = context.args;
  const from = time(fromText, context.now);
  const to = time(toText, context.now);
  const { step: stepText, agg } = context.line;
  if (agg !== undefined && stepText === undefined) {
    throw new UsageError("Cannot use --agg without --step");
  }
  const step = stepText === undefined
    ? undefined
    : reading(() => parseStep(stepText));
  if (agg !== undefined && !isAggregation(agg)) {
    throw new UsageError(`--agg must be one of ${AGGREGATIONS.join(", ")}`);
  }
  return samplesOf(
    context,
    (client) =>
      client.query(checkKey(pattern, "pattern"), {
        from,
        to,
        step,
        aggregation: step === undefined ? undefined : agg ?? "avg",
      }),
  );
}

/** `agent`: sends this host's figures until SIGINT or SIGTERM. */
async function agent(context: Context): Promise<string> {
  const { line } = context;
  const every = line.every === undefined
    ? DEFAULT_EVERY
    : readDuration("--every", line.every, { min: 1000 });
  const buffer = line.buffer === undefined
    ? DEFAULT_BUFFER
    : readDuration("--buffer", line.buffer);
  const prefix = line.prefix === undefined
    ? hostPrefix()
    : checkKey(line.prefix, "prefix");
  const runner = new Agent(context.client, { every, buffer, prefix });
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  console.error(
    `pulse: agent: sending ${prefix}.* to ${serverAddress(line)} every ${
      every / 1000
    }s`,
  );
  try {
    await runner.run(controller.signal);
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
  return "";
}

/** The commands, by name, in the order the overview lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  put: {
    usage: "put <key> <value> [timestamp]",
    summary: "store a sample",
    help:
      `Stores <value> in the series <key> at [timestamp] (default now); the same
key and timestamp again replaces the value. Prints nothing.

${TIME_HELP}`,
    flags: [],
    arity: [2, 3],
    run: put,
  },
  get: {
    usage: "get <key|*>",
    summary: "read a series, or all of them",
    help:
      `Prints every sample of the series <key>, or of every series with "*".`,
    flags: [],
    arity: [1, 1],
    run: (context) =>
      samplesOf(
        context,
        (client) => client.get(checkKey(context.args[0], "key")),
      ),
  },
  last: {
    usage: "last <pattern>",
    summary: "the latest sample of each matching series",
    help: `Prints the latest sample of each series matching <pattern>.

${PATTERN_HELP}`,
    flags: [],
    arity: [1, 1],
    run: (context) =>
      samplesOf(
        context,
        (client) => client.last(checkKey(context.args[0], "pattern")),
      ),
  },
  query: {
    usage: "query <pattern> <from> <to> [--step S] [--agg A]",
    summary: "samples in a time range, rolled up or not",
    help:
      `Prints the samples with from <= timestamp <= to of each series matching
<pattern>. With --step, each series is rolled up into buckets of that many
seconds, aligned to multiples of it, one row per non-empty bucket stamped
with its start.

Options:
  --step S   bucket width: seconds (60) or a duration (1m, 1h)
  --agg A    how a bucket becomes one value: ${
        AGGREGATIONS.join(", ")
      } (default avg)

${TIME_HELP}

${PATTERN_HELP}`,
    flags: ["step", "agg"],
    arity: [3, 3],
    run: query,
  },
  keys: {
    usage: "keys [pattern]",
    summary: "the names of the matching series, or of all",
    help: `Prints the names of the series matching [pattern], or of every series
without one, in the order they were first put.

${PATTERN_HELP}`,
    flags: [],
    arity: [0, 1],
    run: async (context) => {
      const [pattern] = context.args;
      return renderKeys(
        await context.client.keys(
          pattern === undefined ? undefined : checkKey(pattern, "pattern"),
        ),
        context.format,
      );
    },
  },
  delete: {
    usage: "delete <pattern>",
    summary: "remove the matching series",
    help:
      `Removes every series matching <pattern>, durably, and prints how many.

${PATTERN_HELP}`,
    flags: [],
    arity: [1, 1],
    run: async (context) =>
      renderDeleted(
        await context.client.delete(checkKey(context.args[0], "pattern")),
        context.format,
      ),
  },
  ping: {
    usage: "ping",
    summary: "check that the server answers",
    help: "Prints pong once the server has answered.",
    flags: [],
    arity: [0, 0],
    run: async (context) => {
      await context.client.ping();
      return renderPong(context.format);
    },
  },
  stats: {
    usage: "stats",
    summary: "the server's figures",
    help:
      "Prints the server's figures: uptime, connections, commands, errors,\nseries, samples, bytes in and out.",
    flags: [],
    arity: [0, 0],
    run: async (context) =>
      renderStats(await context.client.stats(), context.format),
  },
  clients: {
    usage: "clients",
    summary: "the connections open on the server",
    help:
      `Prints the connections open on the server, this one included: each one's
id (unique while the server runs), address, age and idle time in seconds,
requests answered (cmds), and bytes received (in) and sent (out).`,
    flags: [],
    arity: [0, 0],
    run: async (context) =>
      renderClients(await context.client.clients(), context.format),
  },
  compact: {
    usage: "compact",
    summary: "snapshot the data directory and cut its log",
    help: `Has the server write a snapshot of every sample and cut its log, then
prints "compacted" (on a terminal; nothing otherwise). The server does this by
itself as its log grows (--compact-bytes); this does it now, before a backup
or to free the log's disk space. Allowed to a client with the token when the
server has one, else only from the server's own machine (loopback). A large
store may take longer than --timeout: raise it (--timeout 5m).`,
    flags: [],
    arity: [0, 0],
    run: async (context) => {
      await context.client.compact();
      return renderDone("compacted", context.format);
    },
  },
  shutdown: {
    usage: "shutdown",
    summary: "stop the server",
    help:
      `Stops the server as SIGTERM does: it answers what it received, writes its
log and exits 0. Allowed as compact is: with the token, else from loopback.`,
    flags: [],
    arity: [0, 0],
    run: async (context) => {
      await context.client.shutdown();
      return renderDone("the server is shutting down", context.format);
    },
  },
  agent: {
    usage: "agent [--every 10s] [--prefix NAME] [--buffer 1h]",
    summary: "send this host's figures every interval",
    help:
      `Sends this host's figures every interval until SIGINT or SIGTERM, then
sends what it holds and exits 0:
  <prefix>.cpu               percent busy over the interval (/proc/stat)
  <prefix>.memory            bytes used: MemTotal - MemAvailable
  <prefix>.load1             the 1-minute load average
  <prefix>.disk.<mount>      percent used of each real filesystem
                             (/ is root, /var/lib is var_lib)
  <prefix>.net.<iface>.rx    bytes received per second (and .tx sent),
                             every interface but lo
CPU and network rates start from the second collection. What the system
does not offer is skipped with one warning. While the server is unreachable,
samples are held, up to --buffer of them, and sent in order once it is back.

Options:
  --every DURATION   the interval, at least 1s (default 10s)
  --prefix NAME      the first segment of every key (default: the host name,
                     dots replaced by _)
  --buffer DURATION  how much to hold while the server is unreachable; the
                     oldest is dropped beyond it (default 1h)`,
    flags: ["every", "prefix", "buffer"],
    arity: [0, 0],
    run: agent,
  },
  // Moving data in bulk: modules of their own.
  export: EXPORT_COMMAND,
  import: IMPORT_COMMAND,
  backup: BACKUP_COMMAND,
};

/** The overview: `pulse --help`. */
export const OVERVIEW = `Usage: pulse [options] <command> [arguments]

Talks to a Pulse metrics server (deno task pulse, or
deno run -A jsr:@pulse/metrics/cli).

Commands:
${
  Object.values(COMMANDS).map((command) =>
    `  ${command.usage.split(" ")[0].padEnd(8)} ${command.summary}`
  ).join("\n")
}

${GLOBAL_HELP}

Exit status: 0 on success, 1 on an error answer or a connection failure,
2 on a usage error. "pulse <command> --help" tells more.
`;

/**
 * A command's help page: `pulse <command> --help`.
 *
 * @param command The command.
 * @returns The page.
 */
export function commandHelp(command: Command): string {
  return `Usage: pulse ${command.usage} [options]

${command.help}

${GLOBAL_HELP}
`;
}

/**
 * The command of a name.
 *
 * @param name Such as `put`.
 * @returns The command.
 * @throws {UsageError} When there is none of that name.
 */
export function commandNamed(name: string): Command {
  if (!Object.hasOwn(COMMANDS, name)) {
    throw new UsageError(`Cannot run "${name}": there is no such command`);
  }
  return COMMANDS[name];
}

/**
 * Checks that a command takes the flags given and as many arguments.
 *
 * @param name The command's name.
 * @param line The command line, read.
 * @throws {UsageError} When it takes a flag given, or not so many
 * arguments.
 */
export function checkUse(name: string, line: CommandLine): void {
  const command = commandNamed(name);
  for (const flag of givenFlags(line)) {
    if (!GLOBAL_FLAGS.includes(flag) && !command.flags.includes(flag)) {
      throw new UsageError(`Cannot use --${flag} with ${name}`);
    }
  }
  const count = line._.length - 1;
  const [min, max] = command.arity;
  if (count < min || count > max) {
    throw new UsageError(
      `Cannot run ${name} with ${
        count < min ? "so few" : "so many"
      } arguments: use pulse ${command.usage.replace(/ \[--.*$/, "")}`,
    );
  }
}
