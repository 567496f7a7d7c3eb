/**
 * Reading a ClickHouse answer in RowBinary as it arrives, a chunk at a time:
 * only the unread tail of the last chunk is kept, so an answer of any size
 * costs a bounded amount of memory.
 *
 * Every row Pulse asks for starts with the byte 1 (`SELECT toUInt8(1), ...`):
 * ClickHouse reports an error that happens once rows are streaming by
 * writing its text after them, and the text starts with `C` (`Code: ...`),
 * so a row that starts with anything but 1 is the error.
 *
 * @module
 */

import { type ClickHouseError, serverError } from "./_client.ts";

/** The first byte of every row. */
export const ROW_MARK = 1;
const TWO_32 = 2 ** 32;
// The most of an error's text kept.
const MAX_ERROR_BYTES = 4096;
const DECODER = new TextDecoder();

/** What to do with the answer's request. */
export interface AnswerControl {
  /** Stops the request. */
  abort(): void;
  /** Milliseconds to wait for more bytes. */
  readonly timeout: number;
  /** Turns what a read threw into the error to report. */
  failure(error: unknown): ClickHouseError;
}

/** The rows of one answer, read as they arrive. */
export class RowReader {
  /** The bytes at hand; rows are read from `at` to `end`. */
  bytes: Uint8Array = new Uint8Array(0);
  /** A view of {@linkcode RowReader.bytes}. */
  view: DataView = new DataView(this.bytes.buffer);
  /** Where the next row starts. */
  at = 0;
  /** Whether the answer has ended: no bytes will follow those at hand. */
  ended = false;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #control: AnswerControl;

  /**
   * Reads `body`.
   *
   * @param body The answer's body.
   * @param control Stops the request, and says how long to wait.
   */
  constructor(body: ReadableStream<Uint8Array>, control: AnswerControl) {
    this.#reader = body.getReader();
    this.#control = control;
  }

  /** How many bytes are at hand past {@linkcode RowReader.at}. */
  get available(): number {
    return this.bytes.length - this.at;
  }

  /**
   * Reads the next chunk, keeping the unread bytes before it.
   *
   * @returns A promise that settles once more bytes are at hand, or the
   * answer has ended.
   * @throws {ClickHouseError} When no bytes come in time or the read fails.
   */
  async fill(): Promise<void> {
    const timer = setTimeout(
      () => this.#control.abort(),
      this.#control.timeout,
    );
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await this.#reader.read();
    } catch (error) {
      throw this.#control.failure(error);
    } finally {
      clearTimeout(timer);
    }
    if (next.done) {
      this.ended = true;
      return;
    }
    const rest = this.bytes.subarray(this.at);
    let bytes = next.value;
    if (rest.length > 0) {
      bytes = new Uint8Array(rest.length + next.value.length);
      bytes.set(rest);
      bytes.set(next.value, rest.length);
    }
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.at = 0;
  }

  /**
   * Whether a row starts at {@linkcode RowReader.at}: its mark is there.
   *
   * @returns `true` at a row; `false` when its first byte is still to come.
   * @throws {ClickHouseError} When the bytes there are not a row: the error
   * ClickHouse wrote in its place.
   */
  atRow(): boolean {
    if (this.available === 0) return false;
    if (this.bytes[this.at] === ROW_MARK) return true;
    throw serverError(
      DECODER.decode(this.bytes.subarray(this.at, this.at + MAX_ERROR_BYTES)),
    );
  }

  /**
   * Reads the error text that follows, once {@linkcode RowReader.atRow}
   * found one, or says the answer was cut short.
   *
   * @returns The error to report.
   */
  async failure(): Promise<ClickHouseError> {
    while (!this.ended && this.available < MAX_ERROR_BYTES) {
      try {
        await this.fill();
      } catch (error) {
        return error as ClickHouseError;
      }
    }
    try {
      this.atRow();
    } catch (error) {
      return error as ClickHouseError;
    }
    return serverError(
      `an answer cut short, ${this.available} bytes into a row`,
    );
  }

  /**
   * A signed 64-bit integer, exact within the safe integers.
   *
   * @param at Where it starts.
   * @returns Its value.
   */
  int64(at: number): number {
    return this.view.getInt32(at + 4, true) * TWO_32 +
      this.view.getUint32(at, true);
  }

  /**
   * A string's length and where its bytes start, or `undefined` when the
   * length is not all at hand.
   *
   * @param at Where its varint length starts.
   * @returns `[length, start]`.
   */
  stringHead(at: number): [number, number] | undefined {
    const bytes = this.bytes;
    let length = 0;
    for (let shift = 0; at < bytes.length && shift < 35; shift += 7) {
      const byte = bytes[at++];
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return [length, at];
    }
    return undefined;
  }

  /**
   * Decodes UTF-8 bytes at hand.
   *
   * @param start Where they start.
   * @param end Where they end.
   * @returns The text.
   */
  text(start: number, end: number): string {
    return DECODER.decode(this.bytes.subarray(start, end));
  }

  /** Gives up the rest of the answer. */
  cancel(): void {
    if (this.ended) return;
    this.ended = true;
    this.#control.abort();
    this.#reader.cancel().catch(() => {});
  }
}
