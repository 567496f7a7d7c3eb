/**
 * A stable sort that gives other clients turns: a pattern may match a
 * million series, and sorting them by name at once would hold the event
 * loop for most of a second. Runs of a few thousand are sorted, then merged
 * pairwise, with a pause between pieces of work.
 *
 * @module
 */

// Items sorted, or merged, between checks for other clients' turns.
const RUN = 4096;

/**
 * Sorts `items` stably by `compare`, pausing between runs.
 *
 * @param items The items; left as they are.
 * @param compare Negative when `a` sorts first, as `Array.prototype.sort`.
 * @param pause Gives other clients a turn when they are due one.
 * @returns A new, sorted array.
 */
export async function sortPaced<T>(
  items: readonly T[],
  compare: (a: T, b: T) => number,
  pause: () => Promise<void> | undefined,
): Promise<T[]> {
  let from = items.slice();
  const n = from.length;
  if (n <= RUN) return from.sort(compare);
  for (let i = 0; i < n; i += RUN) {
    const run = from.slice(i, i + RUN).sort(compare);
    for (let j = 0; j < run.length; j++) from[i + j] = run[j];
    await pause();
  }
  let to = new Array<T>(n);
  let work = 0;
  for (let width = RUN; width < n; width *= 2) {
    for (let low = 0; low < n; low += 2 * width) {
      const middle = Math.min(low + width, n);
      const high = Math.min(low + 2 * width, n);
      let a = low;
      let b = middle;
      for (let k = low; k < high; k++) {
        // Ties take from the left run: the sort stays stable.
        to[k] = b >= high || (a < middle && compare(from[a], from[b]) <= 0)
          ? from[a++]
          : from[b++];
        if (++work % RUN === 0) await pause();
      }
    }
    [from, to] = [to, from];
  }
  return from;
}

/**
 * Compares strings as graphite-web's Python compares names.
 *
 * @param a A name.
 * @param b Another.
 * @returns Negative, zero or positive.
 */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
