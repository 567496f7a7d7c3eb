/**
 * Printing values the way the course's Python graders expect: Python's
 * `str(float)`.
 *
 * @example Usage
 * ```ts
 * import { formatValue } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(formatValue(10), "10.0");
 * deepEqual(formatValue(1e16), "1e+16");
 * ```
 *
 * @module
 */

/**
 * Formats a value the way Python's `str(float)` does: the shortest digits
 * that read back to the same number, in exponent form below 1e-4 and from
 * 1e16 on (with a sign and at least two exponent digits), and always with a
 * fraction or an exponent.
 *
 * @example Usage
 * ```ts
 * import { formatValue } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(formatValue(4200000), "4200000.0");
 * deepEqual(formatValue(0.00001), "1e-05");
 * deepEqual(formatValue(-0), "-0.0");
 * ```
 *
 * @param value A number.
 * @returns Its text, as Python would print it (`inf` and `nan` too).
 */
export function formatValue(value: number): string {
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-4 && magnitude < 1e16) {
    // JavaScript's layout agrees with Python's here but for integers.
    const text = String(value);
    return Number.isInteger(value) ? text + ".0" : text;
  }
  if (magnitude === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  // Only sums can overflow; print them as Python would.
  if (value !== value) return "nan";
  if (magnitude === Infinity) return value > 0 ? "inf" : "-inf";
  // toExponential() gives the shortest round-trip digits, like repr.
  const text = value.toExponential();
  const e = text.indexOf("e");
  const exponent = text.slice(e + 2);
  return `${text.slice(0, e)}e${text[e + 1]}${
    exponent.length < 2 ? "0" : ""
  }${exponent}`;
}
