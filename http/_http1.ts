/**
 * The HTTP/1.1 wire format (RFC 9112), without I/O: finding and parsing a
 * request head in received bytes, decoding a chunked body, and writing a
 * response head.
 *
 * Parsing is strict and bounded. Lines end in `\r\n` or a bare `\n`; a bare
 * `\r` anywhere else, obsolete line folding, a space before a header's colon
 * and every request shape that two parsers could frame differently (both
 * `Content-Length` and `Transfer-Encoding`, differing lengths, a coding
 * after `chunked`) are refused. The chunked framing itself takes `\r\n`
 * only. A head is parsed from its bytes in one go once its blank line has
 * arrived; nothing here awaits.
 *
 * Heads are decoded byte for character (ISO-8859-1), as `Headers` holds
 * byte strings: a value's bytes above 0x7f come through unchanged.
 *
 * @module
 */

/** The longest request line: a longer one is answered 414. */
export const MAX_REQUEST_LINE = 8192;
/** The longest chunk-size line, extensions included. */
export const MAX_CHUNK_LINE = 4096;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const SEMICOLON = 0x3b;

// RFC 9110 §5.6.2.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A field value after trimming: visible characters, spaces, tabs and
// obs-text; no control character (so no bare CR) and no NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Visible ASCII but `#`: a request-target carries no fragment.
const TARGET = /^[\x21\x22\x24-\x7e]+$/;
// uri-host [ ":" port ]: an IP literal or a reg-name (RFC 3986 §3.2.2).
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d*)?$/;
const ABSOLUTE = /^https?:\/\//i;
const VERSION = /^HTTP\/\d\.\d$/;
const DECIMAL = /^\d{1,15}$/;
// Methods `Request` refuses to carry.
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
// Codings of RFC 9110's registry that Pulse does not decode.
const DECODED_CODINGS = ["chunked"];

/** A request refused before any handler runs: its status and why. */
export interface HeadError {
  /** 400, 408, 414, 431, 501 or 505. */
  status: number;
  /** A short sentence for the plain-text body. */
  message: string;
}

/** A parsed request head. */
export interface RequestHead {
  /** The method, as sent. */
  method: string;
  /** The request-target, as sent: origin-form, absolute-form or `*`. */
  target: string;
  /** The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** The header fields in order, names as sent and values trimmed. */
  headers: [name: string, value: string][];
  /** The `Host` value, if one was sent. */
  host: string | undefined;
  /** The body's length: 0 without one, -1 when it is chunked. */
  contentLength: number;
  /** Whether the client asked for the connection to end after this. */
  close: boolean;
  /** Whether the client sent `Expect: 100-continue` (HTTP/1.1 only). */
  expectContinue: boolean;
}

function refuse(status: number, message: string): HeadError {
  return { status, message };
}

/**
 * Whether `value` is a {@linkcode HeadError}.
 *
 * @param value A parse result.
 * @returns Whether it is an error.
 */
export function isHeadError(value: unknown): value is HeadError {
  return typeof value === "object" && value !== null && "status" in value;
}

/**
 * Finds where a request head ends in bytes that arrive piece by piece. It
 * keeps its place between calls as offsets from the head's first byte, so a
 * buffer may be compacted or grown between them; each byte is scanned once.
 * Empty lines before the request line are skipped (RFC 9112 §2.2) but count
 * toward the limit.
 */
export class HeadScanner {
  #maxHeaderBytes: number;
  // Offsets from the start of the bytes.
  #lineStart = 0;
  #requestLineStart = -1;
  #requestLineEnd = -1;

  /**
   * Makes a scanner.
   *
   * @param maxHeaderBytes The most bytes of request line and headers.
   */
  constructor(maxHeaderBytes: number) {
    this.#maxHeaderBytes = maxHeaderBytes;
  }

  /** Where the request line starts, once {@linkcode scan} found a head. */
  headStart = 0;

  /** Forgets the head scanned so far, for the next one. */
  reset(): void {
    this.#lineStart = 0;
    this.#requestLineStart = -1;
    this.#requestLineEnd = -1;
  }

  /**
   * Scans newly arrived bytes for the blank line that ends a head.
   *
   * @param bytes The buffer.
   * @param start Where the head's bytes start.
   * @param end How far the buffer is filled.
   * @returns The offset just past the head (and `headStart` is set), -1 when
   * it is incomplete, or a 414 or 431 when it cannot fit.
   */
  scan(bytes: Uint8Array, start: number, end: number): number | HeadError {
    const view = bytes.subarray(0, end);
    let lineStart = start + this.#lineStart;
    let lf = view.indexOf(LF, lineStart);
    while (lf !== -1) {
      const empty = lf === lineStart ||
        (lf === lineStart + 1 && bytes[lineStart] === CR);
      if (!empty && this.#requestLineStart === -1) {
        this.#requestLineStart = lineStart - start;
        this.#requestLineEnd = lf - start;
      } else if (empty && this.#requestLineStart !== -1) {
        if (lineStart - start > this.#maxHeaderBytes) return this.#tooLarge();
        this.headStart = start + this.#requestLineStart;
        this.reset();
        return lf + 1;
      }
      lineStart = lf + 1;
      lf = view.indexOf(LF, lineStart);
    }
    this.#lineStart = lineStart - start;
    if (
      this.#requestLineStart === -1 && end - lineStart > MAX_REQUEST_LINE
    ) {
      return refuse(414, "URI Too Long: the request line is over 8192 bytes");
    }
    // Past this, even a blank line in the next byte could not save it.
    if (end - start > this.#maxHeaderBytes + 1) return this.#tooLarge();
    return -1;
  }

  #tooLarge(): HeadError {
    // The request line took all the room, or more than its own.
    const overLong = this.#requestLineStart === -1 ||
      this.#requestLineEnd - this.#requestLineStart > MAX_REQUEST_LINE;
    this.reset();
    return overLong
      ? refuse(
        414,
        `URI Too Long: the request line is over ${
          Math.min(this.#maxHeaderBytes, MAX_REQUEST_LINE)
        } bytes`,
      )
      : refuse(
        431,
        `Request Header Fields Too Large: the head is over ${this.#maxHeaderBytes} bytes`,
      );
  }
}

/**
 * Decodes bytes as ISO-8859-1: one character per byte, as `Headers` takes.
 *
 * @param bytes The buffer.
 * @param start The first byte.
 * @param end Just past the last byte.
 * @returns The text.
 */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  let text = "";
  // Bounded slices: `apply` passes every byte as an argument.
  for (let i = start; i < end; i += 8192) {
    const part = bytes.subarray(i, Math.min(end, i + 8192));
    text += String.fromCharCode.apply(null, part as unknown as number[]);
  }
  return text;
}

const ENCODER = new TextEncoder();
const NOT_ASCII = /[\u0080-\uffff]/;

/**
 * Encodes a byte string (characters up to U+00FF) one byte per character.
 *
 * @param text The text, as `Headers` holds it.
 * @returns Its bytes.
 */
export function encodeLatin1(text: string): Uint8Array {
  if (!NOT_ASCII.test(text)) return ENCODER.encode(text);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** Trims spaces and tabs, and nothing else (not U+00A0, as `trim` does). */
function trimWhitespace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isWhitespace(text.charCodeAt(start))) start++;
  while (end > start && isWhitespace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function isWhitespace(code: number): boolean {
  return code === SP || code === HTAB;
}

/** The members of a comma-separated list, trimmed, without empty ones. */
function listMembers(value: string): string[] {
  const members: string[] = [];
  for (const member of value.split(",")) {
    const trimmed = trimWhitespace(member);
    if (trimmed !== "") members.push(trimmed);
  }
  return members;
}

/**
 * Whether a comma-separated list holds `token`, case-insensitively.
 *
 * @param value A field value such as `Connection`'s.
 * @param token A lower-case token such as `close`.
 * @returns Whether it is there.
 */
export function hasToken(value: string, token: string): boolean {
  return listMembers(value).some((member) => member.toLowerCase() === token);
}

/** The fields a head's framing and routing depend on, as collected. */
interface FramingFields {
  hosts: string[];
  contentLengths: string[];
  transferEncodings: string[];
  connections: string[];
  expects: string[];
}

/**
 * Parses a complete request head.
 *
 * @param bytes The buffer.
 * @param start The request line's first byte ({@linkcode HeadScanner.headStart}).
 * @param end Just past the head's blank line.
 * @returns The head, or why it is refused.
 */
export function parseRequestHead(
  bytes: Uint8Array,
  start: number,
  end: number,
): RequestHead | HeadError {
  const lines = latin1(bytes, start, end).split("\n");
  // The last two are the blank line and what follows its `\n`.
  const requestLine = parseRequestLine(stripCR(lines[0]));
  if (isHeadError(requestLine)) return requestLine;
  const headers: [string, string][] = [];
  const fields: FramingFields = {
    hosts: [],
    contentLengths: [],
    transferEncodings: [],
    connections: [],
    expects: [],
  };
  for (let i = 1; i < lines.length - 2; i++) {
    const field = parseField(stripCR(lines[i]));
    if (isHeadError(field)) return field;
    headers.push(field);
    collectField(field, fields);
  }
  return framing(requestLine, headers, fields);
}

function stripCR(line: string): string {
  return line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line;
}

interface RequestLine {
  method: string;
  target: string;
  minor: 0 | 1;
}

function parseRequestLine(line: string): RequestLine | HeadError {
  const first = line.indexOf(" ");
  const last = line.lastIndexOf(" ");
  if (first <= 0 || last === first) {
    return refuse(400, "Bad Request: malformed request line");
  }
  const method = line.slice(0, first);
  const target = line.slice(first + 1, last);
  const version = line.slice(last + 1);
  let minor: 0 | 1;
  if (version === "HTTP/1.1") minor = 1;
  else if (version === "HTTP/1.0") minor = 0;
  else if (VERSION.test(version)) {
    return refuse(505, "HTTP Version Not Supported: only HTTP/1.0 and 1.1");
  } else return refuse(400, "Bad Request: malformed HTTP version");
  if (!TOKEN.test(method)) return refuse(400, "Bad Request: invalid method");
  if (line.length > MAX_REQUEST_LINE) {
    return refuse(414, "URI Too Long: the request line is over 8192 bytes");
  }
  if (!TARGET.test(target)) {
    return refuse(400, "Bad Request: invalid request-target");
  }
  const origin = target.charCodeAt(0) === 0x2f; // "/"
  if (!origin && !ABSOLUTE.test(target) && target !== "*") {
    return refuse(400, "Bad Request: invalid request-target");
  }
  if (target === "*" && method !== "OPTIONS") {
    return refuse(400, "Bad Request: * is a target for OPTIONS only");
  }
  if (FORBIDDEN_METHODS.has(method.toUpperCase())) {
    return refuse(501, `Not Implemented: method ${method}`);
  }
  return { method, target, minor };
}

function parseField(line: string): [string, string] | HeadError {
  const code = line.charCodeAt(0);
  if (code === SP || code === HTAB) {
    return refuse(400, "Bad Request: obsolete line folding");
  }
  const colon = line.indexOf(":");
  if (colon <= 0) return refuse(400, "Bad Request: malformed header line");
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) return refuse(400, "Bad Request: invalid header name");
  const value = trimWhitespace(line.slice(colon + 1));
  if (!FIELD_VALUE.test(value)) {
    return refuse(400, `Bad Request: invalid value of ${name}`);
  }
  return [name, value];
}

function collectField(
  [name, value]: [string, string],
  fields: FramingFields,
): void {
  // Names are compared by length first: most fields are none of these.
  switch (name.length) {
    case 4:
      if (name.toLowerCase() === "host") fields.hosts.push(value);
      break;
    case 6:
      if (name.toLowerCase() === "expect") fields.expects.push(value);
      break;
    case 10:
      if (name.toLowerCase() === "connection") fields.connections.push(value);
      break;
    case 14:
      if (name.toLowerCase() === "content-length") {
        fields.contentLengths.push(value);
      }
      break;
    case 17:
      if (name.toLowerCase() === "transfer-encoding") {
        fields.transferEncodings.push(value);
      }
      break;
  }
}

function framing(
  { method, target, minor }: RequestLine,
  headers: [string, string][],
  fields: FramingFields,
): RequestHead | HeadError {
  if (fields.hosts.length > 1) {
    return refuse(400, "Bad Request: more than one Host header");
  }
  const host = fields.hosts[0];
  if (host === undefined && minor === 1) {
    return refuse(400, "Bad Request: missing Host header");
  }
  if (host !== undefined && !HOST.test(host)) {
    return refuse(400, "Bad Request: invalid Host header");
  }
  const contentLength = bodyLength(minor, fields);
  if (isHeadError(contentLength)) return contentLength;
  const connection = fields.connections.join(",");
  const close = minor === 1
    ? hasToken(connection, "close")
    : !hasToken(connection, "keep-alive") || hasToken(connection, "close");
  const expectContinue = minor === 1 &&
    fields.expects.some((value) => value.toLowerCase() === "100-continue");
  return {
    method,
    target,
    minor,
    headers,
    host,
    contentLength,
    close,
    expectContinue,
  };
}

/** The body's length from its framing fields (RFC 9112 §6.3). */
function bodyLength(minor: 0 | 1, fields: FramingFields): number | HeadError {
  const { contentLengths, transferEncodings } = fields;
  if (transferEncodings.length > 0) {
    if (contentLengths.length > 0) {
      return refuse(
        400,
        "Bad Request: both Content-Length and Transfer-Encoding",
      );
    }
    if (minor === 0) {
      return refuse(400, "Bad Request: Transfer-Encoding in HTTP/1.0");
    }
    const codings = listMembers(transferEncodings.join(","))
      .map((coding) => coding.toLowerCase());
    if (codings.at(-1) !== "chunked") {
      return refuse(400, "Bad Request: chunked is not the final coding");
    }
    const other = codings.find((coding) => !DECODED_CODINGS.includes(coding));
    if (other !== undefined) {
      return refuse(501, `Not Implemented: transfer coding ${other}`);
    }
    if (codings.length > 1) {
      return refuse(400, "Bad Request: chunked more than once");
    }
    return -1;
  }
  if (contentLengths.length === 0) return 0;
  let length = -1;
  for (const member of contentLengths.join(",").split(",")) {
    const text = trimWhitespace(member);
    if (!DECIMAL.test(text)) {
      return refuse(400, "Bad Request: invalid Content-Length");
    }
    const value = Number(text);
    if (length !== -1 && value !== length) {
      return refuse(400, "Bad Request: conflicting Content-Length values");
    }
    length = value;
  }
  return length;
}

/**
 * The URL of a request: the scheme and `Host` before an origin-form target,
 * or an absolute-form target as it is (RFC 9112 §3.2.2). `OPTIONS *` gets
 * the path `/*`.
 *
 * @param head The parsed head.
 * @param scheme `http` or `https`.
 * @param fallbackHost The authority of an HTTP/1.0 request without `Host`.
 * @returns The URL, or why it is refused.
 */
export function requestUrl(
  head: RequestHead,
  scheme: string,
  fallbackHost: string,
): string | HeadError {
  const { target } = head;
  const authority = head.host ?? fallbackHost;
  if (target.charCodeAt(0) === 0x2f) return `${scheme}://${authority}${target}`;
  if (target === "*") return `${scheme}://${authority}/*`;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return refuse(400, "Bad Request: invalid request-target");
  }
  if (url.host === "" || url.username !== "" || url.password !== "") {
    return refuse(400, "Bad Request: invalid request-target");
  }
  return url.href;
}

// The decoder's states: where in the framing the next byte falls.
const SIZE = 0;
const SIZE_END = 1;
const EXTENSION = 2;
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7;
const TRAILER = 8;
const TRAILER_LF = 9;
const END_LF = 10;

/**
 * Decodes a chunked body (RFC 9112 §7.1) from bytes that arrive piece by
 * piece. Each call consumes every byte of framing it is given and stops at
 * the first run of data, which it points to without copying. Extensions are
 * checked and ignored; trailer fields are read, bounded, and dropped.
 */
export class ChunkedDecoder {
  /** Where the data found by the last call starts. */
  dataStart = 0;
  /** Where it ends; equal to `dataStart` when the call found none. */
  dataEnd = 0;
  /** Whether the last chunk and the trailers have been read. */
  done = false;
  /** What is wrong with the framing, once something is. */
  error: string | undefined;
  #state = SIZE;
  #remaining = 0;
  #digits = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  #maxTrailerBytes: number;

  /**
   * Makes a decoder for one body.
   *
   * @param maxTrailerBytes The most bytes of trailer fields.
   */
  constructor(maxTrailerBytes: number) {
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  /**
   * Decodes from `bytes[start, end)` up to and including the first run of
   * data; check `error`, `done`, and `dataStart`/`dataEnd` after.
   *
   * @param bytes The buffer.
   * @param start The first byte not yet decoded.
   * @param end How far the buffer is filled.
   * @returns The first byte not consumed.
   */
  decode(bytes: Uint8Array, start: number, end: number): number {
    this.dataStart = this.dataEnd = start;
    let i = start;
    while (i < end && !this.done && this.error === undefined) {
      if (this.#state === DATA) {
        const take = Math.min(this.#remaining, end - i);
        this.dataStart = i;
        this.dataEnd = i + take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = DATA_CR;
        return i + take;
      }
      this.#step(bytes[i++]);
    }
    return i;
  }

  #step(byte: number): void {
    switch (this.#state) {
      case SIZE:
        return this.#sizeByte(byte);
      case SIZE_END:
        if (isWhitespace(byte)) return this.#count();
        return this.#sizeEnd(byte);
      case EXTENSION:
        if (byte === CR) this.#state = SIZE_LF;
        else if (byte === HTAB || byte >= 0x20 && byte !== 0x7f) this.#count();
        else this.error = "invalid chunk extension";
        return;
      case SIZE_LF:
        if (byte !== LF) this.error = "a chunk-size line without CRLF";
        else if (this.#remaining === 0) this.#state = TRAILER_START;
        else this.#state = DATA;
        this.#lineBytes = 0;
        return;
      case DATA_CR:
        if (byte === CR) this.#state = DATA_LF;
        else this.error = "chunk data longer than its size";
        return;
      case DATA_LF:
        if (byte === LF) this.#state = SIZE;
        else this.error = "chunk data without CRLF";
        this.#digits = 0;
        return;
      default:
        return this.#trailerByte(byte);
    }
  }

  #sizeByte(byte: number): void {
    const digit = hexValue(byte);
    if (digit === -1) {
      if (this.#digits === 0) this.error = "invalid chunk size";
      else this.#sizeEnd(byte);
      return;
    }
    this.#remaining = this.#remaining * 16 + digit;
    if (++this.#digits > 16 || this.#remaining > Number.MAX_SAFE_INTEGER) {
      this.error = "chunk size too large";
    }
    this.#count();
  }

  #sizeEnd(byte: number): void {
    if (byte === CR) this.#state = SIZE_LF;
    else if (byte === SEMICOLON) this.#state = EXTENSION;
    else if (isWhitespace(byte)) this.#state = SIZE_END;
    else this.error = "invalid chunk size";
    this.#count();
  }

  #count(): void {
    if (++this.#lineBytes > MAX_CHUNK_LINE) this.error = "chunk line too long";
  }

  #trailerByte(byte: number): void {
    if (++this.#trailerBytes > this.#maxTrailerBytes) {
      this.error = "trailers too large";
      return;
    }
    switch (this.#state) {
      case TRAILER_START:
        if (byte === CR) this.#state = END_LF;
        else if (byte === LF || byte === SP || byte === HTAB) {
          this.error = "invalid trailer field";
        } else this.#state = TRAILER;
        return;
      case TRAILER:
        if (byte === CR) this.#state = TRAILER_LF;
        else if (byte !== HTAB && (byte < 0x20 || byte === 0x7f)) {
          this.error = "invalid trailer field";
        }
        return;
      case TRAILER_LF:
        if (byte === LF) this.#state = TRAILER_START;
        else this.error = "a trailer field without CRLF";
        return;
      case END_LF:
        if (byte === LF) this.done = true;
        else this.error = "a chunked body without its final CRLF";
        return;
    }
  }
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** Reason phrases of the statuses Pulse sends. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

// Fields that describe this connection or this message's framing: the
// connection sets them itself, from what it does.
const CONNECTION_FIELDS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "content-length",
]);

let dateSecond = -1;
let dateText = "";

/**
 * The `Date` of a response (RFC 9110 §5.6.7), made once a second.
 *
 * @returns Such as `Sun, 06 Nov 1994 08:49:37 GMT`.
 */
export function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/** How a response's body is framed, and the connection's fate. */
export interface ResponseFraming {
  /** `content-length`, unless the body is chunked or ends with the connection. */
  contentLength?: number;
  /** Whether the body is sent chunked. */
  chunked?: boolean;
  /** The `connection` field: `close`, or `keep-alive` for HTTP/1.0. */
  connection?: "close" | "keep-alive";
}

/**
 * Writes a response head. The response's own framing and connection fields
 * are left out in favour of `framing`, and `date` is added unless it has one.
 *
 * @param status The status code.
 * @param statusText The reason phrase; empty for the usual one.
 * @param headers The response's fields.
 * @param framing The framing and connection fields to send.
 * @returns The head's bytes, through its blank line.
 */
export function formatResponseHead(
  status: number,
  statusText: string,
  headers: Iterable<[string, string]>,
  framing: ResponseFraming,
): Uint8Array {
  let head = `HTTP/1.1 ${status} ${
    statusText || STATUS_TEXT[status] || ""
  }\r\n`;
  let dated = false;
  for (const [name, value] of headers) {
    if (CONNECTION_FIELDS.has(name)) continue;
    if (name === "date") dated = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!dated) head += `date: ${httpDate()}\r\n`;
  if (framing.contentLength !== undefined) {
    head += `content-length: ${framing.contentLength}\r\n`;
  } else if (framing.chunked) head += "transfer-encoding: chunked\r\n";
  if (framing.connection !== undefined) {
    head += `connection: ${framing.connection}\r\n`;
  }
  return encodeLatin1(`${head}\r\n`);
}

/**
 * A whole plain-text answer to a request refused before its handler ran,
 * after which the connection closes.
 *
 * @param error The status and why.
 * @returns The response's bytes.
 */
export function formatError(error: HeadError): Uint8Array {
  const body = ENCODER.encode(`${error.message}\n`);
  const head = formatResponseHead(
    error.status,
    "",
    [["content-type", "text/plain; charset=utf-8"]],
    { contentLength: body.length, connection: "close" },
  );
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}
