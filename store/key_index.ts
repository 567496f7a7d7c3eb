/**
 * The key index: series by the dot-separated segments of their keys, a
 * tree, so that a pattern visits only the branches its segments can match.
 *
 * @module
 */

import { matchesOne, type PathGlob, pathGlob } from "./_path_glob.ts";
import type { Pattern } from "./pattern.ts";
import type { Series } from "./series.ts";

interface IndexNode {
  children: Map<string, IndexNode>;
  series: Series | undefined;
}

/** Series by the segments of their keys. */
export class KeyIndex {
  #root: IndexNode = { children: new Map(), series: undefined };

  /**
   * Adds a series under its key.
   *
   * @param series A series not in the index yet.
   */
  add(series: Series): void {
    let node = this.#root;
    for (const segment of series.key.split(".")) {
      let child = node.children.get(segment);
      if (child === undefined) {
        child = { children: new Map(), series: undefined };
        node.children.set(segment, child);
      }
      node = child;
    }
    node.series = series;
  }

  /**
   * Removes the series named `key`, and the branches left empty.
   *
   * @param key The key of a series in the index.
   */
  remove(key: string): void {
    const path: IndexNode[] = [this.#root];
    const segments = key.split(".");
    for (const segment of segments) {
      path.push(path.at(-1)!.children.get(segment)!);
    }
    path.at(-1)!.series = undefined;
    for (let i = segments.length; i > 0; i--) {
      const node = path[i];
      if (node.series !== undefined || node.children.size > 0) break;
      path[i - 1].children.delete(segments[i - 1]);
    }
  }

  /**
   * The series whose names match `pattern`, in no particular order. The
   * segments before any `**` follow the index level by level, a literal one
   * along its branch alone; below them, `**` visits every node once per
   * alternative.
   *
   * @param pattern A compiled pattern.
   * @returns The matching series.
   */
  match(pattern: Pattern): Set<Series> {
    const found = new Set<Series>();
    for (const segments of pattern.alternatives) {
      const glob = pathGlob(segments);
      let level = [this.#root];
      for (const segment of glob.prefix) {
        const next: IndexNode[] = [];
        for (const node of level) {
          if (typeof segment === "string") {
            const child = node.children.get(segment);
            if (child !== undefined) next.push(child);
            continue;
          }
          for (const [name, child] of node.children) {
            if (matchesOne(segment, name)) next.push(child);
          }
        }
        level = next;
      }
      for (const node of level) {
        if (glob.runs.length > 0) this.#below(node, glob, found);
        else if (node.series !== undefined) found.add(node.series);
      }
    }
    return found;
  }

  /**
   * Adds the series below `start` that the runs of `glob` match, `start`
   * having matched its prefix: a walk of every node below, each once,
   * carrying along the path which run it is in and that run's state.
   */
  #below(start: IndexNode, glob: PathGlob, found: Set<Series>): void {
    const { runs, words } = glob;
    const last = runs.length - 1;
    // The state after the node at depth d sits at d * words; depth 0 is
    // `start`, before any run has read anything.
    let states = new Uint32Array(words * 16);
    // A stack, not recursion: keys may be thousands of segments deep.
    const children = [start.children.entries()];
    const inRun = [0];
    while (children.length > 0) {
      const depth = children.length - 1;
      const next = children[depth].next();
      if (next.done) {
        children.pop();
        inRun.pop();
        continue;
      }
      const [name, child] = next.value;
      const to = (depth + 1) * words;
      if (to + words > states.length) {
        const grown = new Uint32Array(states.length * 2);
        grown.set(states);
        states = grown;
      }
      let run = inRun[depth];
      const ended = runs[run].step(states, depth * words, to, name);
      if (run === last) {
        if (ended && child.series !== undefined) found.add(child.series);
      } else if (ended) {
        // The next run starts after this segment.
        run++;
        states.fill(0, to, to + words);
      }
      if (child.children.size > 0) {
        children.push(child.children.entries());
        inRun.push(run);
      }
    }
  }
}
