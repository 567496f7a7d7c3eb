import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import { isPattern, Pattern } from "../store/pattern.ts";
import { Store } from "../store.ts";
import type { PatternJob, PatternOutcome } from "./_pattern_worker.ts";
import { randomInt, rng, within } from "./_helpers.ts";

/** Checks which of `keys` the pattern matches: exactly `matching`. */
function checkMatches(source: string, matching: string[], others: string[]) {
  const pattern = new Pattern(source);
  for (const key of matching) {
    equal(pattern.test(key), true, `${source} should match ${key}`);
  }
  for (const key of others) {
    equal(pattern.test(key), false, `${source} should not match ${key}`);
  }
}

/** The keys of `store` matched by `source`, in the order match() gives. */
function matched(store: Store, source: string): string[] {
  return store.match(new Pattern(source)).map((series) => series.key);
}

Deno.test("Pattern.test() matches a plain key only itself", async (t) => {
  await t.step("segments are compared whole", () => {
    checkMatches("palm.cpu", ["palm.cpu"], [
      "palm.cpux",
      "xpalm.cpu",
      "palm",
      "palm.cpu.user",
      "palm_cpu",
      "palmxcpu",
      "PALM.CPU",
    ]);
  });
  await t.step("regular expression syntax is literal", () => {
    for (const key of ["a+b", "a(b)", "a$", "a|b", "a^b", "a\\b", "a/b"]) {
      checkMatches(key, [key], ["ab", "aab", "a", "b"]);
      equal(new Pattern(key).literal, true, key);
    }
  });
  await t.step("non-ASCII keys", () => {
    checkMatches("temp.°C", ["temp.°C"], ["temp.C", "temp.°c"]);
  });
});

Deno.test("Pattern.test() reads `*` within one segment", async (t) => {
  await t.step("a whole segment", () => {
    checkMatches("palm.*", ["palm.cpu", "palm.memory", "palm."], [
      "palm.disk.root",
      "palm",
      "eardrum.cpu",
      "xpalm.cpu",
    ]);
  });
  await t.step("a leading segment", () => {
    checkMatches("*.cpu", ["palm.cpu", "eardrum.cpu", ".cpu"], [
      "palm.disk.cpu",
      "cpu",
      "palm.cpu.user",
    ]);
  });
  await t.step("part of a segment", () => {
    checkMatches("p*m.c*", ["palm.cpu", "pm.c", "pxm.cxx"], [
      "palm.disk.cpu",
      "pa.lm.cpu",
      "palm.xcpu",
    ]);
  });
  await t.step("alone, one segment only", () => {
    checkMatches("*", ["palm", "a", ""], ["palm.cpu", "."]);
  });
  await t.step("doubled within a segment, still one segment", () => {
    // A whole segment of stars is `**`, tested below.
    checkMatches("palm.c**", ["palm.cpu", "palm.c"], [
      "palm.c.root",
      "palm.disk",
    ]);
    checkMatches("palm.**u", ["palm.cpu", "palm.u"], ["palm.disk.u"]);
  });
  await t.step("several segments", () => {
    checkMatches("*.*.root", ["palm.disk.root"], [
      "palm.root",
      "a.b.c.root",
    ]);
  });
});

Deno.test("Pattern.test() reads `?` as one character, never a dot", () => {
  checkMatches("host?.cpu", ["host1.cpu", "hostx.cpu", "host😀.cpu"], [
    "host.cpu",
    "host10.cpu",
    "host.x.cpu",
  ]);
  checkMatches("a?b", ["acb"], ["a.b", "ab"]);
  checkMatches("???", ["abc"], ["ab", "abcd", "a.c"]);
});

Deno.test("Pattern.test() reads `{a,b}` alternatives", async (t) => {
  await t.step("within a segment", () => {
    checkMatches("palm.{cpu,memory}", ["palm.cpu", "palm.memory"], [
      "palm.disk",
      "palm.{cpu,memory}",
      "palm.cpumemory",
    ]);
  });
  await t.step("holding dots", () => {
    checkMatches("{palm.cpu,eardrum.*}", [
      "palm.cpu",
      "eardrum.cpu",
      "eardrum.memory",
    ], ["palm.memory", "eardrum.disk.root"]);
  });
  await t.step("holding wildcards and classes", () => {
    checkMatches("x.{a*,b?,[0-9]}", ["x.a", "x.abc", "x.bz", "x.7"], [
      "x.b",
      "x.bzz",
      "x.c",
      "x.a.b",
    ]);
  });
  await t.step("nested", () => {
    checkMatches("{a,{b,c.{d,e}}}.x", ["a.x", "b.x", "c.d.x", "c.e.x"], [
      "c.x",
      "d.x",
      "c.f.x",
    ]);
  });
  await t.step("an empty alternative", () => {
    checkMatches("palm{,.cpu}", ["palm", "palm.cpu"], ["palm.", "palm.mem"]);
  });
  await t.step("one after another", () => {
    checkMatches("{a,b}{c,d}", ["ac", "ad", "bc", "bd"], ["ab", "cd", "a"]);
  });
  await t.step("commas outside braces are literal", () => {
    checkMatches("a,b", ["a,b"], ["a", "b"]);
  });
});

Deno.test("Pattern.test() reads `[...]` character classes", async (t) => {
  await t.step("ranges and sets", () => {
    checkMatches("host[0-9].cpu", ["host0.cpu", "host9.cpu"], [
      "host.cpu",
      "hosta.cpu",
      "host10.cpu",
    ]);
    checkMatches("[a-c_]x", ["ax", "bx", "cx", "_x"], ["dx", "x", "abx"]);
  });
  await t.step("negated with ! or ^", () => {
    for (const source of ["[!x]y", "[^x]y"]) {
      checkMatches(source, ["ay", "zy", "1y"], ["xy", "y", ".y", "aay"]);
    }
  });
  await t.step("never a dot", () => {
    checkMatches("a[!x]b", ["acb"], ["a.b"]);
    checkMatches("a[^0-9]b", ["acb"], ["a.b", "a5b"]);
  });
  await t.step("a dot inside a class", () => {
    // "[!.]" is a class of every character but the dot.
    checkMatches("a[!.]b", ["acb"], ["a.b", "ab"]);
  });
  await t.step("characters that are syntax elsewhere", () => {
    checkMatches("[]a]", ["]", "a"], ["b"]);
    checkMatches("[a-]", ["a", "-"], ["b"]);
    checkMatches("[[]", ["["], ["a"]);
    checkMatches("[*?]", ["*", "?"], ["a"]);
    checkMatches("[\\d]", ["\\", "d"], ["1"]);
  });
});

Deno.test("new Pattern() refuses malformed patterns with a SyntaxError", async (t) => {
  const malformed = [
    "",
    "{a",
    "a}",
    "{a,b}}",
    "}{",
    "palm.{cpu,memory",
    "[a",
    "a]",
    "[]",
    "[!]",
    "[^]",
    "[z-a]",
    "{a,b}".repeat(11), // 2^11 alternatives
    "a".repeat(4097),
  ];
  for (const source of malformed) {
    await t.step(JSON.stringify(source.slice(0, 30)), () => {
      throws(() => new Pattern(source), (error: unknown) => {
        assert(error instanceof SyntaxError, String(error));
        assert(error.message.startsWith("Cannot compile the pattern: "));
        return true;
      });
    });
  }
  await t.step("the longest pattern still compiles", () => {
    equal(new Pattern("a".repeat(4096)).test("a".repeat(4096)), true);
  });
});

Deno.test("Pattern.literal tells a key from a pattern", () => {
  equal(new Pattern("palm.cpu").literal, true);
  equal(new Pattern("{palm.cpu}").literal, true);
  equal(new Pattern("palm.*").literal, false);
  equal(new Pattern("palm.{cpu,memory}").literal, false);
  equal(new Pattern("host[0-9]").literal, false);
  equal(new Pattern("host?").literal, false);
});

Deno.test("isPattern() tells whether text has a wildcard, class or braces", () => {
  for (const text of ["palm.*", "a?", "[a]", "{a,b}", "a}", "a]"]) {
    equal(isPattern(text), true, text);
  }
  for (const text of ["palm.cpu", "a+b", "a,b", "-", "temp.°C"]) {
    equal(isPattern(text), false, text);
  }
});

Deno.test("Store.match() returns series in the order they were first put", async (t) => {
  const store = new Store();
  for (const key of ["b.x", "a.x", "c.y", "a.y", "b.x.z"]) store.put(key, 1, 1);
  store.put("a.x", 2, 2); // a later put does not move a series

  await t.step("not in the order of the alternatives", () => {
    deepEqual(matched(store, "{c,a,b}.*"), ["b.x", "a.x", "c.y", "a.y"]);
  });
  await t.step("each series once, whatever alternatives match it", () => {
    deepEqual(matched(store, "{a.*,*.x,a.x}"), ["b.x", "a.x", "a.y"]);
  });
  await t.step("a literal key", () => {
    deepEqual(matched(store, "a.x"), ["a.x"]);
    deepEqual(matched(store, "a.z"), []);
  });
  await t.step("no crossing of dots", () => {
    deepEqual(matched(store, "*"), []);
    deepEqual(matched(store, "b.*"), ["b.x"]);
    deepEqual(matched(store, "*.*.*"), ["b.x.z"]);
  });
  await t.step("a deleted and re-put series comes last", () => {
    equal(store.delete("b.x"), true);
    store.put("b.x", 3, 3);
    deepEqual(matched(store, "*.*"), ["a.x", "c.y", "a.y", "b.x"]);
  });
});

Deno.test("Store.match() forgets deleted series and keeps their neighbours", () => {
  const store = new Store();
  for (const key of ["a", "a.b", "a.b.c", "a.b.d", "a.e"]) store.put(key, 1, 1);

  store.delete("a.b");
  deepEqual(matched(store, "a.*"), ["a.e"]);
  deepEqual(matched(store, "a.*.*"), ["a.b.c", "a.b.d"], "deeper series stay");
  deepEqual(matched(store, "a"), ["a"], "the parent stays");

  store.delete("a.b.c");
  store.delete("a.b.d");
  deepEqual(matched(store, "a.*.*"), []);
  deepEqual(matched(store, "a.b"), []);
  deepEqual(matched(store, "a.*"), ["a.e"]);

  // The emptied branch can grow again.
  store.put("a.b.c", 5, 5);
  deepEqual(matched(store, "a.*.*"), ["a.b.c"]);
  deepEqual(store.get("a.b.c")?.toArray(), [[5, 5]], "only the new sample");

  for (const key of ["a", "a.e", "a.b.c"]) store.delete(key);
  deepEqual(matched(store, "*"), []);
  deepEqual(matched(store, "*.*"), []);
  deepEqual(matched(store, "*.*.*"), []);
  deepEqual(store.stats, { series: 0, samples: 0 });
});

Deno.test("Store.match() agrees with Pattern.test() on random keys", () => {
  const random = rng(6);
  const segments = ["a", "b", "ab", "ba", "c1", "c2", ""];
  const keys = new Set<string>();
  while (keys.size < 300) {
    const depth = randomInt(random, 1, 4);
    const parts = Array.from(
      { length: depth },
      () => segments[randomInt(random, 0, segments.length - 1)],
    );
    keys.add(parts.join("."));
  }
  const store = new Store();
  // Delete some and put them back, to mix the creation order further.
  const order = [...keys].filter((key) => key.length > 0);
  for (const key of order) store.put(key, 1, 1);
  const deleted = order.filter((_, i) => i % 7 === 3);
  for (const key of deleted) store.delete(key);
  for (const key of deleted.slice(0, deleted.length / 2)) store.put(key, 1, 1);
  const expectedOrder = [
    ...order.filter((key) => !deleted.includes(key)),
    ...deleted.slice(0, deleted.length / 2),
  ];
  const patterns = [
    "*",
    "*.*",
    "a.*",
    "*.b",
    "a*.*",
    "*a.*.*",
    "?.?",
    "??.*",
    "c[0-9].*",
    "*.c[!1]",
    "{a,b}.*",
    "{a.b,*.c?}.*",
    "{a,{b,ab}}.{*,*.*}",
    "*.*.*.*",
    "a.",
    ".*",
    "*..*",
    "[ab]*.*",
  ];
  for (const source of patterns) {
    const pattern = new Pattern(source);
    deepEqual(
      matched(store, source),
      expectedOrder.filter((key) => pattern.test(key)),
      source,
    );
  }
});

/**
 * Compiles `source` and matches `keys` with it in a worker, so that a pattern
 * that stalls fails by the guard instead of holding the test for minutes.
 */
async function inWorker(
  source: string,
  keys: string[],
): Promise<PatternOutcome> {
  const worker = new Worker(
    new URL("./_pattern_worker.ts", import.meta.url),
    { type: "module" },
  );
  try {
    const outcome = new Promise<PatternOutcome>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<PatternOutcome>) =>
        resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.postMessage({ source, keys } satisfies PatternJob);
    return await within(
      outcome,
      `the pattern ${JSON.stringify(source.slice(0, 40))}`,
    );
  } finally {
    worker.terminate();
  }
}

/** What refusing a pattern for its alternatives looks like. */
const TOO_MANY: PatternOutcome = {
  error: {
    name: "SyntaxError",
    message: "Cannot compile the pattern: more than 1024 alternatives",
  },
};

/** Checks that `source` is refused with exactly `message`. */
function refuses(source: string, message: string) {
  throws(() => new Pattern(source), (error: unknown) => {
    assert(error instanceof SyntaxError, String(error));
    equal(error.message, message);
    return true;
  });
}

Deno.test("new Pattern() counts alternatives before it expands them", async (t) => {
  await t.step("`{a,a}` repeated is refused at once", async () => {
    for (const times of [30, 22, 11, 800]) {
      deepEqual(await inWorker("{a,a}".repeat(times), ["a"]), TOO_MANY);
    }
  });
  await t.step("groups one after another multiply", () => {
    equal(new Pattern("{a,b}".repeat(10)).alternatives.length, 1024);
    refuses("{a,b}".repeat(9) + "{a,b,c}", TOO_MANY.error.message);
  });
  await t.step("a group sums its choices, and nested groups nest", () => {
    // 1 + 2 = 3 each, 3^6 = 729 and 3^7 = 2187.
    equal(new Pattern("{a,{b,c}}".repeat(6)).alternatives.length, 729);
    refuses("{a,{b,c}}".repeat(7), TOO_MANY.error.message);
    // 1 + (1 + 2) = 4 each, 4^5 = 1024.
    equal(new Pattern("{a,{b,{c,d}}}".repeat(5)).alternatives.length, 1024);
    refuses("{a,{b,{c,d}}}".repeat(5) + "{a,b}", TOO_MANY.error.message);
    refuses(`{${"a,".repeat(1024)}a}`, TOO_MANY.error.message);
  });
  await t.step("duplicates count, and are matched once", () => {
    const pattern = new Pattern("{a,a}".repeat(10));
    equal(pattern.alternatives.length, 1);
    equal(pattern.literal, true);
    equal(pattern.test("a".repeat(10)), true);
  });
  await t.step("deep nesting of one choice", () => {
    const pattern = new Pattern(`${"{".repeat(2000)}a.b${"}".repeat(2000)}`);
    equal(pattern.literal, true);
    equal(pattern.test("a.b"), true);
  });
});

Deno.test("new Pattern() refuses a pattern that would cost too much", async (t) => {
  // 1024 alternatives of 10 characters before the suffix.
  const prefix = "{a,b}".repeat(10);
  await t.step("up to 65536 characters over all alternatives", () => {
    equal(new Pattern(prefix + "x".repeat(54)).alternatives.length, 1024);
    refuses(
      prefix + "x".repeat(55),
      "Cannot compile the pattern: it would cost too much: its 1024 alternatives hold 66560 characters in all, more than 65536",
    );
  });
  await t.step("a 4 KiB pattern of 1024 alternatives", async () => {
    deepEqual(await inWorker(prefix + "x".repeat(4000), ["a"]), {
      error: {
        name: "SyntaxError",
        message:
          "Cannot compile the pattern: it would cost too much: its 1024 alternatives hold 4106240 characters in all, more than 65536",
      },
    });
  });
  await t.step("a run of stars costs two characters", async () => {
    const keys = [
      "a".repeat(10) + "y".repeat(30),
      "abababababzzzx",
      "bbbbbbbbbbx",
      "cbbbbbbbbbx",
      "aaaaaaaaaa.x",
    ];
    deepEqual(await inWorker(prefix + "*".repeat(4000) + "x", keys), {
      tested: ["abababababzzzx", "bbbbbbbbbbx"],
      matched: ["abababababzzzx", "bbbbbbbbbbx"],
    });
  });
  await t.step("up to 64 steps a character or segment of a key", () => {
    const steps = (n: number) =>
      `Cannot compile the pattern: it would cost too much: up to ${n} steps a character or segment of a key, more than 64`;
    // Between two stars: a word per 32 characters, a step per distinct class.
    const letters = "abcdefghijklmnopqrstuvwxyz";
    const classes = (n: number) =>
      Array.from(
        { length: n },
        (_, i) => `[${letters[i % 26]}${letters[Math.floor(i / 26)]}]`,
      ).join("");
    const classy = new Pattern(`*${classes(62)}*`);
    equal(classy.test(`x${"ab".repeat(10_000)}`), false);
    const firsts = Array.from({ length: 62 }, (_, i) => letters[i % 26]);
    equal(classy.test(`x${firsts.join("")}y`), true);
    refuses(`*${classes(64)}*`, steps(66));
    equal(new Pattern(`*${"a".repeat(2048)}*`).test("a".repeat(3000)), true);
    refuses(`*${"a".repeat(2049)}*`, steps(65));
    // After `**`: a word per 32 segments, a step per distinct glob.
    const globs = (n: number) =>
      Array.from({ length: n }, (_, i) => `${letters[i % 26]}${i}*`).join(".");
    equal(new Pattern(`**.${globs(62)}`).test(`x.${globs(62)}`), true);
    refuses(`**.${globs(63)}`, steps(65));
    // The same glob twice is tested once.
    equal(new Pattern(`**${".a*".repeat(62)}`).alternatives.length, 1);
  });
});

Deno.test("Pattern.test() and Store.match() never backtrack", async (t) => {
  await t.step("many stars before a character that is not there", async () => {
    const keys = ["a".repeat(24) + ".cpu", "a".repeat(23) + "x.cpu"];
    for (const stars of [12, 16, 4000]) {
      deepEqual(await inWorker("*".repeat(stars) + "x.cpu", keys), {
        tested: [keys[1]],
        matched: [keys[1]],
      });
    }
  });
  await t.step("stars between pieces that almost match", async () => {
    const source = "*" + "a*".repeat(30) + "b";
    const keys = ["a".repeat(29) + "b", "a".repeat(200), "a".repeat(30) + "b"];
    deepEqual(await inWorker(source, keys), {
      tested: [keys[2]],
      matched: [keys[2]],
    });
  });
  await t.step("pieces longer than a machine word", () => {
    // 80 characters between the stars: three words of shift-and.
    const pattern = new Pattern(`x*${"[ab]?".repeat(40)}*c`);
    equal(pattern.test(`x${"ab".repeat(1000)}c`), true);
    equal(pattern.test(`x${"ab".repeat(1000)}`), false);
    equal(pattern.test(`x${"ab".repeat(39)}ac`), false);
    equal(pattern.test(`x${"ab".repeat(39)}a😀c`), true);
    equal(pattern.test(`x${"ca".repeat(40)}c`), false);
    equal(pattern.test(`xz${"bb".repeat(40)}zc`), true);
  });
});

Deno.test("Pattern.test() reads `**` as one or more whole segments", async (t) => {
  await t.step("alone, every key", () => {
    checkMatches("**", ["palm", "palm.cpu", "palm.disk.root", "."], []);
  });
  await t.step("below a prefix", () => {
    checkMatches("palm.**", ["palm.cpu", "palm.disk.root", "palm."], [
      "palm",
      "eardrum.cpu",
      "palmx.cpu",
    ]);
  });
  await t.step("between segments", () => {
    checkMatches("a.**.cpu", ["a.x.cpu", "a.x.y.cpu", "a.cpu.cpu"], [
      "a.cpu",
      "b.x.cpu",
      "a.x.cpux",
      "a.x.cpu.y",
    ]);
    checkMatches("**.cpu", ["palm.cpu", "a.b.cpu"], ["cpu", "palm.memory"]);
  });
  await t.step("twice, at least a segment each", () => {
    checkMatches("a.**.**.b", ["a.x.y.b", "a.1.2.3.b"], ["a.x.b", "a.b"]);
  });
  await t.step("three stars or more are two", () => {
    checkMatches("palm.***", ["palm.cpu", "palm.disk.root"], ["palm"]);
    checkMatches("palm.c***", ["palm.cpu"], ["palm.c.x"]);
  });
  await t.step("from alternatives", () => {
    checkMatches("{palm,eardrum}.**", ["palm.cpu", "eardrum.disk.root"], [
      "mouse.cpu",
    ]);
    checkMatches("palm.{cpu,**.root}", ["palm.cpu", "palm.disk.root"], [
      "palm.root",
      "palm.memory",
    ]);
    checkMatches("{*,**}*", ["a", "a.b.c"], []);
  });
  await t.step("in a class, a star", () => {
    checkMatches("a.[**]", ["a.*"], ["a.b", "a.b.c"]);
  });
  await t.step("not a literal", () => {
    equal(new Pattern("**").literal, false);
    equal(new Pattern("palm.**").literal, false);
  });
});

Deno.test("Store.match() follows `**` to any depth, each node once per place", async (t) => {
  const store = new Store();
  for (const key of ["palm.cpu", "palm.disk.root", "eardrum.cpu", "palm"]) {
    store.put(key, 1, 1);
  }
  await t.step("the keys below a prefix", () => {
    deepEqual(matched(store, "palm.**"), ["palm.cpu", "palm.disk.root"]);
    deepEqual(matched(store, "**"), [
      "palm.cpu",
      "palm.disk.root",
      "eardrum.cpu",
      "palm",
    ]);
    deepEqual(matched(store, "**.cpu"), ["palm.cpu", "eardrum.cpu"]);
    deepEqual(matched(store, "*.**.root"), ["palm.disk.root"]);
  });
  await t.step("a key thousands of segments deep", async () => {
    // Without visiting each pair once, `**` four times would try every way
    // to cut 5000 segments in four.
    const deep = `${"a.".repeat(5000)}b`;
    const keys = [deep, `${"a.".repeat(3000)}c`, "a.b"];
    deepEqual(await inWorker("**.**.**.**.b", keys), {
      tested: [deep],
      matched: [deep],
    });
    deepEqual(await inWorker("a.**.a.**.a.**", keys), {
      tested: [deep, keys[1]],
      matched: [deep, keys[1]],
    });
  });
});

/** Brace expansion the plain way: the first group, recursively. */
function referenceExpand(source: string): string[] {
  const open = source.indexOf("{");
  if (open === -1) return [source];
  let depth = 0;
  let close = -1;
  const commas: number[] = [];
  for (let i = open; close === -1; i++) {
    if (source[i] === "{") depth++;
    else if (source[i] === "}" && --depth === 0) close = i;
    else if (source[i] === "," && depth === 1) commas.push(i);
  }
  const bounds = [open, ...commas, close];
  const results: string[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const choice = source.slice(bounds[i] + 1, bounds[i + 1]);
    for (const rest of referenceExpand(choice + source.slice(close + 1))) {
      results.push(source.slice(0, open) + rest);
    }
  }
  return results;
}

/** A glob's match of whole segments, recursively; `**` takes one or more. */
function referenceSegments(globs: string[], names: string[]): boolean {
  if (globs.length === 0) return names.length === 0;
  const [glob, ...rest] = globs;
  if (/^\*{2,}$/.test(glob)) {
    for (let n = 1; n <= names.length; n++) {
      if (referenceSegments(rest, names.slice(n))) return true;
    }
    return false;
  }
  return names.length > 0 &&
    referenceChars(Array.from(glob), Array.from(names[0])) &&
    referenceSegments(rest, names.slice(1));
}

/** A segment's glob against a name, character by character, recursively. */
function referenceChars(glob: string[], name: string[]): boolean {
  if (glob.length === 0) return name.length === 0;
  const [c, ...rest] = glob;
  if (c === "*") {
    return referenceChars(rest, name) ||
      (name.length > 0 && referenceChars(glob, name.slice(1)));
  }
  if (name.length === 0) return false;
  if (c === "?") return referenceChars(rest, name.slice(1));
  if (c === "[") {
    const close = rest.indexOf("]", 1);
    let body = rest.slice(0, close);
    const negated = body[0] === "!" || body[0] === "^";
    if (negated) body = body.slice(1);
    const code = name[0].codePointAt(0)!;
    let inside = false;
    for (let i = 0; i < body.length; i++) {
      if (body[i + 1] === "-" && i + 2 < body.length) {
        inside ||= body[i].codePointAt(0)! <= code &&
          code <= body[i + 2].codePointAt(0)!;
        i += 2;
      } else {
        inside ||= body[i] === name[0];
      }
    }
    return inside !== negated &&
      referenceChars(rest.slice(close + 1), name.slice(1));
  }
  return c === name[0] && referenceChars(rest, name.slice(1));
}

function referenceMatch(source: string, key: string): boolean {
  // The generated classes hold no dot, so a dot always splits segments.
  return referenceExpand(source).some((glob) =>
    referenceSegments(glob.split("."), key.split("."))
  );
}

const LITERALS = ["a", "b", "c", "😀"];
const CLASSES = ["[ab]", "[!a]", "[^b]", "[a-c]", "[😀c]", "[!😀]", "[b-😀]"];

function pick(random: () => number, items: string[]): string {
  return items[randomInt(random, 0, items.length - 1)];
}

/** A small random pattern: characters, wildcards, classes, dots, braces. */
function randomPattern(random: () => number, depth = 0): string {
  let out = "";
  for (let i = randomInt(random, 1, 5); i > 0; i--) {
    const r = random();
    if (r < 0.3) out += pick(random, LITERALS);
    else if (r < 0.42) out += "*";
    else if (r < 0.5) out += "?";
    else if (r < 0.6) out += pick(random, CLASSES);
    else if (r < 0.74) out += ".";
    else if (r < 0.84) out += pick(random, ["**", ".**", "**.", ".**."]);
    else if (depth < 2) {
      const choices = Array.from(
        { length: randomInt(random, 1, 3) },
        () => random() < 0.15 ? "" : randomPattern(random, depth + 1),
      );
      out += `{${choices.join(",")}}`;
    } else out += pick(random, LITERALS);
  }
  return out;
}

function randomKey(random: () => number): string {
  const names = Array.from({ length: randomInt(random, 1, 4) }, () => {
    let name = "";
    for (let i = randomInt(random, 0, 3); i > 0; i--) {
      name += pick(random, [...LITERALS, "d"]);
    }
    return name;
  });
  return names.join(".");
}

Deno.test("Pattern.test() and Store.match() agree with a plain recursive matcher", () => {
  const random = rng(11);
  const keys = new Set<string>();
  while (keys.size < 400) {
    const key = randomKey(random);
    if (key.length > 0) keys.add(key);
  }
  const store = new Store();
  for (const key of keys) store.put(key, 1, 1);
  const order = [...keys];
  let matches = 0;
  for (let n = 0; n < 1500; n++) {
    const source = randomPattern(random);
    const pattern = new Pattern(source);
    const expected = order.filter((key) => referenceMatch(source, key));
    matches += expected.length;
    deepEqual(order.filter((key) => pattern.test(key)), expected, source);
    deepEqual(matched(store, source), expected, source);
  }
  // Enough of the cases match for the agreement to mean something.
  assert(matches > 1500 * 10, `only ${matches} matches`);
});
