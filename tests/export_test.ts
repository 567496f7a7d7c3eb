/**
 * Export and import: `Client.queryRows()` and `Client.putLines()`, the
 * command line's `export` and `import`, and `GET /api/export`. A round trip
 * into an empty server must give back `get *` byte for byte; the commands
 * stream, so their memory stays flat for any size.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { Client, ClientError } from "../client.ts";
import { serveHttp } from "../http.ts";
import { serve } from "../server.ts";
import { LocalStorage } from "../storage/local.ts";
import { Store } from "../store.ts";
import {
  available,
  bytes,
  decoder,
  exchange,
  HOST,
  RawConnection,
  rng,
  ServerProcess,
  within,
} from "./_helpers.ts";
import { CLI, pulse, stdoutText } from "./_pulse.ts";

/** Bytes in chunks of `size`, as a file's stream hands them over. */
function chunked(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) {
    chunks.push(data.subarray(i, i + size));
  }
  return ReadableStream.from(chunks);
}

/** A finite double from random bits: every exponent and mantissa. */
function randomDouble(random: () => number): number {
  const view = new DataView(new ArrayBuffer(8));
  while (true) {
    view.setUint32(0, Math.floor(random() * 2 ** 32));
    view.setUint32(4, Math.floor(random() * 2 ** 32));
    const value = view.getFloat64(0);
    if (Number.isFinite(value)) return value;
  }
}

/**
 * Puts samples that test the round trip: values of every magnitude and
 * sign, replaced values, timestamps at the ends of the range, odd keys, and
 * a series deleted and put again (so it comes after the others).
 */
async function fillTrickyServer(port: number): Promise<void> {
  const random = rng(7);
  const keys = ["palm.cpu", "a..b", "ключ.x", "k{1}", "x*y", "[a]", "."];
  let text = "";
  const values = [0.1, 1e16, 1e-5, -0, 5e-324, 1.7976931348623157e308, 3];
  for (const [i, value] of values.entries()) {
    text += `put palm.cpu ${value === 0 ? "-0.0" : value} ${1000 + i}\n`;
  }
  for (let i = 0; i < 400; i++) {
    const key = keys[Math.floor(random() * keys.length)];
    const value = randomDouble(random).toExponential(20);
    text += `put ${key} ${value} ${Math.floor(random() * 400) - 200}\n`;
  }
  text += `put a..b 7 ${Number.MAX_SAFE_INTEGER}\n`;
  text += `put a..b 8 ${-Number.MAX_SAFE_INTEGER}\n`;
  text += "put palm.cpu 2.5 1000\n"; // replaces 0.1
  text += "delete k{1}\nput k{1} 1 1\n";
  await using connection = await RawConnection.connect(port);
  await connection.send(text);
  const answers = await connection.answers(text.split("\n").length - 1);
  assert(!answers.includes("error"), answers);
}

/** The raw answer to `get *`. */
function getAll(port: number): Promise<string> {
  return exchange(port, "get *\n", 1);
}

Deno.test("`Client.queryRows()` streams a query's rows in its order, chunk by chunk", async (t) => {
  const store = new Store();
  for (let i = 0; i < 20_000; i++) store.put(`s${i % 3}`, i / 4, i);
  store.put("other.key", 1, 5);
  await using server = serve({ hostname: HOST, port: 0, store, token: "tk" });
  await using client = new Client(HOST, server.addr.port, { token: "tk" });

  await t.step("every row, series by series, each by time", async () => {
    const rows: [string, number, number][] = [];
    let chunks = 0;
    for await (const chunk of client.queryRows("**")) {
      chunks++;
      rows.push(...chunk);
    }
    assert(chunks > 1, "more than one chunk");
    equal(rows.length, 20_001);
    const text = rows.map(([key, value, timestamp]) =>
      `${key} ${value} ${timestamp}`
    );
    deepEqual(text.slice(0, 2), ["s0 0 0", "s0 0.75 3"]);
    deepEqual(text.at(-1), "other.key 1 5");
    const sorted = rows.every((row, i) =>
      i === 0 || row[0] !== rows[i - 1][0] || row[2] > rows[i - 1][2]
    );
    assert(sorted, "each series by time");
  });
  await t.step("a pattern and a range", async () => {
    const rows = [];
    for await (const chunk of client.queryRows("s1", { from: 4, to: 10 })) {
      rows.push(...chunk);
    }
    deepEqual(rows, [["s1", 1, 4], ["s1", 1.75, 7], ["s1", 2.5, 10]]);
  });
  await t.step("a break closes its connection", async () => {
    for await (const _ of client.queryRows("**")) break;
    await within(
      (async () => {
        while (server.stats().connections > 1) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })(),
      "the connection closing",
    );
  });
  await t.step("an error answer rejects with ClientError", async () => {
    const rows = client.queryRows("{a")[Symbol.asyncIterator]();
    await assertRejects(rows.next(), /The server answered: invalid pattern/);
    const bad = new Client(HOST, server.addr.port, { token: "wrong" });
    const denied = bad.queryRows("**")[Symbol.asyncIterator]();
    await assertRejects(denied.next(), /Cannot log in to .*: invalid token/);
  });
});

/** Checks that `promise` rejects with a ClientError matching `pattern`. */
async function assertRejects(
  promise: Promise<unknown>,
  pattern: RegExp,
): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof ClientError, String(error));
    assert(pattern.test(error.message), error.message);
    return;
  }
  throw new Error(`no rejection matching ${pattern}`);
}

Deno.test("`Client.putLines()` stores put lines, numbering and refusing the others", async (t) => {
  await using storage = new LocalStorage({ retention: 3600 });
  await using server = serve({ hostname: HOST, port: 0, storage });
  await using client = new Client(HOST, server.addr.port);
  const now = Math.floor(Date.now() / 1000);
  const lines = [
    `put a.b 1 ${now}`,
    "",
    `put a.b 2.5 ${now + 1}\r`,
    "get *",
    "   ",
    `put a.b x ${now}`,
    `put old 1 ${now - 7200}`,
    `put c -0.0 ${now}`,
    `put last 1 ${now}`, // no newline at the end
  ].join("\n");

  for (const window of [1, 2, 4096]) {
    await t.step(`a window of ${window}`, async () => {
      const refused: [number, string][] = [];
      const progress: number[] = [];
      const report = await client.putLines(chunked(bytes(lines), 7), {
        window,
        onRefused: (line, reason) => refused.push([line, reason]),
        onProgress: (counts) => progress.push(counts.bytes),
      });
      deepEqual(report, {
        bytes: bytes(lines).length,
        lines: 7,
        stored: 4,
        refused: 3,
      });
      deepEqual(refused.map(([line]) => line), [4, 6, 7]);
      assert(refused[0][1].includes('"get *"'), refused[0][1]);
      assert(refused[2][1].includes("retention window"), refused[2][1]);
      equal(progress.at(-1), bytes(lines).length);
    });
  }
  deepEqual(await client.get("a.b"), {
    "a.b": [[now, 1], [now + 1, 2.5]],
  });
  deepEqual(await client.get("last"), { last: [[now, 1]] });

  await t.step("a line over 1 MiB is refused unsent", async () => {
    const long = `put ${"k".repeat(1_100_000)} 1 ${now}`;
    const text = `put ok 1 ${now}\n${long}\nput ok 2 ${now}\n${long}`;
    const refused: number[] = [];
    const report = await client.putLines(chunked(bytes(text), 65536), {
      onRefused: (line) => refused.push(line),
    });
    deepEqual(refused, [2, 4]);
    equal(report.stored, 2);
  });
  await t.step("an empty source", async () => {
    deepEqual(await client.putLines(ReadableStream.from([])), {
      bytes: 0,
      lines: 0,
      stored: 0,
      refused: 0,
    });
  });
});

Deno.test("pulse export then pulse import into an empty server gives back get * byte for byte", async () => {
  await using source = serve({ hostname: HOST, port: 0 });
  await using target = serve({ hostname: HOST, port: 0 });
  await fillTrickyServer(source.addr.port);
  const exported = await pulse(["export", "--port", String(source.addr.port)]);
  equal(exported.code, 0, exported.stderr);
  assert(
    /^pulse: exported \d+ lines of 7 series in [\d.]+ s/.test(exported.stderr),
    exported.stderr,
  );
  const imported = await pulse(
    ["import", "-", "--port", String(target.addr.port)],
    { stdin: exported.stdout },
  );
  equal(imported.code, 0, imported.stderr);
  assert(
    /^pulse: imported (\d+) of \1 lines in [\d.]+ s \(.* lines\/s\), 0 refused\n$/
      .test(imported.stderr),
    imported.stderr,
  );
  const expected = await getAll(source.addr.port);
  assert(expected.split("\n").length > 300, expected);
  equal(await getAll(target.addr.port), expected);
});

Deno.test("pulse export takes a pattern and --from/--to in the command line's forms", async () => {
  const store = new Store();
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 10; i++) store.put(`palm.${i % 2}`, i, now - 3600 * i);
  store.put("eardrum.cpu", 1, now);
  await using server = serve({ hostname: HOST, port: 0, store });
  const port = ["--port", String(server.addr.port)];
  const run = await pulse([
    "export",
    "palm.*",
    "--from",
    "-5h",
    "--to",
    "-2h",
    ...port,
  ]);
  equal(run.code, 0, run.stderr);
  equal(
    stdoutText(run),
    `put palm.0 4.0 ${now - 14400}\nput palm.0 2.0 ${now - 7200}\n` +
      `put palm.1 5.0 ${now - 18000}\nput palm.1 3.0 ${now - 10800}\n`,
  );
  const reversed = await pulse([
    "export",
    "--from",
    "now",
    "--to",
    "-1h",
    ...port,
  ]);
  equal(reversed.code, 2, reversed.stderr);
  assert(reversed.stderr.includes("from is after to"), reversed.stderr);
  const json = await pulse(["export", "--json", ...port]);
  equal(json.code, 2, json.stderr);
});

Deno.test("pulse import exits 1 naming the lines refused, and stores the rest", async () => {
  await using storage = new LocalStorage({ retention: 3600 });
  await using server = serve({ hostname: HOST, port: 0, storage });
  const now = Math.floor(Date.now() / 1000);
  const dir = await Deno.makeTempDir({ prefix: "pulse-import-" });
  try {
    const file = `${dir}/lines.txt`;
    const lines = [`put a 1 ${now}`, "get *", `put a 2 ${now + 1}`];
    lines.push(`put b nope ${now}`, "", `put c 1 ${now - 7200}`);
    for (let i = 0; i < 30; i++) lines.push(`bad ${i}`);
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    const run = await pulse([
      "import",
      file,
      "--port",
      String(server.addr.port),
    ]);
    equal(run.code, 1, run.stderr);
    const messages = run.stderr.trimEnd().split("\n");
    equal(
      messages[0],
      'pulse: line 2: not a valid put line (put <key> <value> <timestamp>): "get *"',
    );
    assert(
      messages[2].startsWith(`pulse: line 6: ${now - 7200} is older than`),
      messages[2],
    );
    equal(messages.length, 12, run.stderr);
    assert(
      /^pulse: imported 2 of 35 lines in .*, 33 refused$/.test(messages[10]),
      messages[10],
    );
    const numbers = [2, 4, 6, ...Array.from({ length: 17 }, (_, i) => 7 + i)];
    equal(
      messages[11],
      `pulse: Cannot import 33 of 35 lines: refused lines ${
        numbers.join(", ")
      } and 13 more`,
    );
    equal(
      await getAll(server.addr.port),
      `ok\na 1.0 ${now}\na 2.0 ${now + 1}\n\n`,
    );
    const missing = await pulse(["import", `${dir}/none`, "--port", "1"]);
    equal(missing.code, 1);
    assert(missing.stderr.startsWith(`pulse: Cannot read ${dir}/none: `));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GET /api/export streams what pulse export writes", async (t) => {
  const store = new Store();
  const random = rng(3);
  for (let i = 0; i < 30_000; i++) {
    store.put(
      `host${i % 7}.${i % 3 ? "cpu" : "disk.root"}`,
      randomDouble(random),
      i,
    );
  }
  await using tcp = serve({ hostname: HOST, port: 0, store, token: "tk" });
  await using http = serveHttp({ port: 0, store, token: "tk" });
  const base = `http://${HOST}:${http.addr.port}/api/export`;
  const auth = { authorization: "Bearer tk" };
  const cases: [query: string, args: string[]][] = [
    ["", []],
    ["?match=host1.*", ["host1.*"]],
    ["?match=*.disk.**&from=100&to=2017-01-01", [
      "*.disk.**",
      "--from",
      "100",
      "--to",
      "2017-01-01",
    ]],
  ];
  for (const [query, args] of cases) {
    await t.step(query || "everything", async () => {
      const response = await fetch(base + query, { headers: auth });
      equal(response.status, 200);
      equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      const body = new Uint8Array(await response.arrayBuffer());
      const run = await pulse([
        "export",
        ...args,
        "--port",
        String(tcp.addr.port),
        "--token",
        "tk",
      ]);
      equal(run.code, 0, run.stderr);
      assert(run.stdout.length > 0);
      deepEqual(body, run.stdout);
    });
  }
  await t.step("the token and bad parameters", async () => {
    const denied = await fetch(base);
    equal(denied.status, 401);
    await denied.body?.cancel();
    for (
      const [query, message] of [
        ["?from=5&to=4", "invalid range: from 5 is after to 4"],
        ["?from=soon", "invalid from: soon"],
        ["?match={a", "invalid match: {a"],
      ]
    ) {
      const response = await fetch(base + query, { headers: auth });
      equal(response.status, 400);
      const { error } = await response.json();
      assert(error.startsWith(message), error);
    }
  });
});

Deno.test({
  name: "pulse import and export draw a progress bar on a terminal",
  ignore: !await available("script", ["--version"]),
  async fn() {
    await using server = serve({ hostname: HOST, port: 0 });
    const dir = await Deno.makeTempDir({ prefix: "pulse-progress-" });
    try {
      const file = `${dir}/lines.txt`;
      await Deno.writeTextFile(file, "put a 1 1\nput a 2 2\n");
      const port = String(server.addr.port);
      // script(1) runs the command on a pseudo-terminal; export's stdout
      // goes to a file, so that the bar is drawn.
      for (
        const command of [
          `'${Deno.execPath()}' run -A '${CLI}' import '${file}' --port ${port}`,
          `'${Deno.execPath()}' run -A '${CLI}' export --port ${port} > '${dir}/out'`,
        ]
      ) {
        const child = new Deno.Command("script", {
          args: ["-qec", command, "/dev/null"],
          env: { NO_COLOR: "1" },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const { code, stdout } = await within(child.output(), "script", 30_000);
        // The line is redrawn after a carriage return and an erase.
        const text = decoder.decode(stdout).replaceAll("\x1b[K", "<erase>");
        equal(code, 0, text);
        assert(
          /\r<erase>pulse: (import|export) \[#+-*\] +\d+% {2}\d+ lines {2}[\d,]+ lines\/s {2}ETA \d+:\d\d/
            .test(text),
          JSON.stringify(text),
        );
        assert(
          /\r<erase>pulse: (imported|exported) \d+/.test(text),
          "the line is erased before the summary",
        );
      }
      equal(
        await Deno.readTextFile(`${dir}/out`),
        "put a 1.0 1\nput a 2.0 2\n",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("pulse export and import keep their memory flat however many lines", async () => {
  // A server of its own, so that only the command's memory is measured.
  await using server = await ServerProcess.start([
    "--port",
    "0",
    "--http",
    "off",
    "--memory",
  ]);
  const port = String(server.port);
  const dir = await Deno.makeTempDir({ prefix: "pulse-flat-" });
  try {
    // In export order: series by series, each by time, values as printed.
    const series = 150;
    const perSeries = 20_000;
    const file = await Deno.open(`${dir}/lines.txt`, {
      write: true,
      create: true,
    });
    for (let s = 0; s < series; s++) {
      let text = "";
      for (let i = 0; i < perSeries; i++) {
        // Values as the server prints them: never a whole number.
        const value = `${i % 1000}.${(i % 9) + 1}`;
        text += `put fleet.host${s}.cpu ${value} ${1_600_000_000 + i}\n`;
      }
      const data = bytes(text);
      for (let written = 0; written < data.length;) {
        written += await file.write(data.subarray(written));
      }
    }
    file.close();
    const size = (await Deno.stat(`${dir}/lines.txt`)).size;
    const imported = await pulse(
      ["import", `${dir}/lines.txt`, "--port", port],
      { timeout: 120_000 },
    );
    equal(imported.code, 0, imported.stderr);
    const exported = await pulse(["export", "--port", port], {
      stdoutFile: `${dir}/out.txt`,
      timeout: 120_000,
    });
    equal(exported.code, 0, exported.stderr);
    assert(
      exported.stderr.includes(`exported ${series * perSeries} lines`),
      exported.stderr,
    );
    const same = await new Deno.Command("cmp", {
      args: [`${dir}/lines.txt`, `${dir}/out.txt`],
    }).output();
    equal(same.code, 0, decoder.decode(same.stdout));
    // The runtime takes 48 MiB for a ping, and its collector lets about 100
    // MiB more of young garbage pile up at this pace. Holding the answer,
    // as `pulse get '*'` does, takes 1.6 GiB for these 3,000,000 samples.
    const limit = 256 * 1024 * 1024;
    assert(size > 100 * 1024 * 1024, `the file is ${size} bytes`);
    assert(
      exported.peak > 0 && exported.peak < limit,
      `export peak ${exported.peak}`,
    );
    assert(
      imported.peak > 0 && imported.peak < limit,
      `import peak ${imported.peak}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pulse --help lists export, import and backup, and their flags", async () => {
  const overview = stdoutText(await pulse(["--help"]));
  for (const command of ["export", "import", "backup"]) {
    assert(new RegExp(`^  ${command} `, "m").test(overview), command);
  }
  const cases: [string, string[]][] = [
    ["export", ["--from T", "--to T", "put <key> <value> <timestamp>"]],
    ["import", ["<file|->", "exits 1", "1 MiB"]],
    ["backup", ["--http HOST:PORT", "snapshot.pulse", "--port does not apply"]],
  ];
  for (const [command, texts] of cases) {
    const run = await pulse([command, "--help"]);
    equal(run.code, 0, run.stderr);
    const help = stdoutText(run);
    assert(help.startsWith(`Usage: pulse ${command}`), help);
    for (const text of texts) {
      assert(help.includes(text), `${command}: ${text}`);
    }
  }
});
