/**
 * The hardening promise, checked the way an attacker and an operator would:
 * while a hostile client sends each attack, a polite one pings every 20 ms
 * and every one of its answers must come within 100 ms. The server runs as
 * a child process, so that a stalled event loop shows in the pinger's
 * latencies instead of stalling the pinger too.
 *
 * @module
 */

import { ok as assert, strictEqual as equal } from "node:assert/strict";
import {
  askStats,
  available,
  decoder,
  delay,
  encoder,
  HOST,
  RawConnection,
  ServerProcess,
  type ServerProcessOptions,
  within,
} from "./_helpers.ts";
import { serveHttp } from "../http.ts";
import { Store } from "../store.ts";

const TOKEN = "s3cret";
// The promise: no single request may hold the event loop about 50 ms; a
// ping answered later than this means one did.
const MAX_PING_MS = 100;
const PING_EVERY_MS = 20;

/**
 * A client that pings every 20 ms and keeps the slowest answer's time: in a
 * process of its own (`tests/_pinger.ts`), so that the test's own work
 * cannot delay it.
 */
class Pinger implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #reading: Promise<void>;
  #since = 0;
  #stderr = "";
  /** The slowest ping since the last reset, in milliseconds. */
  worst = 0;
  /** Pings answered since the last reset. */
  answered = 0;
  /** What ended the pinging early, if anything did. */
  failure: Error | undefined;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#reading = this.#read();
  }

  /** Starts pinging (logged in first, with a token) once connected. */
  static async start(port: number, token?: string): Promise<Pinger> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_pinger.ts", import.meta.url).pathname,
        String(port),
        ...(token === undefined ? [] : [token]),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pinger = new Pinger(child);
    await within(
      (async () => {
        while (pinger.answered === 0 && pinger.failure === undefined) {
          await delay(5);
        }
      })(),
      "the first ping",
      30_000,
    );
    if (pinger.failure !== undefined) throw pinger.failure;
    return pinger;
  }

  /** Forgets the figures so far, to measure one attack at a time. */
  reset(): void {
    this.#since = this.#last;
    this.worst = 0;
    this.answered = 0;
  }

  #last = 0;

  async #read(): Promise<void> {
    const lines = this.#child.stdout.pipeThrough(new TextDecoderStream());
    let rest = "";
    for await (const text of lines) {
      rest += text;
      let newline;
      while ((newline = rest.indexOf("\n")) !== -1) {
        const [at, latency] = rest.slice(0, newline).split(" ").map(Number);
        rest = rest.slice(newline + 1);
        this.#last = at;
        if (at < this.#since) continue;
        this.worst = Math.max(this.worst, latency);
        this.answered++;
      }
    }
    for await (
      const text of this.#child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      this.#stderr += text;
    }
    const status = await this.#child.status;
    if (!status.success) {
      this.failure = new Error(`the polite client failed: ${this.#stderr}`);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#child.stdin.close();
    await this.#reading;
  }
}

/**
 * Runs `attack` while `pinger` pings, and checks that the pings kept coming
 * in time, throughout and for a moment after.
 */
async function underAttack<T>(
  pinger: Pinger,
  attack: () => Promise<T>,
): Promise<T> {
  pinger.reset();
  const result = await within(attack(), "the attack's answer", 60_000);
  await delay(5 * PING_EVERY_MS);
  if (pinger.failure !== undefined) throw pinger.failure;
  assert(pinger.answered > 0, "the polite client got no answer");
  assert(
    pinger.worst < MAX_PING_MS,
    `a ping took ${pinger.worst.toFixed(1)} ms`,
  );
  return result;
}

/** Sends `line` and reads one answer. */
async function ask(port: number, line: string, token?: string) {
  await using connection = await RawConnection.connect(port);
  if (token !== undefined) {
    await connection.send(`auth ${token}\n`);
    equal(await connection.answers(1), "ok\n\n");
  }
  await connection.send(`${line}\n`);
  return await connection.answers(1, 60_000);
}

Deno.test("server.ts answers a polite client within 100 ms during each protocol attack", async (t) => {
  await using server = await ServerProcess.start([
    "--port=0",
    "--memory",
    "--http=off",
    `--token=${TOKEN}`,
  ]);
  await using pinger = await Pinger.start(server.port, TOKEN);

  await t.step(
    "a brace bomb before auth is refused without being parsed",
    async () => {
      const answer = await underAttack(
        pinger,
        () => ask(server.port, `keys ${"{a,a}".repeat(30)}`),
      );
      equal(answer, "error\nauthentication required\n\n");
    },
  );
  await t.step("a brace bomb after auth is refused by counting", async () => {
    const answer = await underAttack(
      pinger,
      () => ask(server.port, `keys ${"{a,a}".repeat(30)}`, TOKEN),
    );
    assert(/^error\ninvalid pattern .*alternatives/.test(answer), answer);
  });
  await t.step("runs of * against a long key cannot backtrack", async () => {
    equal(
      await ask(server.port, `put ${"a".repeat(24)}.cpu 1 1`, TOKEN),
      "ok\n\n",
    );
    for (const stars of [12, 40, 4000]) {
      const answer = await underAttack(
        pinger,
        () => ask(server.port, `keys ${"*".repeat(stars)}x.cpu`, TOKEN),
      );
      equal(answer, "ok\n\n");
    }
  });
  await t.step(
    "a 4 KiB pattern of alternatives and stars compiles cheaply",
    async () => {
      const pattern = `${"{a,b}".repeat(10)}${"*".repeat(4000)}`;
      const answer = await underAttack(
        pinger,
        () => ask(server.port, `keys ${pattern}`, TOKEN),
      );
      assert(answer === "ok\n\n" || answer.startsWith("error\n"), answer);
    },
  );
});

Deno.test("server.ts gives way to a polite client while it matches, lists and deletes every key of a large store", async (t) => {
  await using server = await ServerProcess.start([
    "--port=0",
    "--memory",
    "--http=off",
  ]);
  const SERIES = 200_000;
  {
    await using loader = await RawConnection.connect(server.port);
    const lines: string[] = [];
    for (let i = 0; i < SERIES; i++) lines.push(`put h${i}.m ${i} 1\n`);
    await loader.send(lines.join(""));
    await loader.answers(SERIES, 120_000);
  }
  await using pinger = await Pinger.start(server.port);
  await t.step("keys ** lists every key", async () => {
    const count = await underAttack(pinger, async () => {
      await using connection = await RawConnection.connect(server.port);
      await connection.send("keys **\n");
      return (await connection.answers(1, 60_000)).split("\n").length - 3;
    });
    equal(count, SERIES);
  });
  await t.step("keys *.m and delete *.m go through every key", async () => {
    equal(
      await underAttack(pinger, () => ask(server.port, "keys *.x")),
      "ok\n\n",
    );
    const answer = await underAttack(
      pinger,
      () => ask(server.port, "delete *.m"),
    );
    equal(answer, `ok\n${SERIES}\n\n`);
  });
});

Deno.test("server.ts lives through running out of descriptors", {
  ignore: !(await available("prlimit", ["--version"])),
}, async (t) => {
  // A limit below --max-connections: accepting fails with EMFILE first.
  await using server = await ServerProcess.start(
    ["--port=0", "--memory", "--http=off", "--max-connections=500"],
    { descriptors: 128 },
  );
  await t.step("it warns at start that the limit is below the cap", () => {
    assert(
      /warning: the descriptor limit \(ulimit -n 128\)/.test(server.stderr),
    );
  });
  await using pinger = await Pinger.start(server.port);
  const flood: Deno.Conn[] = [];
  try {
    await t.step(
      "a flood of idle connections neither ends it nor stalls it",
      async () => {
        await underAttack(pinger, async () => {
          for (let i = 0; i < 300; i++) {
            flood.push(
              await Deno.connect({ hostname: HOST, port: server.port }),
            );
          }
        });
        // The connections past the descriptors are refused, not left hanging.
        const refused = await Promise.all(flood.map(async (conn) => {
          const buffer = new Uint8Array(64);
          const n = await within(
            Promise.race([conn.read(buffer), delay(500).then(() => -1)]),
            "a flooding connection",
          );
          return n !== -1;
        }));
        assert(refused.filter(Boolean).length > 0, "no connection was refused");
      },
    );
  } finally {
    for (const conn of flood) conn.close();
  }
  await t.step("once they close, new connections are served", async () => {
    const answer = await within(
      (async () => {
        while (true) {
          const text = await ask(server.port, "ping").catch(() => "");
          if (text === "ok\npong\n\n") return text;
          await delay(100);
        }
      })(),
      "a ping after the flood",
    );
    equal(answer, "ok\npong\n\n");
  });
});

Deno.test("server.ts refuses limits that would refuse everything", async (t) => {
  for (
    const [flag, message] of [
      ["--max-connections=0", "--max-connections must be at least 1"],
      ["--max-line-length=0", "--max-line-length must be at least 1 byte"],
      ["--max-output=0", "--max-output must be at least 1 byte"],
      ["--retention=0s", "--retention must be at least 1s"],
      [
        "--http-max-connections=0",
        "--http-max-connections must be at least 1",
      ],
      ["--max-body=0", "--max-body must be at least 1 byte"],
    ]
  ) {
    await t.step(flag, async () => {
      await using server = ServerProcess.spawn([
        "--port=0",
        "--memory",
        "--http=off",
        flag,
      ]);
      const status = await server.exit();
      equal(status.code, 2);
      assert(server.stderr.includes(message), server.stderr);
    });
  }
});

/** Sends a raw HTTP/1.1 request and reads the whole answer. */
async function rawHttp(port: number, head: string, body = ""): Promise<string> {
  await using connection = await RawConnection.connect(port);
  await connection.send(
    `${head}\r\ncontent-length: ${
      new TextEncoder().encode(body).length
    }\r\nconnection: close\r\n\r\n${body}`,
  );
  return new TextDecoder().decode(await connection.readToEnd());
}

Deno.test("serveHttp() serves only the host names it has (DNS rebinding)", async (t) => {
  const store = new Store();
  await using server = serveHttp({
    port: 0,
    store,
    hosts: ["metrics.example.org"],
  });
  const port = server.addr.port;
  const put = (host: string, origin = new URL(`http://${host}`).origin) =>
    rawHttp(
      port,
      `POST /api/put HTTP/1.1\r\nhost: ${host}\r\norigin: ${origin}`,
      "x 1 1",
    );
  await t.step(
    "a rebound name is refused with 421 and stores nothing",
    async () => {
      const answer = await put(`evil.example:${port}`);
      assert(answer.startsWith("HTTP/1.1 421 "), answer);
      assert(answer.includes("--http-host"), answer);
      equal(store.stats.samples, 0);
      const read = await rawHttp(
        port,
        `GET /api/keys HTTP/1.1\r\nhost: evil.example:${port}`,
      );
      assert(read.startsWith("HTTP/1.1 421 "), read);
    },
  );
  for (
    const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `[::1]:${port}`,
      "metrics.example.org",
      "METRICS.example.org.",
    ]
  ) {
    await t.step(`${host} is served`, async () => {
      const answer = await put(host);
      assert(answer.startsWith("HTTP/1.1 204 "), answer);
    });
  }
});

const HTTP_LISTENING =
  /^pulse: http listening on http:\/\/127\.0\.0\.1:(\d+)$/m;

/** `server.ts` in memory with HTTP on a free port, and that port. */
async function startWithHttp(
  args: string[],
  options?: ServerProcessOptions,
): Promise<{ server: ServerProcess; httpPort: number }> {
  const server = await ServerProcess.start(
    ["--port=0", "--memory", "--http=127.0.0.1:0", ...args],
    options,
  );
  try {
    const [, port] = await server.waitForStderr(HTTP_LISTENING);
    return { server, httpPort: Number(port) };
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

/** The samples a server holds, as its `stats` says. */
async function storedSamples(port: number): Promise<number> {
  await using connection = await RawConnection.connect(port);
  return new Map(await askStats(connection)).get("samples")!;
}

/**
 * A put body of about `size` bytes: lines of 1000 series, a sample each
 * per second, the same samples for the same size. Written into the bytes a
 * piece at a time, so that its lines die young and leave the test's own
 * garbage collector no work that would delay the pings.
 */
function putBody(size: number): { body: Uint8Array; lines: number } {
  const body = new Uint8Array(size + 1024);
  let length = 0;
  let lines = 0;
  let text = "";
  while (length + text.length < size) {
    text += `fleet.host-${String(lines % 1000).padStart(4, "0")}.cpu.user ${
      (lines % 977) / 8
    } ${1_600_000_000 + Math.floor(lines / 1000)}\n`;
    lines++;
    if (text.length >= 64 * 1024) {
      length += encoder.encodeInto(text, body.subarray(length)).written;
      text = "";
    }
  }
  length += encoder.encodeInto(text, body.subarray(length)).written;
  return { body: body.subarray(0, length), lines };
}

/**
 * Posts a put body over a raw connection, written in pieces as the server
 * takes them, and reads the whole answer.
 */
async function rawPut(port: number, body: Uint8Array): Promise<string> {
  await using connection = await RawConnection.connect(port);
  await connection.send(
    `POST /api/put HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
  );
  const piece = 256 * 1024;
  for (let i = 0; i < body.length; i += piece) {
    await connection.send(body.subarray(i, i + piece));
  }
  return decoder.decode(await connection.readToEnd(60_000));
}

const MIB = 1024 * 1024;

Deno.test("server.ts answers a polite client within 100 ms during each HTTP attack", async (t) => {
  await t.step("a slowloris head is closed by the header timeout", async () => {
    const { server, httpPort } = await startWithHttp([]);
    await using _ = server;
    await using pinger = await Pinger.start(server.port);
    const answer = await underAttack(pinger, async () => {
      await using connection = await RawConnection.connect(httpPort);
      await connection.send(`GET /health HTTP/1.1\r\nhost: ${HOST}\r\n`);
      // A header line a byte a second, for ever: only the timeout ends it.
      const dripping = (async () => {
        try {
          while (true) {
            await delay(1_000);
            await connection.send("x");
          }
        } catch {
          // Closed by the server.
        }
      })();
      const text = decoder.decode(await connection.readToEnd(30_000));
      connection.close();
      await dripping;
      return text;
    });
    assert(answer.startsWith("HTTP/1.1 408 "), answer);
    assert(/\r\nconnection: close\r\n/i.test(answer), answer);
  });

  await t.step(
    "a 62 MiB put under --max-body 64MiB: stored whole, memory under twice the body",
    async () => {
      const { body, lines } = putBody(62 * MIB);
      const { server, httpPort } = await startWithHttp(["--max-body=64MiB"]);
      await using _ = server;
      await using pinger = await Pinger.start(server.port);
      const before = server.memory();
      const answer = await underAttack(pinger, () => rawPut(httpPort, body));
      assert(answer.startsWith("HTTP/1.1 204 "), answer);
      equal(await storedSamples(server.port), lines);
      const growth = server.memory().peak - before.rss;
      assert(
        growth < 2 * body.length,
        `resident memory grew by ${(growth / MIB).toFixed(0)} MiB`,
      );
    },
  );

  await t.step(
    "four 62 MiB puts at once take turns within --max-body",
    async () => {
      const { body, lines } = putBody(62 * MIB);
      const { server, httpPort } = await startWithHttp(["--max-body=64MiB"]);
      await using _ = server;
      await using pinger = await Pinger.start(server.port);
      const before = server.memory();
      const answers = await underAttack(
        pinger,
        () => Promise.all([0, 1, 2, 3].map(() => rawPut(httpPort, body))),
      );
      for (const answer of answers) {
        // Stored, or told to come back once the others are done.
        assert(
          answer.startsWith("HTTP/1.1 204 ") ||
            (answer.startsWith("HTTP/1.1 503 ") &&
              /\r\nretry-after: \d+\r\n/i.test(answer)),
          answer,
        );
      }
      assert(answers.some((answer) => answer.startsWith("HTTP/1.1 204 ")));
      // The four write the same samples.
      equal(await storedSamples(server.port), lines);
      // The bodies in flight hold at most --max-body together: with what the
      // garbage collector has yet to free of the ones before, the process
      // grows by a few times that at most, not by the sum of the bodies
      // (measured: about 2 times, however many bodies come).
      const growth = server.memory().peak - before.rss;
      assert(
        growth < 3 * 64 * MIB,
        `resident memory grew by ${(growth / MIB).toFixed(0)} MiB`,
      );
    },
  );

  await t.step(
    "a body past --max-body is refused with 413 unread",
    async () => {
      const { server, httpPort } = await startWithHttp(["--max-body=1MiB"]);
      await using _ = server;
      await using pinger = await Pinger.start(server.port);
      const answer = await underAttack(pinger, async () => {
        await using connection = await RawConnection.connect(httpPort);
        await connection.send(
          `POST /api/put HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: ${
            70 * MIB
          }\r\n\r\nbig.series 1 1\n`,
        );
        return decoder.decode(await connection.readToEnd());
      });
      assert(answer.startsWith("HTTP/1.1 413 "), answer);
      assert(
        answer.endsWith('{"error":"the body is larger than 1048576 bytes"}'),
      );
      equal(await storedSamples(server.port), 0);
    },
  );
});

Deno.test("server.ts lives through a flood of HTTP connections", {
  ignore: !(await available("prlimit", ["--version"])),
}, async (t) => {
  // A cap of 50, and fewer descriptors than the flood: connections past
  // the cap are refused, and past the descriptors accepting fails.
  const { server, httpPort } = await startWithHttp(
    ["--http-max-connections=50"],
    { descriptors: 256 },
  );
  await using _ = server;
  await t.step("it warns at start that the caps pass the limit", () => {
    assert(
      /warning: the descriptor limit \(ulimit -n 256\) is below --max-connections 10000 plus --http-max-connections 50 /
        .test(server.stderr),
      server.stderr,
    );
  });
  await using pinger = await Pinger.start(server.port);
  const flood: Deno.Conn[] = [];
  try {
    await t.step(
      "idle connections past the cap and the descriptors: 503 or a close",
      async () => {
        await underAttack(pinger, async () => {
          for (let i = 0; i < 300; i++) {
            flood.push(await Deno.connect({ hostname: HOST, port: httpPort }));
          }
        });
        const answers = await Promise.all(flood.map(async (conn) => {
          const buffer = new Uint8Array(4096);
          const read = conn.read(buffer).catch(() => null);
          const n = await Promise.race([read, delay(2_000).then(() => -1)]);
          return n === -1
            ? "waiting"
            : decoder.decode(buffer.subarray(0, n ?? 0));
        }));
        const served = answers.filter((answer) => answer === "waiting");
        assert(served.length <= 50, `${served.length} connections served`);
        const refused = answers.filter((answer) => answer !== "waiting");
        assert(refused.length >= 250 - 50, `${refused.length} refused`);
        for (const answer of refused) {
          assert(
            answer === "" ||
              (answer.startsWith("HTTP/1.1 503 ") &&
                /\r\nconnection: close\r\n/i.test(answer)),
            answer,
          );
        }
        assert(refused.some((answer) => answer.startsWith("HTTP/1.1 503 ")));
      },
    );
  } finally {
    for (const conn of flood) conn.close();
  }
  await t.step("once they close, new connections are served", async () => {
    const status = await within(
      (async () => {
        while (true) {
          const answer = await fetch(`http://${HOST}:${httpPort}/health`)
            .then(async (response) => {
              await response.body?.cancel();
              return response.status;
            }, () => 0);
          if (answer === 200) return answer;
          await delay(100);
        }
      })(),
      "a request after the flood",
    );
    equal(status, 200);
    equal(await storedSamples(server.port), 0, "TCP still answers");
  });
});
