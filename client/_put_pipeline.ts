/**
 * Storing a stream of `put` lines, pipelined: lines are sent as they are
 * read, many per write, with a bounded number of answers owed, and each
 * answer is matched to its line's number. What it holds is a chunk of the
 * source, the lines sent whose answers have not come, and one write's
 * bytes, however long the stream.
 *
 * @module
 */

import { RequestParser } from "../protocol/request.ts";
import { ClientError } from "./client_error.ts";
import type { LineConnection } from "./_line_connection.ts";

/** Options of `Client.putLines()`. */
export interface PutLinesOptions {
  /**
   * The most puts sent whose answers have not come yet.
   *
   * @default {4096}
   */
  window?: number;
  /**
   * Hears each refused line: its number (the first line is 1) and why.
   *
   * @default {undefined}
   */
  onRefused?: (line: number, reason: string) => void;
  /**
   * Hears the counts so far, after each chunk of the source is sent.
   *
   * @default {undefined}
   */
  onProgress?: (report: PutLinesReport) => void;
}

/** The counts of `Client.putLines()`, so far or in the end. */
export interface PutLinesReport {
  /** Bytes read from the source. */
  bytes: number;
  /** Lines read that were not blank: puts, and lines refused unsent. */
  lines: number;
  /** Puts the server stored. */
  stored: number;
  /** Lines refused: not puts, or puts the server refused. */
  refused: number;
}

/** The default of {@linkcode PutLinesOptions.window}. */
export const DEFAULT_WINDOW = 4096;
// A line longer than this is refused unsent and its bytes dropped as they
// come, so that one line cannot grow the buffer without bound: servers take
// 64 KiB by default (--max-line-length).
const MAX_LINE_LENGTH = 1024 * 1024;
// Bytes gathered before they are sent, at most (a chunk's lines go in one
// write below this).
const WRITE_SIZE = 256 * 1024;
const TOO_LONG = `the line is longer than ${MAX_LINE_LENGTH} bytes`;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const DECODER = new TextDecoder();
// Where the reader is within an answer.
const STATUS = 0;
const OK_END = 1;
const MESSAGE = 2;
const ERROR_END = 3;

/** A line as a message shows it: its first 60 characters, quoted. */
function preview(bytes: Uint8Array, start: number, end: number): string {
  const text = DECODER.decode(bytes.subarray(start, Math.min(end, start + 60)));
  return JSON.stringify(end - start > 60 ? `${text}...` : text);
}

/** Bytes gathered for one write. */
class Outbox {
  bytes = new Uint8Array(WRITE_SIZE + MAX_LINE_LENGTH + 1);
  length = 0;

  add(line: Uint8Array, start: number, end: number): void {
    this.bytes.set(line.subarray(start, end), this.length);
    this.length += end - start;
    this.bytes[this.length++] = NEWLINE;
  }
}

/**
 * Stores the put lines of `source` through `connection`.
 *
 * @param connection A connection of its own, logged in.
 * @param source The lines' bytes, in chunks.
 * @param options The window, and who hears refusals and progress.
 * @returns The counts.
 * @throws {ClientError} When the connection fails or an answer is
 * malformed; errors of the source as they are.
 */
export async function putLines(
  connection: LineConnection,
  source: AsyncIterable<Uint8Array>,
  options: PutLinesOptions = {},
): Promise<PutLinesReport> {
  return await new PutPipeline(connection, options).run(source);
}

/** One run of {@linkcode putLines}: a sender and a reader of answers. */
class PutPipeline {
  #connection: LineConnection;
  #window: number;
  #options: PutLinesOptions;
  #parser = new RequestParser();
  #report: PutLinesReport = { bytes: 0, lines: 0, stored: 0, refused: 0 };
  #outbox = new Outbox();
  // The line numbers of the puts whose answers are owed, oldest first.
  #owed: number[];
  #head = 0;
  #count = 0;
  // The partial line at the end of the chunks read so far.
  #partial = new Uint8Array(0);
  #skipping = false;
  #line = 0;
  #state = STATUS;
  #message = "";
  #sent = false;
  #done = false;
  #failure: unknown;
  // Wakes the sender when answers made room, the reader when puts were sent.
  #wake: (() => void) | undefined;

  constructor(connection: LineConnection, options: PutLinesOptions) {
    const window = options.window ?? DEFAULT_WINDOW;
    if (!Number.isSafeInteger(window) || window < 1) {
      throw new RangeError(
        `Cannot keep ${window} puts in flight: not an integer of at least 1`,
      );
    }
    this.#connection = connection;
    this.#window = window;
    this.#options = options;
    this.#owed = new Array(window);
  }

  async run(source: AsyncIterable<Uint8Array>): Promise<PutLinesReport> {
    const reading = this.#readAnswers();
    try {
      await this.#send(source);
    } catch (error) {
      this.#fail(error);
    }
    this.#done = true;
    this.#wakeUp();
    await reading;
    if (this.#failure !== undefined) throw this.#failure;
    return { ...this.#report };
  }

  async #send(source: AsyncIterable<Uint8Array>): Promise<void> {
    for await (const chunk of source) {
      this.#report.bytes += chunk.length;
      await this.#chunk(chunk);
      await this.#flush();
      this.#options.onProgress?.({ ...this.#report });
    }
    if (this.#partial.length > 0 || this.#skipping) {
      // The last line, without its newline.
      await this.#chunk(new Uint8Array([NEWLINE]));
    }
    await this.#flush();
  }

  /** Takes the complete lines of a chunk, and keeps its partial line. */
  async #chunk(chunk: Uint8Array): Promise<void> {
    let bytes = chunk;
    if (this.#partial.length > 0) {
      bytes = new Uint8Array(this.#partial.length + chunk.length);
      bytes.set(this.#partial);
      bytes.set(chunk, this.#partial.length);
    }
    let start = 0;
    for (let end; (end = bytes.indexOf(NEWLINE, start)) !== -1;) {
      if (this.#skipping) this.#skipping = false;
      else {
        // Awaited only when need be: a promise per line would cost more
        // than the line.
        if (
          this.#count === this.#window || this.#outbox.length >= WRITE_SIZE
        ) {
          await this.#makeRoom();
        }
        this.#take(bytes, start, end);
      }
      start = end + 1;
    }
    const rest = bytes.length - start;
    if (this.#skipping || rest > MAX_LINE_LENGTH) {
      if (!this.#skipping) {
        this.#skipping = true;
        this.#refuse(++this.#line, TOO_LONG);
      }
      this.#partial = new Uint8Array(0);
    } else this.#partial = bytes.slice(start);
  }

  /** Sends what is gathered, then waits until fewer puts are owed than the window. */
  async #makeRoom(): Promise<void> {
    await this.#flush();
    while (this.#count === this.#window) {
      await this.#sleep();
      if (this.#failure !== undefined) throw this.#failure;
    }
  }

  /** Gathers one line to send, or refuses it: a line that is not a put. */
  #take(bytes: Uint8Array, start: number, end: number): void {
    const number = ++this.#line;
    if (end > start && bytes[end - 1] === CARRIAGE_RETURN) end--;
    if (end - start > MAX_LINE_LENGTH) {
      this.#refuse(number, TOO_LONG);
      return;
    }
    const request = this.#parser.parse(bytes, start, end);
    if (request === undefined) return;
    if (request.command !== "put") {
      this.#refuse(
        number,
        `not a valid put line (put <key> <value> <timestamp>): ${
          preview(bytes, start, end)
        }`,
      );
      return;
    }
    this.#report.lines++;
    this.#outbox.add(bytes, start, end);
    this.#owed[(this.#head + this.#count) % this.#window] = number;
    this.#count++;
  }

  /** Counts a line refused unsent. */
  #refuse(number: number, reason: string): void {
    this.#report.lines++;
    this.#refused(number, reason);
  }

  /** Counts a line refused, unsent or by the server. */
  #refused(number: number, reason: string): void {
    this.#report.refused++;
    this.#options.onRefused?.(number, reason);
  }

  /** Sends what is gathered; the bytes are reused once written. */
  async #flush(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const outbox = this.#outbox;
    if (outbox.length === 0) return;
    this.#sent = true;
    this.#wakeUp();
    await this.#connection.write(outbox.bytes.subarray(0, outbox.length));
    outbox.length = 0;
  }

  /** Reads answers until every put sent is answered and nothing is left. */
  async #readAnswers(): Promise<void> {
    const connection = this.#connection;
    try {
      while (true) {
        while (connection.nextLine()) {
          this.#answer(connection.bytes, connection.start, connection.end);
        }
        if (this.#failure !== undefined) return;
        if (this.#count === 0 && this.#state === STATUS) {
          if (this.#done) return;
          if (!this.#sent) {
            await this.#sleep();
            continue;
          }
        }
        this.#sent = false;
        // Nothing owed yet (the write is on its way): no timeout.
        await connection.fill(this.#count > 0);
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Takes one line of an answer. */
  #answer(bytes: Uint8Array, start: number, end: number): void {
    const empty = start === end;
    switch (this.#state) {
      case STATUS: {
        const text = DECODER.decode(bytes.subarray(start, end));
        if (this.#count === 0) {
          throw new ClientError(
            `Cannot match the answer "${text}": no put is waiting for one`,
          );
        }
        if (text === "ok") this.#state = OK_END;
        else if (text === "error") this.#state = MESSAGE;
        else throw this.#malformed(text);
        return;
      }
      case OK_END:
        if (!empty) throw this.#malformed(preview(bytes, start, end));
        this.#report.stored++;
        this.#answered();
        return;
      case MESSAGE:
        this.#message = DECODER.decode(bytes.subarray(start, end));
        this.#state = ERROR_END;
        return;
      case ERROR_END: {
        if (!empty) throw this.#malformed(preview(bytes, start, end));
        const number = this.#owed[this.#head];
        this.#answered();
        this.#refused(number, this.#message);
      }
    }
  }

  #answered(): void {
    this.#state = STATUS;
    this.#head = (this.#head + 1) % this.#window;
    this.#count--;
    this.#wakeUp();
  }

  #malformed(text: string): ClientError {
    return new ClientError(
      `Cannot read the answer to put: malformed answer ${text}`,
    );
  }

  #fail(error: unknown): void {
    this.#failure ??= error;
    this.#connection.close();
    this.#wakeUp();
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
