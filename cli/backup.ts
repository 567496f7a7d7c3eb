/**
 * `pulse backup FILE`: saves a consistent snapshot of a live server, read
 * from its HTTP API's `GET /api/snapshot`, to FILE atomically (a temporary
 * file next to it, fsynced, then renamed over it). Restoring it is dropping
 * it into an empty data directory as `snapshot.pulse` (docs/STORAGE.md).
 *
 * @module
 */

import { ClientError } from "../client.ts";
import { describe } from "../internal/describe.ts";
import { DEFAULT_HOSTNAME, DEFAULT_HTTP_PORT } from "../protocol/defaults.ts";
import type { Command, Context } from "./commands.ts";
import { readDuration, UsageError } from "./flags.ts";
import type { CommandLine } from "./options.ts";
import { formatCount, formatRate, Progress } from "./_progress.ts";
import { checkNoFormat, secondsSince } from "./_transfer.ts";

/** The default of `--timeout`, as for every command: 10 seconds. */
const DEFAULT_TIMEOUT = 10_000;

/** The URL of the snapshot: `--http`, else `--host` and port 8889. */
function snapshotUrl(line: CommandLine): string {
  const address = line.http ??
    `${line.host ?? DEFAULT_HOSTNAME}:${DEFAULT_HTTP_PORT}`;
  const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):(\d{1,5})$/.exec(address);
  if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) {
    throw new UsageError(
      `Cannot use --http ${address}: give HOST:PORT, such as 127.0.0.1:8889`,
    );
  }
  const tls = line.tls || line.ca !== undefined;
  return `${tls ? "https" : "http"}://${address}/api/snapshot`;
}

/** What an error answer says: its JSON `error`, or its text. */
async function errorOf(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const error = JSON.parse(text).error;
    if (typeof error === "string") return error;
  } catch {
    // Not JSON: the text as it is.
  }
  return text.trim() || response.statusText;
}

/** Fsyncs a directory, so that a rename in it survives a power loss. */
async function syncDirectory(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/**
 * Writes a response's body to `path` through a temporary file next to it,
 * renamed over `path` once whole and on disk.
 *
 * @returns How many bytes.
 */
async function save(
  body: ReadableStream<Uint8Array>,
  path: string,
  options: { size: number | undefined; onChunk: (bytes: number) => void },
): Promise<number> {
  const slash = path.lastIndexOf("/");
  const dir = slash === -1 ? "." : path.slice(0, slash) || "/";
  const name = path.slice(slash + 1);
  const temporary = await Deno.makeTempFile({
    dir,
    prefix: `.${name}.`,
    suffix: ".tmp",
  });
  let bytes = 0;
  try {
    using file = await Deno.open(temporary, { write: true });
    for await (const chunk of body) {
      for (let written = 0; written < chunk.length;) {
        written += await file.write(chunk.subarray(written));
      }
      bytes += chunk.length;
      options.onChunk(bytes);
    }
    if (options.size !== undefined && bytes !== options.size) {
      throw new ClientError(
        `Cannot back up: the snapshot ended after ${bytes} of ${options.size} bytes`,
      );
    }
    await file.syncData();
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  await Deno.rename(temporary, path);
  await syncDirectory(dir);
  return bytes;
}

/** `backup FILE`. */
async function backup(context: Context): Promise<string> {
  const { line } = context;
  checkNoFormat(line, "backup", "a file");
  if (line.port !== undefined) {
    throw new UsageError(
      "Cannot use --port with backup: it reads the HTTP API; give --http HOST:PORT",
    );
  }
  const url = snapshotUrl(line);
  const path = context.args[0];
  const timeout = line.timeout === undefined
    ? DEFAULT_TIMEOUT
    : readDuration("--timeout", line.timeout);
  const token = line.token ?? Deno.env.get("PULSE_TOKEN");
  const caCerts = line.ca === undefined ? undefined : [
    await Deno.readTextFile(line.ca).catch((error) => {
      throw new UsageError(`Cannot read --ca ${line.ca}: ${describe(error)}`);
    }),
  ];
  using client = caCerts === undefined
    ? undefined
    : Deno.createHttpClient({ caCerts });
  // The timeout is for each wait: for the answer, then for each chunk.
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    clearTimeout(timer);
    if (timeout > 0) timer = setTimeout(() => controller.abort(), timeout);
  };
  const started = performance.now();
  try {
    watch();
    const response = await fetch(url, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: controller.signal,
      client,
    });
    if (!response.ok || response.body === null) {
      throw new ClientError(
        `Cannot back up: the server answered ${response.status}: ${await errorOf(
          response,
        )}`,
      );
    }
    const length = response.headers.get("content-length");
    const size = length === null ? undefined : Number(length);
    const progress = Deno.stderr.isTerminal()
      ? new Progress("backup", "bytes", size)
      : undefined;
    let bytes: number;
    try {
      bytes = await save(response.body, path, {
        size,
        onChunk(bytes) {
          watch();
          progress?.update(bytes, bytes);
        },
      });
    } finally {
      progress?.finish();
    }
    const seconds = secondsSince(started);
    console.error(
      `pulse: saved a snapshot of ${
        formatCount(bytes, "bytes")
      } to ${path} in ${seconds.toFixed(2)} s (${
        formatRate(bytes, "bytes", seconds)
      })`,
    );
    return "";
  } catch (error) {
    if (error instanceof ClientError || error instanceof UsageError) {
      throw error;
    }
    const reason = controller.signal.aborted
      ? `no answer within ${timeout} ms`
      : describe(error);
    throw new ClientError(`Cannot back up from ${url}: ${reason}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** `pulse backup`. */
export const BACKUP_COMMAND: Command = {
  usage: "backup <file> [--http HOST:PORT]",
  summary: "save a consistent snapshot of the live server",
  help: `Saves a consistent snapshot of the running server's data directory to
<file>, read from its HTTP API (GET /api/snapshot, with the token): the
store as it stood at one moment after the request, every change
acknowledged before it included. The file is written next to <file> under
a temporary name, fsynced, then renamed over <file>; a summary goes to
stderr, and a progress line with a bar and the time left on a terminal.

To restore it, put it as snapshot.pulse in an empty data directory and
start the server there. A server with --memory has no snapshot to give
(use pulse export).

Options:
  --http HOST:PORT  the server's HTTP API (default: --host, port ${DEFAULT_HTTP_PORT});
                    --tls and --ca make it HTTPS, and --port does not apply
  --timeout applies to the answer and to each chunk of the file; --table,
  --json and --csv do not apply.`,
  flags: ["http"],
  arity: [1, 1],
  run: backup,
};
