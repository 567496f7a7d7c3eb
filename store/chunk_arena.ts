/**
 * Where the encoded chunks of a store's series live: large pages filled in
 * order, a chunk at a time, and the space of chunks freed since reclaimed by
 * moving what is left of a page to the page being filled.
 *
 * Why not one buffer per chunk: in V8 each `Uint8Array` with its own buffer
 * costs about 450 bytes of resident memory besides its contents, and an
 * encoded chunk of 128 samples holds about 120. Pages hold chunks end to end
 * and a series refers to its chunks by number (a page, an offset and a
 * length), so a chunk costs its bytes and eight more.
 *
 * Freeing only counts: a page whose live bytes drop below half of it is
 * queued, and {@linkcode ChunkArena.settle} (called by series after their
 * changes) moves the chunks left in one queued page at a time, then drops
 * the page. A page left with no live byte is dropped at once.
 *
 * @module
 */

import { chunkLength, ENCODING_NAMES } from "./chunkenc/chunkenc.ts";

// A chunk's length takes the low 14 bits of its reference: no encoded chunk
// (at most 1024 samples of 112 bits) is longer.
const LENGTH_SCALE = 2 ** 14;
// A page's number takes the bits above 20 of an address.
const PAGE_SCALE = 2 ** 20;
const FIRST_PAGE_BYTES = 4096;
const PAGE_BYTES = PAGE_SCALE;

/** What chunks of an encoding hold: bytes and samples. */
export interface EncodingFigures {
  /** Bytes of memory. */
  bytes: number;
  /** Samples. */
  samples: number;
}

/** Bytes and samples in a store's chunks, by encoding. */
export interface ChunkFigures {
  /** By the name of the encoding: `raw`, `decimal`, `xor`. */
  encodings: Record<string, EncodingFigures>;
  /** Bytes of the pages that encoded chunks are kept in, free space too. */
  pageBytes: number;
}

/** Moves every chunk that lies in a page elsewhere. */
export type Relocate = (page: number) => void;

/** The pages of a store's encoded chunks. */
export class ChunkArena {
  #pages: (Uint8Array | undefined)[] = [];
  #live: number[] = [];
  #queued: boolean[] = [];
  #current = -1;
  #fill = 0;
  #queue: number[] = [];
  #relocate: Relocate;
  #bytes = [0, 0, 0];
  #samples = [0, 0, 0];
  #pageBytes = 0;
  /** Bytes of the raw chunks of the store's series. */
  rawBytes = 0;

  /**
   * Creates an empty arena; its first page is made by the first chunk.
   *
   * @param relocate Moves every chunk in a page with
   * {@linkcode ChunkArena.move}; called by {@linkcode ChunkArena.settle}.
   */
  constructor(relocate: Relocate) {
    this.#relocate = relocate;
  }

  /** Whether a page waits for its chunks to be moved. */
  get pending(): boolean {
    return this.#queue.length > 0;
  }

  /**
   * Copies a chunk into the page being filled.
   *
   * @param chunk An encoded chunk that was checked.
   * @returns Its reference.
   */
  allocate(chunk: Uint8Array): number {
    const length = chunk.length;
    let page = this.#pages[this.#current];
    if (page === undefined || this.#fill + length > page.length) {
      page = this.#newPage(length);
    }
    page.set(chunk, this.#fill);
    const address = this.#current * PAGE_SCALE + this.#fill;
    this.#fill += length;
    this.#live[this.#current] += length;
    this.#count(page, address % PAGE_SCALE, length, 1);
    return address * LENGTH_SCALE + length;
  }

  /**
   * Frees a chunk's bytes.
   *
   * @param ref Its reference.
   */
  free(ref: number): void {
    const length = ref % LENGTH_SCALE;
    const address = (ref - length) / LENGTH_SCALE;
    const number = Math.floor(address / PAGE_SCALE);
    const page = this.#pages[number]!;
    this.#count(page, address % PAGE_SCALE, length, -1);
    const live = this.#live[number] -= length;
    if (number === this.#current) return;
    if (live === 0) {
      this.#drop(number);
    } else if (live < page.length / 2 && !this.#queued[number]) {
      this.#queued[number] = true;
      this.#queue.push(number);
    }
  }

  /**
   * Moves a chunk to the page being filled.
   *
   * @param ref Its reference.
   * @returns Its new reference.
   */
  move(ref: number): number {
    const moved = this.allocate(this.bytes(ref));
    this.free(ref);
    return moved;
  }

  /**
   * A chunk's bytes.
   *
   * @param ref Its reference.
   * @returns A view of them, valid until the arena changes.
   */
  bytes(ref: number): Uint8Array {
    const length = ref % LENGTH_SCALE;
    const address = (ref - length) / LENGTH_SCALE;
    const page = this.#pages[Math.floor(address / PAGE_SCALE)]!;
    const offset = address % PAGE_SCALE;
    return page.subarray(offset, offset + length);
  }

  /**
   * The page that holds a chunk, and where in it the chunk starts.
   *
   * @param ref Its reference.
   * @returns The page; the offset is {@linkcode ChunkArena.offset}.
   */
  page(ref: number): Uint8Array {
    return this.#pages[Math.floor(ref / (LENGTH_SCALE * PAGE_SCALE))]!;
  }

  /**
   * Where a chunk starts in its page.
   *
   * @param ref Its reference.
   * @returns The offset.
   */
  offset(ref: number): number {
    return Math.floor(ref / LENGTH_SCALE) % PAGE_SCALE;
  }

  /**
   * Whether a chunk lies in a page.
   *
   * @param ref Its reference.
   * @param page The page's number.
   * @returns Whether it does.
   */
  inPage(ref: number, page: number): boolean {
    return Math.floor(ref / (LENGTH_SCALE * PAGE_SCALE)) === page;
  }

  /**
   * Moves the chunks of one queued page, if any, and drops the page. Call
   * it when no chunk reference is held outside the series.
   */
  settle(): void {
    const number = this.#queue.shift();
    if (number === undefined) return;
    this.#queued[number] = false;
    this.#relocate(number);
    if (this.#pages[number] !== undefined && this.#live[number] === 0) {
      this.#drop(number);
    }
  }

  /** Bytes and samples by encoding; the raw ones come from the store. */
  figures(): ChunkFigures {
    const encodings: Record<string, EncodingFigures> = {};
    for (let e = 1; e < ENCODING_NAMES.length; e++) {
      encodings[ENCODING_NAMES[e]] = {
        bytes: this.#bytes[e],
        samples: this.#samples[e],
      };
    }
    return { encodings, pageBytes: this.#pageBytes };
  }

  /** Adds a chunk's figures, or takes them away (`sign` -1). */
  #count(page: Uint8Array, offset: number, length: number, sign: number) {
    const encoding = page[offset];
    this.#bytes[encoding] += sign * length;
    this.#samples[encoding] += sign * chunkLength(page, offset);
  }

  /** Starts a page with room for at least `length` bytes. */
  #newPage(length: number): Uint8Array {
    // The current page is full: queue it if it is mostly free already.
    const old = this.#current;
    if (old >= 0 && this.#pages[old] !== undefined) {
      if (this.#live[old] === 0) this.#drop(old);
      else if (this.#live[old] < this.#pages[old]!.length / 2) {
        this.#queued[old] = true;
        this.#queue.push(old);
      }
    }
    // Pages start small, for stores of a few samples, and double.
    const size = Math.max(
      length,
      Math.min(PAGE_BYTES, FIRST_PAGE_BYTES * 2 ** this.#pages.length),
    );
    let number = this.#pages.indexOf(undefined);
    if (number === -1) number = this.#pages.length;
    const page = new Uint8Array(size);
    this.#pages[number] = page;
    this.#live[number] = 0;
    this.#queued[number] = false;
    this.#pageBytes += size;
    this.#current = number;
    this.#fill = 0;
    return page;
  }

  #drop(number: number): void {
    this.#pageBytes -= this.#pages[number]!.length;
    this.#pages[number] = undefined;
    this.#live[number] = 0;
    if (this.#queued[number]) {
      this.#queued[number] = false;
      this.#queue.splice(this.#queue.indexOf(number), 1);
    }
  }
}
