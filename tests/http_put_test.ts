/**
 * `POST /api/put` read as a stream: the body parser chunk by chunk, the
 * batch it fills, the budget bodies share, and the answers of the route.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import { serveHttp } from "../http.ts";
import { BodyBudget } from "../http/body_budget.ts";
import { PutBodyParser } from "../http/put_body.ts";
import { LocalStorage } from "../storage/local.ts";
import { SampleBatch } from "../storage/sample_batch.ts";
import { Store } from "../store.ts";
import {
  decoder,
  delay,
  encoder,
  HOST,
  RawConnection,
  within,
} from "./_helpers.ts";

type Sample = [key: string, value: number, timestamp: number];

/** What a batch holds, sample by sample. */
function samplesOf(batch: SampleBatch): Sample[] {
  const samples: Sample[] = [];
  for (let i = 0; i < batch.length; i++) {
    samples.push([batch.key(i), batch.value(i), batch.timestamp(i)]);
  }
  return samples;
}

/** Parses `body` given in the chunks `cuts` splits it into. */
function parse(body: Uint8Array, cuts: number[], now = 7) {
  const parser = new PutBodyParser(now, { maxLineLength: 64 });
  let from = 0;
  let ok = true;
  for (const cut of [...cuts, body.length]) {
    ok &&= parser.push(body.subarray(from, cut));
    from = cut;
  }
  ok &&= parser.finish();
  return { ok, parser };
}

Deno.test("`PutBodyParser` reads the same samples however the body is cut", () => {
  const text = "palm.cpu 10.6 1501864247\r\n\n  é.cpu\t2  -5  \n" +
    "palm.cpu 1e3\npalm.cpu .5 +1501864250\r\nlast 5. 01501864251";
  const body = encoder.encode(text);
  const expected: Sample[] = [
    ["palm.cpu", 10.6, 1501864247],
    ["é.cpu", 2, -5],
    ["palm.cpu", 1000, 7],
    ["palm.cpu", 0.5, 1501864250],
    ["last", 5, 1501864251],
  ];
  for (let i = 0; i <= body.length; i++) {
    for (const j of [i, i + 1, i + 7]) {
      const cuts = j <= body.length && j > i ? [i, j] : [i];
      const { ok, parser } = parse(body, cuts);
      assert(ok, `cut at ${cuts}: ${JSON.stringify(parser.error)}`);
      deepEqual(samplesOf(parser.batch), expected, `cut at ${cuts}`);
    }
  }
});

Deno.test("`PutBodyParser` names the first bad line and why", async (t) => {
  const cases: [body: string, line: number | undefined, reason: string][] = [
    ["a 1 1\nb x 1\n", 2, "invalid value: x (a finite decimal number)"],
    [
      "a 1 1\n\nb 1 1 1 1 1 1 1 1 1 1 1\n",
      3,
      "expected <key> <value> [<timestamp>], got 12 fields",
    ],
    ["a 1 1\r\nb\u000b 1 1\n", 2, "invalid key: b\u000b"],
    [
      "a 1 0x1\n",
      1,
      "invalid timestamp: 0x1 (an integer number of Unix seconds)",
    ],
    [`a 1 1\n${"k".repeat(61)} 1 1\r\n`, 2, "longer than 64 bytes"],
    [`${"k".repeat(100)}`, 1, "longer than 64 bytes"],
    ["a 1 1\nb \xff 1\n", undefined, "not valid UTF-8"],
  ];
  for (const [text, line, reason] of cases) {
    await t.step(JSON.stringify(text.slice(0, 30)), () => {
      const body = new Uint8Array([...text].map((c) => c.charCodeAt(0)));
      const utf8 = text.includes("\xff") ? body : encoder.encode(text);
      for (const cuts of [[], [1], [utf8.length - 1]]) {
        const { ok, parser } = parse(utf8, cuts);
        equal(ok, false);
        equal(parser.error!.line, line);
        equal(parser.error!.reason, reason);
      }
    });
  }
  await t.step("a line of the limit, \\r\\n apart, is read", () => {
    const line = encoder.encode(`${"k".repeat(60)} 1 1\r\n`);
    const { ok, parser } = parse(line, [30]);
    equal(ok, true);
    equal(parser.batch.length, 1);
  });
  await t.step("a line over the limit is refused before its end", () => {
    const parser = new PutBodyParser(0, { maxLineLength: 64 });
    equal(parser.push(encoder.encode("x".repeat(40))), true);
    equal(parser.push(encoder.encode("x".repeat(40))), false);
    equal(parser.error!.line, 1);
  });
  await t.step("the line shown is cut to 200 characters", () => {
    const parser = new PutBodyParser(0);
    equal(parser.push(encoder.encode(`${"y".repeat(300)} x 1\n`)), false);
    equal(parser.error!.text, `${"y".repeat(200)}...`);
  });
});

Deno.test("`SampleBatch` keeps every sample across its blocks", () => {
  const batch = new SampleBatch();
  const count = 100_000;
  for (let i = 0; i < count; i++) batch.add(`k${i % 3}`, i / 2, i * 10);
  equal(batch.length, count);
  deepEqual(batch.keys, ["k0", "k1", "k2"]);
  for (const i of [0, 1023, 1024, 16383, 16384, 50_000, count - 1]) {
    deepEqual([batch.key(i), batch.value(i), batch.timestamp(i)], [
      `k${i % 3}`,
      i / 2,
      i * 10,
    ]);
  }
});

Deno.test("`BodyBudget` lets bodies in by turns, and gives up after the wait", async (t) => {
  await t.step(
    "in order: a small body does not pass a waiting large one",
    async () => {
      const budget = new BodyBudget(100, 10_000);
      equal(budget.reserve(60), true);
      const order: string[] = [];
      const large = (budget.reserve(100) as Promise<boolean>).then(
        (granted) => {
          order.push(`large ${granted}`);
        },
      );
      const small = (budget.reserve(10) as Promise<boolean>).then((granted) => {
        order.push(`small ${granted}`);
      });
      equal(budget.waiting, 2);
      budget.release(60);
      await large;
      deepEqual(order, ["large true"]);
      budget.release(100);
      await small;
      deepEqual(order, ["large true", "small true"]);
      budget.release(10);
      equal(budget.used, 0);
    },
  );
  await t.step("false once the longest wait has passed", async () => {
    const budget = new BodyBudget(100, 20);
    equal(budget.reserve(100), true);
    equal(await budget.reserve(1), false);
    equal(budget.waiting, 0);
    budget.release(100);
    equal(budget.used, 0);
  });
  await t.step("more than the capacity is a mistake", () => {
    throws(() => new BodyBudget(100, 20).reserve(101), RangeError);
  });
});

/** A server on a free port. */
function start(options: Parameters<typeof serveHttp>[0] = {}) {
  const server = serveHttp({ hostname: HOST, port: 0, ...options });
  return { server, port: server.addr.port };
}

/** Sends a raw HTTP/1.1 head and reads one answer's head and body. */
async function answerOf(connection: RawConnection): Promise<string> {
  return decoder.decode(await connection.readToEnd());
}

Deno.test("`serveHttp()` refuses a put body over maxBody with 413", async (t) => {
  const store = new Store();
  const { server, port } = start({ store, maxBody: 64 });
  await using _ = server;
  const base = `http://${HOST}:${port}`;
  const body = "big.series 1 1\n".repeat(5);
  await t.step("from its content length, before reading it", async () => {
    await using connection = await RawConnection.connect(port);
    // Only the head: the answer must not wait for the body.
    await connection.send(
      `POST /api/put HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 1000000\r\n\r\n`,
    );
    const answer = await answerOf(connection);
    assert(answer.startsWith("HTTP/1.1 413 "), answer);
    assert(answer.endsWith('{"error":"the body is larger than 64 bytes"}'));
  });
  await t.step("chunked, once it passes the limit", async () => {
    const stream = ReadableStream.from([
      encoder.encode(body.slice(0, 40)),
      encoder.encode(body.slice(40)),
    ]);
    const response = await fetch(`${base}/api/put`, {
      method: "POST",
      body: stream,
    });
    equal(response.status, 413);
    await response.body?.cancel();
  });
  equal(store.stats.series, 0);
  const response = await fetch(`${base}/api/put`, {
    method: "POST",
    body: "small 1 1\n",
  });
  equal(response.status, 204);
});

/** Reads from `conn` until what came matches `ending`, or it closes. */
async function readUntil(conn: Deno.Conn, ending: RegExp): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  return await within(
    (async () => {
      while (!ending.test(text)) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += decoder.decode(buffer.subarray(0, n));
      }
      return text;
    })(),
    `${ending} from the server`,
  );
}

Deno.test("`serveHttp()` makes put bodies wait, unread, for their share of maxBody", async (t) => {
  const store = new Store();
  const { server, port } = start({ store, maxBody: 100, maxBodyWait: 300 });
  await using _ = server;
  const head = (length: number) =>
    encoder.encode(
      `POST /api/put HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: ${length}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n`,
    );
  // A body that takes 60 of the 100 bytes, and stalls after its first line.
  using first = await Deno.connect({ hostname: HOST, port });
  await first.write(head(60));
  equal(await readUntil(first, /\r\n\r\n/), "HTTP/1.1 100 Continue\r\n\r\n");
  await first.write(encoder.encode("first 1 1\n"));

  await t.step("503 with Retry-After once no room came in time", async () => {
    using second = await Deno.connect({ hostname: HOST, port });
    await second.write(head(50));
    // No 100 Continue first: its body was never asked for.
    const answer = await readUntil(second, /\}$/);
    assert(answer.startsWith("HTTP/1.1 503 "), answer);
    assert(/\r\nretry-after: 1\r\n/.test(answer), answer);
    assert(
      answer.endsWith(
        '{"error":"too many put bodies at once: try again shortly"}',
      ),
      answer,
    );
  });

  await t.step(
    "read once the body before it is done, then stored",
    async () => {
      using third = await Deno.connect({ hostname: HOST, port });
      await third.write(head(50));
      const continued = readUntil(third, /\r\n\r\n/);
      const early = await Promise.race([continued, delay(100)]);
      equal(early, undefined, "nothing before there is room");
      await first.write(encoder.encode(`second 2 2\n${"\n".repeat(39)}`));
      assert((await readUntil(first, /\r\n\r\n/)).startsWith("HTTP/1.1 204 "));
      equal(await continued, "HTTP/1.1 100 Continue\r\n\r\n");
      await third.write(encoder.encode(`third 3 3\n${"\n".repeat(40)}`));
      assert((await readUntil(third, /\r\n\r\n/)).startsWith("HTTP/1.1 204 "));
    },
  );
  deepEqual(store.get("second")?.toArray(), [[2, 2]]);
  equal(store.stats.samples, 3);
});

Deno.test("`serveHttp()` refuses a put of samples older than the retention window with 400", async () => {
  await using storage = new LocalStorage({ retention: 3600 });
  const { server, port } = start({ storage });
  await using _ = server;
  const now = Math.floor(Date.now() / 1000);
  const response = await fetch(`http://${HOST}:${port}/api/put`, {
    method: "POST",
    body: `fresh 1 ${now}\nold 1 ${now - 7200}\n`,
  });
  equal(response.status, 400);
  const { error } = await response.json();
  assert(
    /^sample 2 \(old\): \d+ is older than the retention window/.test(error),
    error,
  );
  equal(storage.store.stats.samples, 0);
});
