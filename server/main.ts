/**
 * The server's command line: `deno run -A server.ts [options]` parses its
 * flags here and runs {@linkcode runServer} until SIGINT or SIGTERM.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_HTTP_HOSTNAME, DEFAULT_HTTP_PORT } from "../http.ts";
import { parseDuration, parseSize } from "../internal/units.ts";
import { FSYNC_POLICIES, type FsyncPolicy } from "../persist/journal.ts";
import { runServer, type RunServerOptions } from "./run_server.ts";
import {
  DEFAULT_HOSTNAME,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
} from "./serve.ts";

const HELP = `Usage: deno run -A server.ts [options]

Serves Pulse's metrics protocol over TCP.

Options:
  --hostname HOST        address to listen on (default ${DEFAULT_HOSTNAME})
  --port PORT            port to listen on, 0 for any free one (default ${DEFAULT_PORT})
  --data DIR             keep samples in DIR (default ./data)
  --memory               keep samples in memory only, as the course's server does
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
  --max-connections N    refuse connections past N (default ${DEFAULT_MAX_CONNECTIONS})
  --idle-timeout DURATION close connections silent this long (default: never)
  --max-output SIZE      disconnect a client holding more unread answers (default 8MiB)
  --max-line-length SIZE the longest request line (default 64KiB)
  -h, --help             show this help
`;

// Flags whose 0 would make the server useless, and their least values.
const FLAG_LIMITS: [
  flag: string,
  option: keyof RunServerOptions,
  min: number,
  shown: string,
][] = [
  ["--max-connections", "maxConnections", 1, "1"],
  ["--max-line-length", "maxLineLength", 1, "1 byte"],
  ["--max-output", "maxOutput", 1, "1 byte"],
  ["--retention", "retention", 1, "1s"],
];

function usage(message: string): number {
  console.error(`pulse: ${message}\n\n${HELP}`);
  return 2;
}

/** The command line: parses `args` and serves until SIGINT or SIGTERM. */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        hostname: { type: "string", default: DEFAULT_HOSTNAME },
        port: { type: "string", default: String(DEFAULT_PORT) },
        data: { type: "string", default: "./data" },
        memory: { type: "boolean", default: false },
        fsync: { type: "string", default: "everysec" },
        "compact-bytes": { type: "string" },
        retention: { type: "string" },
        token: { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        http: { type: "string" },
        "http-host": { type: "string", multiple: true },
        "max-connections": { type: "string" },
        "idle-timeout": { type: "string" },
        "max-output": { type: "string" },
        "max-line-length": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error) {
    return usage((error as Error).message);
  }
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  const port = Number(flags.port);
  if (!/^\d+$/.test(flags.port) || port > 65535) {
    return usage("--port must be an integer from 0 to 65535");
  }
  const fsync = flags.fsync as FsyncPolicy;
  if (!FSYNC_POLICIES.includes(fsync)) {
    return usage("--fsync must be always, everysec or no");
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    return usage("--cert and --key go together");
  }
  let http: RunServerOptions["http"];
  if (flags.http === "off") {
    http = false;
  } else if (flags.http !== undefined) {
    const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(flags.http);
    const httpPort = Number(match?.[3]);
    if (match === null || httpPort > 65535) {
      return usage("--http must be HOST:PORT, such as 127.0.0.1:8889, or off");
    }
    http = { hostname: match[1] ?? match[2], port: httpPort };
  }
  let options: RunServerOptions;
  try {
    const size = (text: string | undefined) =>
      text === undefined ? undefined : parseSize(text);
    const maxConnections = flags["max-connections"];
    if (maxConnections !== undefined && !/^\d+$/.test(maxConnections)) {
      return usage("--max-connections must be a whole number");
    }
    options = {
      data: flags.memory ? undefined : flags.data,
      fsync,
      compactBytes: size(flags["compact-bytes"]),
      retention: flags.retention === undefined
        ? undefined
        : parseDuration(flags.retention) / 1000,
      token: flags.token ?? Deno.env.get("PULSE_TOKEN"),
      cert: flags.cert === undefined
        ? undefined
        : await Deno.readTextFile(flags.cert),
      key: flags.key === undefined
        ? undefined
        : await Deno.readTextFile(flags.key),
      maxConnections: maxConnections === undefined
        ? undefined
        : Number(maxConnections),
      idleTimeout: flags["idle-timeout"] === undefined
        ? undefined
        : parseDuration(flags["idle-timeout"]),
      maxOutput: size(flags["max-output"]),
      maxLineLength: size(flags["max-line-length"]),
      http,
      httpHosts: flags["http-host"],
    };
    for (const [flag, option, min, shown] of FLAG_LIMITS) {
      const value = options[option] as number | undefined;
      if (value !== undefined && !(value >= min)) {
        return usage(`${flag} must be at least ${shown}`);
      }
    }
  } catch (error) {
    return usage((error as Error).message);
  }
  try {
    await runServer(flags.hostname, port, options);
  } catch (error) {
    console.error(`pulse: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}
