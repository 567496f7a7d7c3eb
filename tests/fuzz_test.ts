/**
 * The fuzz test of issue 5: from a fixed seed, thousands of random byte
 * strings and mutations of valid commands (bit flips, truncations, inserted
 * whitespace, `\r`, NUL and invalid UTF-8, huge numbers, over-long lines)
 * are sent from several connections at once, in pieces of random sizes.
 *
 * An independent reference parser, written here from docs/PROTOCOL.md and
 * not from `protocol.ts`, tells which lines are valid puts. Every line must
 * get the answer its kind calls for; afterwards the server must be alive,
 * must hold exactly the samples of the valid puts, and a fresh connection
 * must replay the session of issue 2 byte for byte.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { serve } from "../server.ts";
import { Store } from "../store.ts";
import {
  bytes,
  concat,
  decoder,
  ERROR_ANSWER,
  randomInt,
  RawConnection,
  replaySession,
  rng,
  splitAnswers,
} from "./_helpers.ts";

const SEED = 0x5eed_0005;
const CONNECTIONS = 8;
const ITEMS_PER_CONNECTION = 2500;
/** The longest line the server takes by default, a `\r` counting. */
const MAX_LINE_LENGTH = 64 * 1024;
const PONG = "ok\npong\n\n";

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** What a line calls for, by the reference parser. */
type Expectation =
  | { kind: "blank" }
  | { kind: "put"; key: string; value: number; timestamp: number }
  | { kind: "error" }
  | { kind: "pong" }
  | { kind: "data" }
  | { kind: "any" };

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
const MAX_TIMESTAMP = BigInt(Number.MAX_SAFE_INTEGER);

function ascii(token: Uint8Array): string {
  let text = "";
  for (const byte of token) text += String.fromCharCode(byte);
  return text;
}

/** A key: valid UTF-8, not empty, no whitespace of any kind. */
function referenceKey(token: Uint8Array): string | undefined {
  let key: string;
  try {
    key = UTF8.decode(token);
  } catch {
    return undefined;
  }
  return key.length > 0 && !/\s/.test(key) ? key : undefined;
}

/** Splits a line on runs of spaces and tabs. */
function referenceTokens(line: Uint8Array): Uint8Array[] {
  const tokens: Uint8Array[] = [];
  let start = -1;
  for (let i = 0; i <= line.length; i++) {
    const separator = i === line.length || line[i] === SPACE ||
      line[i] === TAB;
    if (separator && start !== -1) {
      tokens.push(line.subarray(start, i));
      start = -1;
    } else if (!separator && start === -1) {
      start = i;
    }
  }
  return tokens;
}

/** The tokens of a line (without its `\n`), its final `\r` dropped. */
function tokensOf(raw: Uint8Array): Uint8Array[] {
  return referenceTokens(
    raw.at(-1) === CARRIAGE_RETURN ? raw.subarray(0, -1) : raw,
  );
}

/** The first token of a line as text (bytes as Latin-1), if any. */
function firstToken(raw: Uint8Array): string | undefined {
  const [first] = tokensOf(raw);
  return first === undefined ? undefined : ascii(first);
}

/** What the server must answer to `raw`, a line without its `\n`. */
function expectationOf(raw: Uint8Array): Expectation {
  if (raw.length > MAX_LINE_LENGTH) return { kind: "error" };
  const tokens = tokensOf(raw);
  if (tokens.length === 0) return { kind: "blank" };
  switch (ascii(tokens[0])) {
    case "put": {
      if (tokens.length !== 4) return { kind: "error" };
      const key = referenceKey(tokens[1]);
      const valueText = ascii(tokens[2]);
      const value = Number(valueText);
      const timestampText = ascii(tokens[3]);
      if (
        key === undefined || !DECIMAL.test(valueText) ||
        !Number.isFinite(value) || !INTEGER.test(timestampText)
      ) {
        return { kind: "error" };
      }
      const timestamp = BigInt(timestampText);
      if (timestamp > MAX_TIMESTAMP || -timestamp > MAX_TIMESTAMP) {
        return { kind: "error" };
      }
      // `-0` is the timestamp 0.
      return { kind: "put", key, value, timestamp: Number(timestamp) || 0 };
    }
    case "get":
      return tokens.length === 2 && referenceKey(tokens[1]) !== undefined
        ? { kind: "data" }
        : { kind: "error" };
    case "ping":
      return tokens.length === 1 ? { kind: "pong" } : { kind: "error" };
    case "stats":
    case "auth":
    case "last":
    case "keys":
    case "query":
      return { kind: "any" };
    default:
      return { kind: "error" };
  }
}

/** Splits a stream into its lines, without their `\n`. */
function linesOf(stream: Uint8Array): Uint8Array[] {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = stream.indexOf(NEWLINE); i !== -1;) {
    lines.push(stream.subarray(start, i));
    start = i + 1;
    i = stream.indexOf(NEWLINE, start);
  }
  return lines;
}

const KEYS = [
  "fz.cpu",
  "fz.mem.used",
  "fz.ключ",
  "fz.😀",
  "fz.a\u0000b",
  "fz.x-y_z",
  "*",
  "fz.[a]{b}",
  "°C",
];
const VALUES = [
  "0",
  "-0",
  "1",
  "10.6",
  "-1.5",
  "+2",
  "1e3",
  ".5",
  "5.",
  "1E-5",
  "-.5e-3",
  "123456789012345678",
  "0.1",
  "1e308",
  "4.9e-324",
  "0e99999",
];
const TIMESTAMPS = [
  "0",
  "-0",
  "1",
  "2",
  "-7",
  "+7",
  "007",
  "1501864247",
  "9007199254740991",
  "-9007199254740991",
];
const HUGE_NUMBERS = [
  "9".repeat(400),
  "1" + "0".repeat(330),
  "1e99999",
  "-1e400",
  "0." + "0".repeat(400) + "1",
  "9007199254740992",
  "-9007199254740992",
  "1" + "0".repeat(30),
];
const BAD_BYTES = [
  [0xff],
  [0xc3],
  [0xed, 0xa0, 0x80],
  [0xc0, 0xaf],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
];
const ODD_WHITESPACE = ["\u00a0", "\u2028", "\u3000", "\ufeff", "\v", "\f"];
const OTHER_COMMANDS = [
  "get fz.cpu",
  "get *",
  "ping",
  "stats",
  "keys fz.*",
  "last fz.*",
  "query fz.* 0 100",
  "auth anything",
];

/** Generates the fuzz input from a seed. */
class Generator {
  #random: () => number;

  constructor(seed: number) {
    this.#random = rng(seed);
  }

  #int(min: number, max: number): number {
    return randomInt(this.#random, min, max);
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#int(0, items.length - 1)];
  }

  /** A run of spaces and tabs. */
  #gap(): string {
    let gap = "";
    for (let n = this.#int(1, 3); n > 0; n--) gap += this.#pick([" ", "\t"]);
    return gap;
  }

  /** A valid put of `key`, spaced in any valid way. */
  validPut(key: string): string {
    const lead = this.#random() < 0.2 ? this.#gap() : "";
    const tail = this.#random() < 0.2 ? this.#gap() : "";
    const cr = this.#random() < 0.2 ? "\r" : "";
    const timestamp = this.#random() < 0.5
      ? this.#pick(TIMESTAMPS)
      : String(this.#int(0, 2_000_000_000));
    return `${lead}put${this.#gap()}${key}${this.#gap()}${
      this.#pick(VALUES)
    }${this.#gap()}${timestamp}${tail}${cr}`;
  }

  /** Random bytes, biased towards those that matter to the protocol. */
  randomBytes(): Uint8Array {
    const data = new Uint8Array(this.#int(1, 120));
    for (let i = 0; i < data.length; i++) {
      const roll = this.#random();
      data[i] = roll < 0.5
        ? this.#int(0x20, 0x7e)
        : roll < 0.7
        ? this.#pick([SPACE, TAB, CARRIAGE_RETURN, NEWLINE, 0, 0xff, 0x80])
        : this.#int(0, 255);
    }
    return data;
  }

  /**
   * A valid command with one to three mutations. Its puts have keys of
   * their own, so that a stored mutation cannot hide behind a valid put.
   */
  mutated(unique: string): Uint8Array {
    let data = bytes(
      this.#random() < 0.7
        ? this.validPut(`${unique}.${this.#pick(KEYS)}`)
        : this.#pick(OTHER_COMMANDS),
    );
    for (let n = this.#int(1, 3); n > 0; n--) data = this.#mutate(data);
    return data;
  }

  #mutate(data: Uint8Array): Uint8Array {
    const at = this.#int(0, data.length);
    const insert = (extra: Uint8Array) =>
      concat(data.subarray(0, at), extra, data.subarray(at));
    switch (this.#int(0, 9)) {
      case 0: { // a bit flip
        if (data.length === 0) return data;
        const flipped = data.slice();
        flipped[this.#int(0, data.length - 1)] ^= 1 << this.#int(0, 7);
        return flipped;
      }
      case 1: // a truncation
        return data.subarray(0, at);
      case 2: // whitespace
        return insert(bytes(this.#gap()));
      case 3: // a carriage return
        return insert(Uint8Array.of(CARRIAGE_RETURN));
      case 4: // NUL
        return insert(Uint8Array.of(0));
      case 5: // invalid UTF-8
        return insert(Uint8Array.from(this.#pick(BAD_BYTES)));
      case 6: // whitespace that does not separate tokens
        return insert(bytes(this.#pick(ODD_WHITESPACE)));
      case 7: { // a huge number instead of a token
        const tokens = referenceTokens(data);
        if (tokens.length === 0) return data;
        const token = tokens[this.#int(0, tokens.length - 1)];
        const start = token.byteOffset - data.byteOffset;
        return concat(
          data.subarray(0, start),
          bytes(this.#pick(HUGE_NUMBERS)),
          data.subarray(start + token.length),
        );
      }
      case 8: // a byte dropped
        return concat(data.subarray(0, at), data.subarray(at + 1));
      default: // a newline, splitting the line in two
        return insert(Uint8Array.of(NEWLINE));
    }
  }

  /** A line padded with spaces to `length` bytes, over or at the limit. */
  padded(key: string, length: number): string {
    const line = `put ${key} 1.25 42`;
    return line + " ".repeat(length - line.length);
  }

  /** One connection's stream: items, each ended by `\n`. */
  stream(connection: number): Uint8Array {
    const items: Uint8Array[] = [];
    while (items.length < ITEMS_PER_CONNECTION) {
      const roll = this.#random();
      const item = roll < 0.35
        ? this.randomBytes()
        : roll < 0.7
        ? this.mutated(`mut.c${connection}.${items.length}`)
        : roll < 0.995
        ? bytes(
          this.#random() < 0.8
            ? this.validPut(this.#pick(KEYS))
            : this.#pick(OTHER_COMMANDS),
        )
        : bytes(
          this.padded(
            `fz.long.c${connection}`,
            this.#pick([MAX_LINE_LENGTH, MAX_LINE_LENGTH + 1, 70_000]),
          ),
        );
      // `delete` is the one command that would change the store in a way
      // the reference does not model; leave it out.
      const lines = linesOf(concat(item, Uint8Array.of(NEWLINE)));
      if (lines.some((line) => firstToken(line) === "delete")) continue;
      items.push(item, Uint8Array.of(NEWLINE));
    }
    return concat(...items);
  }

  /** Cuts `stream` into pieces of random sizes, some of one byte. */
  pieces(stream: Uint8Array): Uint8Array[] {
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < stream.length;) {
      const size = this.#random() < 0.1 ? 1 : this.#int(1, 8192);
      pieces.push(stream.subarray(at, at + size));
      at += size;
    }
    return pieces;
  }
}

/** Samples by key and timestamp, the last value each put there. */
type Model = Map<string, Map<number, number>>;

/** Checks one connection's answers against the lines it sent. */
function checkAnswers(
  connection: number,
  lines: Uint8Array[],
  expectations: Expectation[],
  answers: string[],
): void {
  equal(answers.length, expectations.length, `connection ${connection}`);
  for (let i = 0; i < answers.length; i++) {
    const expectation = expectations[i];
    const answer = answers[i];
    const where = `connection ${connection}, line ${
      JSON.stringify(decoder.decode(lines[i].subarray(0, 200)))
    }: ${expectation.kind}`;
    switch (expectation.kind) {
      case "put":
        equal(answer, "ok\n\n", where);
        break;
      case "error":
        equal(answer, ERROR_ANSWER, where);
        break;
      case "pong":
        equal(answer, PONG, where);
        break;
      case "data":
        assert(answer.startsWith("ok\n"), `${where}: ${answer}`);
        break;
      default:
        assert(/^(ok|error)\n/.test(answer), `${where}: ${answer}`);
    }
  }
}

Deno.test("serve() survives fuzzed input and stores exactly its valid puts", async () => {
  const store = new Store();
  const errors: Error[] = [];
  await using server = serve({
    port: 0,
    store,
    onError: (error) => errors.push(error),
  });
  const port = server.addr.port;
  const generator = new Generator(SEED);
  const streams = Array.from(
    { length: CONNECTIONS },
    (_, c) => generator.stream(c),
  );
  const pieces = streams.map((stream) => generator.pieces(stream));
  // The lines that get an answer, and what each calls for.
  const lines = streams.map((stream) =>
    linesOf(stream).filter((line) => expectationOf(line).kind !== "blank")
  );
  const expectations = lines.map((list) => list.map(expectationOf));
  const models: Model[] = expectations.map((list) => {
    const model: Model = new Map();
    for (const e of list) {
      if (e.kind !== "put") continue;
      if (!model.has(e.key)) model.set(e.key, new Map());
      model.get(e.key)!.set(e.timestamp, e.value);
    }
    return model;
  });
  const puts = expectations.flat().filter((e) => e.kind === "put").length;
  const rejected = expectations.flat().filter((e) => e.kind === "error").length;
  assert(puts > 500 && rejected > 1000, `${puts} puts, ${rejected} errors`);

  await Promise.all(streams.map(async (_, c) => {
    await using connection = await RawConnection.connect(port);
    const sending = (async () => {
      for (const piece of pieces[c]) await connection.send(piece);
    })();
    const answers = await connection.answers(expectations[c].length, 60_000);
    await sending;
    checkAnswers(c, lines[c], expectations[c], splitAnswers(answers));
  }));

  await using fresh = await RawConnection.connect(port);
  await fresh.send("ping\nget *\n");
  const [pong, all] = splitAnswers(await fresh.answers(2));
  equal(pong, PONG, "the server is alive");

  // Connections ran at once: a sample put by several may hold the value
  // of any of them, whichever came last.
  const stored = new Map<string, [number, number][]>();
  for (const line of all.split("\n").slice(1, -2)) {
    const [key, value, timestamp, extra] = line.split(" ");
    equal(extra, undefined, line);
    if (!stored.has(key)) stored.set(key, []);
    stored.get(key)!.push([Number(timestamp), Number(value)]);
  }
  const keys = new Set(models.flatMap((model) => [...model.keys()]));
  deepEqual([...stored.keys()].sort(), [...keys].sort(), "the keys");
  for (const key of keys) {
    const timestamps = new Set(
      models.flatMap((model) => [...model.get(key)?.keys() ?? []]),
    );
    const samples = stored.get(key)!;
    deepEqual(
      samples.map(([timestamp]) => timestamp),
      [...timestamps].sort((a, b) => a - b),
      `the timestamps of ${JSON.stringify(key)}, in order`,
    );
    for (const [timestamp, value] of samples) {
      const candidates = models.flatMap((model) => {
        const put = model.get(key)?.get(timestamp);
        return put === undefined ? [] : [put];
      });
      assert(
        candidates.some((candidate) => Object.is(candidate, value)),
        `${JSON.stringify(key)} at ${timestamp}: ${value}, not one of ${
          candidates.join(", ")
        }`,
      );
    }
  }
  deepEqual(errors.map((error) => error.message), [], "no connection failed");

  // Empty the store it shares with us, then the course's session.
  for (const series of [...store.series()]) store.delete(series.key);
  await using course = await RawConnection.connect(port);
  await replaySession(course, equal);
});
