/**
 * The render functions by name, and their description at `/functions` in
 * graphite-web's shape: `{name: {name, function, description, module,
 * group, params}}`, each parameter `{name, type}` plus `required`,
 * `default`, `multiple`, `options` and `suggestions` when they apply.
 *
 * @module
 */

import { pyJsonString, pyRepr } from "../_python.ts";
import type { GraphiteFunction, Param } from "./_function.ts";
import { CALCULATE_FUNCTIONS } from "./calculate.ts";
import { COMBINE_FUNCTIONS } from "./combine.ts";
import { NAMING_FUNCTIONS } from "./naming.ts";
import { NULL_FUNCTIONS } from "./nulls.ts";
import { SELECT_FUNCTIONS } from "./select.ts";
import { SPECIAL_FUNCTIONS } from "./special.ts";
import { TRANSFORM_FUNCTIONS } from "./transform.ts";

const ALL: readonly GraphiteFunction[] = [
  ...COMBINE_FUNCTIONS,
  ...NAMING_FUNCTIONS,
  ...TRANSFORM_FUNCTIONS,
  ...CALCULATE_FUNCTIONS,
  ...NULL_FUNCTIONS,
  ...SELECT_FUNCTIONS,
  ...SPECIAL_FUNCTIONS,
];

/** Every function, by its name and its aliases. */
export const FUNCTIONS: ReadonlyMap<string, GraphiteFunction> = new Map(
  ALL.flatMap((f) => [f.name, ...(f.aliases ?? [])].map((name) => [name, f])),
);

/** Python's `repr()` of a default, as `inspect.formatargspec` prints it. */
function pyDefault(value: string | number | boolean): string {
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "boolean") return value ? "True" : "False";
  if (value === Infinity) return "inf";
  return pyRepr(value, Number.isInteger(value));
}

/** The signature graphite-web shows: `scale(seriesList, factor)`. */
function signature(name: string, params: readonly Param[]): string {
  const parts = params.map((param) => {
    if (param.multiple) return `*${param.name}`;
    if (param.default !== undefined) {
      return `${param.name}=${pyDefault(param.default)}`;
    }
    return param.required ? param.name : `${param.name}=None`;
  });
  return `${name}(${parts.join(", ")})`;
}

/** A JSON value: strings as Python escapes them, infinity as `1e9999`. */
function json(value: string | number | boolean): string {
  if (typeof value === "string") return pyJsonString(value);
  if (typeof value === "boolean") return String(value);
  if (value === Infinity) return "1e9999";
  return pyRepr(value, Number.isInteger(value));
}

function describeParam(param: Param): string {
  const fields = [
    `"name": ${json(param.name)}`,
    `"type": ${json(param.type)}`,
  ];
  if (param.required) fields.push(`"required": true`);
  if (param.default !== undefined) {
    fields.push(`"default": ${json(param.default)}`);
  }
  if (param.multiple) fields.push(`"multiple": true`);
  if (param.options) {
    fields.push(`"options": [${param.options.map(json).join(", ")}]`);
  }
  if (param.suggestions) {
    fields.push(`"suggestions": [${param.suggestions.map(json).join(", ")}]`);
  }
  return `{${fields.join(", ")}}`;
}

/**
 * The JSON of `/functions`: every function under its name and aliases,
 * sorted by name. Infinite defaults print as `1e9999`, which JSON parsers
 * read as infinity (graphite-web 1.1.7 printed `Infinity`, which they do
 * not).
 *
 * @param group Only the functions of this group, when given.
 * @returns The JSON text.
 */
export function describeFunctions(group?: string): string {
  const names = [...FUNCTIONS.keys()].sort();
  const entries: string[] = [];
  for (const name of names) {
    const f = FUNCTIONS.get(name)!;
    if (group !== undefined && f.group !== group) continue;
    const fields = [
      `"name": ${json(name)}`,
      `"function": ${json(signature(name, f.params))}`,
      `"description": ${json(f.description)}`,
      `"module": "graphite.render.functions"`,
      `"group": ${json(f.group)}`,
      `"params": [${f.params.map(describeParam).join(", ")}]`,
    ];
    entries.push(`${json(name)}: {${fields.join(", ")}}`);
  }
  return `{${entries.join(", ")}}`;
}
