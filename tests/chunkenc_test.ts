/**
 * The chunk encodings of store/chunkenc: every double comes back bit for bit
 * (a million random values of each class), every branch of every encoding
 * is taken (the tests read the layouts back from the bits), and decoders fed
 * random or damaged bytes throw a clear error without reading past their
 * bytes.
 *
 * @module
 */

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
  Encoding,
  MAX_CHUNK_SAMPLES,
  type SampleColumns,
} from "../store/chunkenc/chunkenc.ts";
import { BitReader, BitWriter } from "../store/chunkenc/_bits.ts";
import { IntColumn, readIntColumn } from "../store/chunkenc/_int_column.ts";
import { randomInt, rng } from "./_helpers.ts";

const VALUES_PER_CLASS = 1_000_000;
const FLOAT = new Float64Array(1);
const HALVES = new Uint32Array(FLOAT.buffer);

function columns(n: number): SampleColumns {
  return { timestamps: new Float64Array(n), values: new Float64Array(n) };
}

/** A double from its two 32-bit halves. */
function fromBits(hi: number, lo: number): number {
  HALVES[1] = hi >>> 0;
  HALVES[0] = lo >>> 0;
  return FLOAT[0];
}

/** The 64 bits of a double, as a string to compare. */
function bits(value: number): string {
  FLOAT[0] = value;
  return `${HALVES[1].toString(16)}:${HALVES[0].toString(16)}`;
}

/** Strictly increasing timestamps in one of several shapes, within 2^32. */
function timestamps(random: () => number, n: number): Float64Array {
  const out = new Float64Array(n);
  const shape = randomInt(random, 0, 3);
  let t = randomInt(random, -(2 ** 40), 2 ** 40);
  const step = randomInt(random, 1, 100);
  for (let i = 0; i < n; i++) {
    out[i] = t;
    if (shape === 0) t += step;
    else if (shape === 1) t += step + (random() < 0.02 ? 1 : 0);
    else if (shape === 2) t += randomInt(random, 1, 1000);
    else t += random() < 0.01 ? randomInt(random, 1, 2 ** 20) : 1;
  }
  return out;
}

/**
 * Encodes `values` in chunks of random sizes and checks that each decodes
 * to the very same bits; returns the encodings chosen.
 */
function roundTrip(
  random: () => number,
  values: Float64Array,
  options: { encoding?: typeof Encoding.Decimal | typeof Encoding.Xor } = {},
): Map<number, number> {
  // The encodings of the chunks of 16 samples or more: smaller ones may be
  // smaller in XOR, whose header is the least.
  const chosen = new Map<number, number>();
  const into = columns(MAX_CHUNK_SAMPLES);
  for (let at = 0; at < values.length;) {
    const n = Math.min(
      randomInt(random, 1, MAX_CHUNK_SAMPLES),
      values.length - at,
    );
    const samples = {
      timestamps: timestamps(random, n),
      values: values.subarray(at, at + n),
    };
    const bytes = encodeChunk(samples, n, options).slice();
    if (n >= 16) chosen.set(bytes[0], (chosen.get(bytes[0]) ?? 0) + 1);
    equal(decodeChunk(bytes, into), n);
    for (let i = 0; i < n; i++) {
      if (
        into.timestamps[i] !== samples.timestamps[i] ||
        bits(into.values[i]) !== bits(samples.values[i]) ||
        !Object.is(into.values[i], samples.values[i])
      ) {
        throw new Error(
          `sample ${at + i}: put (${samples.timestamps[i]}, ${
            samples.values[i]
          }), got (${into.timestamps[i]}, ${into.values[i]})`,
        );
      }
    }
    at += n;
  }
  return chosen;
}

/** A finite double of random bits with its exponent field in a range. */
function randomDouble(
  random: () => number,
  lowExponent = 0,
  highExponent = 0x7fe,
): number {
  const exponent = randomInt(random, lowExponent, highExponent);
  const sign = random() < 0.5 ? 0x80000000 : 0;
  const hi = sign | (exponent << 20) | randomInt(random, 0, 0xfffff);
  return fromBits(hi, Math.floor(random() * 2 ** 32));
}

const CLASSES: [string, (random: () => number) => number][] = [
  ...Array.from(
    { length: 16 },
    (_, k): [string, (random: () => number) => number] => [
      `short decimals with ${k} decimals`,
      (random) =>
        randomInt(
          random,
          -(10 ** Math.min(k + 3, 15)),
          10 ** Math.min(k + 3, 15),
        ) / 10 ** k,
    ],
  ),
  [
    "integers ending in zeros",
    (random) => randomInt(random, -1e6, 1e6) * 10 ** randomInt(random, 1, 8),
  ],
  [
    "integers up to 2^53",
    (random) =>
      randomInt(
        random,
        -(2 ** randomInt(random, 1, 53)),
        2 ** randomInt(random, 1, 53),
      ),
  ],
  [
    "integers beyond 2^53, as doubles",
    (random) =>
      (random() < 0.5 ? -1 : 1) * Math.round(2 ** (53 + random() * 30)),
  ],
  ["random doubles", (random) => randomDouble(random)],
  ["subnormals", (random) => randomDouble(random, 0, 0)],
  [
    "zeros of both signs among small values",
    (random) => [0, -0, 5e-324, -5e-324, 1][randomInt(random, 0, 4)],
  ],
  [
    "huge values",
    (random) =>
      random() < 0.2
        ? [
          1e308,
          -1e308,
          Number.MAX_VALUE,
          -Number.MAX_VALUE,
        ][randomInt(random, 0, 3)]
        : randomDouble(random, 0x7f0, 0x7fe),
  ],
  [
    "sums of short decimals, like 0.1 + 0.2",
    (random) =>
      randomInt(random, 0, 100) / 10 + randomInt(random, 0, 100) / 100,
  ],
];

Deno.test("`encodeChunk()` round-trips a million values of each class bit for bit", async (t) => {
  for (const [index, [name, generate]] of CLASSES.entries()) {
    await t.step(name, () => {
      const random = rng(1000 + index);
      const values = Float64Array.from(
        { length: VALUES_PER_CLASS },
        () => generate(random),
      );
      const chosen = roundTrip(random, values);
      if (
        name.startsWith("short decimals") || name.startsWith("integers ending")
      ) {
        deepEqual([...chosen.keys()], [Encoding.Decimal], `${name}: decimal`);
      }
      if (name === "random doubles") {
        deepEqual([...chosen.keys()], [Encoding.Xor], `${name}: XOR`);
      }
      // Any value, forced through XOR, comes back as well.
      roundTrip(random, values.subarray(0, VALUES_PER_CLASS / 10), {
        encoding: Encoding.Xor,
      });
    });
  }
});

Deno.test("`encodeChunk()` uses a decimal only where it gives back the exact double", async (t) => {
  const timestamps = Float64Array.from({ length: 4 }, (_, i) => i);
  const decimal = (values: number[]) =>
    encodeChunk(
      { timestamps, values: Float64Array.from(values) },
      values.length,
    )[0];
  await t.step("short decimals are decimal", () => {
    equal(decimal([23.47, 23.5, 0, 1e-9]), Encoding.Decimal);
    equal(decimal([1500000, 2e15, -300, 0]), Encoding.Decimal);
  });
  await t.step("-0, 0.1 + 0.2, 2^53 + 2 and subnormals are not", () => {
    for (
      const odd of [-0, 0.1 + 0.2, 2 ** 53 + 2, 5e-324, 1e300, 2 ** 51 + 1]
    ) {
      equal(decimal([1, 2, odd, 3]), Encoding.Xor, `${odd}`);
      throws(
        () =>
          encodeChunk(
            { timestamps, values: Float64Array.of(1, 2, odd, 3) },
            4,
            {
              encoding: Encoding.Decimal,
            },
          ),
        { name: "TypeError", message: "Cannot encode the values as decimals" },
      );
    }
  });
});

/** The layout of a chunk of regular timestamps, read back from its bits. */
interface Layout {
  encoding: number;
  length: number;
  exponent?: number;
  transform?: string;
  column?: string;
}

const TRANSFORMS = ["offsets", "deltas", "delta-of-deltas"];

/** Reads a column's header: zero, or its divisor, sign and layout. */
function columnHeader(r: BitReader): string {
  if (r.bit() === 1) return "zero";
  let divisor = 1;
  if (r.bit() === 0) divisor = r.wide(r.bits(6));
  const signed = r.bit() === 1 ? "signed" : "unsigned";
  const layout = r.bits(2);
  const widths = [];
  for (let i = 0; i < (layout === 0 ? 2 : layout); i++) widths.push(r.bits(6));
  const name = layout === 0 ? "sparse" : `${layout} buckets`;
  return `${name} ${widths.join("/")} ${signed}${
    divisor === 1 ? "" : ` ÷${divisor}`
  }`;
}

/** The layout of a chunk whose timestamps are regular (a zero column). */
function layout(bytes: Uint8Array): Layout {
  const r = new BitReader();
  r.reset(bytes, 0, bytes.length);
  const encoding = r.byte();
  const length = r.varint();
  r.signed();
  if (length >= 2) {
    r.wide(r.bits(6));
    equal(r.bit(), 0, "delta-of-deltas");
    equal(columnHeader(r), "zero", "regular timestamps");
  }
  if (encoding !== Encoding.Decimal) return { encoding, length };
  const exponent = r.bits(6) - 22;
  const transform = r.bits(2);
  // The bases: a sign, a width and its bits, one or two of them.
  for (let i = 0; i < (transform === 2 ? 2 : 1); i++) {
    r.bit();
    r.wide(r.bits(6));
  }
  return {
    encoding,
    length,
    exponent,
    transform: TRANSFORMS[transform],
    column: columnHeader(r),
  };
}

/** Encodes `values` at one-second steps and checks the round trip. */
function encode(values: number[]): Uint8Array {
  const samples = {
    timestamps: Float64Array.from(values, (_, i) => 1_700_000_000 + i),
    values: Float64Array.from(values),
  };
  const bytes = encodeChunk(samples, values.length).slice();
  const into = columns(values.length);
  equal(decodeChunk(bytes, into), values.length);
  deepEqual(into, samples);
  return bytes;
}

Deno.test("`encodeChunk()` takes every branch of the decimal encoding", async (t) => {
  const random = rng(5);
  const walk = (n: number, step: number, start = 0) => {
    let value = start;
    return Array.from(
      { length: n },
      () => (value += randomInt(random, -step, step)),
    );
  };
  const cases: [string, number[], Partial<Layout>][] = [
    ["one sample", [42.5], {
      exponent: 1,
      transform: "offsets",
      column: "zero",
    }],
    ["a constant", Array(200).fill(7), { transform: "deltas", column: "zero" }],
    [
      "noise around a level: offsets in one bucket",
      Array.from({ length: 200 }, () => randomInt(random, 1000, 1255)),
      { exponent: 0, transform: "offsets", column: "1 buckets 8 unsigned" },
    ],
    [
      "a random walk: deltas in buckets",
      walk(200, 30).map((m) => m / 10),
      { exponent: 1, transform: "deltas" },
    ],
    [
      "a counter: delta-of-deltas",
      Array.from(
        { length: 200 },
        (_, i) => 5_000_000 + i * 1000 + randomInt(random, 0, 3),
      ),
      { exponent: 0, transform: "delta-of-deltas" },
    ],
    [
      "rare changes: a sparse column",
      Array.from({ length: 200 }, (_, i) => 40 + Math.floor(i / 70)),
      { transform: "deltas", column: "sparse 7/1 unsigned" },
    ],
    [
      "bytes in kB: a divisor",
      walk(200, 3000, 8_000_000).map((kb) => kb * 1024),
      { exponent: 0, transform: "deltas" },
    ],
    [
      "integers ending in zeros: a negative exponent",
      Array.from({ length: 50 }, () => randomInt(random, 1, 999) * 1000),
      { exponent: -3 },
    ],
    [
      "three decimals, mostly small steps, now and then a jump",
      Array.from(
        { length: 300 },
        (_, i) =>
          (10_000 +
            (i % 50 === 0
              ? randomInt(random, -100_000, 100_000)
              : randomInt(random, -3, 3))) / 1000,
      ),
      { exponent: 3, transform: "deltas" },
    ],
    [
      "wide offsets, past 24 and 31 bits",
      Array.from({ length: 100 }, () => randomInt(random, 0, 2 ** 45)),
      { exponent: 0, transform: "offsets" },
    ],
    [
      "wide signed deltas",
      walk(100, 2 ** 40, 0),
      { exponent: 0, transform: "deltas" },
    ],
  ];
  const seen = new Set<string>();
  for (const [name, values, expected] of cases) {
    await t.step(name, () => {
      const found = layout(encode(values));
      equal(found.encoding, Encoding.Decimal);
      for (const [field, value] of Object.entries(expected)) {
        equal(found[field as keyof Layout], value, `${name}: ${field}`);
      }
      seen.add(
        `${found.transform} ${found.column?.split(" ").slice(0, 2).join(" ")}`,
      );
      if (found.column?.includes("÷")) seen.add("divisor");
      if (found.column?.includes(" signed")) seen.add("signed");
      if (found.exponent! < 0) seen.add("negative exponent");
    });
  }
  await t.step("every transform, layout, divisor and sign was seen", () => {
    for (const transform of TRANSFORMS) {
      assert([...seen].some((s) => s.startsWith(transform)), transform);
    }
    for (
      const column of ["zero", "sparse", "1 buckets", "2 buckets", "3 buckets"]
    ) {
      assert([...seen].some((s) => s.includes(column)), column);
    }
    for (const feature of ["divisor", "signed", "negative exponent"]) {
      assert(seen.has(feature), feature);
    }
  });
});

Deno.test("`encodeChunk()` takes every branch of the timestamp and XOR encodings", async (t) => {
  const random = rng(6);
  const xor = (values: number[], stamps?: number[]) => {
    const samples = {
      timestamps: Float64Array.from(stamps ?? values.map((_, i) => i * 10)),
      values: Float64Array.from(values),
    };
    const bytes = encodeChunk(samples, values.length, {
      encoding: Encoding.Xor,
    }).slice();
    const into = columns(values.length);
    equal(decodeChunk(bytes, into), values.length);
    deepEqual(into.timestamps, samples.timestamps);
    samples.values.forEach((v, i) => assert(Object.is(into.values[i], v)));
    return bytes;
  };
  await t.step("XOR: repeats, windows within the last, new windows", () => {
    // The same value (0), a change within the window (10), a new window (11).
    xor([1.5, 1.5, 1.75, 1.625, -1.5, 1e300, 5e-324, -0, 0, 0]);
  });
  await t.step("XOR: windows of every length and position", () => {
    const values = [];
    for (let i = 0; i < 800; i++) values.push(randomDouble(random));
    for (let i = 0; i < 64; i++) {
      values.push(fromBits(0, 2 ** (i % 32)), fromBits(2 ** (i % 32), 0));
    }
    xor(values);
  });
  await t.step(
    "timestamps: regular, late now and then, irregular, far apart",
    () => {
      const shapes = [
        Array.from({ length: 300 }, (_, i) => i * 10),
        Array.from({ length: 300 }, (_, i) => i * 10 + (i % 97 === 0 ? 1 : 0)),
        (() => {
          let t = 0;
          return Array.from(
            { length: 300 },
            () => (t += randomInt(random, 1, 5000)),
          );
        })(),
        [0, 1, 2 ** 32 - 2, 2 ** 32 - 1],
        [-(2 ** 53) + 1, -(2 ** 53) + 2 ** 31, -(2 ** 53) + 2 ** 32],
      ];
      for (const stamps of shapes) xor(stamps.map((_, i) => i), stamps);
    },
  );
});

Deno.test("`encodeChunk()` picks the smaller of decimal and XOR", async (t) => {
  const sizes = (values: number[]) => {
    const samples = {
      timestamps: Float64Array.from(values, (_, i) => i * 10),
      values: Float64Array.from(values),
    };
    const n = values.length;
    const auto = encodeChunk(samples, n).slice();
    const xor = encodeChunk(samples, n, { encoding: Encoding.Xor }).length;
    let decimal = Infinity;
    try {
      decimal = encodeChunk(samples, n, { encoding: Encoding.Decimal }).length;
    } catch {
      // Not all short decimals: XOR it is.
    }
    return { auto, xor, decimal };
  };
  await t.step("XOR, where a decimal's header costs more", () => {
    // 2^50 - 1 as 16 decimals: the integer's 50 bits and its header.
    const { auto, xor, decimal } = sizes([0.1125899906842623]);
    equal(auto[0], Encoding.Xor);
    assert(xor < decimal, `${xor} < ${decimal}`);
  });
  await t.step("whichever is smaller, over random chunks", () => {
    const random = rng(12);
    const seen = new Set<number>();
    for (let i = 0; i < 3000; i++) {
      const [, generate] = CLASSES[i % CLASSES.length];
      const n = randomInt(random, 1, 40);
      const { auto, xor, decimal } = sizes(
        Array.from({ length: n }, () => generate(random)),
      );
      equal(auto.length, Math.min(xor, decimal), `chunk ${i}`);
      seen.add(auto[0]);
    }
    deepEqual([...seen].sort(), [Encoding.Decimal, Encoding.Xor]);
  });
});

Deno.test("`IntColumn` round-trips columns of every layout and width", () => {
  const random = rng(8);
  const column = new IntColumn(MAX_CHUNK_SAMPLES);
  // Small, so that it grows.
  const w = new BitWriter(16);
  const r = new BitReader();
  for (let round = 0; round < 2000; round++) {
    const n = randomInt(random, 0, 300);
    const width = randomInt(random, 0, 52);
    const zeros = random();
    const divisor = random() < 0.2 ? randomInt(random, 2, 1000) : 1;
    const signed = random() < 0.5;
    const values = Float64Array.from({ length: n }, () => {
      if (random() < zeros) return 0;
      const magnitude = Math.floor(random() * 2 ** width / divisor) * divisor;
      // Columns hold integers: never -0, which no encoding puts in one.
      return signed && magnitude > 0 && random() < 0.5 ? -magnitude : magnitude;
    });
    w.reset();
    const size = column.measure(values, 0, n);
    column.write(w, values, 0, n);
    equal(w.bitLength, size, "measured as written");
    const bytes = w.finish().slice();
    const out = new Float64Array(n);
    r.reset(bytes, 0, bytes.length);
    readIntColumn(r, out, 0, n);
    r.end();
    deepEqual(out, values);
  }
});

/** Decodes `bytes`, and the error or samples, as a comparable string. */
function outcome(bytes: Uint8Array): string {
  const into = columns(MAX_CHUNK_SAMPLES);
  try {
    const n = decodeChunk(bytes, into);
    for (let i = 0; i < n; i++) {
      assert(Number.isSafeInteger(into.timestamps[i]));
      assert(i === 0 || into.timestamps[i] > into.timestamps[i - 1]);
      assert(into.timestamps[i] - into.timestamps[0] < 2 ** 32);
      assert(Number.isFinite(into.values[i]));
    }
    return `${n}: ${[...into.timestamps.subarray(0, n)]} ${
      [...into.values.subarray(0, n)].map(bits)
    }`;
  } catch (error) {
    assert(
      error instanceof RangeError || error instanceof SyntaxError,
      `${error}`,
    );
    assert(/^Cannot decode/.test(error.message), error.message);
    return `${error.name}: ${error.message}`;
  }
}

/**
 * Decodes `bytes` as a view at the start of two buffers that differ after
 * it: a decoder reading past its bytes would see them differ.
 */
function fuzzOne(bytes: Uint8Array): string {
  const outcomes = [0x00, 0xff].map((filler) => {
    const buffer = new Uint8Array(bytes.length + 64).fill(filler);
    buffer.set(bytes);
    return outcome(buffer.subarray(0, bytes.length));
  });
  equal(outcomes[0], outcomes[1], "the bytes after the chunk changed nothing");
  return outcomes[0];
}

Deno.test("`decodeChunk()` refuses random and damaged bytes with a clear error", async (t) => {
  const random = rng(9);
  await t.step("random bytes, with each encoding's first byte", () => {
    for (let i = 0; i < 20_000; i++) {
      const bytes = Uint8Array.from(
        { length: randomInt(random, 0, 200) },
        () => randomInt(random, 0, 255),
      );
      if (bytes.length > 0 && random() < 0.9) {
        bytes[0] = randomInt(random, 1, 2);
      }
      if (bytes.length > 1 && random() < 0.5) {
        bytes[1] = randomInt(random, 1, 127);
      }
      fuzzOne(bytes);
    }
  });
  await t.step("valid chunks with bits flipped, cut short or extended", () => {
    const kinds = [
      () => randomInt(random, 0, 1000) / 10,
      () => randomDouble(random),
      () => randomInt(random, 0, 3) * 1024,
      () => 5,
    ];
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      const n = randomInt(random, 1, 300);
      const generate = kinds[i % kinds.length];
      const bytes = encodeChunk({
        timestamps: timestamps(random, n),
        values: Float64Array.from({ length: n }, generate),
      }, n).slice();
      const damaged = random() < 0.2
        ? bytes.slice(0, randomInt(random, 0, bytes.length - 1))
        : random() < 0.25
        ? Uint8Array.from([...bytes, randomInt(random, 0, 255)])
        : bytes.slice();
      if (damaged.length === bytes.length) {
        for (let flips = randomInt(random, 1, 3); flips > 0; flips--) {
          damaged[randomInt(random, 0, damaged.length - 1)] ^= 1 <<
            randomInt(random, 0, 7);
        }
      }
      if (/^(Range|Syntax)Error/.test(fuzzOne(damaged))) refused++;
    }
    assert(refused > 2000, `${refused} of 4000 refused`);
  });
  await t.step("a chunk of more samples than the columns hold", () => {
    const bytes = encode(Array(10).fill(1));
    throws(() => decodeChunk(bytes, columns(9)), {
      name: "RangeError",
      message: "Cannot decode a chunk of 10 samples into room for fewer",
    });
  });
  await t.step("`EncodedChunk` checks as it is made", () => {
    const scratch = columns(MAX_CHUNK_SAMPLES);
    const good = encode([1, 2, 3]);
    const chunk = new EncodedChunk(good, scratch);
    deepEqual([chunk.length, chunk.first, chunk.last], [
      3,
      1_700_000_000,
      1_700_000_002,
    ]);
    throws(
      () => new EncodedChunk(good.subarray(0, good.length - 1), scratch),
      RangeError,
    );
  });
});
