import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { graphiteRoutes } from "../graphite/render/routes.ts";
import { LocalStorage } from "../storage/local.ts";
import { HOST } from "./_helpers.ts";

// These tests send what Grafana's Graphite data source sends, byte for byte
// (public/app/plugins/datasource/graphite/datasource.ts for the browser,
// pkg/tsdb/graphite for the server side), and read the answers as it does.

// 2023-11-14 22:15:23 UTC: seconds that are not zero, so that Grafana moves
// `from` one second back and `until` one second on, as it does.
const NOW = 1_700_000_123;
const STEP = 10;
const DAY = 86_400;

/** host1.cpu and host2.cpu, a sample every 10 s over the day before NOW. */
function samples(host: number): [number, number][] {
  const out: [number, number][] = [];
  for (let t = NOW - DAY - (NOW % STEP); t <= NOW; t += STEP) {
    out.push([t, host * 100 + ((t / STEP) % 60)]);
  }
  return out;
}

function start() {
  const storage = new LocalStorage();
  const appender = storage.appender();
  for (const host of [1, 2]) {
    for (const [t, value] of samples(host)) {
      appender.append(`host${host}.cpu`, value, t);
    }
  }
  appender.append("host1.disk.root", 1, NOW);
  appender.commit();
  const routes = graphiteRoutes(storage, { now: () => NOW });
  const server = Deno.serve(
    { hostname: HOST, port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      return Object.hasOwn(routes, path)
        ? routes[path](request)
        : new Response("no such route", { status: 404 });
    },
  );
  const base = `http://${HOST}:${server.addr.port}`;
  return {
    base,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await storage.close();
    },
  };
}

/** A form post, as Grafana's backendSrv sends it. */
async function post(url: string, body: string) {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json, text/plain, */*",
    },
    body,
  });
  return { status: response.status, text: await response.text() };
}

/**
 * The refId Grafana reads back from a target wrapped in
 * `aliasSub(<t>, "(^.*$)", "\1 <refId>")`: the name's last word.
 */
function splitRefId(target: string): [string, string] {
  const words = target.split(" ");
  const refId = words.pop()!;
  return [words.join(" "), refId];
}

/**
 * The points a panel expects of a series with `maxDataPoints`: values of
 * 10 s from the first multiple of 10 after `from` to `until`; when more than
 * `max`, averaged in buckets of `ceil(points / max)` steps, each at a
 * multiple of its width, the first after `from`.
 */
function expectedPoints(
  host: number,
  from: number,
  until: number,
  max: number,
): [number, number][] {
  const points = (until - from) / STEP;
  const width = points > max ? Math.ceil(points / max) * STEP : STEP;
  const values = new Map(samples(host));
  const out: [number, number][] = [];
  for (
    let t = Math.floor(from / width) * width + width;
    t <= until;
    t += width
  ) {
    let sum = 0;
    let count = 0;
    for (let s = t; s < t + width && s <= until; s += STEP) {
      if (values.has(s)) {
        sum += values.get(s)!;
        count++;
      }
    }
    out.push([sum / count, t]);
  }
  return out;
}

Deno.test("`graphiteRoutes()` passes Grafana's health check", async (t) => {
  await using graphite = start();
  // Grafana's browser side: constantLine(100) over now-1h, wrapped in
  // aliasSub for refId A, maxDataPoints 300, from and until as epochs.
  const from = NOW - 3600 - 1;
  const until = NOW + 1;
  await t.step("as the browser sends it", async () => {
    const answer = await post(
      `${graphite.base}/render`,
      "target=aliasSub(constantLine(100)%2C%20%22(%5E.*%24)%22%2C%20%22%5C1%20A%22)" +
        `&from=${from}&until=${until}&format=json&maxDataPoints=300`,
    );
    equal(answer.status, 200, answer.text);
    // Three points: from, halfway (1801 s on), until.
    equal(
      answer.text,
      `[{"target": "100 A", "tags": {"name": "100"}, "datapoints": [[100, ${from}], [100, ${
        from + 1801
      }], [100, ${until}]]}]`,
    );
    deepEqual(splitRefId(JSON.parse(answer.text)[0].target), ["100", "A"]);
  });
  await t.step("as Grafana's server sends it", async () => {
    // Go's url.Values.Encode(): keys sorted, parentheses escaped.
    const answer = await post(
      `${graphite.base}/render`,
      `format=json&from=${
        NOW - 3600
      }&maxDataPoints=100&target=constantLine%28100%29&until=${NOW}`,
    );
    equal(answer.status, 200, answer.text);
    equal(
      answer.text,
      `[{"target": "100", "tags": {"name": "100"}, "datapoints": [[100, ${
        NOW - 3600
      }], [100, ${NOW - 1800}], [100, ${NOW}]]}]`,
    );
  });
  await t.step("as Grafana before 8 checked it: finding *", async () => {
    const response = await fetch(`${graphite.base}/metrics/find?query=*`);
    equal(response.status, 200);
    deepEqual(await response.json(), [
      { text: "host1", id: "host1", allowChildren: 1, expandable: 1, leaf: 0 },
      { text: "host2", id: "host2", allowChildren: 1, expandable: 1, leaf: 0 },
    ]);
  });
});

Deno.test("`graphiteRoutes()` draws a Grafana panel wrapped in aliasSub", async (t) => {
  await using graphite = start();
  const wrapped = encodeURIComponent('aliasSub(host*.cpu, "(^.*$)", "\\1 A")');
  for (
    const [name, range, max] of [
      ["the last hour, every point", 3600, 1000],
      ["the last hour in at most 300 points", 3600, 300],
      ["the last day in at most 1000 points", DAY, 1000],
    ] as const
  ) {
    await t.step(name, async () => {
      const from = NOW - range - 1;
      const until = NOW + 1;
      const answer = await post(
        `${graphite.base}/render`,
        `target=${wrapped}&from=${from}&until=${until}&format=json&maxDataPoints=${max}`,
      );
      equal(answer.status, 200, answer.text);
      const series = JSON.parse(answer.text);
      deepEqual(
        series.map((s: { target: string }) => splitRefId(s.target)),
        [["host1.cpu", "A"], ["host2.cpu", "A"]],
      );
      for (const [i, host] of [1, 2].entries()) {
        deepEqual(series[i].tags, { name: `host${host}.cpu` });
        deepEqual(
          series[i].datapoints,
          expectedPoints(host, from, until, max),
        );
        assert(series[i].datapoints.length <= max);
      }
    });
  }
  await t.step("the same panel asked for with GET", async () => {
    const from = NOW - 3600 - 1;
    const response = await fetch(
      `${graphite.base}/render?target=${wrapped}&from=${from}&until=${
        NOW + 1
      }&format=json&maxDataPoints=1000`,
    );
    const series = await response.json();
    deepEqual(series[0].datapoints, expectedPoints(1, from, NOW + 1, 1000));
  });
});

Deno.test("`graphiteRoutes()` lets Grafana browse metrics", async (t) => {
  await using graphite = start();
  const range = `from=${NOW - 6 * 3600 - 1}&until=${NOW + 1}`;
  await t.step("the top level, posted with from and until", async () => {
    const answer = await post(
      `${graphite.base}/metrics/find?${range}`,
      "query=*",
    );
    equal(answer.status, 200, answer.text);
    deepEqual(
      JSON.parse(answer.text).map((
        m: { text: string; expandable: number },
      ) => ({
        text: m.text,
        expandable: Boolean(m.expandable),
      })),
      [{ text: "host1", expandable: true }, {
        text: "host2",
        expandable: true,
      }],
    );
  });
  await t.step("then deeper", async () => {
    const answer = await post(
      `${graphite.base}/metrics/find?${range}`,
      "query=host1.*",
    );
    equal(
      answer.text,
      '[{"text": "disk", "id": "host1.disk", "allowChildren": 1, "expandable": 1, "leaf": 0}, ' +
        '{"text": "cpu", "id": "host1.cpu", "allowChildren": 0, "expandable": 0, "leaf": 1}]',
    );
    const deeper = await post(
      `${graphite.base}/metrics/find?${range}`,
      "query=host1.disk.*",
    );
    deepEqual(JSON.parse(deeper.text).map((m: { id: string }) => m.id), [
      "host1.disk.root",
    ]);
  });
  await t.step("a template variable's expand(host*.cpu)", async () => {
    const response = await fetch(
      `${graphite.base}/metrics/expand?query=host*.cpu&${range}`,
    );
    deepEqual(await response.json(), { results: ["host1.cpu", "host2.cpu"] });
  });
  await t.step("tags and events: none", async () => {
    for (
      const path of [
        "/tags/autoComplete/tags?expr=name%3Dhost1.cpu&limit=10000",
        "/tags/autoComplete/values?expr=name%3Dhost1.cpu&tag=name",
        `/events/get_data?from=-6h&until=now&tags=deploy`,
      ]
    ) {
      const response = await fetch(graphite.base + path);
      equal(response.status, 200, path);
      deepEqual(await response.json(), [], path);
    }
  });
});

Deno.test("`graphiteRoutes()` gives Grafana its function index and version", async (t) => {
  await using graphite = start();
  await t.step("/functions parses as Grafana parses it", async () => {
    const text = await (await fetch(`${graphite.base}/functions`)).text();
    // Grafana mends graphite-web 1.1.7's invalid "default": Infinity first.
    const functions = JSON.parse(
      text.replace(/"default": ?Infinity/g, '"default": 1e9999'),
    );
    for (const [name, f] of Object.entries(functions)) {
      const def = f as { name: string; group: string; params: unknown[] };
      equal(def.name, name);
      assert(typeof def.group === "string" && Array.isArray(def.params), name);
    }
    deepEqual(functions.aliasSub.params.map((p: { name: string }) => p.name), [
      "seriesList",
      "search",
      "replace",
    ]);
  });
  await t.step("/version is a version Grafana's semver reads", async () => {
    const text = await (await fetch(`${graphite.base}/version`)).text();
    assert(/^\d+\.\d+\.\d+$/.test(text), text);
    assert(text.startsWith("1.1."), "1.1 has the function index and tags");
  });
});
