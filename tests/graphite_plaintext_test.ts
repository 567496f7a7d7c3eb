/**
 * Graphite's plaintext protocol: carbon's line grammar, and
 * `serveGraphite()` taking it over TCP and UDP — what is stored, what is
 * counted and logged, the limits, and the storage seam's durability and
 * backpressure.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import {
  type GraphiteOptions,
  type GraphiteServer,
  serveGraphite,
} from "../graphite/ingest.ts";
import {
  GraphiteLineParser,
  LINE_BAD,
  LINE_BLANK,
  LINE_NON_FINITE,
  LINE_SAMPLE,
  MAX_GRAPHITE_LINE_LENGTH,
} from "../graphite/plaintext.ts";
import { LocalStorage, openStorage } from "../storage/local.ts";
import type { Appender, Storage } from "../storage/storage.ts";
import { isKey } from "../protocol/grammar.ts";
import {
  bytes,
  concat,
  delay,
  HOST,
  randomInt,
  rng,
  within,
} from "./_helpers.ts";

const NOW = 1_700_000_000;

/** What the parser made of one line. */
function parse(line: string | Uint8Array) {
  const data = typeof line === "string" ? bytes(line) : line;
  const parser = new GraphiteLineParser();
  const kind = parser.parse(data, 0, data.length, NOW);
  return {
    kind,
    key: parser.key,
    value: parser.value,
    timestamp: parser.timestamp,
    problem: parser.problem,
  };
}

Deno.test("`GraphiteLineParser.parse()` reads lines as carbon does", async (t) => {
  const cases: [line: string, key: string, value: number, timestamp: number][] =
    [
      ["palm.cpu 10.6 1501864247", "palm.cpu", 10.6, 1501864247],
      ["palm.cpu\t\t1.5 \t  1501864247", "palm.cpu", 1.5, 1501864247],
      ["  palm.cpu 1 2  ", "palm.cpu", 1, 2],
      ["a 1e3 2", "a", 1000, 2],
      ["a 1E-3 2", "a", 0.001, 2],
      ["a -1 2", "a", -1, 2],
      ["a +2 2", "a", 2, 2],
      ["a .5 2", "a", 0.5, 2],
      ["a 5. 2", "a", 5, 2],
      ["a 1 1501864247.9", "a", 1, 1501864247],
      ["a 1 1.5e9", "a", 1, 1500000000],
      ["a 1 -0.5", "a", 1, 0],
      ["a 1 -2", "a", 1, -2],
      ["a 1 -1", "a", 1, NOW],
      ["a 1 -1.0", "a", 1, NOW],
      // carbon compares int(timestamp) with -1: truncation first.
      ["a 1 -1.9", "a", 1, NOW],
      ["cpu;host=a;dc=x 1 2", "cpu;host=a;dc=x", 1, 2],
      ["cpu;dc=x;host=a 1 2", "cpu;dc=x;host=a", 1, 2],
      ["température.salon 21 2", "température.salon", 21, 2],
    ];
  for (const [line, key, value, timestamp] of cases) {
    await t.step(JSON.stringify(line), () => {
      deepEqual(parse(line), {
        kind: LINE_SAMPLE,
        key,
        value,
        timestamp,
        problem: "",
      });
    });
  }
});

Deno.test("`GraphiteLineParser.parse()` tells values that are not finite", () => {
  for (
    const value of [
      "nan",
      "NaN",
      "-nan",
      "inf",
      "-inf",
      "+Infinity",
      "INFINITY",
      "1e999",
      "-1e400",
    ]
  ) {
    const parsed = parse(`palm.cpu ${value} 2`);
    equal(parsed.kind, LINE_NON_FINITE, value);
    equal(parsed.key, "palm.cpu", value);
  }
});

Deno.test("`GraphiteLineParser.parse()` refuses malformed lines and says why", () => {
  const fields = "expected <path> <value> <timestamp>";
  const value = "the value is not a number";
  const timestamp = "the timestamp is not a number of seconds";
  const path = "the path is not UTF-8 without whitespace";
  const cases: [line: string | Uint8Array, problem: string][] = [
    ["palm.cpu", fields],
    ["palm.cpu 1", fields],
    ["palm.cpu 1 2 3", fields],
    ["palm.cpu abc 2", value],
    ["palm.cpu 0x10 2", value],
    ["palm.cpu 1_000 2", value],
    ["palm.cpu 1,5 2", value],
    ["palm.cpu infinit 2", value],
    ["palm.cpu 1 abc", timestamp],
    ["palm.cpu 1 nan", timestamp],
    ["palm.cpu 1 inf", timestamp],
    ["palm.cpu 1 1e300", timestamp],
    ["palm.cpu 1 9007199254740992", timestamp],
    ["palm.cpu nan abc", timestamp],
    ["palm\u00a0cpu 1 2", path],
    ["palm\u000bcpu 1 2", path],
    [concat(bytes("palm"), new Uint8Array([0xff]), bytes(" 1 2")), path],
  ];
  for (const [line, problem] of cases) {
    const parsed = parse(line);
    equal(parsed.kind, LINE_BAD, String(line));
    equal(parsed.problem, problem, String(line));
  }
});

Deno.test("`GraphiteLineParser.parse()` passes over blank lines", () => {
  for (const line of ["", " ", "\t \t"]) equal(parse(line).kind, LINE_BLANK);
});

Deno.test("`GraphiteLineParser.parse()` never throws, and a sample it reads is sound", () => {
  const random = rng(2003);
  const parser = new GraphiteLineParser();
  const alphabet = bytes("a.b;=x 0123456789.eE+-naif\t\r\u00ff");
  for (let i = 0; i < 50_000; i++) {
    const line = new Uint8Array(randomInt(random, 0, 40));
    for (let j = 0; j < line.length; j++) {
      line[j] = random() < 0.8
        ? alphabet[randomInt(random, 0, alphabet.length - 1)]
        : randomInt(random, 0, 255);
    }
    if (parser.parse(line, 0, line.length, NOW) !== LINE_SAMPLE) continue;
    assert(Number.isFinite(parser.value), `${parser.value}`);
    assert(Number.isSafeInteger(parser.timestamp), `${parser.timestamp}`);
    assert(isKey(parser.key) && parser.key.isWellFormed(), parser.key);
  }
});

/** Listeners on free ports, UDP included, for `storage`. */
function listen(
  storage: Storage,
  options: GraphiteOptions = {},
): GraphiteServer {
  return serveGraphite(storage, {
    plaintext: { hostname: HOST, port: 0 },
    ...options,
  });
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

/** Sends `data` on a new TCP connection and closes it. */
async function sendTcp(port: number, ...writes: string[]): Promise<void> {
  const conn = await Deno.connect({ hostname: HOST, port });
  try {
    for (const data of writes) {
      const chunk = bytes(data);
      for (let at = 0; at < chunk.length;) {
        at += await conn.write(chunk.subarray(at));
      }
    }
  } finally {
    conn.close();
  }
}

Deno.test("serveGraphite() stores plaintext lines sent over TCP", async (t) => {
  await using storage = new LocalStorage();
  await using graphite = listen(storage, { udp: false });
  const port = graphite.addrs.plaintext!.port;
  const store = storage.store;

  await t.step("several lines in one write, \\r\\n too", async () => {
    await sendTcp(port, "a.one 1 10\na.one 2.5 11\r\na.two -3 10\n");
    await figure(graphite, "graphite_lines_total", 3);
    deepEqual(store.get("a.one")?.toArray(), [[10, 1], [11, 2.5]]);
    deepEqual(store.get("a.two")?.toArray(), [[10, -3]]);
  });

  await t.step("a line split at every byte", async () => {
    const line = "b.split 7 20\n";
    await sendTcp(port, ...line.split(""));
    await figure(graphite, "graphite_lines_total", 4);
    deepEqual(store.get("b.split")?.toArray(), [[20, 7]]);
  });

  await t.step("a line cut off by the end of the connection", async () => {
    await sendTcp(port, "c.whole 1 1\nc.cut 1 1");
    await figure(graphite, "graphite_lines_total", 5);
    equal(graphite.stats().graphite_connections_total, 3);
    await delay(20);
    equal(store.get("c.cut"), undefined);
  });

  await t.step("bad, blank and non-finite lines, counted apart", async () => {
    await sendTcp(
      port,
      "d.bad x 1\n\n  \nd.nan nan 1\nd.inf -inf 1\nd.ok 1 1\n",
    );
    await figure(graphite, "graphite_lines_total", 6);
    equal(graphite.stats().graphite_bad_lines_total, 1);
    equal(graphite.stats().graphite_non_finite_total, 2);
    equal(store.get("d.nan"), undefined);
    equal(store.get("d.bad"), undefined);
  });

  await t.step("a line over 16 KiB dropped up to its newline", async () => {
    const long = `e.long ${"1".repeat(MAX_GRAPHITE_LINE_LENGTH)} 1\n`;
    const exact = `e.${"x".repeat(MAX_GRAPHITE_LINE_LENGTH - 6)} 1 1\n`;
    equal(exact.length, MAX_GRAPHITE_LINE_LENGTH + 1);
    await sendTcp(
      port,
      long.slice(0, 5000),
      long.slice(5000),
      exact,
      "e.after 1 1\n",
    );
    await figure(graphite, "graphite_lines_total", 8);
    equal(graphite.stats().graphite_long_lines_total, 1);
    equal(store.get("e.long"), undefined);
    equal(store.get(exact.split(" ")[0])?.length, 1);
    equal(store.get("e.after")?.length, 1);
  });

  await t.step("a timestamp of -1 is the time of arrival", async () => {
    const before = Math.floor(Date.now() / 1000);
    await sendTcp(port, "f.now 1 -1\n");
    await figure(graphite, "graphite_lines_total", 9);
    const [[timestamp]] = store.get("f.now")!.toArray();
    assert(
      timestamp >= before && timestamp <= Date.now() / 1000,
      `${timestamp}`,
    );
  });

  await t.step("every byte counted", () => {
    const sent = [
      "a.one 1 10\na.one 2.5 11\r\na.two -3 10\n",
      "b.split 7 20\n",
      "c.whole 1 1\nc.cut 1 1",
      "d.bad x 1\n\n  \nd.nan nan 1\nd.inf -inf 1\nd.ok 1 1\n",
      `e.long ${"1".repeat(MAX_GRAPHITE_LINE_LENGTH)} 1\n`,
      `e.${"x".repeat(MAX_GRAPHITE_LINE_LENGTH - 6)} 1 1\ne.after 1 1\n`,
      "f.now 1 -1\n",
    ].reduce((sum, text) => sum + bytes(text).length, 0);
    equal(graphite.stats().graphite_received_bytes_total, sent);
  });
});

Deno.test("serveGraphite() takes plaintext over UDP on the same port", async () => {
  await using storage = new LocalStorage();
  await using graphite = listen(storage);
  const { plaintext, udp } = graphite.addrs;
  equal(udp?.port, plaintext?.port);
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: HOST,
    port: 0,
  });
  try {
    const to = { transport: "udp" as const, hostname: HOST, port: udp!.port };
    await socket.send(bytes("u.a 1 10\nu.a 2 11\r\nu.b 3 10"), to);
    await socket.send(bytes("u.bad\n\nu.c nan 1\n"), to);
    await socket.send(bytes(`u.long ${"1".repeat(20_000)} 1\nu.d 4 1\n`), to);
    await figure(graphite, "graphite_datagrams_total", 3);
    await figure(graphite, "graphite_lines_total", 4);
  } finally {
    socket.close();
  }
  const stats = graphite.stats();
  equal(stats.graphite_bad_lines_total, 1);
  equal(stats.graphite_non_finite_total, 1);
  equal(stats.graphite_long_lines_total, 1);
  deepEqual(storage.store.get("u.a")?.toArray(), [[10, 1], [11, 2]]);
  deepEqual(storage.store.get("u.b")?.toArray(), [[10, 3]]);
  deepEqual(storage.store.get("u.d")?.toArray(), [[1, 4]]);
});

Deno.test("serveGraphite() logs a connection's problems at most once a minute", async () => {
  await using storage = new LocalStorage();
  const logs: string[] = [];
  await using graphite = listen(storage, {
    udp: false,
    onLog: (message) => logs.push(message),
  });
  const port = graphite.addrs.plaintext!.port;
  const conn = await Deno.connect({ hostname: HOST, port });
  const local = (conn.localAddr as Deno.NetAddr).port;
  const bad = Array.from({ length: 100 }, (_, i) => `bad.${i} x 1\n`).join("");
  await conn.write(bytes(bad));
  await conn.write(bytes(`${"y".repeat(300)} 1\n`));
  await figure(graphite, "graphite_bad_lines_total", 101);
  conn.close();
  await sendTcp(port, `${"z".repeat(300)} 1\n`);
  await figure(graphite, "graphite_bad_lines_total", 102);
  await sendTcp(port, "\x1b[2J\x1b[31mred 1\n");
  await figure(graphite, "graphite_bad_lines_total", 103);
  equal(logs.length, 3, logs.join("\n"));
  equal(
    logs[0],
    `graphite: ${HOST}:${local}: skipped the line "bad.0 x 1": the value is not a number`,
  );
  assert(
    logs[1].endsWith(
      `: skipped the line "${
        "z".repeat(200)
      }"...: expected <path> <value> <timestamp>`,
    ),
    logs[1],
  );
  assert(
    logs[2].endsWith(
      ': skipped the line "\\u001b[2J\\u001b[31mred 1": expected <path> <value> <timestamp>',
    ),
    logs[2],
  );
});

Deno.test("serveGraphite() closes connections past maxConnections", async () => {
  await using storage = new LocalStorage();
  await using graphite = listen(storage, { udp: false, maxConnections: 1 });
  const port = graphite.addrs.plaintext!.port;
  const first = await Deno.connect({ hostname: HOST, port });
  await first.write(bytes("m.first 1 1\n"));
  await figure(graphite, "graphite_lines_total", 1);
  const second = await Deno.connect({ hostname: HOST, port });
  equal(await within(second.read(new Uint8Array(1)), "the refusal"), null);
  second.close();
  equal(graphite.stats().graphite_connections_refused_total, 1);
  equal(graphite.stats().graphite_connections, 1);
  first.close();
  await figure(graphite, "graphite_connections", 0);
  await sendTcp(port, "m.third 1 1\n");
  await figure(graphite, "graphite_lines_total", 2);
});

Deno.test("serveGraphite() closes connections idle past idleTimeout", async () => {
  await using storage = new LocalStorage();
  await using graphite = listen(storage, { udp: false, idleTimeout: 50 });
  const conn = await Deno.connect({
    hostname: HOST,
    port: graphite.addrs.plaintext!.port,
  });
  await conn.write(bytes("i.one 1 1\n"));
  equal(await within(conn.read(new Uint8Array(1)), "the close"), null);
  conn.close();
  equal(storage.store.get("i.one")?.length, 1);
});

Deno.test("serveGraphite() stores lines with the log's durability", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-graphite-" });
  try {
    for (const fsync of ["always", "everysec"] as const) {
      await t.step(`--fsync ${fsync}: restored after a restart`, async () => {
        {
          await using storage = await openStorage(`${dir}/${fsync}`, { fsync });
          await using graphite = listen(storage, { udp: false });
          const lines = Array.from(
            { length: 1000 },
            (_, i) => `d.${i % 10} ${i / 4} ${1000 + i}\n`,
          );
          await sendTcp(graphite.addrs.plaintext!.port, lines.join(""));
          await figure(graphite, "graphite_lines_total", 1000);
        }
        await using storage = await openStorage(`${dir}/${fsync}`, { fsync });
        equal(storage.store.get("d.3")?.length, 100);
        deepEqual(storage.store.get("d.3")?.toArray()[1], [1013, 13 / 4]);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveGraphite() counts and logs samples the storage refuses", async () => {
  await using storage = new LocalStorage({ retention: 3600 });
  const logs: string[] = [];
  await using graphite = listen(storage, {
    udp: false,
    onLog: (message) => logs.push(message),
  });
  const now = Math.floor(Date.now() / 1000);
  await sendTcp(
    graphite.addrs.plaintext!.port,
    `r.old 1 1000\nr.new 1 ${now}\n`,
  );
  await figure(graphite, "graphite_lines_total", 1);
  equal(graphite.stats().graphite_refused_samples_total, 1);
  equal(storage.store.get("r.old"), undefined);
  equal(logs.length, 1);
  assert(logs[0].includes('did not store "r.old" at 1000: '), logs[0]);
});

/**
 * A storage whose commits settle when the test says: it records what was
 * appended and each commit.
 */
class HeldStorage implements Storage {
  readonly backend = "held";
  readonly querier = undefined as unknown as Storage["querier"];
  appended: string[] = [];
  commits: PromiseWithResolvers<void>[] = [];

  appender(): Appender {
    return {
      deferred: true,
      append: (key) => {
        this.appended.push(key);
        return undefined;
      },
      appendBatch: () => "not here",
      delete: () => 0,
      commit: () => {
        const commit = Promise.withResolvers<void>();
        this.commits.push(commit);
        return commit.promise;
      },
      rollback: () => {},
    };
  }

  stats() {
    return { series: 0, samples: 0 };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

Deno.test("serveGraphite() reads a connection on only once its commit settled", async (t) => {
  const storage = new HeldStorage();
  await using graphite = listen(storage, { udp: false });
  const conn = await Deno.connect({
    hostname: HOST,
    port: graphite.addrs.plaintext!.port,
  });
  const commits = (n: number) =>
    within(
      (async () => {
        while (storage.commits.length < n) await delay(5);
      })(),
      `${n} commits`,
    );
  try {
    await t.step("the next chunk waits for the commit", async () => {
      await conn.write(bytes("h.one 1 1\n"));
      await commits(1);
      await conn.write(bytes("h.two 1 1\n"));
      await delay(50);
      deepEqual(storage.appended, ["h.one"]);
      storage.commits[0].resolve();
      await commits(2);
      deepEqual(storage.appended, ["h.one", "h.two"]);
      await figure(graphite, "graphite_lines_total", 1);
    });
    await t.step("a failed commit counts its samples as refused", async () => {
      storage.commits[1].reject(new Error("the disk is full"));
      await figure(graphite, "graphite_refused_samples_total", 1);
      equal(graphite.stats().graphite_lines_total, 1);
    });
  } finally {
    conn.close();
  }
});

Deno.test("GraphiteServer.shutdown() closes connections and is safe to repeat", async () => {
  await using storage = new LocalStorage();
  const graphite = listen(storage);
  const conn = await Deno.connect({
    hostname: HOST,
    port: graphite.addrs.plaintext!.port,
  });
  await conn.write(bytes("s.one 1 1\n"));
  await figure(graphite, "graphite_lines_total", 1);
  await within(
    Promise.all([graphite.shutdown(), graphite.shutdown()]),
    "shutdown",
  );
  equal(await within(conn.read(new Uint8Array(1)), "the close"), null);
  conn.close();
  await graphite.finished;
});

Deno.test("serveGraphite() shuts down when its signal aborts", async () => {
  await using storage = new LocalStorage();
  const controller = new AbortController();
  const graphite = listen(storage, { signal: controller.signal });
  controller.abort();
  await within(graphite.finished, "the shutdown");
  await assertRejectsConnect(graphite.addrs.plaintext!.port);
});

async function assertRejectsConnect(port: number): Promise<void> {
  try {
    const conn = await Deno.connect({ hostname: HOST, port });
    conn.close();
  } catch (error) {
    assert(error instanceof Deno.errors.ConnectionRefused, String(error));
    return;
  }
  throw new Error(`port ${port} still takes connections`);
}

Deno.test("serveGraphite() refuses limits out of range", async () => {
  await using storage = new LocalStorage();
  for (const options of [{ maxConnections: 0 }, { idleTimeout: -1 }]) {
    try {
      serveGraphite(storage, options);
    } catch (error) {
      assert(error instanceof RangeError);
      continue;
    }
    throw new Error(`${JSON.stringify(options)} was taken`);
  }
});
