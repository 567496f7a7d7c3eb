/**
 * Python's `re.sub`, for `aliasSub`, in time linear in the name for each
 * match: a pattern from a request must not be able to backtrack for
 * seconds (`(a+)+$` does with JavaScript's `RegExp`). The pattern is
 * compiled to a program for a Pike VM, which runs every alternative in
 * step, one character at a time, keeping per state only its
 * highest-priority thread; matches and groups are Python's (leftmost, then
 * the first alternative, greedy or lazy repeats as written).
 *
 * Supported: literals, `.`, classes (`[a-z]`, `[^...]`), `\d \w \s` and
 * their negations, `^ $ \A \Z \b \B`, groups (`(...)`, `(?:...)`,
 * `(?P<name>...)`), alternation and repeats (`* + ? {m,n}`, lazy with `?`).
 * Backreferences, lookarounds and inline flags are refused with a
 * `SyntaxError`. Templates take `\1`, `\g<1>`, `\g<name>` and the escapes
 * `\n \t \r \f \v \a \b \\`.
 *
 * @module
 */

const MAX_PROGRAM = 10_000;
const MAX_REPEAT = 1000;
const NEWLINE = 0x0a;

type Test = (codePoint: number) => boolean;
type Assertion = "bol" | "eol" | "start" | "end" | "word" | "notWord";

type Node =
  | { t: "char"; test: Test }
  | { t: "cat"; items: Node[] }
  | { t: "alt"; items: Node[] }
  | { t: "group"; index: number | undefined; node: Node }
  | { t: "repeat"; node: Node; min: number; max: number; greedy: boolean }
  | { t: "assert"; kind: Assertion };

type Instruction =
  | { op: "char"; test: Test }
  | { op: "split"; x: number; y: number }
  | { op: "jmp"; x: number }
  | { op: "save"; slot: number }
  | { op: "assert"; kind: Assertion }
  | { op: "match" };

const DIGIT: Test = (c) =>
  c >= 0x30 && c <= 0x39 ||
  (c > 0x7f && /\p{Nd}/u.test(String.fromCodePoint(c)));
const WORD: Test = (c) =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x61 && c <= 0x7a) || c === 0x5f ||
  (c > 0x7f && /[\p{L}\p{N}]/u.test(String.fromCodePoint(c)));
const SPACE: Test = (c) =>
  c === 0x20 || (c >= 0x09 && c <= 0x0d) ||
  (c > 0x7f && /\s/u.test(String.fromCodePoint(c)));
const not = (test: Test): Test => (c) => !test(c);

/** A match: where it is, and its groups as code point offsets. */
interface Match {
  start: number;
  end: number;
  groups: Int32Array;
}

/** A compiled Python pattern. */
export class PythonRegex {
  /** The pattern as written. */
  readonly source: string;
  #program: Instruction[];
  #groups: number;
  #names: Map<string, number>;

  /**
   * Compiles a pattern.
   *
   * @param source The pattern, in Python's syntax.
   * @throws {SyntaxError} When it is malformed or uses what is not
   * supported, or when it compiles to more than 10,000 instructions.
   */
  constructor(source: string) {
    this.source = source;
    const parser = new PatternParser(source);
    const node = parser.parse();
    this.#groups = parser.groups + 1;
    this.#names = parser.names;
    const program: Instruction[] = [];
    emit(node, program);
    program.push({ op: "match" });
    this.#program = program;
  }

  /**
   * `re.sub(pattern, template, text)`: every match replaced, left to right.
   *
   * @param template The replacement, with Python's group references.
   * @param text The text.
   * @param maxSteps The most VM steps to spend.
   * @returns The new text.
   * @throws {SyntaxError} When the template is malformed.
   * @throws {RangeError} When matching would take more than `maxSteps`.
   */
  sub(template: string, text: string, maxSteps = 2_000_000): string {
    const parts = parseTemplate(template, this.#groups, this.#names);
    const input = Array.from(text, (char) => char.codePointAt(0)!);
    const budget = { steps: maxSteps };
    let out = "";
    let lastEnd = 0;
    let at = 0;
    while (at <= input.length) {
      const match = this.#search(input, at, budget);
      if (match === undefined) break;
      out += fromCodePoints(input, lastEnd, match.start);
      for (const part of parts) {
        if (typeof part === "string") out += part;
        else {
          const from = match.groups[2 * part];
          const to = match.groups[2 * part + 1];
          if (from >= 0 && to >= 0) out += fromCodePoints(input, from, to);
        }
      }
      lastEnd = match.end;
      // After an empty match the next starts one further on (Python 3.7).
      at = match.end === match.start ? match.end + 1 : match.end;
    }
    return out + fromCodePoints(input, lastEnd, input.length);
  }

  /** The leftmost-first match at or after `from`. */
  #search(
    input: number[],
    from: number,
    budget: { steps: number },
  ): Match | undefined {
    const program = this.#program;
    const slots = 2 * this.#groups;
    let current: Thread[] = [];
    let next: Thread[] = [];
    const seen = new Int32Array(program.length).fill(-1);
    let generation = 0;
    let matched: Int32Array | undefined;
    for (let at = from; at <= input.length; at++) {
      if (matched === undefined) {
        const caps = new Int32Array(slots).fill(-1);
        caps[0] = at;
        addThread(program, current, seen, generation, 0, caps, input, at);
      }
      if (current.length === 0) {
        if (matched !== undefined) break;
        // Nothing carried over: the next position starts afresh.
        generation++;
        continue;
      }
      generation++;
      budget.steps -= current.length;
      if (budget.steps < 0) {
        throw new RangeError(
          `Cannot match the pattern "${this.source}": it takes too many steps on a name of ${input.length} characters`,
        );
      }
      for (const thread of current) {
        const instruction = program[thread.pc];
        if (instruction.op === "match") {
          matched = thread.caps.slice();
          matched[1] = at;
          break; // Threads after it have lower priority.
        }
        if (
          instruction.op === "char" && at < input.length &&
          instruction.test(input[at])
        ) {
          addThread(
            program,
            next,
            seen,
            generation,
            thread.pc + 1,
            thread.caps,
            input,
            at + 1,
          );
        }
      }
      [current, next] = [next, current];
      next.length = 0;
    }
    if (matched === undefined) return undefined;
    return { start: matched[0], end: matched[1], groups: matched };
  }
}

interface Thread {
  pc: number;
  caps: Int32Array;
}

/**
 * Adds the thread at `pc`, following jumps, splits (first branch first),
 * saves and assertions at position `at`; a state already reached in this
 * generation keeps its earlier, higher-priority thread.
 */
function addThread(
  program: Instruction[],
  list: Thread[],
  seen: Int32Array,
  generation: number,
  pc: number,
  caps: Int32Array,
  input: number[],
  at: number,
): void {
  const stack: Thread[] = [{ pc, caps }];
  while (stack.length > 0) {
    const thread = stack.pop()!;
    if (seen[thread.pc] === generation) continue;
    seen[thread.pc] = generation;
    const instruction = program[thread.pc];
    switch (instruction.op) {
      case "jmp":
        stack.push({ pc: instruction.x, caps: thread.caps });
        break;
      case "split":
        stack.push({ pc: instruction.y, caps: thread.caps });
        stack.push({ pc: instruction.x, caps: thread.caps });
        break;
      case "save": {
        const caps = thread.caps.slice();
        caps[instruction.slot] = at;
        stack.push({ pc: thread.pc + 1, caps });
        break;
      }
      case "assert":
        if (holds(instruction.kind, input, at)) {
          stack.push({ pc: thread.pc + 1, caps: thread.caps });
        }
        break;
      default:
        list.push(thread);
    }
  }
}

function holds(kind: Assertion, input: number[], at: number): boolean {
  switch (kind) {
    case "bol":
    case "start":
      return at === 0;
    case "end":
      return at === input.length;
    case "eol":
      return at === input.length ||
        (at === input.length - 1 && input[at] === NEWLINE);
    case "word":
    case "notWord": {
      const before = at > 0 && WORD(input[at - 1]);
      const after = at < input.length && WORD(input[at]);
      return (before !== after) === (kind === "word");
    }
  }
}

function fromCodePoints(input: number[], from: number, to: number): string {
  let out = "";
  for (let i = from; i < to; i++) out += String.fromCodePoint(input[i]);
  return out;
}

/** Appends the instructions of `node` to `program`. */
function emit(node: Node, program: Instruction[]): void {
  if (program.length > MAX_PROGRAM) {
    throw new SyntaxError(
      `Cannot compile the pattern: it needs more than ${MAX_PROGRAM} instructions`,
    );
  }
  switch (node.t) {
    case "char":
      program.push({ op: "char", test: node.test });
      return;
    case "assert":
      program.push({ op: "assert", kind: node.kind });
      return;
    case "cat":
      for (const item of node.items) emit(item, program);
      return;
    case "group":
      if (node.index !== undefined) {
        program.push({ op: "save", slot: 2 * node.index });
      }
      emit(node.node, program);
      if (node.index !== undefined) {
        program.push({ op: "save", slot: 2 * node.index + 1 });
      }
      return;
    case "alt":
      emitAlternatives(node.items, program);
      return;
    case "repeat":
      emitRepeat(node, program);
  }
}

function emitAlternatives(items: Node[], program: Instruction[]): void {
  const jumps: { op: "jmp"; x: number }[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i < items.length - 1) {
      const split = { op: "split" as const, x: program.length + 1, y: 0 };
      program.push(split);
      emit(items[i], program);
      const jump = { op: "jmp" as const, x: 0 };
      program.push(jump);
      jumps.push(jump);
      split.y = program.length;
    } else emit(items[i], program);
  }
  for (const jump of jumps) jump.x = program.length;
}

function emitRepeat(
  node: { node: Node; min: number; max: number; greedy: boolean },
  program: Instruction[],
): void {
  for (let i = 0; i < node.min; i++) emit(node.node, program);
  const branch = (
    split: { x: number; y: number },
    body: number,
    out: number,
  ) => {
    split.x = node.greedy ? body : out;
    split.y = node.greedy ? out : body;
  };
  if (node.max === Infinity) {
    const split = { op: "split" as const, x: 0, y: 0 };
    const loop = program.length;
    program.push(split);
    emit(node.node, program);
    program.push({ op: "jmp", x: loop });
    branch(split, loop + 1, program.length);
    return;
  }
  const splits: { op: "split"; x: number; y: number; body: number }[] = [];
  for (let i = node.min; i < node.max; i++) {
    const split = {
      op: "split" as const,
      x: 0,
      y: 0,
      body: program.length + 1,
    };
    program.push(split);
    splits.push(split);
    emit(node.node, program);
  }
  for (const split of splits) branch(split, split.body, program.length);
}

/** Reads a pattern into a tree, numbering groups as Python does. */
class PatternParser {
  groups = 0;
  names = new Map<string, number>();
  #text: number[];
  #at = 0;

  constructor(source: string) {
    this.#text = Array.from(source, (char) => char.codePointAt(0)!);
  }

  parse(): Node {
    const node = this.#alternation();
    if (this.#at < this.#text.length) this.#fail("unbalanced parenthesis");
    return node;
  }

  #fail(message: string): never {
    throw new SyntaxError(
      `Cannot compile the pattern at position ${this.#at}: ${message}`,
    );
  }

  #peek(offset = 0): string {
    const code = this.#text[this.#at + offset];
    return code === undefined ? "" : String.fromCodePoint(code);
  }

  #alternation(): Node {
    const items = [this.#sequence()];
    while (this.#peek() === "|") {
      this.#at++;
      items.push(this.#sequence());
    }
    return items.length === 1 ? items[0] : { t: "alt", items };
  }

  #sequence(): Node {
    const items: Node[] = [];
    while (this.#at < this.#text.length) {
      const char = this.#peek();
      if (char === "|" || char === ")") break;
      const atom = this.#atom();
      items.push(this.#quantified(atom));
    }
    return { t: "cat", items };
  }

  #quantified(atom: Node): Node {
    const char = this.#peek();
    let bounds: [number, number] | undefined;
    if (char === "*") bounds = [0, Infinity];
    else if (char === "+") bounds = [1, Infinity];
    else if (char === "?") bounds = [0, 1];
    if (bounds !== undefined) this.#at++;
    else if (char === "{") bounds = this.#bounds();
    if (bounds === undefined) return atom;
    if (atom.t === "assert") this.#fail("nothing to repeat");
    let greedy = true;
    if (this.#peek() === "?") {
      greedy = false;
      this.#at++;
    } else if (this.#peek() === "+") {
      this.#fail("possessive repeats are not supported");
    }
    const after = this.#peek();
    if (
      after === "*" || after === "+" || after === "?" ||
      (after === "{" && this.#bounds(true) !== undefined)
    ) {
      this.#fail("multiple repeat");
    }
    return { t: "repeat", node: atom, min: bounds[0], max: bounds[1], greedy };
  }

  /** `{m}`, `{m,}`, `{,n}` or `{m,n}` ahead, else a literal `{`. */
  #bounds(peekOnly = false): [number, number] | undefined {
    const rest = String.fromCodePoint(
      ...this.#text.slice(this.#at, this.#at + 24),
    );
    const match = /^\{(\d*)(,?)(\d*)\}/.exec(rest);
    if (match === null || (match[1] === "" && match[2] === "")) {
      return undefined;
    }
    if (peekOnly) return [0, 0];
    const min = match[1] === "" ? 0 : Number(match[1]);
    const max = match[2] === ""
      ? min
      : match[3] === ""
      ? Infinity
      : Number(match[3]);
    if (min > max) this.#fail("min repeat greater than max repeat");
    if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) {
      this.#fail(`a repeat count above ${MAX_REPEAT}`);
    }
    this.#at += match[0].length;
    return [min, max];
  }

  #atom(): Node {
    const char = this.#peek();
    this.#at++;
    switch (char) {
      case ".":
        return { t: "char", test: (c) => c !== NEWLINE };
      case "^":
        return { t: "assert", kind: "bol" };
      case "$":
        return { t: "assert", kind: "eol" };
      case "(":
        return this.#group();
      case "[":
        return { t: "char", test: this.#class() };
      case "\\":
        return this.#escape(false) as Node;
      case "*":
      case "+":
      case "?":
        this.#at--;
        this.#fail("nothing to repeat");
    }
    const code = char.codePointAt(0)!;
    return { t: "char", test: (c) => c === code };
  }

  #group(): Node {
    let index: number | undefined;
    if (this.#peek() === "?") {
      const kind = this.#peek(1);
      if (kind === ":") this.#at += 2;
      else if (kind === "P" && this.#peek(2) === "<") {
        this.#at += 3;
        let name = "";
        while (this.#peek() !== ">" && this.#peek() !== "") {
          name += this.#peek();
          this.#at++;
        }
        if (this.#peek() !== ">" || !/^[A-Za-z_]\w*$/.test(name)) {
          this.#fail("bad group name");
        }
        this.#at++;
        index = ++this.groups;
        if (this.names.has(name)) {
          this.#fail(`redefinition of group name "${name}"`);
        }
        this.names.set(name, index);
      } else if (kind === "#") {
        while (this.#peek() !== ")" && this.#peek() !== "") this.#at++;
        if (this.#peek() === "") this.#fail("missing ), unterminated comment");
        this.#at++;
        return { t: "cat", items: [] };
      } else {
        this.#fail(
          "lookarounds, backreferences and inline flags are not supported",
        );
      }
    } else index = ++this.groups;
    const node = this.#alternation();
    if (this.#peek() !== ")") this.#fail("missing ), unterminated subpattern");
    this.#at++;
    return { t: "group", index, node };
  }

  /** A class `[...]`, the `[` read. */
  #class(): Test {
    const tests: Test[] = [];
    let negated = false;
    if (this.#peek() === "^") {
      negated = true;
      this.#at++;
    }
    let first = true;
    while (this.#peek() !== "]" || first) {
      if (this.#peek() === "") this.#fail("unterminated character set");
      first = false;
      const low = this.#classMember();
      if (
        this.#peek() === "-" && this.#peek(1) !== "]" && this.#peek(1) !== ""
      ) {
        this.#at++;
        const high = this.#classMember();
        if (typeof low !== "number" || typeof high !== "number") {
          this.#fail("bad character range");
        }
        if (high < low) this.#fail("bad character range");
        tests.push((c) => c >= low && c <= high);
      } else if (typeof low === "number") tests.push((c) => c === low);
      else tests.push(low);
    }
    this.#at++;
    return negated
      ? (c) => !tests.some((test) => test(c))
      : (c) => tests.some((test) => test(c));
  }

  #classMember(): number | Test {
    const char = this.#peek();
    this.#at++;
    if (char !== "\\") return char.codePointAt(0)!;
    return this.#escape(true) as number | Test;
  }

  /** An escape, the backslash read: a code point in a class, else a node. */
  #escape(inClass: boolean): Node | number | Test {
    const char = this.#peek();
    this.#at++;
    const simple: Record<string, number> = {
      n: 10,
      t: 9,
      r: 13,
      f: 12,
      v: 11,
      a: 7,
      "0": 0,
    };
    const classes: Record<string, Test> = {
      d: DIGIT,
      D: not(DIGIT),
      w: WORD,
      W: not(WORD),
      s: SPACE,
      S: not(SPACE),
    };
    const asNode = (code: number) =>
      inClass ? code : { t: "char" as const, test: (c: number) => c === code };
    if (char === "") this.#fail("a pattern must not end with a backslash");
    if (char in simple) return asNode(simple[char]);
    if (char in classes) {
      return inClass ? classes[char] : { t: "char", test: classes[char] };
    }
    if (char === "b" && inClass) return 8;
    if (!inClass) {
      const anchors: Record<string, Assertion> = {
        A: "start",
        Z: "end",
        b: "word",
        B: "notWord",
      };
      if (char in anchors) return { t: "assert", kind: anchors[char] };
    }
    if (char === "x" || char === "u" || char === "U") {
      const digits = { x: 2, u: 4, U: 8 }[char];
      const hex = String.fromCodePoint(
        ...this.#text.slice(this.#at, this.#at + digits),
      );
      if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) {
        this.#fail(`bad escape \\${char}`);
      }
      this.#at += digits;
      return asNode(parseInt(hex, 16));
    }
    if (/[0-9]/.test(char)) this.#fail("backreferences are not supported");
    if (/[A-Za-z]/.test(char)) this.#fail(`bad escape \\${char}`);
    return asNode(char.codePointAt(0)!);
  }
}

/** A template: text, and group numbers to insert. */
function parseTemplate(
  template: string,
  groups: number,
  names: Map<string, number>,
): (string | number)[] {
  const parts: (string | number)[] = [];
  let text = "";
  const fail = (message: string): never => {
    throw new SyntaxError(
      `Cannot use the replacement "${template}": ${message}`,
    );
  };
  const group = (index: number) => {
    if (index >= groups) fail(`invalid group reference ${index}`);
    if (text !== "") parts.push(text);
    text = "";
    parts.push(index);
  };
  for (let i = 0; i < template.length; i++) {
    const char = template[i];
    if (char !== "\\") {
      text += char;
      continue;
    }
    const next = template[++i];
    if (next === undefined) fail("it ends with a backslash");
    const escapes: Record<string, string> = {
      n: "\n",
      t: "\t",
      r: "\r",
      f: "\f",
      v: "\v",
      a: "\x07",
      b: "\b",
      "\\": "\\",
    };
    if (next in escapes) text += escapes[next];
    else if (next === "g") {
      const match = /^<([^>]*)>/.exec(template.slice(i + 1));
      if (match === null) fail("missing < or > after \\g");
      const ref = match![1];
      const index = /^\d+$/.test(ref) ? Number(ref) : names.get(ref);
      if (index === undefined) fail(`unknown group name "${ref}"`);
      group(index!);
      i += match![0].length;
    } else if (/[1-9]/.test(next)) {
      const two = /[0-9]/.test(template[i + 1] ?? "");
      group(Number(template.slice(i, i + (two ? 2 : 1))));
      if (two) i++;
    } else if (next === "0") text += "\0";
    else if (/[A-Za-z]/.test(next)) fail(`bad escape \\${next}`);
    else text += "\\" + next;
  }
  if (text !== "") parts.push(text);
  return parts;
}
