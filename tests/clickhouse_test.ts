import {
  deepStrictEqual as deepEqual,
  ok as assert,
  rejects,
  strictEqual as equal,
} from "node:assert/strict";
import { Client } from "../client.ts";
import { serveHttp } from "../http.ts";
import { ClickHouseStorage } from "../storage/clickhouse.ts";
import { LocalStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
import {
  CLICKHOUSE_MISSING,
  ClickHouseServer,
  testName,
  USER,
} from "../bench/clickhouse_server.ts";
import {
  builtIn,
  ClickHouseProxy,
  onClickHouse,
  waitFor,
} from "./_clickhouse_front.ts";
import { HOST, RawConnection, ServerProcess } from "./_helpers.ts";
import { compareSuite, runScript } from "./_protocol_suite.ts";

/** A ClickHouse server in a temporary directory, for one test. */
async function clickhouse(): Promise<
  ClickHouseServer & { [Symbol.asyncDispose](): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "pulse_clickhouse_" });
  const server = await ClickHouseServer.start(dir);
  const kill = server[Symbol.asyncDispose].bind(server);
  return Object.assign(server, {
    async [Symbol.asyncDispose]() {
      await kill();
      await Deno.remove(dir, { recursive: true });
    },
  });
}

Deno.test({
  name: testName(
    "`ClickHouseStorage` answers the protocol suite byte for byte as the built-in store does",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn(t) {
    await using server = await clickhouse();
    await compareSuite(
      t,
      builtIn,
      (database) => onClickHouse(server.url(database)),
    );
  },
});

// Keys that SQL, a shell or a URL would take for something else.
const HOSTILE_KEYS = [
  "it's",
  "back\\slash",
  "trailing\\",
  "';DROP_TABLE_samples;--",
  "a';DELETE",
  "semi;colon",
  'quo"te',
  "%s%d%x",
  "é.ü.日本.🙂",
  "ctl\x01\x02\x7f",
  "nul\x00byte",
  "/*comment*/",
  "`backtick`",
  "a[b]c",
  // Longer than 127 bytes: its length takes two bytes in RowBinary.
  `long.${"é".repeat(100)}.${"x".repeat(100)}`,
];

Deno.test({
  name: testName(
    "`ClickHouseStorage` stores, finds and deletes hostile keys exactly",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn(t) {
    await using server = await clickhouse();
    await using front = await onClickHouse(server.url("hostile"));
    await using connection = await RawConnection.connect(front.port);
    const puts = HOSTILE_KEYS.map((key, i) => `put ${key} ${i} 100\n`).join("");
    await connection.send(`${puts}put plain 99 100\n`);
    await connection.answers(HOSTILE_KEYS.length + 1);
    await t.step("get of each key finds its sample only", async () => {
      for (const [i, key] of HOSTILE_KEYS.entries()) {
        await connection.send(`get ${key}\n`);
        equal(await connection.answers(1), `ok\n${key} ${i}.0 100\n\n`);
      }
    });
    await t.step("keys lists them in first-put order", async () => {
      await connection.send("keys **\n");
      equal(
        await connection.answers(1),
        `ok\n${[...HOSTILE_KEYS, "plain"].join("\n")}\n\n`,
      );
    });
    await t.step("patterns with a hostile literal prefix", async () => {
      await connection.send("keys it's\nlast back\\slash\nkeys *;*\n");
      equal(
        await connection.answers(3),
        "ok\nit's\n\nok\nback\\slash 1.0 100\n\nok\n';DROP_TABLE_samples;--\na';DELETE\nsemi;colon\n\n",
      );
    });
    await t.step("deleting each removes it alone", async () => {
      for (const key of HOSTILE_KEYS) {
        // A pattern's own characters match themselves through `?`.
        await connection.send(`delete ${key.replace(/[[\]{}*?]/g, "?")}\n`);
        equal(await connection.answers(1), "ok\n1\n\n", key);
      }
      await connection.send("get *\n");
      equal(await connection.answers(1), "ok\nplain 99.0 100\n\n");
    });
  },
});

Deno.test({
  name: testName(
    "`ClickHouseStorage` serves the client, the CLI and HTTP as the built-in store does",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn(t) {
    await using server = await clickhouse();
    await t.step("the client's put, get and pipelined calls", async () => {
      await using front = await onClickHouse(server.url("client"));
      await using client = new Client(HOST, front.port, { timeout: 30_000 });
      await Promise.all([
        client.put("palm.cpu", 10.6, 1501864247),
        client.put("palm.cpu", 2, 1501864248),
        client.put("eardrum.cpu", 5e-324, 1501864247),
      ]);
      deepEqual(await client.get("*"), {
        "palm.cpu": [[1501864247, 10.6], [1501864248, 2]],
        "eardrum.cpu": [[1501864247, 5e-324]],
      });
      deepEqual(await client.get("nothing"), {});
    });
    await t.step("the CLI's put and get", async () => {
      await using front = await onClickHouse(server.url("cli"));
      const cli = async (...args: string[]) => {
        const output = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("../cli.ts", import.meta.url).pathname,
            ...args,
            "--port",
            String(front.port),
          ],
          env: { NO_COLOR: "1" },
          stdin: "null",
        }).output();
        equal(output.code, 0, new TextDecoder().decode(output.stderr));
        return new TextDecoder().decode(output.stdout);
      };
      await cli("put", "palm.cpu", "10.6", "1501864247");
      equal(await cli("get", "palm.cpu"), "palm.cpu 10.6 1501864247\n");
    });
    await t.step("HTTP's put, keys, query and last", async () => {
      // More samples than are encoded at once: the batch goes in slices.
      const many = Array.from(
        { length: 20_000 },
        (_, i) => `many.${i % 3} ${i / 8} ${1501800000 + i}\n`,
      ).join("");
      const body = "palm.cpu 10.6 1501864247\npalm.cpu 3 1501864300\n" +
        "oak.cpu 1 1501864247\npalm.mem 7 1501860000\n" + many;
      const paths = [
        "/api/keys",
        "/api/keys?match=palm.*",
        "/api/query?match=**",
        "/api/query?match=palm.*&from=1501864000&to=1501864400&step=60&agg=max",
        "/api/query?match=palm.*&maxPoints=2",
        "/api/last?match=**",
        "/api/query?match=nothing",
        "/api/query?match=many.*&step=1000&agg=sum",
        "/api/query?match=many.1&maxPoints=100000",
      ];
      const answers = async (storage: Storage) => {
        const http = serveHttp({ hostname: HOST, port: 0, storage });
        const base = `http://${HOST}:${http.addr.port}`;
        try {
          const put = await fetch(`${base}/api/put`, { method: "POST", body });
          equal(put.status, 204, await put.text());
          const texts: string[] = [];
          for (const path of paths) {
            texts.push(await (await fetch(base + path)).text());
          }
          return texts;
        } finally {
          await http.shutdown();
          await storage.close();
        }
      };
      deepEqual(
        await answers(await ClickHouseStorage.open(server.url("http"))),
        await answers(new LocalStorage()),
      );
    });
  },
});

Deno.test({
  name: testName(
    "`ClickHouseStorage.open()` creates its tables once, logs in, and refuses tables that are not Pulse's",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn(t) {
    await using server = await clickhouse();
    await t.step(
      "a second open finds the tables and their samples",
      async () => {
        {
          await using front = await onClickHouse(server.url("again"));
          await runScript(front.port, ["put k 1 1\n"]);
        }
        await using front = await onClickHouse(server.url("again"));
        deepEqual(await runScript(front.port, ["get *\n"]), [
          "ok\nk 1.0 1\n\n",
        ]);
      },
    );
    await t.step("a user and password in the URL", async () => {
      await using front = await onClickHouse(server.url("login", true));
      deepEqual(await runScript(front.port, ["put k 1 1\nget k\n"]), [
        "ok\n\nok\nk 1.0 1\n\n",
      ]);
      await rejects(
        ClickHouseStorage.open(
          server.url("login").replace("//", `//${USER.name}:wrong@`),
        ),
        (error: Error) => {
          assert(
            /^Cannot open ClickHouse at http:\/\/pulse@/.test(error.message),
          );
          assert(error.message.includes("password"), error.message);
          assert(!error.message.includes("wrong"), error.message);
          return true;
        },
      );
    });
    await t.step("a samples table of other columns", async () => {
      await server.query("CREATE DATABASE foreign");
      await server.query(
        "CREATE TABLE foreign.samples (key String, ts DateTime, value Float32, version UInt64) ENGINE = MergeTree ORDER BY key",
      );
      await rejects(ClickHouseStorage.open(server.url("foreign")), {
        message:
          /^Cannot open ClickHouse at .*: Cannot use foreign\.samples: it has the columns \(key String, ts DateTime, value Float32, version UInt64\), not Pulse's/,
      });
    });
    await t.step("tables of another schema version", async () => {
      await (await ClickHouseStorage.open(server.url("future"))).close();
      await server.query("INSERT INTO future.pulse_schema VALUES (2)");
      await rejects(ClickHouseStorage.open(server.url("future")), {
        message: /schema version 2, and this Pulse knows version 1$/,
      });
    });
    await t.step("a URL it cannot use", async () => {
      await rejects(ClickHouseStorage.open("ftp://127.0.0.1/x"), TypeError);
      await rejects(
        ClickHouseStorage.open(`http://${HOST}:${server.httpPort}/a;b`),
        TypeError,
      );
    });
  },
});

Deno.test({
  name: testName(
    "`ClickHouseStorage` front ends see each other's writes, and the later overwrite wins",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn() {
    await using server = await clickhouse();
    await using a = await onClickHouse(server.url("shared"), { node: 1 });
    await using b = await onClickHouse(server.url("shared"), { node: 2 });
    deepEqual(await runScript(a.port, ["put k 1 10\nput j 1 10\n"]), [
      "ok\n\nok\n\n",
    ]);
    deepEqual(await runScript(b.port, ["get k\nput k 2 10\n"]), [
      "ok\nk 1.0 10\n\nok\n\n",
    ]);
    deepEqual(await runScript(a.port, ["get *\n"]), [
      "ok\nk 2.0 10\nj 1.0 10\n\n",
    ]);
    deepEqual(await runScript(a.port, ["put k 3 10\n"]), ["ok\n\n"]);
    deepEqual(await runScript(b.port, ["get k\n"]), ["ok\nk 3.0 10\n\n"]);
  },
});

Deno.test({
  name: testName(
    "`ClickHouseStorage` removes samples past the retention window, and refuses puts of them",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn() {
    await using server = await clickhouse();
    const now = Math.floor(Date.now() / 1000);
    {
      await using front = await onClickHouse(server.url("retention"));
      await runScript(front.port, [
        `put old 1 ${now - 7200}\nput mixed 2 ${
          now - 7200
        }\nput mixed 3 ${now}\n`,
      ]);
    }
    const logs: string[] = [];
    await using front = await onClickHouse(server.url("retention"), {
      retention: 3600,
      onLog: (message) => logs.push(message),
    });
    // The first removal runs at start; it is done once it says so.
    await waitFor(
      () => logs.some((line) => line.includes("retention dropped")),
      "the removal",
    );
    const [answers] = await runScript(front.port, [
      `get *\nkeys **\nput late 1 ${now - 7200}\n`,
    ]);
    const refusal = new RegExp(
      `^error\n${
        now - 7200
      } is older than the retention window of 1h \\(samples from \\d+ on are kept\\)\n\n$`,
    );
    assert(
      answers.startsWith(`ok\nmixed 3.0 ${now}\n\nok\nmixed\n\n`),
      answers,
    );
    assert(refusal.test(answers.slice(answers.indexOf("error"))), answers);
  },
});

/** Whether every answer of `text` is an error of the backend. */
function allErrors(text: string, count: number): boolean {
  const answers = text.split("\n\n").filter((answer) => answer !== "");
  return answers.length === count &&
    answers.every((answer) =>
      /^error\ncannot (store in|read from) ClickHouse: /.test(answer)
    );
}

Deno.test({
  name: testName(
    "`ClickHouseStorage` answers errors, never ok, while ClickHouse is slow or away, and recovers by itself",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn(t) {
    await using server = await clickhouse();
    let proxy = new ClickHouseProxy(server.httpPort);
    const port = proxy.port;
    try {
      await using front = await onClickHouse(proxy.url("faults"), {
        timeout: 500,
      });
      await using connection = await RawConnection.connect(front.port);
      await t.step("slow: errors once the timeout passes", async () => {
        proxy.stall();
        await connection.send("put k 1 1\nput k 2 2\nget k\nput j 1 1\n");
        const answers = await connection.answers(4);
        assert(allErrors(answers, 4), answers);
        assert(
          answers.includes(
            `error\ncannot store in ClickHouse: no answer from http://127.0.0.1:${port}/faults within 0.5s\n\n`,
          ),
          answers,
        );
        proxy.release();
        await connection.send("put k 3 3\nget k\n");
        const after = await connection.answers(2);
        assert(/^ok\n\nok\n(k \S+ \d\n)*k 3\.0 3\n\n$/.test(after), after);
      });
      await t.step("away: errors at once", async () => {
        await proxy[Symbol.asyncDispose]();
        await connection.send("put k 4 4\nkeys **\n");
        const answers = await connection.answers(2);
        assert(allErrors(answers, 2), answers);
        assert(answers.includes("connection refused"), answers);
        proxy = new ClickHouseProxy(server.httpPort, port);
        await connection.send("put k 5 5\nget k\n");
        const after = await connection.answers(2);
        assert(/^ok\n\nok\n(k \S+ \d\n)*k 5\.0 5\n\n$/.test(after), after);
      });
      await t.step("figures count the failures", () => {
        const stats = front.stats();
        assert(
          stats.clickhouse_insert_errors_total >= 2,
          JSON.stringify(stats),
        );
        assert(stats.clickhouse_query_errors_total >= 2, JSON.stringify(stats));
        assert(stats.clickhouse_inserts_total >= 2, JSON.stringify(stats));
        equal(stats.clickhouse_pending_rows, 0);
      });
    } finally {
      await proxy[Symbol.asyncDispose]();
    }
  },
});

Deno.test({
  name: testName(
    "`ClickHouseStorage` refuses puts at once while maxPendingRows wait for ClickHouse",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn() {
    await using server = await clickhouse();
    await using proxy = new ClickHouseProxy(server.httpPort);
    await using front = await onClickHouse(proxy.url("pending"), {
      maxPendingRows: 10,
    });
    proxy.stall();
    await using waiting = await RawConnection.connect(front.port);
    await waiting.send(
      Array.from({ length: 10 }, (_, i) => `put w ${i} ${i}\n`).join(""),
    );
    await waitFor(
      () => front.stats().clickhouse_pending_rows === 10,
      "10 rows pending",
    );
    await using refused = await RawConnection.connect(front.port);
    await refused.send("put r 1 1\nping\n");
    equal(
      await refused.answers(2),
      "error\ncannot store in ClickHouse: 10 rows are waiting for it already\n\nok\npong\n\n",
    );
    proxy.release();
    equal(await waiting.answers(10), "ok\n\n".repeat(10));
  },
});

Deno.test({
  name: testName(
    "`serve()` on ClickHouse answers each connection in order, and a slow read delays no other connection",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn() {
    await using server = await clickhouse();
    await using proxy = new ClickHouseProxy(server.httpPort);
    await using front = await onClickHouse(proxy.url("order"));
    await runScript(front.port, ["put slow.key 1 1\nput fast.key 2 2\n"]);
    proxy.hold("slow.key");
    await using slow = await RawConnection.connect(front.port);
    await slow.send("get slow.key\nget fast.key\nping\n");
    let released = false;
    const slowAnswers = slow.answers(3).then((text) => ({ text, released }));
    await waitFor(() => proxy.heldCount > 0, "the read held");
    // Meanwhile another connection writes and reads.
    deepEqual(
      await runScript(front.port, ["put fast.key 3 3\nget fast.key\nping\n"]),
      ["ok\n\nok\nfast.key 2.0 2\nfast.key 3.0 3\n\nok\npong\n\n"],
    );
    released = true;
    proxy.release();
    const answered = await slowAnswers;
    assert(
      answered.released,
      "the slow connection was answered before its read",
    );
    assert(
      /^ok\nslow\.key 1\.0 1\n\nok\nfast\.key 2\.0 2\n(fast\.key 3\.0 3\n)?\nok\npong\n\n$/
        .test(answered.text),
      answered.text,
    );
  },
});

Deno.test({
  name: testName(
    "`ClickHouseStorage` reports its inserts in `stats` and `/metrics`",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn() {
    await using server = await clickhouse();
    await using front = await onClickHouse(server.url("figures"), {
      statsInterval: 50,
    });
    await runScript(front.port, ["put a 1 1\nput b 2 2\nput a 3 3\n"]);
    await waitFor(() => front.stats().series === 2, "the figures counted");
    const stats = front.stats();
    equal(stats.series, 2);
    equal(stats.samples, 3);
    equal(stats.clickhouse_insert_rows_total, 3);
    equal(stats.clickhouse_insert_last_rows, 3);
    equal(stats.clickhouse_insert_errors_total, 0);
    assert(stats.clickhouse_bytes_on_disk > 0);
    assert(stats.clickhouse_insert_last_seconds > 0);
    const http = serveHttp({
      hostname: HOST,
      port: 0,
      storage: front.storage,
      stats: () => front.stats(),
    });
    try {
      const metrics = await (await fetch(
        `http://${HOST}:${http.addr.port}/metrics`,
      )).text();
      for (
        const line of [
          "pulse_clickhouse_insert_rows_total 3",
          "# TYPE pulse_clickhouse_insert_seconds_total counter",
          "pulse_clickhouse_insert_last_rows 3",
          "pulse_clickhouse_insert_errors_total 0",
        ]
      ) {
        assert(metrics.includes(`${line}\n`), `${line} in ${metrics}`);
      }
    } finally {
      await http.shutdown();
    }
  },
});

Deno.test("server.ts refuses the flags of a data directory beside --clickhouse", async (t) => {
  const cases: [string[], string][] = [
    [
      ["--clickhouse", "http://127.0.0.1:1/x", "--memory"],
      "Cannot use --memory with --clickhouse: samples are kept in ClickHouse",
    ],
    [
      ["--clickhouse", "http://127.0.0.1:1/x", "--data", "d"],
      "Cannot use --data with --clickhouse: samples are kept in ClickHouse",
    ],
    [
      ["--clickhouse", "http://127.0.0.1:1/x", "--fsync", "always"],
      "Cannot use --fsync with --clickhouse: samples are kept in ClickHouse",
    ],
    [
      ["--clickhouse-cluster", "c"],
      "--clickhouse-cluster goes with --clickhouse URL",
    ],
    [
      ["--clickhouse", "x", "--clickhouse-timeout", "0s"],
      "--clickhouse-timeout must be at least 1ms",
    ],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), async () => {
      await using server = ServerProcess.spawn(args);
      const status = await server.exit();
      equal(status.code, 2);
      assert(server.stderr.startsWith(`pulse: ${message}\n`), server.stderr);
    });
  }
});

Deno.test({
  name: testName(
    "server.ts --clickhouse: a front end killed under pipelined load loses no put it acknowledged",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn() {
    await using server = await clickhouse();
    const url = server.url("killed");
    const front = await ServerProcess.start([
      "--port",
      "0",
      "--http",
      "off",
      "--clickhouse",
      url,
      // Puts wait a while in each batch: were they answered before their
      // insert, some would be lost.
      "--clickhouse-batch-ms",
      "50",
    ]);
    const acknowledged: [string, number][] = [];
    const writer = async (writer: number) => {
      await using connection = await RawConnection.connect(front.port);
      const chunk = (n: number) =>
        Array.from(
          { length: 200 },
          (_, i) => `put w${writer} ${n} ${n * 200 + i}\n`,
        )
          .join("");
      try {
        await connection.send(chunk(0));
        for (let n = 0;; n++) {
          await connection.send(chunk(n + 1));
          const answers = await connection.answers(200, 30_000);
          answers.split("\n\n").slice(0, -1).forEach((answer, i) => {
            if (answer === "ok") acknowledged.push([`w${writer}`, n * 200 + i]);
          });
        }
      } catch {
        // The front end is gone.
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    try {
      await waitFor(() => acknowledged.length >= 20_000, "20,000 puts");
    } finally {
      front.child.kill("SIGKILL");
      await Promise.all(writers);
      await front[Symbol.asyncDispose]();
    }
    await using other = await onClickHouse(url);
    const [answer] = await runScript(other.port, ["get *\n"]);
    const stored = new Set(answer.split("\n").slice(1, -2));
    for (const [key, timestamp] of acknowledged) {
      const value = Math.floor(timestamp / 200);
      assert(
        stored.has(`${key} ${value}.0 ${timestamp}`),
        `${key} ${timestamp} was acknowledged but is not stored`,
      );
    }
  },
});

Deno.test({
  name: testName(
    "`ClickHouseStorage` streams a large `get *` a group of series at a time, and stops when the client leaves",
    CLICKHOUSE_MISSING,
  ),
  ignore: CLICKHOUSE_MISSING !== undefined,
  async fn(t) {
    await using server = await clickhouse();
    await using front = await onClickHouse(server.url("large"));
    const keys = 2_500;
    const perKey = 40;
    const storage = front.storage;
    const appender = storage.appender();
    for (let k = 0; k < keys; k++) {
      for (let i = 0; i < perKey; i++) {
        appender.append(`big.${k}`, k + i / 4, i);
      }
    }
    await appender.commit();
    await t.step("every row, in first-put order", async () => {
      await using connection = await RawConnection.connect(front.port);
      await connection.send("get *\n");
      const lines = (await connection.answers(1, 60_000)).split("\n");
      equal(lines.length, keys * perKey + 3);
      equal(lines[1], "big.0 0.0 0");
      equal(lines[perKey * 1234 + 6], `big.1234 ${1234 + 5 / 4} 5`);
      equal(lines[keys * perKey], `big.${keys - 1} ${keys - 1 + 39 / 4} 39`);
    });
    await t.step("a client that leaves mid-answer", async () => {
      const connection = await RawConnection.connect(front.port);
      await connection.send("get *\n");
      await connection.readMore();
      connection.close();
      // The server goes on with others, and its read was given up.
      deepEqual(
        await runScript(front.port, ["get big.7\n"]).then((a) =>
          a[0].split("\n").length
        ),
        perKey + 3,
      );
    });
  },
});
