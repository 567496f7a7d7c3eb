/**
 * A connection's read buffer: bytes received and not yet parsed, with at
 * most one read of the socket in flight.
 *
 * Heads are parsed in place from `bytes[start, end)`. The buffer starts
 * small, so that thousands of idle connections hold little, and grows up to
 * its limit only while a head needs the room. A large body skips it: its
 * bytes are read straight into the arrays handed to the request's reader.
 * A read in flight is never moved or cancelled; later calls wait for it, and
 * closing the connection ends it.
 *
 * @module
 */

/** The part of `Deno.Conn` a read buffer uses. */
export interface SocketReader {
  /** Reads into `p`, resolving to the number of bytes read or `null` at EOF. */
  read(p: Uint8Array): Promise<number | null>;
}

/** Bytes received and not yet used, over one connection. */
export class ReadBuffer {
  /** The buffer; `[start, end)` holds the bytes not yet used. */
  bytes: Uint8Array;
  /** The first byte not yet used. */
  start = 0;
  /** Just past the last byte received. */
  end = 0;
  /** Whether the peer has sent its last byte, or reading failed. */
  ended = false;
  /** Whether reading failed: the connection is broken, not half-closed. */
  failed = false;
  #reader: SocketReader;
  #maxSize: number;
  #reading: Promise<void> | undefined;
  // The size of the last read straight into a caller's array.
  #landed = 0;
  #interrupt: (() => void) | undefined;

  /**
   * Makes an empty buffer.
   *
   * @param reader The connection.
   * @param initialSize The buffer's first size.
   * @param maxSize The most bytes it holds.
   */
  constructor(reader: SocketReader, initialSize: number, maxSize: number) {
    this.#reader = reader;
    this.#maxSize = maxSize;
    this.bytes = new Uint8Array(Math.min(initialSize, maxSize));
  }

  /** How many bytes are there, not yet used. */
  get size(): number {
    return this.end - this.start;
  }

  /** Whether a read is in flight. */
  get reading(): boolean {
    return this.#reading !== undefined;
  }

  /** Whether the buffer holds as much as it may: no read can add to it. */
  get full(): boolean {
    return this.size >= this.#maxSize;
  }

  /**
   * Marks bytes as used.
   *
   * @param count How many, from `start`.
   */
  consume(count: number): void {
    this.start += count;
  }

  /**
   * Reads into the free space, unless a read is in flight already, the
   * input has ended or the buffer is full.
   *
   * @returns A promise that settles when that read has landed (never
   * rejects: a failure sets `ended` and `failed`).
   */
  fill(): Promise<void> {
    if (this.#reading !== undefined) return this.#reading;
    if (this.ended || !this.#makeRoom()) return Promise.resolve();
    return this.#read(this.bytes.subarray(this.end), false);
  }

  /**
   * Reads straight into `target`, when the buffer is empty.
   *
   * @param target Where the bytes go.
   * @returns A promise of how many bytes came: 0 when a read into the
   * buffer was in flight (look there again), `null` at the end of input.
   */
  async readInto(target: Uint8Array): Promise<number | null> {
    if (this.#reading !== undefined) {
      await this.#reading;
      return this.ended && this.size === 0 ? null : 0;
    }
    if (this.ended) return null;
    await this.#read(target, true);
    return this.ended ? null : this.#landed;
  }

  /**
   * Waits for `landing` (a read from {@linkcode fill} or
   * {@linkcode readInto}) for at most `ms` milliseconds.
   *
   * @param landing The read.
   * @param ms How long at most.
   * @returns Whether it landed in time; false as well when
   * {@linkcode interrupt} was called.
   */
  within(landing: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (landed: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.#interrupt === interrupt) this.#interrupt = undefined;
        resolve(landed);
      };
      const interrupt = () => finish(false);
      const timer = setTimeout(finish, Math.max(0, ms), false);
      this.#interrupt = interrupt;
      landing.then(() => finish(true));
    });
  }

  /** Ends the wait of {@linkcode within} under way, if any, as not landed. */
  interrupt(): void {
    this.#interrupt?.();
  }

  /**
   * Gives the buffer at least `size` bytes of room in all, for reads of a
   * chunked body; a no-op while a read is in flight.
   *
   * @param size The room wanted, at most the buffer's limit.
   */
  reserve(size: number): void {
    if (this.#reading !== undefined || this.bytes.length >= size) return;
    this.#resize(Math.min(size, this.#maxSize));
  }

  #read(target: Uint8Array, direct: boolean): Promise<void> {
    this.#reading = this.#reader.read(target).then((count) => {
      this.#reading = undefined;
      if (count === null) this.ended = true;
      else if (direct) this.#landed = count;
      else this.end += count;
    }, () => {
      this.#reading = undefined;
      this.ended = this.failed = true;
    });
    return this.#reading;
  }

  /** Makes room after `end`; false when the buffer is full. */
  #makeRoom(): boolean {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.end < this.bytes.length) return true;
    if (this.start > 0) {
      this.bytes.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      return true;
    }
    if (this.bytes.length >= this.#maxSize) return false;
    this.#resize(Math.min(this.bytes.length * 2, this.#maxSize));
    return true;
  }

  #resize(size: number): void {
    const bytes = new Uint8Array(size);
    bytes.set(this.bytes.subarray(this.start, this.end));
    this.end -= this.start;
    this.start = 0;
    this.bytes = bytes;
  }
}
