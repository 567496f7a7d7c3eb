import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import {
  decodeChunk,
  encodeChunk,
  EncodedChunk,
  isKey,
  MAX_CHUNK_SAMPLES,
  Series,
  Store,
} from "../store.ts";
import { randomInt, rng, shuffle } from "./_helpers.ts";

type Pair = [timestamp: number, value: number];

/** A plainly correct series: a Map, sorted when read. */
class ReferenceSeries {
  #samples = new Map<number, number>();

  put(timestamp: number, value: number): boolean {
    const added = !this.#samples.has(timestamp);
    this.#samples.set(timestamp, value);
    return added;
  }

  get size(): number {
    return this.#samples.size;
  }

  dropBefore(cutoff: number): number {
    let dropped = 0;
    for (const timestamp of this.#samples.keys()) {
      if (timestamp < cutoff) {
        this.#samples.delete(timestamp);
        dropped++;
      }
    }
    return dropped;
  }

  toArray(from = -Infinity, to = Infinity): Pair[] {
    return [...this.#samples]
      .filter(([t]) => from <= t && t <= to)
      .sort((a, b) => a[0] - b[0]);
  }
}

/** Puts every pair into both series, checking now and then that they agree. */
function putBoth(
  series: Series,
  reference: ReferenceSeries,
  pairs: Pair[],
  checkEvery = 997,
): void {
  pairs.forEach(([timestamp, value], i) => {
    equal(
      series.put(timestamp, value),
      reference.put(timestamp, value),
      `put #${i} at ${timestamp}: new or replaced`,
    );
    if (i % checkEvery === 0) {
      deepEqual(series.toArray(), reference.toArray(), `after put #${i}`);
    }
  });
  deepEqual(series.toArray(), reference.toArray());
  equal(series.length, reference.size);
  const all = reference.toArray();
  equal(series.first, all[0]?.[0]);
  equal(series.last, all.at(-1)?.[0]);
}

/** Reads `[from, to]` through arrays of `size`, resuming after each read. */
function readByCursor(
  series: Series,
  from: number,
  to: number,
  size: number,
): Pair[] {
  const timestamps = new Float64Array(size);
  const values = new Float64Array(size);
  const pairs: Pair[] = [];
  let cursor = from;
  for (let reads = 0;; reads++) {
    assert(reads <= series.length + 2, "the cursor does not advance");
    const n = series.read(cursor, to, timestamps, values);
    assert(0 <= n && n <= size, `read ${n} into ${size}`);
    for (let i = 0; i < n; i++) pairs.push([timestamps[i], values[i]]);
    if (n < size) return pairs;
    cursor = timestamps[n - 1] + 1;
  }
}

Deno.test("Series.put() appends in-order samples across many chunks", () => {
  const series = new Series("k");
  const reference = new ReferenceSeries();
  const pairs: Pair[] = Array.from(
    { length: 5000 },
    (_, i) => [1_500_000_000 + i * 10, i / 2],
  );
  putBoth(series, reference, pairs, 101);
  equal(series.key, "k");
  equal(series.first, 1_500_000_000);
  equal(series.last, 1_500_000_000 + 4999 * 10);
});

Deno.test("Series.put() inserts out-of-order samples in their place", async (t) => {
  const random = rng(1234);
  const variants: [string, () => number[]][] = [
    ["random order", () => shuffle(random, range(5000))],
    ["descending", () => range(5000).reverse()],
    ["in order with late arrivals", () => {
      const ts = range(5000);
      for (let i = 0; i < 500; i++) {
        const a = randomInt(random, 0, 4999);
        const b = Math.min(4999, a + randomInt(random, 1, 50));
        [ts[a], ts[b]] = [ts[b], ts[a]];
      }
      return ts;
    }],
    ["two interleaved runs", () => {
      const ts: number[] = [];
      for (let i = 0; i < 2500; i++) ts.push(i, 2500 + i);
      return ts;
    }],
    ["into the middle of full chunks", () => [
      ...range(3000).map((i) => i * 2),
      ...shuffle(random, range(3000).map((i) => i * 2 + 1)),
    ]],
    ["always before the first", () => range(2000).map((i) => -i)],
    [
      "negative and positive",
      () => shuffle(random, range(4000).map((i) => (i - 2000) * 7)),
    ],
    ["far apart, in order", () => range(3000).map((i) => (i - 1500) * 2 ** 40)],
    [
      "far apart, in random order",
      () => shuffle(random, wideTimestamps(random)),
    ],
    [
      "far apart, descending",
      () => wideTimestamps(random).sort((a, b) => b - a),
    ],
  ];
  for (const [name, timestamps] of variants) {
    await t.step(name, () => {
      const series = new Series("k");
      const reference = new ReferenceSeries();
      putBoth(
        series,
        reference,
        timestamps().map((ts) => [ts, random() * 100]),
      );
    });
  }
});

Deno.test("Series.put() replaces the value of an equal timestamp", async (t) => {
  await t.step("in the last chunk and in earlier ones", () => {
    const series = new Series("k");
    for (let i = 0; i < 3000; i++) equal(series.put(i, i), true);
    for (const ts of [2999, 0, 1, 511, 512, 1024, 1500, 2998]) {
      equal(series.put(ts, -ts - 0.5), false, `replace ${ts}`);
      equal(series.length, 3000);
    }
    const values = new Map(series.toArray());
    equal(values.get(1500), -1500.5);
    equal(values.get(0), -0.5);
    equal(values.get(2), 2);
  });
  await t.step("mixed with inserts in random order", () => {
    const random = rng(99);
    const series = new Series("k");
    const reference = new ReferenceSeries();
    const pairs: Pair[] = Array.from(
      { length: 20_000 },
      () => [randomInt(random, 0, 3000), randomInt(random, -50, 50)],
    );
    putBoth(series, reference, pairs);
  });
  await t.step("keeps -0 apart from 0 as a value", () => {
    const series = new Series("k");
    series.put(1, 0);
    series.put(1, -0);
    assert(Object.is(series.toArray()[0][1], -0));
  });
});

Deno.test("Series.dropBefore() drops older samples, and puts after it land right", () => {
  // Appends, late samples and drops in turn, some dropping everything, so
  // that appends follow every shape a drop leaves the chunks in.
  const random = rng(5);
  const series = new Series("s");
  const reference = new ReferenceSeries();
  let next = 0;
  for (let round = 0; round < 400; round++) {
    const pairs: Pair[] = [];
    for (let i = randomInt(random, 0, 1500); i > 0; i--) {
      const late = random() < 0.1;
      const timestamp = late ? next - randomInt(random, 1, 3000) : next++;
      pairs.push([timestamp, randomInt(random, 0, 99)]);
    }
    putBoth(series, reference, pairs, 499);
    const cutoff = random() < 0.1
      ? next + randomInt(random, 0, 5)
      : next - randomInt(random, 0, 2000);
    equal(series.dropBefore(cutoff), reference.dropBefore(cutoff));
    deepEqual(series.toArray(), reference.toArray(), `after drop ${round}`);
    equal(series.length, reference.size);
    const all = reference.toArray();
    equal(series.first, all[0]?.[0]);
    equal(series.last, all.at(-1)?.[0]);
  }
});

Deno.test("Series.read() copies a range, resuming like a cursor", async (t) => {
  const random = rng(5);
  const series = new Series("k");
  const reference = new ReferenceSeries();
  const timestamps = shuffle(random, range(6000).map((i) => i * 3 - 3000));
  putBoth(series, reference, timestamps.map((ts) => [ts, ts / 7]));
  const ranges: [number, number][] = [
    [-Infinity, Infinity],
    [-3000, 14997],
    [0, 0],
    [1, 1],
    [-2999, 2],
    [100, 4000],
    [14997, Infinity],
    [14998, Infinity],
    [-Infinity, -3001],
    [-Infinity, -3000],
    [5000, 4000],
  ];
  for (const size of [1, 2, 3, 7, 256, 511, 512, 513, 1000, 7000]) {
    await t.step(`through arrays of ${size}`, () => {
      for (const [from, to] of ranges) {
        deepEqual(
          readByCursor(series, from, to, size),
          reference.toArray(from, to),
          `[${from}, ${to}]`,
        );
      }
      for (let i = 0; i < 50; i++) {
        const from = randomInt(random, -3100, 15100);
        const to = from + randomInt(random, -5, 3000);
        deepEqual(
          readByCursor(series, from, to, size),
          reference.toArray(from, to),
          `[${from}, ${to}]`,
        );
      }
    });
  }
  await t.step("an empty series", () => {
    const empty = new Series("e");
    equal(empty.length, 0);
    equal(empty.first, undefined);
    equal(empty.last, undefined);
    deepEqual(empty.toArray(), []);
    equal(
      empty.read(-Infinity, Infinity, new Float64Array(4), new Float64Array(4)),
      0,
    );
  });
  await t.step("puts between the reads neither repeat nor skip", () => {
    const live = new Series("live");
    for (let i = 0; i < 4000; i++) live.put(i * 2, i);
    const out = new Float64Array(100);
    const values = new Float64Array(100);
    const seen: number[] = [];
    let cursor = -Infinity;
    while (true) {
      const n = live.read(cursor, Infinity, out, values);
      for (let i = 0; i < n; i++) seen.push(out[i]);
      if (n < out.length) break;
      cursor = out[n - 1] + 1;
      // New odd timestamps on both sides of the cursor, and replacements.
      for (let i = 0; i < 20; i++) {
        live.put(randomInt(random, 0, 4000) * 2 + 1, -1);
      }
      live.put(cursor - 1, 0);
    }
    for (let i = 1; i < seen.length; i++) {
      assert(
        seen[i - 1] < seen[i],
        `sorted at ${i}: ${seen[i - 1]}, ${seen[i]}`,
      );
    }
    const all = new Set(seen);
    for (let i = 0; i < 4000; i++) assert(all.has(i * 2), `missing ${i * 2}`);
  });
});

Deno.test("Series.read() honours bounds that fall between timestamps", () => {
  const series = new Series("k");
  for (let i = 0; i < 10; i++) series.put(i * 3, i);
  // Samples at multiples of 3: from 0.5 to 5.5 holds 3 only.
  deepEqual(readByCursor(series, 0.5, 5.5, 10), [[3, 1]]);
  deepEqual(readByCursor(series, -0.5, 0.5, 10), [[0, 0]]);
  deepEqual(readByCursor(series, 2.5, 2.9, 10), []);
  deepEqual(readByCursor(series, 26.5, Infinity, 10), [[27, 9]]);
});

Deno.test("Store.put() keeps keys in the order they were first put", () => {
  const store = new Store();
  store.put("b", 1, 10);
  store.put("a", 1, 10);
  store.put("c", 1, 10);
  store.put("a", 2, 5);
  store.put("b", 3, 10);
  deepEqual([...store.series()].map((s) => s.key), ["b", "a", "c"]);
  deepEqual(store.get("a")?.toArray(), [[5, 2], [10, 1]]);
  deepEqual(store.get("b")?.toArray(), [[10, 3]]);
  equal(store.get("missing"), undefined);
  deepEqual(store.stats, { series: 3, samples: 4 });
});

Deno.test("Store.put() holds many series at once", () => {
  const random = rng(77);
  const store = new Store();
  const references = new Map<string, ReferenceSeries>();
  const order: string[] = [];
  for (let i = 0; i < 30_000; i++) {
    const key = `host${randomInt(random, 0, 199)}.cpu`;
    const ts = randomInt(random, 0, 1000);
    const value = randomInt(random, 0, 100) / 4;
    if (!references.has(key)) {
      references.set(key, new ReferenceSeries());
      order.push(key);
    }
    references.get(key)!.put(ts, value);
    store.put(key, value, ts);
  }
  deepEqual([...store.series()].map((s) => s.key), order);
  let samples = 0;
  for (const [key, reference] of references) {
    deepEqual(store.get(key)?.toArray(), reference.toArray(), key);
    samples += reference.size;
  }
  deepEqual(store.stats, { series: order.length, samples });
});

Deno.test("Store.delete() removes a series and its samples", () => {
  const store = new Store();
  store.put("a", 1, 1);
  store.put("a", 2, 2);
  store.put("b", 3, 3);
  equal(store.delete("a"), true);
  equal(store.delete("a"), false);
  equal(store.delete("never"), false);
  equal(store.get("a"), undefined);
  deepEqual(store.stats, { series: 1, samples: 1 });
  store.put("a", 9, 9);
  deepEqual([...store.series()].map((s) => s.key), ["b", "a"], "a is new");
  deepEqual(store.get("a")?.toArray(), [[9, 9]]);
  deepEqual(store.stats, { series: 2, samples: 2 });
});

Deno.test("Store.series() sees series added while iterating", () => {
  const store = new Store();
  store.put("a", 1, 1);
  const keys: string[] = [];
  for (const series of store.series()) {
    keys.push(series.key);
    if (series.key === "a") store.put("b", 1, 1);
  }
  deepEqual(keys, ["a", "b"]);
});

Deno.test("Store.put() refuses bad keys, values and timestamps", async (t) => {
  const store = new Store();
  store.put("ok", 1, 1);
  await t.step("a key that is empty or holds whitespace: TypeError", () => {
    for (
      const key of [
        "",
        " ",
        "a b",
        "a\tb",
        "a\nb",
        "a\rb",
        "a\u00a0b",
        "a\u000bb",
      ]
    ) {
      throws(() => store.put(key, 1, 1), TypeError, JSON.stringify(key));
    }
  });
  await t.step("a value that is not finite: RangeError", () => {
    for (const value of [NaN, Infinity, -Infinity]) {
      throws(() => store.put("ok", value, 2), RangeError, String(value));
      throws(() => store.put("new", value, 2), RangeError, String(value));
    }
  });
  await t.step("a timestamp that is not a safe integer: RangeError", () => {
    for (
      const ts of [1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 1e300]
    ) {
      throws(() => store.put("ok", 1, ts), RangeError, String(ts));
    }
  });
  await t.step("nothing was stored by the refused puts", () => {
    deepEqual(store.stats, { series: 1, samples: 1 });
    deepEqual([...store.series()].map((s) => s.key), ["ok"]);
    deepEqual(store.get("ok")?.toArray(), [[1, 1]]);
  });
  await t.step("the safe integer bounds are accepted", () => {
    store.put("edge", 1, Number.MAX_SAFE_INTEGER);
    store.put("edge", 2, -Number.MAX_SAFE_INTEGER);
    deepEqual(store.get("edge")?.toArray(), [
      [-Number.MAX_SAFE_INTEGER, 2],
      [Number.MAX_SAFE_INTEGER, 1],
    ]);
  });
});

Deno.test("isKey() accepts non-empty names without whitespace", () => {
  for (const key of ["palm.cpu", "*", "temp.°C", "😀", "a-b_c:d/e"]) {
    equal(isKey(key), true, key);
  }
  for (const key of ["", " ", "a b", "a\tb", "a\u2003b", "\n"]) {
    equal(isKey(key), false, JSON.stringify(key));
  }
});

/**
 * Timestamps over the whole safe range, with clusters around 32-bit
 * distances, so that samples of one series lie more than 2^31 apart.
 */
function wideTimestamps(random: () => number): number[] {
  const set = new Set<number>([
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    0,
  ]);
  const around = [0, 2 ** 31, -(2 ** 31), 2 ** 32, 1_700_000_000 + 2 ** 31];
  while (set.size < 4000) {
    const kind = randomInt(random, 0, 2);
    if (kind === 0) {
      set.add(
        randomInt(random, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      );
    } else if (kind === 1) {
      set.add(
        around[randomInt(random, 0, around.length - 1)] +
          randomInt(random, -3, 3),
      );
    } else {
      set.add(1_700_000_000 + randomInt(random, 0, 5000));
    }
  }
  return [...set];
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

Deno.test("Series.read() reads timestamps far apart", () => {
  const random = rng(2024);
  const series = new Series("wide");
  const reference = new ReferenceSeries();
  putBoth(
    series,
    reference,
    shuffle(random, wideTimestamps(random)).map((ts) => [ts, ts % 1000]),
  );
  const all = reference.toArray();
  for (const size of [1, 5, 512, 5000]) {
    deepEqual(
      readByCursor(series, -Infinity, Infinity, size),
      all,
      `size ${size}`,
    );
    for (let i = 0; i < 30; i++) {
      const a = all[randomInt(random, 0, all.length - 1)][0];
      const b = all[randomInt(random, 0, all.length - 1)][0];
      const [from, to] = a <= b ? [a, b] : [b, a];
      deepEqual(
        readByCursor(series, from, to, size),
        reference.toArray(from, to),
      );
      deepEqual(
        readByCursor(series, from + 1, to - 1, size),
        reference.toArray(from + 1, to - 1),
      );
    }
  }
});

Deno.test("Store.chunkFigures() counts the bytes and samples of each encoding", () => {
  const store = new Store();
  const random = rng(21);
  for (let i = 0; i < 1000; i++) {
    store.put("cpu", randomInt(random, 0, 1000) / 10, 1_700_000_000 + 10 * i);
    store.put("noise", random(), 1_700_000_000 + 10 * i);
  }
  store.put("short", 1, 1);
  const figures = () => store.chunkFigures().encodings;
  const { raw, decimal, xor } = figures();
  equal(raw.samples + decimal.samples + xor.samples, store.stats.samples);
  // Seven sealed chunks of 128 each, and heads of 104, 104 and 1.
  deepEqual([decimal.samples, xor.samples, raw.samples], [896, 896, 209]);
  equal(raw.bytes, (128 + 128 + 4) * 12);
  assert(decimal.bytes < xor.bytes / 2, `${decimal.bytes} vs ${xor.bytes}`);
  assert(store.chunkFigures().pageBytes >= decimal.bytes + xor.bytes);
  store.delete("noise");
  deepEqual(figures().xor, { bytes: 0, samples: 0 });
  equal(figures().raw.bytes, (128 + 4) * 12);
  store.delete("cpu");
  store.delete("short");
  deepEqual(figures(), {
    raw: { bytes: 0, samples: 0 },
    decimal: { bytes: 0, samples: 0 },
    xor: { bytes: 0, samples: 0 },
  });
});

Deno.test("Store.delete() frees arena pages: what is left of a page moves out", () => {
  const store = new Store();
  const expected = new Map<string, Pair[]>();
  const random = rng(22);
  // Random doubles, about 5 bytes a sample: pages fill in turn.
  for (let i = 0; i < 4000; i++) {
    for (let s = 0; s < 200; s++) {
      store.put(`s${s}`, random() * 1e6, 1_700_000_000 + i);
    }
  }
  for (let s = 0; s < 200; s++) {
    expected.set(`s${s}`, store.get(`s${s}`)!.toArray());
  }
  const before = store.chunkFigures();
  for (let s = 0; s < 200; s++) if (s % 3 !== 0) store.delete(`s${s}`);
  const after = store.chunkFigures();
  // Two thirds of every page were freed: what was left of each page but the
  // one being filled moved, and the pages were dropped.
  assert(
    after.pageBytes < before.pageBytes * 0.6,
    `${after.pageBytes} bytes of pages, from ${before.pageBytes}`,
  );
  for (let s = 0; s < 200; s += 3) {
    deepEqual(store.get(`s${s}`)!.toArray(), expected.get(`s${s}`), `s${s}`);
  }
});

Deno.test("Store.putChunk() keeps a chunk after the latest sample as it is, and puts the others", () => {
  const store = new Store();
  const scratch = {
    timestamps: new Float64Array(MAX_CHUNK_SAMPLES),
    values: new Float64Array(MAX_CHUNK_SAMPLES),
  };
  const chunk = (from: number, n: number, value: number) => {
    const bytes = encodeChunk({
      timestamps: Float64Array.from({ length: n }, (_, i) => from + i),
      values: new Float64Array(n).fill(value),
    }, n).slice();
    return new EncodedChunk(bytes, scratch);
  };
  const first = chunk(100, 50, 1.5);
  store.putChunk("k", first, scratch);
  const second = chunk(150, 50, 2.5);
  store.putChunk("k", second, scratch);
  equal(store.stats.samples, 100);
  const figures = store.chunkFigures().encodings;
  deepEqual(figures.decimal, {
    bytes: first.bytes.length + second.bytes.length,
    samples: 100,
  });
  // Overlapping: put one by one, replacing 25 and adding 25.
  store.putChunk("k", chunk(175, 50, 3.5), scratch);
  equal(store.stats.samples, 125);
  const samples = store.get("k")!.toArray();
  deepEqual(samples.slice(73, 77), [[173, 2.5], [174, 2.5], [175, 3.5], [
    176,
    3.5,
  ]]);
  equal(samples.at(-1)![0], 224);
  throws(() => store.putChunk("bad key", first, scratch), TypeError);
});

Deno.test("Series.chunks() hands over encoded chunks, resuming from any timestamp", async (t) => {
  const random = rng(23);
  const series = new Series("k");
  for (let i = 0; i < 2000; i++) {
    series.put(1_000_000 + i * 10, randomInt(random, 0, 100));
  }
  // Late samples split and grow sealed chunks; far ones get their own.
  for (let i = 0; i < 300; i++) {
    series.put(1_000_000 + randomInt(random, 0, 19990), -1);
  }
  series.put(-(2 ** 50), 7);
  const all = series.toArray();
  const scratch = {
    timestamps: new Float64Array(MAX_CHUNK_SAMPLES),
    values: new Float64Array(MAX_CHUNK_SAMPLES),
  };
  const collect = (from: number, bytes: number) => {
    const pairs: Pair[] = [];
    let next: number | undefined = from;
    let calls = 0;
    while (next !== undefined) {
      calls++;
      next = series.chunks(next, bytes, (chunk) => {
        const n = decodeChunk(chunk, scratch);
        for (let i = 0; i < n; i++) {
          pairs.push([scratch.timestamps[i], scratch.values[i]]);
        }
      });
    }
    return { pairs, calls };
  };
  await t.step("all at once", () => {
    const { pairs, calls } = collect(-Infinity, Infinity);
    deepEqual(pairs, all);
    equal(calls, 1);
  });
  await t.step("a chunk a call", () => {
    const { pairs, calls } = collect(-Infinity, 1);
    deepEqual(pairs, all);
    assert(calls > 10, `${calls} calls`);
  });
  await t.step("from the middle of a chunk", () => {
    const from = all[1234][0];
    deepEqual(collect(from, 100).pairs, all.slice(1234));
  });
});

Deno.test("Series.dropBefore() of every sample leaves a series that starts afresh", () => {
  const series = new Series("k");
  for (let i = 0; i < 300; i++) series.put(1000 + i, i);
  equal(series.dropBefore(Infinity), 300);
  deepEqual([series.length, series.first, series.last], [
    0,
    undefined,
    undefined,
  ]);
  series.put(5, 0.5);
  series.put(3, 0.25);
  deepEqual(series.toArray(), [[3, 0.25], [5, 0.5]]);
  deepEqual([series.length, series.first, series.last], [2, 3, 5]);
});
