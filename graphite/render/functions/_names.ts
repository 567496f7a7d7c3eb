/**
 * How graphite-web names series made by functions: nodes of a name, the
 * path expressions of a list, and the tags they carry.
 *
 * @module
 */

import { type ExpressionNode, parseTarget } from "../parser.ts";
import type { TimeSeries } from "../series.ts";

/**
 * The distinct path expressions of a list, joined by commas: `a.*,b.*`.
 *
 * @param series The list.
 * @returns The text.
 */
export function formatPathExpressions(series: readonly TimeSeries[]): string {
  return [...new Set(series.map((s) => s.pathExpression))].join(",");
}

/**
 * The node of a name, or a tag when `node` is a tag's name or no node is
 * there, as graphite-web's `getNodeOrTag`; negative nodes count from the
 * end, as Python's indexes do.
 *
 * @param series The series.
 * @param node A node index or a tag's name.
 * @param path The name to split, when not the series' own.
 * @returns The node, or `""`.
 */
export function nodeOrTag(
  series: TimeSeries,
  node: number | string,
  path = series.name,
): string {
  if (typeof node === "number") {
    const nodes = path.split(";", 1)[0].split(".");
    const index = node < 0 ? nodes.length + node : node;
    if (index >= 0 && index < nodes.length) return nodes[index];
  }
  return series.tags[String(node)] ?? "";
}

/**
 * The key of a series by some nodes, joined by dots, as graphite-web's
 * `aggKey`: when the name is a call, its nodes are those of the first path
 * expression in it.
 *
 * @param series The series.
 * @param nodes Node indexes or tag names.
 * @returns The key.
 */
export function aggKey(
  series: TimeSeries,
  nodes: readonly (number | string)[],
): string {
  const path = series.name.endsWith(")")
    ? firstPathExpression(series.name) ?? series.name
    : series.name;
  return nodes.map((node) => nodeOrTag(series, node, path)).join(".");
}

/** The first path expression of a name that reads as a target. */
function firstPathExpression(name: string): string | undefined {
  let node: ExpressionNode;
  try {
    node = parseTarget(name);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  while (node.type === "call") {
    const first = node.args[0];
    if (
      first === undefined || (first.type !== "call" && first.type !== "path")
    ) {
      return undefined;
    }
    node = first;
  }
  return node.path;
}

/**
 * The tags series share, for a series made of them: those equal in all,
 * then `name` when they disagree on it, as graphite-web's `aggregate`.
 *
 * @param series At least one series.
 * @param name The new series' name.
 * @returns The tags.
 */
export function commonTags(
  series: readonly TimeSeries[],
  name: string,
): Record<string, string> {
  const tags: Record<string, string> = {};
  const first = series[0].tags;
  for (const [tag, value] of Object.entries(first)) {
    if (series.every((s) => s.tags[tag] === value)) tags[tag] = value;
  }
  if (!("name" in tags)) tags.name = name;
  return tags;
}

/**
 * Python's `round(x, 6)`, which `perSecond` applies.
 *
 * @param value A number.
 * @returns It rounded to six decimals.
 */
export function round6(value: number): number {
  if (!Number.isFinite(value) || Math.abs(value) >= 1e15) return value;
  return Number(value.toFixed(6));
}
