/**
 * Carbon's pickle protocol: the restricted reader against payloads that
 * Python's `pickle.dumps()` made (protocols 0 to 2), statsd's and Python 2's
 * hand-written ones, malicious ones that must be refused, and fuzzing; then
 * `serveGraphite()` taking framed messages over TCP.
 *
 * The payloads come from `tests/_pickles.py`; without python3 these tests
 * say so and are ignored.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { type GraphiteServer, serveGraphite } from "../graphite/ingest.ts";
import {
  MAX_PICKLE_MESSAGE,
  PickleReader,
  type PickleSamples,
  readPickle,
} from "../graphite/pickle.ts";
import { LocalStorage } from "../storage/local.ts";
import {
  available,
  bytes,
  concat,
  delay,
  HOST,
  randomInt,
  rng,
  within,
} from "./_helpers.ts";

const NOW = 1_700_000_000;
const PYTHON = await available("python3", ["--version"]);
if (!PYTHON) {
  console.warn(
    "graphite_pickle_test: python3 is missing, so the tests of Python's pickles are ignored (install Debian's python3 to run them)",
  );
}

/** The payloads of `_pickles.py`, by name. */
async function makePickles(): Promise<Record<string, Uint8Array>> {
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: [new URL("./_pickles.py", import.meta.url).pathname],
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  if (code !== 0) {
    throw new Error(`_pickles.py failed: ${decoder.decode(stderr)}`);
  }
  const hex = JSON.parse(decoder.decode(stdout)) as Record<string, string>;
  const pickles: Record<string, Uint8Array> = {};
  for (const [name, text] of Object.entries(hex)) {
    pickles[name] = Uint8Array.from(
      text.match(/../g) ?? [],
      (pair) => parseInt(pair, 16),
    );
  }
  return pickles;
}

const PICKLES = PYTHON ? await makePickles() : {};

/** The samples of `SAMPLES` in `_pickles.py`, as Pulse stores them. */
const SAMPLES: Omit<PickleSamples, "problem"> = {
  keys: [
    "palm.cpu",
    "palm.cpu",
    "palm.mem;host=a",
    "température.salon",
    "back\\slash",
    "big",
    "palm.str",
    "palm.bool",
    "palm.list",
  ],
  values: [10.6, 2, 1e12, 21.5, -5, 2 ** 70, 12.5, 1, 3],
  timestamps: [
    1501864247,
    1501864248,
    1501864247,
    NOW,
    1501864247,
    1501864247,
    1501864247,
    1501864247,
    1501864247,
  ],
  bad: 2,
  nonFinite: 2,
};

Deno.test({
  name: "readPickle() reads what Python's pickle.dumps() makes",
  ignore: !PYTHON,
  fn: async (t) => {
    for (const protocol of [0, 1, 2]) {
      await t.step(`protocol ${protocol}`, () => {
        const { problem, ...samples } = readPickle(
          PICKLES[`samples_${protocol}`],
          NOW,
        );
        deepEqual(samples, SAMPLES);
        equal(problem, '"palm.none": the value is not a number');
      });
      await t.step(`protocol ${protocol}, 2000 entries`, () => {
        const samples = readPickle(PICKLES[`many_${protocol}`], NOW);
        equal(samples.keys.length, 2000);
        equal(samples.keys[1999], "many.199");
        equal(samples.timestamps[1999], 1501864247 + 1999);
        equal(samples.values[1999], 1999 / 4);
      });
    }
  },
});

Deno.test({
  name: "readPickle() reads statsd's and Python 2's pickles",
  ignore: !PYTHON,
  fn: () => {
    deepEqual(readPickle(PICKLES.statsd, NOW), {
      keys: ["stats.gauges.queue", "stats.timers.api.mean"],
      values: [12, 3.25],
      timestamps: [1501864247, 1501864247],
      bad: 0,
      problem: undefined,
      nonFinite: 0,
    });
    deepEqual(readPickle(PICKLES.python2_0, NOW), {
      keys: ["tabA.b", "c'd"],
      values: [1.5, 1],
      timestamps: [1501864247, 1501864248],
      bad: 0,
      problem: undefined,
      nonFinite: 0,
    });
    deepEqual(readPickle(PICKLES.python2_2, NOW).keys, ["a.b", "c.d"]);
    deepEqual(readPickle(PICKLES.python2_2, NOW).timestamps, [
      1501864247,
      2 ** 32,
    ]);
  },
});

/** The message of the SyntaxError `readPickle()` throws. */
function refusal(payload: Uint8Array): string {
  try {
    readPickle(payload, NOW);
  } catch (error) {
    assert(error instanceof SyntaxError, String(error));
    return error.message;
  }
  throw new Error("the payload was read");
}

Deno.test({
  name: "readPickle() refuses what carbon's senders never send",
  ignore: !PYTHON,
  fn: async (t) => {
    const cases: [name: string, message: RegExp][] = [
      ["evil_0", /^Cannot unpickle: opcode GLOBAL is not allowed at byte \d+$/],
      ["evil_1", /opcode GLOBAL is not allowed/],
      ["evil_2", /opcode GLOBAL is not allowed/],
      ["inst_0", /opcode INST is not allowed at byte 9$/],
      ["bytes_2", /opcode GLOBAL is not allowed at byte 5$/],
      ["dict_2", /opcode EMPTY_DICT is not allowed at byte 2$/],
      ["protocol_3", /protocol 3 is not allowed \(0 to 2 are\) at byte 0$/],
      ["protocol_4", /protocol 4 is not allowed/],
      ["protocol_5", /protocol 5 is not allowed/],
    ];
    for (const [name, message] of cases) {
      await t.step(name, () => {
        const text = refusal(PICKLES[name]);
        assert(message.test(text), text);
      });
    }
  },
});

Deno.test("readPickle() refuses malformed pickles", async (t) => {
  const cases: [pickle: string, message: string][] = [
    ["", "no STOP at byte 0"],
    ["(l", "no STOP at byte 2"],
    [".", "STOP with 0 values on the stack at byte 1"],
    ["((l.", "a MARK is left open at byte 4"],
    ["]].", "STOP with 2 values on the stack at byte 3"],
    ["].x", "bytes after STOP at byte 2"],
    ["K\x01.", "Cannot read a pickle that does not hold a list"],
    ["a.", "an empty stack at byte 1"],
    ["K\x01K\x02a.", "appending to something other than a list at byte 5"],
    ["]h\x00.", "memo 0 was never put at byte 3"],
    ["t.", "no MARK at byte 1"],
    ["(q\x00.", "an empty stack at byte 3"],
    ["X\xff\xff\xff\xff.", "a truncated argument at byte 5"],
    ["T\xff\xff\xff\xff.", "a negative length at byte 5"],
    ["U\x02\xff\xfe.", "a string that is not UTF-8 at byte 4"],
    ["S'abc\n.", "a STRING that is not quoted at byte 6"],
    ["S'a\\'\n.", "a STRING ending in \\ at byte 6"],
    ["S'\\x4'\n.", "a bad \\x escape at byte 7"],
    ["Vab\\u12\n.", "a truncated \\u escape at byte 8"],
    ["V\\U00110000\n.", "a \\U escape past U+10FFFF at byte 12"],
    ["I12a\n.", "an INT that is not an integer at byte 5"],
    ["F1.5x\n.", "a FLOAT that is not a number at byte 6"],
    ["g-1\n.", "a memo index below 0 at byte 4"],
    ["I12", "a line without its end at byte 1"],
    ["\xff", "unknown opcode 0xff at byte 0"],
  ];
  for (const [pickle, message] of cases) {
    await t.step(JSON.stringify(pickle), () => {
      const payload = Uint8Array.from(pickle, (c) => c.charCodeAt(0));
      const text = refusal(payload);
      assert(
        text === `Cannot unpickle: ${message}` || text === message,
        text,
      );
    });
  }
});

Deno.test("readPickle() reads what each opcode stands for", () => {
  // Built by hand, one opcode at a time, as `pickletools.dis()` shows them.
  const latin1 = (text: string) =>
    Uint8Array.from(text, (c) => c.charCodeAt(0));
  const read = (entry: string) =>
    readPickle(latin1(`(l(Va.b\n${entry}tta.`), NOW);
  const pair = (timestamp: string, value: string) => {
    const { timestamps, values } = read(`(${timestamp}${value}`);
    return [timestamps[0], values[0]];
  };
  deepEqual(pair("I-1\n", "I00\n"), [NOW, 0]);
  deepEqual(pair("L1501864247\n", "L-12L\n"), [1501864247, -12]);
  deepEqual(pair("J\xff\xff\xff\xff", "K\xff"), [NOW, 255]);
  deepEqual(pair("M\xff\xff", "\x8a\x02\x00\x80"), [65535, -32768]);
  deepEqual(pair("\x8a\x00", "\x88"), [0, 1]);
  deepEqual(pair("F1.5e9\n", "\x89"), [1500000000, 0]);
  deepEqual(pair("S'15'\n", "S'-2.5e1'\n"), [15, -25]);
  deepEqual(pair("Vnan\n", "F2\n"), [undefined, undefined]);
  deepEqual(read("(I1\nS'nan'\n").nonFinite, 1);
  deepEqual(read("(I1\nFinf\n").nonFinite, 1);
  deepEqual(
    readPickle(
      latin1("(lp0\n(S'\\x61\\142\\tc'\np1\n(I1\nI2\ntp2\ntp3\na."),
      NOW,
    )
      .problem,
    "a path that is not a string without whitespace",
  );
  deepEqual(
    readPickle(latin1("(lp0\n(S'\\x61\\142c'\np1\n(I1\nI2\ntp2\ntp3\na."), NOW)
      .keys,
    ["abc"],
  );
  deepEqual(
    readPickle(latin1("(lp0\n(V\\u00e9\\U0001f600\np1\n(I1\nI2\ntta."), NOW)
      .keys,
    ["é😀"],
  );
  deepEqual(
    readPickle(latin1("]q\x00(U\x01a)\x86U\x01bK\x01K\x02\x86\x86e."), NOW),
    {
      keys: ["b"],
      values: [2],
      timestamps: [1],
      bad: 1,
      problem: "an entry that is not (path, (timestamp, value))",
      nonFinite: 0,
    },
  );
});

Deno.test({
  name: "`PickleReader.read()` decodes in slices what readPickle() reads whole",
  ignore: !PYTHON,
  fn: () => {
    for (const protocol of [0, 1, 2]) {
      const payload = PICKLES[`many_${protocol}`];
      const reader = new PickleReader(payload, NOW);
      let samples: PickleSamples | undefined;
      let calls = 0;
      while ((samples = reader.read(7)) === undefined) calls++;
      assert(calls > 1000, `${calls} calls`);
      deepEqual(samples, readPickle(payload, NOW));
    }
  },
});

/** Mutations of a valid pickle: bytes changed, inserted, dropped, cut. */
function mutate(random: () => number, payload: Uint8Array): Uint8Array {
  const copy = payload.slice();
  const at = randomInt(random, 0, Math.max(0, copy.length - 1));
  switch (randomInt(random, 0, 4)) {
    case 0:
      copy[at] = randomInt(random, 0, 255);
      return copy;
    case 1:
      copy[at] ^= 1 << randomInt(random, 0, 7);
      return copy;
    case 2:
      return concat(
        copy.subarray(0, at),
        new Uint8Array([randomInt(random, 0, 255)]),
        copy.subarray(at),
      );
    case 3:
      return concat(copy.subarray(0, at), copy.subarray(at + 1));
    default:
      return copy.subarray(0, at);
  }
}

/** Random bytes, mostly the opcodes the reader knows. */
function randomPickle(random: () => number): Uint8Array {
  const known = bytes(
    "(.)FGIJKLMNSTUVX]aeghjlpqrt\x80\x85\x86\x87\x88\x89\x8a",
  );
  const length = randomInt(random, 0, 64);
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    payload[i] = random() < 0.7
      ? known[randomInt(random, 0, known.length - 1)]
      : randomInt(random, 0, 255);
  }
  return payload;
}

Deno.test({
  name: "readPickle() only returns or throws SyntaxError, whatever the bytes",
  ignore: !PYTHON,
  fn: async () => {
    const random = rng(20240607);
    const seeds = Object.values(PICKLES);
    let read = 0;
    await within(
      (async () => {
        for (let i = 0; i < 20_000; i++) {
          // A turn now and then lets the guard tell a hang.
          if (i % 1000 === 0) await delay(0);
          let payload = i % 2 === 0
            ? randomPickle(random)
            : seeds[randomInt(random, 0, seeds.length - 1)];
          if (i % 2 === 1) {
            for (let n = randomInt(random, 1, 4); n > 0; n--) {
              payload = mutate(random, payload);
            }
          }
          try {
            readPickle(payload, NOW);
            read++;
          } catch (error) {
            if (!(error instanceof SyntaxError)) {
              throw new Error(
                `${error} for ${JSON.stringify(Array.from(payload))}`,
              );
            }
          }
        }
      })(),
      "20,000 fuzzed pickles",
      60_000,
    );
    assert(read > 100, `${read} read`);
  },
});

/** Carbon's framing: a 4-byte big-endian length, then the pickle. */
function frame(payload: Uint8Array): Uint8Array {
  const framed = new Uint8Array(4 + payload.length);
  new DataView(framed.buffer).setUint32(0, payload.length);
  framed.set(payload, 4);
  return framed;
}

/** Waits until a figure is `value`. */
async function figure(
  graphite: GraphiteServer,
  name: string,
  value: number,
): Promise<void> {
  try {
    await within(
      (async () => {
        while (graphite.stats()[name] !== value) await delay(5);
      })(),
      `${name} reaching ${value}`,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${graphite.stats()[name]}`);
  }
}

/** Writes every byte of `data`. */
async function writeFully(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/** A protocol 0 pickle of `count` samples of `key`, as statsd writes one. */
function statsdPickle(key: string, count: number): Uint8Array {
  let text = "(l";
  for (let i = 0; i < count; i++) {
    text += `(S'${key}'\n(L${1000 + i}L\nS'${i}'\ntta`;
  }
  return bytes(`${text}.`);
}

Deno.test({
  name: "serveGraphite() takes carbon's pickle framing over TCP",
  ignore: !PYTHON,
  fn: async (t) => {
    await using storage = new LocalStorage();
    const logs: string[] = [];
    await using graphite = serveGraphite(storage, {
      plaintext: false,
      pickle: { hostname: HOST, port: 0 },
      onLog: (message) => logs.push(message),
    });
    const port = graphite.addrs.pickle!.port;
    const connect = () => Deno.connect({ hostname: HOST, port });

    await t.step(
      "messages in one write, and one split at every byte",
      async () => {
        const conn = await connect();
        await writeFully(
          conn,
          concat(frame(PICKLES.samples_2), frame(PICKLES.statsd)),
        );
        for (const byte of frame(PICKLES.python2_2)) {
          await writeFully(conn, new Uint8Array([byte]));
        }
        await figure(graphite, "graphite_pickle_messages_total", 3);
        await figure(graphite, "graphite_pickle_samples_total", 9 + 2 + 2);
        conn.close();
        const stats = graphite.stats();
        equal(stats.graphite_bad_lines_total, 2);
        equal(stats.graphite_non_finite_total, 2);
        deepEqual(storage.store.get("palm.cpu")?.toArray(), [
          [1501864247, 10.6],
          [1501864248, 2],
        ]);
        equal(
          storage.store.get("stats.timers.api.mean")?.toArray()[0][1],
          3.25,
        );
        equal(logs.length, 1);
        assert(
          logs[0].includes(
            'skipped 2 entries; the first: "palm.none": the value',
          ),
          logs[0],
        );
      },
    );

    await t.step("a malicious pickle closes the connection", async () => {
      const conn = await connect();
      await writeFully(
        conn,
        concat(frame(PICKLES.evil_2), frame(statsdPickle("after.evil", 1))),
      );
      equal(await within(conn.read(new Uint8Array(1)), "the close"), null);
      conn.close();
      equal(graphite.stats().graphite_pickle_refused_total, 1);
      equal(graphite.stats().graphite_pickle_messages_total, 3);
      equal(storage.store.get("after.evil"), undefined);
      assert(
        /closed the connection: Cannot unpickle: opcode GLOBAL is not allowed/
          .test(logs.at(-1)!),
        logs.at(-1),
      );
    });

    await t.step(
      "a message of 1 MiB is taken, one byte more is not",
      async () => {
        const exact = statsdPickle("exact", 1);
        const padded = bytes(
          `(l(S'exact${"x".repeat(MAX_PICKLE_MESSAGE - exact.length)}'\n` +
            "(L1000L\nS'0'\ntta.",
        );
        equal(padded.length, MAX_PICKLE_MESSAGE);
        const conn = await connect();
        await writeFully(conn, frame(padded));
        await figure(graphite, "graphite_pickle_messages_total", 4);
        const header = new Uint8Array(4);
        new DataView(header.buffer).setUint32(0, MAX_PICKLE_MESSAGE + 1);
        await writeFully(conn, header);
        equal(await within(conn.read(new Uint8Array(1)), "the close"), null);
        conn.close();
        equal(graphite.stats().graphite_pickle_refused_total, 2);
        assert(
          logs.at(-1)!.includes(`a message of ${MAX_PICKLE_MESSAGE + 1} bytes`),
        );
      },
    );
  },
});

Deno.test("serveGraphite() decodes large pickles from several connections at once", async () => {
  await using storage = new LocalStorage();
  await using graphite = serveGraphite(storage, {
    plaintext: false,
    pickle: { hostname: HOST, port: 0 },
  });
  const port = graphite.addrs.pickle!.port;
  // About 800 KB each: decoded in slices, one message at a time.
  const keys = ["large.one", "large.two", "large.three"];
  const conns = await Promise.all(
    keys.map(() => Deno.connect({ hostname: HOST, port })),
  );
  try {
    await Promise.all(
      conns.map((conn, i) =>
        writeFully(conn, frame(statsdPickle(keys[i], 25_000)))
      ),
    );
    await figure(graphite, "graphite_pickle_samples_total", 75_000);
  } finally {
    for (const conn of conns) conn.close();
  }
  for (const key of keys) equal(storage.store.get(key)?.length, 25_000);
});

Deno.test({
  name: "serveGraphite() survives fuzzed pickle messages and goes on serving",
  ignore: !PYTHON,
  fn: async () => {
    await using storage = new LocalStorage();
    await using graphite = serveGraphite(storage, {
      plaintext: false,
      pickle: { hostname: HOST, port: 0 },
    });
    const port = graphite.addrs.pickle!.port;
    const random = rng(7);
    const seeds = Object.values(PICKLES);
    const expected = { messages: 0, refused: 0 };
    for (let i = 0; i < 200; i++) {
      let payload = seeds[randomInt(random, 0, seeds.length - 1)];
      payload = mutate(random, payload);
      let good = true;
      try {
        readPickle(payload, NOW);
      } catch {
        good = false;
      }
      const conn = await Deno.connect({ hostname: HOST, port });
      await writeFully(conn, frame(payload));
      if (good) {
        expected.messages++;
        await figure(
          graphite,
          "graphite_pickle_messages_total",
          expected.messages,
        );
      } else {
        expected.refused++;
        equal(await within(conn.read(new Uint8Array(1)), "the close"), null);
      }
      conn.close();
    }
    await figure(graphite, "graphite_pickle_refused_total", expected.refused);
    const conn = await Deno.connect({ hostname: HOST, port });
    await writeFully(conn, frame(statsdPickle("still.serving", 3)));
    await figure(
      graphite,
      "graphite_pickle_messages_total",
      expected.messages + 1,
    );
    conn.close();
    equal(storage.store.get("still.serving")?.length, 3);
  },
});
