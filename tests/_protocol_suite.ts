/**
 * The protocol suite a remote backend must answer byte for byte as the
 * built-in store does: scripts of request chunks, run on a fresh database
 * against the built-in store and against the backend, their answers
 * compared.
 *
 * @module
 */

import { deepStrictEqual as deepEqual } from "node:assert/strict";
import { randomInt, RawConnection, rng, SESSION, shuffle } from "./_helpers.ts";

/** A script: chunks sent one at a time, each answered whole before the next. */
export type Script = string[];

const MAX = Number.MAX_SAFE_INTEGER;
// Values whose printing and storing are easy to get wrong.
const VALUES = [
  "10",
  "0.1",
  "-0",
  "0",
  "1e16",
  "1e-05",
  "123456789012345678",
  "5e-324",
  "-5e-324",
  "1.7976931348623157e+308",
  "-1.7976931348623157e+308",
  "2.2250738585072014e-308",
  "9007199254740993",
  "0.30000000000000004",
  "6.02214076e23",
  "-1e-7",
  "33.333333333333336",
];
const TIMESTAMPS = [-MAX, -1, 0, 1, 1501864247, MAX - 1, MAX];

/** Lines that put random samples, for roll-ups to add up. */
function randomPuts(seed: number, keys: string[], count: number): string {
  const random = rng(seed);
  let lines = "";
  for (let i = 0; i < count; i++) {
    const key = keys[randomInt(random, 0, keys.length - 1)];
    const magnitude = 10 ** randomInt(random, -8, 12);
    const value = random() < 0.05
      ? (random() < 0.5 ? "0" : "-0")
      : String((random() - 0.5) * magnitude);
    lines += `put ${key} ${value} ${randomInt(random, -500, 5000)}\n`;
  }
  return lines;
}

/** A random session over a few keys: puts, overwrites, reads, deletes. */
function randomSession(seed: number, lines: number): Script {
  const random = rng(seed);
  const keys = ["r.a", "r.b", "r.c.x", "r.c.y", "s.a", "t"];
  const patterns = ["r.*", "**", "r.**", "{s,t}*", "*", "r.c.?", "t"];
  const chunks: Script = [];
  let chunk = "";
  for (let i = 0; i < lines; i++) {
    const key = keys[randomInt(random, 0, keys.length - 1)];
    const pattern = patterns[randomInt(random, 0, patterns.length - 1)];
    const roll = random();
    if (roll < 0.6) {
      chunk += `put ${key} ${randomInt(random, -100, 100) / 4} ${
        randomInt(random, 0, 30)
      }\n`;
    } else if (roll < 0.7) chunk += `get ${random() < 0.2 ? "*" : key}\n`;
    else if (roll < 0.78) chunk += `keys ${pattern}\n`;
    else if (roll < 0.86) chunk += `last ${pattern}\n`;
    else if (roll < 0.95) {
      chunk += `query ${pattern} ${randomInt(random, -5, 10)} ${
        randomInt(random, 10, 40)
      } ${randomInt(random, 1, 9)} ${
        ["avg", "min", "max", "sum", "count", "last"][randomInt(random, 0, 5)]
      }\n`;
    } else chunk += `delete ${pattern}\n`;
    if (random() < 0.15) {
      chunks.push(chunk);
      chunk = "";
    }
  }
  chunks.push(chunk);
  return chunks;
}

/** The scripts of the suite, by name. */
export const SUITE: [name: string, script: Script][] = [
  ["the session of issue 2", SESSION.map(([request]) => request)],
  [
    "values printed as Python prints them",
    [
      VALUES.map((value, i) => `put v.${i} ${value} ${1000 + i}\n`).join(""),
      "get *\n",
      VALUES.map((_, i) => `get v.${i}\n`).join(""),
    ],
  ],
  [
    "timestamps to the ends of the safe integers",
    [
      TIMESTAMPS.map((ts, i) => `put edge ${i} ${ts}\n`).join(""),
      "get edge\nlast edge\nquery edge -9007199254740991 9007199254740991 86400 count\n",
      `query edge ${-MAX} ${MAX} ${MAX} sum\nquery edge -1 1\n`,
    ],
  ],
  [
    "the last write of a second wins",
    [
      "put k 1 5\nput k 2 5\nput j 1 5\nget k\n",
      "put k 3 5\n",
      "put k 4 5\nput k 5 6\nget k\nget *\nlast k\n",
    ],
  ],
  [
    "keys and patterns",
    [
      "put a.x 1 1\nput b.x 2 1\nput a.y.z 3 1\nput a1 4 1\nput b.y 5 1\nput é.ü 6 1\n",
      [
        "*",
        "**",
        "a.*",
        "a.**",
        "{a,b}.*",
        "?.x",
        "a[0-9]",
        "[!a].*",
        "a.y.z",
        "nothing",
        "*.{x,y}",
        "é.*",
      ].map((pattern) => `keys ${pattern}\nlast ${pattern}\n`).join(""),
    ],
  ],
  [
    "roll-ups of every aggregation, step and range",
    [
      randomPuts(7, ["m.a", "m.b", "m.c"], 400),
      ["avg", "min", "max", "sum", "count", "last"].flatMap((aggregation) =>
        [1, 7, 60, 1000, MAX].map((step) =>
          `query m.* -500 5000 ${step} ${aggregation}\nquery m.{b,c} 17 1000 ${step} ${aggregation}\n`
        )
      ).join(""),
      "query m.* -500 5000\nquery m.a 100 200\nquery m.* 5001 6000 60 avg\n",
    ],
  ],
  [
    "zero and minus zero in min, max, sum and avg",
    [
      "put z 0 1\nput z -0 2\nput y -0 1\nput y 0 2\nput x -0 1\nput x -0 2\n",
      ["min", "max", "sum", "avg", "last"].map((aggregation) =>
        `query * 0 10 10 ${aggregation}\n`
      ).join(""),
    ],
  ],
  [
    "delete, and puts after it",
    [
      "put d.a 1 1\nput d.b 2 1\nput e 3 1\nput d.a 4 2\n",
      "delete d.*\n",
      "get *\nkeys **\ndelete nothing.*\n",
      "put d.b 5 3\nget *\nkeys **\ndelete e\nget *\n",
    ],
  ],
  [
    "wrong commands among others, and blank lines",
    [
      "got x\nput k notnumber 1\n\nput k 1\nget\nput k 1 1\n   \nget k extra\nget k\nkeys\nquery k 1\n",
      "put k 2 1.5\nput  k  3  2 \nget k\nping\n",
    ],
  ],
  [
    "many requests pipelined in one chunk",
    [
      Array.from(
        { length: 300 },
        (_, i) =>
          i % 3 === 2 ? `get p.${i % 7}\n` : `put p.${i % 7} ${i} ${i % 11}\n`,
      ).join(""),
      "get *\n",
    ],
  ],
  ["a random session", randomSession(11, 600)],
  [
    "keys in first-put order, shuffled",
    [
      shuffle(
        rng(3),
        Array.from({ length: 50 }, (_, i) => `put o.${i} ${i} 1\n`),
      )
        .join(""),
      "get *\nkeys o.*\nlast o.*\n",
    ],
  ],
];

/**
 * Runs a script on a new connection: each chunk is sent once the answers
 * of the one before have come.
 *
 * @param port The server's port.
 * @param script The chunks.
 * @returns The answers of each chunk.
 */
export async function runScript(
  port: number,
  script: Script,
): Promise<string[]> {
  await using connection = await RawConnection.connect(port);
  const answers: string[] = [];
  for (const chunk of script) {
    const count = chunk.split("\n").slice(0, -1).filter((line) =>
      line.trim() !== ""
    ).length;
    await connection.send(chunk);
    answers.push(count === 0 ? "" : await connection.answers(count, 60_000));
  }
  return answers;
}

/**
 * Runs every script of the suite against the built-in store and against a
 * backend, each script on a fresh start, and compares the answers.
 *
 * @param t The test, for steps.
 * @param local Starts a front end on the built-in store.
 * @param remote Starts a front end on the backend, on a fresh database
 * named after the script.
 */
export async function compareSuite(
  t: Deno.TestContext,
  local: () => Promise<FrontEnd>,
  remote: (database: string) => Promise<FrontEnd>,
): Promise<void> {
  for (const [i, [name, script]] of SUITE.entries()) {
    await t.step(name, async () => {
      let expected: string[];
      {
        await using front = await local();
        expected = await runScript(front.port, script);
      }
      await using front = await remote(`suite_${i}`);
      const actual = await runScript(front.port, script);
      for (let chunk = 0; chunk < script.length; chunk++) {
        deepEqual(
          actual[chunk],
          expected[chunk],
          `chunk ${chunk}: ${JSON.stringify(script[chunk].slice(0, 200))}`,
        );
      }
    });
  }
}

/** A front end a script runs against. */
export interface FrontEnd extends AsyncDisposable {
  /** Its TCP port. */
  readonly port: number;
}
