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
export async function* readLines(
  reader: ByteReader,
  options: ReadLinesOptions = {},
): AsyncGenerator<LineBatch, void, void> {
  const maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  const maxBufferSize = Math.max(maxLineLength + 1, MAX_READ_SIZE) +
    MAX_READ_SIZE;
  let buffer = new Uint8Array(
    Math.min(options.initialBufferSize ?? 4096, maxBufferSize),
  );
  const batch = new LineBatch();
  let kept = 0; // bytes of an unfinished line at the front of `buffer`
  let discarding = false; // inside an over-long line, dropping it

  while (true) {
    const room = buffer.length - kept;
    const n = await reader.read(buffer.subarray(kept));
    if (n === null) return;
    options.onRead?.(n);
    const filled = kept + n;
    const bytes = buffer.subarray(0, filled);
    batch.reset(bytes);

    let lineStart = 0;
    let newline = bytes.indexOf(NEWLINE, kept);
    while (newline !== -1) {
      if (discarding || newline - lineStart > maxLineLength) {
        discarding = false;
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
    if (discarding || rest > maxLineLength) {
      discarding = true;
      kept = 0;
    } else {
      kept = rest;
    }
    if (batch.count > 0) yield batch;
    // The batch's bytes are consumed: now the unfinished line may move.
    if (kept > 0) buffer.copyWithin(0, lineStart, filled);
    if (
      buffer.length < maxBufferSize &&
      (n === room || buffer.length - kept < 1024)
    ) {
      const grown = new Uint8Array(Math.min(buffer.length * 2, maxBufferSize));
      grown.set(buffer.subarray(0, kept));
      buffer = grown;
    }
  }
}
