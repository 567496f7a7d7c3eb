/**
 * Writing values into ClickHouse SQL. ClickHouse 18.16 has no query
 * parameters, so every key a query names is written as a string literal
 * here, and nowhere else.
 *
 * @module
 */

// What a string literal cannot hold as it is.
// deno-lint-ignore no-control-regex
const ESCAPED = /[\\'\x00-\x1f\x7f]/g;

/** What a database name may be: a plain identifier, never quoted. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A string as a ClickHouse string literal: `\` and `'` escaped, and every
 * control character (a key may hold any but whitespace) as `\xHH`, so that
 * no byte of a key can end the literal or the statement.
 *
 * @param text Any string.
 * @returns The literal, quotes included.
 */
export function quote(text: string): string {
  return `'${
    text.replace(ESCAPED, (char) => {
      if (char === "\\" || char === "'") return `\\${char}`;
      return `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
    })
  }'`;
}

/**
 * Whether `name` can be used as a database or cluster name as it is.
 *
 * @param name A candidate.
 * @returns Whether it is a plain identifier.
 */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/**
 * An integer as SQL: a safe integer, written in full.
 *
 * @param n A safe integer.
 * @returns Its decimal text.
 * @throws {RangeError} When it is not a safe integer (it would not be exact).
 */
export function integer(n: number): string {
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`Cannot write ${n} into SQL: not a safe integer`);
  }
  return String(n);
}

/**
 * A list of keys as the inside of a SQL array or `IN` list.
 *
 * @param keys The keys.
 * @returns `'a', 'b'`.
 */
export function quoteAll(keys: readonly string[]): string {
  return keys.map(quote).join(", ");
}
