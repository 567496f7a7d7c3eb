/**
 * Metric browsing: `/metrics/find` and `/metrics/expand`, as graphite-web
 * answers them.
 *
 * A query is a path expression of some number of segments, say k. Its
 * nodes are the k-segment prefixes of the keys whose first k segments match
 * it: a node is a leaf when a key ends there, and expandable when keys
 * continue below it (both at once when a key is also a prefix of others).
 * They are found through the storage seam: the keys matching the query are
 * the leaves, and those matching `<query>.**` reach the branches.
 *
 * `/metrics/find?query=a.*` answers graphite-web's tree JSON, one node per
 * name, branches first: `[{"text": "cpu", "id": "a.cpu", "allowChildren":
 * 0, "expandable": 0, "leaf": 1}]`; `format=completer` answers
 * `{"metrics": [{"path": ..., "name": ..., "is_leaf": "1"}]}`.
 * `/metrics/expand?query=a.*` answers `{"results": [paths]}`, or with
 * `groupByExpr=1` the paths by query; `leavesOnly=1` keeps leaves only.
 *
 * @module
 */

import type { Querier } from "../../storage/storage.ts";
import { Pattern } from "../../store/pattern.ts";
import { jsonResponse, readParams, textResponse } from "./_http.ts";
import { Pacer } from "./_pacer.ts";
import { pyJsonString } from "./_python.ts";
import { compareNames, sortPaced } from "./_sort.ts";
import { checkTimeZone, parseAtTime } from "./time.ts";

/** A node of the tree of names. */
interface Node {
  /** Its last segment. */
  name: string;
  /** Its full path. */
  path: string;
  /** Whether a key ends at it. */
  leaf: boolean;
  /** Whether keys continue below it. */
  branch: boolean;
}

// Keys looked at between checks for other clients' turns.
const KEYS_PER_CHECK = 4096;

/**
 * The nodes a query matches, sorted by path.
 *
 * @param querier Where keys are found.
 * @param query A path expression.
 * @param pacer Gives other clients turns.
 * @returns The nodes.
 * @throws {SyntaxError} When the query is no valid pattern.
 */
export async function findNodes(
  querier: Querier,
  query: string,
  pacer: Pacer,
): Promise<Node[]> {
  // graphite-web globs one segment at a time: `**` is `*` there.
  const glob = query.replace(/\*+/g, "*");
  const depth = segmentCount(glob);
  const nodes = new Map<string, Node>();
  const add = (key: string, leaf: boolean) => {
    const path = leaf ? key : prefix(key, depth);
    let node = nodes.get(path);
    if (node === undefined) {
      node = {
        name: path.slice(path.lastIndexOf(".") + 1),
        path,
        leaf: false,
        branch: false,
      };
      nodes.set(path, node);
    }
    if (leaf) node.leaf = true;
    else node.branch = true;
  };
  for (const [source, leaf] of [[glob, true], [`${glob}.**`, false]] as const) {
    let i = 0;
    for (const info of await querier.series(compile(source, query))) {
      add(info.key, leaf);
      if (++i % KEYS_PER_CHECK === 0) await pacer.pause();
    }
  }
  return await sortPaced(
    [...nodes.values()],
    (a, b) => compareNames(a.path, b.path),
    () => pacer.pause(),
  );
}

function compile(source: string, query: string): Pattern {
  try {
    return new Pattern(source);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new SyntaxError(`Cannot find "${query}": ${error.message}`);
  }
}

/** How many segments a glob has: dots outside `[...]` and `{...}`. */
function segmentCount(glob: string): number {
  let count = 1;
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i];
    if (char === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close !== -1) i = close;
    } else if (char === "{") depth++;
    else if (char === "}") depth = Math.max(0, depth - 1);
    else if (char === ".") {
      if (depth > 0) {
        throw new SyntaxError(
          `Cannot find "${glob}": a {...} of a query must not hold a dot`,
        );
      }
      count++;
    }
  }
  return count;
}

/** The first `segments` segments of a key. */
function prefix(key: string, segments: number): string {
  let at = -1;
  for (let i = 0; i < segments; i++) at = key.indexOf(".", at + 1);
  return key.slice(0, at);
}

/** Python's `unquote_plus`: `+` as a space, `%XX` runs as UTF-8. */
function unquotePlus(text: string): string {
  return text.replace(/\+/g, " ").replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** What the endpoints need besides the storage. */
export interface FindSettings {
  /** The largest form body taken, in bytes. */
  readonly maxBodyBytes: number;
  /** The current time in Unix seconds; the clock by default. */
  readonly now?: () => number;
}

/** The flags graphite-web reads as `int()`, checked. */
function flag(params: URLSearchParams, name: string): boolean {
  const text = params.get(name);
  if (text === null) return false;
  if (!/^\s*[+-]?\d+\s*$/.test(text)) {
    throw new RangeError(`Cannot use ${name} "${text}": use 0 or 1`);
  }
  return Number(text) !== 0;
}

/** Checks `from`, `until` and `tz`, which browsing takes but needs not. */
function checkTimes(params: URLSearchParams, now: number): void {
  const timeZone = checkTimeZone(params.get("tz") || "UTC");
  for (const name of ["from", "until", "now"]) {
    const text = params.get(name);
    if (text !== null && text !== "" && text !== "-1") {
      parseAtTime(text, now, timeZone);
    }
  }
}

/**
 * Makes the `/metrics/find` handler.
 *
 * @param querier Where keys are found.
 * @param settings Its limits.
 * @returns The handler.
 */
export function findHandler(
  querier: Querier,
  settings: FindSettings,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const params = await readParams(request, settings.maxBodyBytes);
    if (params instanceof Response) return params;
    using pacer = new Pacer();
    try {
      const query = params.get("query");
      if (query === null) {
        return textResponse(
          400,
          "Cannot find metrics: the query parameter is missing",
        );
      }
      if (query === "") {
        return textResponse(
          400,
          "Cannot find metrics: the query parameter is empty",
        );
      }
      const format = params.get("format") ?? "treejson";
      if (format !== "treejson" && format !== "completer") {
        return textResponse(
          400,
          `Cannot answer in format "${format}": use treejson or completer`,
        );
      }
      const wildcards = flag(params, "wildcards");
      checkTimes(params, settings.now?.() ?? Math.floor(Date.now() / 1000));
      const ascii = (request.headers.get("accept") ?? "application/json") ===
        "application/json";
      const nodes = await findNodes(querier, query, pacer);
      const text = format === "treejson"
        ? await treeJson(nodes, query, wildcards, ascii, pacer)
        : completerJson(nodes, wildcards, ascii);
      return jsonResponse(
        text,
        ascii ? "application/json" : "application/json;charset=utf-8",
      );
    } catch (error) {
      if (error instanceof SyntaxError || error instanceof RangeError) {
        return textResponse(400, error.message);
      }
      throw error;
    }
  };
}

async function treeJson(
  nodes: Node[],
  query: string,
  wildcards: boolean,
  ascii: boolean,
  pacer: Pacer,
): Promise<string> {
  const base = query.includes(".")
    ? query.slice(0, query.lastIndexOf(".") + 1)
    : "";
  const entry = (text: string, id: string, branch: boolean, leaf: boolean) =>
    `{"text": ${pyJsonString(text, ascii)}, "id": ${
      pyJsonString(id, ascii)
    }, ` +
    `"allowChildren": ${branch ? 1 : 0}, "expandable": ${branch ? 1 : 0}, ` +
    `"leaf": ${leaf ? 1 : 0}}`;
  const out: string[] = [];
  if (wildcards && nodes.length > 1) {
    const branch = nodes.some((node) => node.branch);
    out.push(entry("*", `${base}*`, branch, !branch));
  }
  // One node per name, as graphite-web dedupes them; branches first.
  const byName = new Map<string, Node>();
  for (const node of nodes) {
    const seen = byName.get(node.name);
    if (seen === undefined) byName.set(node.name, { ...node });
    else {
      seen.leaf ||= node.leaf;
      seen.branch ||= node.branch;
    }
  }
  const named = await sortPaced(
    [...byName.values()],
    (a, b) => compareNames(a.name, b.name),
    () => pacer.pause(),
  );
  for (const branches of [true, false]) {
    for (const node of named) {
      if (node.branch !== branches) continue;
      out.push(
        entry(unquotePlus(node.name), base + node.name, node.branch, node.leaf),
      );
    }
  }
  return `[${out.join(", ")}]`;
}

function completerJson(
  nodes: Node[],
  wildcards: boolean,
  ascii: boolean,
): string {
  const out = nodes.map((node) =>
    `{"path": ${
      pyJsonString(
        node.branch && !node.leaf ? `${node.path}.` : node.path,
        ascii,
      )
    }, ` +
    `"name": ${pyJsonString(node.name, ascii)}, "is_leaf": "${
      node.leaf ? 1 : 0
    }"}`
  );
  if (wildcards && out.length > 1) out.push(`{"name": "*"}`);
  return `{"metrics": [${out.join(", ")}]}`;
}

/**
 * Makes the `/metrics/expand` handler.
 *
 * @param querier Where keys are found.
 * @param settings Its limits.
 * @returns The handler.
 */
export function expandHandler(
  querier: Querier,
  settings: FindSettings,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const params = await readParams(request, settings.maxBodyBytes);
    if (params instanceof Response) return params;
    using pacer = new Pacer();
    try {
      const queries = params.getAll("query");
      if (queries.length === 0) {
        return textResponse(
          400,
          "Cannot expand: the query parameter is missing",
        );
      }
      const grouped = flag(params, "groupByExpr");
      const leavesOnly = flag(params, "leavesOnly");
      const byQuery = new Map<string, string[]>();
      for (const query of queries) {
        const nodes = await findNodes(querier, query, pacer);
        byQuery.set(
          query,
          nodes.filter((node) => node.leaf || !leavesOnly).map((node) =>
            node.path
          ),
        );
      }
      const list = (paths: Iterable<string>) =>
        `[${[...paths].map((path) => pyJsonString(path)).join(", ")}]`;
      if (grouped) {
        const entries = [...byQuery].map(([query, paths]) =>
          `${pyJsonString(query)}: ${list(paths)}`
        );
        return jsonResponse(`{"results": {${entries.join(", ")}}}`);
      }
      const all = await sortPaced(
        [...new Set([...byQuery.values()].flat())],
        compareNames,
        () => pacer.pause(),
      );
      return jsonResponse(`{"results": ${list(all)}}`);
    } catch (error) {
      if (error instanceof SyntaxError || error instanceof RangeError) {
        return textResponse(400, error.message);
      }
      throw error;
    }
  };
}
