/**
 * A latency histogram with logarithmic buckets.
 *
 * Keeping every latency of a multi-million request run would cost more memory
 * and time than the requests themselves, so latencies are counted into
 * buckets whose width grows with the value: each bucket spans about 1 % of
 * its value, which is finer than the run-to-run noise of a benchmark.
 *
 * @module
 */

/** Buckets per factor e of latency: about 1 % relative width each. */
const BUCKETS_PER_E = 100;
/** Latencies are bucketed in microseconds; 100 s is far past any timeout. */
const MAX_MICROSECONDS = 100_000_000;
const BUCKET_COUNT = Math.ceil(Math.log1p(MAX_MICROSECONDS) * BUCKETS_PER_E) +
  1;

/** Counts latencies and answers quantiles of them. */
export class Histogram {
  #counts = new Float64Array(BUCKET_COUNT);
  #total = 0;

  /** How many latencies were recorded. */
  get count(): number {
    return this.#total;
  }

  /**
   * Records one latency.
   *
   * @param milliseconds The latency, as measured with `performance.now()`.
   */
  record(milliseconds: number): void {
    const micros = Math.min(Math.max(milliseconds * 1000, 0), MAX_MICROSECONDS);
    this.#counts[Math.floor(Math.log1p(micros) * BUCKETS_PER_E)]++;
    this.#total++;
  }

  /**
   * Returns the latency in milliseconds below which the fraction `q` of the
   * recorded latencies fall, or `NaN` if nothing was recorded.
   *
   * @param q The quantile, between 0 and 1: 0.5 for the median.
   */
  quantile(q: number): number {
    if (this.#total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket++) {
      seen += this.#counts[bucket];
      if (seen >= rank) {
        // The middle of the bucket, in the same log scale as the buckets.
        return Math.expm1((bucket + 0.5) / BUCKETS_PER_E) / 1000;
      }
    }
    return MAX_MICROSECONDS / 1000;
  }

  /** Forgets every recorded latency, as at the end of a warm-up. */
  reset(): void {
    this.#counts.fill(0);
    this.#total = 0;
  }
}
