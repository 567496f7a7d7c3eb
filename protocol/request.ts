/**
 * Requests: what a client may ask, and the parser that reads request lines
 * from bytes. Keys, values and timestamps follow the one grammar of
 * `grammar.ts`; see docs/PROTOCOL.md for every command.
 *
 * @module
 */

import { Pattern } from "../store/pattern.ts";
import {
  type Aggregation,
  AGGREGATIONS,
  isAggregation,
} from "../store/query.ts";
import { latin1, LineTokens, parseDecimal, parseTimestamp } from "./grammar.ts";
import { KeyDecoder } from "./key_decoder.ts";

/** A request as the server understands it. */
export type Request =
  | PutRequest
  | GetRequest
  | PatternRequest
  | AllKeysRequest
  | QueryRequest
  | AuthRequest
  | SimpleRequest
  | InvalidRequest;

/** `put <key> <value> <timestamp>`: store one sample. */
export interface PutRequest {
  /** The command's name. */
  command: "put";
  /** The series' name. */
  key: string;
  /** The sample's value, a finite number. */
  value: number;
  /** The sample's time in Unix seconds, a safe integer. */
  timestamp: number;
}

/** `get <key>` or `get *`: read a series or all of them. */
export interface GetRequest {
  /** The command's name. */
  command: "get";
  /** The series' name, or `*` for every series. */
  key: string;
}

/**
 * `last <pattern>`, `keys <pattern>` or `delete <pattern>`: the latest
 * sample, the names, or the removal of the matching series.
 */
export interface PatternRequest {
  /** The command's name. */
  command: "last" | "keys" | "delete";
  /** Which series. */
  pattern: Pattern;
}

/** `keys` alone: the names of every series. */
export interface AllKeysRequest {
  /** The command's name. */
  command: "keys";
  /** No pattern: every series. */
  pattern: undefined;
}

/** `query <pattern> <from> <to> [<step> <aggregation>]`. */
export interface QueryRequest {
  /** The command's name. */
  command: "query";
  /** Which series. */
  pattern: Pattern;
  /** The earliest timestamp wanted. */
  from: number;
  /** The latest timestamp wanted. */
  to: number;
  /** Bucket width in seconds, for a roll-up. */
  step: number | undefined;
  /** How buckets are rolled up. */
  aggregation: Aggregation | undefined;
}

/** `auth <token>`: log in on a server that asks for a token. */
export interface AuthRequest {
  /** The command's name. */
  command: "auth";
  /** The token's bytes. */
  token: Uint8Array;
}

/**
 * A command without arguments: `ping` (a health check), `stats` (the
 * server's figures), `quit` (or `disconnect`: close this connection),
 * `clients` (the open connections), `compact` (snapshot the data directory
 * and cut its log) or `shutdown` (stop the server).
 */
export interface SimpleRequest {
  /** The command's name; `disconnect` is read as `quit`. */
  command: "ping" | "stats" | "quit" | "clients" | "compact" | "shutdown";
}

/** A line that is not a valid request, answered by an error. */
export interface InvalidRequest {
  /** Marks the line as invalid. */
  command: "invalid";
  /** What the error answer says. */
  message: string;
  /**
   * The command it would have been, when it is refused for want of a login:
   * it counts as that command.
   */
  refused?: Exclude<Request["command"], "invalid">;
}

/** The error message of the course protocol for every bad request. */
export const WRONG_COMMAND = "wrong command";

const INVALID: InvalidRequest = { command: "invalid", message: WRONG_COMMAND };
const AUTHENTICATION_REQUIRED: InvalidRequest = {
  command: "invalid",
  message: "authentication required",
};
// Lines of a client not logged in yet, by their first word: refused, and
// counted as the command they name.
const MAX_COMMAND_LENGTH = 10;
const REFUSED = new Map<string, InvalidRequest>(
  ([
    "put",
    "get",
    "last",
    "query",
    "keys",
    "delete",
    "ping",
    "stats",
    "clients",
    "compact",
    "shutdown",
  ] as const)
    .map((
      refused,
    ) => [refused, { ...AUTHENTICATION_REQUIRED, refused }]),
);
// Commands without arguments, by name.
const SIMPLE = new Map<string, SimpleRequest>(
  (["stats", "quit", "clients", "compact", "shutdown"] as const).map((
    command,
  ) => [command, { command }]),
);
SIMPLE.set("disconnect", SIMPLE.get("quit")!);
const PING: SimpleRequest = { command: "ping" };
const QUIT = SIMPLE.get("quit")!;
const ALL_KEYS: AllKeysRequest = { command: "keys", pattern: undefined };

function invalid(message: string): InvalidRequest {
  return { command: "invalid", message };
}

const LENIENT_UTF8 = new TextDecoder();

/**
 * Turns request lines into requests. Each parser keeps a cache of decoded
 * keys, and reuses one object for every `put` and one for every `get` it
 * returns: read a request before parsing the next line.
 */
export class RequestParser {
  #keys = new KeyDecoder();
  #tokens = new LineTokens();
  #offsets = this.#tokens.offsets;
  #put: PutRequest = { command: "put", key: "", value: 0.5, timestamp: 0.5 };
  #get: GetRequest = { command: "get", key: "" };

  /**
   * Parses one request line (without its `\n`).
   *
   * @param bytes The bytes holding the line.
   * @param start Where the line starts.
   * @param end Where it ends, exclusive.
   * @returns The request, or `undefined` for a line of only whitespace,
   * which gets no answer.
   */
  parse(bytes: Uint8Array, start: number, end: number): Request | undefined {
    const tokens = this.#tokens;
    const count = tokens.split(bytes, start, end);
    if (count === 0) return undefined;
    const offsets = this.#offsets;
    if (tokens.is(bytes, 0, "put")) {
      if (count !== 4) return INVALID;
      const value = parseDecimal(bytes, offsets[4], offsets[5]);
      if (value !== value) return INVALID;
      const timestamp = parseTimestamp(
        bytes,
        offsets[6],
        offsets[7],
      );
      if (timestamp !== timestamp) return INVALID;
      const key = this.#keys.decode(bytes, offsets[2], offsets[3]);
      if (key === undefined) return INVALID;
      // Reused: puts and gets are the hot path, and fresh objects (holding
      // two doubles, for a put) are most of their garbage.
      const put = this.#put;
      put.key = key;
      put.value = value;
      put.timestamp = timestamp;
      return put;
    }
    if (tokens.is(bytes, 0, "get")) {
      if (count !== 2) return INVALID;
      const key = this.#keys.decode(bytes, offsets[2], offsets[3]);
      if (key === undefined) return INVALID;
      this.#get.key = key;
      return this.#get;
    }
    return this.#parseExtension(bytes, count);
  }

  /**
   * Parses one line from a client that has not logged in yet. Such a line is
   * never parsed further than its first word: nothing but `auth` and `quit`
   * is run, so an anonymous client cannot make the server decode keys or
   * compile patterns.
   *
   * @param bytes The bytes holding the line.
   * @param start Where the line starts.
   * @param end Where it ends, exclusive.
   * @returns An `auth` or `quit` request, an error asking to log in, or
   * `undefined` for a blank line.
   */
  parseBeforeAuth(
    bytes: Uint8Array,
    start: number,
    end: number,
  ): Request | undefined {
    const count = this.#tokens.split(bytes, start, end);
    if (count === 0) return undefined;
    if (!this.#tokens.is(bytes, 0, "auth")) {
      const start = this.#offsets[0];
      const word = this.#offsets[1] - start <= MAX_COMMAND_LENGTH
        ? latin1(bytes, start, this.#offsets[1])
        : "";
      if (word === "quit" || word === "disconnect") {
        return count === 1 ? QUIT : invalid(`${word} takes no arguments`);
      }
      return REFUSED.get(word) ?? AUTHENTICATION_REQUIRED;
    }
    if (count !== 2) return invalid("auth takes a token");
    return {
      command: "auth",
      token: bytes.slice(this.#offsets[2], this.#offsets[3]),
    };
  }

  /** The commands beyond the course's: their errors say what is wrong. */
  #parseExtension(bytes: Uint8Array, count: number): Request {
    const command = latin1(bytes, this.#offsets[0], this.#offsets[1]);
    switch (command) {
      case "ping":
        return count === 1 ? PING : INVALID;
      case "stats":
      case "quit":
      case "disconnect":
      case "clients":
      case "compact":
      case "shutdown":
        return count === 1
          ? SIMPLE.get(command)!
          : invalid(`${command} takes no arguments`);
      case "auth":
        if (count !== 2) return invalid("auth takes a token");
        return {
          command,
          token: bytes.slice(this.#offsets[2], this.#offsets[3]),
        };
      case "keys":
      case "last":
      case "delete": {
        if (command === "keys" && count === 1) return ALL_KEYS;
        if (count !== 2) {
          return invalid(
            command === "keys"
              ? "keys takes a key or pattern, or none for every key"
              : `${command} takes a key or pattern`,
          );
        }
        const pattern = this.#pattern(bytes, 1);
        return pattern instanceof Pattern ? { command, pattern } : pattern;
      }
      case "query": {
        if (count !== 4 && count !== 6) {
          return invalid(
            "query takes a key or pattern, from and to, and optionally step and aggregation",
          );
        }
        const pattern = this.#pattern(bytes, 1);
        if (!(pattern instanceof Pattern)) return pattern;
        const from = parseTimestamp(bytes, this.#offsets[4], this.#offsets[5]);
        if (from !== from) {
          return invalid(`invalid from: ${this.#text(bytes, 2)}`);
        }
        const to = parseTimestamp(bytes, this.#offsets[6], this.#offsets[7]);
        if (to !== to) return invalid(`invalid to: ${this.#text(bytes, 3)}`);
        // Refused as HTTP's /api/query refuses it: an empty range is a mistake.
        if (from > to) {
          return invalid(`invalid range: from ${from} is after to ${to}`);
        }
        if (count === 4) {
          return {
            command,
            pattern,
            from,
            to,
            step: undefined,
            aggregation: undefined,
          };
        }
        const step = parseTimestamp(bytes, this.#offsets[8], this.#offsets[9]);
        if (!(step > 0)) {
          return invalid(
            `invalid step: ${
              this.#text(bytes, 4)
            } (a positive number of seconds)`,
          );
        }
        const aggregation = this.#text(bytes, 5);
        if (!isAggregation(aggregation)) {
          return invalid(
            `invalid aggregation: ${aggregation} (one of ${
              AGGREGATIONS.join(", ")
            })`,
          );
        }
        return { command, pattern, from, to, step, aggregation };
      }
      default:
        return INVALID;
    }
  }

  #pattern(bytes: Uint8Array, t: number): Pattern | InvalidRequest {
    const source = this.#keys.decode(
      bytes,
      this.#offsets[2 * t],
      this.#offsets[2 * t + 1],
    );
    if (source === undefined) return invalid("invalid key: not UTF-8");
    try {
      return new Pattern(source);
    } catch (error) {
      const message = (error as Error).message;
      return invalid(
        `invalid pattern ${source}: ${
          message.slice(message.indexOf(": ") + 2)
        }`,
      );
    }
  }

  /** Token `t` as text, for error messages. */
  #text(bytes: Uint8Array, t: number): string {
    return LENIENT_UTF8.decode(
      bytes.subarray(this.#offsets[2 * t], this.#offsets[2 * t + 1]),
    );
  }
}
