/**
 * The server's command line: `deno run -A server.ts [options]` parses its
 * flags here and runs {@linkcode runServer} until SIGINT or SIGTERM.
 *
 * @module
 */

import {
  type Args,
  parseArgs,
  readCount,
  readDuration,
  readSize,
  UsageError,
} from "../cli/flags.ts";
import {
  DEFAULT_GRAPHITE_MAX_CONNECTIONS,
  DEFAULT_GRAPHITE_PORT,
  DEFAULT_PICKLE_PORT,
} from "../graphite/ingest.ts";
import {
  DEFAULT_HTTP_HOSTNAME,
  DEFAULT_HTTP_MAX_CONNECTIONS,
  DEFAULT_HTTP_PORT,
} from "../http.ts";
import { describe } from "../internal/describe.ts";
import {
  isLogLevel,
  LOG_LEVELS,
  Logger,
  type LogLevel,
} from "../internal/logger.ts";
import { VERSION } from "../internal/version.ts";
import { FSYNC_POLICIES, type FsyncPolicy } from "../persist/journal.ts";
import { LogFile, STDERR } from "./log_file.ts";
import { DEFAULT_BATCH_MS, DEFAULT_BATCH_ROWS } from "../storage/clickhouse.ts";
import { runServer, type RunServerOptions } from "./run_server.ts";
import {
  DEFAULT_HOSTNAME,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
} from "./serve.ts";

const HELP = `Usage: deno run -A server.ts [options]

Serves Pulse's metrics protocol over TCP. Ctrl-C (SIGINT), SIGTERM or a
client's "shutdown" stops it: it answers what it received, writes its log
and exits 0.

Options:
  --hostname HOST        address to listen on (default ${DEFAULT_HOSTNAME})
  --port PORT            port to listen on, 0 for any free one (default ${DEFAULT_PORT})
  --data DIR             keep samples in DIR (default ./data)
  --memory               keep samples in memory only, as the course's server
                         does (not with --data)
  --clickhouse URL       keep samples in ClickHouse, http://[user:pass@]host:8123/db:
                         a stateless front end, with no --data or --memory
  --clickhouse-cluster NAME
                         shard over this cluster of ClickHouse's remote_servers
  --clickhouse-timeout DURATION
                         answer errors when ClickHouse takes longer (default 10s)
  --clickhouse-insert-quorum N
                         on replicas, answer a put once N replicas have it (default 1)
  --clickhouse-batch-rows N
                         send puts to ClickHouse once N wait (default ${DEFAULT_BATCH_ROWS})
  --clickhouse-batch-ms N
                         or once the first has waited N ms (default ${DEFAULT_BATCH_MS})
  --fsync POLICY         always: answer puts once on disk; everysec: fsync every
                         second; no: leave it to the OS (default everysec)
  --compact-bytes SIZE   compact the log into a snapshot past SIZE, once it holds
                         as many changes as the snapshot has samples (default 64MiB)
  --retention DURATION   drop samples older than this, such as 30d or 12h
                         (default: keep everything)
  --token SECRET         clients must first send "auth SECRET" (or set PULSE_TOKEN)
  --cert FILE --key FILE serve over TLS with this PEM certificate and key
  --http HOST:PORT       serve the HTTP API and dashboard there, with the same
                         token and TLS; off to disable (default ${DEFAULT_HTTP_HOSTNAME}:${DEFAULT_HTTP_PORT})
  --http-host NAME       a host name the HTTP server answers to, besides IP
                         addresses and localhost (repeatable)
  --http-max-connections N
                         answer HTTP connections past N with 503 (default ${DEFAULT_HTTP_MAX_CONNECTIONS})
  --max-body SIZE        the bytes all HTTP put bodies in flight may hold
                         together, and so the largest body (default 16MiB)
  --max-render-points N  the most samples one Graphite /render may read
                         (default 10000000)
  --graphite HOST:PORT   take Graphite plaintext there, over TCP and UDP; off to
                         disable (default ${DEFAULT_HOSTNAME}:${DEFAULT_GRAPHITE_PORT})
  --pickle HOST:PORT     take carbon's pickle protocol there (default off;
                         carbon uses ${DEFAULT_PICKLE_PORT})
  --graphite-max-connections N
                         refuse Graphite connections past N, per listener
                         (default ${DEFAULT_GRAPHITE_MAX_CONNECTIONS})
  --max-connections N    refuse connections past N (default ${DEFAULT_MAX_CONNECTIONS})
  --idle-timeout DURATION close connections silent this long (default: never)
  --max-output SIZE      disconnect a client holding more unread answers (default 8MiB)
  --max-line-length SIZE the longest request line (default 64KiB)
  --log FILE             write the event log there, one JSON object a line;
                         SIGHUP reopens FILE (log rotation); - for stderr
                         (default -)
  --log-level LEVEL      ${
  LOG_LEVELS.join(", ")
}: the least severe written (default info)
  --log-requests         log every request line too (the token of "auth" left
                         out); to a file it costs 15-20% of the put rate
                         with one request in flight per connection, 40-60%
                         with 64 pipelined (deno task bench --only throughput)
  --version              print the version
  -h, --help             show this help
`;

/** The server's flags, for {@linkcode parseArgs}. */
const FLAGS = {
  string: [
    "hostname",
    "port",
    "data",
    "clickhouse",
    "clickhouse-cluster",
    "clickhouse-timeout",
    "clickhouse-insert-quorum",
    "clickhouse-batch-rows",
    "clickhouse-batch-ms",
    "fsync",
    "compact-bytes",
    "retention",
    "token",
    "cert",
    "key",
    "http",
    "http-host",
    "http-max-connections",
    "max-body",
    "max-render-points",
    "graphite",
    "pickle",
    "graphite-max-connections",
    "max-connections",
    "idle-timeout",
    "max-output",
    "max-line-length",
    "log",
    "log-level",
  ],
  boolean: ["memory", "log-requests", "help", "version"],
  collect: ["http-host"],
  alias: { h: "help" },
  default: {
    hostname: DEFAULT_HOSTNAME,
    port: String(DEFAULT_PORT),
    log: STDERR,
    "log-level": "info",
  },
} as const;

type Flags = Args<
  typeof FLAGS.string[number],
  typeof FLAGS.boolean[number],
  typeof FLAGS.collect[number],
  typeof FLAGS.default
>;

/** Where and how to serve, and where to log, as the flags say. */
interface Plan {
  hostname: string;
  port: number;
  options: RunServerOptions;
  log: string;
  logLevel: LogLevel;
}

function usage(message: string): number {
  console.error(`pulse: ${message}\n\n${HELP}`);
  return 2;
}

/**
 * Reads an address flag (`--http`, `--graphite`, `--pickle`): `HOST:PORT`,
 * `[IPv6]:PORT` or `off`.
 */
function address(
  flag: string,
  text: string | undefined,
  example: string,
): { hostname: string; port: number } | false | undefined {
  if (text === undefined) return undefined;
  if (text === "off") return false;
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new UsageError(
      `${flag} must be HOST:PORT, such as ${example}, or off`,
    );
  }
  return { hostname: match[1] ?? match[2], port };
}

/** Reads a PEM file named by a flag. */
async function pemFile(
  flag: string,
  path: string | undefined,
): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`Cannot read ${flag} ${path}: ${describe(error)}`);
  }
}

/**
 * Reads the ClickHouse flags: `--clickhouse` makes the server a front end
 * with no storage of its own, so the flags of one are refused beside it.
 *
 * @throws {UsageError} On a flag that does not go with the others.
 */
function clickhouseOptions(flags: Flags): RunServerOptions["clickhouse"] {
  const url = flags.clickhouse;
  if (url === undefined) {
    const stray = FLAGS.string.find((flag) =>
      flag.startsWith("clickhouse-") && flags[flag] !== undefined
    );
    if (stray !== undefined) {
      throw new UsageError(`--${stray} goes with --clickhouse URL`);
    }
    return undefined;
  }
  for (const flag of ["memory", "data", "fsync", "compact-bytes"] as const) {
    if (flags[flag] !== undefined && flags[flag] !== false) {
      throw new UsageError(
        `Cannot use --${flag} with --clickhouse: samples are kept in ClickHouse`,
      );
    }
  }
  const optional = <T>(text: string | undefined, read: (text: string) => T) =>
    text === undefined ? undefined : read(text);
  return {
    url,
    cluster: flags["clickhouse-cluster"],
    timeout: optional(
      flags["clickhouse-timeout"],
      (text) => readDuration("--clickhouse-timeout", text, { min: 1 }),
    ),
    insertQuorum: optional(
      flags["clickhouse-insert-quorum"],
      (text) => readCount("--clickhouse-insert-quorum", text, { min: 1 }),
    ),
    batchRows: optional(
      flags["clickhouse-batch-rows"],
      (text) => readCount("--clickhouse-batch-rows", text, { min: 1 }),
    ),
    batchMs: optional(
      flags["clickhouse-batch-ms"],
      (text) => readCount("--clickhouse-batch-ms", text),
    ),
  };
}

/**
 * Turns the flags into what {@linkcode runServer} takes; 0 is refused
 * where it would make the server useless.
 *
 * @throws {UsageError} On a value it cannot use.
 */
async function plan(flags: Flags): Promise<Plan> {
  if (flags._.length > 0) {
    throw new UsageError(
      `Cannot use the argument "${flags._[0]}": the server takes options only`,
    );
  }
  if (flags.memory && flags.data !== undefined) {
    throw new UsageError(
      "Cannot use --memory with --data: --memory keeps samples in memory only",
    );
  }
  const logLevel = flags["log-level"];
  if (!isLogLevel(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  }
  const port = readCount("--port", flags.port, { max: 65535 });
  const clickhouse = clickhouseOptions(flags);
  const fsync = (flags.fsync ?? "everysec") as FsyncPolicy;
  if (!FSYNC_POLICIES.includes(fsync)) {
    throw new UsageError("--fsync must be always, everysec or no");
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const http = address("--http", flags.http, "127.0.0.1:8889");
  const optional = <T>(text: string | undefined, read: (text: string) => T) =>
    text === undefined ? undefined : read(text);
  const retention = optional(
    flags.retention,
    (text) => readDuration("--retention", text, { min: 1000 }) / 1000,
  );
  const options: RunServerOptions = {
    data: flags.memory || clickhouse !== undefined
      ? undefined
      : flags.data ?? "./data",
    clickhouse,
    fsync,
    compactBytes: optional(
      flags["compact-bytes"],
      (text) => readSize("--compact-bytes", text),
    ),
    retention,
    token: flags.token ?? Deno.env.get("PULSE_TOKEN"),
    cert: await pemFile("--cert", flags.cert),
    key: await pemFile("--key", flags.key),
    maxConnections: optional(
      flags["max-connections"],
      (text) => readCount("--max-connections", text, { min: 1 }),
    ),
    idleTimeout: optional(
      flags["idle-timeout"],
      (text) => readDuration("--idle-timeout", text),
    ),
    maxOutput: optional(
      flags["max-output"],
      (text) => readSize("--max-output", text, { min: 1 }),
    ),
    maxLineLength: optional(
      flags["max-line-length"],
      (text) => readSize("--max-line-length", text, { min: 1 }),
    ),
    http,
    httpHosts: flags["http-host"],
    graphite: address("--graphite", flags.graphite, "127.0.0.1:2003"),
    pickle: address("--pickle", flags.pickle, "127.0.0.1:2004"),
    graphiteMaxConnections: optional(
      flags["graphite-max-connections"],
      (text) => readCount("--graphite-max-connections", text, { min: 1 }),
    ),
    httpMaxConnections: optional(
      flags["http-max-connections"],
      (text) => readCount("--http-max-connections", text, { min: 1 }),
    ),
    maxBody: optional(
      flags["max-body"],
      (text) => readSize("--max-body", text, { min: 1 }),
    ),
    maxRenderPoints: optional(
      flags["max-render-points"],
      (text) => readCount("--max-render-points", text, { min: 1 }),
    ),
    logRequests: flags["log-requests"],
  };
  return {
    hostname: flags.hostname,
    port,
    options,
    log: flags.log,
    logLevel,
  };
}

/**
 * The command line: parses `args` and serves until SIGINT or SIGTERM.
 *
 * @param args The arguments, such as `["--port", "0", "--memory"]`.
 * @returns The exit code: 0 after a clean shutdown, `--help` or
 * `--version`; 1 when the server cannot run; 2 on a usage error.
 */
export async function main(args: string[]): Promise<number> {
  let serving: Plan;
  try {
    const flags = parseArgs(args, FLAGS);
    if (flags.help) {
      console.log(HELP);
      return 0;
    }
    if (flags.version) {
      console.log(`pulse ${VERSION}`);
      return 0;
    }
    serving = await plan(flags);
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message);
    throw error;
  }
  let log: LogFile;
  try {
    log = new LogFile(serving.log);
  } catch (error) {
    console.error(
      `pulse: Cannot open the log ${serving.log}: ${describe(error)}`,
    );
    return 1;
  }
  return await serveLogged(serving, log);
}

/**
 * Runs the server with its event log, which SIGHUP reopens. SIGHUP is
 * handled whatever the log: with it on stderr it changes nothing, rather
 * than end a server that a `systemctl reload` meant to keep.
 */
async function serveLogged(serving: Plan, log: LogFile): Promise<number> {
  const logger = new Logger(log.write, { level: serving.logLevel });
  const reopen = () => {
    try {
      log.reopen();
    } catch (error) {
      console.error(
        `pulse: Cannot reopen the log ${log.path}: ${
          describe(error)
        }; writing to the old file`,
      );
    }
  };
  Deno.addSignalListener("SIGHUP", reopen);
  try {
    await runServer(serving.hostname, serving.port, {
      ...serving.options,
      logger,
    });
    return 0;
  } catch (error) {
    const message = (error as Error).message;
    // On stderr the line below says it already.
    if (log.path !== STDERR) logger.error("error", { msg: message });
    console.error(`pulse: ${message}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGHUP", reopen);
    log.close();
  }
}
