/**
 * ClickHouse over HTTP with Deno's `fetch`: the address a flag names, one
 * pool of connections, timeouts, and errors as one line a client can read.
 *
 * Statements go in the request's body (inserts name their data's format in
 * the URL and send the rows as the body), so that no URL holds a key, and
 * credentials go in a header, so that no message shows the password.
 *
 * @module
 */

import { describe } from "../../internal/describe.ts";
import { isIdentifier } from "./_sql.ts";

/** Where ClickHouse is, as `--clickhouse` names it. */
export interface ClickHouseAddress {
  /** The HTTP endpoint, without credentials or path: `http://host:8123/`. */
  readonly endpoint: string;
  /** The database Pulse keeps its tables in. */
  readonly database: string;
  /** The `Authorization` header, when a user is given. */
  readonly authorization?: string;
  /** The address for messages, without the password. */
  readonly shown: string;
}

/** The database used when the URL names none. */
export const DEFAULT_DATABASE = "pulse";

/**
 * Reads `http://[user:pass@]host:8123/<database>`.
 *
 * @param text The URL.
 * @returns The address.
 * @throws {TypeError} When it is not such a URL.
 */
export function parseClickHouseUrl(text: string): ClickHouseAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(
      `Cannot use ${text} as a ClickHouse URL: not a URL, such as http://127.0.0.1:8123/pulse`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `Cannot use a ${url.protocol} URL for ClickHouse: only http: and https:`,
    );
  }
  const path = url.pathname.replace(/^\/|\/$/g, "");
  const database = path === "" ? DEFAULT_DATABASE : path;
  if (!isIdentifier(database) || url.search !== "" || url.hash !== "") {
    throw new TypeError(
      `Cannot use ${url.origin}${url.pathname}${url.search} for ClickHouse: the path must name a database of letters, digits and _, with no query`,
    );
  }
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const authorization = user === "" && password === ""
    ? undefined
    : `Basic ${btoa(String.fromCharCode(...utf8(`${user}:${password}`)))}`;
  return {
    endpoint: `${url.origin}/`,
    database,
    authorization,
    shown: `${url.protocol}//${
      user === "" ? "" : `${url.username}@`
    }${url.host}/${database}`,
  };
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** What ClickHouse or the way to it said went wrong, as one line. */
export class ClickHouseError extends Error {
  /** ClickHouse's error code, when it answered with one. */
  readonly code: number | undefined;

  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param code ClickHouse's error code, if any.
   */
  constructor(message: string, code?: number) {
    super(message);
    this.name = "ClickHouseError";
    this.code = code;
  }
}

/**
 * ClickHouse's error text as one line: `Code: 60, e.displayText() =
 * DB::Exception: Table x doesn't exist., e.what() = DB::Exception` becomes
 * `Table x doesn't exist. (code 60)`.
 *
 * @param text The body of an error answer.
 * @returns The error.
 */
export function serverError(text: string): ClickHouseError {
  const line = text.trim().split("\n")[0].slice(0, 500);
  const match =
    /^Code: (\d+), e\.displayText\(\) = (?:[\w:]+: )?(.*?)(?:, e\.what\(\) = .*)?$/
      .exec(line);
  if (match === null) return new ClickHouseError(line || "an empty error");
  const code = Number(match[1]);
  return new ClickHouseError(`${match[2]} (code ${code})`, code);
}

/** Settings passed with a request, by name. */
export type Settings = Record<string, string | number>;

/** A table sent along with a query, which the query reads by its name. */
export interface ExternalTable {
  /** Its name in the query, such as `_set`. */
  name: string;
  /** Its columns, such as `key String, pos UInt32`. */
  structure: string;
  /** Its rows, in RowBinary. */
  rows: Uint8Array<ArrayBuffer>;
}

/** Options of one request. */
export interface RequestOptions {
  /** ClickHouse settings for this request. */
  settings?: Settings;
  /** Milliseconds to wait for the answer's start. */
  timeout?: number;
  /** A table the query reads, sent with it. */
  external?: ExternalTable;
}

/** An answer whose body is still to be read, and how to give it up. */
export interface OpenAnswer {
  /** The body. */
  readonly body: ReadableStream<Uint8Array>;
  /** Stops the request and its body. */
  abort(): void;
  /** Milliseconds the request may wait for ClickHouse. */
  readonly timeout: number;
}

/** Requests to one ClickHouse server, over one pool of connections. */
export class ClickHouseClient {
  /** Where, and which database. */
  readonly address: ClickHouseAddress;
  /** Milliseconds to wait for an answer before giving up. */
  readonly timeout: number;
  /** Settings of every request, under those a request gives. */
  defaults: Settings = {};
  #http: Deno.HttpClient;

  /**
   * Creates a client with a pool of its own.
   *
   * @param address Where ClickHouse is.
   * @param timeout Milliseconds to wait for an answer.
   */
  constructor(address: ClickHouseAddress, timeout: number) {
    this.address = address;
    this.timeout = timeout;
    // ClickHouse closes idle connections after 3 s (keep_alive_timeout):
    // dropping them first keeps a request from going out on one it closes.
    this.#http = Deno.createHttpClient({ poolIdleTimeout: 2_000 });
  }

  /**
   * Runs a statement whose answer is small, and reads it whole.
   *
   * @param sql The statement.
   * @param options Settings and the timeout.
   * @returns The answer's bytes.
   * @throws {ClickHouseError} When ClickHouse refuses it or cannot be reached
   * in time.
   */
  async run(sql: string, options: RequestOptions = {}): Promise<Uint8Array> {
    return await this.#complete(await this.open(sql, undefined, options));
  }

  /**
   * Inserts rows in RowBinary, and waits until ClickHouse has taken them.
   *
   * @param table The table, with its database.
   * @param rows The rows.
   * @param options Settings and the timeout.
   * @throws {ClickHouseError} When the insert failed or timed out: its rows
   * may or may not be stored.
   */
  async insert(
    table: string,
    rows: Uint8Array<ArrayBuffer>,
    options: RequestOptions = {},
  ): Promise<void> {
    const sql = `INSERT INTO ${table} FORMAT RowBinary`;
    await this.#complete(await this.open(sql, rows, options));
  }

  /**
   * Starts a request and waits for the start of its answer.
   *
   * @param sql The statement, sent as the body (or in the URL when `data` or
   * an external table is the body).
   * @param data The data of an insert, as the body.
   * @param options Settings and the timeout.
   * @returns The answer, its body to be read.
   * @throws {ClickHouseError} When ClickHouse refuses it or cannot be reached
   * in time.
   */
  async open(
    sql: string,
    data: Uint8Array<ArrayBuffer> | undefined,
    options: RequestOptions = {},
  ): Promise<OpenAnswer> {
    const url = new URL(this.address.endpoint);
    const params = url.searchParams;
    const settings = { ...this.defaults, ...options.settings };
    for (const [name, value] of Object.entries(settings)) {
      params.set(name, String(value));
    }
    let body: BodyInit = data ?? sql;
    const external = options.external;
    if (external !== undefined) {
      params.set("query", sql);
      params.set(`${external.name}_structure`, external.structure);
      params.set(`${external.name}_format`, "RowBinary");
      const form = new FormData();
      form.append(external.name, new Blob([external.rows]));
      body = form;
    } else if (data !== undefined) {
      params.set("query", sql);
    }
    const headers: Record<string, string> = {};
    if (this.address.authorization !== undefined) {
      headers.authorization = this.address.authorization;
    }
    const controller = new AbortController();
    const timeout = options.timeout ?? this.timeout;
    const timer = setTimeout(() => controller.abort(), timeout);
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers,
        body,
        client: this.#http,
        signal: controller.signal,
      });
    } catch (error) {
      throw this.failure(error, timeout);
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok || response.body === null) {
      const text = await response.text().catch(() => "");
      throw response.ok
        ? new ClickHouseError("an answer without a body")
        : serverError(text || `HTTP ${response.status}`);
    }
    return {
      body: response.body,
      abort: () => controller.abort(),
      timeout,
    };
  }

  /** Closes the pool of connections. */
  close(): void {
    this.#http.close();
  }

  /** Reads a small answer whole, within the request's timeout. */
  async #complete(answer: OpenAnswer): Promise<Uint8Array> {
    const timer = setTimeout(() => answer.abort(), answer.timeout);
    try {
      return new Uint8Array(await new Response(answer.body).arrayBuffer());
    } catch (error) {
      throw this.failure(error, answer.timeout);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Why a request failed, as one line.
   *
   * @param error What fetch or a read of the body threw.
   * @param timeout The request's timeout, for the message.
   * @returns The error to report.
   */
  failure(error: unknown, timeout: number): ClickHouseError {
    if (error instanceof ClickHouseError) return error;
    if (error instanceof DOMException && error.name === "AbortError") {
      return new ClickHouseError(
        `no answer from ${this.address.shown} within ${timeout / 1000}s`,
      );
    }
    // Deno says why in the cause: "...: tcp connect error: Connection
    // refused (os error 111)"; its last part is the reason.
    const cause = error instanceof Error && error.cause instanceof Error
      ? error.cause
      : error;
    const parts = describe(cause).split(": ");
    return new ClickHouseError(
      `cannot reach ${this.address.shown}: ${
        describe(parts[parts.length - 1])
      }`,
    );
  }
}
