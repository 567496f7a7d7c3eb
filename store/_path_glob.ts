/**
 * A glob over the segments of a key: one brace-free alternative of a
 * pattern, whose segments are literal names, segment globs, or `**`.
 *
 * `**` takes one segment, then any number more. So an alternative reads as
 * the segments before its first `**`, matched in place, then runs of
 * segments separated by any number of segments, each run starting with one
 * segment of any name for the `**` before it: `a.**.b.**.c` is `a`, then
 * `(any).b`, then `(any).c` at the end. As for stars within a segment, each
 * run but the last is found at its leftmost place after the one before, and
 * the last must end with the key; runs are searched with shift-and
 * (`_shift_and.ts`).
 *
 * Cost: each segment of a key is read once, in place or by one run, for
 * O(w + g) steps, w the run's words (one per 32 segments) and g its distinct
 * segment globs, each test costing what `_segment_glob.ts` says. The index of
 * `Store.match()` is walked the same way: each node once per alternative.
 *
 * @module
 */

import type { SegmentGlob } from "./_segment_glob.ts";
import { ANY, ShiftAnd, type Token } from "./_shift_and.ts";

/**
 * Past this many steps for one character or segment of a key, an alternative
 * is refused: a key of 64 KiB then costs a few million steps at most.
 */
export const MAX_STEPS = 64;

/** The segment `**`: one or more whole segments of a key. */
export const GLOBSTAR: unique symbol = Symbol("**");

/**
 * One segment of an expanded pattern: a literal name, a glob that matches one
 * segment, or {@linkcode GLOBSTAR}.
 */
export type Segment = string | SegmentGlob | typeof GLOBSTAR;

/** A segment that takes exactly one segment of a key. */
export type OneSegment = string | SegmentGlob;

/**
 * Whether `segment` matches `name`.
 *
 * @param segment A literal name or a segment glob.
 * @param name One segment of a key.
 * @returns Whether it matches.
 */
export function matchesOne(segment: OneSegment, name: string): boolean {
  return typeof segment === "string" ? segment === name : segment.test(name);
}

/** An alternative compiled for matching keys and walking the index. */
export class PathGlob {
  /** The segments before the first `**`, each matched in its place. */
  readonly prefix: readonly OneSegment[];
  /** The runs after it, the last one ending with the key; none without. */
  readonly runs: readonly ShiftAnd<string>[];
  /** The most words a state of one of the runs takes. */
  readonly words: number;
  /**
   * What matching costs at worst for each character or segment of a key, in
   * steps: the most of a segment in place, or of a run and all its distinct
   * segment globs, which each segment of a key in that run is tested with.
   */
  readonly steps: number;
  #state: Uint32Array;

  /**
   * Compiles an alternative.
   *
   * @param segments Its segments.
   * @param shared Runs compiled for other alternatives of the same pattern,
   * by their text: alternatives often share them.
   * @throws {SyntaxError} When matching would take more than
   * {@linkcode MAX_STEPS} steps a character or segment.
   */
  constructor(
    segments: readonly Segment[],
    shared: Map<string, ShiftAnd<string>> = new Map(),
  ) {
    const first = segments.indexOf(GLOBSTAR);
    const end = first === -1 ? segments.length : first;
    this.prefix = segments.slice(0, end) as OneSegment[];
    const runs: Token<string>[][] = [];
    for (const segment of segments.slice(end)) {
      if (segment === GLOBSTAR) runs.push([ANY]);
      else runs[runs.length - 1].push(segment);
    }
    this.runs = runs.map((tokens) => {
      const text = tokens.map((token) =>
        token === ANY ? "**" : typeof token === "string" ? token : token.source
      ).join(".");
      let run = shared.get(text);
      if (run === undefined) shared.set(text, run = new ShiftAnd(tokens));
      return run;
    });
    this.words = Math.max(1, ...this.runs.map((run) => run.words));
    this.steps = Math.max(
      ...this.prefix.map((segment) =>
        typeof segment === "string" ? 1 : segment.steps
      ),
      ...this.runs.map((run) => run.steps),
      1,
    );
    if (this.steps > MAX_STEPS) {
      throw new SyntaxError(
        `Cannot compile the pattern: it would cost too much: up to ${this.steps} steps a character or segment of a key, more than ${MAX_STEPS}`,
      );
    }
    this.#state = new Uint32Array(this.words);
  }

  /**
   * Whether a key matches.
   *
   * @param names The key's segments.
   * @returns Whether the alternative matches the whole key.
   */
  test(names: readonly string[]): boolean {
    const start = this.prefix.length;
    if (this.runs.length === 0 && names.length !== start) return false;
    if (names.length < start) return false;
    for (let i = 0; i < start; i++) {
      if (!matchesOne(this.prefix[i], names[i])) return false;
    }
    if (this.runs.length === 0) return true;
    const state = this.#state;
    state.fill(0);
    const last = this.runs.length - 1;
    let run = 0;
    for (let i = start; i < names.length; i++) {
      const ended = this.runs[run].step(state, 0, 0, names[i]);
      if (run === last) {
        if (i === names.length - 1) return ended;
      } else if (ended) {
        run++;
        state.fill(0);
      }
    }
    return false;
  }
}

const compiled = new WeakMap<readonly Segment[], PathGlob>();

/**
 * The compiled form of an alternative, compiled once.
 *
 * @param segments An alternative of a pattern.
 * @param shared What {@linkcode PathGlob}'s constructor may share.
 * @returns Its glob.
 * @throws {SyntaxError} As the constructor does.
 */
export function pathGlob(
  segments: readonly Segment[],
  shared?: Map<string, ShiftAnd<string>>,
): PathGlob {
  let glob = compiled.get(segments);
  if (glob === undefined) {
    compiled.set(segments, glob = new PathGlob(segments, shared));
  }
  return glob;
}
