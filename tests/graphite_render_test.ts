import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import {
  graphiteRoutes,
  type GraphiteRoutesOptions,
} from "../graphite/render/routes.ts";
import { parseTarget } from "../graphite/render/parser.ts";
import { compareNames, sortPaced } from "../graphite/render/_sort.ts";
import { parseAtTime, parseInterval } from "../graphite/render/time.ts";
import { LocalStorage } from "../storage/local.ts";
import type {
  Querier,
  RowCursor,
  SeriesInfo,
  Storage,
} from "../storage/storage.ts";
import type { Pattern } from "../store/pattern.ts";
import type { QueryOptions } from "../store/query.ts";
import { HOST, rng } from "./_helpers.ts";

// Every expected answer below was worked out by hand from graphite-web's
// documented semantics (its functions' docs and render API docs) and the
// way whisper places values: a series read from `from` to `until` at step s
// starts at the first multiple of s after `from` and ends after the multiple
// at or before `until` (whisper's `__archive_fetch`); a step without a
// sample is null. The raw format prints `name,start,end,step|values`.

/** The samples every test reads: key, then [timestamp, value] pairs. */
const SAMPLES: Record<string, [number, number][]> = {
  // Steps of 10 s from 1010 to 1050; a.x has no sample at 1030.
  "a.x": [[1010, 1], [1020, 2], [1040, 4], [1050, 5]],
  "a.y": [[1010, 10], [1020, 20], [1030, 30], [1040, 40], [1050, 50]],
  // Its smallest step is 10 s (1040 to 1050): nulls at 1010 and 1030.
  "b.x": [[1020, 3], [1040, 7], [1050, -6]],
  // A step of 20 s.
  "c.slow": [[1020, 4], [1040, 8]],
  "d.counter": [[1010, 1], [1020, 3], [1030, 7], [1040, 2], [1050, 5]],
  "e.gaps": [[1010, 1], [1040, 4], [1050, 5]],
  "f.tail": [[1010, 1], [1020, 2]],
};

function fill(storage: LocalStorage): void {
  const appender = storage.appender();
  for (const [key, samples] of Object.entries(SAMPLES)) {
    for (const [timestamp, value] of samples) {
      appender.append(key, value, timestamp);
    }
  }
  appender.commit();
}

/** A storage that counts the samples read through its querier. */
class CountingStorage implements Storage {
  readonly backend = "counting";
  readonly counted = { reads: 0 };
  readonly querier: Querier;
  #inner: LocalStorage;

  constructor(inner: LocalStorage) {
    this.#inner = inner;
    const counted = this.counted;
    this.querier = {
      get: (key: string) => inner.querier.get(key),
      series: (pattern?: Pattern) => inner.querier.series(pattern),
      read(series: Iterable<SeriesInfo>, options?: QueryOptions): RowCursor {
        const cursor = inner.querier.read(series, options);
        return {
          read: (sink, limit) =>
            cursor.read((key, value, timestamp) => {
              counted.reads++;
              sink(key, value, timestamp);
            }, limit),
          close: () => cursor.close(),
        };
      },
    };
  }

  appender() {
    return this.#inner.appender();
  }
  stats() {
    return this.#inner.stats();
  }
  close() {
    return this.#inner.close();
  }
  [Symbol.asyncDispose]() {
    return this.#inner.close();
  }
}

/** Serves the routes on a free port, as the HTTP server would mount them. */
function serveGraphite(storage: Storage, options: GraphiteRoutesOptions = {}) {
  const routes = graphiteRoutes(storage, { now: () => 2000, ...options });
  const server = Deno.serve(
    { hostname: HOST, port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      return Object.hasOwn(routes, path)
        ? routes[path](request)
        : new Response("no such route", { status: 404 });
    },
  );
  return { server, base: `http://${HOST}:${server.addr.port}` };
}

async function get(base: string, path: string, init?: RequestInit) {
  const response = await fetch(base + path, init);
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    text: await response.text(),
  };
}

/** The raw answer of targets from 1000 to 1050, one line per series. */
async function raw(
  base: string,
  targets: string[],
  range = "from=1000&until=1050",
): Promise<string[]> {
  const query = targets.map((t) => `target=${encodeURIComponent(t)}`)
    .join("&");
  const answer = await get(base, `/render?${query}&${range}&format=raw`);
  equal(answer.status, 200, answer.text);
  return answer.text.split("\n").slice(0, -1);
}

function fixture() {
  const storage = new LocalStorage();
  fill(storage);
  return storage;
}

Deno.test("`parseTarget()` reads calls, arguments, paths and pipes", async (t) => {
  await t.step("nested calls with every kind of argument", () => {
    deepEqual(
      parseTarget(
        `f(a.b*.{c,d}, -1, 2.5, 1e3, "x\\1", 'y', true, None, inf, k=g(z))`,
      ),
      {
        type: "call",
        name: "f",
        position: 0,
        args: [
          { type: "path", path: "a.b*.{c,d}", position: 2 },
          { type: "number", value: -1, integer: true, position: 14 },
          { type: "number", value: 2.5, integer: false, position: 18 },
          { type: "number", value: 1000, integer: false, position: 23 },
          { type: "string", value: "x\\1", position: 28 },
          { type: "string", value: "y", position: 35 },
          { type: "boolean", value: true, position: 40 },
          { type: "none", value: null, position: 46 },
          { type: "number", value: Infinity, integer: false, position: 52 },
        ],
        kwargs: [{
          name: "k",
          value: {
            type: "call",
            name: "g",
            position: 59,
            args: [{ type: "path", path: "z", position: 61 }],
            kwargs: [],
          },
        }],
      },
    );
  });
  await t.step("a pipe passes what precedes it as the first argument", () => {
    const withoutPositions = (target: string) =>
      JSON.stringify(
        parseTarget(target),
        (key, value) => key === "position" ? undefined : value,
      );
    equal(
      withoutPositions("a.b | scale(2) |alias('x')"),
      withoutPositions("alias(scale(a.b, 2), 'x')"),
    );
  });
  await t.step("a backslash keeps a symbol in a path", () => {
    equal((parseTarget("a\\(b.c") as { path: string }).path, "a(b.c");
  });
  await t.step("errors say where", () => {
    for (
      const [target, message] of [
        ["sum(a.b", "position 7: a ) is missing"],
        ["sum(a.b,)", "position 8: an argument is missing"],
        ["a..b", "position 2: an empty path segment"],
        ['alias(a, "x)', 'position 9: the string has no closing "'],
        [
          "f(k=1, a.b)",
          "position 7: a positional argument follows a named one",
        ],
        ["a.b c", 'position 4: unexpected "c"'],
        ["a.{b", "position 0: a { without }"],
        [
          `${"f(".repeat(65)}a${")".repeat(65)}`,
          "calls nest more than 64 deep",
        ],
      ]
    ) {
      throws(() => parseTarget(target), (error: Error) => {
        assert(error instanceof SyntaxError, target);
        assert(error.message.includes(message), `${target}: ${error.message}`);
        return true;
      });
    }
  });
});

Deno.test("`parseAtTime()` reads Graphite's time forms", async (t) => {
  const now = 1501864247; // 2017-08-04 16:30:47 UTC, a Friday
  await t.step("Unix seconds, now and offsets", () => {
    equal(parseAtTime("1501864247", now), 1501864247);
    equal(parseAtTime("now", now), now);
    equal(parseAtTime("-1h", now), now - 3600);
    equal(parseAtTime("-2d", now), now - 2 * 86400);
    equal(parseAtTime("-5min", now), now - 300);
    equal(parseAtTime("now-1w2d", now), now - 9 * 86400);
    equal(parseAtTime("+30s", now), now + 30);
    equal(parseAtTime("-1mon", now), now - 30 * 86400);
    equal(parseAtTime("-1y", now), now - 365 * 86400);
  });
  await t.step("absolute times, in UTC unless a zone is named", () => {
    equal(parseAtTime("16:00_20170804", now), 1501862400);
    equal(parseAtTime("20170804", now), 1501804800);
    equal(parseAtTime("noon yesterday", now), 1501761600);
    equal(parseAtTime("midnight", now), 1501804800);
    equal(parseAtTime("6pm", now), 1501869600);
    equal(parseAtTime("08/04/17", now), 1501804800);
    equal(parseAtTime("aug4", now), 1501804800);
    equal(parseAtTime("monday", now), 1501459200);
    equal(parseAtTime("midnight+1h", now), 1501808400);
    equal(parseAtTime("16:00_20170804", now, "Europe/Paris"), 1501855200);
  });
  await t.step("intervals", () => {
    equal(parseInterval("5min"), 300);
    equal(parseInterval("1hour"), 3600);
    equal(parseInterval("-7d"), -7 * 86400);
  });
  await t.step("what is not a time is refused", () => {
    for (
      const text of ["-1m", "yesterday2", "13:99", "20170231", "-", "soon"]
    ) {
      throws(() => parseAtTime(text, now), RangeError, text);
    }
  });
});

Deno.test("`graphiteRoutes()` prints json, csv and raw as graphite-web does", async (t) => {
  await using storage = fixture();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  const render = (query: string) =>
    get(base, `/render?${query}&from=1000&until=1050`);

  await t.step("json: Python's json.dumps, null for a null", async () => {
    const answer = await render("target=b.x&format=json");
    equal(answer.type, "application/json");
    equal(
      answer.text,
      '[{"target": "b.x", "tags": {"name": "b.x"}, "datapoints": [[null, 1010], [3.0, 1020], [null, 1030], [7.0, 1040], [-6.0, 1050]]}]',
    );
  });
  await t.step("json: names escaped to ASCII, and noNullPoints", async () => {
    const answer = await render(
      `target=${
        encodeURIComponent('alias(b.x,"é\\"")')
      }&format=json&noNullPoints`,
    );
    equal(
      answer.text,
      '[{"target": "\\u00e9\\\\\\"", "tags": {"name": "b.x"}, "datapoints": [[3.0, 1020], [7.0, 1040], [-6.0, 1050]]}]',
    );
  });
  await t.step("csv: a row per value, a null as an empty field", async () => {
    const answer = await render(
      `target=b.x&target=${
        encodeURIComponent('alias(c.slow,"x,y")')
      }&format=csv`,
    );
    equal(answer.type, "text/csv");
    equal(
      answer.text,
      "b.x,1970-01-01 00:16:50,\r\n" +
        "b.x,1970-01-01 00:17:00,3.0\r\n" +
        "b.x,1970-01-01 00:17:10,\r\n" +
        "b.x,1970-01-01 00:17:20,7.0\r\n" +
        "b.x,1970-01-01 00:17:30,-6.0\r\n" +
        '"x,y",1970-01-01 00:17:00,4.0\r\n' +
        '"x,y",1970-01-01 00:17:20,8.0\r\n',
    );
  });
  await t.step("csv: times in the request's time zone", async () => {
    const answer = await render("target=c.slow&format=csv&tz=Asia/Kolkata");
    equal(
      answer.text,
      "c.slow,1970-01-01 05:47:00,4.0\r\nc.slow,1970-01-01 05:47:20,8.0\r\n",
    );
  });
  await t.step("raw: name,start,end,step|values, None for a null", async () => {
    const answer = await render("target=b.x&target=scale(a.y,1e15)&format=raw");
    equal(answer.type, "text/plain");
    equal(
      answer.text,
      "b.x,1010,1060,10|None,3.0,None,7.0,-6.0\n" +
        "scale(a.y,1e+15),1010,1060,10|1e+16,2e+16,3e+16,4e+16,5e+16\n",
    );
  });
  await t.step("json without targets is an empty list", async () => {
    equal((await render("format=json")).text, "[]");
  });
});

Deno.test("`graphiteRoutes()` places values at the series' natural step", async (t) => {
  await using storage = fixture();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  await t.step(
    "from is exclusive and until inclusive, aligned to the step",
    async () => {
      deepEqual(await raw(base, ["a.y"], "from=1005&until=1047"), [
        "a.y,1010,1050,10|10.0,20.0,30.0,40.0",
      ]);
      deepEqual(await raw(base, ["a.y"], "from=1010&until=1050"), [
        "a.y,1020,1060,10|20.0,30.0,40.0,50.0",
      ]);
    },
  );
  await t.step("the smallest step between samples; gaps are null", async () => {
    deepEqual(await raw(base, ["b.x", "c.slow"]), [
      "b.x,1010,1060,10|None,3.0,None,7.0,-6.0",
      "c.slow,1020,1060,20|4.0,8.0",
    ]);
  });
  await t.step(
    "one sample: the series' average step over all its samples",
    async () => {
      deepEqual(await raw(base, ["c.slow"], "from=1030&until=1050"), [
        "c.slow,1040,1060,20|8.0",
      ]);
    },
  );
  await t.step("Graphite's time forms in from and until", async () => {
    // now is 2000 in these tests: -990s is 1010, -950s is 1050.
    deepEqual(await raw(base, ["a.y"], "from=-1000s&until=-950s"), [
      "a.y,1010,1060,10|10.0,20.0,30.0,40.0,50.0",
    ]);
    // 00:16 is 960, and -960s is 1040.
    deepEqual(await raw(base, ["a.y"], "from=00:16_19700101&until=-960s"), [
      "a.y,970,1050,10|None,None,None,None,10.0,20.0,30.0,40.0",
    ]);
    // from after until: they are swapped, as graphite-web does.
    deepEqual(await raw(base, ["a.y"], "from=1050&until=1000"), [
      "a.y,1010,1060,10|10.0,20.0,30.0,40.0,50.0",
    ]);
  });
  await t.step(
    "series sorted by name; a pattern matching nothing gives none",
    async () => {
      deepEqual(
        (await raw(base, ["{f,e,d}.*", "nothing.*"])).map((l) =>
          l.split(",")[0]
        ),
        ["d.counter", "e.gaps", "f.tail"],
      );
    },
  );
});

Deno.test("`graphiteRoutes()` renders every function as graphite-web does", async (t) => {
  await using storage = fixture();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  // Each case: targets, then the raw lines graphite-web prints for them.
  const cases: [string, string[], string[], string?][] = [
    ["alias", ['alias(a.x, "renamed")'], [
      "renamed,1010,1060,10|1.0,2.0,None,4.0,5.0",
    ]],
    ["aliasByNode: nodes, negative nodes, and the first path of a call", [
      "aliasByNode(a.*, 1)",
      "aliasByNode(scale(a.x, 2), 0, -1)",
    ], [
      "x,1010,1060,10|1.0,2.0,None,4.0,5.0",
      "y,1010,1060,10|10.0,20.0,30.0,40.0,50.0",
      "a.x,1010,1060,10|2.0,4.0,None,8.0,10.0",
    ]],
    ["aliasSub with a group", ['aliasSub(a.*, "^a\\.(\\w+)$", "\\1 of a")'], [
      "x of a,1010,1060,10|1.0,2.0,None,4.0,5.0",
      "y of a,1010,1060,10|10.0,20.0,30.0,40.0,50.0",
    ]],
    ["constantLine: three points from from to until", ["constantLine(1.5)"], [
      "1.5,1000,1050,25|1.5,1.5,1.5",
    ]],
    ["sumSeries: nulls skipped, all-null steps null", [
      "sumSeries(a.x, b.x)",
      "sum(a.*)",
    ], [
      "sumSeries(a.x,b.x),1010,1060,10|1.0,5.0,None,11.0,-1.0",
      "sumSeries(a.*),1010,1060,10|11.0,22.0,30.0,44.0,55.0",
    ]],
    ["sumSeries of steps 10 and 20: both at 20, values averaged", [
      "sumSeries(a.y, c.slow)",
    ], [
      // a.y averaged in pairs from its start: 15, 35, 50; c.slow: 4, 8.
      "sumSeries(a.y,c.slow),1010,1050,20|19.0,43.0,50.0",
    ]],
    ["averageSeries, maxSeries, minSeries", [
      "averageSeries(a.x, b.x)",
      "maxSeries(a.x, b.x)",
      "minSeries(a.x, b.x)",
    ], [
      "averageSeries(a.x,b.x),1010,1060,10|1.0,2.5,None,5.5,-0.5",
      "maxSeries(a.x,b.x),1010,1060,10|1.0,3.0,None,7.0,5.0",
      "minSeries(a.x,b.x),1010,1060,10|1.0,2.0,None,4.0,-6.0",
    ]],
    ["group", ["group(b.x, c.slow)"], [
      "b.x,1010,1060,10|None,3.0,None,7.0,-6.0",
      "c.slow,1020,1060,20|4.0,8.0",
    ]],
    ["groupByNode: groups in the order met, named by the node", [
      'groupByNode({a,b,c}.*, 1, "max")',
      "groupByNode(*.x, 1, 'sumSeries')",
    ], [
      "x,1010,1060,10|1.0,3.0,None,7.0,5.0",
      "y,1010,1060,10|10.0,20.0,30.0,40.0,50.0",
      "slow,1020,1060,20|4.0,8.0",
      "x,1010,1060,10|1.0,5.0,None,11.0,-1.0",
    ]],
    ["scale, offset, absolute", [
      "scale(a.x, 2)",
      "offset(b.x, 0.5)",
      "absolute(b.x)",
    ], [
      "scale(a.x,2),1010,1060,10|2.0,4.0,None,8.0,10.0",
      "offset(b.x,0.5),1010,1060,10|None,3.5,None,7.5,-5.5",
      "absolute(b.x),1010,1060,10|None,3.0,None,7.0,6.0",
    ]],
    ["asPercent of a series, a number, and the list's sum", [
      "asPercent(a.x, a.y)",
      "asPercent(a.x, 200)",
      "asPercent(a.x)",
    ], [
      "asPercent(a.x,a.y),1010,1060,10|10.0,10.0,None,10.0,10.0",
      "asPercent(a.x,200),1010,1060,10|0.5,1.0,None,2.0,2.5",
      "asPercent(a.x,sumSeries(a.x)),1010,1060,10|100.0,100.0,None,100.0,100.0",
    ]],
    ["asPercent by nodes: a series without its total is MISSING", [
      "asPercent({a,b}.x, group(a.y, c.slow), 0)",
    ], [
      "asPercent(a.x,a.y),1010,1060,10|10.0,10.0,None,10.0,10.0",
      "asPercent(b.x,MISSING),1010,1060,10|None,None,None,None,None",
      "asPercent(MISSING,c.slow),1020,1060,20|None,None",
    ], "from=1000&until=1050"],
    ["divideSeries: a null or zero divisor gives null", [
      "divideSeries(a.y, a.x)",
      "divideSeries(a.x, b.x)",
      "divideSeries(a.x, nothing.*)",
    ], [
      "divideSeries(a.y,a.x),1010,1060,10|10.0,10.0,None,10.0,10.0",
      "divideSeries(a.x,b.x),1010,1060,10|None,0.6666666666666666,None,0.5714285714285714,-0.8333333333333334",
      "divideSeries(a.x,MISSING),1010,1060,10|None,None,None,None,None",
    ]],
    ["timeShift: read earlier, drawn at the range's start", [
      'timeShift(a.y, "10s")',
      'timeShift(a.y, "+10s")',
    ], [
      'timeShift(a.y, "-10s"),1010,1060,10|None,10.0,20.0,30.0,40.0',
      'timeShift(a.y, "+10s"),1010,1060,10|20.0,30.0,40.0,50.0,None',
    ]],
    ["derivative: after a null, null", ["derivative(a.x)"], [
      "derivative(a.x),1010,1060,10|None,1.0,None,None,1.0",
    ]],
    ["nonNegativeDerivative: a decrease is null, or a wrap", [
      "nonNegativeDerivative(d.counter)",
      "nonNegativeDerivative(d.counter, 10)",
      "nonNegativeDerivative(d.counter, minValue=1)",
      "nonNegativeDerivative(d.counter, 6)",
    ], [
      "nonNegativeDerivative(d.counter),1010,1060,10|None,2.0,4.0,None,3.0",
      // Past 7: 10 + 1 + 2 - 7.
      "nonNegativeDerivative(d.counter),1010,1060,10|None,2.0,4.0,6.0,3.0",
      "nonNegativeDerivative(d.counter),1010,1060,10|None,2.0,4.0,1.0,3.0",
      // 7 is past maxValue 6: null, and 2 has no previous value.
      "nonNegativeDerivative(d.counter),1010,1060,10|None,2.0,None,None,3.0",
    ]],
    ["perSecond: the increase over the step", ["perSecond(d.counter)"], [
      "perSecond(d.counter),1010,1060,10|None,0.2,0.4,None,0.3",
    ]],
    ["integral: a null adds nothing and stays null", ["integral(a.x)"], [
      "integral(a.x),1010,1060,10|1.0,3.0,None,7.0,12.0",
    ]],
    ["summarize: buckets aligned to the interval, or to from", [
      'summarize(a.y, "20s")',
      'summarize(a.y, "20s", "avg")',
      'summarize(a.y, "20s", "sum", true)',
    ], [
      'summarize(a.y, "20s", "sum"),1000,1080,20|10.0,50.0,90.0,None',
      'summarize(a.y, "20s", "avg"),1000,1080,20|10.0,25.0,45.0,None',
      'summarize(a.y, "20s", "sum", true),1010,1070,20|30.0,70.0,50.0',
    ]],
    ["movingAverage: the window before each point, read from earlier", [
      "movingAverage(a.x, 2)",
      'movingAverage(a.x, "20s")',
      "movingAverage(a.x, 2, 1)",
    ], [
      "movingAverage(a.x,2),1030,1060,10|1.5,2.0,4.0",
      'movingAverage(a.x,"20s"),1030,1060,10|1.5,2.0,4.0',
      "movingAverage(a.x,2),1030,1060,10|1.5,None,None",
    ], "from=1020&until=1050"],
    ["keepLastValue: runs up to the limit, trailing ones too", [
      "keepLastValue(e.gaps)",
      "keepLastValue(e.gaps, 1)",
      "keepLastValue(f.tail)",
      "keepLastValue(f.tail, 2)",
    ], [
      "keepLastValue(e.gaps),1010,1060,10|1.0,1.0,1.0,4.0,5.0",
      "keepLastValue(e.gaps),1010,1060,10|1.0,None,None,4.0,5.0",
      "keepLastValue(f.tail),1010,1060,10|1.0,2.0,2.0,2.0,2.0",
      "keepLastValue(f.tail),1010,1060,10|1.0,2.0,None,None,None",
    ]],
    ["transformNull: an int default prints as an int", [
      "transformNull(b.x)",
      "transformNull(b.x, -1.5)",
      "transformNull(b.x, 0, a.x)",
    ], [
      "transformNull(b.x,0),1010,1060,10|0,3.0,0,7.0,-6.0",
      "transformNull(b.x,-1.5),1010,1060,10|-1.5,3.0,-1.5,7.0,-6.0",
      "transformNull(b.x,0,referenceSeries),1010,1060,10|0,3.0,None,7.0,-6.0",
    ]],
    ["highestAverage, highestMax, lowestAverage", [
      "highestAverage({a,b}.x, 1)",
      "highestMax(group(a.x, b.x, c.slow), 2)",
      "lowestAverage({a,b}.x, 1)",
    ], [
      "a.x,1010,1060,10|1.0,2.0,None,4.0,5.0",
      "c.slow,1020,1060,20|4.0,8.0",
      "b.x,1010,1060,10|None,3.0,None,7.0,-6.0",
      "b.x,1010,1060,10|None,3.0,None,7.0,-6.0",
    ]],
    ["limit, sortByMaxima", ["limit(a.*, 1)", "sortByMaxima({a,b}.x)"], [
      "a.x,1010,1060,10|1.0,2.0,None,4.0,5.0",
      "b.x,1010,1060,10|None,3.0,None,7.0,-6.0",
      "a.x,1010,1060,10|1.0,2.0,None,4.0,5.0",
    ]],
    ["consolidateBy: only the name changes here", [
      'consolidateBy(a.x, "sum")',
    ], [
      'consolidateBy(a.x,"sum"),1010,1060,10|1.0,2.0,None,4.0,5.0',
    ]],
    ["calls nest, and pipes chain", [
      'alias(scale(sumSeries(a.x, b.x), 2), "twice")',
      "a.x|offset(1)|scale(10)",
    ], [
      "twice,1010,1060,10|2.0,10.0,None,22.0,-2.0",
      "scale(offset(a.x,1),10),1010,1060,10|20.0,30.0,None,50.0,60.0",
    ]],
  ];
  for (const [name, targets, expected, range] of cases) {
    await t.step(name, async () => {
      deepEqual(await raw(base, targets, range), expected);
    });
  }
});

Deno.test("`graphiteRoutes()` tags series as graphite-web does", async () => {
  await using storage = fixture();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  const answer = await get(
    base,
    `/render?target=sumSeries(a.*)&target=scale(a.x,2)&target=${
      encodeURIComponent('aliasSub(sumSeries(a.x),"x","z")')
    }&from=1040&until=1050&format=json`,
  );
  deepEqual(JSON.parse(answer.text).map((s: { tags: unknown }) => s.tags), [
    { name: "sumSeries(a.*)", aggregatedBy: "sum" },
    { name: "a.x", scale: "2" },
    { name: "a.x", aggregatedBy: "sum" },
  ]);
});

Deno.test("`graphiteRoutes()` consolidates to maxDataPoints by consolidateBy's function", async (t) => {
  await using storage = fixture();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  const points = async (target: string, max: number) => {
    const answer = await get(
      base,
      `/render?target=${
        encodeURIComponent(target)
      }&from=1000&until=1050&format=json&maxDataPoints=${max}`,
    );
    equal(answer.status, 200, answer.text);
    return JSON.parse(answer.text)[0].datapoints;
  };
  // Five values over 50 s, at most two points: three values a point, each
  // point at a multiple of 30 s from 1020; 10 at 1010 precedes the first.
  await t.step(
    "read rolled up by the store, or consolidated after",
    async () => {
      deepEqual(await points("a.y", 2), [[30.0, 1020], [50.0, 1050]]);
      deepEqual(await points("sumSeries(a.y)", 2), [[30.0, 1020], [
        50.0,
        1050,
      ]]);
      deepEqual(await points('alias(a.y,"n")', 2), [[30.0, 1020], [
        50.0,
        1050,
      ]]);
    },
  );
  await t.step("by the function consolidateBy names", async () => {
    deepEqual(await points('consolidateBy(a.y,"max")', 2), [[40.0, 1020], [
      50.0,
      1050,
    ]]);
    deepEqual(await points('consolidateBy(a.y,"sum")', 2), [[90.0, 1020], [
      50.0,
      1050,
    ]]);
    deepEqual(await points('consolidateBy(a.y,"first")', 2), [[20.0, 1020], [
      50.0,
      1050,
    ]]);
    deepEqual(await points('consolidateBy(a.y,"last")', 2), [[40.0, 1020], [
      50.0,
      1050,
    ]]);
    // Nulls count as zeros: (2 + 0 + 4) / 3.
    deepEqual(await points('consolidateBy(a.x,"avg_zero")', 2), [[
      2.0,
      1020,
    ], [5.0, 1050]]);
    deepEqual(
      await points('alias(consolidateBy(sumSeries(a.y),"min"),"m")', 2),
      [[20.0, 1020], [50.0, 1050]],
    );
  });
  await t.step("nulls are skipped; a point of nulls only is null", async () => {
    deepEqual(await points("f.tail", 2), [[2.0, 1020], [null, 1050]]);
  });
  await t.step("a series read rolled up takes its average step", async () => {
    // e.gaps: 3 samples over 40 s, so 20 s; 50 s / 20 s over two points
    // is 2 steps a point, 40 s: one point from 1040, the first multiple of
    // 40 after from.
    deepEqual(await points("e.gaps", 2), [[4.5, 1040]]);
  });
  await t.step("one point: every value", async () => {
    deepEqual(await points("a.y", 1), [[30.0, 1010]]);
  });
  await t.step("as many points as values or more: unchanged", async () => {
    deepEqual(await points("a.y", 5), [
      [10.0, 1010],
      [20.0, 1020],
      [30.0, 1030],
      [40.0, 1040],
      [50.0, 1050],
    ]);
  });
});

Deno.test("`graphiteRoutes()` refuses a request over maxRenderPoints before it reads", async (t) => {
  await using inner = fixture();
  const storage = new CountingStorage(inner);
  // a.x has 4 samples in range, a.y 5.
  const { server, base } = serveGraphite(storage, { maxRenderPoints: 9 });
  await using _ = server;
  await t.step("at the limit: answered", async () => {
    const answer = await get(
      base,
      "/render?target=a.*&from=1000&until=1050&format=raw",
    );
    equal(answer.status, 200, answer.text);
    equal(storage.counted.reads, 9);
  });
  await t.step("past it: 400, and nothing read", async () => {
    storage.counted.reads = 0;
    const answer = await get(
      base,
      "/render?target=a.*&target=sumSeries(b.x)&from=1000&until=1050&format=raw",
    );
    equal(answer.status, 400);
    equal(answer.type, "text/plain; charset=utf-8");
    assert(
      answer.text.startsWith(
        "Cannot render: the request would read about 12 samples, more than the 9 allowed",
      ),
      answer.text,
    );
    equal(storage.counted.reads, 0);
  });
  await t.step(
    "counted over the ranges timeShift and movingAverage read",
    async () => {
      storage.counted.reads = 0;
      const answer = await get(
        base,
        `/render?target=${
          encodeURIComponent('timeShift(a.y,"10s")')
        }&target=a.x&from=1000&until=1050&format=raw`,
      );
      equal(answer.status, 400, answer.text);
      equal(storage.counted.reads, 0);
    },
  );
  await t.step("the values made count too", async () => {
    const { server, base } = serveGraphite(storage, { maxRenderPoints: 10 });
    await using _ = server;
    const answer = await get(
      base,
      `/render?target=${
        encodeURIComponent('summarize(c.slow,"1s")')
      }&from=1000&until=1050&format=raw`,
    );
    equal(answer.status, 400);
    assert(
      answer.text.includes("would make more than 20 values, twice the 10"),
      answer.text,
    );
  });
});

Deno.test("`graphiteRoutes()` answers bad requests with 400 and a reason", async (t) => {
  await using storage = fixture();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  const cases: [string, number, string][] = [
    ["target=nosuch(a.x)", 400, 'unknown function "nosuch"'],
    ["target=sumSeries(a.x, nosuch(b.x))", 400, 'unknown function "nosuch"'],
    ["target=a.x)", 400, "Cannot parse the target at position 3"],
    ["target=scale(a.x)", 400, "Cannot call scale(): factor is missing"],
    [
      "target=scale(a.x, 'x')",
      400,
      'Cannot call scale(): factor must be a number, not "x"',
    ],
    ["target=scale(a.x, 1, 2)", 400, "it takes at most 2 arguments, not 3"],
    ["target=scale(a.x, f=2)", 400, 'no parameter "f"'],
    ["target=summarize(a.x, '1m')", 400, 'invalid unit "m"'],
    [
      "target=consolidateBy(a.x, 'median')",
      400,
      "consolidationFunc must be one of",
    ],
    [
      "target=groupByNode(a.x, 0, 'nosuch')",
      400,
      "callback must be one of average, averageSeries, avg, avg_zero",
    ],
    ["target=divideSeries(a.x, *.x)", 400, "exactly 1 series (got 2)"],
    ["target=aliasSub(a.x, '(?=x)', '')", 400, "lookarounds"],
    ["target=aliasSub(a.x, 'x', '\\9')", 400, "invalid group reference 9"],
    ["target=a.[b", 400, 'Cannot read the path expression "a.[b"'],
    ["target=a.x&from=soon", 400, 'Cannot read the time "soon"'],
    ["target=a.x&from=1000&until=1000", 400, "empty time range"],
    ["target=a.x&format=png", 400, 'Cannot render format "png"'],
    ["target=a.x", 400, 'Cannot render format "png"'],
    ["target=a.x&format=json&maxDataPoints=0", 400, "maxDataPoints"],
    ["target=a.x&format=json&tz=Mars/Olympus", 400, "time zone"],
  ];
  for (const [query, status, message] of cases) {
    await t.step(query, async () => {
      const format = query.includes("format=") ? "" : "&format=raw";
      const extra = query.includes("from=") ? "" : "&from=1000&until=1050";
      const answer = await get(
        base,
        `/render?${query.replaceAll(" ", "%20").replaceAll("'", "%27")}${
          query.endsWith("target=a.x") ? "" : format
        }${extra}`,
      );
      equal(answer.status, status, answer.text);
      assert(answer.text.includes(message), answer.text);
    });
  }
  await t.step("a method other than GET and POST: 405", async () => {
    const answer = await get(base, "/render", { method: "PUT", body: "x" });
    equal(answer.status, 405);
  });
  await t.step("a body that is no form: 415; too large: 413", async () => {
    const json = await get(base, "/render", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"target": "a.x"}',
    });
    equal(json.status, 415);
    const { server, base: small } = serveGraphite(storage, {
      maxBodyBytes: 16,
    });
    await using _ = server;
    const large = await get(small, "/render", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `target=${"a".repeat(64)}`,
    });
    equal(large.status, 413);
  });
});

Deno.test("`graphiteRoutes()` matches aliasSub's patterns in linear time", async (t) => {
  await using storage = new LocalStorage();
  const appender = storage.appender();
  // A name on which a backtracking engine takes 2^40 steps for (a+)+$.
  appender.append(`${"a".repeat(40)}b`, 1, 1010);
  appender.commit();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  await t.step(
    "a pattern that backtracks exponentially elsewhere",
    async () => {
      deepEqual(await raw(base, ['aliasSub(a*b, "(a+)+$", "x")']), [
        `${"a".repeat(40)}b,1020,1080,60|None`,
      ]);
      // The group is its last repetition: all the a's, taken greedily.
      deepEqual(await raw(base, ['aliasSub(a*b, "^(a+)+b$", "\\1!")']), [
        `${"a".repeat(40)}!,1020,1080,60|None`,
      ]);
    },
  );
  await t.step("a pattern too large to compile is refused", async () => {
    const answer = await get(
      base,
      `/render?target=${
        encodeURIComponent(`aliasSub(a*b, "((ab|cd|ef|gh){999})", "")`)
      }&from=1000&until=1050&format=raw`,
    );
    equal(answer.status, 400);
    assert(answer.text.includes("more than 10000 instructions"), answer.text);
  });
});

Deno.test("`graphiteRoutes()` browses names at /metrics/find and /metrics/expand", async (t) => {
  await using storage = new LocalStorage();
  const appender = storage.appender();
  for (
    const key of [
      "web1.cpu",
      "web1.disk.root",
      "web2.cpu",
      "web1.disk",
      "db.load",
    ]
  ) {
    appender.append(key, 1, 1000);
  }
  appender.commit();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  await t.step("the top level: branches first, then leaves", async () => {
    const answer = await get(base, "/metrics/find?query=*", {
      headers: { accept: "application/json" },
    });
    equal(answer.type, "application/json");
    equal(
      answer.text,
      '[{"text": "db", "id": "db", "allowChildren": 1, "expandable": 1, "leaf": 0}, ' +
        '{"text": "web1", "id": "web1", "allowChildren": 1, "expandable": 1, "leaf": 0}, ' +
        '{"text": "web2", "id": "web2", "allowChildren": 1, "expandable": 1, "leaf": 0}]',
    );
  });
  await t.step("deeper: a node both a leaf and a branch is both", async () => {
    deepEqual(
      JSON.parse((await get(base, "/metrics/find?query=web1.*")).text),
      [
        {
          text: "disk",
          id: "web1.disk",
          allowChildren: 1,
          expandable: 1,
          leaf: 1,
        },
        {
          text: "cpu",
          id: "web1.cpu",
          allowChildren: 0,
          expandable: 0,
          leaf: 1,
        },
      ],
    );
  });
  await t.step("one node per name, the id under the query's base", async () => {
    deepEqual(
      JSON.parse((await get(base, "/metrics/find?query=web*.cpu")).text),
      [
        {
          text: "cpu",
          id: "web*.cpu",
          allowChildren: 0,
          expandable: 0,
          leaf: 1,
        },
      ],
    );
    equal((await get(base, "/metrics/find?query=nothing.*")).text, "[]");
  });
  await t.step(
    "wildcards=1 adds a * node; from and until are taken",
    async () => {
      deepEqual(
        JSON.parse(
          (await get(
            base,
            "/metrics/find?query=web*&wildcards=1&from=-6h&until=now",
          )).text,
        )[0],
        { text: "*", id: "*", allowChildren: 1, expandable: 1, leaf: 0 },
      );
    },
  );
  await t.step("format=completer", async () => {
    deepEqual(
      JSON.parse(
        (await get(base, "/metrics/find?query=web1.*&format=completer")).text,
      ),
      {
        metrics: [
          { path: "web1.cpu", name: "cpu", is_leaf: "1" },
          { path: "web1.disk", name: "disk", is_leaf: "1" },
        ],
      },
    );
  });
  await t.step("a form body, as Grafana posts it", async () => {
    const answer = await get(base, "/metrics/find?from=1&until=2", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "query=web{1,2}.cpu",
    });
    deepEqual(JSON.parse(answer.text), [
      {
        text: "cpu",
        id: "web{1,2}.cpu",
        allowChildren: 0,
        expandable: 0,
        leaf: 1,
      },
    ]);
  });
  await t.step(
    "expand: every path, sorted, or by query, or leaves only",
    async () => {
      equal(
        (await get(base, "/metrics/expand?query=*.*&query=db.*")).text,
        '{"results": ["db.load", "web1.cpu", "web1.disk", "web2.cpu"]}',
      );
      equal(
        (await get(base, "/metrics/expand?query=web1.*&query=db&groupByExpr=1"))
          .text,
        '{"results": {"web1.*": ["web1.cpu", "web1.disk"], "db": ["db"]}}',
      );
      equal(
        (await get(base, "/metrics/expand?query=*&leavesOnly=1")).text,
        '{"results": []}',
      );
    },
  );
  await t.step("bad queries: 400", async () => {
    equal((await get(base, "/metrics/find")).status, 400);
    equal((await get(base, "/metrics/find?query=")).status, 400);
    equal((await get(base, "/metrics/find?query=a.{b.c,d}")).status, 400);
    equal((await get(base, "/metrics/find?query=*&from=soon")).status, 400);
    equal((await get(base, "/metrics/expand")).status, 400);
  });
});

Deno.test("`graphiteRoutes()` describes its functions at /functions", async () => {
  await using storage = new LocalStorage();
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  const answer = await get(base, "/functions");
  equal(answer.status, 200);
  const functions = JSON.parse(answer.text);
  const names = [
    "alias",
    "aliasByNode",
    "aliasSub",
    "constantLine",
    "sumSeries",
    "sum",
    "averageSeries",
    "avg",
    "maxSeries",
    "minSeries",
    "group",
    "groupByNode",
    "scale",
    "offset",
    "absolute",
    "asPercent",
    "divideSeries",
    "timeShift",
    "derivative",
    "nonNegativeDerivative",
    "perSecond",
    "integral",
    "summarize",
    "movingAverage",
    "keepLastValue",
    "transformNull",
    "highestAverage",
    "highestMax",
    "lowestAverage",
    "limit",
    "sortByMaxima",
    "consolidateBy",
  ];
  for (const name of names) assert(name in functions, name);
  deepEqual(functions.scale, {
    name: "scale",
    function: "scale(seriesList, factor)",
    description: functions.scale.description,
    module: "graphite.render.functions",
    group: "Transform",
    params: [
      { name: "seriesList", type: "seriesList", required: true },
      { name: "factor", type: "float", required: true },
    ],
  });
  equal(
    functions.keepLastValue.function,
    "keepLastValue(seriesList, limit=inf)",
  );
  equal(functions.keepLastValue.params[1].default, Infinity);
  equal(functions.sumSeries.function, "sumSeries(*seriesLists)");
  const summarize = JSON.parse(
    (await get(base, "/functions?group=Transform")).text,
  );
  assert("summarize" in summarize && !("sumSeries" in summarize));
});

Deno.test("`sortPaced()` sorts stably across its runs, pausing between", async () => {
  const random = rng(3);
  const items = Array.from(
    { length: 20_000 },
    (_, i) => ({ key: `k${Math.floor(random() * 5000)}`, i }),
  );
  let pauses = 0;
  const sorted = await sortPaced(
    items,
    (a, b) => compareNames(a.key, b.key),
    () => {
      pauses++;
      return undefined;
    },
  );
  deepEqual(
    sorted,
    items.toSorted((a, b) => compareNames(a.key, b.key)),
  );
  assert(pauses > 0);
});

Deno.test("`graphiteRoutes()` lets other clients in during a long render", async () => {
  await using storage = new LocalStorage();
  // Two million samples to read and sum: far more work than one turn.
  for (let s = 0; s < 200; s++) {
    for (let i = 0; i < 10_000; i++) storage.store.put(`s${s}.v`, i, 1000 + i);
  }
  const { server, base } = serveGraphite(storage);
  await using _ = server;
  const order: string[] = [];
  const long = get(
    base,
    "/render?target=sumSeries(s*.v)&from=999&until=11000&format=raw",
  ).then((answer) => {
    equal(answer.status, 200);
    order.push("render");
  });
  // Sent once the render has started reading.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const short = get(base, "/version").then((answer) => {
    equal(answer.text, "1.1.10");
    order.push("version");
  });
  await Promise.all([long, short]);
  deepEqual(order, ["version", "render"]);
});
