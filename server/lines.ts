/**
 * Byte-level line framing for the server's connections.
 *
 * `@std/streams` has `TextLineStream`, but JSR cannot be reached from our
 * machines, and that stream decodes text before splitting and hands over one
 * line at a time. Pulse needs the opposite: split on the byte `\n` before any
 * decoding (so a character split across packets is fine), cap the length of a
 * line without ever buffering an over-long one whole, and hand over every
 * complete line of a chunk at once so that their answers leave in one write.
 *
 * @module
 */

/** The smallest part of a chunk: what `Deno.Conn` and friends offer. */
export interface ByteReader {
  /** Reads into `p`, resolving to the number of bytes read or `null` at EOF. */
  read(p: Uint8Array): Promise<number | null>;
}

/** Options of {@linkcode readLines}. */
export interface ReadLinesOptions {
  /**
   * The longest line accepted, in bytes before `\n` (a `\r` counts). A longer
   * line is reported as over-long and its bytes are dropped as they arrive.
   *
   * @default {65536}
   */
  maxLineLength?: number;
  /**
   * The read buffer's first size; it grows while reads fill it.
   *
   * @default {4096}
   */
  initialBufferSize?: number;
  /**
   * Called with the size of every read, for counting bytes.
   *
   * @default {undefined}
   */
  onRead?: (bytes: number) => void;
}

/** The default of {@linkcode ReadLinesOptions.maxLineLength}. */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
// A full read larger than this gains little; the buffer stops growing here
// unless a partial line needs the room.
const MAX_READ_SIZE = 64 * 1024;

/**
 * The complete lines of one chunk, as offsets into `bytes`. The batch and its
 * bytes are reused for the next chunk: read them before asking for more.
 */
export class LineBatch {
  /** The bytes the offsets point into. */
  bytes: Uint8Array = new Uint8Array(0);
  /** How many lines this batch holds. */
  count = 0;
  #starts: number[] = [];
  #ends: number[] = [];

  /**
   * Where line `i` starts, or -1 when the line was longer than the limit.
   *
   * @param i The line's index in the batch.
   * @returns The offset of its first byte in `bytes`.
   */
  start(i: number): number {
    return this.#starts[i];
  }

  /**
   * Where line `i` ends, exclusive, with its `\n` and any `\r` before it left
   * out; -1 when the line was longer than the limit.
   *
   * @param i The line's index in the batch.
   * @returns The offset after its last byte in `bytes`.
   */
  end(i: number): number {
    return this.#ends[i];
  }

  /** Empties the batch so that it frames `bytes`. */
  reset(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.count = 0;
  }

  /** Adds the line `[start, end)`; -1 for both marks an over-long line. */
  push(start: number, end: number): void {
    this.#starts[this.count] = start;
    this.#ends[this.count] = end;
    this.count++;
  }
}

/**
 * Reads `reader` to its end and yields, per chunk read, the complete lines it
 * finished. A line's trailing `\r` is dropped; an unfinished line at EOF is
 * dropped too, so a client that vanishes mid-line sends nothing of it.
 *
 * @param reader Where the bytes come from, such as a `Deno.Conn`.
 * @param options The line limit and buffer size.
 * @returns Batches of lines, one per chunk that completed at least one line.
 */
export function readLines(
  reader: ByteReader,
  options: ReadLinesOptions = {},
): AsyncIterableIterator<LineBatch> {
  return new LineReader(reader, options);
}

// A hand-written iterator rather than an async generator, and `next()` a
// plain function chaining the read: each async function and fresh result
// object costs time that shows at one request per round trip (together about
// 5% of a round trip's, measured).
class LineReader implements AsyncIterableIterator<LineBatch> {
  #reader: ByteReader;
  #onRead: ((bytes: number) => void) | undefined;
  #maxLineLength: number;
  #maxBufferSize: number;
  #buffer: Uint8Array;
  #batch = new LineBatch();
  #kept = 0; // bytes of an unfinished line, at `#keptFrom` until moved
  #keptFrom = 0;
  #discarding = false; // inside an over-long line, dropping it
  #full = false; // the last read filled the buffer
  #room = 0; // what the read under way may fill
  #result: IteratorResult<LineBatch, undefined> = {
    value: this.#batch,
    done: false,
  };

  constructor(reader: ByteReader, options: ReadLinesOptions) {
    this.#reader = reader;
    this.#onRead = options.onRead;
    this.#maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.#maxBufferSize = Math.max(this.#maxLineLength + 1, MAX_READ_SIZE) +
      MAX_READ_SIZE;
    this.#buffer = new Uint8Array(
      Math.min(options.initialBufferSize ?? 4096, this.#maxBufferSize),
    );
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<LineBatch> {
    return this;
  }

  next(): Promise<IteratorResult<LineBatch, undefined>> {
    return this.#read().then(this.#onData);
  }

  #onData = (
    n: number | null,
  ):
    | IteratorResult<LineBatch, undefined>
    | Promise<IteratorResult<LineBatch, undefined>> => {
    if (n === null) return { value: undefined, done: true };
    return this.#took(n) ? this.#result : this.#readOn();
  };

  /**
   * Reads on until a line completes, in one loop: chaining `next()` instead
   * would add a promise per read to the chain, without bound for a client
   * that keeps sending bytes and no newline.
   */
  async #readOn(): Promise<IteratorResult<LineBatch, undefined>> {
    while (true) {
      const n = await this.#read();
      if (n === null) return { value: undefined, done: true };
      if (this.#took(n)) return this.#result;
    }
  }

  #read(): Promise<number | null> {
    this.#makeRoom();
    const kept = this.#kept;
    this.#room = this.#buffer.length - kept;
    return this.#reader.read(
      kept === 0 ? this.#buffer : this.#buffer.subarray(kept),
    );
  }

  /** Takes `n` bytes read; returns whether they completed a line. */
  #took(n: number): boolean {
    this.#onRead?.(n);
    this.#full = n === this.#room;
    return this.#split(this.#kept + n) > 0;
  }

  /** Frames the lines of `buffer[0, filled)`; returns how many ended. */
  #split(filled: number): number {
    const bytes = this.#buffer.subarray(0, filled);
    const batch = this.#batch;
    const max = this.#maxLineLength;
    batch.reset(bytes);
    let lineStart = 0;
    let newline = bytes.indexOf(NEWLINE, this.#kept);
    while (newline !== -1) {
      if (this.#discarding || newline - lineStart > max) {
        this.#discarding = false;
        batch.push(-1, -1);
      } else {
        const end =
          newline > lineStart && bytes[newline - 1] === CARRIAGE_RETURN
            ? newline - 1
            : newline;
        batch.push(lineStart, end);
      }
      lineStart = newline + 1;
      newline = bytes.indexOf(NEWLINE, lineStart);
    }
    const rest = filled - lineStart;
    if (this.#discarding || rest > max) {
      this.#discarding = true;
      this.#kept = 0;
    } else {
      this.#kept = rest;
      this.#keptFrom = lineStart;
    }
    return batch.count;
  }

  /**
   * Moves the unfinished line to the front, once the batch that pointed
   * into the buffer is consumed, and grows the buffer while reads fill it.
   */
  #makeRoom(): void {
    const kept = this.#kept;
    if (kept > 0 && this.#keptFrom > 0) {
      this.#buffer.copyWithin(0, this.#keptFrom, this.#keptFrom + kept);
    }
    this.#keptFrom = 0;
    const size = this.#buffer.length;
    if (size < this.#maxBufferSize && (this.#full || size - kept < 1024)) {
      const grown = new Uint8Array(Math.min(size * 2, this.#maxBufferSize));
      grown.set(this.#buffer.subarray(0, kept));
      this.#buffer = grown;
    }
    this.#full = false;
  }
}
