/**
 * Pulse's version, read from deno.json so that it is written in one place.
 *
 * @example Usage
 * ```ts
 * import { VERSION } from "./version.ts";
 * import { match } from "node:assert/strict";
 *
 * match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 *
 * @module
 */

import denoConfig from "../deno.json" with { type: "json" };

/** The version of the package, such as `0.2.0`. */
export const VERSION: string = denoConfig.version;
