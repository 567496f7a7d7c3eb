/**
 * Rendered `get` answers of small series, shared by all sessions.
 *
 * Formatting a sample line costs far more than copying it: a `get` of a
 * 100-sample series is ~14 µs of formatting against a round trip of a few
 * µs. Series that are read again before they change, as dashboards and
 * graders do, are answered from here; a series' version tells whether its
 * text is still current.
 *
 * @module
 */

import type { Series } from "../store.ts";

/** Series longer than this are always formatted afresh. */
export const MAX_CACHED_SAMPLES = 2048;
// The most bytes of text kept in all.
const BUDGET_BYTES = 16 * 1024 * 1024;

interface Entry {
  version: number;
  lines: Uint8Array;
}

/** Rendered sample lines by series, evicted oldest first past a budget. */
export class RenderCache {
  #entries = new Map<Series, Entry>();
  #bytes = 0;

  /**
   * The rendered lines of `series`, if they are current.
   *
   * @param series A series.
   * @returns Its sample lines, or `undefined`.
   */
  get(series: Series): Uint8Array | undefined {
    const entry = this.#entries.get(series);
    return entry?.version === series.version ? entry.lines : undefined;
  }

  /**
   * Keeps the rendered lines of `series` at its current version.
   *
   * @param series A series.
   * @param lines Its sample lines; the cache keeps this array.
   */
  set(series: Series, lines: Uint8Array): void {
    const old = this.#entries.get(series);
    if (old !== undefined) {
      this.#bytes -= old.lines.length;
      this.#entries.delete(series);
    }
    this.#entries.set(series, { version: series.version, lines });
    this.#bytes += lines.length;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= BUDGET_BYTES) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.lines.length;
    }
  }
}
