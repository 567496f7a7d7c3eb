/**
 * The local backend's reads: straight from the store, at once.
 *
 * @module
 */

import { EventLoopTurns, nextTurn } from "../internal/turns.ts";
import type { Store } from "../store.ts";
import type { Pattern } from "../store/pattern.ts";
import { Query, type QueryOptions } from "../store/query.ts";
import type { Series } from "../store/series.ts";
import type { Querier, RowCursor } from "./storage.ts";

// Keys tested at once before a scan checks whether others are due a turn.
const SCAN_AT_ONCE = 4096;
// How long a scan may hold the event loop before it gives way.
const SLICE_MS = 5;

/**
 * The series of `store` that `pattern` matches, in first-put order: from
 * the key index when every alternative starts with a literal segment, else
 * by testing every key, a slice at a time on a large store.
 *
 * @param store The store.
 * @param pattern A compiled pattern.
 * @returns The series, or a promise of them for a long scan.
 */
export function matchSeries(
  store: Store,
  pattern: Pattern,
): Series[] | Promise<Series[]> {
  if (pattern.rooted || store.stats.series <= SCAN_AT_ONCE) {
    return store.match(pattern);
  }
  return scan(store.series(), pattern);
}

/** The series whose keys match `pattern`, testing keys a slice at a time. */
async function scan(
  series: Iterator<Series>,
  pattern: Pattern,
): Promise<Series[]> {
  const found: Series[] = [];
  const turns = new EventLoopTurns();
  try {
    while (true) {
      for (let i = 0; i < SCAN_AT_ONCE; i++) {
        const next = series.next();
        if (next.done) return found;
        if (pattern.test(next.value.key)) found.push(next.value);
      }
      if (turns.overdue(SLICE_MS)) await nextTurn();
    }
  } finally {
    turns.close();
  }
}

/** Reads a store. */
export class LocalQuerier implements Querier {
  #store: Store;

  /**
   * Creates the querier of `store`.
   *
   * @param store The store.
   */
  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * The series named `key`.
   *
   * @returns The series, or `undefined`.
   */
  get(key: string): Series | undefined {
    return this.#store.get(key);
  }

  /**
   * The series a pattern matches in first-put order, or a live view of
   * every series. A pattern whose every alternative starts with a literal
   * segment is looked up in the key index, at once; another is tested
   * against every key in first-put order, which needs no sorting, and on a
   * large store a slice at a time with turns for other clients between.
   *
   * @returns The series, or a promise of them for a long scan.
   */
  series(pattern?: Pattern): Iterable<Series> | Promise<Series[]> {
    return pattern === undefined
      ? this.#store.series()
      : matchSeries(this.#store, pattern);
  }

  /**
   * Reads the samples of `series`.
   *
   * @returns A cursor that reads at once.
   */
  read(series: Iterable<Series>, options?: QueryOptions): RowCursor {
    return new Query(series, options);
  }
}
