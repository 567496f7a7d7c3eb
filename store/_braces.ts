/**
 * Brace alternatives of a pattern, `{a,b}`, counted before anything is
 * expanded.
 *
 * The pattern is parsed once, left to right, into text and groups of
 * choices; the parse keeps, for every sequence, how many alternatives it
 * stands for and how many characters those hold in all. A group's count is
 * the sum over its choices, groups one after another multiply, and nested
 * groups nest, so a pattern is refused as soon as its count passes
 * {@linkcode MAX_ALTERNATIVES}, whatever it repeats: `{a,a}` thirty times is
 * refused after reading it once. Only a pattern within both caps is expanded,
 * and then every intermediate list is bounded by them too: a part of a
 * pattern never stands for more alternatives or characters than the whole.
 *
 * @module
 */

/** Past this many alternatives (duplicates included) a pattern is refused. */
export const MAX_ALTERNATIVES = 1024;
/**
 * Past this many characters over all alternatives a pattern is refused: what
 * it costs to compile, hold and match grows with this sum, the alternatives
 * times their size. 64 Ki allows 1024 alternatives of 64 characters, or 16
 * of the longest pattern.
 */
export const MAX_COST = 65_536;

/** Text, or a group of choices, each a sequence of parts. */
type Part = string | Group;

interface Group {
  choices: Part[][];
}

/** A sequence being parsed, with what its expansion would hold. */
interface Sequence {
  parts: Part[];
  /** How many alternatives it expands to. */
  count: number;
  /** How many characters those alternatives hold in all. */
  size: number;
}

/** A `{` not yet closed: the sequence it sits in and its finished choices. */
interface OpenGroup {
  outer: Sequence;
  choices: Sequence[];
}

/**
 * Expands the `{a,b}` alternatives of `source` into brace-free globs, each
 * once, after checking what the expansion would cost.
 *
 * @param source A pattern.
 * @returns Its distinct expansions, in the order of the pattern.
 * @throws {SyntaxError} When a brace is unmatched, or the pattern stands for
 * more than {@linkcode MAX_ALTERNATIVES} alternatives or more than
 * {@linkcode MAX_COST} characters over them all.
 */
export function expandBraces(source: string): string[] {
  const whole = parseBraces(source);
  if (whole.size > MAX_COST) {
    throw new SyntaxError(
      `Cannot compile the pattern: it would cost too much: its ${whole.count} alternatives hold ${whole.size} characters in all, more than ${MAX_COST}`,
    );
  }
  return [...new Set(expand(whole.parts))];
}

/** Parses and counts, without expanding; iterative, so no depth limit. */
function parseBraces(source: string): Sequence {
  const open: OpenGroup[] = [];
  let current = sequence();
  let textStart = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    // Commas are literal outside braces.
    if (c !== "{" && c !== "}" && (c !== "," || open.length === 0)) continue;
    appendText(current, source.slice(textStart, i));
    textStart = i + 1;
    if (c === "{") {
      open.push({ outer: current, choices: [] });
      current = sequence();
    } else if (c === ",") {
      open.at(-1)!.choices.push(current);
      current = sequence();
    } else {
      const group = open.pop();
      if (group === undefined) {
        throw new SyntaxError("Cannot compile the pattern: a '}' without '{'");
      }
      group.choices.push(current);
      appendGroup(group.outer, group.choices);
      current = group.outer;
    }
  }
  if (open.length > 0) {
    throw new SyntaxError("Cannot compile the pattern: a '{' without '}'");
  }
  appendText(current, source.slice(textStart));
  return current;
}

function sequence(): Sequence {
  return { parts: [], count: 1, size: 0 };
}

function appendText(to: Sequence, text: string): void {
  if (text.length === 0) return;
  to.size += text.length * to.count;
  const last = to.parts.length - 1;
  if (last >= 0 && typeof to.parts[last] === "string") to.parts[last] += text;
  else to.parts.push(text);
}

/**
 * Appends a group to a sequence: the counts multiply, each alternative of
 * one side pairs with each of the other. A group of one choice is inlined,
 * so that a sequence holds only groups of two or more: at most
 * log2(MAX_ALTERNATIVES) of them, which bounds the expansion's steps.
 */
function appendGroup(to: Sequence, choices: Sequence[]): void {
  let count = 0;
  let size = 0;
  for (const choice of choices) {
    count += choice.count;
    size += choice.size;
  }
  // Every count is at least 1, so neither a sum nor a product ever shrinks:
  // once past the cap, the whole pattern is.
  checkCount(count);
  to.size = to.size * count + size * to.count;
  to.count *= count;
  checkCount(to.count);
  if (choices.length > 1) {
    to.parts.push({ choices: choices.map((choice) => choice.parts) });
    return;
  }
  for (const part of choices[0].parts) {
    if (typeof part === "string") {
      const last = to.parts.length - 1;
      if (last >= 0 && typeof to.parts[last] === "string") {
        to.parts[last] += part;
        continue;
      }
    }
    to.parts.push(part);
  }
}

function checkCount(count: number): void {
  if (count > MAX_ALTERNATIVES) {
    throw new SyntaxError(
      `Cannot compile the pattern: more than ${MAX_ALTERNATIVES} alternatives`,
    );
  }
}

/** The alternatives of a counted sequence, duplicates included. */
function expand(parts: readonly Part[]): string[] {
  let results = [""];
  for (const part of parts) {
    if (typeof part === "string") {
      results = results.map((prefix) => prefix + part);
    } else {
      const options = part.choices.flatMap(expand);
      results = results.flatMap((prefix) =>
        options.map((option) => prefix + option)
      );
    }
  }
  return results;
}
