/**
 * The limits of issue 5, each against `server.ts` run as a child process
 * with the flag that sets it: `--max-connections`, `--idle-timeout`,
 * `--max-output` and `--max-line-length`; and the hostile clients that no
 * flag needs to stop: one dribbling a byte at a time, one sending a line of
 * hundreds of megabytes, thousands that send nothing. Meanwhile a
 * well-behaved client must get exact answers and the server's resident
 * memory must stay bounded.
 *
 * @module
 */

import { ok as assert, strictEqual as equal } from "node:assert/strict";
import {
  askStats,
  bytes,
  decoder,
  delay,
  ERROR_ANSWER,
  RawConnection,
  ServerProcess,
  within,
} from "./_helpers.ts";

/**
 * A child server's usual arguments: any free port, samples in memory, and no
 * HTTP, which would take the same fixed port in every test server.
 */
const IN_MEMORY = ["--port", "0", "--memory", "--http", "off"];
const PONG = "ok\npong\n\n";
const TOO_MANY = "error\ntoo many connections\n\n";
const MIB = 1024 * 1024;

/** The server's `stats` answer as figures by name. */
async function stats(
  connection: RawConnection,
): Promise<Record<string, number>> {
  return Object.fromEntries(await askStats(connection));
}

/**
 * Asks for `stats` until `name` reads `value`: the server sees a client
 * leave only once it reads the end of its connection.
 */
async function waitForFigure(
  connection: RawConnection,
  name: string,
  value: number,
): Promise<void> {
  await within(
    (async () => {
      while ((await stats(connection))[name] !== value) await delay(20);
    })(),
    `${name} ${value}`,
    20_000,
  );
}

/**
 * Puts `count` samples, `put fill.s<i % 10> <i> <i>`, over one connection
 * and returns the exact answer `get *` must then give.
 */
async function fill(port: number, count: number): Promise<string> {
  const requests: string[] = [];
  const series: string[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < count; i++) {
    requests.push(`put fill.s${i % 10} ${i} ${i}\n`);
    series[i % 10].push(`fill.s${i % 10} ${i}.0 ${i}\n`);
  }
  await using loader = await RawConnection.connect(port);
  // Read while writing: the answers would otherwise fill the buffers.
  const [, answers] = await Promise.all([
    loader.send(requests.join("")),
    loader.answers(count, 60_000),
  ]);
  equal(answers, "ok\n\n".repeat(count));
  return "ok\n" + series.map((lines) => lines.join("")).join("") + "\n";
}

/**
 * A well-behaved client's round trips, each answer checked exactly: at
 * least `rounds` of them, and on while `more()` says so.
 */
async function roundTrips(
  port: number,
  key: string,
  rounds: number,
  more: () => boolean = () => false,
): Promise<void> {
  await using connection = await RawConnection.connect(port);
  for (let i = 0; i < rounds || more(); i++) {
    const series = `${key}.r${i}`;
    await connection.send(
      `put ${series} ${i}.5 ${1_000 + i}\nget ${series}\nping\n`,
    );
    equal(
      await connection.answers(3),
      "ok\n\n" + `ok\n${series} ${i}.5 ${1_000 + i}\n\n` + PONG,
      `round ${i}`,
    );
  }
}

/**
 * Reads exactly `size` bytes straight into one buffer, as fast as they come:
 * a client that never makes the server wait.
 */
async function readExactly(conn: Deno.Conn, size: number): Promise<Uint8Array> {
  const received = new Uint8Array(size);
  for (let filled = 0; filled < size;) {
    const n = await conn.read(received.subarray(filled));
    if (n === null) throw new Error(`closed after ${filled} of ${size} bytes`);
    filled += n;
  }
  return received;
}

/** Whether `data` is `unit` over and over. */
function repeats(data: Uint8Array, unit: Uint8Array): boolean {
  return data.length % unit.length === 0 &&
    data.every((byte, i) => byte === unit[i % unit.length]);
}

/** The soft limit of open files of this process (and of its children). */
async function openFilesLimit(): Promise<number> {
  const limits = await Deno.readTextFile("/proc/self/limits");
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  return match === null || match[1] === "unlimited"
    ? Infinity
    : Number(match[1]);
}

Deno.test("server.ts --max-connections refuses connections past the limit and frees a slot when a client leaves", async () => {
  await using server = await ServerProcess.start([
    ...IN_MEMORY,
    "--max-connections",
    "3",
  ]);
  const clients: RawConnection[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const client = await RawConnection.connect(server.port);
      clients.push(client);
      await client.send("ping\n");
      equal(await client.answers(1), PONG);
    }
    {
      await using refused = await RawConnection.connect(server.port);
      equal(decoder.decode(await refused.readToEnd()), TOO_MANY);
    }
    for (const client of clients) {
      await client.send("ping\n");
      equal(await client.answers(1), PONG, "the admitted clients go on");
    }
    clients.shift()!.close();
    await waitForFigure(clients[0], "connections", 2);
    const newcomer = await RawConnection.connect(server.port);
    clients.push(newcomer);
    await newcomer.send("ping\n");
    equal(await newcomer.answers(1), PONG, "the freed slot is taken");
    {
      await using refused = await RawConnection.connect(server.port);
      equal(decoder.decode(await refused.readToEnd()), TOO_MANY);
    }
    const figures = await stats(clients[0]);
    equal(figures.connections_refused, 2);
    equal(figures.connections_total, 4);
  } finally {
    for (const client of clients) client.close();
  }
});

Deno.test("server.ts --idle-timeout closes silent connections, not active ones", async (t) => {
  await using server = await ServerProcess.start([
    ...IN_MEMORY,
    "--idle-timeout",
    "1s",
  ]);
  // About 11 MB: more than the socket buffers hold at once, so that the
  // server writes it for as long as a client takes to read it.
  const answer = bytes(await fill(server.port, 400_000));
  await t.step("a client that never sends is closed", async () => {
    await using silent = await RawConnection.connect(server.port);
    equal(decoder.decode(await silent.readToEnd()), "");
  });
  await t.step("a client that stops sending is closed", async () => {
    await using quiet = await RawConnection.connect(server.port);
    await quiet.send("ping\n");
    equal(await quiet.answers(1), PONG);
    equal(decoder.decode(await quiet.readToEnd()), "");
  });
  await t.step("a client half-way through a line is closed", async () => {
    await using stalled = await RawConnection.connect(server.port);
    await stalled.send("put half.way 1");
    equal(decoder.decode(await stalled.readToEnd()), "");
  });
  await t.step("a client that keeps sending stays", async () => {
    await using active = await RawConnection.connect(server.port);
    // Three times the timeout, one request every tenth of it.
    for (let i = 0; i < 30; i++) {
      await active.send("ping\n");
      equal(await active.answers(1), PONG, `ping ${i}`);
      await delay(100);
    }
  });
  await t.step(
    "a client slowly taking a long answer stays until it has it all",
    async () => {
      await using reader = await RawConnection.connect(server.port);
      await reader.send("get *\n");
      const received = new Uint8Array(answer.length);
      const piece = new Uint8Array(32 * 1024);
      let filled = 0;
      await within(
        (async () => {
          while (filled < answer.length) {
            const n = await reader.conn.read(piece);
            if (n === null) break;
            received.set(piece.subarray(0, n), filled);
            filled += n;
            await delay(10);
          }
        })(),
        "the slow read",
        60_000,
      );
      equal(
        filled,
        answer.length,
        `closed after ${filled} of ${answer.length} bytes while the client was reading`,
      );
      assert(received.every((byte, i) => byte === answer[i]));
    },
  );
  await t.step("a client that stops taking its answers is closed", async () => {
    await using sluggard = await RawConnection.connect(server.port);
    // Far more than the socket buffers can hold: the server's writes stall.
    await sluggard.send("get *\n".repeat(8));
    {
      // Read only once the server has let it go.
      await using observer = await RawConnection.connect(server.port);
      await waitForFigure(observer, "connections", 1);
    }
    const received = await sluggard.readToEnd(60_000);
    assert(
      received.length < 8 * answer.length,
      `all ${received.length} bytes came`,
    );
    assert(
      received.subarray(0, answer.length).every((byte, i) =>
        byte === answer[i]
      ),
    );
  });
});

Deno.test("server.ts --max-output disconnects a client that falls behind by more, and logs it", async (t) => {
  await t.step(
    "past a low limit: disconnected, the event on stderr",
    async () => {
      await using server = await ServerProcess.start([
        ...IN_MEMORY,
        "--max-output",
        "16KiB",
      ]);
      const answer = await fill(server.port, 10_000); // about 170 KB
      await using hog = await RawConnection.connect(server.port);
      const hogPort = (hog.conn.localAddr as Deno.NetAddr).port;
      await hog.send("get *\n");
      const [line] = await server.waitForStderr(
        new RegExp(
          `^\\{.*"event":"close","conn":\\d+,"addr":"127\\.0\\.0\\.1:${hogPort}",.*$`,
          "m",
        ),
      );
      const event = JSON.parse(line);
      equal(event.level, "warn");
      equal(event.reason, "output");
      assert(
        /^cannot hold more answers for the client: \d+ bytes unread, the limit is 16384$/
          .test(event.error),
        line,
      );
      const received = decoder.decode(await hog.readToEnd());
      assert(received.length < answer.length, "the answer was cut off");
      assert(answer.startsWith(received), "what came is a prefix");
      await roundTrips(server.port, "others.fine", 10);
    },
  );
  await t.step(
    "under the default: a client that stops reading is held back, not cut off",
    async () => {
      await using server = await ServerProcess.start([
        ...IN_MEMORY,
      ]);
      const before = server.memory().rss;
      const count = 4_000_000; // 20 MB of pings, 44 MB of answers
      await using sluggard = await RawConnection.connect(server.port);
      const sending = sluggard.send("ping\n".repeat(count));
      await using observer = await RawConnection.connect(server.port);
      // The server stops reading once the answers back up: bytes_in then
      // grows by the observer's own requests only.
      let last = -1;
      await within(
        (async () => {
          while (true) {
            const { bytes_in } = await stats(observer);
            if (bytes_in - last === "stats\n".length) break;
            last = bytes_in;
            await delay(500);
          }
        })(),
        "bytes_in to stop growing",
        30_000,
      );
      assert(last < 5 * count, `read ${last} of ${5 * count} bytes`);
      const grown = server.memory().rss - before;
      assert(grown < 64 * MIB, `RSS grew ${grown} bytes`);
      await roundTrips(server.port, "others.fine", 10);
      const answers = await sluggard.answers(count, 60_000);
      await sending;
      equal(answers.length, PONG.length * count);
      equal(answers, PONG.repeat(count));
      assert(!server.stderr.includes("Closed"), server.stderr);
    },
  );
});

Deno.test("server.ts --max-line-length answers an over-long line once and goes on", async (t) => {
  await using server = await ServerProcess.start([
    ...IN_MEMORY,
    "--max-line-length",
    "1KiB",
  ]);
  await using connection = await RawConnection.connect(server.port);
  /** A put of `key`, padded with spaces to `length` bytes. */
  const padded = (key: string, length: number) => {
    const line = `put ${key} 1 1`;
    return line + " ".repeat(length - line.length);
  };
  await t.step("over the limit in one write", async () => {
    await connection.send(`${padded("long.one", 2000)}\nping\n`);
    equal(await connection.answers(2), ERROR_ANSWER + PONG);
  });
  await t.step("over the limit in 100-byte writes", async () => {
    const data = bytes(`${padded("long.two", 5000)}\nping\n`);
    for (let i = 0; i < data.length; i += 100) {
      await connection.send(data.subarray(i, i + 100));
    }
    equal(await connection.answers(2), ERROR_ANSWER + PONG);
  });
  await t.step("at the limit, a \\r counting", async () => {
    await connection.send(
      `${padded("at.limit", 1024)}\n${padded("over.by.one", 1025)}\n` +
        `${padded("at.limit.cr", 1023)}\r\n${padded("over.cr", 1024)}\r\n`,
    );
    equal(
      await connection.answers(4),
      "ok\n\n" + ERROR_ANSWER + "ok\n\n" + ERROR_ANSWER,
    );
  });
  await t.step("only the lines within the limit were stored", async () => {
    await connection.send("get *\n");
    equal(
      await connection.answers(1),
      "ok\nat.limit 1.0 1\nat.limit.cr 1.0 1\n\n",
    );
  });
});

/**
 * Asks for `stats` over `observer` again and again while `busy` runs, and
 * returns the values `figure` had, less its value before: how far a busy
 * client's work had got each time the observer was answered. Work, not time:
 * a server that gives way answers the observer all along.
 */
async function watch(
  observer: RawConnection,
  figure: string,
  busy: Promise<unknown>,
): Promise<number[]> {
  let running = true;
  busy.finally(() => running = false);
  const start = (await stats(observer))[figure];
  const seen: number[] = [];
  while (running) seen.push((await stats(observer))[figure] - start);
  await busy;
  return seen;
}

/** What {@linkcode watch} saw, in short, for a message. */
function sightings(seen: number[]): string {
  const distinct = [...new Set(seen)];
  return `${seen.length} answers during it, at ${
    distinct.slice(0, 10).join(", ")
  }${distinct.length > 10 ? ", ..." : ""}`;
}

Deno.test("server.ts gives way to others while one client keeps it busy", async (t) => {
  await t.step("a client pipelining millions of puts", async () => {
    await using server = await ServerProcess.start(IN_MEMORY);
    await using observer = await RawConnection.connect(server.port);
    const count = 4_000_000; // 40 MB
    await using flooder = await RawConnection.connect(server.port);
    const answers = readExactly(flooder.conn, 4 * count);
    const seen = await watch(
      observer,
      "commands_put",
      Promise.all([flooder.send("put f 1 1\n".repeat(count)), answers]),
    );
    assert(repeats(await answers, bytes("ok\n\n")), "every put answered ok");
    assert(
      seen.some((done) => done > count / 4 && done < count * 3 / 4),
      `of ${count} puts, the observer got ${sightings(seen)}`,
    );
  });
  await t.step(
    "a client reading a long answer as fast as it comes",
    async () => {
      await using server = await ServerProcess.start(IN_MEMORY);
      await using observer = await RawConnection.connect(server.port);
      const answer = bytes(await fill(server.port, 1_000_000)); // 27 MB
      const size = 2 * answer.length;
      await using reader = await RawConnection.connect(server.port);
      await reader.send("get *\nget *\n");
      const received = readExactly(reader.conn, size);
      const seen = await watch(observer, "bytes_out", received);
      assert(repeats(await received, answer), "both answers whole");
      // The observer's own answers count too, a few hundred bytes each.
      const firstDuring = seen.find((sent) => sent > 64 * 1024);
      assert(
        firstDuring !== undefined && firstDuring < size * 3 / 4,
        `of ${size} bytes, the observer got ${sightings(seen)}`,
      );
    },
  );
});

Deno.test("server.ts answers clients dribbling a byte at a time, and others meanwhile", async () => {
  await using server = await ServerProcess.start(IN_MEMORY);
  const dribble = async (d: number): Promise<void> => {
    await using dribbler = await RawConnection.connect(server.port);
    (dribbler.conn as Deno.TcpConn).setNoDelay(true);
    const key = `dribble.d${d}`;
    let samples = "";
    for (let round = 0; round < 4; round++) {
      const script = bytes(
        `put ${key} ${round}.25 ${round}\r\nget ${key}\n\nping\n`,
      );
      for (const byte of script) {
        await dribbler.send(Uint8Array.of(byte));
        await delay(1);
      }
      samples += `${key} ${round}.25 ${round}\n`;
      equal(
        await dribbler.answers(3),
        "ok\n\n" + `ok\n${samples}\n` + PONG,
        `dribbler ${d}, round ${round}`,
      );
    }
  };
  let dribbling = true;
  const dribblers = Promise.all(
    Array.from({ length: 5 }, (_, d) => dribble(d)),
  ).finally(() => dribbling = false);
  await roundTrips(server.port, "steady.client", 20, () => dribbling);
  await dribblers;
});

Deno.test("server.ts answers a 300 MB line with one error, its memory bounded", async () => {
  await using server = await ServerProcess.start(IN_MEMORY);
  const before = server.memory().rss;
  await using sender = await RawConnection.connect(server.port);
  await using other = await RawConnection.connect(server.port);
  const piece = new Uint8Array(MIB).fill(0x37); // "7"
  await sender.send("put huge.line ");
  for (let i = 0; i < 300; i++) {
    await sender.send(piece);
    if (i % 50 === 0) {
      await other.send("ping\n");
      equal(await other.answers(1), PONG, `meanwhile, at ${i} MiB`);
    }
  }
  await sender.send(" 1\nping\nget *\n");
  equal(await sender.answers(3), ERROR_ANSWER + PONG + "ok\n\n");
  const { peak } = server.memory();
  assert(
    peak - before < 64 * MIB,
    `peak RSS ${peak} bytes, ${before} before the line`,
  );
});

Deno.test("server.ts serves a client while thousands of connections send nothing", async () => {
  // Each connection costs this process and the server one descriptor.
  const count = Math.min(2000, (await openFilesLimit()) - 500);
  assert(count >= 500, "ulimit -n is too low for this test");
  await using server = await ServerProcess.start(IN_MEMORY);
  const before = server.memory().rss;
  const idle: Deno.Conn[] = [];
  try {
    for (let i = 0; i < count; i += 100) {
      const batch = Math.min(100, count - i);
      idle.push(
        ...await Promise.all(
          Array.from(
            { length: batch },
            () => Deno.connect({ hostname: "127.0.0.1", port: server.port }),
          ),
        ),
      );
    }
    // Half of them stop in the middle of a line.
    const partial = bytes("put idle.partial 1");
    await Promise.all(
      idle.map((conn, i) => i % 2 === 1 ? conn.write(partial) : undefined),
    );
    await using observer = await RawConnection.connect(server.port);
    await waitForFigure(observer, "connections", count + 1);
    await roundTrips(server.port, "busy.client", 100);
    const grown = server.memory().rss - before;
    assert(
      grown < count * 64 * 1024,
      `RSS grew ${grown} bytes for ${count} connections`,
    );
  } finally {
    for (const conn of idle) conn.close();
  }
});
