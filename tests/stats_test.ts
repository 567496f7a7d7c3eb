/**
 * The `stats` command of issue 5: its answer's names and format, and that
 * every figure moves by exactly what the requests before it did.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { Client } from "../client.ts";
import { openStorage } from "../storage/local.ts";
import { serve } from "../server.ts";
import {
  askStats,
  bytes,
  decoder,
  delay,
  ERROR_ANSWER,
  RawConnection,
  splitAnswers,
  within,
} from "./_helpers.ts";

/** The names of the `stats` answer before those of storage and memory. */
const COUNTERS = [
  "uptime_seconds",
  "connections",
  "connections_total",
  "connections_refused",
  "commands_put",
  "commands_get",
  "commands_last",
  "commands_query",
  "commands_keys",
  "commands_delete",
  "commands_ping",
  "commands_stats",
  "commands_auth",
  "commands_quit",
  "commands_clients",
  "commands_compact",
  "commands_shutdown",
  "commands_invalid",
  "errors",
  "series",
  "samples",
  "bytes_in",
  "bytes_out",
];
/**
 * The names of the figures of the samples in memory by encoding, after
 * those of a data directory.
 */
const CHUNKS = [
  "chunk_bytes_raw",
  "chunk_bytes_decimal",
  "chunk_bytes_xor",
  "samples_raw",
  "samples_decimal",
  "samples_xor",
  "chunk_pages_bytes",
];
/** The names of the figures of memory, last in the answer. */
const MEMORY = [
  "memory_rss_bytes",
  "memory_heap_bytes",
  "memory_external_bytes",
];
/** The names of the `stats` answer of a server kept in memory. */
const NAMES = [...COUNTERS, ...CHUNKS, ...MEMORY];

/**
 * A connection that counts the bytes it sends and receives, so that the
 * figures `bytes_in` and `bytes_out` can be checked exactly.
 */
class CountingConnection implements AsyncDisposable {
  /** Bytes sent so far. */
  sent = 0;
  /** Bytes of answers received so far. */
  received = 0;
  readonly #connection: RawConnection;

  constructor(connection: RawConnection) {
    this.#connection = connection;
  }

  /** Sends `request` and reads `count` answers. */
  async exchange(request: string, count: number): Promise<string> {
    this.sent += bytes(request).length;
    await this.#connection.send(request);
    const answers = await this.#connection.answers(count);
    this.received += bytes(answers).length;
    return answers;
  }

  /** Asks for `stats`, counting its bytes, and returns figures by name. */
  async stats(): Promise<Record<string, number>> {
    this.sent += "stats\n".length;
    const figures = await askStats(this.#connection);
    this.received += figures.reduce(
      (sum, [name, value]) => sum + `${name} ${value}\n`.length,
      "ok\n\n".length,
    );
    return Object.fromEntries(figures);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#connection[Symbol.asyncDispose]();
  }
}

/** Every counter of a fresh server: zero but the one connection. */
function fresh(): Record<string, number> {
  const figures: Record<string, number> = {};
  for (const name of [...COUNTERS, ...CHUNKS]) figures[name] = 0;
  return { ...figures, connections: 1, connections_total: 1 };
}

/** The counters of `figures`: the clock and memory left out. */
function counters(figures: Record<string, number>): Record<string, number> {
  const { uptime_seconds: _, ...rest } = figures;
  for (const name of MEMORY) delete rest[name];
  return { uptime_seconds: 0, ...rest };
}

Deno.test("`stats` answers ok and one `name value` line per figure", async () => {
  await using server = serve({ port: 0 });
  await using connection = await RawConnection.connect(server.addr.port);
  await connection.send("stats\n");
  const answer = await connection.answers(1);
  const lines = answer.split("\n");
  equal(lines[0], "ok");
  deepEqual(lines.slice(-2), ["", ""], "the answer ends with an empty line");
  const body = lines.slice(1, -2);
  deepEqual(body.map((line) => line.split(" ")[0]), NAMES);
  for (const line of body) assert(/^[a-z_]+ \d+$/.test(line), line);
  deepEqual(Object.keys(server.stats()), NAMES, "Server.stats() too");
  await using client = new Client("127.0.0.1", server.addr.port);
  deepEqual(Object.keys(await client.stats()), NAMES, "Client.stats() too");
});

Deno.test("`stats` counts commands by kind, errors, series, samples and bytes", async (t) => {
  await using server = serve({ port: 0 });
  await using connection = new CountingConnection(
    await RawConnection.connect(server.addr.port),
  );
  const expected = fresh();
  /** Checks every counter against `expected`. */
  const check = async (what: string) => {
    // The answer to `stats` is counted once written, after it is made.
    expected.bytes_out = connection.received;
    const figures = await connection.stats();
    expected.commands_stats++;
    expected.bytes_in = connection.sent;
    deepEqual(counters(figures), expected, what);
  };
  await t.step("a fresh server", async () => {
    await check("fresh");
  });
  await t.step("puts, a replacement among them", async () => {
    const answers = await connection.exchange(
      "put a.x 1 10\nput a.x 2 10\nput a.y 3 20\nput a.x 4 11\n",
      4,
    );
    equal(answers, "ok\n\n".repeat(4));
    // A new series' head holds 4 raw samples of 12 bytes.
    Object.assign(expected, {
      commands_put: 4,
      series: 2,
      samples: 3,
      chunk_bytes_raw: 2 * 48,
      samples_raw: 3,
    });
    await check("after the puts");
  });
  await t.step("reads of every kind", async () => {
    const answers = splitAnswers(
      await connection.exchange(
        "get a.x\nget *\nlast a.*\nkeys a.*\nquery a.x 0 100\nping\n",
        6,
      ),
    );
    equal(answers[0], "ok\na.x 2.0 10\na.x 4.0 11\n\n");
    equal(answers[5], "ok\npong\n\n");
    Object.assign(expected, {
      commands_get: 2,
      commands_last: 1,
      commands_keys: 1,
      commands_query: 1,
      commands_ping: 1,
    });
    await check("after the reads");
  });
  await t.step("errors, and blank lines that count as nothing", async () => {
    const answers = splitAnswers(
      await connection.exchange(
        "bad command\n\n   \nput a.z nan 1\nstats extra\nget\n",
        4,
      ),
    );
    equal(answers[0], ERROR_ANSWER);
    equal(answers[1], ERROR_ANSWER);
    equal(answers[2], "error\nstats takes no arguments\n\n");
    equal(answers[3], ERROR_ANSWER);
    expected.commands_invalid += 4;
    expected.errors += 4;
    await check("after the errors");
  });
  await t.step("a delete and an auth without a token", async () => {
    equal(
      await connection.exchange("delete a.y\nauth anything\n", 2),
      "ok\n1\n\nok\n\n",
    );
    Object.assign(expected, {
      commands_delete: 1,
      commands_auth: 1,
      series: 1,
      samples: 2,
      chunk_bytes_raw: 48,
      samples_raw: 2,
    });
    await check("after the delete");
  });
  await t.step("clients, and compact without a data directory", async () => {
    const answers = splitAnswers(
      await connection.exchange("clients\ncompact\n", 2),
    );
    assert(answers[0].startsWith("ok\nid="), answers[0]);
    equal(
      answers[1],
      "error\ncannot compact: the samples are kept in memory only\n\n",
    );
    Object.assign(expected, {
      commands_clients: 1,
      commands_compact: 1,
      errors: expected.errors + 1,
    });
    await check("after clients and compact");
  });
  await t.step("connections now and in total", async () => {
    {
      await using other = await RawConnection.connect(server.addr.port);
      await other.send("ping\n");
      equal(await other.answers(1), "ok\npong\n\n");
      const figures = await connection.stats();
      equal(figures.connections, 2);
      equal(figures.connections_total, 2);
      equal(figures.commands_ping, expected.commands_ping + 1);
    }
    // The server sees the other leave once it reads the end of its input.
    let figures = await connection.stats();
    await within(
      (async () => {
        while (figures.connections !== 1) {
          await delay(20);
          figures = await connection.stats();
        }
      })(),
      "connections back to 1",
    );
    equal(figures.connections_total, 2);
  });
  await t.step("quit, and a shutdown refused for want of a login", async () => {
    await using other = await RawConnection.connect(server.addr.port);
    await other.send("quit\n");
    equal(decoder.decode(await other.readToEnd()), "ok\n\n");
    await using locked = serve({ port: 0, token: "secret" });
    await using refused = await RawConnection.connect(locked.addr.port);
    await refused.send("shutdown\n");
    equal(await refused.answers(1), "error\nauthentication required\n\n");
    const figures = locked.stats();
    equal(figures.commands_shutdown, 1);
    equal(figures.errors, 1);
    equal((await connection.stats()).commands_quit, 1);
  });
});

Deno.test("`stats` counts refused connections", async () => {
  await using server = serve({ port: 0, maxConnections: 1 });
  await using connection = await RawConnection.connect(server.addr.port);
  await connection.send("ping\n");
  equal(await connection.answers(1), "ok\npong\n\n");
  for (let i = 0; i < 3; i++) {
    await using refused = await RawConnection.connect(server.addr.port);
    equal(
      decoder.decode(await refused.readToEnd()),
      "error\ntoo many connections\n\n",
    );
  }
  const figures = Object.fromEntries(await askStats(connection));
  equal(figures.connections, 1);
  equal(figures.connections_total, 1);
  equal(figures.connections_refused, 3);
});

Deno.test("`stats` counts refused logins as errors", async () => {
  await using server = serve({ port: 0, token: "secret" });
  await using connection = await RawConnection.connect(server.addr.port);
  await connection.send("ping\nauth wrong\nput k 1 1\nauth secret\n");
  equal(
    await connection.answers(4),
    "error\nauthentication required\n\n" + "error\ninvalid token\n\n" +
      "error\nauthentication required\n\n" + "ok\n\n",
  );
  const figures = Object.fromEntries(await askStats(connection));
  equal(figures.errors, 3);
  equal(figures.commands_auth, 2);
  equal(figures.commands_ping, 1);
  equal(figures.commands_put, 1);
  equal(figures.samples, 0, "the refused put stored nothing");
});

Deno.test("`stats` reports the process's memory", async () => {
  await using server = serve({ port: 0 });
  await using connection = await RawConnection.connect(server.addr.port);
  const figures = Object.fromEntries(await askStats(connection));
  const rss = Deno.memoryUsage().rss;
  // The server runs in this process: the same resident set, give or take.
  assert(
    figures.memory_rss_bytes > rss / 2 && figures.memory_rss_bytes < rss * 2,
    `${figures.memory_rss_bytes} bytes resident, ${rss} here`,
  );
  assert(figures.memory_heap_bytes > 0);
  assert(figures.memory_heap_bytes < figures.memory_rss_bytes);
});

Deno.test("`stats` reports the uptime in whole seconds", async () => {
  await using server = serve({ port: 0 });
  await using connection = await RawConnection.connect(server.addr.port);
  const first = Object.fromEntries(await askStats(connection)).uptime_seconds;
  await delay(1_100);
  const second = Object.fromEntries(await askStats(connection)).uptime_seconds;
  assert(second >= first + 1, `${first} s, then ${second} s`);
});

Deno.test("`stats` reports the sizes of the log and snapshot with storage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-stats-" });
  try {
    const storage = await openStorage(dir, {
      fsync: "always",
    });
    try {
      await using server = serve({ port: 0, storage });
      await using connection = await RawConnection.connect(server.addr.port);
      const before = Object.fromEntries(await askStats(connection));
      deepEqual(Object.keys(before), [
        ...COUNTERS,
        "log_bytes",
        "snapshot_bytes",
        ...CHUNKS,
        ...MEMORY,
      ]);
      await connection.send("put logged.series 1.5 1700000000\n");
      equal(await connection.answers(1), "ok\n\n");
      const after = Object.fromEntries(await askStats(connection));
      assert(
        after.log_bytes > before.log_bytes,
        `log_bytes ${before.log_bytes}, then ${after.log_bytes}`,
      );
      equal(after.samples, 1);
    } finally {
      await storage.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
