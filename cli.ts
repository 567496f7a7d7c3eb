/**
 * The `pulse` command line: put, read, query and delete samples on a Pulse
 * server, check it, read its figures, and run the host agent.
 *
 * ```sh
 * deno run -A jsr:@pulse/metrics/cli put palm.cpu 10.6
 * deno run -A jsr:@pulse/metrics/cli query 'palm.*' -1h now --step 1m --agg max
 * deno run -A jsr:@pulse/metrics/cli agent --every 10s
 * ```
 *
 * Answers print as an aligned table on a terminal, and as the protocol's own
 * lines (`<key> <value> <timestamp>`) when the output is a pipe or a file;
 * `--json` and `--csv` print for scripts. It exits 0 on success, 1 on an
 * error answer or a connection failure (with a one-line message on stderr),
 * and 2 on a usage error. `pulse --help` and `pulse <command> --help` tell
 * the rest.
 *
 * The module also exports the host agent's API: {@linkcode Agent} and
 * {@linkcode HostCollector}.
 *
 * @example Putting and reading back through the command line
 * ```ts
 * import { serve } from "@pulse/metrics";
 * import { main } from "@pulse/metrics/cli";
 * import { strictEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * const port = String(server.addr.port);
 * strictEqual(await main(["put", "palm.cpu", "10.6", "1501864247", "--port", port]), 0);
 * strictEqual(await main(["get", "palm.cpu", "--port", port, "--json"]), 0);
 * strictEqual(await main(["frobnicate"]), 2);
 * ```
 *
 * @module
 */

import { Agent, DEFAULT_BUFFER, DEFAULT_EVERY } from "./agent/agent.ts";
import { Client, ClientError, type Samples } from "./client.ts";
import { hostPrefix } from "./agent/host.ts";
import {
  type Format,
  renderDeleted,
  renderKeys,
  renderPong,
  renderSamples,
  renderStats,
} from "./cli/output.ts";
import { type Aggregation, AGGREGATIONS } from "./store/query.ts";
import { DEFAULT_HOSTNAME, DEFAULT_PORT } from "./protocol/defaults.ts";
import { isKey } from "./protocol/grammar.ts";
import { parseDuration } from "./internal/units.ts";
import { describe } from "./internal/describe.ts";

export {
  Agent,
  type AgentOptions,
  type Collector,
  DEFAULT_BUFFER,
  DEFAULT_EVERY,
} from "./agent/agent.ts";
export {
  type DiskSpace,
  HostCollector,
  type HostCollectorOptions,
  hostPrefix,
  type HostSource,
  keySegment,
  type Sample,
} from "./agent/host.ts";

/** The default of `--timeout`: 10 seconds. */
const DEFAULT_TIMEOUT = 10_000;

/** A wrong command line: exit code 2. */
class UsageError extends Error {}

/** What one subcommand takes and does. */
interface Command {
  /** Its arguments, for the usage line. */
  usage: string;
  /** One line for the overview. */
  summary: string;
  /** The rest of its help. */
  help: string;
  /** The options it takes beyond the global ones. */
  options: string[];
  /** The fewest and the most arguments. */
  arity: [min: number, max: number];
  /** Runs it; returns the text to print. */
  run(context: Context): Promise<string>;
}

/** What a subcommand runs with. */
interface Context {
  args: string[];
  flags: Map<string, string | true>;
  format: Format;
  /** Seconds since the epoch, read once so that `-1h` and `now` agree. */
  now: number;
  /** The server's client; it connects on first use. */
  client: Client;
}

/** Every option, and whether it takes a value. */
const OPTIONS: Record<string, "string" | "boolean"> = {
  host: "string",
  port: "string",
  token: "string",
  tls: "boolean",
  ca: "string",
  timeout: "string",
  table: "boolean",
  json: "boolean",
  csv: "boolean",
  help: "boolean",
  step: "string",
  agg: "string",
  every: "string",
  prefix: "string",
  buffer: "string",
};

/** The options every command takes. */
const GLOBAL_OPTIONS = [
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
];

const GLOBAL_HELP = `Options for every command:
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
  -h, --help         show help

Without --table, --json or --csv, output that is not a terminal gets the
protocol's own lines: "<key> <value> <timestamp>" per sample.`;

const TIME_HELP =
  `Times: Unix seconds (1501864247), "now", a duration before now (-1h,
-30m, -7d), or an ISO 8601 date or date-time (2017-08-04, 2017-08-04T16:30:47Z;
a date-time without an offset is local time).`;

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Reads a time argument into Unix seconds. */
function parseTime(text: string, now: number, what: string): number {
  if (text === "now") return now;
  if (/^[+-]?\d+$/.test(text)) {
    const seconds = Number(text);
    if (Number.isSafeInteger(seconds)) return seconds;
  } else if (text.startsWith("-")) {
    try {
      return now - Math.floor(parseDuration(text.slice(1)) / 1000);
    } catch {
      // Reported below with the other forms.
    }
  } else if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return Math.floor(ms / 1000);
  }
  throw new UsageError(
    `invalid ${what} "${text}": use Unix seconds, now, -1h or an ISO date`,
  );
}

/** Reads `--step`: whole seconds, or a duration of whole seconds. */
function parseStep(text: string): number {
  let seconds = NaN;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else {
    try {
      seconds = parseDuration(text) / 1000;
    } catch {
      // Reported below.
    }
  }
  if (!(Number.isSafeInteger(seconds) && seconds > 0)) {
    throw new UsageError(
      `invalid --step "${text}": use whole seconds, such as 60 or 1m`,
    );
  }
  return seconds;
}

function durationFlag(
  context: Context,
  name: string,
  fallback: number,
): number {
  const text = context.flags.get(name);
  if (typeof text !== "string") return fallback;
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`);
  }
}

function key(text: string, what = "key"): string {
  if (!isKey(text)) {
    throw new UsageError(`invalid ${what} "${text}": it holds whitespace`);
  }
  return text;
}

async function samplesOf(
  context: Context,
  read: (client: Client) => Promise<Samples>,
): Promise<string> {
  return renderSamples(await read(context.client), context.format);
}

const PATTERN_HELP =
  `Patterns are Graphite-style globs on dot-separated names: * and ? match
within one segment, ** one or more whole segments, {cpu,memory}
alternatives, [a-z] and [!x] classes. "palm.*" matches palm.cpu, not
palm.disk.root; "palm.**" matches both. Quote them for the shell.`;

const COMMANDS: Record<string, Command> = {
  put: {
    usage: "put <key> <value> [timestamp]",
    summary: "store a sample",
    help:
      `Stores <value> in the series <key> at [timestamp] (default now); the same
key and timestamp again replaces the value. Prints nothing.

${TIME_HELP}`,
    options: [],
    arity: [2, 3],
    async run(context) {
      const [name, valueText, timeText] = context.args;
      const value = Number(valueText);
      if (!DECIMAL.test(valueText) || !Number.isFinite(value)) {
        throw new UsageError(`invalid value "${valueText}": not a number`);
      }
      const timestamp = timeText === undefined
        ? context.now
        : parseTime(timeText, context.now, "timestamp");
      const client = context.client;
      await client.put(key(name), value, timestamp);
      return "";
    },
  },
  get: {
    usage: "get <key|*>",
    summary: "read a series, or all of them",
    help:
      `Prints every sample of the series <key>, or of every series with "*".`,
    options: [],
    arity: [1, 1],
    run: (context) =>
      samplesOf(context, (client) => client.get(key(context.args[0]))),
  },
  last: {
    usage: "last <pattern>",
    summary: "the latest sample of each matching series",
    help: `Prints the latest sample of each series matching <pattern>.

${PATTERN_HELP}`,
    options: [],
    arity: [1, 1],
    run: (context) =>
      samplesOf(
        context,
        (client) => client.last(key(context.args[0], "pattern")),
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
    options: ["step", "agg"],
    arity: [3, 3],
    run(context) {
      const [pattern, fromText, toText] = context.args;
      const from = parseTime(fromText, context.now, "from");
      const to = parseTime(toText, context.now, "to");
      const stepText = context.flags.get("step");
      const aggText = context.flags.get("agg");
      if (aggText !== undefined && stepText === undefined) {
        throw new UsageError("--agg needs --step");
      }
      const step = typeof stepText === "string"
        ? parseStep(stepText)
        : undefined;
      const aggregation = aggText as Aggregation | undefined;
      if (aggregation !== undefined && !AGGREGATIONS.includes(aggregation)) {
        throw new UsageError(
          `invalid --agg "${aggText}": use one of ${AGGREGATIONS.join(", ")}`,
        );
      }
      return samplesOf(
        context,
        (client) =>
          client.query(key(pattern, "pattern"), {
            from,
            to,
            step,
            aggregation: step === undefined ? undefined : aggregation ?? "avg",
          }),
      );
    },
  },
  keys: {
    usage: "keys <pattern>",
    summary: "the names of the matching series",
    help: `Prints the names of the series matching <pattern>, in the order they
were first put.

${PATTERN_HELP}`,
    options: [],
    arity: [1, 1],
    async run(context) {
      const client = context.client;
      return renderKeys(
        await client.keys(key(context.args[0], "pattern")),
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
    options: [],
    arity: [1, 1],
    async run(context) {
      const client = context.client;
      return renderDeleted(
        await client.delete(key(context.args[0], "pattern")),
        context.format,
      );
    },
  },
  ping: {
    usage: "ping",
    summary: "check that the server answers",
    help: "Prints pong once the server has answered.",
    options: [],
    arity: [0, 0],
    async run(context) {
      const client = context.client;
      await client.ping();
      return renderPong(context.format);
    },
  },
  stats: {
    usage: "stats",
    summary: "the server's figures",
    help:
      "Prints the server's figures: uptime, connections, commands, errors,\nseries, samples, bytes in and out.",
    options: [],
    arity: [0, 0],
    async run(context) {
      const client = context.client;
      return renderStats(await client.stats(), context.format);
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
    options: ["every", "prefix", "buffer"],
    arity: [0, 0],
    async run(context) {
      const every = durationFlag(context, "every", DEFAULT_EVERY);
      const buffer = durationFlag(context, "buffer", DEFAULT_BUFFER);
      const prefixFlag = context.flags.get("prefix");
      const prefix = typeof prefixFlag === "string"
        ? key(prefixFlag, "prefix")
        : hostPrefix();
      if (every < 1000) throw new UsageError("--every must be at least 1s");
      const client = context.client;
      const agent = new Agent(client, { every, buffer, prefix });
      const controller = new AbortController();
      const stop = () => controller.abort();
      const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
      for (const signal of signals) Deno.addSignalListener(signal, stop);
      const host = context.flags.get("host") ?? DEFAULT_HOSTNAME;
      const port = context.flags.get("port") ?? DEFAULT_PORT;
      console.error(
        `pulse: agent: sending ${prefix}.* to ${host}:${port} every ${
          every / 1000
        }s`,
      );
      try {
        await agent.run(controller.signal);
      } finally {
        for (const signal of signals) Deno.removeSignalListener(signal, stop);
      }
      return "";
    },
  },
};

const OVERVIEW = `Usage: pulse [options] <command> [arguments]

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

function commandHelp(command: Command): string {
  return `Usage: pulse ${command.usage} [options]

${command.help}

${GLOBAL_HELP}
`;
}

/** Splits arguments into positionals and options. */
function parseCommandLine(
  args: string[],
): { positionals: string[]; flags: Map<string, string | true> } {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    // "-1h" and "-5" are a time and a value, not options.
    if (!arg.startsWith("-") || arg === "-" || /^-[\d.]/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    if (arg === "-h") {
      flags.set("help", true);
      continue;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const type = match === null ? undefined : OPTIONS[match[1]];
    if (match === null || type === undefined) {
      throw new UsageError(`unknown option ${arg}`);
    }
    const [, name, inline] = match;
    if (type === "boolean") {
      if (inline !== undefined) {
        throw new UsageError(`--${name} takes no value`);
      }
      flags.set(name, true);
    } else if (inline !== undefined) {
      flags.set(name, inline);
    } else if (i + 1 < args.length) {
      flags.set(name, args[++i]);
    } else {
      throw new UsageError(`--${name} needs a value`);
    }
  }
  return { positionals, flags };
}

function chooseFormat(flags: Map<string, string | true>): Format {
  const chosen = (["table", "json", "csv"] as const).filter((name) =>
    flags.has(name)
  );
  if (chosen.length > 1) {
    throw new UsageError(
      `choose one of ${chosen.map((name) => `--${name}`).join(", ")}`,
    );
  }
  return chosen[0] ?? (Deno.stdout.isTerminal() ? "table" : "plain");
}

/** Makes the client the flags describe; it connects on first use. */
async function clientFor(flags: Map<string, string | true>): Promise<Client> {
  const get = (name: string) => {
    const value = flags.get(name);
    return typeof value === "string" ? value : undefined;
  };
  const portText = get("port") ?? String(DEFAULT_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new UsageError("--port must be an integer from 1 to 65535");
  }
  let timeout = DEFAULT_TIMEOUT;
  const timeoutText = get("timeout");
  if (timeoutText !== undefined) {
    try {
      timeout = parseDuration(timeoutText);
    } catch (error) {
      throw new UsageError(`--timeout: ${(error as Error).message}`);
    }
  }
  const token = get("token") ?? Deno.env.get("PULSE_TOKEN");
  if (token !== undefined && !isKey(token)) {
    throw new UsageError("the token is empty or holds whitespace");
  }
  const caFile = get("ca");
  let caCerts: string[] | undefined;
  if (caFile !== undefined) {
    try {
      caCerts = [await Deno.readTextFile(caFile)];
    } catch (error) {
      throw new UsageError(`cannot read --ca ${caFile}: ${describe(error)}`);
    }
  }
  return new Client(get("host") ?? DEFAULT_HOSTNAME, port, {
    timeout: timeout > 0 ? timeout : undefined,
    token,
    tls: flags.has("tls") || caCerts !== undefined,
    caCerts,
  });
}

/** Writes all of `text` to stdout; a reader that went away is no error. */
async function print(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  try {
    for (let written = 0; written < bytes.length;) {
      written += await Deno.stdout.write(bytes.subarray(written));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/**
 * Runs the command line: parses `args`, talks to the server, prints the
 * answer on stdout and any failure as one line on stderr.
 *
 * @example Usage
 * ```ts
 * import { serve } from "@pulse/metrics";
 * import { main } from "@pulse/metrics/cli";
 * import { strictEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * strictEqual(await main(["ping", "--port", String(server.addr.port)]), 0);
 * ```
 *
 * @param args The arguments, such as `["get", "palm.cpu", "--json"]`.
 * @returns The exit code: 0 on success, 1 on an error answer or a
 * connection failure, 2 on a usage error.
 */
export async function main(args: string[]): Promise<number> {
  let client: Client | undefined;
  let name: string | undefined;
  try {
    const { positionals, flags } = parseCommandLine(args);
    const [first, ...rest] = positionals;
    if (first === undefined || first === "help") {
      const topic = rest[0];
      if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) {
        throw new UsageError(`unknown command "${topic}"`);
      }
      if (first === undefined && !flags.has("help")) {
        throw new UsageError("missing a command");
      }
      await print(
        topic === undefined ? OVERVIEW : commandHelp(COMMANDS[topic]),
      );
      return 0;
    }
    if (!Object.hasOwn(COMMANDS, first)) {
      throw new UsageError(`unknown command "${first}"`);
    }
    name = first;
    const command = COMMANDS[name];
    if (flags.has("help")) {
      await print(commandHelp(command));
      return 0;
    }
    for (const flag of flags.keys()) {
      if (!GLOBAL_OPTIONS.includes(flag) && !command.options.includes(flag)) {
        throw new UsageError(`${name} does not take --${flag}`);
      }
    }
    const [min, max] = command.arity;
    if (rest.length < min || rest.length > max) {
      throw new UsageError(
        `${rest.length < min ? "missing" : "too many"} arguments: pulse ${
          command.usage.replace(/ \[--.*$/, "")
        }`,
      );
    }
    const format = chooseFormat(flags);
    client = await clientFor(flags);
    await print(
      await command.run({
        args: rest,
        flags,
        format,
        now: Math.floor(Date.now() / 1000),
        client,
      }),
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(
        `pulse: ${error.message} (see pulse ${
          name === undefined ? "" : `${name} `
        }--help)`,
      );
      return 2;
    }
    // A ClientError says what failed; others are from the system.
    console.error(
      `pulse: ${
        error instanceof ClientError ? error.message : describe(error)
      }`,
    );
    return 1;
  } finally {
    await client?.[Symbol.asyncDispose]();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
