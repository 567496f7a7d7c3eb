/**
 * A connection of its own for a long exchange with a server: a streamed
 * answer, or a run of pipelined puts. It connects and logs in as the client
 * does, and reads answers a chunk at a time, line by line, so that what it
 * holds is one chunk and the longest line, however long the exchange.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { writeAll } from "../internal/write_all.ts";
import { ClientError } from "./client_error.ts";

/** Where and how to connect, as the client was told. */
export interface ConnectOptions {
  /** The server's address. */
  hostname: string;
  /** The server's port. */
  port: number;
  /** Milliseconds to wait for the connection and for each read of an answer. */
  timeout: number | undefined;
  /** The token to log in with, if any. */
  token: string | undefined;
  /** Whether to connect over TLS. */
  tls: boolean;
  /** Certificates (PEM) to trust besides the system's. */
  caCerts: string[] | undefined;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const NEWLINE = 0x0a;
const READ_SIZE = 64 * 1024;
// No answer line of a server comes near this (request lines, and so keys,
// are 64 KiB by default); a longer one is a server out of step, not data.
const MAX_LINE_LENGTH = 16 * 1024 * 1024;

/** Settles like `promise`, or rejects with `onTimeout()` after `ms`. */
async function limited<T>(
  promise: Promise<T>,
  ms: number | undefined,
  onTimeout: () => Error,
): Promise<T> {
  if (ms === undefined) return await promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A connection whose answers are read as lines. {@linkcode nextLine} finds
 * the next complete line among the bytes received, at once; {@linkcode fill}
 * reads more when there is none.
 */
export class LineConnection {
  /** The bytes the line last found lies in; valid until the next read. */
  bytes: Uint8Array;
  /** Where that line starts in {@linkcode LineConnection.bytes}. */
  start = 0;
  /** Where it ends, without its newline. */
  end = 0;
  #conn: Deno.Conn;
  #address: string;
  #timeout: number | undefined;
  #filled = 0;
  #next = 0;
  #closed = false;

  private constructor(conn: Deno.Conn, options: ConnectOptions) {
    this.#conn = conn;
    this.#address = `${options.hostname}:${options.port}`;
    this.#timeout = options.timeout;
    this.bytes = new Uint8Array(READ_SIZE);
  }

  /**
   * Connects, and logs in when there is a token.
   *
   * @param options Where and how.
   * @returns The connection, logged in.
   * @throws {ClientError} When it cannot connect or log in.
   */
  static async open(options: ConnectOptions): Promise<LineConnection> {
    const address = `${options.hostname}:${options.port}`;
    const { hostname, port, caCerts } = options;
    const connecting: Promise<Deno.Conn> = options.tls
      ? Deno.connectTls({ hostname, port, caCerts })
      : Deno.connect({ hostname, port });
    let conn: Deno.Conn;
    try {
      conn = await limited(
        connecting,
        options.timeout,
        () => new Error(`no connection within ${options.timeout} ms`),
      );
    } catch (error) {
      // A connection made after all is not wanted.
      connecting.then((late) => late.close(), () => {});
      throw new ClientError(
        `Cannot connect to ${address}: ${describe(error)}`,
        {
          cause: error,
        },
      );
    }
    const connection = new LineConnection(conn, options);
    if (options.token === undefined) return connection;
    try {
      await connection.write(`auth ${options.token}\n`);
      await connection.status("auth", true);
    } catch (error) {
      connection.close();
      if (!(error instanceof ClientError)) throw error;
      throw new ClientError(
        `Cannot log in to ${address}: ${
          error.message.replace(/^The server answered: /, "")
        }`,
      );
    }
    return connection;
  }

  /**
   * Sends requests.
   *
   * @param data Their text or bytes.
   * @throws {ClientError} When the connection fails.
   */
  async write(data: string | Uint8Array): Promise<void> {
    try {
      await writeAll(
        this.#conn,
        typeof data === "string" ? ENCODER.encode(data) : data,
      );
    } catch (error) {
      throw new ClientError(
        `Cannot send to ${this.#address}: ${describe(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  /**
   * Finds the next complete line among the bytes received, and points
   * {@linkcode LineConnection.start} and {@linkcode LineConnection.end} at
   * it.
   *
   * @returns Whether there was one.
   */
  nextLine(): boolean {
    const newline = this.bytes.subarray(0, this.#filled).indexOf(
      NEWLINE,
      this.#next,
    );
    if (newline === -1) return false;
    this.start = this.#next;
    this.end = newline;
    this.#next = newline + 1;
    return true;
  }

  /**
   * Reads more bytes, keeping the incomplete line at the front.
   *
   * @param timed Whether the read may take no longer than the timeout: not
   * while nothing is owed.
   * @throws {ClientError} When the connection ends or fails, or no byte
   * came in time.
   */
  async fill(timed = true): Promise<void> {
    if (this.#next > 0) {
      this.bytes.copyWithin(0, this.#next, this.#filled);
      this.#filled -= this.#next;
      this.#next = 0;
    }
    if (this.#filled === this.bytes.length) {
      if (this.bytes.length >= MAX_LINE_LENGTH) {
        throw new ClientError(
          `Cannot read the answer: a line is longer than ${MAX_LINE_LENGTH} bytes`,
        );
      }
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    const timeout = timed ? this.#timeout : undefined;
    let n: number | null;
    try {
      n = await limited(
        this.#conn.read(this.bytes.subarray(this.#filled)),
        timeout,
        () => new ClientError(`Cannot get an answer within ${timeout} ms`),
      );
    } catch (error) {
      if (error instanceof ClientError) throw error;
      throw new ClientError(
        `Cannot read from ${this.#address}: ${describe(error)}`,
        { cause: error },
      );
    }
    if (n === null) {
      throw new ClientError(
        `Cannot read from ${this.#address}: the server closed the connection`,
      );
    }
    this.#filled += n;
  }

  /**
   * Reads the status line of an answer: returns on `ok`, throws the message
   * of an `error` answer.
   *
   * @param command The request answered, for messages.
   * @param dataless Whether the answer has no data lines: its empty line is
   * read too.
   * @throws {ClientError} On an error answer, a malformed one, or a failed
   * connection.
   */
  async status(command: string, dataless = false): Promise<void> {
    const status = await this.#line();
    if (status === "ok") {
      if (dataless && await this.#line() !== "") throw this.#malformed(command);
      return;
    }
    if (status !== "error") throw this.#malformed(command, status);
    const message = await this.#line();
    if (await this.#line() !== "") throw this.#malformed(command, message);
    throw new ClientError(`The server answered: ${message}`);
  }

  /** Closes the connection; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #line(): Promise<string> {
    while (!this.nextLine()) await this.fill();
    return DECODER.decode(this.bytes.subarray(this.start, this.end));
  }

  #malformed(command: string, text = ""): ClientError {
    return new ClientError(
      `Cannot read the answer to ${command}: malformed answer "${text}"`,
    );
  }
}
