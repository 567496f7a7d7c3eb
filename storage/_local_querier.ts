/**
 * The local backend's reads: straight from the store, at once.
 *
 * @module
 */

import type { Store } from "../store.ts";
import type { Pattern } from "../store/pattern.ts";
import { Query, type QueryOptions } from "../store/query.ts";
import type { Series } from "../store/series.ts";
import type { Querier, RowCursor } from "./storage.ts";

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
   * every series.
   *
   * @returns The series.
   */
  series(pattern?: Pattern): Iterable<Series> {
    return pattern === undefined
      ? this.#store.series()
      : this.#store.match(pattern);
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
