import {
  deepStrictEqual as deepEqual,
  ok as assert,
  rejects,
  strictEqual as equal,
} from "node:assert/strict";
import { formatValue } from "../protocol/format_value.ts";
import { serve } from "../server.ts";
import { openStorage } from "../storage/local.ts";
import { Store } from "../store.ts";
import {
  bytes,
  concat,
  decoder,
  delay,
  ERROR_ANSWER,
  exchange,
  HOST,
  RawConnection,
  replaySession,
  SESSION,
  splitAnswers,
  within,
} from "./_helpers.ts";

const PONG = "ok\npong\n\n";

/** A server on a free port that collects connection errors. */
function start(options: { store?: Store; maxLineLength?: number } = {}) {
  const errors: unknown[] = [];
  const server = serve({
    hostname: HOST,
    port: 0,
    onError: (error) => errors.push(error),
    ...options,
  });
  return { server, port: server.addr.port, errors };
}

/** The `get` answer's text for samples, as the server should print it. */
function answerFor(samples: [key: string, ts: number, value: number][]) {
  return "ok\n" +
    samples.map(([k, ts, v]) => `${k} ${formatValue(v)} ${ts}\n`).join("") +
    "\n";
}

/** Fills a store with `series` keys of `each` samples, some out of order. */
function fill(store: Store, series: number, each: number) {
  const samples: [string, number, number][] = [];
  const value = (i: number) => i % 7 === 0 ? i * 1000 : (i - each / 2) / 8;
  for (let s = 0; s < series; s++) {
    const key = `host${s}.cpu`;
    for (let i = 0; i < each; i++) {
      // Every 10th sample arrives before the one it follows: an insert.
      const j = i % 10 === 8 && i + 1 < each ? i + 1 : i % 10 === 9 ? i - 1 : i;
      store.put(key, value(j), 1_600_000_000 + j * 10 + 1);
    }
    for (let i = 0; i < each; i++) {
      samples.push([key, 1_600_000_000 + i * 10 + 1, value(i)]);
    }
  }
  return samples;
}

Deno.test("serve() answers the session of issue 2 byte for byte", async (t) => {
  await t.step("one request at a time", async () => {
    const { server, port, errors } = start();
    await using _ = server;
    await using connection = await RawConnection.connect(port);
    await replaySession(connection, equal);
    deepEqual(errors, []);
  });
  await t.step("pipelined in one write", async () => {
    await using server = serve({ port: 0 });
    equal(
      await exchange(
        server.addr.port,
        SESSION.map(([request]) => request).join(""),
        SESSION.length,
      ),
      SESSION.map(([, answer]) => answer).join(""),
    );
  });
  await t.step("into the store it was given", async () => {
    const store = new Store();
    await using server = serve({ port: 0, store });
    await using connection = await RawConnection.connect(server.addr.port);
    await replaySession(connection, equal);
    deepEqual([...store.series()].map((s) => [s.key, s.toArray()]), [
      ["test_key", [[1503319739, 13], [1503319740, 12]]],
      ["another_key", [[1503319739, 10]]],
    ]);
  });
});

Deno.test("serve() answers ping with pong", async () => {
  await using server = serve({ port: 0 });
  equal(await exchange(server.addr.port, "ping\n\t ping \r\n", 2), PONG + PONG);
});

Deno.test("serve() answers every bad request with an error and stays in step", async (t) => {
  const store = new Store();
  await using server = serve({ port: 0, store });
  await using connection = await RawConnection.connect(server.addr.port);
  const bad: (string | Uint8Array)[] = [
    "got test_key",
    "get",
    "get a b",
    "get wrong command test",
    "put",
    "put k",
    "put k 1",
    "put k 1 1 1",
    "PUT k 1 1",
    "GET k",
    "Get k",
    "PING",
    "ping x",
    "put k nan 1",
    "put k inf 1",
    "put k -inf 1",
    "put k 0x10 1",
    "put k 1,5 1",
    "put k 1_0 1",
    "put k 1e 1",
    "put k --1 1",
    "put k 1e999 1",
    "put k 1 1.5",
    "put k 1 1e3",
    "put k 1 9007199254740992",
    "put k 1 -9007199254740992",
    "put k 1 x",
    concat(bytes("put "), Uint8Array.of(0xff, 0xfe), bytes(" 1 1")),
    concat(bytes("put k"), Uint8Array.of(0xc3), bytes(" 1 1")),
    concat(bytes("get "), Uint8Array.of(0xc0, 0xaf)),
    concat(bytes("get "), Uint8Array.of(0xed, 0xa0, 0x80)),
    "put a\u00a0b 1 1",
  ];
  for (const line of bad) {
    const name = typeof line === "string"
      ? JSON.stringify(line)
      : `bytes ${JSON.stringify(decoder.decode(line))}`;
    await t.step(name, async () => {
      for (const end of ["\n", "\r\n"]) {
        await connection.send(concat(
          typeof line === "string" ? bytes(line) : line,
          bytes(end + "ping\n"),
        ));
        equal(await connection.answers(2), ERROR_ANSWER + PONG);
      }
    });
  }
  await t.step("all of them in one write", async () => {
    const lines = bad.map((line) =>
      concat(typeof line === "string" ? bytes(line) : line, bytes("\n"))
    );
    await connection.send(concat(...lines, bytes("ping\n")));
    equal(
      await connection.answers(bad.length + 1),
      ERROR_ANSWER.repeat(bad.length) + PONG,
    );
  });
  await t.step("none of them stored anything", async () => {
    await connection.send("get *\n");
    equal(await connection.answers(1), "ok\n\n");
    deepEqual(store.stats, { series: 0, samples: 0 });
  });
});

Deno.test("serve() leaves blank and whitespace-only lines unanswered", async (t) => {
  await using server = serve({ port: 0 });
  const port = server.addr.port;
  await t.step("the 2020 grader's `get wrong command test\\n\\n`", async () => {
    await using connection = await RawConnection.connect(port);
    await connection.send("get wrong command test\n\n");
    equal(await connection.answers(1), ERROR_ANSWER);
    await connection.send("ping\n");
    equal(await connection.answers(1), PONG, "nothing came between");
  });
  await t.step("empty, spaces, tabs and \\r\\n", async () => {
    equal(
      await exchange(port, "\n \n\t\n\r\n  \t \r\n\n\nping\n\n", 1),
      PONG,
    );
  });
  await t.step("a connection of only blank lines gets nothing", async () => {
    await using connection = await RawConnection.connect(port);
    await connection.send("\n\n \n\t\r\n");
    await connection.closeWrite();
    equal(decoder.decode(await connection.readToEnd()), "");
  });
});

Deno.test("serve() answers commands split at every byte position", async (t) => {
  await using server = serve({ port: 0 });
  const script = bytes(
    "put temp.°C 12.5 100\r\nget temp.°C\n\nping\nput 😀 -0 7\nget 😀\n",
  );
  const expected = "ok\n\nok\ntemp.°C 12.5 100\n\n" + PONG +
    "ok\n\nok\n😀 -0.0 7\n\n";
  await t.step("in two writes", async () => {
    await using connection = await RawConnection.connect(server.addr.port);
    for (let i = 0; i <= script.length; i++) {
      await connection.send(script.subarray(0, i));
      await delay(1); // let the server read the first part on its own
      await connection.send(script.subarray(i));
      equal(await connection.answers(5), expected, `split at byte ${i}`);
    }
  });
  await t.step("one byte per write", async () => {
    await using connection = await RawConnection.connect(server.addr.port);
    for (const byte of script) {
      await connection.send(Uint8Array.of(byte));
      await delay(0);
    }
    equal(await connection.answers(5), expected);
  });
});

Deno.test("serve() answers pipelined commands in order", async () => {
  await using server = serve({ port: 0 });
  let requests = "";
  let expected = "";
  const model = new Map<string, Map<number, number>>();
  for (let i = 0; i < 3000; i++) {
    const key = `k${i % 7}`;
    const ts = (i * 7919) % 1000;
    requests += `put ${key} ${i} ${ts}\n`;
    expected += "ok\n\n";
    if (!model.has(key)) model.set(key, new Map());
    model.get(key)!.set(ts, i);
    if (i % 50 === 0) {
      requests += `get ${key}\n`;
      const samples = [...model.get(key)!].sort((a, b) => a[0] - b[0]);
      expected += "ok\n" +
        samples.map(([t, v]) => `${key} ${v}.0 ${t}\n`).join("") + "\n";
    }
    if (i % 300 === 0) {
      requests += "\n bad line\nping\n";
      expected += ERROR_ANSWER + PONG;
    }
  }
  equal(
    await exchange(server.addr.port, requests, splitAnswers(expected).length),
    expected,
  );
});

Deno.test("serve() answers a client that pipelines many gets and reads them", async () => {
  // Each answer is small, but together they are tens of megabytes: the
  // server must wait for the client to take them, not give up on it.
  const store = new Store();
  const samples: [string, number, number][] = [];
  for (let i = 0; i < 100; i++) {
    store.put("k", i / 3, 1_700_000_000 + i);
    samples.push(["k", 1_700_000_000 + i, i / 3]);
  }
  const errors: unknown[] = [];
  await using server = serve({
    port: 0,
    store,
    onError: (error) => errors.push(error),
  });
  await using connection = await RawConnection.connect(server.addr.port);
  const count = 20_000;
  const [, text] = await Promise.all([
    connection.send("get k\n".repeat(count)),
    connection.answers(count, 60_000),
  ]);
  equal(text, answerFor(samples).repeat(count));
  deepEqual(errors.map(String), []);
});

Deno.test("serve() answers a get that waits for its commit with its own series", async () => {
  // With `--fsync always` a get after a put waits for the put's fsync, and
  // meanwhile other sessions' gets are parsed by the same parser.
  const dir = await Deno.makeTempDir({ prefix: "pulse-held-get-" });
  try {
    await using storage = await openStorage(dir, { fsync: "always" });
    await using server = serve({ port: 0, storage });
    await using writer = await RawConnection.connect(server.addr.port);
    await using reader = await RawConnection.connect(server.addr.port);
    await writer.send("put other 2 2\n");
    equal(await writer.answers(1), "ok\n\n");
    for (let i = 1; i <= 50; i++) {
      const [, , mine, others] = await Promise.all([
        writer.send(`put mine ${i} ${i}\nget mine\n`),
        reader.send("get other\n"),
        writer.answers(2),
        reader.answers(1),
      ]);
      const samples = Array.from(
        { length: i },
        (_, t) => `mine ${t + 1}.0 ${t + 1}\n`,
      );
      equal(mine, `ok\n\nok\n${samples.join("")}\n`);
      equal(others, "ok\nother 2.0 2\n\n");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve() answers an over-long line with one error and goes on", async (t) => {
  const store = new Store();
  await using server = serve({ port: 0, store });
  await using connection = await RawConnection.connect(server.addr.port);
  const long = "put k " + "1".repeat(100 * 1024) + " 1\n";
  await t.step("a 100 KB line in one write", async () => {
    await connection.send(long + "ping\n");
    equal(await connection.answers(2), ERROR_ANSWER + PONG);
  });
  await t.step("a 100 KB line in 1 KB writes", async () => {
    const data = bytes(long + "ping\n");
    for (let i = 0; i < data.length; i += 1024) {
      await connection.send(data.subarray(i, i + 1024));
    }
    equal(await connection.answers(2), ERROR_ANSWER + PONG);
  });
  await t.step("a 10 MB line", async () => {
    const chunk = bytes("x".repeat(64 * 1024));
    const writing = (async () => {
      for (let i = 0; i < 160; i++) await connection.send(chunk);
      await connection.send("\nping\n");
    })();
    equal(await connection.answers(2), ERROR_ANSWER + PONG);
    await writing;
  });
  await t.step("a valid put padded past the limit is not stored", async () => {
    await connection.send(
      "put padded 1 1" + " ".repeat(70_000) + "\nget padded\n",
    );
    equal(await connection.answers(2), ERROR_ANSWER + "ok\n\n");
    equal(store.get("padded"), undefined);
  });
  await t.step("a line of exactly 64 KiB is accepted", async () => {
    const key = "k".repeat(64 * 1024 - "put  1 1".length);
    const line = `put ${key} 1 1`;
    equal(bytes(line).length, 64 * 1024);
    await connection.send(`${line}\n${line}2\nping\n`);
    equal(await connection.answers(3), "ok\n\n" + ERROR_ANSWER + PONG);
    deepEqual(store.get(key)?.toArray(), [[1, 1]]);
  });
});

Deno.test("serve() honours the maxLineLength option", async () => {
  await using server = serve({ port: 0, maxLineLength: 12 });
  equal(
    await exchange(server.addr.port, "put k 1 1234\nput k 1 12345\nget k\n", 3),
    "ok\n\n" + ERROR_ANSWER + "ok\nk 1.0 1234\n\n",
  );
});

Deno.test("serve() takes puts from 50 concurrent clients without losing any", async () => {
  const store = new Store();
  await using server = serve({ port: 0, store });
  const clients = 50;
  const each = 200;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      await using connection = await RawConnection.connect(server.addr.port);
      for (let part = 0; part < 4; part++) {
        let requests = "";
        for (let j = part * (each / 4); j < (part + 1) * (each / 4); j++) {
          requests += `put client${c} ${j}.5 ${j}\n`;
          requests += `put shared ${c} ${c * each + j}\n`;
        }
        await connection.send(requests);
      }
      equal(await connection.answers(2 * each), "ok\n\n".repeat(2 * each));
    }),
  );
  const text = await exchange(server.addr.port, "get *\n", 1);
  const lines = text.split("\n").slice(1, -2);
  equal(lines.length, clients * each * 2);
  const byKey = new Map<string, string[]>();
  for (const line of lines) {
    const key = line.split(" ")[0];
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key)!.push(line);
  }
  equal(byKey.size, clients + 1);
  for (let c = 0; c < clients; c++) {
    deepEqual(
      byKey.get(`client${c}`),
      Array.from({ length: each }, (_, j) => `client${c} ${j}.5 ${j}`),
    );
  }
  deepEqual(
    byKey.get("shared"),
    Array.from(
      { length: clients * each },
      (_, i) => `shared ${Math.floor(i / each)}.0 ${i}`,
    ),
  );
  deepEqual(store.stats, { series: clients + 1, samples: 2 * clients * each });
});

Deno.test("serve() stores nothing of a line cut off by a vanishing client", async (t) => {
  for (const tail of ["put k 2 2", "put k 2 2\r", "put k 2", "put k 2 2 "]) {
    await t.step(JSON.stringify(tail), async () => {
      const store = new Store();
      await using server = serve({ port: 0, store });
      await using connection = await RawConnection.connect(server.addr.port);
      await connection.send("put k 1 1\n" + tail);
      await connection.closeWrite();
      // The server closes its side once it has handled our end of input.
      equal(decoder.decode(await connection.readToEnd()), "ok\n\n");
      deepEqual(store.get("k")?.toArray(), [[1, 1]]);
      deepEqual(store.stats, { series: 1, samples: 1 });
    });
  }
  await t.step("a client that resets mid-line", async () => {
    const store = new Store();
    await using server = serve({ port: 0, store });
    const connection = await RawConnection.connect(server.addr.port);
    await connection.send("put k 1 1\n");
    equal(await connection.answers(1), "ok\n\n");
    await connection.send("put k 2 2");
    connection.close();
    // Nothing to wait on: check that nothing shows up a little later.
    await delay(100);
    equal(await exchange(server.addr.port, "get k\n", 1), "ok\nk 1.0 1\n\n");
  });
});

Deno.test("serve() streams a big `get *` completely and correctly", async (t) => {
  const store = new Store();
  const samples = fill(store, 300, 1000);
  await using server = serve({ port: 0, store });
  const expected = answerFor(samples);
  await t.step("300,000 samples", async () => {
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send("get *\nping\n");
    equal(await connection.answers(1), expected);
    equal(await connection.answers(1), PONG);
  });
  await t.step("one series of 300,000 samples", async () => {
    const big = new Store();
    const one: [string, number, number][] = [];
    for (let i = 0; i < 300_000; i++) {
      big.put("big", i % 3 === 0 ? i : -i / 3, i);
      one.push(["big", i, i % 3 === 0 ? i : -i / 3]);
    }
    await using bigServer = serve({ port: 0, store: big });
    equal(await exchange(bigServer.addr.port, "get big\n", 1), answerFor(one));
  });
  await t.step(
    "puts while a slow reader streams stay sorted, no repeats",
    async () => {
      await using reader = await RawConnection.connect(server.addr.port);
      await reader.send("get *\n");
      assert(await reader.readMore(), "the answer starts");
      // While the reader is not reading, another client adds samples before,
      // inside and after every series' range, and replaces some.
      let puts = "";
      let count = 0;
      for (let s = 0; s < 300; s += 7) {
        for (
          const ts of [1, 1_600_000_000 + 5005, 1_700_000_000, 1_600_000_001]
        ) {
          puts += `put host${s}.cpu 0.25 ${ts}\n`;
          count++;
        }
      }
      equal(
        await exchange(server.addr.port, puts, count),
        "ok\n\n".repeat(count),
      );
      const text = await reader.answers(1);
      const original = new Map<string, Set<number>>();
      for (const [key, ts] of samples) {
        if (!original.has(key)) original.set(key, new Set());
        original.get(key)!.add(ts);
      }
      const last = new Map<string, number>();
      const seen = new Map<string, Set<number>>();
      for (const line of text.split("\n").slice(1, -2)) {
        const [key, , tsText] = line.split(" ");
        const ts = Number(tsText);
        assert(original.has(key), `unknown key in ${line}`);
        const previous = last.get(key);
        assert(
          previous === undefined || previous < ts,
          `not sorted at ${line}`,
        );
        last.set(key, ts);
        if (!seen.has(key)) seen.set(key, new Set());
        seen.get(key)!.add(ts);
      }
      for (const [key, timestamps] of original) {
        for (const ts of timestamps) {
          assert(seen.get(key)?.has(ts), `${key} ${ts} missing`);
        }
      }
    },
  );
});

Deno.test("serve() keeps answering others while a client does not read", async () => {
  const store = new Store();
  fill(store, 50, 1000); // about 1.5 MB per `get *`
  await using server = serve({ port: 0, store });
  await using hog = await RawConnection.connect(server.addr.port);
  await hog.send("get *\n".repeat(30));
  await using other = await RawConnection.connect(server.addr.port);
  for (let i = 0; i < 20; i++) {
    await other.send(`put other ${i} ${i}\nping\nget other\n`);
    const answers = splitAnswers(await other.answers(3));
    equal(answers[0], "ok\n\n");
    equal(answers[1], PONG);
    assert(answers[2].endsWith(`other ${i}.0 ${i}\n\n`));
  }
});

Deno.test("Server.shutdown() is safe to call more than once", async () => {
  const server = serve({ port: 0 });
  const port = server.addr.port;
  equal(await exchange(port, "ping\n", 1), PONG);
  await Promise.all([server.shutdown(), server.shutdown()]);
  await server.shutdown();
  await server[Symbol.asyncDispose]();
  await within(server.finished, "finished");
  await rejects(
    Deno.connect({ hostname: HOST, port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("Server.shutdown() closes idle connections", async () => {
  await using server = serve({ port: 0 });
  await using connection = await RawConnection.connect(server.addr.port);
  await connection.send("ping\n");
  equal(await connection.answers(1), PONG);
  await within(server.shutdown(), "shutdown");
  equal(decoder.decode(await connection.readToEnd()), "");
});

Deno.test("Server.shutdown() answers the requests already received", async () => {
  const store = new Store();
  const samples = fill(store, 300, 1000); // about 9 MB of answer
  const server = serve({ port: 0, store });
  await using connection = await RawConnection.connect(server.addr.port);
  await connection.send("get *\nput late 1 1\nping\n");
  // The server has read the requests once the first bytes come back; it is
  // still streaming the answer, which we do not read yet.
  assert(await connection.readMore());
  const shutdown = server.shutdown();
  const rest = decoder.decode(await connection.readToEnd());
  await within(shutdown, "shutdown");
  await within(server.finished, "finished");
  equal(
    rest,
    answerFor(samples) + "ok\n\n" + PONG,
    "the whole answer, then the two later ones, then the end",
  );
  deepEqual(store.get("late")?.toArray(), [[1, 1]]);
});

Deno.test("serve() shuts down when its signal aborts", async (t) => {
  await t.step("aborted while serving", async () => {
    const controller = new AbortController();
    const server = serve({ port: 0, signal: controller.signal });
    const port = server.addr.port;
    await using connection = await RawConnection.connect(port);
    await connection.send("ping\n");
    equal(await connection.answers(1), PONG);
    controller.abort();
    await within(server.finished, "finished");
    equal(decoder.decode(await connection.readToEnd()), "");
    await rejects(
      Deno.connect({ hostname: HOST, port }),
      Deno.errors.ConnectionRefused,
    );
    await server.shutdown();
  });
  await t.step("aborted before it started", async () => {
    const server = serve({ port: 0, signal: AbortSignal.abort() });
    await within(server.finished, "finished");
    await rejects(
      Deno.connect({ hostname: HOST, port: server.addr.port }),
      Deno.errors.ConnectionRefused,
    );
  });
});
