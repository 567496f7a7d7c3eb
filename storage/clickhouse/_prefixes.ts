/**
 * What ClickHouse can filter keys by before Pulse matches them against a
 * pattern exactly: the literal segments each alternative starts with.
 * `palm.*.cpu` can only match keys that start with `palm.`, so only those
 * leave ClickHouse; `*.cpu` could match any key, so all do.
 *
 * @example Usage
 * ```ts
 * import { literalPrefixes } from "./_prefixes.ts";
 * import { Pattern } from "../../store/pattern.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(literalPrefixes(new Pattern("{palm,oak}.*.cpu")), ["palm.", "oak."]);
 * deepEqual(literalPrefixes(new Pattern("palm.cpu")), ["palm.cpu"]);
 * deepEqual(literalPrefixes(new Pattern("*.cpu")), []);
 * ```
 *
 * @module
 */

import type { Pattern } from "../../store/pattern.ts";

/**
 * The prefixes every key a pattern matches starts with one of: per
 * alternative, its leading literal segments, with the dot after them (or
 * the whole key, for an alternative without wildcards).
 *
 * @param pattern The pattern.
 * @returns The prefixes, or none when some alternative starts with a
 * wildcard: then any key may match.
 */
export function literalPrefixes(pattern: Pattern): string[] {
  const prefixes = new Set<string>();
  for (const segments of pattern.alternatives) {
    const literal: string[] = [];
    for (const segment of segments) {
      if (typeof segment !== "string") break;
      literal.push(segment);
    }
    if (literal.length === 0) return [];
    prefixes.add(
      literal.length === segments.length
        ? literal.join(".")
        : `${literal.join(".")}.`,
    );
  }
  return [...prefixes];
}
