/**
 * The process's memory as figures, named once for every place that reports
 * them: TCP's `stats`, HTTP's `/api/stats` and `/metrics`.
 *
 * @example Usage
 * ```ts
 * import { memoryFigures } from "./memory.ts";
 * import { ok } from "node:assert/strict";
 *
 * ok(memoryFigures().memory_rss_bytes > 0);
 * ```
 *
 * @module
 */

/**
 * The process's memory now: resident (`memory_rss_bytes`), V8's heap
 * (`memory_heap_bytes`) and what is held outside it, such as buffers
 * (`memory_external_bytes`).
 *
 * @returns Bytes, by figure name.
 */
export function memoryFigures(): Record<string, number> {
  const memory = Deno.memoryUsage();
  return {
    memory_rss_bytes: memory.rss,
    memory_heap_bytes: memory.heapTotal,
    memory_external_bytes: memory.external,
  };
}
