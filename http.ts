/**
 * Pulse over HTTP: a JSON API to read and write series, the server's figures
 * for Prometheus, and a dashboard page, served with `Deno.serve` next to the
 * TCP server and sharing its store.
 *
 * | route               | what                                                  |
 * | ------------------- | ----------------------------------------------------- |
 * | `GET /`             | the dashboard                                         |
 * | `GET /health`       | `{"status":"ok","version":...,"uptime_seconds":...}`  |
 * | `GET /metrics`      | Prometheus text format 0.0.4                          |
 * | `GET /api/stats`    | the server's figures as one JSON object               |
 * | `GET /api/keys`     | the series matching `match` (all without it)          |
 * | `GET /api/query`    | their samples from `from` to `to`, rolled up by `step`|
 * | `GET /api/last`     | their latest samples                                  |
 * | `POST /api/put`     | lines of `<key> <value> [<timestamp>]`, all or none   |
 *
 * The three reading routes answer in one shape,
 * `{"matched":2,"series":[{"key":"palm.cpu","points":[[1501864247,10.6]]}]}`,
 * and every error is `{"error":"..."}` with a 4xx or 5xx status. See
 * docs/HTTP.md for the details.
 *
 * @example Reading a series back
 * ```ts
 * import { serveHttp, Store } from "@pulse/metrics";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const store = new Store();
 * store.put("palm.cpu", 10.6, 1501864247);
 * await using server = serveHttp({ port: 0, store });
 * const response = await fetch(
 *   `http://127.0.0.1:${server.addr.port}/api/query?match=palm.*`,
 * );
 * deepStrictEqual((await response.json()).series, [
 *   { key: "palm.cpu", points: [[1501864247, 10.6]] },
 * ]);
 * ```
 *
 * @module
 */

import denoConfig from "./deno.json" with { type: "json" };
import { DASHBOARD_HTML } from "./http/_dashboard.ts";
import { concat } from "./internal/concat.ts";
import { describe } from "./internal/describe.ts";
import {
  EXPOSITION_CONTENT_TYPE,
  figureFamilies,
  formatExposition,
  type MetricFamily,
} from "./http/exposition.ts";
import { parsePutBody } from "./http/put_body.ts";
import { nextTurn } from "./internal/turns.ts";
import { SampleBatch } from "./storage/sample_batch.ts";
import { LocalStorage } from "./storage/local.ts";
import {
  failureMessage,
  type Querier,
  type SeriesInfo,
  type Storage,
} from "./storage/storage.ts";
import { Pattern } from "./store/pattern.ts";
import {
  type Aggregation,
  AGGREGATIONS,
  bucketStart,
  type QueryOptions,
} from "./store/query.ts";
import type { Store } from "./store.ts";

/** Where the HTTP server listens unless told otherwise: loopback only. */
export const DEFAULT_HTTP_HOSTNAME = "127.0.0.1";
/** The HTTP server's port unless told otherwise: the TCP port's neighbour. */
export const DEFAULT_HTTP_PORT = 8889;
/**
 * The most points per series `/api/query` answers when it picks the step
 * itself; the `maxPoints` parameter changes it.
 */
export const DEFAULT_MAX_POINTS = 1000;
/** The default of {@linkcode ServeHttpOptions.maxPutBytes}: 64 MiB. */
export const DEFAULT_MAX_PUT_BYTES = 64 * 1024 * 1024;

/** Options of {@linkcode serveHttp}. */
export interface ServeHttpOptions {
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on; 0 picks any free port (see `addr`).
   *
   * @default {8889}
   */
  port?: number;
  /**
   * Aborting it shuts the server down.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Where samples are kept; pass the TCP server's to share it.
   *
   * @default {new LocalStorage({ store })}
   */
  storage?: Storage;
  /**
   * A store to serve in memory, when no `storage` is given.
   *
   * @default {new Store()}
   */
  store?: Store;
  /**
   * The figures `/metrics` and `/api/stats` report, such as the TCP
   * server's `stats()`.
   *
   * @default {() => storage.stats()}
   */
  stats?: () => Record<string, number>;
  /**
   * A secret every request but `GET /` and `GET /health` must carry, as
   * `Authorization: Bearer <token>`.
   *
   * @default {undefined}
   */
  token?: string;
  /**
   * A certificate chain in PEM, to serve over HTTPS (with `key`).
   *
   * @default {undefined}
   */
  cert?: string;
  /**
   * The certificate's private key in PEM.
   *
   * @default {undefined}
   */
  key?: string;
  /**
   * Host names the server answers to besides IP addresses, `localhost` and
   * `hostname`: the names of a real deployment. A request with another
   * `Host` is refused with 421, so that a page on another site whose name
   * was rebound to this server's address (DNS rebinding) gets nothing.
   *
   * @default {[]}
   */
  hosts?: string[];
  /**
   * The largest body `POST /api/put` takes, in bytes; a larger one is
   * answered 413 and nothing of it stored.
   *
   * @default {67108864}
   */
  maxPutBytes?: number;
  /**
   * Called once the server listens.
   *
   * @default {() => {}}
   */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Called with what went wrong handling a request, which is answered 500.
   *
   * @default {(error) => console.error(`pulse: http: ${error.message}`)}
   */
  onError?: (error: Error) => void;
}

type Handler = (request: Request, url: URL) => Response | Promise<Response>;

interface Route {
  method: "GET" | "POST";
  // Served without the token: the page asks for it, and health checks
  // rarely carry one.
  open: boolean;
  handler: Handler;
}

const VERSION: string = denoConfig.version;
const ENCODER = new TextEncoder();
const UTF8 = new TextDecoder("utf-8", { fatal: true });
// Steps `/api/query` picks from, in seconds, before whole days.
const STEPS = [
  1,
  2,
  5,
  10,
  15,
  30,
  60,
  120,
  300,
  600,
  900,
  1800,
  3600,
  7200,
  10800,
  21600,
  43200,
  86400,
];
const DAY = 86400;
// A streamed answer is made of pieces of at most this many samples read or
// keys listed, sent in chunks of about this many characters.
const READ_STEP = 4096;
const CHUNK_CHARS = 64 * 1024;
// Milliseconds of making an answer before other requests and connections get
// a turn: a roll-up of millions of samples makes little text, but must not
// hold the event loop meanwhile.
const SLICE_MS = 10;
const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

/**
 * Serves the HTTP API, the Prometheus figures and the dashboard until shut
 * down.
 *
 * @example Usage
 * ```ts
 * import { serveHttp } from "@pulse/metrics";
 * import { strictEqual } from "node:assert/strict";
 *
 * await using server = serveHttp({ port: 0, token: "secret" });
 * const url = `http://127.0.0.1:${server.addr.port}/api/keys`;
 * const refused = await fetch(url);
 * await refused.body?.cancel();
 * strictEqual(refused.status, 401);
 * const response = await fetch(url, {
 *   headers: { authorization: "Bearer secret" },
 * });
 * strictEqual(await response.text(), '{"matched":0,"series":[]}');
 * ```
 *
 * @param options Where to listen, the store and its log, access and TLS.
 * @returns The running server, as `Deno.serve` returns it.
 * @throws {TypeError} When only one of `cert` and `key` is given.
 * @throws {RangeError} When `maxPutBytes` is negative.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function serveHttp(
  options: ServeHttpOptions = {},
): Deno.HttpServer<Deno.NetAddr> {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError("Cannot serve HTTPS without both cert and key");
  }
  const maxPutBytes = options.maxPutBytes ?? DEFAULT_MAX_PUT_BYTES;
  if (!(maxPutBytes >= 0)) {
    throw new RangeError(
      `Cannot serve with maxPutBytes ${maxPutBytes}: not a number >= 0`,
    );
  }
  if (options.store !== undefined && options.storage !== undefined) {
    throw new TypeError("Cannot serve both a store and a storage");
  }
  const storage = options.storage ??
    new LocalStorage({ store: options.store });
  const querier = storage.querier;
  const token = options.token === undefined
    ? undefined
    : ENCODER.encode(options.token);
  const onError = options.onError ??
    ((error: Error) => console.error(`pulse: http: ${error.message}`));
  const started = Date.now();
  // Requests by route and status, and samples stored, for the figures.
  const requests = new Map<string, Map<number, number>>();
  let samplesPut = 0;

  const uptime = () => Math.floor((Date.now() - started) / 1000);
  const figures = (): Record<string, number> => {
    return options.stats?.() ?? storage.stats();
  };

  const routes: Record<string, Route> = {
    "/": {
      method: "GET",
      open: true,
      handler: () =>
        new Response(DASHBOARD_HTML, {
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-cache",
          },
        }),
    },
    "/health": {
      method: "GET",
      open: true,
      handler: () =>
        json(200, { status: "ok", version: VERSION, uptime_seconds: uptime() }),
    },
    "/metrics": {
      method: "GET",
      open: false,
      handler: () =>
        new Response(formatExposition(metrics()), {
          headers: { "content-type": EXPOSITION_CONTENT_TYPE },
        }),
    },
    "/api/stats": {
      method: "GET",
      open: false,
      handler: () =>
        json(200, {
          uptime_seconds: uptime(),
          ...figures(),
          http_samples_put: samplesPut,
          resident_memory_bytes: Deno.memoryUsage().rss,
        }),
    },
    "/api/keys": { method: "GET", open: false, handler: keys },
    "/api/query": { method: "GET", open: false, handler: query },
    "/api/last": { method: "GET", open: false, handler: last },
    "/api/put": { method: "POST", open: false, handler: put },
  };

  function metrics(): MetricFamily[] {
    const families = figureFamilies(figures());
    if (!families.some((family) => family.name === "pulse_uptime_seconds")) {
      families.unshift({
        name: "pulse_uptime_seconds",
        help: "Seconds since the server started.",
        type: "gauge",
        samples: [[{}, uptime()]],
      });
    }
    const served: MetricFamily["samples"] = [];
    for (const [route, byStatus] of requests) {
      for (const [status, count] of byStatus) {
        served.push([{ route, code: String(status) }, count]);
      }
    }
    families.push(
      {
        name: "pulse_http_requests_total",
        help: "HTTP requests answered, by route and status code.",
        type: "counter",
        samples: served,
      },
      {
        name: "pulse_http_samples_put_total",
        help: "Samples stored through POST /api/put.",
        type: "counter",
        samples: [[{}, samplesPut]],
      },
      {
        name: "pulse_build_info",
        help: "The Pulse version, as a label; always 1.",
        type: "gauge",
        samples: [[{ version: VERSION }, 1]],
      },
      {
        name: "process_resident_memory_bytes",
        help: "Resident memory size in bytes.",
        type: "gauge",
        samples: [[{}, Deno.memoryUsage().rss]],
      },
    );
    return families;
  }

  async function keys(_request: Request, url: URL): Promise<Response> {
    const params = await readParams(url, false);
    if (params instanceof Response) return params;
    const { matched, series } = params;
    return streamJson(keysPieces(matched, series));
  }

  async function query(_request: Request, url: URL): Promise<Response> {
    const search = url.searchParams;
    // Without both bounds, the range is that of the data.
    const bounds = !search.get("from") || !search.get("to");
    const params = await readParams(url, true, bounds);
    if (params instanceof Response) return params;
    const { matched, series } = params;
    let from: number | undefined;
    let to: number | undefined;
    let step: number | undefined;
    let maxPoints: number;
    let aggregation: Aggregation;
    try {
      from = integerParam(search, "from", -Infinity);
      to = integerParam(search, "to", -Infinity);
      step = integerParam(search, "step", 1);
      maxPoints = integerParam(search, "maxPoints", 2) ?? DEFAULT_MAX_POINTS;
      const agg = search.get("agg") ?? "avg";
      if (!AGGREGATIONS.includes(agg as Aggregation)) {
        throw new RangeError(
          `invalid agg: ${agg} (one of ${AGGREGATIONS.join(", ")})`,
        );
      }
      aggregation = agg as Aggregation;
    } catch (error) {
      if (error instanceof RangeError) return fail(400, error.message);
      throw error;
    }
    if (from !== undefined && to !== undefined && from > to) {
      return fail(400, `invalid range: from ${from} is after to ${to}`);
    }
    // Without bounds, the range is that of the data.
    if (from === undefined || to === undefined) {
      let first = Infinity;
      let latest = -Infinity;
      for (const one of series) {
        if (one.length === 0) continue;
        first = Math.min(first, one.first!);
        latest = Math.max(latest, one.last!);
      }
      if (first !== Infinity) {
        from ??= Math.min(first, to ?? first);
        to ??= Math.max(latest, from);
      }
    }
    if (step === undefined && from !== undefined && to !== undefined) {
      step = chooseStep(from, to, maxPoints);
    }
    return streamJson(
      queryPieces(
        querier,
        { from: from ?? null, to: to ?? null, step: step ?? null, matched },
        series,
        { from, to, step, aggregation },
      ),
    );
  }

  async function last(_request: Request, url: URL): Promise<Response> {
    const params = await readParams(url, true);
    if (params instanceof Response) return params;
    const { matched, series } = params;
    return streamJson(
      queryPieces(querier, { matched }, series, { latest: true }),
    );
  }

  async function put(request: Request, url: URL): Promise<Response> {
    // A page elsewhere may post here (a form needs no preflight); only this
    // origin's own page may, when there is no token to stop it.
    const origin = request.headers.get("origin");
    if (origin !== null && origin !== url.origin) {
      await request.body?.cancel();
      return fail(403, `cross-origin put refused: ${origin}`);
    }
    const body = await readBody(request, maxPutBytes);
    if (body === undefined) {
      return fail(413, `the body is larger than ${maxPutBytes} bytes`);
    }
    let text: string;
    try {
      text = UTF8.decode(body);
    } catch {
      return fail(400, "the body is not valid UTF-8");
    }
    const batch = parsePutBody(text, Math.floor(Date.now() / 1000));
    if (!("keys" in batch)) {
      return fail(
        400,
        `line ${batch.line} (${JSON.stringify(batch.text)}): ${batch.reason}`,
        { line: batch.line },
      );
    }
    if (batch.keys.length === 0) {
      return fail(
        400,
        "the body holds no samples: send lines of <key> <value> [<timestamp>]",
      );
    }
    const samples = new SampleBatch();
    for (let i = 0; i < batch.keys.length; i++) {
      samples.add(batch.keys[i], batch.values[i], batch.timestamps[i]);
    }
    const appender = storage.appender();
    const refused = await appender.appendBatch(samples);
    if (refused !== undefined) {
      appender.rollback();
      return fail(
        refused.startsWith("cannot ") ? 503 : 400,
        refused,
      );
    }
    try {
      await appender.commit();
    } catch (error) {
      return fail(503, failureMessage(error));
    }
    samplesPut += samples.length;
    return new Response(null, { status: 204 });
  }

  /** The matched series and the `limit` of them to answer, or an error. */
  async function readParams(
    url: URL,
    required: boolean,
    bounds = false,
  ): Promise<{ matched: number; series: SeriesInfo[] } | Response> {
    const search = url.searchParams;
    const source = search.get("match");
    let all: SeriesInfo[];
    if (source === null || source === "") {
      if (required) {
        return fail(400, "missing match: a key or pattern, such as palm.*");
      }
      all = [...await querier.series()];
    } else {
      try {
        all = [...await querier.series(new Pattern(source), { bounds })];
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        const message = error.message;
        return fail(
          400,
          `invalid match: ${source}: ${
            message.slice(message.indexOf(": ") + 2)
          }`,
        );
      }
    }
    let limit: number | undefined;
    try {
      limit = integerParam(search, "limit", 0);
    } catch (error) {
      if (error instanceof RangeError) return fail(400, error.message);
      throw error;
    }
    return {
      matched: all.length,
      series: limit === undefined ? all : all.slice(0, limit),
    };
  }

  function authorized(request: Request): boolean {
    if (token === undefined) return true;
    const match = /^Bearer +(\S+) *$/i.exec(
      request.headers.get("authorization") ?? "",
    );
    return match !== null &&
      equalInConstantTime(ENCODER.encode(match[1]), token);
  }

  const allowed = allowedHosts(
    options.hostname ?? DEFAULT_HTTP_HOSTNAME,
    options.hosts ?? [],
  );

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const route = Object.hasOwn(routes, url.pathname)
      ? routes[url.pathname]
      : undefined;
    let response: Response;
    try {
      if (!allowed(url.hostname)) {
        await request.body?.cancel();
        response = fail(
          421,
          `unknown host: ${url.hostname} (name it with --http-host to serve it)`,
        );
      } else if (route === undefined) {
        response = fail(404, `no such route: ${url.pathname}`);
      } else if (request.method !== route.method) {
        response = fail(
          405,
          `${request.method} is not allowed on ${url.pathname}: use ${route.method}`,
        );
        response.headers.set("allow", route.method);
      } else if (!route.open && !authorized(request)) {
        response = fail(
          401,
          request.headers.has("authorization")
            ? "invalid token"
            : "authentication required: send Authorization: Bearer <token>",
        );
        response.headers.set("www-authenticate", 'Bearer realm="pulse"');
      } else {
        response = await route.handler(request, url);
      }
    } catch (error) {
      onError(
        new Error(`${request.method} ${url.pathname}: ${describe(error)}`, {
          cause: error,
        }),
      );
      response = fail(500, `internal error: ${describe(error)}`);
    }
    // Unknown paths count together, so that scanners cannot grow the labels.
    const name = route === undefined ? "other" : url.pathname;
    let byStatus = requests.get(name);
    if (byStatus === undefined) {
      byStatus = new Map();
      requests.set(name, byStatus);
    }
    byStatus.set(response.status, (byStatus.get(response.status) ?? 0) + 1);
    return response;
  }

  const listen = {
    hostname: options.hostname ?? DEFAULT_HTTP_HOSTNAME,
    port: options.port ?? DEFAULT_HTTP_PORT,
    signal: options.signal,
    onListen: options.onListen ?? (() => {}),
  };
  return options.cert === undefined
    ? Deno.serve(listen, handle)
    : Deno.serve({ ...listen, cert: options.cert, key: options.key! }, handle);
}

/**
 * Which `Host` names a server listening on `hostname` answers to: IP
 * addresses (a rebound name never arrives as one), `localhost` and its
 * subdomains (browsers resolve them to loopback themselves), the listening
 * name, and the names given.
 */
function allowedHosts(
  hostname: string,
  names: readonly string[],
): (host: string) => boolean {
  const known = new Set(
    [hostname, ...names].map((name) => name.toLowerCase().replace(/\.$/, "")),
  );
  return (host) => {
    // URL has lower-cased the name and bracketed an IPv6 address.
    const name = host.replace(/\.$/, "");
    return known.has(name) || name.startsWith("[") ||
      /^\d+\.\d+\.\d+\.\d+$/.test(name) || name === "localhost" ||
      name.endsWith(".localhost");
  };
}

/**
 * The step `/api/query` uses when it is given none: none when every second
 * of the range fits in `maxPoints`, else the smallest of a few round steps
 * (then whole days) that cuts the range into at most `maxPoints` buckets.
 */
function chooseStep(
  from: number,
  to: number,
  maxPoints: number,
): number | undefined {
  const span = to - from;
  if (span + 1 <= maxPoints) return undefined;
  for (const step of STEPS) {
    if (buckets(from, to, step) <= maxPoints) return step;
  }
  // Any step above span / (maxPoints - 1) gives at most maxPoints buckets.
  const least = Math.floor(span / (maxPoints - 1)) + 1;
  return Math.ceil(least / DAY) * DAY;
}

/** How many buckets of `step`, aligned as the query aligns them, span a range. */
function buckets(from: number, to: number, step: number): number {
  return (bucketStart(to, step) - bucketStart(from, step)) / step + 1;
}

/**
 * Reads an integer parameter of at least `min`.
 *
 * @throws {RangeError} When it is there but not such an integer.
 */
function integerParam(
  search: URLSearchParams,
  name: string,
  min: number,
): number | undefined {
  const text = search.get(name);
  if (text === null || text === "") return undefined;
  const value = Number(text);
  if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    const wanted = min === -Infinity
      ? "an integer number of Unix seconds"
      : `an integer of at least ${min}`;
    throw new RangeError(`invalid ${name}: ${text} (${wanted})`);
  }
  return value;
}

/** Reads a body of at most `max` bytes; `undefined` when it is larger. */
async function readBody(
  request: Request,
  max: number,
): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > max || request.body === null) {
    await request.body?.cancel();
    return declared > max ? undefined : new Uint8Array(0);
  }
  const parts: Uint8Array[] = [];
  let length = 0;
  const reader = request.body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > max) {
      await reader.cancel();
      return undefined;
    }
    parts.push(value);
  }
  return concat(parts);
}

/** Compares two byte strings in time that depends on their lengths only. */
function equalInConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ b[i];
  return difference === 0;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

function fail(
  status: number,
  message: string,
  details: Record<string, unknown> = {},
): Response {
  return json(status, { error: message, ...details });
}

/** A JSON number, or `null` for what JSON cannot hold (an overflowed sum). */
function number(value: number): string {
  return Number.isFinite(value) ? String(value) : "null";
}

function* keysPieces(
  matched: number,
  series: SeriesInfo[],
): Generator<string> {
  yield `{"matched":${matched},"series":[`;
  for (let i = 0; i < series.length; i += READ_STEP) {
    let text = "";
    for (let j = i; j < Math.min(i + READ_STEP, series.length); j++) {
      text += `${j > 0 ? "," : ""}{"key":${JSON.stringify(series[j].key)}}`;
    }
    yield text;
  }
  yield "]}";
}

/**
 * The pieces of a reading answer: `head`'s fields, then every series with
 * its points, read a few thousand samples at a time as the client takes them.
 */
async function* queryPieces(
  querier: Querier,
  head: Record<string, number | null>,
  series: SeriesInfo[],
  options: QueryOptions,
): AsyncGenerator<string> {
  yield `${JSON.stringify(head).slice(0, -1)},"series":[`;
  for (let i = 0; i < series.length; i++) {
    let text = `${i > 0 ? "," : ""}{"key":${
      JSON.stringify(series[i].key)
    },"points":[`;
    let first = true;
    const sink = (_key: string, value: number, timestamp: number) => {
      text += `${first ? "" : ","}[${timestamp},${number(value)}]`;
      first = false;
    };
    const cursor = querier.read([series[i]], options);
    try {
      let done = false;
      while (!done) {
        done = await cursor.read(sink, READ_STEP);
        if (!done) {
          yield text;
          text = "";
        }
      }
    } finally {
      // A client that leaves mid-answer leaves a remote read under way.
      cursor.close();
    }
    yield `${text}]}`;
  }
  yield "]}";
}

/** A JSON response whose body is made piece by piece as it is read. */
function streamJson(
  pieces: Generator<string> | AsyncGenerator<string>,
): Response {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let text = "";
      let sliceStart = performance.now();
      while (text.length < CHUNK_CHARS) {
        if (performance.now() - sliceStart > SLICE_MS) {
          await nextTurn();
          if (cancelled) return;
          sliceStart = performance.now();
        }
        const next = await pieces.next();
        if (next.done) {
          if (text.length > 0) controller.enqueue(ENCODER.encode(text));
          controller.close();
          return;
        }
        text += next.value;
      }
      controller.enqueue(ENCODER.encode(text));
    },
    cancel() {
      cancelled = true;
      pieces.return(undefined);
    },
  });
  return new Response(body, { headers: JSON_HEADERS });
}
