/**
 * Serving HTTP/1.1 on one accepted connection with Web-standard handlers:
 * `(Request) => Response`. The accept loop, and with it the cap on
 * connections, belongs to the caller; this module answers the requests of
 * one `Deno.Conn` (or `Deno.TlsConn`) until the connection is done.
 *
 * Requests are answered one at a time, in order: the next head is parsed
 * only once the previous response has been written, so pipelined requests
 * wait in a bounded read buffer. Every wait has a deadline: for a head, for
 * the next request on a kept-alive connection, for each read of a body and
 * for each write of a response. A response body is pulled from its stream
 * only as the client takes the bytes. While a handler runs, the connection
 * is watched for the client leaving, which aborts `info.signal`.
 *
 * `serveHttpConnection` resolves once the connection is done, possibly with
 * a read or write still in flight: closing the connection, which is the
 * caller's part, ends it.
 *
 * @module
 */

import { concat } from "../internal/concat.ts";
import { EventLoopTurns, nextTurn } from "../internal/turns.ts";
import {
  formatError,
  formatResponseHead,
  hasToken,
  type HeadError,
  HeadScanner,
  isHeadError,
  parseRequestHead,
  type RequestHead,
  requestUrl,
} from "./_http1.ts";
import { ReadBuffer } from "./_read_buffer.ts";
import { type BodySource, RequestBody } from "./_request_body.ts";

/**
 * Answers one request.
 *
 * @param request The request; its body is read from the connection as it
 * is consumed, and its `signal` aborts when the connection closes.
 * @param info Where the request came from.
 * @returns The response.
 */
export type HttpHandler = (
  request: Request,
  info: HttpRequestInfo,
) => Response | Promise<Response>;

/** What a handler learns of a request's connection. */
export interface HttpRequestInfo {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /**
   * Aborted when the connection closes: the client went away (it closed or
   * reset the connection, or stopped taking the response), or the
   * connection was served to its end.
   */
  readonly signal: AbortSignal;
}

/** Options of {@linkcode serveHttpConnection}. */
export interface HttpConnectionOptions {
  /**
   * Milliseconds from the first byte of a request (for the first request,
   * from the connection's start) until its head is complete. Past it, a
   * client that sent part of a head is answered 408 and the connection
   * closes; one that sent nothing is closed without an answer.
   *
   * @default {10000}
   */
  headersTimeout?: number;
  /**
   * Milliseconds a kept-alive connection may wait for its next request
   * before it is closed.
   *
   * @default {30000}
   */
  idleTimeout?: number;
  /**
   * Milliseconds a read of the request body may wait for a byte while the
   * handler reads it; past it the read fails and the connection closes
   * after the response.
   *
   * @default {30000}
   */
  bodyTimeout?: number;
  /**
   * Milliseconds writing a response may go without the client taking any
   * of it; past it `info.signal` aborts, the response stream is cancelled
   * and the connection is given up.
   *
   * @default {30000}
   */
  writeTimeout?: number;
  /**
   * The most bytes of request line and header fields (and of a chunked
   * body's trailer fields); a larger head is answered 431.
   *
   * @default {16384}
   */
  maxHeaderBytes?: number;
  /**
   * The server shutting down: the response under way is finished, then the
   * connection closes; no new request is read.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The scheme of `request.url`: `https` on a TLS connection.
   *
   * @default {"http"}
   */
  scheme?: "http" | "https";
  /**
   * Called with what went wrong in a handler or its response: a thrown
   * error (answered 500), a response body that failed, or one whose length
   * disagrees with its `content-length` (the connection then closes).
   *
   * @default {() => {}}
   */
  onError?: (error: Error) => void;
}

/** The default of {@linkcode HttpConnectionOptions.headersTimeout}. */
export const DEFAULT_HEADERS_TIMEOUT = 10_000;
/** The default of {@linkcode HttpConnectionOptions.idleTimeout}. */
export const DEFAULT_IDLE_TIMEOUT = 30_000;
/** The default of {@linkcode HttpConnectionOptions.bodyTimeout}. */
export const DEFAULT_BODY_TIMEOUT = 30_000;
/** The default of {@linkcode HttpConnectionOptions.writeTimeout}. */
export const DEFAULT_WRITE_TIMEOUT = 30_000;
/** The default of {@linkcode HttpConnectionOptions.maxHeaderBytes}. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/**
 * The most bytes of a body its handler left unread that are read and
 * dropped to keep the connection; a longer rest closes it.
 */
export const MAX_DRAIN_BYTES = 64 * 1024;

const ENCODER = new TextEncoder();
const CONTINUE = ENCODER.encode("HTTP/1.1 100 Continue\r\n\r\n");
const CRLF = ENCODER.encode("\r\n");
const LAST_CHUNK = ENCODER.encode("0\r\n\r\n");
// The read buffer's first size: what most heads need, and all an idle
// connection holds.
const INITIAL_BUFFER = 4096;
// The least the buffer may grow to, for reads of chunked bodies.
const MIN_MAX_BUFFER = 16 * 1024;
// Chunks up to this size are copied to leave in one write with their
// framing (a separate small write could wait for the client's delayed ACK);
// larger ones are written as they are.
const COALESCE_BYTES = 1024 * 1024;
// After the last response, input is read and dropped for this long (or
// this much), so that closing with unread bytes does not reset the
// connection before the client has read the answer.
const LINGER_MS = 2_000;
const LINGER_BYTES = 64 * 1024;
// How long one connection may hold the event loop, in milliseconds.
const SLICE_MS = 10;
const NOT_YET = Symbol("not yet");
const SETTLED_NOT_YET = Promise.resolve(NOT_YET);

type Chunk = ReadableStreamReadResult<Uint8Array>;

/**
 * Serves HTTP/1.0 and 1.1 on one connection until it is done: the client
 * closed it or asked to, a timeout passed, a request was refused, or
 * `signal` aborted. Never rejects for anything the client does; the caller
 * closes the connection once it resolves.
 *
 * @example Serving every connection of a listener
 * ```ts
 * import { serveHttpConnection } from "./_connection.ts";
 * import { strictEqual } from "node:assert/strict";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const shutdown = new AbortController();
 * const connections = new Set<Promise<void>>();
 * const accepting = (async () => {
 *   for await (const conn of listener) {
 *     const serving = serveHttpConnection(conn, () => new Response("hi"), {
 *       signal: shutdown.signal,
 *     }).finally(() => {
 *       conn.close();
 *       connections.delete(serving);
 *     });
 *     connections.add(serving);
 *   }
 * })();
 * const response = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
 * strictEqual(await response.text(), "hi");
 * listener.close();
 * shutdown.abort();
 * await accepting.catch(() => {});
 * await Promise.all(connections);
 * ```
 *
 * @param conn The accepted connection, TCP or TLS.
 * @param handler Answers each request.
 * @param options Timeouts, limits, the shutdown signal and the scheme.
 * @returns A promise that settles when the connection is done.
 * @throws {RangeError} When a timeout is not a number of milliseconds a
 * timer can wait (0 < ms <= 2147483647), or `maxHeaderBytes` is not > 0.
 */
export function serveHttpConnection(
  conn: Deno.Conn,
  handler: HttpHandler,
  options: HttpConnectionOptions = {},
): Promise<void> {
  const settings: Settings = {
    headersTimeout: positive(
      "headersTimeout",
      options.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT,
    ),
    idleTimeout: positive(
      "idleTimeout",
      options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
    ),
    bodyTimeout: positive(
      "bodyTimeout",
      options.bodyTimeout ?? DEFAULT_BODY_TIMEOUT,
    ),
    writeTimeout: positive(
      "writeTimeout",
      options.writeTimeout ?? DEFAULT_WRITE_TIMEOUT,
    ),
    maxHeaderBytes: positive(
      "maxHeaderBytes",
      options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      Number.MAX_SAFE_INTEGER,
    ),
    signal: options.signal,
    scheme: options.scheme ?? "http",
    onError: options.onError ?? (() => {}),
  };
  return new HttpConnection(conn, handler, settings).serve();
}

interface Settings {
  headersTimeout: number;
  idleTimeout: number;
  bodyTimeout: number;
  writeTimeout: number;
  maxHeaderBytes: number;
  signal: AbortSignal | undefined;
  scheme: string;
  onError: (error: Error) => void;
}

// A timer's longest delay: a longer one fires at once.
const MAX_DELAY = 2 ** 31 - 1;

function positive(name: string, value: number, max = MAX_DELAY): number {
  if (!(value > 0 && value <= max)) {
    throw new RangeError(
      `Cannot serve with ${name} ${value}: not a number in (0, ${max}]`,
    );
  }
  return value;
}

/** How a response's body goes out, decided before its head. */
interface Framing {
  contentLength: number | undefined;
  chunked: boolean;
  // Whether the head is all that is sent.
  bodiless: boolean;
  // The first chunk, read to learn whether the body is complete.
  first: Uint8Array | undefined;
  // The read after it, when the body is not complete.
  next: Promise<Chunk> | undefined;
}

/** One connection being served. */
class HttpConnection {
  #conn: Deno.Conn;
  #handler: HttpHandler;
  #settings: Settings;
  #buffer: ReadBuffer;
  #scanner: HeadScanner;
  #turns = new EventLoopTurns();
  // Aborts `info.signal`, for the connection.
  #controller = new AbortController();
  // Aborts `request.signal`, for the request under way. Requests do not
  // follow the connection's signal: each would stay registered with it
  // for as long as the connection lives.
  #requestController: AbortController | undefined;
  #info: HttpRequestInfo;
  #bodySource: BodySource;
  #fallbackHost: string;
  // The server is shutting down.
  #stopping = false;
  // No request is read after the one under way.
  #closing = false;
  // Nothing can be written any more: the client is gone or stalled.
  #gone = false;
  // Served to its end: the connection is the caller's again.
  #ended = false;
  // The connection ends after an answer: read and drop input before.
  #lingering = false;
  // Waiting for a request, or lingering: shutting down ends the wait.
  #idle = false;
  // Of the request under way.
  #expectContinue = false;
  #continueSent = false;
  #continuing: Promise<boolean> | undefined;
  #responseStarted = false;
  #responseReader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  // The watch for the client leaving while a handler runs.
  #exchangeId = 0;
  #watchWanted = false;
  #watchedId = -1;
  // Writes under way, and the watchdog on their progress.
  #writes = 0;
  #lastProgress = 0;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #stalled: Promise<never>;
  #stall: (error: Error) => void;

  constructor(conn: Deno.Conn, handler: HttpHandler, settings: Settings) {
    this.#conn = conn;
    // Answers are small writes: Nagle's algorithm would hold each one
    // behind the client's delayed ACK of the one before. TLS connections
    // offer no such switch.
    try {
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // Reset already: the first read will tell.
    }
    this.#handler = handler;
    this.#settings = settings;
    this.#buffer = new ReadBuffer(
      conn,
      INITIAL_BUFFER,
      Math.max(settings.maxHeaderBytes + 2, MIN_MAX_BUFFER),
    );
    this.#scanner = new HeadScanner(settings.maxHeaderBytes);
    this.#info = Object.freeze({
      remoteAddr: conn.remoteAddr as Deno.NetAddr,
      signal: this.#controller.signal,
    });
    this.#bodySource = {
      buffer: this.#buffer,
      bodyTimeout: settings.bodyTimeout,
      maxTrailerBytes: settings.maxHeaderBytes,
      turns: this.#turns,
      beforeRead: () => this.#sendContinue(),
      onComplete: () => this.#watch(),
      onBroken: (peerGone) => {
        this.#closing = true;
        if (peerGone) this.#abort();
      },
    };
    const local = conn.localAddr as Deno.NetAddr;
    this.#fallbackHost = local.hostname.includes(":")
      ? `[${local.hostname}]:${local.port}`
      : `${local.hostname}:${local.port}`;
    const { promise, reject } = Promise.withResolvers<never>();
    promise.catch(() => {});
    this.#stalled = promise;
    this.#stall = reject;
  }

  async serve(): Promise<void> {
    const signal = this.#settings.signal;
    const onStop = () => {
      this.#stopping = true;
      // A wait for a request ends now; a read of a body goes on.
      if (this.#idle) this.#buffer.interrupt();
    };
    signal?.addEventListener("abort", onStop);
    try {
      if (!signal?.aborted) await this.#run();
    } catch (error) {
      // A bug here, not anything the client did: report it and end.
      this.#report(error);
    } finally {
      signal?.removeEventListener("abort", onStop);
      this.#ended = true;
      this.#abort();
      this.#turns.close();
      clearTimeout(this.#watchdog);
    }
  }

  async #run(): Promise<void> {
    let first = true;
    while (!this.#closing && !this.#stopping) {
      const head = await this.#nextHead(first);
      first = false;
      if (head === undefined) return;
      if (isHeadError(head)) {
        await this.#refuse(head);
        break;
      }
      await this.#exchange(head);
    }
    await this.#linger();
  }

  /** Reads the next head; undefined when the connection ends quietly. */
  async #nextHead(
    first: boolean,
  ): Promise<RequestHead | HeadError | undefined> {
    const buffer = this.#buffer;
    const { headersTimeout, idleTimeout } = this.#settings;
    if (this.#turns.overdue(SLICE_MS)) await nextTurn();
    const now = Date.now();
    const idleDeadline = now + idleTimeout;
    let headDeadline = first ? now + headersTimeout : undefined;
    while (true) {
      if (buffer.size > 0) {
        headDeadline ??= Date.now() + headersTimeout;
        const end = this.#scanner.scan(buffer.bytes, buffer.start, buffer.end);
        if (isHeadError(end)) return end;
        if (end !== -1) {
          const head = parseRequestHead(
            buffer.bytes,
            this.#scanner.headStart,
            end,
          );
          buffer.consume(end - buffer.start);
          return head;
        }
      }
      if (buffer.ended || this.#stopping) return undefined;
      // The scanner refuses a head before it fills the buffer; this only
      // guards against waiting on a read that cannot add a byte.
      if (buffer.full) {
        return { status: 431, message: "Request Header Fields Too Large" };
      }
      const deadline = headDeadline ?? idleDeadline;
      this.#idle = true;
      const landed = await buffer.within(buffer.fill(), deadline - Date.now());
      this.#idle = false;
      if (!landed) {
        if (this.#stopping || buffer.size === 0) return undefined;
        return {
          status: 408,
          message: "Request Timeout: the head came too slowly",
        };
      }
    }
  }

  /** Answers a request refused before its handler, and ends. */
  async #refuse(error: HeadError): Promise<void> {
    this.#closing = true;
    this.#lingering = true;
    await this.#write(formatError(error));
  }

  async #exchange(head: RequestHead): Promise<void> {
    this.#expectContinue = head.expectContinue;
    this.#continueSent = false;
    this.#continuing = undefined;
    this.#responseStarted = false;
    this.#exchangeId++;
    const url = requestUrl(head, this.#settings.scheme, this.#fallbackHost);
    if (isHeadError(url)) return await this.#refuse(url);
    const body = head.contentLength === 0
      ? undefined
      : new RequestBody(head.contentLength, this.#bodySource);
    let request: Request;
    this.#requestController = new AbortController();
    try {
      const method = head.method.toUpperCase();
      const bodyless = method === "GET" || method === "HEAD";
      request = new Request(url, {
        method: head.method,
        headers: head.headers,
        body: bodyless ? null : body?.stream ?? null,
        signal: this.#requestController.signal,
      });
    } catch {
      return await this.#refuse({
        status: 400,
        message: "Bad Request: invalid request-target or Host",
      });
    }
    this.#watchWanted = true;
    if (body === undefined) this.#watch();
    const response = await this.#callHandler(request);
    if (
      head.close || this.#stopping ||
      hasToken(response.headers.get("connection") ?? "", "close") ||
      (body !== undefined && !body.complete && !this.#drainable(body))
    ) this.#closing = true;
    if (!await this.#respond(response, request.method, head.minor)) {
      this.#closing = true;
    }
    this.#watchWanted = false;
    if (body !== undefined && !body.complete && !this.#closing) {
      if (!await body.drain(MAX_DRAIN_BYTES)) this.#closing = true;
    }
    if (this.#closing) this.#lingering = true;
  }

  /** Whether a body the handler left unread may be read and dropped. */
  #drainable(body: RequestBody): boolean {
    // A client waiting for 100 Continue may never send it.
    if (this.#expectContinue && !this.#continueSent) return false;
    return !body.broken && body.remaining <= MAX_DRAIN_BYTES;
  }

  async #callHandler(request: Request): Promise<Response> {
    try {
      const response = await this.#handler(request, this.#info);
      if (response instanceof Response) return response;
      throw new TypeError(
        `Cannot send ${typeof response}: a handler must return a Response`,
      );
    } catch (error) {
      this.#report(error);
      return internalError();
    }
  }

  /**
   * Writes a response: its head, then its body as the client takes it.
   *
   * @returns Whether it was sent whole and the connection may be reused.
   */
  async #respond(
    response: Response,
    method: string,
    minor: 0 | 1,
  ): Promise<boolean> {
    let framing: Framing;
    try {
      framing = await this.#frame(response, method, minor);
    } catch (error) {
      this.#report(error);
      await this.#responseReader?.cancel(error).catch(() => {});
      return await this.#respond(internalError(), method, minor);
    }
    const reader = this.#responseReader;
    this.#responseStarted = true;
    if (this.#continuing !== undefined) await this.#continuing;
    const head = formatResponseHead(
      response.status,
      response.statusText,
      response.headers,
      {
        contentLength: framing.contentLength,
        chunked: framing.chunked,
        connection: this.#closing
          ? "close"
          : minor === 0
          ? "keep-alive"
          : undefined,
      },
    );
    if (framing.bodiless || reader === undefined) {
      await reader?.cancel().catch(() => {});
      this.#responseReader = undefined;
      return await this.#write(head);
    }
    try {
      return await this.#stream(head, reader, framing);
    } finally {
      this.#responseReader = undefined;
    }
  }

  /**
   * Decides a response's framing. A body that ends within its first chunk
   * (a string or bytes, say) gets a `content-length`; another one keeps
   * the handler's, or is chunked, or (for HTTP/1.0) ends with the
   * connection.
   */
  async #frame(
    response: Response,
    method: string,
    minor: 0 | 1,
  ): Promise<Framing> {
    const status = response.status;
    const framing: Framing = {
      contentLength: undefined,
      chunked: false,
      bodiless: method === "HEAD" || status === 204 || status === 304,
      first: undefined,
      next: undefined,
    };
    const reader = response.body?.getReader();
    this.#responseReader = reader;
    let complete = reader === undefined;
    if (reader !== undefined && status !== 204 && status !== 304) {
      const first = await reader.read();
      if (first.done) complete = true;
      else {
        framing.first = chunkOf(first.value);
        const next = reader.read();
        // A body made of bytes at hand has its end queued already.
        const settled = await Promise.race([next, SETTLED_NOT_YET]);
        if (settled !== NOT_YET && settled.done) complete = true;
        else framing.next = next;
      }
    }
    const declared = declaredLength(response.headers);
    const length = complete ? framing.first?.length ?? 0 : undefined;
    if (status === 204) return framing;
    // A 304's length is that of the representation it stands for.
    if (status === 304) framing.contentLength = declared;
    else if (framing.bodiless) framing.contentLength = declared ?? length;
    else if (length !== undefined) {
      if (declared !== undefined && declared !== length) {
        this.#report(lengthError(declared, length));
      }
      framing.contentLength = length;
    } else if (declared !== undefined) framing.contentLength = declared;
    else if (minor === 1) framing.chunked = true;
    else this.#closing = true;
    return framing;
  }

  /**
   * Writes a head and the body after it, chunk by chunk: the next chunk is
   * read while one is written, and its write waits for the previous one.
   */
  async #stream(
    head: Uint8Array,
    reader: ReadableStreamDefaultReader<Uint8Array>,
    framing: Framing,
  ): Promise<boolean> {
    const { contentLength, chunked } = framing;
    let sent = framing.first?.length ?? 0;
    if (contentLength !== undefined && sent > contentLength) {
      return this.#abandon(reader, lengthError(contentLength));
    }
    const opening = framing.first === undefined || framing.first.length === 0
      ? [head]
      : [head, ...frame(framing.first, chunked)];
    if (!await this.#writeParts(opening)) return this.#abandon(reader);
    let next = framing.next;
    while (next !== undefined) {
      let chunk: Uint8Array;
      let last = false;
      try {
        const result = await next;
        if (this.#gone) return this.#abandon(reader);
        if (result.done) break;
        if (this.#turns.overdue(SLICE_MS)) await nextTurn();
        next = reader.read();
        chunk = chunkOf(result.value);
        // The end of a chunked body leaves with its last chunk when it is
        // known already: a separate small write would wait for an ACK.
        const settled = await Promise.race([next, SETTLED_NOT_YET]);
        last = settled !== NOT_YET && settled.done;
      } catch (error) {
        this.#report(error);
        return this.#abandon(reader);
      }
      sent += chunk.length;
      if (contentLength !== undefined && sent > contentLength) {
        return this.#abandon(reader, lengthError(contentLength));
      }
      const parts = chunk.length === 0 ? [] : frame(chunk, chunked);
      if (last && chunked) parts.push(LAST_CHUNK);
      if (parts.length > 0 && !await this.#writeParts(parts)) {
        return this.#abandon(reader);
      }
      if (last) {
        next = undefined;
        if (chunked) return this.#checkLength(reader, sent, contentLength);
      }
    }
    if (!await this.#checkLength(reader, sent, contentLength)) return false;
    return !chunked || await this.#write(LAST_CHUNK);
  }

  /** Whether a body's length matches its `content-length`, if it has one. */
  async #checkLength(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    sent: number,
    contentLength: number | undefined,
  ): Promise<boolean> {
    if (contentLength === undefined || sent === contentLength) return true;
    return await this.#abandon(reader, lengthError(contentLength));
  }

  /** Gives up on a response body: it is cancelled, the connection ends. */
  async #abandon(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    error?: Error,
  ): Promise<false> {
    if (error !== undefined) this.#report(error);
    await reader.cancel(error).catch(() => {});
    return false;
  }

  /** Sends `100 Continue` before the first read of a body, if owed. */
  async #sendContinue(): Promise<void> {
    if (!this.#expectContinue || this.#continueSent || this.#responseStarted) {
      return;
    }
    this.#continueSent = true;
    this.#continuing = this.#write(CONTINUE);
    await this.#continuing;
  }

  /**
   * Reads ahead while a handler runs and its response goes out, to learn
   * when the client leaves. What arrives meanwhile (pipelined requests)
   * waits in the buffer, up to its limit.
   */
  async #watch(): Promise<void> {
    const id = this.#exchangeId;
    if (!this.#watchWanted || this.#watchedId === id) return;
    this.#watchedId = id;
    const buffer = this.#buffer;
    const wanted = () => this.#watchWanted && this.#exchangeId === id;
    while (wanted() && !buffer.ended && !buffer.full) await buffer.fill();
    if (!buffer.ended || !wanted()) return;
    if (buffer.failed) this.#lose();
    else if (buffer.size === 0) {
      // The client closed its side with nothing more to ask: it may be gone
      // or waiting for this answer. The answer is sent; the handler may stop.
      this.#closing = true;
      this.#abort();
    }
    // Otherwise requests it sent before closing its side wait their turn.
  }

  /** Writes chunks in order; small ones are copied into one write. */
  async #writeParts(parts: Uint8Array[]): Promise<boolean> {
    let size = 0;
    for (const part of parts) size += part.length;
    if (parts.length === 1 || size <= COALESCE_BYTES) {
      return this.#write(parts.length === 1 ? parts[0] : concat(parts));
    }
    for (const part of parts) if (!await this.#write(part)) return false;
    return true;
  }

  /** Writes all of `data`; false when the client is gone or stalled. */
  async #write(data: Uint8Array): Promise<boolean> {
    if (this.#gone || this.#ended) return false;
    if (this.#writes++ === 0) this.#lastProgress = Date.now();
    this.#armWatchdog();
    try {
      let written = 0;
      while (written < data.length) {
        written += await Promise.race([
          this.#conn.write(data.subarray(written)),
          this.#stalled,
        ]);
        this.#lastProgress = Date.now();
      }
      return true;
    } catch {
      this.#lose();
      return false;
    } finally {
      this.#writes--;
    }
  }

  #armWatchdog(): void {
    if (this.#watchdog !== undefined) return;
    const { writeTimeout } = this.#settings;
    const wait = Math.max(0, this.#lastProgress + writeTimeout - Date.now());
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      if (this.#writes === 0) return;
      if (Date.now() - this.#lastProgress >= writeTimeout) {
        this.#stall(new Deno.errors.TimedOut("The client stopped reading"));
      } else this.#armWatchdog();
    }, wait);
  }

  /** The client is gone: nothing more is written or read. */
  #lose(): void {
    if (this.#gone) return;
    this.#gone = this.#closing = true;
    this.#abort();
    this.#responseReader?.cancel().catch(() => {});
  }

  /** Aborts `info.signal` and the signal of the request under way. */
  #abort(): void {
    this.#controller.abort();
    this.#requestController?.abort();
  }

  /**
   * Before the connection closes after an answer: half-closes it and reads
   * and drops what the client still sends, for a while.
   */
  async #linger(): Promise<void> {
    const buffer = this.#buffer;
    if (!this.#lingering || this.#gone || buffer.ended) return;
    try {
      await this.#conn.closeWrite();
    } catch {
      return;
    }
    const deadline = Date.now() + LINGER_MS;
    let dropped = 0;
    while (!buffer.ended && dropped <= LINGER_BYTES && !this.#stopping) {
      dropped += buffer.size;
      buffer.consume(buffer.size);
      this.#idle = true;
      const landed = await buffer.within(buffer.fill(), deadline - Date.now());
      this.#idle = false;
      if (!landed) return;
    }
  }

  #report(error: unknown): void {
    try {
      this.#settings.onError(
        error instanceof Error ? error : new Error(String(error)),
      );
    } catch {
      // A failing error handler must not end the connection's serving.
    }
  }
}

/** The 500 answer to a handler that failed. */
function internalError(): Response {
  return new Response("Internal Server Error\n", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** A response's own `content-length`, when it is a valid one. */
function declaredLength(headers: Headers): number | undefined {
  const value = headers.get("content-length");
  return value !== null && /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}

function chunkOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError(
    "Cannot send a response body chunk that is not a Uint8Array",
  );
}

/** A chunk as it goes out: framed when the body is chunked. */
function frame(chunk: Uint8Array, chunked: boolean): Uint8Array[] {
  if (!chunked) return [chunk];
  const size = ENCODER.encode(`${chunk.length.toString(16)}\r\n`);
  return [size, chunk, CRLF];
}

function lengthError(contentLength: number, actual?: number): RangeError {
  return new RangeError(
    `Cannot send the response's content-length ${contentLength}: its body is ${
      actual === undefined ? "not that long" : `${actual} bytes`
    }`,
  );
}
