/**
 * Graphite-style glob patterns over dot-separated series names.
 *
 * - `*` matches any run of characters within one segment, `?` one character;
 *   neither crosses a dot: `palm.*` matches `palm.cpu`, not `palm.disk.root`.
 * - `{cpu,memory}` matches either alternative; alternatives may hold dots
 *   and wildcards, and may nest.
 * - `[a-z]`, `[0-9_]`, `[!x]` or `[^x]` match one character of a class,
 *   never a dot.
 *
 * @example Usage
 * ```ts
 * import { Pattern } from "@pulse/metrics";
 * import { equal } from "node:assert/strict";
 *
 * const pattern = new Pattern("palm.{cpu,memory}");
 * equal(pattern.test("palm.cpu"), true);
 * equal(pattern.test("palm.disk.root"), false);
 * ```
 *
 * @module
 */

// Brace alternatives multiply: past this many expansions a pattern is refused.
const MAX_EXPANSIONS = 1024;
const MAX_PATTERN_LENGTH = 4096;

/** One segment of an expanded pattern: a literal name or a matcher. */
export type Segment = string | RegExp;

/**
 * A compiled pattern. A key without any wildcard is a pattern that matches
 * only itself.
 */
export class Pattern {
  /** The pattern's text. */
  readonly source: string;
  /** The brace-free expansions of the pattern, each as its segments. */
  readonly alternatives: readonly (readonly Segment[])[];
  #whole: RegExp;

  /**
   * Compiles `source`.
   *
   * @param source The pattern, such as `palm.*` or `*.{cpu,memory}`.
   * @throws {SyntaxError} When the pattern is malformed: an unclosed `{` or
   * `[`, a stray `}` or `]`, an empty class, or too many alternatives.
   */
  constructor(source: string) {
    if (source.length === 0 || source.length > MAX_PATTERN_LENGTH) {
      throw new SyntaxError(
        `Cannot compile the pattern: it must hold 1 to ${MAX_PATTERN_LENGTH} characters`,
      );
    }
    this.source = source;
    const expansions = expandBraces(source);
    this.alternatives = expansions.map((text) =>
      splitSegments(text).map(compileSegment)
    );
    this.#whole = compile(
      `^(?:${expansions.map((text) => globToRegExp(text)).join("|")})$`,
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
    return this.#whole.test(key);
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

/** Expands `{a,b}` alternatives, innermost first, into plain globs. */
function expandBraces(source: string): string[] {
  const open = source.indexOf("{");
  if (open === -1) {
    if (source.includes("}")) {
      throw new SyntaxError("Cannot compile the pattern: a '}' without '{'");
    }
    return [source];
  }
  // Find the matching brace and the top-level commas within it.
  let depth = 0;
  const commas: number[] = [];
  let close = -1;
  for (let i = open; i < source.length; i++) {
    const c = source[i];
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) {
      close = i;
      break;
    } else if (c === "," && depth === 1) commas.push(i);
  }
  if (close === -1) {
    throw new SyntaxError("Cannot compile the pattern: a '{' without '}'");
  }
  const prefix = source.slice(0, open);
  if (prefix.includes("}")) {
    throw new SyntaxError("Cannot compile the pattern: a '}' without '{'");
  }
  const bounds = [open, ...commas, close];
  const results: string[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const choice = source.slice(bounds[i] + 1, bounds[i + 1]);
    for (const rest of expandBraces(choice + source.slice(close + 1))) {
      results.push(prefix + rest);
      if (results.length > MAX_EXPANSIONS) {
        throw new SyntaxError(
          `Cannot compile the pattern: more than ${MAX_EXPANSIONS} alternatives`,
        );
      }
    }
  }
  return [...new Set(results)];
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
  if (!/[*?[\]]/.test(segment)) return segment;
  return compile(`^${globToRegExp(segment)}$`);
}

function compile(source: string): RegExp {
  try {
    return new RegExp(source, "u");
  } catch {
    // The one way a translated glob fails: a class range out of order.
    throw new SyntaxError("Cannot compile the pattern: a bad range in '[]'");
  }
}

/** Translates a brace-free glob into a regular expression's source. */
function globToRegExp(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") out += "[^.]*";
    else if (c === "?") out += "[^.]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close === -1) {
        throw new SyntaxError("Cannot compile the pattern: a '[' without ']'");
      }
      let body = glob.slice(i + 1, close);
      let negated = false;
      if (body[0] === "!" || body[0] === "^") {
        negated = true;
        body = body.slice(1);
      }
      if (body.length === 0) {
        throw new SyntaxError("Cannot compile the pattern: an empty '[]'");
      }
      // Escape what a class could read as syntax, keep ranges' hyphens.
      const escaped = body.replace(/[\\\]\[^]/g, "\\$&");
      out += negated ? `[^.${escaped}]` : `(?!\\.)[${escaped}]`;
      i = close;
    } else if (c === "]") {
      throw new SyntaxError("Cannot compile the pattern: a ']' without '['");
    } else {
      out += c.replace(/[.+^${}()|\\/]/g, "\\$&");
    }
  }
  return out;
}
