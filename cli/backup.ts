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
  // A failure of the file is told apart from one of the connection.
  const local = <T>(promise: Promise<T>): Promise<T> =>
    promise.catch((error) => {
      throw new ClientError(`Cannot write ${path}: ${describe(error)}`, {
        cause: error,
      });
    });
  const temporary = await local(
    Deno.makeTempFile({ dir, prefix: `.${name}.`, suffix: ".tmp" }),
  );
  let bytes = 0;
  try {
    using file = await local(Deno.open(temporary, { write: true }));
    for await (const chunk of body) {
      for (let written = 0; written < chunk.length;) {
        written += await local(file.write(chunk.subarray(written)));
      }
      bytes += chunk.length;
      options.onChunk(bytes);
    }
    if (options.size !== undefined && bytes !== options.size) {
      throw new ClientError(
        `Cannot back up: the snapshot ended after ${bytes} of ${options.size} bytes`,
      );
    }
    await local(file.syncData());
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  await local(Deno.rename(temporary, path));
  await local(syncDirectory(dir));
  return bytes;
}

/** What the flags ask of the request. */
interface SnapshotRequest {
  url: string;
  headers: Record<string, string>;
  /** Milliseconds each wait may take; 0 for no limit. */
  timeout: number;
  caCerts: string[] | undefined;
}

/** Reads the flags of `backup`. */
async function readRequest(line: CommandLine): Promise<SnapshotRequest> {
  checkNoFormat(line, "backup", "a file");
  if (line.port !== undefined) {
    throw new UsageError(
      "Cannot use --port with backup: it reads the HTTP API; give --http HOST:PORT",
    );
  }
  const token = line.token ?? Deno.env.get("PULSE_TOKEN");
  let caCerts: string[] | undefined;
  if (line.ca !== undefined) {
    try {
      caCerts = [await Deno.readTextFile(line.ca)];
    } catch (error) {
      throw new UsageError(`Cannot read --ca ${line.ca}: ${describe(error)}`);
    }
  }
  return {
    url: snapshotUrl(line),
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    timeout: line.timeout === undefined
      ? DEFAULT_TIMEOUT
      : readDuration("--timeout", line.timeout),
    caCerts,
  };
}

/** Aborts a fetch when a wait (for the answer, for a chunk) lasts too long. */
class Deadline implements Disposable {
  readonly controller = new AbortController();
  #timeout: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(timeout: number) {
    this.#timeout = timeout;
    this.restart();
  }

  /** Starts the wait anew: something came. */
  restart(): void {
    clearTimeout(this.#timer);
    if (this.#timeout > 0) {
      this.#timer = setTimeout(() => this.controller.abort(), this.#timeout);
    }
  }

  [Symbol.dispose](): void {
    clearTimeout(this.#timer);
  }
}

/** Asks for a snapshot; returns the answer when it is one. */
async function fetchSnapshot(
  request: SnapshotRequest,
  signal: AbortSignal,
  client: Deno.HttpClient | undefined,
): Promise<Response & { body: ReadableStream<Uint8Array> }> {
  const response = await fetch(request.url, {
    headers: request.headers,
    signal,
    client,
  });
  if (!response.ok || response.body === null) {
    throw new ClientError(
      `Cannot back up: the server answered ${response.status}: ${await errorOf(
        response,
      )}`,
    );
  }
  return response as Response & { body: ReadableStream<Uint8Array> };
}

/** `backup FILE`. */
async function backup(context: Context): Promise<string> {
  const request = await readRequest(context.line);
  const path = context.args[0];
  using client = request.caCerts === undefined
    ? undefined
    : Deno.createHttpClient({ caCerts: request.caCerts });
  using deadline = new Deadline(request.timeout);
  const started = performance.now();
  let bytes: number;
  try {
    const response = await fetchSnapshot(
      request,
      deadline.controller.signal,
      client,
    );
    const length = response.headers.get("content-length");
    const size = length === null ? undefined : Number(length);
    const progress = Deno.stderr.isTerminal()
      ? new Progress("backup", "bytes", size)
      : undefined;
    try {
      bytes = await save(response.body, path, {
        size,
        onChunk(bytes) {
          deadline.restart();
          progress?.update(bytes, bytes);
        },
      });
    } finally {
      progress?.finish();
    }
  } catch (error) {
    if (error instanceof ClientError) throw error;
    const reason = deadline.controller.signal.aborted
      ? `no answer within ${request.timeout} ms`
      : describe(error);
    throw new ClientError(`Cannot back up from ${request.url}: ${reason}`, {
      cause: error,
    });
  }
  const seconds = secondsSince(started);
  console.error(
    `pulse: saved a snapshot of ${formatCount(bytes, "bytes")} to ${path} in ${
      seconds.toFixed(2)
    } s (${formatRate(bytes, "bytes", seconds)})`,
  );
  return "";
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
