/**
 * Functions that rename series: `alias`, `aliasByNode`, `aliasSub`. They
 * keep values, tags and path expressions; only the name changes.
 *
 * @module
 */

import { PythonRegex } from "../_regex.ts";
import type { TimeSeries } from "../series.ts";
import type { GraphiteFunction } from "./_function.ts";
import { aggKey } from "./_names.ts";

/** The naming functions. */
export const NAMING_FUNCTIONS: readonly GraphiteFunction[] = [
  {
    name: "alias",
    group: "Alias",
    description:
      "Takes a seriesList and a string, and names every series by the string.\n\n" +
      '  &target=alias(Sales.widgets.largeBlue,"Large Blue Widgets")',
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      { name: "newName", type: "string", required: true },
    ],
    keepsValues: true,
    run: (call) => {
      const [list, name] = call.args as [TimeSeries[], string];
      return Promise.resolve(list.map((series) => series.renamed(name)));
    },
  },
  {
    name: "aliasByNode",
    group: "Alias",
    description:
      "Takes a seriesList and one or more nodes (0-based indexes of the name's " +
      "dot-separated parts, negative from the end, or tag names), and names " +
      "every series by those parts joined by dots. For a series made by a " +
      "function, the nodes are those of the first path expression in its name.\n\n" +
      "  &target=aliasByNode(ganglia.*.cpu.load5,1)",
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      { name: "nodes", type: "nodeOrTag", required: true, multiple: true },
    ],
    keepsValues: true,
    run: (call) => {
      const [list, nodes] = call.args as [TimeSeries[], (number | string)[]];
      return Promise.resolve(
        list.map((series) => series.renamed(aggKey(series, nodes))),
      );
    },
  },
  {
    name: "aliasSub",
    group: "Alias",
    description:
      "Runs every name through a regular expression search and replace, as " +
      "Python's re.sub: the replacement may refer to groups as \\1 or \\g<name>. " +
      "Matching takes time linear in the name; backreferences and lookarounds " +
      "are not supported.\n\n" +
      '  &target=aliasSub(ip.*TCP*,"^.*TCP(\\d+)","\\1")',
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      { name: "search", type: "string", required: true },
      { name: "replace", type: "string", required: true },
    ],
    keepsValues: true,
    run: async (call) => {
      const [list, search, replace] = call.args as [
        TimeSeries[],
        string,
        string,
      ];
      const regex = new PythonRegex(search);
      const out: TimeSeries[] = [];
      for (const series of list) {
        out.push(series.renamed(regex.sub(replace, series.name)));
        // One name may take milliseconds with a costly pattern.
        await call.pause();
      }
      return out;
    },
  },
];
