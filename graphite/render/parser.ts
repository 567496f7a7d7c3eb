/**
 * Graphite's target expressions, read as graphite-web's grammar reads them:
 *
 * - a path expression: segments joined by dots, each of characters other than
 *   whitespace and `(){},.'"\|`, with globs (`*`, `?`, `[a-z]`) and
 *   alternatives (`{cpu,memory}`); a backslash takes the next character as
 *   it is (`a\(b`);
 * - a call: a name, then arguments in parentheses, positional first, then
 *   `name=value`; an argument is a number (`-1`, `2.5`, `1e3`), a string in
 *   single or double quotes (kept as written, backslashes included: a
 *   backslash only keeps the next character from closing the string),
 *   `true`/`false`, `None`, `inf`, or another expression;
 * - a pipe: `a.b|scale(2)|alias("x")` is `alias(scale(a.b, 2), "x")`.
 *
 * The parser reads each character once, nests at most 64 calls deep, and
 * reports the first error with its position.
 *
 * @example Usage
 * ```ts
 * import { parseTarget } from "./parser.ts";
 * import { equal } from "node:assert/strict";
 *
 * const call = parseTarget('aliasSub(sumSeries(h.*.cpu), "(^.*$)", "\\1 A")');
 * equal(call.type, "call");
 * ```
 *
 * @module
 */

/** A path expression: a metric name or a pattern of names. */
export interface PathNode {
  /** The node's kind. */
  readonly type: "path";
  /** The pattern, escapes resolved. */
  readonly path: string;
  /** Where it starts in the target. */
  readonly position: number;
}

/** A function call. */
export interface CallNode {
  /** The node's kind. */
  readonly type: "call";
  /** The function's name. */
  readonly name: string;
  /** The positional arguments. */
  readonly args: readonly ArgumentNode[];
  /** The named arguments, in order. */
  readonly kwargs: readonly { name: string; value: ArgumentNode }[];
  /** Where it starts in the target. */
  readonly position: number;
}

/** A number: `int` or `float` as Python would hold it. */
export interface NumberNode {
  /** The node's kind. */
  readonly type: "number";
  /** Its value. */
  readonly value: number;
  /** Whether it was written as an integer. */
  readonly integer: boolean;
  /** Where it starts in the target. */
  readonly position: number;
}

/** A string, a boolean or `None`. */
export interface LiteralNode {
  /** The node's kind. */
  readonly type: "string" | "boolean" | "none";
  /** Its value. */
  readonly value: string | boolean | null;
  /** Where it starts in the target. */
  readonly position: number;
}

/** What a target is: a series list. */
export type ExpressionNode = PathNode | CallNode;
/** What an argument may be. */
export type ArgumentNode = ExpressionNode | NumberNode | LiteralNode;

const MAX_DEPTH = 64;
// Characters that end a path segment; others but whitespace belong to it.
const SYMBOLS = "(){},.'\"\\|";
const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE]-?\d+)?/y;
const WHITESPACE = /\s*/y;

/**
 * Parses one target.
 *
 * @param target The target as sent, such as `sumSeries(h.*.cpu)`.
 * @returns Its expression.
 * @throws {SyntaxError} When it is malformed: `Cannot parse the target at
 * position N: ...`.
 */
export function parseTarget(target: string): ExpressionNode {
  return new Parser(target).parse();
}

class Parser {
  #text: string;
  #at = 0;
  #depth = 0;

  constructor(text: string) {
    this.#text = text;
  }

  parse(): ExpressionNode {
    this.#skipSpace();
    const expression = this.#expression();
    this.#skipSpace();
    if (this.#at < this.#text.length) {
      this.#fail(`unexpected "${this.#text[this.#at]}"`);
    }
    return expression;
  }

  #fail(message: string, at = this.#at): never {
    throw new SyntaxError(
      `Cannot parse the target at position ${at}: ${message}`,
    );
  }

  #skipSpace(): void {
    WHITESPACE.lastIndex = this.#at;
    WHITESPACE.exec(this.#text);
    this.#at = WHITESPACE.lastIndex;
  }

  #peek(): string {
    return this.#text[this.#at] ?? "";
  }

  /** A call or a path, then piped calls. */
  #expression(): ExpressionNode {
    let expression = this.#callOrPath();
    while (true) {
      const save = this.#at;
      this.#skipSpace();
      if (this.#peek() !== "|") {
        this.#at = save;
        return expression;
      }
      this.#at++;
      this.#skipSpace();
      const position = this.#at;
      const piped = this.#callOrPath();
      if (piped.type !== "call") this.#fail("a call must follow |", position);
      expression = { ...piped, args: [expression, ...piped.args] };
    }
  }

  #callOrPath(): ExpressionNode {
    const position = this.#at;
    IDENTIFIER.lastIndex = position;
    const name = IDENTIFIER.exec(this.#text)?.[0];
    if (name !== undefined) {
      this.#at = position + name.length;
      this.#skipSpace();
      if (this.#peek() === "(") return this.#call(name, position);
      this.#at = position;
    }
    return this.#path();
  }

  #call(name: string, position: number): CallNode {
    if (++this.#depth > MAX_DEPTH) {
      this.#fail(`calls nest more than ${MAX_DEPTH} deep`, position);
    }
    this.#at++; // (
    const args: ArgumentNode[] = [];
    const kwargs: { name: string; value: ArgumentNode }[] = [];
    this.#skipSpace();
    if (this.#peek() === ")") {
      this.#at++;
      this.#depth--;
      return { type: "call", name, args, kwargs, position };
    }
    while (true) {
      this.#skipSpace();
      const keyword = this.#keyword();
      if (keyword !== undefined) {
        kwargs.push({ name: keyword, value: this.#argument() });
      } else if (kwargs.length > 0) {
        this.#fail("a positional argument follows a named one");
      } else {
        args.push(this.#argument());
      }
      this.#skipSpace();
      const next = this.#peek();
      if (next !== ")" && next !== ",") {
        this.#fail(next === "" ? "a ) is missing" : `unexpected "${next}"`);
      }
      this.#at++;
      if (next === ")") break;
    }
    this.#depth--;
    return { type: "call", name, args, kwargs, position };
  }

  /** `name=` ahead: the name, with the position past the `=`. */
  #keyword(): string | undefined {
    IDENTIFIER.lastIndex = this.#at;
    const name = IDENTIFIER.exec(this.#text)?.[0];
    if (name === undefined) return undefined;
    const save = this.#at;
    this.#at += name.length;
    this.#skipSpace();
    if (this.#peek() === "=") {
      this.#at++;
      this.#skipSpace();
      return name;
    }
    this.#at = save;
    return undefined;
  }

  #argument(): ArgumentNode {
    const position = this.#at;
    const char = this.#peek();
    if (char === '"' || char === "'") return this.#string(char);
    NUMBER.lastIndex = position;
    const number = NUMBER.exec(this.#text)?.[0];
    if (number !== undefined && this.#endsArgument(position + number.length)) {
      this.#at = position + number.length;
      return {
        type: "number",
        value: Number(number),
        integer: /^-?\d+$/.test(number),
        position,
      };
    }
    IDENTIFIER.lastIndex = position;
    const word = IDENTIFIER.exec(this.#text)?.[0];
    if (word !== undefined && this.#endsArgument(position + word.length)) {
      const lower = word.toLowerCase();
      const literal = this.#literal(lower, position);
      if (literal !== undefined) {
        this.#at = position + word.length;
        return literal;
      }
    }
    if (char === "" || char === ")" || char === ",") {
      this.#fail("an argument is missing");
    }
    return this.#expression();
  }

  #literal(word: string, position: number): ArgumentNode | undefined {
    if (word === "true" || word === "false") {
      return { type: "boolean", value: word === "true", position };
    }
    if (word === "none") return { type: "none", value: null, position };
    if (word === "inf") {
      return { type: "number", value: Infinity, integer: false, position };
    }
    return undefined;
  }

  /** Whether an argument may end at `at`: before `,`, `)` or the end. */
  #endsArgument(at: number): boolean {
    WHITESPACE.lastIndex = at;
    WHITESPACE.exec(this.#text);
    const next = this.#text[WHITESPACE.lastIndex];
    return next === undefined || next === "," || next === ")";
  }

  #string(quote: string): LiteralNode {
    const position = this.#at;
    let at = position + 1;
    const text = this.#text;
    while (at < text.length && text[at] !== quote) {
      if (text[at] === "\n" || text[at] === "\r") break;
      at += text[at] === "\\" ? 2 : 1;
    }
    if (at >= text.length || text[at] !== quote) {
      this.#fail(`the string has no closing ${quote}`, position);
    }
    this.#at = at + 1;
    return { type: "string", value: text.slice(position + 1, at), position };
  }

  #path(): PathNode {
    const position = this.#at;
    const text = this.#text;
    let path = "";
    let inBraces = false;
    let segmentEmpty = true;
    while (this.#at < text.length) {
      const char = text[this.#at];
      if (char === "\\") {
        const next = text[this.#at + 1];
        if (next === undefined || !(SYMBOLS + "=").includes(next)) {
          this.#fail("a backslash must escape one of (){},.'\"\\|=");
        }
        path += next;
        this.#at += 2;
        segmentEmpty = false;
      } else if (char === "{" && !inBraces) {
        inBraces = true;
        path += char;
        this.#at++;
      } else if (char === "}" && inBraces) {
        inBraces = false;
        path += char;
        this.#at++;
        segmentEmpty = false;
      } else if (char === "," && inBraces) {
        path += char;
        this.#at++;
      } else if (char === "." && !inBraces) {
        if (segmentEmpty) this.#fail("an empty path segment");
        path += char;
        this.#at++;
        segmentEmpty = true;
      } else if (/\s/.test(char) || SYMBOLS.includes(char)) {
        break;
      } else {
        path += char;
        this.#at++;
        segmentEmpty = false;
      }
    }
    if (inBraces) this.#fail("a { without }", position);
    if (path === "") {
      const char = text[this.#at];
      this.#fail(
        char === undefined ? "a series is missing" : `unexpected "${char}"`,
      );
    }
    if (segmentEmpty) this.#fail("an empty path segment");
    return { type: "path", path, position };
  }
}
