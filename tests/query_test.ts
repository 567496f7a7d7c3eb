import {
  deepStrictEqual as deepEqual,
  ok as assert,
  rejects,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import { Client, ClientError } from "../client.ts";
import {
  type Aggregation,
  bucketStart,
  Query,
  type QueryOptions,
} from "../store/query.ts";
import { serve } from "../server.ts";
import { Store } from "../store.ts";
import {
  delay,
  exchange,
  HOST,
  randomInt,
  RawConnection,
  rng,
  rollUp,
  ServerProcess,
  within,
} from "./_helpers.ts";

type Row = [key: string, timestamp: number, value: number];

/** Every row a query gives, read in steps of `limit` samples. */
function rows(store: Store, keys: string[], options: QueryOptions, limit = 7) {
  const series = keys.map((key) => store.get(key)!);
  const query = new Query(series, options);
  const out: Row[] = [];
  let steps = 0;
  while (!query.read((k, v, t) => out.push([k, t, v]), limit)) {
    assert(++steps < 100_000, "the query does not end");
  }
  return out;
}

/**
 * A series put out of order and with replacements, negative timestamps too.
 * Sorted, it is: -12:8, -10:-1, -3:2, 0:7, 11:3, 19:6, 20:5, 25:4, 29:10.
 */
function messyStore(): Store {
  const store = new Store();
  const puts: [number, number][] = [
    [25, 4],
    [-3, 2],
    [11, 1],
    [-12, 8],
    [19, 6],
    [11, 3], // replaces 1
    [20, 5],
    [-10, 9],
    [0, 7],
    [29, 10],
    [-10, -1], // replaces 9
  ];
  for (const [timestamp, value] of puts) store.put("m", value, timestamp);
  return store;
}

Deno.test("Query reads a time range with both edges included", async (t) => {
  const store = new Store();
  for (const timestamp of [30, 10, 20]) {
    store.put("k", timestamp / 10, timestamp);
  }
  const read = (from: number, to: number) =>
    rows(store, ["k"], { from, to }).map(([, timestamp]) => timestamp);

  await t.step("edges on samples", () => {
    deepEqual(read(10, 30), [10, 20, 30]);
    deepEqual(read(20, 20), [20]);
    deepEqual(read(10, 10), [10]);
    deepEqual(read(30, 30), [30]);
  });
  await t.step("edges between samples", () => {
    deepEqual(read(11, 29), [20]);
    deepEqual(read(9, 31), [10, 20, 30]);
    deepEqual(read(11, 19), []);
  });
  await t.step("outside the series", () => {
    deepEqual(read(31, 100), []);
    deepEqual(read(-100, 9), []);
  });
  await t.step("from after to", () => {
    deepEqual(read(21, 19), []);
    deepEqual(read(30, 10), []);
  });
  await t.step("unbounded", () => {
    deepEqual(
      rows(store, ["k"], {}).map(([, timestamp]) => timestamp),
      [10, 20, 30],
    );
  });
});

Deno.test("Query rolls up into buckets aligned to multiples of step", async (t) => {
  const store = messyStore();
  // Hand-computed from the sorted series, step 10:
  // -20: [8]  -10: [-1, 2]  0: [7]  10: [3, 6]  20: [5, 4, 10]
  const expected: Record<Aggregation, number[]> = {
    avg: [8, 0.5, 7, 4.5, 19 / 3],
    min: [8, -1, 7, 3, 4],
    max: [8, 2, 7, 6, 10],
    sum: [8, 1, 7, 9, 19],
    count: [1, 2, 1, 2, 3],
    last: [8, 2, 7, 6, 10],
  };
  for (const [aggregation, values] of Object.entries(expected)) {
    await t.step(aggregation, () => {
      deepEqual(
        rows(store, ["m"], {
          step: 10,
          aggregation: aggregation as Aggregation,
        }),
        [-20, -10, 0, 10, 20].map((bucket, i) => ["m", bucket, values[i]]),
      );
    });
  }
  await t.step("a step that divides no timestamp evenly", () => {
    // Step 7: -12,-10 -> -14; -3 -> -7; 0 -> 0; 11 -> 7; 19,20 -> 14;
    // 25 -> 21; 29 -> 28.
    deepEqual(rows(store, ["m"], { step: 7, aggregation: "sum" }), [
      ["m", -14, 7],
      ["m", -7, 2],
      ["m", 0, 7],
      ["m", 7, 3],
      ["m", 14, 11],
      ["m", 21, 4],
      ["m", 28, 10],
    ]);
  });
  await t.step("within a range that cuts buckets", () => {
    // -10..25 leaves -12 and 29 out: -10: [-1, 2]  0: [7]  10: [3, 6]
    // 20: [5, 4].
    deepEqual(
      rows(store, ["m"], { from: -10, to: 25, step: 10, aggregation: "avg" }),
      [["m", -10, 0.5], ["m", 0, 7], ["m", 10, 4.5], ["m", 20, 4.5]],
    );
  });
  await t.step("avg is the default", () => {
    deepEqual(
      rows(store, ["m"], { step: 10 }),
      rows(store, ["m"], { step: 10, aggregation: "avg" }),
    );
  });
  await t.step("a step wider than the series", () => {
    deepEqual(rows(store, ["m"], { step: 1000, aggregation: "count" }), [
      ["m", -1000, 3],
      ["m", 0, 6],
    ]);
  });
});

Deno.test("Query aligns buckets of steps near 2^53 without leaving the safe integers", async (t) => {
  const MAX = Number.MAX_SAFE_INTEGER;
  await t.step("the issue's query: one bucket at 0", () => {
    const store = new Store();
    for (let ts = 0; ts <= 100_000; ts += 1000) store.put("x.a", 1, ts);
    deepEqual(
      rows(store, ["x.a"], {
        from: 0,
        to: 100_000,
        step: MAX,
        aggregation: "count",
      }),
      [["x.a", 0, 101]],
    );
  });
  await t.step("negative timestamps and the ends of the range", () => {
    const store = new Store();
    for (const ts of [-MAX, -MAX + 1, -5, -1, 0, 1, MAX - 1, MAX]) {
      store.put("e", 1, ts);
    }
    // Step MAX: buckets start at -MAX (holding -MAX .. -1), 0 and MAX.
    deepEqual(rows(store, ["e"], { step: MAX, aggregation: "count" }), [
      ["e", -MAX, 4],
      ["e", 0, 3],
      ["e", MAX, 1],
    ]);
    // Step 2^52: -MAX lies in the bucket starting at -2^53, which is
    // labelled -MAX; -MAX + 1 .. -2^52 - 1 share it.
    deepEqual(rows(store, ["e"], { step: 2 ** 52, aggregation: "count" }), [
      ["e", -MAX, 2],
      ["e", -(2 ** 52), 2],
      ["e", 0, 2],
      ["e", 2 ** 52, 2],
    ]);
  });
  await t.step(
    "a sample at the start of the bucket after a clamped one",
    () => {
      const store = new Store();
      for (const ts of [-MAX, -(2 ** 52) - 1, -(2 ** 52), -(2 ** 52) + 1]) {
        store.put("c", 1, ts);
      }
      // -MAX and -2^52 - 1 lie in the bucket labelled -MAX; -2^52 starts the
      // next, whatever the clamped label's step would reach.
      deepEqual(rows(store, ["c"], { step: 2 ** 52, aggregation: "count" }), [
        ["c", -MAX, 2],
        ["c", -(2 ** 52), 2],
      ]);
    },
  );
  await t.step(
    "buckets as `bucketStart()` gives them, near the low end",
    () => {
      const random = rng(8);
      for (let i = 0; i < 200; i++) {
        const step = randomInt(random, 1, 2 ** randomInt(random, 1, 53));
        const store = new Store();
        const expected = new Map<number, number>();
        for (let k = 0; k < 20; k++) {
          const ts = -MAX + randomInt(random, 0, 2 * step);
          if (store.get("r")?.toArray().some(([t]) => t === ts)) continue;
          store.put("r", 1, ts);
          const start = bucketStart(ts, step);
          expected.set(start, (expected.get(start) ?? 0) + 1);
        }
        deepEqual(
          rows(store, ["r"], { step, aggregation: "count" }),
          [...expected].sort((a, b) => a[0] - b[0]).map(([start, count]) => [
            "r",
            start,
            count,
          ]),
          `step ${step}`,
        );
      }
    },
  );
  await t.step(
    "every bucket start is a safe multiple of step at or before its samples",
    () => {
      const random = rng(7);
      for (let i = 0; i < 10_000; i++) {
        const step = randomInt(random, 1, MAX);
        const ts = randomInt(random, -MAX, MAX);
        const start = bucketStart(ts, step);
        assert(Number.isSafeInteger(start), `${ts} / ${step} -> ${start}`);
        assert(
          start <= ts && ts - start < step || start === -MAX,
          `${ts} / ${step} -> ${start}`,
        );
        assert(
          start === -MAX || BigInt(start) % BigInt(step) === 0n,
          `${ts} / ${step} -> ${start}`,
        );
      }
    },
  );
});

Deno.test("Query rolls up each series on its own, in the order given", () => {
  const store = new Store();
  store.put("b", 1, 5);
  store.put("a", 2, 6);
  store.put("b", 3, 9);
  store.put("a", 4, 12);
  deepEqual(rows(store, ["b", "a"], { step: 10, aggregation: "sum" }), [
    ["b", 0, 4],
    ["a", 0, 2],
    ["a", 10, 4],
  ]);
});

Deno.test("Query matches a plain model on long series read in steps", async (t) => {
  const random = rng(66);
  const store = new Store();
  const model = new Map<string, Map<number, number>>();
  for (const key of ["x", "y"]) {
    const samples = new Map<number, number>();
    model.set(key, samples);
    // Enough samples to cross the query's internal read steps many times,
    // put in random order with repeats.
    for (let i = 0; i < 6000; i++) {
      const timestamp = randomInt(random, -20_000, 20_000);
      const value = randomInt(random, -1000, 1000) / 4;
      store.put(key, value, timestamp);
      samples.set(timestamp, value);
    }
  }
  const modelRows = (
    from: number,
    to: number,
    step: number,
    aggregation: Aggregation,
  ): Row[] => {
    const out: Row[] = [];
    for (const [key, samples] of model) {
      const sorted = [...samples].filter(([ts]) => from <= ts && ts <= to)
        .sort((a, b) => a[0] - b[0]);
      for (const [bucket, value] of rollUp(sorted, step, aggregation)) {
        out.push([key, bucket, value]);
      }
    }
    return out;
  };
  const cases: [number, number, number, Aggregation][] = [
    [-20_000, 20_000, 1, "sum"],
    [-20_000, 20_000, 60, "avg"],
    [-5000, 7000, 7, "min"],
    [-5000, 7000, 300, "max"],
    [-1, 1, 3, "count"],
    [100, 19_999, 1024, "last"],
  ];
  for (const [from, to, step, aggregation] of cases) {
    await t.step(`${from}..${to} step ${step} ${aggregation}`, () => {
      for (const limit of [1, 1000, Infinity]) {
        deepEqual(
          rows(store, ["x", "y"], { from, to, step, aggregation }, limit),
          modelRows(from, to, step, aggregation),
          `read ${limit} at a time`,
        );
      }
    });
  }
});

Deno.test("Query reads the latest sample of each series with `latest`", () => {
  const store = messyStore();
  store.put("n", 1, 100);
  store.put("n", 2, 50);
  deepEqual(rows(store, ["m", "n"], { latest: true }), [
    ["m", 29, 10],
    ["n", 100, 1],
  ]);
  deepEqual(
    rows(store, ["m", "n"], { latest: true, to: 50 }),
    [["m", 29, 10]],
    "n's latest sample is after `to`",
  );
  deepEqual(
    rows(store, ["m", "n"], { latest: true, from: 30 }),
    [["n", 100, 1]],
    "m's latest sample is before `from`",
  );
});

Deno.test("new Query() refuses a step that is not a positive integer", () => {
  const store = messyStore();
  for (const step of [0, -10, 1.5, NaN, Infinity, 2 ** 53]) {
    throws(
      () => new Query([store.get("m")!], { step }),
      RangeError,
      String(step),
    );
  }
});

/** A store with two hosts' figures, and a server on it. */
function hostsStore(): Store {
  const store = new Store();
  store.put("palm.cpu", 1, 100);
  store.put("palm.cpu", 3, 110);
  store.put("palm.cpu", 2, 105);
  store.put("palm.memory", 4200000, 100);
  store.put("palm.disk.root", 50, 100);
  store.put("eardrum.cpu", 7.5, 90);
  store.put("eardrum.memory", 1e16, 120);
  return store;
}

Deno.test("serve() answers last, query, keys and delete in the get line format", async (t) => {
  await using server = serve({ hostname: HOST, port: 0, store: hostsStore() });
  const port = server.addr.port;
  const ask = (request: string) => exchange(port, request, 1);

  await t.step("last", async () => {
    equal(
      await ask("last palm.*\n"),
      "ok\npalm.cpu 3.0 110\npalm.memory 4200000.0 100\n\n",
    );
    equal(
      await ask("last *.{cpu,memory}\n"),
      "ok\npalm.cpu 3.0 110\npalm.memory 4200000.0 100\n" +
        "eardrum.cpu 7.5 90\neardrum.memory 1e+16 120\n\n",
    );
    equal(
      await ask("last palm.disk.root\n"),
      "ok\npalm.disk.root 50.0 100\n\n",
    );
    equal(await ask("last nothing.*\n"), "ok\n\n");
  });
  await t.step("query", async () => {
    equal(
      await ask("query palm.cpu 100 110\n"),
      "ok\npalm.cpu 1.0 100\npalm.cpu 2.0 105\npalm.cpu 3.0 110\n\n",
    );
    equal(await ask("query palm.cpu 101 109\n"), "ok\npalm.cpu 2.0 105\n\n");
    equal(
      await ask("query *.cpu 90 105\n"),
      "ok\npalm.cpu 1.0 100\npalm.cpu 2.0 105\neardrum.cpu 7.5 90\n\n",
    );
    equal(await ask("query palm.cpu 111 200\n"), "ok\n\n");
    equal(
      await ask("query palm.cpu -9007199254740991 9007199254740991\n"),
      "ok\npalm.cpu 1.0 100\npalm.cpu 2.0 105\npalm.cpu 3.0 110\n\n",
    );
    equal(
      await ask("query palm.cpu 0 200 10 max\n"),
      "ok\npalm.cpu 2.0 100\npalm.cpu 3.0 110\n\n",
    );
    equal(
      await ask("query palm.* 0 200 60 count\n"),
      "ok\npalm.cpu 3.0 60\npalm.memory 1.0 60\n\n",
    );
  });
  await t.step("keys", async () => {
    equal(await ask("keys palm.*\n"), "ok\npalm.cpu\npalm.memory\n\n");
    equal(
      await ask("keys *.*\n"),
      "ok\npalm.cpu\npalm.memory\neardrum.cpu\neardrum.memory\n\n",
    );
    equal(await ask("keys palm.*.*\n"), "ok\npalm.disk.root\n\n");
    equal(await ask("keys x\n"), "ok\n\n");
  });
  await t.step("keys alone, and keys **, list every key", async () => {
    const every = "ok\npalm.cpu\npalm.memory\npalm.disk.root\n" +
      "eardrum.cpu\neardrum.memory\n\n";
    equal(await ask("keys\n"), every);
    equal(await ask("  keys \t\r\n"), every);
    equal(await ask("keys **\n"), every);
  });
  await t.step("get still takes a key, not a pattern", async () => {
    equal(await ask("get palm.*\n"), "ok\n\n");
  });
  await t.step("delete", async () => {
    equal(await ask("delete eardrum.*\n"), "ok\n2\n\n");
    equal(await ask("delete eardrum.*\n"), "ok\n0\n\n");
    equal(await ask("delete palm.disk.root\n"), "ok\n1\n\n");
    equal(await ask("keys *.*\n"), "ok\npalm.cpu\npalm.memory\n\n");
    equal(await ask("keys *.*.*\n"), "ok\n\n");
    equal(await ask("get eardrum.cpu\n"), "ok\n\n");
  });
});

Deno.test("serve() answers bad arguments of the extensions with what is wrong", async (t) => {
  await using server = serve({ hostname: HOST, port: 0, store: hostsStore() });
  const cases: [request: string, message: string][] = [
    ["last", "last takes a key or pattern"],
    ["last a b", "last takes a key or pattern"],
    ["keys a b", "keys takes a key or pattern, or none for every key"],
    ["delete", "delete takes a key or pattern"],
    ["delete a b", "delete takes a key or pattern"],
    [
      "query a 1",
      "query takes a key or pattern, from and to, and optionally step and aggregation",
    ],
    [
      "query a 1 2 60",
      "query takes a key or pattern, from and to, and optionally step and aggregation",
    ],
    ["query a x 2", "invalid from: x"],
    ["query a 1.5 2", "invalid from: 1.5"],
    ["query a 1 now", "invalid to: now"],
    ["query a 1 9007199254740992", "invalid to: 9007199254740992"],
    ["query a 110 100", "invalid range: from 110 is after to 100"],
    ["query a 5 -5 60 avg", "invalid range: from 5 is after to -5"],
    ["query a 1 2 0 avg", "invalid step: 0 (a positive number of seconds)"],
    ["query a 1 2 -5 avg", "invalid step: -5 (a positive number of seconds)"],
    ["query a 1 2 1m avg", "invalid step: 1m (a positive number of seconds)"],
    [
      "query a 1 2 60 median",
      "invalid aggregation: median (one of avg, min, max, sum, count, last)",
    ],
    ["keys {a", "invalid pattern {a: a '{' without '}'"],
    ["last a}", "invalid pattern a}: a '}' without '{'"],
    ["delete [a", "invalid pattern [a: a '[' without ']'"],
    ["query [z-a] 1 2", "invalid pattern [z-a]: a bad range in '[]'"],
    ["stats now", "stats takes no arguments"],
  ];
  for (const [request, message] of cases) {
    await t.step(request, async () => {
      equal(
        await exchange(server.addr.port, `${request}\n`, 1),
        `error\n${message}\n\n`,
      );
    });
  }
  await t.step("the connection stays in step after errors", async () => {
    equal(
      await exchange(
        server.addr.port,
        "query a 1\nkeys palm.*\nlast {\nping\n",
        4,
      ),
      "error\nquery takes a key or pattern, from and to, and optionally step and aggregation\n\n" +
        "ok\npalm.cpu\npalm.memory\n\n" +
        "error\ninvalid pattern {: a '{' without '}'\n\n" +
        "ok\npong\n\n",
    );
  });
});

Deno.test("Client.last(), query(), keys(), delete() and stats() read the answers", async (t) => {
  await using server = serve({ hostname: HOST, port: 0, store: hostsStore() });
  await using client = new Client(HOST, server.addr.port, { timeout: 20_000 });

  await t.step("last()", async () => {
    deepEqual(await client.last("palm.*"), {
      "palm.cpu": [[110, 3]],
      "palm.memory": [[100, 4200000]],
    });
    deepEqual(await client.last("none.*"), {});
  });
  await t.step("query() over a range", async () => {
    deepEqual(await client.query("palm.cpu", { from: 101, to: 110 }), {
      "palm.cpu": [[105, 2], [110, 3]],
    });
    deepEqual(await client.query("*.cpu"), {
      "palm.cpu": [[100, 1], [105, 2], [110, 3]],
      "eardrum.cpu": [[90, 7.5]],
    });
  });
  await t.step("query() rolled up", async () => {
    deepEqual(
      await client.query("palm.cpu", { step: 10, aggregation: "sum" }),
      { "palm.cpu": [[100, 3], [110, 3]] },
    );
    deepEqual(await client.query("palm.cpu", { step: 20 }), {
      "palm.cpu": [[100, 2]],
    }, "avg by default");
  });
  await t.step("query() refuses a roll-up it cannot send", async () => {
    await rejects(
      client.query("palm.cpu", { aggregation: "max" }),
      ClientError,
    );
    await rejects(client.query("palm.cpu", { step: 0 }), ClientError);
    await rejects(client.query("palm.cpu", { from: 1.5 }), ClientError);
    await rejects(
      client.query("palm.cpu", {
        step: 10,
        aggregation: "median" as Aggregation,
      }),
      ClientError,
    );
  });
  await t.step("keys()", async () => {
    deepEqual(await client.keys("*.memory"), ["palm.memory", "eardrum.memory"]);
    deepEqual(await client.keys("x.*"), []);
  });
  await t.step("a malformed pattern is an error answer", async () => {
    await rejects(client.keys("{a"), (error: unknown) => {
      assert(error instanceof ClientError);
      equal(
        error.message,
        "The server answered: invalid pattern {a: a '{' without '}'",
      );
      return true;
    });
    deepEqual(await client.keys("palm.cpu"), ["palm.cpu"], "still in step");
  });
  await t.step("delete()", async () => {
    equal(await client.delete("eardrum.*"), 2);
    equal(await client.delete("eardrum.*"), 0);
    deepEqual(await client.keys("*.*"), ["palm.cpu", "palm.memory"]);
  });
  await t.step("stats()", async () => {
    const stats = await client.stats();
    equal(stats.series, 3);
    equal(stats.samples, 5);
    assert(stats.commands_last >= 2, JSON.stringify(stats));
    assert(stats.commands_delete >= 2, JSON.stringify(stats));
    assert(stats.commands_keys >= 4, JSON.stringify(stats));
    equal(stats.connections, 1);
  });
});

Deno.test("serve() with retention drops old samples from memory", async (t) => {
  await t.step("at start", async () => {
    const now = Math.floor(Date.now() / 1000);
    const store = new Store();
    store.put("old.only", 1, now - 7200);
    store.put("mixed", 1, now - 7200);
    store.put("mixed", 2, now - 60);
    store.put("mixed", 3, now + 60);
    await using server = serve({
      hostname: HOST,
      port: 0,
      store,
      retention: 3600,
    });
    await using client = new Client(HOST, server.addr.port);
    deepEqual(await client.keys("*"), ["mixed"], "the emptied series is gone");
    deepEqual(await client.get("mixed"), {
      mixed: [[now - 60, 2], [now + 60, 3]],
    });
    deepEqual(store.stats, { series: 1, samples: 2 });
  });
  await t.step("while serving", async () => {
    const now = Math.floor(Date.now() / 1000);
    await using server = serve({ hostname: HOST, port: 0, retention: 2 });
    await using client = new Client(HOST, server.addr.port);
    // Far in the future: kept whenever the check runs.
    await client.put("kept", 1, now + 1_000_000);
    // Within the window when put; they age out of it while serving.
    const current = Math.floor(Date.now() / 1000);
    await client.put("old", 1, current);
    await client.put("kept", 2, current);
    // Already outside the window: refused, not taken and then dropped.
    await rejects(
      client.put("older", 1, now - 1000),
      /is older than the retention window of 2s/,
    );
    deepEqual(await client.keys("older"), []);
    // The check runs every tenth of the retention: wait for it, guarded.
    await within(
      (async () => {
        while ((await client.keys("old")).length > 0) await delay(50);
      })(),
      "the old series to be dropped",
      20_000,
    );
    deepEqual(await client.get("kept"), { kept: [[now + 1_000_000, 1]] });
  });
});

/** A temporary data directory, removed on dispose. */
async function dataDirectory(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "pulse-query-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Starts server.ts on a free port, without HTTP, with `args`. */
function startServer(args: string[]): Promise<ServerProcess> {
  return ServerProcess.start(["--port", "0", "--http", "off", ...args]);
}

/** Stops a server with SIGTERM and checks that it exited 0. */
async function stop(server: ServerProcess): Promise<void> {
  server.child.kill("SIGTERM");
  const status = await server.exit();
  equal(status.code, 0, server.stderr);
}

Deno.test("server.ts --retention drops old samples from the data directory", async (t) => {
  await using data = await dataDirectory();
  const now = Math.floor(Date.now() / 1000);
  {
    await using server = await startServer(["--data", data.path]);
    await using client = new Client(HOST, server.port, { timeout: 20_000 });
    await client.put("old.only", 1, now - 7200);
    await client.put("mixed", 1, now - 7200);
    await client.put("mixed", 2, now + 3600);
    await stop(server);
  }
  await t.step("a restart with --retention drops them at start", async () => {
    await using server = await startServer([
      "--data",
      data.path,
      "--retention",
      "1h",
    ]);
    await using client = new Client(HOST, server.port, { timeout: 20_000 });
    deepEqual(await client.get("*"), { mixed: [[now + 3600, 2]] });
    await stop(server);
  });
  await t.step("and they stay dropped without --retention", async () => {
    await using server = await startServer(["--data", data.path]);
    await using client = new Client(HOST, server.port, { timeout: 20_000 });
    deepEqual(await client.get("*"), { mixed: [[now + 3600, 2]] });
    await stop(server);
  });
  await t.step(
    "samples put while serving are dropped on disk too",
    async () => {
      {
        await using server = await startServer([
          "--data",
          data.path,
          "--retention",
          "2s",
        ]);
        await using client = new Client(HOST, server.port, { timeout: 20_000 });
        await client.put("late.old", 1, Math.floor(Date.now() / 1000));
        await within(
          (async () => {
            while ((await client.keys("late.*")).length > 0) await delay(50);
          })(),
          "the old series to be dropped",
          20_000,
        );
        await stop(server);
      }
      await using server = await startServer(["--data", data.path]);
      await using client = new Client(HOST, server.port, { timeout: 20_000 });
      deepEqual(await client.keys("*.*"), []);
      deepEqual(await client.get("mixed"), { mixed: [[now + 3600, 2]] });
      await stop(server);
    },
  );
});

Deno.test("server.ts keeps deletions across a restart", async (t) => {
  await t.step("after a clean stop", async () => {
    await using data = await dataDirectory();
    {
      await using server = await startServer(["--data", data.path]);
      await using client = new Client(HOST, server.port, { timeout: 20_000 });
      for (const key of ["a.x", "a.y", "b.x", "c"]) {
        await client.put(key, 1, 100);
      }
      equal(await client.delete("a.*"), 2);
      equal(await client.delete("c"), 1);
      // Put again after its deletion: only the new sample comes back.
      await client.put("c", 2, 200);
      await stop(server);
    }
    await using server = await startServer(["--data", data.path]);
    await using client = new Client(HOST, server.port, { timeout: 20_000 });
    deepEqual(await client.get("*"), { "b.x": [[100, 1]], c: [[200, 2]] });
    await stop(server);
  });
  await t.step("acknowledged under --fsync always, then killed", async () => {
    await using data = await dataDirectory();
    {
      await using server = await startServer([
        "--data",
        data.path,
        "--fsync",
        "always",
      ]);
      await using client = new Client(HOST, server.port, { timeout: 20_000 });
      await client.put("gone.x", 1, 100);
      await client.put("kept.x", 2, 100);
      equal(await client.delete("gone.*"), 1);
      server.child.kill("SIGKILL");
      await server.exit();
    }
    await using server = await startServer(["--data", data.path]);
    await using client = new Client(HOST, server.port, { timeout: 20_000 });
    deepEqual(await client.get("*"), { "kept.x": [[100, 2]] });
    await stop(server);
  });
});

Deno.test("server.ts answers hostile patterns at once, over TCP and HTTP", async (t) => {
  // A child process: a server that stalls fails the guard of each read
  // instead of holding this test for minutes.
  await using server = await ServerProcess.start([
    "--port",
    "0",
    "--memory",
    "--http",
    `${HOST}:0`,
  ]);
  const [, httpPort] = await server.waitForStderr(
    /http listening on http:\/\/127\.0\.0\.1:(\d+)/,
  );
  await using connection = await RawConnection.connect(server.port);
  const ask = async (request: string) => {
    await connection.send(request);
    return await connection.answers(1);
  };
  const key = `${"a".repeat(24)}.cpu`;
  equal(await ask(`put ${key} 1 1\n`), "ok\n\n");
  equal(await ask("put palm.disk.root 1 1\n"), "ok\n\n");

  await t.step("`{a,a}` thirty times is refused", async () => {
    const source = "{a,a}".repeat(30);
    equal(
      await ask(`keys ${source}\n`),
      `error\ninvalid pattern ${source}: more than 1024 alternatives\n\n`,
    );
  });
  await t.step(
    "stars that a regular expression would backtrack over",
    async () => {
      equal(await ask(`keys ${"*".repeat(16)}x.cpu\n`), "ok\n\n");
      equal(await ask(`keys ${"*".repeat(16)}a.cpu\n`), `ok\n${key}\n\n`);
    },
  );
  await t.step("4 KiB patterns of 1024 alternatives", async () => {
    const costly = "{a,b}".repeat(10) + "x".repeat(4000);
    equal(
      await ask(`keys ${costly}\n`),
      `error\ninvalid pattern ${costly}: it would cost too much: its 1024 alternatives hold 4106240 characters in all, more than 65536\n\n`,
    );
    const stars = `${"{a,b}".repeat(10)}${"*".repeat(4000)}`;
    equal(await ask(`keys ${stars}x.cpu\n`), "ok\n\n");
    equal(await ask(`keys ${stars}.cpu\n`), `ok\n${key}\n\n`);
  });
  await t.step("`**` matches whole segments", async () => {
    equal(await ask("keys palm.**\n"), "ok\npalm.disk.root\n\n");
    equal(await ask("keys **\n"), `ok\n${key}\npalm.disk.root\n\n`);
  });
  await t.step("over HTTP as over TCP", async () => {
    const keys = async (source: string) => {
      const url = `http://${HOST}:${httpPort}/api/keys?match=${
        encodeURIComponent(source)
      }`;
      const response = await within(fetch(url), `GET ${url}`, 20_000);
      return [response.status, await response.json()];
    };
    deepEqual(await keys(`${"*".repeat(16)}x.cpu`), [200, {
      matched: 0,
      series: [],
    }]);
    deepEqual(await keys("{a,a}".repeat(30)), [400, {
      error: `invalid match: ${
        "{a,a}".repeat(30)
      }: more than 1024 alternatives`,
    }]);
    deepEqual(await keys("**.root"), [200, {
      matched: 1,
      series: [{ key: "palm.disk.root" }],
    }]);
  });
});
