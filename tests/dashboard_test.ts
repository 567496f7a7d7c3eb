import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { serveHttp } from "../http.ts";
import { Store } from "../store.ts";
import { delay, HOST, within } from "./_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!HAVE_CHROMIUM) {
  console.warn(
    `dashboard_test: ${CHROMIUM} is missing, so the dashboard tests are ignored (install Debian's chromium package to run them)`,
  );
}
const ARTIFACT = new URL("../.artifacts/dashboard.png", import.meta.url);
const VIEWPORT = { width: 1280, height: 860 };
// Generous guards against hangs, not speed limits: Chromium starts slowly on
// a busy machine.
const LAUNCH_MS = 60_000;
const WAIT_MS = 30_000;

/** What the page shows of one chart. */
interface ChartView {
  pattern: string;
  from: number;
  to: number;
  step: string;
  lines: { key: string; points: number }[];
  legend: { key: string; value: string }[];
}

// Runs in the page: each chart's range, lines and legend.
const CHARTS_JS = `[...document.querySelectorAll(".chart")].map((chart) => ({
  pattern: chart.dataset.pattern,
  from: Number(chart.dataset.from),
  to: Number(chart.dataset.to),
  step: chart.dataset.step,
  lines: [...chart.querySelectorAll("path.line")].map((path) => ({
    key: path.dataset.key,
    points: (path.getAttribute("d").match(/[ML]/g) || []).length,
  })),
  legend: [...chart.querySelectorAll(".legend li[data-key]")].map((item) => ({
    key: item.querySelector(".key").textContent,
    value: item.querySelector(".value").textContent,
  })),
}))`;

/**
 * Headless Chromium driven over the DevTools protocol, through Deno's own
 * WebSocket, with one page. Disposing it closes the browser, waits for its
 * exit and removes its profile.
 */
class Browser implements AsyncDisposable {
  /** Uncaught exceptions and console errors of the page. */
  readonly errors: string[] = [];
  #child: Deno.ChildProcess;
  #profile: string;
  #stderr: Promise<void>;
  #socket: WebSocket | undefined;
  #closed: Promise<void> | undefined;
  #session = "";
  #nextId = 1;
  #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();

  private constructor(
    child: Deno.ChildProcess,
    profile: string,
    stderr: Promise<void>,
  ) {
    this.#child = child;
    this.#profile = profile;
    this.#stderr = stderr;
  }

  /** Starts Chromium with a fresh profile and opens a blank page. */
  static async launch(): Promise<Browser> {
    const profile = await Deno.makeTempDir({ prefix: "pulse-chromium-" });
    const child = new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        `--window-size=${VIEWPORT.width},${VIEWPORT.height}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const endpoint = Promise.withResolvers<string>();
    let output = "";
    // Read stderr to its end, so that Chromium never blocks writing it.
    const stderr = (async () => {
      const text = child.stderr.pipeThrough(new TextDecoderStream());
      for await (const chunk of text) {
        output += chunk;
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(output);
        if (match) endpoint.resolve(match[1]);
      }
      endpoint.reject(new Error(`Chromium exited early: ${output}`));
    })();
    const browser = new Browser(child, profile, stderr);
    try {
      await browser.#connect(
        await within(endpoint.promise, "Chromium's DevTools URL", LAUNCH_MS),
      );
    } catch (error) {
      await browser[Symbol.asyncDispose]();
      throw error;
    }
    return browser;
  }

  async #connect(url: string): Promise<void> {
    const socket = new WebSocket(url);
    this.#socket = socket;
    const opened = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<void>();
    this.#closed = closed.promise;
    socket.onopen = () => opened.resolve();
    socket.onerror = () => opened.reject(new Error(`cannot open ${url}`));
    socket.onclose = () => {
      for (const { reject } of this.#pending.values()) {
        reject(new Error("the DevTools connection closed"));
      }
      this.#pending.clear();
      closed.resolve();
    };
    socket.onmessage = (event) => this.#receive(JSON.parse(event.data));
    await within(opened.promise, "the DevTools connection", LAUNCH_MS);
    const { targetId } = await this.command<{ targetId: string }>(
      "Target.createTarget",
      { url: "about:blank" },
      false,
    );
    const { sessionId } = await this.command<{ sessionId: string }>(
      "Target.attachToTarget",
      { targetId, flatten: true },
      false,
    );
    this.#session = sessionId;
    await this.command("Runtime.enable");
    await this.command("Page.enable");
    await this.command("Emulation.setDeviceMetricsOverride", {
      ...VIEWPORT,
      deviceScaleFactor: 1,
      mobile: false,
    });
  }

  #receive(message: {
    id?: number;
    method?: string;
    params?: Record<string, unknown>;
    result?: unknown;
    error?: { message: string };
  }): void {
    if (message.id !== undefined) {
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error) pending?.reject(new Error(message.error.message));
      else pending?.resolve(message.result);
    } else if (message.method === "Runtime.exceptionThrown") {
      const details = message.params?.exceptionDetails as {
        text: string;
        exception?: { description?: string };
      };
      this.errors.push(details.exception?.description ?? details.text);
    } else if (message.method === "Runtime.consoleAPICalled") {
      const params = message.params as {
        type: string;
        args: { value?: unknown; description?: string }[];
      };
      if (params.type === "error") {
        this.errors.push(
          params.args.map((arg) => arg.description ?? String(arg.value))
            .join(" "),
        );
      }
    }
  }

  /**
   * Sends a DevTools command, to the page unless `toPage` is false.
   *
   * @returns Its result.
   */
  command<T = unknown>(
    method: string,
    params: Record<string, unknown> = {},
    toPage = true,
  ): Promise<T> {
    const id = this.#nextId++;
    const result = Promise.withResolvers<T>();
    this.#pending.set(id, {
      resolve: result.resolve as (value: unknown) => void,
      reject: result.reject,
    });
    this.#socket!.send(JSON.stringify({
      id,
      method,
      params,
      ...(toPage ? { sessionId: this.#session } : {}),
    }));
    return within(result.promise, method, WAIT_MS);
  }

  /** Evaluates `expression` in the page and returns its value. */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.command<{
      result: { value: T };
      exceptionDetails?: { exception?: { description?: string } };
    }>("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (exceptionDetails) {
      throw new Error(
        `the page threw: ${exceptionDetails.exception?.description}`,
      );
    }
    return result.value;
  }

  /**
   * Polls `expression` in the page until it is truthy; while a page loads,
   * what it throws counts as false.
   */
  async waitFor(expression: string, what: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    let last = "";
    while (true) {
      try {
        if (await this.evaluate<boolean>(`Boolean(${expression})`)) return;
        last = "false";
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(`${what}: not true within ${WAIT_MS} ms (${last})`);
      }
      await delay(50);
    }
  }

  /**
   * Clicks the middle of the element `selector` with the mouse; `between`,
   * if given, is evaluated in the page after the press and before the release.
   */
  async click(selector: string, between?: string): Promise<void> {
    const { x, y } = await this.evaluate<{ x: number; y: number }>(
      `(() => {
        const box = document.querySelector(${
        JSON.stringify(selector)
      }).getBoundingClientRect();
        return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
      })()`,
    );
    for (const type of ["mousePressed", "mouseReleased"]) {
      if (type === "mouseReleased" && between !== undefined) {
        await this.evaluate(between);
      }
      await this.command("Input.dispatchMouseEvent", {
        type,
        x,
        y,
        button: "left",
        clickCount: 1,
      });
    }
  }

  /** Moves the mouse to a point of the page. */
  async moveMouse(x: number, y: number): Promise<void> {
    await this.command("Input.dispatchMouseEvent", {
      type: "mouseMoved",
      x,
      y,
    });
  }

  /** A PNG of the page as it looks now. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.command<{ data: string }>(
      "Page.captureScreenshot",
      { format: "png" },
    );
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#socket?.readyState === WebSocket.OPEN) {
      // Chromium exits on this, often before it answers.
      this.command("Browser.close", {}, false).catch(() => {});
    }
    const exited = await within(this.#child.status, "Chromium's exit", 20_000)
      .then(() => true, () => false);
    if (!exited) {
      this.#child.kill("SIGKILL");
      await this.#child.status;
    }
    if (this.#socket !== undefined) {
      this.#socket.close();
      await this.#closed;
    }
    await this.#stderr;
    await Deno.remove(this.#profile, { recursive: true });
  }
}

/** Seeds three series a sample a minute for 8 days up to `now`, and a fleet. */
function seed(store: Store, now: number): number[] {
  const timestamps: number[] = [];
  const start = now - 8 * 86400;
  for (let t = start - (start % 60); t <= now; t += 60) {
    const hours = t / 3600;
    store.put(
      "palm.cpu",
      Math.round(
        400 + 250 * Math.sin(hours * Math.PI / 12) + 80 * Math.sin(t / 700),
      ) / 10,
      t,
    );
    store.put(
      "palm.gpu",
      Math.round(
        550 + 200 * Math.cos(hours * Math.PI / 6) + 50 * Math.sin(t / 300),
      ) / 10,
      t,
    );
    store.put(
      "eardrum.memory",
      Math.round(4.2e6 + 3e5 * Math.sin(hours * Math.PI / 24)),
      t,
    );
    timestamps.push(t);
  }
  for (let i = 0; i < 10_000; i++) {
    store.put(`fleet.host${String(i).padStart(5, "0")}.load`, i % 7, now);
  }
  return timestamps;
}

/** Points a chart of `timestamps` should draw over a range, by the step. */
function expectedPoints(
  timestamps: readonly number[],
  view: ChartView,
): number {
  const inRange = timestamps.filter((t) => view.from <= t && t <= view.to);
  if (view.step === "") return inRange.length;
  const step = Number(view.step);
  return new Set(inRange.map((t) => t - (t % step))).size;
}

function chart(charts: ChartView[], pattern: string): ChartView {
  const found = charts.find((view) => view.pattern === pattern);
  assert(found, `no chart of ${pattern} in ${JSON.stringify(charts)}`);
  return found;
}

Deno.test({
  name: "`GET /` dashboard charts, lists and refreshes series in Chromium",
  ignore: !HAVE_CHROMIUM,
  async fn(t) {
    const store = new Store();
    const now = Math.floor(Date.now() / 1000);
    const palmTimestamps = seed(store, now);
    await using server = serveHttp({ hostname: HOST, port: 0, store });
    const base = `http://${HOST}:${server.addr.port}`;
    await using browser = await Browser.launch();
    let putAt = 0;
    const charts = () => browser.evaluate<ChartView[]>(CHARTS_JS);
    const refreshes = () =>
      browser.evaluate<number>("Number(document.body.dataset.refreshes)");

    await t.step(
      "a chart per pattern, a line per series, a point per sample",
      async () => {
        const before = Math.floor(Date.now() / 1000);
        await browser.command("Page.navigate", {
          url: `${base}/#range=15m&p=palm.*&p=eardrum.*`,
        });
        await browser.waitFor(
          `document.querySelectorAll(".chart path.line").length === 3`,
          "three lines drawn",
        );
        const after = Math.floor(Date.now() / 1000);
        const views = await charts();
        deepEqual(views.map((view) => view.pattern), ["palm.*", "eardrum.*"]);
        const palm = chart(views, "palm.*");
        equal(palm.to - palm.from, 900);
        assert(before <= palm.to && palm.to <= after, `to ${palm.to}`);
        equal(palm.step, "", "15 minutes are drawn sample by sample");
        deepEqual(palm.lines.map((line) => line.key), ["palm.cpu", "palm.gpu"]);
        const expected = expectedPoints(palmTimestamps, palm);
        assert(expected >= 15, `${expected} samples in range`);
        for (const line of palm.lines) equal(line.points, expected, line.key);
        deepEqual(palm.legend.map((item) => item.key), [
          "palm.cpu",
          "palm.gpu",
        ]);
        deepEqual(
          chart(views, "eardrum.*").legend.map((item) => item.key),
          ["eardrum.memory"],
        );
      },
    );

    await t.step("new samples appear within a refresh", async () => {
      putAt = Math.floor(Date.now() / 1000);
      const response = await fetch(`${base}/api/put`, {
        method: "POST",
        body: `palm.cpu 99.5 ${putAt}\n`,
      });
      equal(response.status, 204, await response.text());
      await browser.waitFor(
        `document.querySelector('.legend li[data-key="palm.cpu"] .value').textContent === "99.5"`,
        "the legend showing the new latest value",
      );
      // The header's figures come from /api/stats, fetched alongside.
      await browser.waitFor(
        `/^\\d[\\d.]*[kMG]?\\/s$/.test(document.getElementById("rate").textContent) &&
          document.getElementById("samples").textContent === ${
          JSON.stringify(store.stats.samples.toLocaleString("en-US"))
        }`,
        "the ingest rate and the samples in the header",
      );
    });

    await t.step("refreshing pauses while the tab is hidden", async () => {
      const setHidden = (hidden: boolean) =>
        browser.evaluate(`(() => {
          Object.defineProperty(document, "hidden", {
            configurable: true,
            get: () => ${hidden},
          });
          document.dispatchEvent(new Event("visibilitychange"));
        })()`);
      await setHidden(true);
      await browser.waitFor("!running", "the last refresh to finish");
      const count = await refreshes();
      // Longer than the 5 s period: a refresh would have come by now.
      await delay(7_000);
      equal(await refreshes(), count, "no refresh while hidden");
      await setHidden(false);
      await browser.waitFor(
        `Number(document.body.dataset.refreshes) > ${count}`,
        "a refresh once visible again",
      );
    });

    await t.step(
      "a time preset changes the range and the roll-up",
      async () => {
        await browser.click('[data-range="24h"]');
        await browser.waitFor(
          `document.querySelector(".chart").dataset.to - document.querySelector(".chart").dataset.from === 86400`,
          "the 24 h range",
        );
        const palm = chart(await charts(), "palm.*");
        // 86,401 seconds over at most 1000 points: the next round step is 2 min.
        equal(palm.step, "120");
        const expected = expectedPoints([...palmTimestamps, putAt], palm);
        assert(expected > 700, `${expected} buckets`);
        for (const line of palm.lines) {
          equal(
            line.points,
            line.key === "palm.cpu"
              ? expected
              : expectedPoints(palmTimestamps, palm),
            line.key,
          );
        }
        assert(
          (await browser.evaluate<string>("location.hash")).includes(
            "range=24h",
          ),
        );
        equal(
          await browser.evaluate<string>(
            `document.querySelector('[data-range="24h"]').getAttribute("aria-pressed")`,
          ),
          "true",
        );
      },
    );

    await t.step("the pointer shows the values under it", async () => {
      const box = await browser.evaluate<{ x: number; y: number }>(`(() => {
        const box = document.querySelector(".chart svg").getBoundingClientRect();
        return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
      })()`);
      await browser.moveMouse(box.x, box.y);
      await browser.waitFor(
        `!document.getElementById("tip").hidden`,
        "the pointer's tooltip",
      );
      const tip = await browser.evaluate<{ time: number; rows: string[] }>(
        `(() => {
        const tip = document.getElementById("tip");
        const time = tip.querySelector("time").textContent;
        return {
          time: new Date(time.replace(" ", "T")).getTime() / 1000,
          rows: [...tip.querySelectorAll("div")].map((row) => row.textContent),
        };
      })()`,
      );
      const palm = chart(await charts(), "palm.*");
      const response = await fetch(
        `${base}/api/query?match=palm.*&from=${palm.from}&to=${palm.to}`,
      );
      const body = await response.json();
      equal(body.step, 120);
      const rows = body.series.map(
        (series: { key: string; points: [number, number][] }) => {
          const point = series.points.find(([t]) => t === tip.time);
          assert(point, `${series.key} has a point at ${tip.time}`);
          return `${series.key}  ${Number(point[1].toPrecision(6))}`;
        },
      );
      deepEqual(tip.rows, rows);
    });

    await t.step(
      "the series list holds 10,003 series with only rows in view",
      async () => {
        equal(
          await browser.evaluate<string>(
            `document.getElementById("count").textContent`,
          ),
          "10,003 series",
        );
        const rows = await browser.evaluate<number>(
          `document.querySelectorAll("#rows .row").length`,
        );
        assert(rows > 10 && rows < 100, `${rows} rows in the document`);
        await browser.evaluate(`(() => {
        const list = document.getElementById("list");
        list.scrollTop = list.scrollHeight;
      })()`);
        await browser.waitFor(
          `document.querySelector('#rows .row[data-key="fleet.host09999.load"]')`,
          "the last series scrolled into view",
        );
        await browser.evaluate(`document.getElementById("filter").focus()`);
        await browser.command("Input.insertText", { text: "host0004" });
        await browser.waitFor(
          `document.getElementById("count").textContent === "10 of 10,003 series"`,
          "the filtered count",
        );
        deepEqual(
          await browser.evaluate<string[]>(
            `[...document.querySelectorAll("#rows .row")].map((row) => row.dataset.key)`,
          ),
          Array.from({ length: 10 }, (_, i) => `fleet.host0004${i}.load`),
        );
        // The list re-renders on every scroll and refresh; one landing
        // between press and release must not swallow the click.
        await browser.click(
          '#rows .row[data-key="fleet.host00042.load"]',
          "renderList()",
        );
        await browser.waitFor(
          `document.querySelector('.chart[data-pattern="fleet.host00042.load"] .legend li')`,
          "the chart of the clicked series",
        );
        const fleet = chart(await charts(), "fleet.host00042.load");
        deepEqual(fleet.legend, [{ key: "fleet.host00042.load", value: "0" }]);
        deepEqual(fleet.lines, [{ key: "fleet.host00042.load", points: 1 }]);
      },
    );

    await t.step("a custom range, and removing a chart", async () => {
      // Two hours ending two days ago, on whole minutes as the inputs are.
      const to = now - (now % 60) - 2 * 86400;
      const from = to - 7200;
      await browser.evaluate(`(() => {
        document.getElementById("from").value = toLocalInput(${from});
        document.getElementById("to").value = toLocalInput(${to});
      })()`);
      await browser.click("#custom button");
      await browser.waitFor(
        `document.querySelector(".chart").dataset.from === "${from}"`,
        "the custom range",
      );
      const palm = chart(await charts(), "palm.*");
      equal(palm.to, to);
      // 7201 seconds over at most 1000 points: 10 s steps.
      equal(palm.step, "10");
      for (const line of palm.lines) {
        equal(line.points, expectedPoints(palmTimestamps, palm), line.key);
        equal(line.points, 121);
      }
      assert(
        (await browser.evaluate<string>("location.hash")).includes(
          `from=${from}&to=${to}`,
        ),
      );
      equal(
        await browser.evaluate<number>(
          `document.querySelectorAll('[data-range][aria-pressed="true"]').length`,
        ),
        0,
      );
      await browser.click(
        '.chart[data-pattern="fleet.host00042.load"] .remove',
      );
      await browser.waitFor(
        `!document.querySelector('.chart[data-pattern="fleet.host00042.load"]')`,
        "the chart removed",
      );
      assert(
        !(await browser.evaluate<string>("location.hash")).includes("fleet"),
      );
    });

    await t.step("a screenshot for the record", async () => {
      await browser.evaluate(`(() => {
        const filter = document.getElementById("filter");
        filter.value = "";
        filter.dispatchEvent(new Event("input"));
        location.hash = "#range=24h&p=palm.*&p=eardrum.*";
      })()`);
      await browser.waitFor(
        `document.querySelectorAll(".chart").length === 2 && !running`,
        "two charts",
      );
      const box = await browser.evaluate<{ x: number; y: number }>(`(() => {
        const box = document.querySelector(".chart svg").getBoundingClientRect();
        return { x: box.x + box.width * 0.62, y: box.y + box.height / 2 };
      })()`);
      await browser.moveMouse(box.x, box.y);
      await browser.waitFor(`!document.getElementById("tip").hidden`, "tip");
      const png = await browser.screenshot();
      deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
      await Deno.mkdir(new URL(".", ARTIFACT), { recursive: true });
      await Deno.writeFile(ARTIFACT, png);
    });

    await t.step("a token field for servers that ask for one", async () => {
      await using secured = serveHttp({
        hostname: HOST,
        port: 0,
        store,
        token: "s3cret",
      });
      await browser.command("Page.navigate", {
        url: `http://${HOST}:${secured.addr.port}/#range=15m&p=palm.*`,
      });
      await browser.waitFor(
        `document.getElementById("notice").textContent.includes("needs a token")`,
        "the notice asking for a token",
      );
      equal(
        await browser.evaluate<number>(
          `document.querySelectorAll(".chart path.line").length`,
        ),
        0,
      );
      await browser.evaluate(`document.getElementById("token").focus()`);
      await browser.command("Input.insertText", { text: "s3cret" });
      await browser.evaluate(`document.getElementById("token").blur()`);
      const drawn =
        `document.querySelectorAll(".chart path.line").length === 2 &&
        document.getElementById("notice").hidden`;
      await browser.waitFor(drawn, "the charts once the token is given");
      equal(
        await browser.evaluate<string>(`localStorage.getItem("pulse.token")`),
        "s3cret",
      );
      // Marks the document, so that only the reloaded one can pass.
      await browser.evaluate("window.stale = true");
      await browser.command("Page.reload");
      await browser.waitFor(
        `!window.stale && ${drawn}`,
        "the charts with the token kept",
      );
      await browser.command("Page.navigate", { url: "about:blank" });
    });

    deepEqual(browser.errors, [], "the page logged no errors");
  },
});

/** The value texts of the legend of `pattern`'s chart, and their units. */
function legendUnits(browser: Browser, pattern: string): Promise<string[]> {
  const selector = `.chart[data-pattern="${pattern}"] .legend li[data-key]`;
  return browser.evaluate<string[]>(
    `[...document.querySelectorAll(${
      JSON.stringify(selector)
    })].map((item) => item.querySelector(".unit").textContent)`,
  );
}

/** Each panel of `pattern`'s chart: its unit, lines and value labels. */
function panels(
  browser: Browser,
  pattern: string,
): Promise<{ unit: string; keys: string[]; labels: string[] }[]> {
  const selector = `.chart[data-pattern="${pattern}"] svg.plot`;
  return browser.evaluate(
    `[...document.querySelectorAll(${JSON.stringify(selector)})].map((svg) => ({
      unit: svg.dataset.unit,
      keys: [...svg.querySelectorAll("path.line")].map((path) => path.dataset.key),
      labels: [...svg.querySelectorAll('text[text-anchor="end"]')]
        .map((text) => text.textContent),
    }))`,
  );
}

async function exactLegend(browser: Browser, store: Store): Promise<void> {
  // Two samples in the last 2 min step of a day: the line ends on their
  // average, the legend on the latest of them.
  const step = Math.floor((Math.floor(Date.now() / 1000) - 2) / 120) * 120;
  store.put("exact.count", 12345.678901, step);
  store.put("exact.memory", 1280719872, step);
  store.put("exact.memory", 1280720896, step + 1);
  await browser.evaluate(`location.hash = "#range=24h&p=exact.*"`);
  await browser.waitFor(
    `document.querySelectorAll('.chart[data-pattern="exact.*"] .legend li[data-key]').length === 2`,
    "the legend of exact.*",
  );
  const exact = chart(await browser.evaluate(CHARTS_JS), "exact.*");
  equal(exact.step, "120");
  deepEqual(exact.legend, [
    { key: "exact.count", value: "12,345.678901" },
    { key: "exact.memory", value: "1,280,720,896" },
  ]);
  deepEqual(await legendUnits(browser, "exact.*"), ["", " B"]);
}

async function panelsByUnit(browser: Browser, store: Store): Promise<void> {
  const at = Math.floor(Date.now() / 1000) - 60;
  const samples: [string, number, number][] = [
    ["mix.a.cpu", 42, 43.5],
    ["mix.disk.root", 80, 81],
    ["mix.a.memory", 1610612736, 1600000000],
    ["mix.a.large", 1e6, 1.1e6],
    ["mix.a.small", 2, 3],
  ];
  for (const [key, first, second] of samples) {
    store.put(key, first, at);
    store.put(key, second, at + 30);
  }
  await browser.evaluate(`location.hash = "#range=15m&p=mix.*.*"`);
  await browser.waitFor(
    `document.querySelectorAll('.chart[data-pattern="mix.*.*"] path.line').length === 5`,
    "the lines of mix.*.*",
  );
  const drawn = await panels(browser, "mix.*.*");
  deepEqual(drawn.map(({ unit, keys }) => ({ unit, keys })), [
    { unit: "%", keys: ["mix.a.cpu", "mix.disk.root"] },
    { unit: "B", keys: ["mix.a.memory"] },
    { unit: "", keys: ["mix.a.large"] },
    { unit: "", keys: ["mix.a.small"] },
  ]);
  const forms = [
    /^\d+%$/,
    /^\d+(\.\d+)? GiB$/,
    /^\d+(\.\d+)?[kM]$/,
    /^\d+(\.\d+)?$/,
  ];
  drawn.forEach(({ unit, labels }, i) => {
    assert(labels.length >= 2, `${unit}: ${labels}`);
    for (const label of labels) {
      assert(forms[i].test(label), `${label} on the axis of ${unit}`);
    }
  });
}

async function noMatch(browser: Browser): Promise<void> {
  await browser.evaluate(`location.hash = "#range=15m&p=nothing.here"`);
  const selector = '.chart[data-pattern="nothing.here"]';
  await browser.waitFor(
    `document.querySelector(${JSON.stringify(selector)}).dataset.from`,
    "the chart of nothing.here drawn",
  );
  const texts = await browser.evaluate<string[]>(
    `[...document.querySelectorAll(${
      JSON.stringify(selector + " svg text")
    })].map((text) => text.textContent)`,
  );
  assert(texts.includes("No series match this pattern"), texts.join("|"));
  deepEqual(chart(await browser.evaluate(CHARTS_JS), "nothing.here").lines, []);
}

Deno.test({
  name:
    "`GET /` dashboard shows values exactly, by unit, and misses in Chromium",
  ignore: !HAVE_CHROMIUM,
  async fn(t) {
    const store = new Store();
    await using server = serveHttp({ hostname: HOST, port: 0, store });
    await using browser = await Browser.launch();
    await browser.command("Page.navigate", {
      url: `http://${HOST}:${server.addr.port}/#range=15m`,
    });
    await browser.waitFor(
      "Number(document.body.dataset.refreshes) > 0",
      "the first refresh",
    );
    await t.step(
      "the legend shows each latest sample exactly, with its unit",
      () => exactLegend(browser, store),
    );
    await t.step(
      "series of other units or magnitudes get panels of their own",
      () => panelsByUnit(browser, store),
    );
    await t.step(
      "a pattern that matches nothing says so in its chart",
      () => noMatch(browser),
    );
    await browser.command("Page.navigate", { url: "about:blank" });
    deepEqual(browser.errors, [], "the page logged no errors");
  },
});
