/**
 * `server.ts` with its Graphite flags: `--graphite`, `--pickle` and
 * `--graphite-max-connections`, the figures in `stats` and `/metrics`, a
 * default port that is taken, and samples that survive a crash under
 * `--fsync always`.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import {
  askStats,
  bytes,
  delay,
  exchange,
  HOST,
  RawConnection,
  ServerProcess,
  within,
} from "./_helpers.ts";

const PLAINTEXT =
  /^pulse: graphite plaintext listening on 127\.0\.0\.1:(\d+)$/m;
const UDP = /^pulse: graphite udp listening on 127\.0\.0\.1:(\d+)$/m;
const PICKLE = /^pulse: graphite pickle listening on 127\.0\.0\.1:(\d+)$/m;
const HTTP = /^pulse: http listening on http:\/\/127\.0\.0\.1:(\d+)$/m;

/** Sends `text` on a new TCP connection and closes it. */
async function send(port: number, data: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: HOST, port });
  try {
    for (let at = 0; at < data.length;) {
      at += await conn.write(data.subarray(at));
    }
  } finally {
    conn.close();
  }
}

/** The server's figures by name, from `stats`. */
async function figures(port: number): Promise<Record<string, number>> {
  await using connection = await RawConnection.connect(port);
  return Object.fromEntries(await askStats(connection));
}

/** Waits until the `stats` figure `name` is `value`. */
async function figure(port: number, name: string, value: number) {
  await within(
    (async () => {
      while ((await figures(port))[name] !== value) await delay(20);
    })(),
    `${name} reaching ${value}`,
  );
}

Deno.test("server.ts takes Graphite plaintext and pickle beside its protocol", async () => {
  await using server = await ServerProcess.start([
    "--port",
    "0",
    "--memory",
    "--http",
    "127.0.0.1:0",
    "--graphite",
    "127.0.0.1:0",
    "--pickle",
    "127.0.0.1:0",
  ]);
  const [, plaintext] = await server.waitForStderr(PLAINTEXT);
  const [, udp] = await server.waitForStderr(UDP);
  const [, pickle] = await server.waitForStderr(PICKLE);
  const [, http] = await server.waitForStderr(HTTP);
  equal(udp, plaintext);
  await send(Number(plaintext), bytes("palm.cpu 10.6 1501864247\nbad\n"));
  // pickle.dumps([("palm.mem", (1501864247, 2))], protocol=0)
  const pickled = bytes("(lp0\n(Vpalm.mem\np1\n(I1501864247\nI2\ntp2\ntp3\na.");
  const framed = new Uint8Array(4 + pickled.length);
  new DataView(framed.buffer).setUint32(0, pickled.length);
  framed.set(pickled, 4);
  await send(Number(pickle), framed);
  await figure(server.port, "graphite_pickle_samples_total", 1);
  await figure(server.port, "graphite_lines_total", 1);
  equal(
    await exchange(server.port, "get palm.cpu\nget palm.mem\n", 2),
    "ok\npalm.cpu 10.6 1501864247\n\nok\npalm.mem 2.0 1501864247\n\n",
  );
  const stats = await figures(server.port);
  equal(stats.graphite_bad_lines_total, 1);
  equal(stats.graphite_connections_total, 2);
  const metrics = await (await fetch(`http://${HOST}:${http}/metrics`)).text();
  assert(metrics.includes("\npulse_graphite_lines_total 1\n"), metrics);
  assert(
    metrics.includes("# TYPE pulse_graphite_lines_total counter\n"),
    metrics,
  );
  server.child.kill("SIGTERM");
  equal((await server.exit()).code, 0, server.stderr);
});

Deno.test("server.ts caps Graphite connections with --graphite-max-connections", async () => {
  await using server = await ServerProcess.start([
    "--port",
    "0",
    "--memory",
    "--http",
    "off",
    "--graphite",
    "127.0.0.1:0",
    "--graphite-max-connections",
    "1",
  ]);
  const port = Number((await server.waitForStderr(PLAINTEXT))[1]);
  const first = await Deno.connect({ hostname: HOST, port });
  await first.write(bytes("cap.first 1 1\n"));
  await figure(server.port, "graphite_lines_total", 1);
  const second = await Deno.connect({ hostname: HOST, port });
  equal(await within(second.read(new Uint8Array(1)), "the refusal"), null);
  second.close();
  first.close();
  equal(
    (await figures(server.port)).graphite_connections_refused_total,
    1,
  );
});

Deno.test("server.ts with --graphite off takes no Graphite", async () => {
  await using server = await ServerProcess.start([
    "--port",
    "0",
    "--memory",
    "--http",
    "off",
    "--graphite",
    "off",
  ]);
  const stats = await figures(server.port);
  assert(!server.stderr.includes("graphite"), server.stderr);
  equal(stats.graphite_lines_total, undefined);
});

Deno.test("server.ts goes on without Graphite when only the default port is taken", async (t) => {
  let holder: Deno.Listener | undefined;
  try {
    holder = Deno.listen({ hostname: HOST, port: 2003 });
  } catch (error) {
    // Another server holds it already: taken all the same.
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
  }
  try {
    await t.step("the default: a warning", async () => {
      await using server = await ServerProcess.start([
        "--port",
        "0",
        "--memory",
        "--http",
        "off",
      ], { graphite: true });
      await server.waitForStderr(
        /^pulse: warning: not taking Graphite plaintext: 127\.0\.0\.1:2003 is in use \(choose another with --graphite HOST:PORT, or --graphite off\)$/m,
      );
      equal(await exchange(server.port, "ping\n", 1), "ok\npong\n\n");
    });
    await t.step("given: the server does not start", async () => {
      await using server = ServerProcess.spawn([
        "--port",
        "0",
        "--memory",
        "--http",
        "off",
        "--graphite",
        "127.0.0.1:2003",
      ]);
      const status = await server.exit();
      equal(status.code, 1, server.stderr);
      assert(/^pulse: .*in use/im.test(server.stderr), server.stderr);
    });
  } finally {
    holder?.close();
  }
});

Deno.test("server.ts refuses bad Graphite flags with its usage", async (t) => {
  const cases: [args: string[], message: string][] = [
    [
      ["--graphite", "2003"],
      "pulse: --graphite must be HOST:PORT, such as 127.0.0.1:2003, or off",
    ],
    [
      ["--pickle", "127.0.0.1:99999"],
      "pulse: --pickle must be HOST:PORT, such as 127.0.0.1:2004, or off",
    ],
    [
      ["--graphite-max-connections", "0"],
      "pulse: --graphite-max-connections must be",
    ],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), async () => {
      await using server = ServerProcess.spawn(args);
      const status = await server.exit();
      equal(status.code, 2, server.stderr);
      assert(server.stderr.startsWith(message), server.stderr);
      assert(server.stderr.includes("Usage:"), server.stderr);
    });
  }
});

Deno.test("server.ts keeps Graphite samples through a crash under --fsync always", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-graphite-" });
  try {
    const args = [
      "--port",
      "0",
      "--http",
      "off",
      "--data",
      dir,
      "--fsync",
      "always",
      "--graphite",
      "127.0.0.1:0",
    ];
    const lines = Array.from(
      { length: 2000 },
      (_, i) => `crash.${i % 20} ${i} ${1501864247 + i}\n`,
    );
    {
      await using server = await ServerProcess.start(args);
      const port = Number((await server.waitForStderr(PLAINTEXT))[1]);
      await send(port, bytes(lines.join("")));
      // Counted once committed: under --fsync always, once on disk.
      await figure(server.port, "graphite_lines_total", 2000);
      server.child.kill("SIGKILL");
      await server.exit();
    }
    await using server = await ServerProcess.start(args);
    const answer = await exchange(server.port, "get crash.7\n", 1);
    const rows = answer.split("\n").slice(1, -2);
    equal(rows.length, 100);
    deepEqual(rows[0], `crash.7 7.0 ${1501864247 + 7}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
