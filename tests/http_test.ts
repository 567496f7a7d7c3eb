import {
  deepStrictEqual as deepEqual,
  ok as assert,
  rejects,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import { serveHttp, type ServeHttpOptions } from "../http.ts";
import type { Appender, Storage } from "../storage/storage.ts";
import { LocalStorage, openStorage } from "../storage/local.ts";
import { AGGREGATIONS } from "../store/query.ts";
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
  unusedPort,
  within,
} from "./_helpers.ts";

type Point = [timestamp: number, value: number];
interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

const T0 = 1_600_000_000;
// What an invalid from or to is told: the forms the command line takes.
const TIME_FORMS =
  "Unix seconds, now, a duration before now such as -1h, or an ISO 8601 date such as 2017-08-04T16:30:47Z";
const HTTP_LISTENING =
  /^pulse: http listening on http:\/\/127\.0\.0\.1:(\d+)$/m;

/** A server on a free port; errors it reports are collected. */
function start(options: ServeHttpOptions = {}) {
  const errors: Error[] = [];
  const server = serveHttp({
    hostname: HOST,
    port: 0,
    onError: (error) => errors.push(error),
    ...options,
  });
  return { server, base: `http://${HOST}:${server.addr.port}`, errors };
}

/** Fetches and reads the whole body. */
async function call(
  base: string,
  path: string,
  init?: RequestInit,
): Promise<Answer> {
  const response = await fetch(base + path, init);
  return {
    status: response.status,
    headers: response.headers,
    text: await response.text(),
  };
}

/** Fetches JSON; fails unless the status is `status`. */
async function callJson(
  base: string,
  path: string,
  status = 200,
  init?: RequestInit,
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const answer = await call(base, path, init);
  equal(answer.status, status, `${path}: ${answer.text}`);
  equal(answer.headers.get("content-type"), "application/json; charset=utf-8");
  return JSON.parse(answer.text);
}

/** Posts a put body. */
function put(base: string, body: BodyInit, headers: HeadersInit = {}) {
  return call(base, "/api/put", { method: "POST", body, headers });
}

/** A store of three series of random samples, and the samples as put. */
function seeded() {
  const random = rng(7);
  const store = new Store();
  const samples: Record<string, Point[]> = {
    "palm.cpu": [],
    "palm.memory": [],
    "eardrum.cpu": [],
  };
  for (const [key, points] of Object.entries(samples)) {
    for (let i = 0; i < 500; i++) {
      const point: Point = [
        T0 + i * 7 + randomInt(random, 0, 3),
        randomInt(random, -1000, 1000) / 8,
      ];
      if (points.at(-1)?.[0] === point[0]) continue;
      points.push(point);
      store.put(key, point[1], point[0]);
    }
  }
  return { store, samples };
}

Deno.test("`serveHttp()` answers GET /health with the version and uptime", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const { server, base } = start();
  await using _ = server;
  const body = await callJson(base, "/health");
  deepEqual(Object.keys(body), ["status", "version", "uptime_seconds"]);
  equal(body.status, "ok");
  equal(body.version, config.version);
  assert(Number.isSafeInteger(body.uptime_seconds) && body.uptime_seconds >= 0);
});

Deno.test("`serveHttp()` serves a self-contained dashboard at GET /", async () => {
  const { server, base } = start({ token: "secret" });
  await using _ = server;
  const answer = await call(base, "/");
  equal(answer.status, 200, "the page itself needs no token");
  equal(answer.headers.get("content-type"), "text/html; charset=utf-8");
  assert(answer.text.startsWith("<!doctype html>"));
  for (const range of ["15m", "1h", "24h", "7d"]) {
    assert(answer.text.includes(`data-range="${range}"`), range);
  }
  // Nothing is fetched from elsewhere: the only URL is SVG's namespace.
  const urls = answer.text.match(/\b(?:https?:)?\/\/[^\s"'<>)]+/g) ?? [];
  deepEqual([...new Set(urls)], ["http://www.w3.org/2000/svg"]);
  assert(!/<(?:script|link|img)[^>]+(?:src|href)=/.test(answer.text));
});

Deno.test("`serveHttp()` lists keys at GET /api/keys", async (t) => {
  const { store } = seeded();
  const { server, base } = start({ store });
  await using _ = server;
  await t.step("every key without match, in the order first put", async () => {
    deepEqual(await callJson(base, "/api/keys"), {
      matched: 3,
      series: [{ key: "palm.cpu" }, { key: "palm.memory" }, {
        key: "eardrum.cpu",
      }],
    });
  });
  await t.step("the keys a pattern matches", async () => {
    deepEqual(await callJson(base, "/api/keys?match=*.cpu"), {
      matched: 2,
      series: [{ key: "palm.cpu" }, { key: "eardrum.cpu" }],
    });
    deepEqual(await callJson(base, "/api/keys?match=palm.%7Bmemory,disk%7D"), {
      matched: 1,
      series: [{ key: "palm.memory" }],
    });
    deepEqual(await callJson(base, "/api/keys?match=nothing.*"), {
      matched: 0,
      series: [],
    });
  });
  await t.step("the first `limit` of them", async () => {
    deepEqual(await callJson(base, "/api/keys?match=*.*&limit=1"), {
      matched: 3,
      series: [{ key: "palm.cpu" }],
    });
  });
  await t.step("400 for a bad pattern or limit", async () => {
    deepEqual(await callJson(base, "/api/keys?match=palm.%7Bcpu", 400), {
      error: "invalid match: palm.{cpu: a '{' without '}'",
    });
    deepEqual(await callJson(base, "/api/keys?limit=-1", 400), {
      error: "invalid limit: -1 (an integer of at least 0)",
    });
  });
});

Deno.test("`serveHttp()` reads samples at GET /api/query", async (t) => {
  const { store, samples } = seeded();
  const { server, base } = start({ store });
  await using _ = server;
  const cpu = samples["palm.cpu"];

  await t.step("every sample in the range, series by series", async () => {
    const from = cpu[100][0];
    const to = cpu[180][0];
    const body = await callJson(
      base,
      `/api/query?match=palm.*&from=${from}&to=${to}`,
    );
    const inRange = (points: Point[]) =>
      points.filter(([t]) => from <= t && t <= to);
    deepEqual(body, {
      from,
      to,
      step: null,
      matched: 2,
      series: [
        { key: "palm.cpu", points: inRange(cpu) },
        { key: "palm.memory", points: inRange(samples["palm.memory"]) },
      ],
    });
  });

  await t.step("without from and to, the range of the data", async () => {
    const body = await callJson(
      base,
      "/api/query?match=palm.cpu&maxPoints=5000",
    );
    equal(body.from, cpu[0][0]);
    equal(body.to, cpu.at(-1)![0]);
    equal(body.step, null);
    deepEqual(body.series[0].points, cpu);
  });

  await t.step("rolled up by step with each aggregation", async () => {
    for (const agg of AGGREGATIONS) {
      const body = await callJson(
        base,
        `/api/query?match=eardrum.cpu&step=60&agg=${agg}`,
      );
      equal(body.step, 60);
      deepEqual(
        body.series[0].points,
        rollUp(samples["eardrum.cpu"], 60, agg),
        agg,
      );
    }
    const body = await callJson(base, "/api/query?match=eardrum.cpu&step=60");
    deepEqual(
      body.series[0].points,
      rollUp(samples["eardrum.cpu"], 60, "avg"),
      "avg by default",
    );
  });

  await t.step("series without samples in range are listed empty", async () => {
    deepEqual(await callJson(base, "/api/query?match=*.cpu&from=1&to=2"), {
      from: 1,
      to: 2,
      step: null,
      matched: 2,
      series: [
        { key: "palm.cpu", points: [] },
        { key: "eardrum.cpu", points: [] },
      ],
    });
  });

  await t.step("the first `limit` series", async () => {
    const body = await callJson(
      base,
      "/api/query?match=*.*&limit=2&from=1&to=2",
    );
    equal(body.matched, 3);
    deepEqual(body.series.map((s: { key: string }) => s.key), [
      "palm.cpu",
      "palm.memory",
    ]);
  });

  await t.step("400 with a message for every bad parameter", async () => {
    const cases: [string, string][] = [
      ["", "missing match: a key or pattern, such as palm.*"],
      ["match=", "missing match: a key or pattern, such as palm.*"],
      ["match=%5Bz-a%5D", "invalid match: [z-a]: a bad range in '[]'"],
      ["match=a&from=abc", `invalid from: abc (${TIME_FORMS})`],
      ["match=a&to=1.5", `invalid to: 1.5 (${TIME_FORMS})`],
      [
        "match=a&from=9007199254740992",
        `invalid from: 9007199254740992 (${TIME_FORMS})`,
      ],
      ["match=a&from=2017-02-30", `invalid from: 2017-02-30 (${TIME_FORMS})`],
      ["match=a&from=5&to=4", "invalid range: from 5 is after to 4"],
      ["match=a&step=0", "invalid step: 0 (an integer of at least 1)"],
      ["match=a&step=x", "invalid step: x (an integer of at least 1)"],
      [
        "match=a&agg=median",
        "invalid agg: median (one of avg, min, max, sum, count, last)",
      ],
      [
        "match=a&maxPoints=1",
        "invalid maxPoints: 1 (an integer of at least 2)",
      ],
      ["match=a&limit=1e3", "invalid limit: 1e3 (an integer of at least 0)"],
    ];
    for (const [query, error] of cases) {
      deepEqual(
        await callJson(base, `/api/query?${query}`, 400),
        { error },
        query,
      );
    }
  });
});

Deno.test("`serveHttp()` picks a step for at most maxPoints points per series", async (t) => {
  const store = new Store();
  const points: Point[] = [];
  // A sample every 10 s over a million seconds: 100,001 samples.
  for (let t = T0; t <= T0 + 1_000_000; t += 10) {
    const value = (t / 10) % 97;
    points.push([t, value]);
    store.put("palm.cpu", value, t);
  }
  const { server, base } = start({ store });
  await using _ = server;

  await t.step(
    "the smallest round step under 1000 points by default",
    async () => {
      const body = await callJson(base, "/api/query?match=palm.cpu");
      // 900 s would cut 1,000,001 s into 1112 buckets; 1800 s into 557.
      equal(body.step, 1800);
      deepEqual(body.series[0].points, rollUp(points, 1800, "avg"));
      assert(body.series[0].points.length <= 1000);
    },
  );

  await t.step("maxPoints changes the bound", async () => {
    for (const [maxPoints, step] of [[100, 10800], [20_000, 60], [5, 259200]]) {
      const body = await callJson(
        base,
        `/api/query?match=palm.cpu&maxPoints=${maxPoints}&agg=max`,
      );
      equal(body.step, step, `maxPoints ${maxPoints}`);
      deepEqual(body.series[0].points, rollUp(points, step, "max"));
      assert(body.series[0].points.length <= maxPoints);
    }
  });

  await t.step("whole days for ranges of years", async () => {
    const to = T0 + 10 * 365 * 86400;
    const body = await callJson(
      base,
      `/api/query?match=palm.cpu&from=${T0}&to=${to}`,
    );
    const buckets = (step: number) =>
      Math.floor(to / step) - Math.floor(T0 / step) + 1;
    equal(body.step % 86400, 0);
    assert(buckets(body.step) <= 1000);
    assert(buckets(body.step - 86400) > 1000, "no fewer days would do");
    deepEqual(body.series[0].points, rollUp(points, body.step, "avg"));
  });

  await t.step("no roll-up when every second fits", async () => {
    const body = await callJson(
      base,
      `/api/query?match=palm.cpu&from=${T0}&to=${T0 + 999}`,
    );
    equal(body.step, null);
    deepEqual(body.series[0].points, points.slice(0, 100));
  });

  await t.step("an explicit step streams every point asked for", async () => {
    const body = await callJson(base, "/api/query?match=palm.cpu&step=1");
    equal(body.series[0].points.length, points.length);
    deepEqual(body.series[0].points, points);
  });
});

Deno.test("`serveHttp()` reads the latest samples at GET /api/last", async () => {
  const { store, samples } = seeded();
  const { server, base } = start({ store });
  await using _ = server;
  deepEqual(await callJson(base, "/api/last?match=*.cpu"), {
    matched: 2,
    series: [
      { key: "palm.cpu", points: [samples["palm.cpu"].at(-1)] },
      { key: "eardrum.cpu", points: [samples["eardrum.cpu"].at(-1)] },
    ],
  });
  deepEqual(await callJson(base, "/api/last", 400), {
    error: "missing match: a key or pattern, such as palm.*",
  });
});

Deno.test("`serveHttp()` stores a batch at POST /api/put", async (t) => {
  const store = new Store();
  const { server, base } = start({ store });
  await using _ = server;

  await t.step("204 once every line is stored", async () => {
    const answer = await put(
      base,
      "palm.cpu 10.6 1501864247\r\n\n  palm.cpu\t2  1501864248  \n" +
        "palm.cpu 1e3 1501864249\npalm.cpu .5 +1501864250\npalm.cpu 5. 01501864251\n" +
        "palm.cpu -0.25 -7",
    );
    deepEqual([answer.status, answer.text], [204, ""]);
    deepEqual(store.get("palm.cpu")!.toArray(), [
      [-7, -0.25],
      [1501864247, 10.6],
      [1501864248, 2],
      [1501864249, 1000],
      [1501864250, 0.5],
      [1501864251, 5],
    ]);
  });

  await t.step("a line without a timestamp is stored at now", async () => {
    const before = Math.floor(Date.now() / 1000);
    equal((await put(base, "eardrum.memory 4200000\n")).status, 204);
    const after = Math.floor(Date.now() / 1000);
    const [[timestamp, value]] = store.get("eardrum.memory")!.toArray();
    equal(value, 4200000);
    assert(before <= timestamp && timestamp <= after, `${timestamp}`);
  });

  await t.step(
    "400 naming the first bad line, and nothing stored",
    async () => {
      const cases: [string, string][] = [
        ["palm.cpu nan 1", "invalid value: nan (a finite decimal number)"],
        ["palm.cpu inf 1", "invalid value: inf (a finite decimal number)"],
        ["palm.cpu 0x10 1", "invalid value: 0x10 (a finite decimal number)"],
        ["palm.cpu 1,5 1", "invalid value: 1,5 (a finite decimal number)"],
        ["palm.cpu 1e999 1", "invalid value: 1e999 (a finite decimal number)"],
        [
          "palm.cpu 1 1.5",
          "invalid timestamp: 1.5 (an integer number of Unix seconds)",
        ],
        [
          "palm.cpu 1 9007199254740992",
          "invalid timestamp: 9007199254740992 (an integer number of Unix seconds)",
        ],
        ["palm.cpu", "expected <key> <value> [<timestamp>], got 1 fields"],
        [
          "palm.cpu 1 2 3",
          "expected <key> <value> [<timestamp>], got 4 fields",
        ],
        ["palm\u00a0cpu 1 2", "invalid key: palm\u00a0cpu"],
      ];
      for (const [line, reason] of cases) {
        const stats = store.stats;
        const body =
          `batch.first 1 100\n\nbatch.second 2 100\n${line}\nbatch.third 3 100\nalso bad\n`;
        const answer = await put(base, body);
        equal(answer.status, 400, line);
        deepEqual(JSON.parse(answer.text), {
          error: `line 4 (${JSON.stringify(line)}): ${reason}`,
          line: 4,
        });
        deepEqual(store.stats, stats, `${line}: nothing stored`);
        equal(store.get("batch.first"), undefined);
      }
    },
  );

  await t.step("400 for an empty body or one that is not UTF-8", async () => {
    for (const body of ["", "\n \n"]) {
      deepEqual(JSON.parse((await put(base, body)).text), {
        error:
          "the body holds no samples: send lines of <key> <value> [<timestamp>]",
      });
    }
    const answer = await put(base, new Uint8Array([0x61, 0xff, 0x20, 0x31]));
    deepEqual([answer.status, JSON.parse(answer.text)], [400, {
      error: "the body is not valid UTF-8",
    }]);
  });

  await t.step(
    "403 for a page of another origin, not for its own",
    async () => {
      const answer = await put(base, "csrf.x 1 1", {
        origin: "http://evil.example",
      });
      deepEqual([answer.status, JSON.parse(answer.text)], [403, {
        error: "cross-origin put refused: http://evil.example",
      }]);
      equal(store.get("csrf.x"), undefined);
      equal((await put(base, "csrf.y 1 1", { origin: base })).status, 204);
    },
  );
});

Deno.test("`serveHttp()` refuses a put body over maxPutBytes with 413", async (t) => {
  const store = new Store();
  const { server, base } = start({ store, maxPutBytes: 64 });
  await using _ = server;
  const body = "big.series 1 1\n".repeat(5);
  await t.step("with a content length", async () => {
    const answer = await put(base, body);
    deepEqual([answer.status, JSON.parse(answer.text)], [413, {
      error: "the body is larger than 64 bytes",
    }]);
  });
  await t.step("streamed without one", async () => {
    const stream = ReadableStream.from([
      new TextEncoder().encode(body.slice(0, 40)),
      new TextEncoder().encode(body.slice(40)),
    ]);
    equal((await put(base, stream)).status, 413);
  });
  equal(store.stats.series, 0);
  equal((await put(base, "small 1 1\n")).status, 204);
});

Deno.test("`serveHttp()` journals puts and commits them before answering", async (t) => {
  await t.step("restored from the data directory", async () => {
    const dir = await Deno.makeTempDir();
    try {
      {
        await using storage = await openStorage(dir, {
          fsync: "always",
        });
        const { server, base } = start({ storage });
        await using _ = server;
        equal(
          (await put(base, "palm.cpu 1.5 100\npalm.gpu 2 101\n")).status,
          204,
        );
      }
      await using storage = await openStorage(dir);
      deepEqual(storage.store.get("palm.cpu")!.toArray(), [[100, 1.5]]);
      deepEqual(storage.store.get("palm.gpu")!.toArray(), [[101, 2]]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step(
    "503 while the log cannot be written, nothing stored",
    async () => {
      await using local = new LocalStorage();
      const refusal = "cannot write the log: no space left on device";
      const storage = fakeStorage(local, {
        append: () => refusal,
        appendBatch: () => refusal,
      });
      const { server, base } = start({ storage });
      await using _ = server;
      const answer = await put(base, "palm.cpu 1 1\n");
      deepEqual([answer.status, JSON.parse(answer.text)], [503, {
        error: "cannot write the log: no space left on device",
      }]);
      equal(local.store.stats.samples, 0);
    },
  );

  await t.step("503 when the commit fails", async () => {
    await using local = new LocalStorage();
    const storage = fakeStorage(local, {
      commit: () => Promise.reject(new Error("Input/output error")),
    });
    const { server, base } = start({ storage });
    await using _ = server;
    const answer = await put(base, "palm.cpu 1 1\n");
    deepEqual([answer.status, JSON.parse(answer.text)], [503, {
      error: "cannot write the log: input/output error",
    }]);
  });
});

/** `local` with its appenders' methods replaced by `methods`. */
function fakeStorage(local: LocalStorage, methods: Partial<Appender>): Storage {
  return {
    backend: "fake",
    querier: local.querier,
    stats: () => local.stats(),
    close: () => local.close(),
    [Symbol.asyncDispose]: () => local.close(),
    appender: () => {
      const appender = local.appender();
      return {
        deferred: true,
        append: methods.append ?? appender.append.bind(appender),
        appendBatch: methods.appendBatch ?? appender.appendBatch.bind(appender),
        delete: methods.delete ?? appender.delete.bind(appender),
        commit: methods.commit ?? appender.commit.bind(appender),
        rollback: methods.rollback ?? appender.rollback.bind(appender),
      };
    },
  };
}

Deno.test("`serveHttp()` asks for the bearer token", async (t) => {
  const store = new Store();
  store.put("palm.cpu", 1, 1);
  const { server, base } = start({ store, token: "s3cret" });
  await using _ = server;
  const routes: [string, RequestInit][] = [
    ["/metrics", {}],
    ["/api/stats", {}],
    ["/api/keys", {}],
    ["/api/query?match=*", {}],
    ["/api/last?match=*", {}],
    ["/api/put", { method: "POST", body: "stolen.key 1 1" }],
  ];
  const headers: [string, Record<string, string>, string][] = [
    [
      "none",
      {},
      "authentication required: send Authorization: Bearer <token>",
    ],
    ["a wrong token", { authorization: "Bearer s3cre" }, "invalid token"],
    ["a longer one", { authorization: "Bearer s3cret!" }, "invalid token"],
    ["another scheme", { authorization: "Basic czNjcmV0" }, "invalid token"],
  ];
  for (const [what, header, error] of headers) {
    await t.step(`401 with ${what}`, async () => {
      for (const [path, init] of routes) {
        const answer = await call(base, path, { ...init, headers: header });
        equal(answer.status, 401, path);
        equal(answer.headers.get("www-authenticate"), 'Bearer realm="pulse"');
        deepEqual(JSON.parse(answer.text), { error }, path);
      }
      equal(store.get("stolen.key"), undefined);
    });
  }
  await t.step("every route with the token", async () => {
    for (const [path, init] of routes) {
      const answer = await call(base, path, {
        ...init,
        headers: { authorization: "bearer s3cret" },
      });
      assert(answer.status === 200 || answer.status === 204, path);
    }
    equal(store.stats.series, 2);
  });
  await t.step("/ and /health without it", async () => {
    equal((await call(base, "/")).status, 200);
    equal((await call(base, "/health")).status, 200);
  });
});

Deno.test("`serveHttp()` answers 404 and 405 in JSON", async () => {
  const { server, base } = start();
  await using _ = server;
  deepEqual(await callJson(base, "/api/nothing", 404), {
    error: "no such route: /api/nothing",
  });
  deepEqual(await callJson(base, "/constructor", 404), {
    error: "no such route: /constructor",
  });
  const cases: [string, string, string][] = [
    ["/api/put", "GET", "POST"],
    ["/api/query", "POST", "GET"],
    ["/", "DELETE", "GET"],
    ["/metrics", "PUT", "GET"],
  ];
  for (const [path, method, allowed] of cases) {
    const answer = await call(base, path, { method });
    equal(answer.status, 405, `${method} ${path}`);
    equal(
      answer.headers.get("allow"),
      allowed === "GET" ? "GET, HEAD" : allowed,
    );
    deepEqual(JSON.parse(answer.text), {
      error: `${method} is not allowed on ${path}: use ${allowed}`,
    });
  }
});

Deno.test("`serveHttp()` answers 500 and reports what went wrong", async () => {
  const { server, base, errors } = start({
    stats: () => {
      throw new Error("Figures unavailable");
    },
  });
  await using _ = server;
  deepEqual(await callJson(base, "/api/stats", 500), {
    error: "internal error: figures unavailable",
  });
  deepEqual(errors.map((error) => error.message), [
    "GET /api/stats: figures unavailable",
  ]);
});

const TCP_REQUESTS =
  "put palm.cpu 1 1\nput palm.cpu 2 2\nget palm.cpu\nnonsense\n";

/** The families of an exposition: each name's HELP, TYPE and sample lines. */
function parseExposition(text: string) {
  const families = new Map<
    string,
    { help: string; type: string; samples: Map<string, number> }
  >();
  const lines = text.split("\n");
  equal(lines.pop(), "", "the exposition ends in a newline");
  for (let i = 0; i < lines.length;) {
    const help = /^# HELP ([a-z_:][a-z0-9_:]*) (.+)$/.exec(lines[i++]);
    assert(help, `a HELP line at line ${i}: ${lines[i - 1]}`);
    const type = /^# TYPE (\S+) (counter|gauge)$/.exec(lines[i++]);
    assert(type && type[1] === help[1], `a TYPE line at line ${i}`);
    assert(!families.has(help[1]), `${help[1]} appears once`);
    const samples = new Map<string, number>();
    while (i < lines.length && !lines[i].startsWith("#")) {
      const sample = /^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(
        lines[i++],
      );
      assert(sample && sample[1] === help[1], `a sample at line ${i}`);
      samples.set(sample[2] ?? "", Number(sample[3]));
    }
    families.set(help[1], { help: help[2], type: type[2], samples });
  }
  return families;
}

Deno.test("`serveHttp()` exposes the server's figures at GET /metrics", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    // Answered once written: the log's size is settled when it is read.
    await using storage = await openStorage(dir, { fsync: "always" });
    await using tcp = serve({ hostname: HOST, port: 0, storage });
    const { server, base } = start({ storage, stats: () => tcp.stats() });
    await using _ = server;
    await exchange(tcp.addr.port, TCP_REQUESTS, 4);
    equal(
      (await put(base, "palm.gpu 1 1\npalm.gpu 2 2\npalm.gpu 3 3\n")).status,
      204,
    );
    equal((await call(base, "/nowhere")).status, 404);
    const answer = await call(base, "/metrics");
    equal(answer.status, 200);
    equal(
      answer.headers.get("content-type"),
      "text/plain; version=0.0.4; charset=utf-8",
    );
    const families = parseExposition(answer.text);

    await t.step("the TCP server's figures", () => {
      const value = (name: string, labels = "") =>
        families.get(name)?.samples.get(labels);
      equal(value("pulse_commands_total", '{command="put"}'), 2);
      equal(value("pulse_commands_total", '{command="get"}'), 1);
      equal(value("pulse_commands_total", '{command="invalid"}'), 1);
      equal(value("pulse_errors_total"), 1);
      equal(value("pulse_series"), 2);
      equal(value("pulse_samples"), 5);
      equal(value("pulse_connections_accepted_total"), 1);
      equal(value("pulse_connections_refused_total"), 0);
      equal(value("pulse_received_bytes_total"), TCP_REQUESTS.length);
      assert(value("pulse_sent_bytes_total")! > 0);
      assert(value("pulse_connections")! >= 0);
      equal(value("pulse_log_bytes"), storage.sizes!.log);
      equal(value("pulse_snapshot_bytes"), storage.sizes!.snapshot);
      assert(value("pulse_uptime_seconds")! >= 0);
      assert(value("pulse_memory_rss_bytes")! > 1024 * 1024);
    });

    await t.step("its own figures", () => {
      const value = (name: string, labels = "") =>
        families.get(name)?.samples.get(labels);
      equal(value("pulse_http_samples_put_total"), 3);
      equal(
        value("pulse_http_requests_total", '{route="/api/put",code="204"}'),
        1,
      );
      equal(
        value("pulse_http_requests_total", '{route="other",code="404"}'),
        1,
      );
      const version = JSON.parse(
        Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
      ).version;
      equal(value("pulse_build_info", `{version="${version}"}`), 1);
    });

    await t.step("counters are counters and end in _total", () => {
      for (const [name, family] of families) {
        equal(family.type === "counter", name.endsWith("_total"), name);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const PROMTOOL = await new Deno.Command("sh", {
  args: ["-c", "command -v promtool"],
  stdout: "piped",
  stderr: "null",
}).output().then((output) => new TextDecoder().decode(output.stdout).trim());
if (PROMTOOL === "") {
  console.warn(
    "http_test: promtool is missing, so `promtool check metrics` is ignored (install Debian's prometheus package to run it)",
  );
}

Deno.test({
  name: "`serveHttp()` serves /metrics that `promtool check metrics` accepts",
  ignore: PROMTOOL === "",
  async fn() {
    await using tcp = serve({ hostname: HOST, port: 0 });
    const { server, base } = start({ stats: () => tcp.stats() });
    await using _ = server;
    await exchange(tcp.addr.port, "put palm.cpu 1 1\nping\nbad\n", 3);
    equal((await call(base, "/api/nothing")).status, 404);
    const { text } = await call(base, "/metrics");
    const child = new Deno.Command(PROMTOOL, {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const output = await child.output();
    const decoder = new TextDecoder();
    const said = decoder.decode(output.stdout) + decoder.decode(output.stderr);
    deepEqual([output.code, said], [0, ""], text);
  },
});

const OPENSSL = await new Deno.Command("sh", {
  args: ["-c", "command -v openssl"],
  stdout: "piped",
  stderr: "null",
}).output().then((output) => new TextDecoder().decode(output.stdout).trim());

Deno.test({
  name: "`serveHttp()` serves HTTPS with cert and key",
  ignore: OPENSSL === "",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // A CA and a certificate for 127.0.0.1 that it signs: rustls refuses
      // a self-signed CA certificate as the server's own.
      const script = [
        "set -e",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=pulse-test-ca -keyout ca.key -out ca.pem",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out cert.csr",
        "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > cert.ext",
        "openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile cert.ext -out cert.pem",
      ].join("\n");
      const made = await new Deno.Command("sh", {
        args: ["-c", script],
        cwd: dir,
        stdout: "null",
        stderr: "piped",
      }).output();
      equal(made.code, 0, new TextDecoder().decode(made.stderr));
      const cert = await Deno.readTextFile(`${dir}/cert.pem`);
      const key = await Deno.readTextFile(`${dir}/key.pem`);
      await using server = serveHttp({ hostname: HOST, port: 0, cert, key });
      using client = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)],
      });
      const response = await fetch(
        `https://${HOST}:${server.addr.port}/health`,
        { client },
      );
      equal(response.status, 200);
      equal((await response.json()).status, "ok");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("`serveHttp()` stops when its signal aborts", async () => {
  const controller = new AbortController();
  const server = serveHttp({
    hostname: HOST,
    port: 0,
    signal: controller.signal,
  });
  const base = `http://${HOST}:${server.addr.port}`;
  equal((await call(base, "/health")).status, 200);
  controller.abort();
  await server.finished;
  await rejects(fetch(`${base}/health`), TypeError);
});

Deno.test("`serveHttp()` refuses bad options", () => {
  throws(() => serveHttp({ port: 0, cert: "x" }), {
    name: "TypeError",
    message: "Cannot serve HTTPS without both cert and key",
  });
  throws(() => serveHttp({ port: 0, maxPutBytes: -1 }), {
    name: "RangeError",
    message: "Cannot serve with maxPutBytes -1: not a number >= 0",
  });
});

Deno.test("server.ts serves HTTP next to TCP, on one store", async (t) => {
  await t.step("--http HOST:PORT, stopped by SIGTERM", async () => {
    await using server = await ServerProcess.start([
      "--port",
      "0",
      "--memory",
      "--http",
      "127.0.0.1:0",
    ]);
    const [, port] = await server.waitForStderr(HTTP_LISTENING);
    const base = `http://${HOST}:${port}`;
    equal((await put(base, "palm.cpu 10.6 1501864247\n")).status, 204);
    equal(
      await exchange(server.port, "get palm.cpu\n", 1),
      "ok\npalm.cpu 10.6 1501864247\n\n",
    );
    await exchange(server.port, "put eardrum.cpu 3 1150864250\n", 1);
    deepEqual(await callJson(base, "/api/last?match=eardrum.cpu"), {
      matched: 1,
      series: [{ key: "eardrum.cpu", points: [[1150864250, 3]] }],
    });
    const metrics = await call(base, "/metrics");
    assert(metrics.text.includes('pulse_commands_total{command="put"} 1\n'));
    server.child.kill("SIGTERM");
    equal((await server.exit()).code, 0, server.stderr);
  });

  await t.step("puts over HTTP are in the log", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const args = ["--port", "0", "--data", dir, "--http", "127.0.0.1:0"];
      {
        await using server = await ServerProcess.start(args);
        const [, port] = await server.waitForStderr(HTTP_LISTENING);
        equal(
          (await put(`http://${HOST}:${port}`, "palm.cpu 0.5 1150864247\n"))
            .status,
          204,
        );
        server.child.kill("SIGTERM");
        equal((await server.exit()).code, 0, server.stderr);
      }
      await using server = await ServerProcess.start(args);
      equal(
        await exchange(server.port, "get palm.cpu\n", 1),
        "ok\npalm.cpu 0.5 1150864247\n\n",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("--http off", async () => {
    await using server = await ServerProcess.start([
      "--port",
      "0",
      "--memory",
      "--http",
      "off",
    ]);
    server.child.kill("SIGTERM");
    equal((await server.exit()).code, 0);
    assert(!server.stderr.includes("http"), server.stderr);
  });

  await t.step("exit 1 when the HTTP port asked for is taken", async () => {
    using listener = Deno.listen({ hostname: HOST, port: 0 });
    await using server = ServerProcess.spawn([
      "--port",
      "0",
      "--memory",
      "--http",
      `127.0.0.1:${listener.addr.port}`,
    ]);
    equal((await server.exit()).code, 1, server.stderr);
    // Found before serving anything: the busy address named, no listening.
    equal(
      server.stderr.trimEnd().split("\n").at(-1),
      `pulse: Cannot listen on 127.0.0.1:${listener.addr.port}: address in use`,
    );
    assert(!server.stderr.includes("listening"), server.stderr);
  });

  await t.step("exit 2 on a bad --http", async () => {
    for (
      const value of [
        "nonsense",
        "127.0.0.1",
        ":8889",
        "127.0.0.1:65536",
        "127.0.0.1:x",
      ]
    ) {
      const port = String(unusedPort());
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "server.ts",
          "--port",
          port,
          "--memory",
          "--http",
          value,
        ],
        cwd: new URL("..", import.meta.url),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      });
      const output = await child.output();
      const stderr = new TextDecoder().decode(output.stderr);
      equal(output.code, 2, `${value}: ${stderr}`);
      assert(
        stderr.startsWith(
          "pulse: --http must be HOST:PORT, such as 127.0.0.1:8889, or off",
        ),
        stderr,
      );
    }
  });
});

Deno.test("`serveHttp()` answers HEAD wherever it answers GET", async () => {
  const { store } = seeded();
  const { server, base } = start({ store, token: "s3cret" });
  await using _ = server;
  const headers = { authorization: "Bearer s3cret" };
  for (
    const path of [
      "/",
      "/health",
      "/metrics",
      "/api/stats",
      "/api/keys",
      "/api/query?match=*.cpu",
      "/api/last?match=*.cpu",
      "/api/query",
      "/nowhere",
    ]
  ) {
    const get = await call(base, path, { headers });
    const head = await call(base, path, { method: "HEAD", headers });
    equal(head.status, get.status, path);
    equal(
      head.headers.get("content-type"),
      get.headers.get("content-type"),
      path,
    );
    equal(head.text, "", path);
  }
  const unauthorized = await call(base, "/api/keys", { method: "HEAD" });
  equal(unauthorized.status, 401);
});

Deno.test("`serveHttp()` reads from and to as the command line does", async (t) => {
  const store = new Store();
  const now = Math.floor(Date.now() / 1000);
  for (const ago of [7200, 1800, 60]) store.put("palm.cpu", ago, now - ago);
  store.put("palm.cpu", 1, 1501864247);
  const { server, base } = start({ store });
  await using _ = server;
  const points = async (range: string) => {
    const body = await callJson(base, `/api/query?match=palm.cpu&${range}`);
    return body.series[0].points.map(([, value]: Point) => value);
  };
  await t.step("a duration before now, and now", async () => {
    deepEqual(await points("from=-1h&to=now"), [1800, 60]);
    deepEqual(await points("from=-2h&to=-1h"), [7200]);
  });
  await t.step("ISO 8601 dates and date-times", async () => {
    deepEqual(
      await points("from=2017-08-04&to=2017-08-04T16:30:47Z"),
      [1],
    );
    deepEqual(await points("from=2017-08-04T16:30:48Z&to=2017-08-05"), []);
  });
  await t.step("Unix seconds", async () => {
    deepEqual(await points("from=1501864247&to=1501864247"), [1]);
  });
  await t.step("400 when from is after to, in any form", async () => {
    deepEqual(
      await callJson(base, "/api/query?match=palm.cpu&from=now&to=-1h", 400),
      { error: `invalid range: from ${now} is after to ${now - 3600}` },
    );
  });
});

Deno.test("`serveHttp()` answers 503 past maxConnections, and counts it", async () => {
  const { server, base } = start({ maxConnections: 2 });
  await using _ = server;
  await using first = await RawConnection.connect(server.addr.port);
  await using second = await RawConnection.connect(server.addr.port);
  // Both are served (they wait for a head), and take the two places.
  await first.send(`GET /health HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
  await second.send(`GET /health HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
  assert(await first.readMore() && await second.readMore());
  await using third = await RawConnection.connect(server.addr.port);
  const refused = new TextDecoder().decode(await third.readToEnd());
  assert(refused.startsWith("HTTP/1.1 503 Service Unavailable\r\n"), refused);
  assert(refused.includes("\r\nconnection: close\r\n"), refused);
  assert(refused.includes("\r\nretry-after: 1\r\n"), refused);
  assert(refused.endsWith('too many connections: try again shortly"}'));
  first.close();
  second.close();
  // Once a place is free, a client is served again.
  const stats = await within(
    (async () => {
      while (true) {
        const response = await fetch(`${base}/api/stats`).catch(() => null);
        if (response?.status === 200) return await response.json();
        await response?.body?.cancel();
        await delay(20);
      }
    })(),
    "a place to free up",
  );
  equal(stats.http_connections_refused >= 1, true);
  equal(stats.http_connections_total >= 3, true);
});

Deno.test("`serveHttp()` closes a connection whose head comes too slowly", async () => {
  const { server } = start({ headersTimeout: 200, idleTimeout: 200 });
  await using _ = server;
  await using slow = await RawConnection.connect(server.addr.port);
  await slow.send(`GET /health HTTP/1.1\r\nhost: ${HOST}\r\n`);
  const answer = new TextDecoder().decode(await slow.readToEnd());
  assert(answer.startsWith("HTTP/1.1 408 "), answer);
  await using idle = await RawConnection.connect(server.addr.port);
  await idle.send(`GET /health HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
  const served = new TextDecoder().decode(await idle.readToEnd());
  assert(served.startsWith("HTTP/1.1 200 "), served);
});

Deno.test("`serveHttp()` shuts down: idle connections close, the one under way is answered", async () => {
  const { server } = start();
  const idle = await RawConnection.connect(server.addr.port);
  await idle.send(`GET /health HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
  assert(await idle.readMore());
  await server.shutdown();
  await server.finished;
  // Its next read sees the end.
  equal(await idle.readMore(), false);
  idle.close();
  await rejects(fetch(`http://${HOST}:${server.addr.port}/health`), TypeError);
});

Deno.test("`serveHttp()` gives every figure one name, and says what it means", async () => {
  await using tcp = serve({ hostname: HOST, port: 0 });
  const { server, base } = start({ stats: () => tcp.stats() });
  await using _ = server;
  await exchange(tcp.addr.port, "put palm.cpu 1 1\nping\n", 2);
  const stats = await callJson(base, "/api/stats");
  const families = parseExposition((await call(base, "/metrics")).text);
  const names = Object.keys(stats);
  assert(names.includes("memory_rss_bytes"));
  assert(!names.includes("resident_memory_bytes"));
  assert(!families.has("process_resident_memory_bytes"));
  assert(families.get("pulse_memory_rss_bytes")!.samples.get("")! > 1 << 20);
  // Each figure is one family; commands by kind share one.
  const own = [
    "pulse_commands_total",
    "pulse_http_requests_total",
    "pulse_build_info",
  ];
  equal(
    families.size - own.length,
    names.filter((name) => !name.startsWith("commands_")).length,
  );
  for (const [name, family] of families) {
    assert(
      !/^The server's \S+ figure/.test(family.help),
      `${name}: ${family.help}`,
    );
  }
});

Deno.test("`serveHttp()` serves Graphite's read API behind its token", async (t) => {
  const store = new Store();
  store.put("palm.cpu", 1.5, 1_000);
  store.put("palm.cpu", 2.5, 1_010);
  const { server, base } = start({ store, token: "s3cret" });
  await using _ = server;
  const bearer = { headers: { authorization: "Bearer s3cret" } };
  await t.step("Grafana's health check", async () => {
    const answer = await call(
      base,
      "/render?target=constantLine(100)&from=-5min&until=now&format=json&maxDataPoints=300",
      bearer,
    );
    equal(answer.status, 200, answer.text);
    // graphite-web names the series by its value.
    equal(JSON.parse(answer.text)[0].target, "100");
  });
  await t.step("a render and a find, by GET and POST", async () => {
    const render = await call(
      base,
      "/render?target=palm.cpu&from=990&until=1010&format=json",
      bearer,
    );
    equal(render.status, 200, render.text);
    deepEqual(JSON.parse(render.text)[0].datapoints, [[1.5, 1000], [
      2.5,
      1010,
    ]]);
    const find = await call(base, "/metrics/find", {
      method: "POST",
      headers: {
        ...bearer.headers,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "query=palm.*",
    });
    equal(find.status, 200, find.text);
    deepEqual(JSON.parse(find.text).map((node: { id: string }) => node.id), [
      "palm.cpu",
    ]);
  });
  await t.step("refused without the token", async () => {
    equal((await call(base, "/render?target=palm.cpu")).status, 401);
  });
});

Deno.test("server.ts --max-render-points refuses a render past it", async () => {
  await using server = await ServerProcess.start([
    "--port=0",
    "--memory",
    "--http=127.0.0.1:0",
    "--max-render-points=5",
  ]);
  const [, port] = await server.waitForStderr(
    /http listening on http:\/\/127\.0\.0\.1:(\d+)/,
  );
  await exchange(
    server.port,
    Array.from({ length: 10 }, (_, i) => `put a.b ${i} ${1000 + i}\n`).join(""),
    10,
  );
  const answer = await call(
    `http://127.0.0.1:${port}`,
    "/render?target=a.b&from=990&until=1020&format=json",
  );
  equal(answer.status, 400, answer.text);
  assert(/more than the 5 allowed/.test(answer.text), answer.text);
});
