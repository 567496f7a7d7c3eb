import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import { isPattern, Pattern } from "../store/pattern.ts";
import { Store } from "../store.ts";
import { randomInt, rng } from "./_helpers.ts";

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
  await t.step("doubled, still one segment", () => {
    checkMatches("palm.**", ["palm.cpu"], ["palm.disk.root"]);
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
