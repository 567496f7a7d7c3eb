/**
 * Graphite-style glob patterns over dot-separated series names.
 *
 * - `*` matches any run of characters within one segment, `?` one character;
 *   neither crosses a dot: `palm.*` matches `palm.cpu`, not `palm.disk.root`.
 *   A run of stars is one star.
 * - `**` as a whole segment matches one or more whole segments: `**` alone
 *   matches every key, `palm.**` every key below `palm`, and `a.**.cpu`
 *   matches `a.x.cpu` and `a.x.y.cpu`. Within a segment, as in `c**`, it is
 *   one star.
 * - `{cpu,memory}` matches either alternative; alternatives may hold dots
 *   and wildcards, and may nest.
 * - `[a-z]`, `[0-9_]`, `[!x]` or `[^x]` match one character of a class,
 *   never a dot.
 *
 * Hostile patterns cost little. Nothing uses a regular expression, nothing
 * backtracks, and a pattern is refused, with a `SyntaxError` that says which
 * measure it exceeds, when:
 *
 * - it stands for more than 1024 alternatives, counted before anything is
 *   expanded (`{a,a}` eleven times is refused after one reading);
 * - its alternatives hold more than 65,536 characters in all (the number of
 *   alternatives times their size), a run of stars counting as two;
 * - matching one alternative would take more than 64 steps for a character
 *   or segment of a key (see below).
 *
 * What matching costs, at worst, for one alternative (`_segment_glob.ts`,
 * `_path_glob.ts` and `_shift_and.ts` say how):
 *
 * - a segment of n characters against a segment of the pattern: O(n) for a
 *   literal; for a glob, each character is read once, for O(w + k) steps, w
 *   a machine word per 32 characters of a run between stars and k the
 *   distinct classes in that run;
 * - a key against an alternative: each segment of the key is read once,
 *   either against the pattern's segment in its place (before any `**`) or,
 *   after a `**`, against the run of segments up to the next one, which costs
 *   a word per 32 segments of the run and one test per distinct glob in it.
 *
 * So a key of L characters costs O(L × s) per alternative, s at most 64: linear
 * in the key, whatever the pattern. `Store.match()` walks its index the same
 * way, each node at most once per alternative, following literal segments
 * before the first `**` along their branch alone.
 *
 * @example Usage
 * ```ts
 * import { Pattern } from "@pulse/metrics";
 * import { equal } from "node:assert/strict";
 *
 * const pattern = new Pattern("palm.{cpu,memory}");
 * equal(pattern.test("palm.cpu"), true);
 * equal(pattern.test("palm.disk.root"), false);
 * equal(new Pattern("palm.**").test("palm.disk.root"), true);
 * ```
 *
 * @module
 */

import { expandBraces } from "./_braces.ts";
import {
  GLOBSTAR,
  type PathGlob,
  pathGlob,
  type Segment,
} from "./_path_glob.ts";
import { SegmentGlob } from "./_segment_glob.ts";

export { GLOBSTAR, type Segment, SegmentGlob };

// 4 KiB holds any realistic pattern; the caps on alternatives, size and
// steps, not the length, are what bound the work of one.
const MAX_PATTERN_LENGTH = 4096;

/**
 * A compiled pattern. A key without any wildcard is a pattern that matches
 * only itself.
 */
export class Pattern {
  /** The pattern's text. */
  readonly source: string;
  /** The distinct brace-free expansions of the pattern, each as segments. */
  readonly alternatives: readonly (readonly Segment[])[];
  #globs: PathGlob[];

  /**
   * Compiles `source`.
   *
   * @param source The pattern, such as `palm.*` or `*.{cpu,memory}`.
   * @throws {SyntaxError} When the pattern is malformed: an unclosed `{` or
   * `[`, a stray `}` or `]`, an empty class or one with a range out of order;
   * or when it would cost too much: more than 1024 alternatives, more than
   * 65,536 characters over them all, or more than 64 steps for a character
   * or segment of a key.
   */
  constructor(source: string) {
    if (source.length === 0 || source.length > MAX_PATTERN_LENGTH) {
      throw new SyntaxError(
        `Cannot compile the pattern: it must hold 1 to ${MAX_PATTERN_LENGTH} characters`,
      );
    }
    this.source = source;
    // Three stars or more mean what two do, wherever they are (in a class
    // too): shortening them first keeps them out of the cost.
    const globs = expandBraces(source.replace(/\*{3,}/g, "**"));
    // Alternatives often share segments, as `{a,b}.*.cpu` does.
    const segments = new Map<string, Segment>();
    const compile = (text: string) => {
      let segment = segments.get(text);
      if (segment === undefined) {
        segments.set(text, segment = compileSegment(text));
      }
      return segment;
    };
    this.alternatives = globs.map((glob) => splitSegments(glob).map(compile));
    const runs = new Map();
    this.#globs = this.alternatives.map((segments) => pathGlob(segments, runs));
  }

  /**
   * Whether every alternative starts with a literal segment, so that a look
   * up in an index of keys by segment starts along known branches.
   */
  get rooted(): boolean {
    return this.alternatives.every((segments) =>
      typeof segments[0] === "string"
    );
  }

  /** Whether the pattern has no wildcard at all: it names one key. */
  get literal(): boolean {
    return this.alternatives.length === 1 &&
      this.alternatives[0].every((segment) => typeof segment === "string");
  }

  /**
   * Whether `key` matches the pattern.
   *
   * @param key A series' name.
   * @returns Whether it matches.
   */
  test(key: string): boolean {
    const names = key.split(".");
    return this.#globs.some((glob) => glob.test(names));
  }
}

/**
 * Whether `text` holds any of the characters that make it a pattern.
 *
 * @param text A key or a pattern.
 * @returns Whether it has a wildcard, a class or alternatives.
 */
export function isPattern(text: string): boolean {
  return /[*?[\]{}]/.test(text);
}

/** Splits a glob at its dots, but not at a dot inside a `[...]` class. */
function splitSegments(glob: string): string[] {
  const segments: string[] = [];
  let start = 0;
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] === "[") {
      // The class's first character may be `]` or `.`: search past it.
      const close = glob.indexOf("]", i + 2);
      if (close !== -1) i = close;
    } else if (glob[i] === ".") {
      segments.push(glob.slice(start, i));
      start = i + 1;
    }
  }
  segments.push(glob.slice(start));
  return segments;
}

function compileSegment(segment: string): Segment {
  // Expansion may join stars again, as `{*,**}*` does.
  if (/^\*{2,}$/.test(segment)) return GLOBSTAR;
  if (!/[*?[\]]/.test(segment)) return segment;
  return new SegmentGlob(segment);
}
