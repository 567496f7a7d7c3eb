/**
 * A request's body, as the `ReadableStream` its handler reads: framed by
 * `Content-Length` or chunked, and pulled from the socket only as the
 * handler asks for it.
 *
 * The stream has no queue of its own (a high-water mark of 0): each read
 * of the handler makes one read of the connection, at most 64 KiB, or takes
 * what the connection's buffer already holds. A `Content-Length` body read
 * on an empty buffer goes straight into the array handed over; chunked data
 * is copied out of the buffer, as its framing sits between the runs of data.
 * A read that makes no progress for the body timeout fails. Once the
 * response is sent, the connection takes the body back to drain it: the
 * handler can read no more of it.
 *
 * @module
 */

import { concat } from "../internal/concat.ts";
import { type EventLoopTurns, nextTurn } from "../internal/turns.ts";
import { ChunkedDecoder } from "./_http1.ts";
import type { ReadBuffer } from "./_read_buffer.ts";

/** What a request body needs of its connection. */
export interface BodySource {
  /** The connection's read buffer. */
  readonly buffer: ReadBuffer;
  /** Milliseconds a read may go without any byte arriving. */
  readonly bodyTimeout: number;
  /** The most bytes of chunked trailer fields. */
  readonly maxTrailerBytes: number;
  /** The connection's watch on the event loop's turns. */
  readonly turns: EventLoopTurns;
  /** Called before the first read: sends `100 Continue` if it is owed. */
  beforeRead(): Promise<void>;
  /** Called once the body has been read to its end. */
  onComplete(): void;
  /**
   * Called when the body cannot be read to its end: the connection cannot
   * be reused.
   *
   * @param peerGone Whether the peer closed or reset the connection.
   */
  onBroken(peerGone: boolean): void;
}

// The largest read into an array handed to the handler.
const MAX_READ = 64 * 1024;
// The buffer's room for a chunked body: a few runs of data per read.
const CHUNKED_BUFFER = 16 * 1024;
// How long reading may hold the event loop before other connections get a
// turn, in milliseconds.
const SLICE_MS = 10;

/** One request's body. */
export class RequestBody {
  /** The body as the handler reads it. */
  readonly stream: ReadableStream<Uint8Array>;
  /** Whether the body has been read to its end. */
  complete = false;
  #source: BodySource;
  // Bytes left of a `Content-Length` body; -1 for a chunked one.
  #remaining: number;
  #decoder: ChunkedDecoder | undefined;
  #started = false;
  #broken = false;
  #takenBack = false;
  #reading: Promise<unknown> | undefined;

  /**
   * Makes the body of a request.
   *
   * @param length Its `Content-Length` (above 0), or -1 when chunked.
   * @param source Its connection.
   */
  constructor(length: number, source: BodySource) {
    this.#source = source;
    this.#remaining = length;
    if (length === -1) {
      this.#decoder = new ChunkedDecoder(source.maxTrailerBytes);
    }
    this.stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (this.#takenBack) {
          throw new TypeError(
            "Cannot read the request body: the response has been sent",
          );
        }
        const chunk = await this.#read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
  }

  /** The bytes left of a `Content-Length` body; -1 for a chunked one. */
  get remaining(): number {
    return this.#remaining;
  }

  /** Whether reading it failed: the connection cannot be reused. */
  get broken(): boolean {
    return this.#broken;
  }

  /**
   * Takes the body back from the handler and reads what it left unread, so
   * that the connection can serve another request.
   *
   * @param limit The most bytes to read.
   * @returns Whether the body was read to its end within the limit.
   */
  async drain(limit: number): Promise<boolean> {
    this.#takenBack = true;
    // A continue is not owed any more: the answer has gone.
    this.#started = true;
    await this.#reading?.catch(() => {});
    if (this.#broken || this.#remaining > limit) return false;
    let drained = 0;
    try {
      while (!this.complete) {
        const chunk = await this.#read();
        drained += chunk?.length ?? 0;
        if (drained > limit) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  async #read(): Promise<Uint8Array | null> {
    if (this.complete) return null;
    const reading = this.#readChunk();
    this.#reading = reading;
    try {
      return await reading;
    } finally {
      this.#reading = undefined;
    }
  }

  async #readChunk(): Promise<Uint8Array | null> {
    if (this.#broken) {
      throw new TypeError("Cannot read the request body: it failed before");
    }
    if (!this.#started) {
      this.#started = true;
      await this.#source.beforeRead();
    }
    if (this.#source.turns.overdue(SLICE_MS)) await nextTurn();
    return this.#decoder === undefined
      ? await this.#readCounted()
      : await this.#readChunked(this.#decoder);
  }

  async #readCounted(): Promise<Uint8Array> {
    const buffer = this.#source.buffer;
    while (true) {
      if (buffer.size > 0) {
        const count = Math.min(buffer.size, this.#remaining);
        const chunk = buffer.bytes.slice(buffer.start, buffer.start + count);
        buffer.consume(count);
        this.#advance(count);
        return chunk;
      }
      if (buffer.ended) throw this.#fail(buffer);
      const target = new Uint8Array(Math.min(this.#remaining, MAX_READ));
      const read = buffer.readInto(target);
      if (!await buffer.within(read, this.#source.bodyTimeout)) {
        throw this.#timedOut();
      }
      const count = await read;
      if (count === null) throw this.#fail(buffer);
      if (count === 0) continue; // a read into the buffer landed: look there
      this.#advance(count);
      // Keep a large array only when it is mostly used.
      return count * 2 >= target.length
        ? target.subarray(0, count)
        : target.slice(0, count);
    }
  }

  async #readChunked(decoder: ChunkedDecoder): Promise<Uint8Array | null> {
    const buffer = this.#source.buffer;
    buffer.reserve(CHUNKED_BUFFER);
    while (true) {
      // Every run of data at hand leaves as one chunk, however small the
      // chunks it was sent in.
      const runs: Uint8Array[] = [];
      while (buffer.size > 0 && !decoder.done) {
        const next = decoder.decode(buffer.bytes, buffer.start, buffer.end);
        if (decoder.dataEnd > decoder.dataStart) {
          runs.push(buffer.bytes.slice(decoder.dataStart, decoder.dataEnd));
        }
        buffer.consume(next - buffer.start);
        if (decoder.error !== undefined) {
          this.#broken = true;
          this.#source.onBroken(false);
          throw new SyntaxError(
            `Cannot read the request body: ${decoder.error}`,
          );
        }
      }
      if (decoder.done) this.#advance(0);
      if (runs.length > 0) return runs.length === 1 ? runs[0] : concat(runs);
      if (decoder.done) return null;
      if (buffer.ended) throw this.#fail(buffer);
      if (!await buffer.within(buffer.fill(), this.#source.bodyTimeout)) {
        throw this.#timedOut();
      }
    }
  }

  #advance(count: number): void {
    if (this.#decoder === undefined) this.#remaining -= count;
    if (this.#remaining === 0 || this.#decoder?.done) {
      this.complete = true;
      this.#source.onComplete();
    }
  }

  #fail(buffer: ReadBuffer): Error {
    this.#broken = true;
    this.#source.onBroken(true);
    return buffer.failed
      ? new Deno.errors.ConnectionReset(
        "Cannot read the request body: the connection failed",
      )
      : new Deno.errors.UnexpectedEof(
        "Cannot read the request body: the client closed the connection",
      );
  }

  #timedOut(): Error {
    this.#broken = true;
    this.#source.onBroken(false);
    return new Deno.errors.TimedOut(
      `Cannot read the request body: no bytes for ${this.#source.bodyTimeout} ms`,
    );
  }
}
