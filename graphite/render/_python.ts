/**
 * Printing the way graphite-web's Python prints, so that answers match it
 * byte for byte: `repr()` of floats and ints, `'%g' % x` in series names,
 * `str()` of arguments in tags, and `json.dumps()` strings (ASCII only).
 *
 * @module
 */

import { formatValue } from "../../protocol/format_value.ts";

/**
 * `repr(x)` of a float (Python 3's shortest round-trip form, `1.0`, `1e-05`),
 * or of an int when `integer` says the value is one.
 *
 * @param value A finite number, `inf` or `nan`.
 * @param integer Whether Python holds it as an `int`.
 * @returns Its text.
 */
export function pyRepr(value: number, integer = false): string {
  if (integer && Number.isSafeInteger(value)) return String(value);
  return formatValue(value);
}

/**
 * `'%g' % x`: six significant digits, trailing zeros dropped, an exponent
 * of at least two digits below 1e-4 and from 1e6 on.
 *
 * @param value A number.
 * @returns Its text.
 */
export function pyFormatG(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (value === 0) return Object.is(value, -0) ? "-0" : "0";
  // The exponent after rounding to six digits decides the form.
  const [mantissa, exponentText] = value.toExponential(5).split("e");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    const digits = stripZeros(mantissa);
    const sign = exponent < 0 ? "-" : "+";
    const magnitude = String(Math.abs(exponent)).padStart(2, "0");
    return `${digits}e${sign}${magnitude}`;
  }
  return stripZeros(value.toFixed(5 - exponent));
}

function stripZeros(text: string): string {
  if (!text.includes(".")) return text;
  return text.replace(/0+$/, "").replace(/\.$/, "");
}

/**
 * `json.dumps(text)`: quotes and backslashes escaped, control characters as
 * `\n` or `\u00XX`, and, with `ensure_ascii` (the default), every character
 * past ASCII as `\uXXXX` (UTF-16 units, lower-case hex).
 *
 * @param text Any string.
 * @param ensureAscii Whether to escape what is not ASCII.
 * @returns The JSON string literal.
 */
export function pyJsonString(text: string, ensureAscii = true): string {
  // The common case, plain ASCII without specials, costs one test.
  if (!/[^\x20-\x21\x23-\x5b\x5d-\x7e]/.test(text)) return `"${text}"`;
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const char = text[i];
    if (char === '"') out += '\\"';
    else if (char === "\\") out += "\\\\";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (char === "\b") out += "\\b";
    else if (char === "\f") out += "\\f";
    else if (code < 0x20 || (ensureAscii && code > 0x7f)) {
      out += "\\u" + code.toString(16).padStart(4, "0");
    } else out += char;
  }
  return out + '"';
}

/**
 * A value in graphite-web's JSON: `null` for a null (or NaN, which it turns
 * into null), `1e9999` for infinity, else `repr()`.
 *
 * @param value A value of a series; NaN is null.
 * @param integer Whether Python holds it as an `int`.
 * @returns Its JSON text.
 */
export function pyJsonValue(value: number, integer = false): string {
  if (value !== value) return "null";
  if (value === Infinity) return "1e9999";
  if (value === -Infinity) return "-1e9999";
  return pyRepr(value, integer);
}

/**
 * A field of Python's `csv` writer in its `excel` dialect: quoted, with
 * quotes doubled, when it holds a comma, a quote or a line break.
 *
 * @param text The field.
 * @returns Its text in the row.
 */
export function pyCsvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
