/**
 * A seeded pseudo-random generator, so that benchmark runs compare and a
 * failing property test fails the same way every run.
 *
 * @module
 */

/**
 * A mulberry32 generator.
 *
 * @param seed The seed.
 * @returns A function giving numbers in [0, 1), the same sequence each time.
 */
export function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
