/**
 * End-to-end durability tests: `server.ts` runs as a child process on a data
 * directory, is killed or stopped in the ways a server dies, has its files
 * damaged, and is started again; every acknowledged sample must be back.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import {
  delay,
  events,
  HOST,
  plainLines,
  randomInt,
  RawConnection,
  rng,
  ServerProcess,
  within,
} from "./_helpers.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;
const OK = "ok\n\n";
const WRITE_ERROR = /^error\ncannot write the log: [^\n]+\n\n$/;
const BASE_TIME = 1_600_000_000;

/** Samples as `"key timestamp"` → the value as the server prints it. */
type Samples = Map<string, string>;

/** One put: its request line, and the sample it stores. */
interface Put {
  line: string;
  key: string;
  timestamp: number;
  value: string;
}

/** A put whose value prints back as given (a value with a fraction). */
function makePut(key: string, value: string, timestamp: number): Put {
  return { line: `put ${key} ${value} ${timestamp}\n`, key, timestamp, value };
}

/**
 * What a server's stderr says went wrong: its warnings, and the events of
 * its log at `warn` or `error`.
 */
function problems(stderr: string): string[] {
  return [
    ...plainLines(stderr).filter((line) => line.includes("warning")),
    ...events(stderr).filter((event) =>
      event.level === "warn" || event.level === "error"
    ).map((event) => `${event.event}: ${event.msg}`),
  ];
}

/** The samples that `puts` leave, the later ones replacing earlier ones. */
function samplesOf(puts: Iterable<Put>): Samples {
  const samples: Samples = new Map();
  for (const put of puts) samples.set(`${put.key} ${put.timestamp}`, put.value);
  return samples;
}

/**
 * Starts `server.ts --port 0 --http off --graphite off --data dir ...extra`
 * and waits until it listens. Without HTTP and Graphite, no other server's
 * port can cause a warning.
 */
function startServer(dir: string, ...extra: string[]): Promise<ServerProcess> {
  return ServerProcess.start([
    "--port",
    "0",
    "--http",
    "off",
    "--graphite",
    "off",
    "--data",
    dir,
    ...extra,
  ]);
}

/** Sends SIGTERM and checks that the server exits 0. */
async function stopServer(server: ServerProcess): Promise<void> {
  server.child.kill("SIGTERM");
  const status = await server.exit();
  equal(status.code, 0, server.stderr);
}

/** Every sample the server holds, from `get *`. */
async function getAll(port: number): Promise<Samples> {
  await using connection = await RawConnection.connect(port);
  await connection.send("get *\n");
  const answer = await connection.answers(1, 60_000);
  const lines = answer.split("\n");
  equal(lines[0], "ok", answer.slice(0, 200));
  const samples: Samples = new Map();
  for (const line of lines.slice(1, -2)) {
    const [key, value, timestamp] = line.split(" ");
    samples.set(`${key} ${timestamp}`, value);
  }
  return samples;
}

/** Fails unless every sample of `expected` is in `actual` with its value. */
function assertHolds(actual: Samples, expected: Samples, what: string): void {
  const missing: string[] = [];
  for (const [sample, value] of expected) {
    if (actual.get(sample) !== value) {
      missing.push(`${sample} ${value} (got ${actual.get(sample)})`);
    }
  }
  equal(
    missing.length,
    0,
    `${what}: ${missing.length} of ${expected.size} samples missing or wrong, such as ${
      missing.slice(0, 5).join(", ")
    }`,
  );
}

function isHangUp(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.UnexpectedEof;
}

/**
 * Sends `puts` over one connection, keeping up to `inflight` unanswered, and
 * returns the answers in order. Stops without an error when the server goes
 * away: the answers then cover a prefix of the puts.
 *
 * @param port The server's port.
 * @param puts What to send.
 * @param inflight How many requests may be unanswered.
 * @param onAnswers Called with the count of answers so far.
 */
async function pipeline(
  port: number,
  puts: Put[],
  inflight = 64,
  onAnswers: (count: number) => void = () => {},
): Promise<string[]> {
  const conn = await Deno.connect({ hostname: HOST, port });
  const answers: string[] = [];
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let sent = 0;
  let text = "";
  const buffer = new Uint8Array(64 * 1024);
  const send = async (count: number) => {
    const lines = puts.slice(sent, sent + count).map((put) => put.line);
    sent += lines.length;
    if (lines.length === 0) return;
    const data = encoder.encode(lines.join(""));
    for (let written = 0; written < data.length;) {
      written += await conn.write(data.subarray(written));
    }
  };
  try {
    await send(inflight);
    while (answers.length < puts.length) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      let completed = 0;
      for (let end = text.indexOf("\n\n"); end !== -1;) {
        answers.push(text.slice(0, end + 2));
        text = text.slice(end + 2);
        completed++;
        end = text.indexOf("\n\n");
      }
      if (completed > 0) {
        onAnswers(answers.length);
        await send(completed);
      }
    }
  } catch (error) {
    if (!isHangUp(error)) throw error;
  } finally {
    conn.close();
  }
  return answers;
}

/** The puts that were answered `ok`. */
function acknowledged(puts: Put[], answers: string[]): Put[] {
  return puts.filter((_, i) => answers[i] === OK);
}

/** The name of the newest log in `dir`. */
async function lastLog(dir: string): Promise<string> {
  const logs: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (/^log-\d+\.pulse$/.test(entry.name)) logs.push(entry.name);
  }
  assert(logs.length > 0, `no log in ${dir}`);
  return `${dir}/${logs.sort().at(-1)}`;
}

/** `[start, end)` of every record of a log, framed by hand. */
function frames(bytes: Uint8Array): [number, number][] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const found: [number, number][] = [];
  for (let at = 0; at + 8 <= bytes.length;) {
    const end = at + 8 + view.getUint32(at, true);
    found.push([at, end]);
    at = end;
  }
  return found;
}

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "pulse-durability-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** `count` puts of distinct samples over `series` keys named `prefix.sN`. */
function distinctPuts(
  prefix: string,
  count: number,
  series: number,
  from = 0,
): Put[] {
  return Array.from({ length: count }, (_, j) => {
    const i = from + j;
    return makePut(`${prefix}.s${i % series}`, `${i}.5`, BASE_TIME + i);
  });
}

Deno.test("server.ts --fsync always keeps every acknowledged sample through kill -9 under load", async () => {
  await using dir = await tempDir();
  const connections = 4;
  const perConnection = 50_000;
  const loads = Array.from(
    { length: connections },
    (_, c) => distinctPuts(`kill.c${c}`, perConnection, 20),
  );
  let answers: string[][];
  {
    await using server = await startServer(dir.path, "--fsync", "always");
    const counts = new Array(connections).fill(0);
    const killed = Promise.withResolvers<void>();
    answers = await within(
      Promise.all(
        loads.map((puts, c) =>
          pipeline(server.port, puts, 64, (count) => {
            counts[c] = count;
            if (counts.reduce((a, b) => a + b) >= 8_000) killed.resolve();
          })
        ).concat(
          killed.promise.then(() => {
            server.child.kill("SIGKILL");
            return [];
          }),
        ),
      ),
      "the load and the kill",
      60_000,
    );
    const status = await server.exit();
    equal(status.signal, "SIGKILL");
  }
  answers.pop();
  const acked = loads.flatMap((puts, c) => acknowledged(puts, answers[c]));
  for (const [c, list] of answers.entries()) {
    assert(
      list.every((answer) => answer === OK),
      `connection ${c} got ${list.find((answer) => answer !== OK)}`,
    );
  }
  assert(acked.length >= 8_000, `only ${acked.length} acknowledged`);
  assert(
    acked.length < connections * perConnection,
    "the server was not killed mid-run",
  );
  await using server = await startServer(dir.path);
  assertHolds(await getAll(server.port), samplesOf(acked), "after kill -9");
  await stopServer(server);
});

Deno.test("server.ts with the default --fsync loses nothing at SIGTERM", async () => {
  await using dir = await tempDir();
  const loads = Array.from(
    { length: 4 },
    (_, c) => distinctPuts(`term.c${c}`, 5_000, 20),
  );
  const expected = samplesOf(loads.flat());
  {
    await using server = await startServer(dir.path);
    const answers = await Promise.all(
      loads.map((puts) => pipeline(server.port, puts)),
    );
    for (const list of answers) deepEqual(list, new Array(5_000).fill(OK));
    await stopServer(server);
  }
  await using server = await startServer(dir.path);
  assert(
    server.stderr.includes(
      `restored 20000 samples in 80 series from ${dir.path}`,
    ),
    server.stderr,
  );
  deepEqual(await getAll(server.port), expected);
  await stopServer(server);
});

/** The `.damaged` files in `dir`, as their bytes by name. */
async function damagedFiles(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".damaged")) {
      files.set(entry.name, await Deno.readFile(`${dir}/${entry.name}`));
    }
  }
  return files;
}

Deno.test("server.ts starts on a torn log tail, warns once, sets it aside and restores the rest", async (t) => {
  await t.step("a partial record appended", async () => {
    await using dir = await tempDir();
    const puts = distinctPuts("torn", 1_000, 10);
    {
      await using server = await startServer(dir.path);
      deepEqual(await pipeline(server.port, puts), new Array(1_000).fill(OK));
      await stopServer(server);
    }
    const log = await lastLog(dir.path);
    const size = (await Deno.stat(log)).size;
    // The start of a record of 64 bytes whose write was cut short.
    const partial = new Uint8Array([64, 0, 0, 0, 9, 9, 9, 9, 2, 1, 0, 1]);
    await Deno.writeFile(log, partial, { append: true });
    const name = `${log.slice(log.lastIndexOf("/") + 1)}.${size}.damaged`;
    {
      await using server = await startServer(dir.path);
      assert(
        server.stderr.includes(
          `cut off an unfinished record of 12 bytes at offset ${size} (a write cut short), its bytes set aside in ${dir.path}/${name}`,
        ),
        server.stderr,
      );
      deepEqual(await damagedFiles(dir.path), new Map([[name, partial]]));
      deepEqual(await getAll(server.port), samplesOf(puts));
      await stopServer(server);
    }
    equal((await Deno.stat(log)).size, size, "the tail was not cut");
    await using server = await startServer(dir.path);
    deepEqual(problems(server.stderr), []);
    assert(/restored 1000 samples/.test(server.stderr), server.stderr);
    deepEqual(await getAll(server.port), samplesOf(puts));
    await stopServer(server);
  });
  await t.step("the last record cut mid-way", async () => {
    await using dir = await tempDir();
    const puts = distinctPuts("cut", 1_000, 10);
    {
      // Under always, a put answered is in a record written before the
      // next put arrives.
      await using server = await startServer(dir.path, "--fsync", "always");
      deepEqual(await pipeline(server.port, puts), new Array(1_000).fill(OK));
      // Alone in its chunk, so alone in the log's last record.
      const last = makePut("cut.last", "7.5", 42);
      deepEqual(await pipeline(server.port, [last]), [OK]);
      await stopServer(server);
    }
    const log = await lastLog(dir.path);
    const bytes = await Deno.readFile(log);
    const [start] = frames(bytes).at(-1)!;
    await Deno.truncate(log, bytes.length - 5);
    const more = distinctPuts("cut.more", 100, 5);
    {
      await using server = await startServer(dir.path);
      assert(
        server.stderr.includes(
          `cut off an unfinished record of ${
            bytes.length - 5 - start
          } bytes at offset ${start} (a write cut short)`,
        ),
        server.stderr,
      );
      deepEqual(
        [...(await damagedFiles(dir.path)).values()],
        [bytes.subarray(start, bytes.length - 5)],
      );
      deepEqual(await getAll(server.port), samplesOf(puts));
      deepEqual(await pipeline(server.port, more), new Array(100).fill(OK));
      await stopServer(server);
    }
    await using server = await startServer(dir.path);
    deepEqual(problems(server.stderr), []);
    deepEqual(await getAll(server.port), samplesOf([...puts, ...more]));
    await stopServer(server);
  });
});

Deno.test("server.ts skips a corrupted record in the middle of the log and reports it", async () => {
  await using dir = await tempDir();
  const chunks = Array.from(
    { length: 10 },
    (_, c) => distinctPuts(`chunk${c}`, 100, 1, c * 100),
  );
  {
    await using server = await startServer(dir.path, "--fsync", "always");
    for (const puts of chunks) {
      deepEqual(
        await pipeline(server.port, puts, 100),
        new Array(100).fill(OK),
      );
    }
    await stopServer(server);
  }
  const log = await lastLog(dir.path);
  const bytes = await Deno.readFile(log);
  const records = frames(bytes);
  equal(records.at(-1)![1], bytes.length, "the log is not whole records");
  const names = (start: number, end: number) => {
    const text = new TextDecoder("latin1").decode(bytes.subarray(start, end));
    return chunks.map((_, c) => `chunk${c}.s0`).filter((key) =>
      text.includes(key)
    );
  };
  // A record in the middle, holding puts of chunk 4.
  const [start, end] = records.find(([s, e]) =>
    names(s, e).includes("chunk4.s0")
  )!;
  const damagedKeys = names(start, end);
  bytes[end - 3] ^= 0x40;
  await Deno.writeFile(log, bytes);

  await using server = await startServer(dir.path);
  assert(
    new RegExp(
      `"level":"warn","event":"restore","msg":"log-\\d+\\.pulse: skipped a record of ${
        end - start
      } bytes at offset ${start} \\(damaged: checksum mismatch\\)`,
    ).test(server.stderr),
    server.stderr,
  );
  const name = `${log.slice(log.lastIndexOf("/") + 1)}.${start}.damaged`;
  deepEqual(
    await damagedFiles(dir.path),
    new Map([[name, bytes.subarray(start, end)]]),
  );
  const restored = await getAll(server.port);
  const intact = chunks.flat().filter((put) => !damagedKeys.includes(put.key));
  assertHolds(restored, samplesOf(intact), "the intact records");
  const all = samplesOf(chunks.flat());
  for (const [sample, value] of restored) equal(all.get(sample), value);
  assert(restored.size < all.size, "nothing was skipped");
  await stopServer(server);
});

Deno.test("server.ts names a damaged last record a checksum mismatch and sets its bytes aside", async () => {
  await using dir = await tempDir();
  const chunks = Array.from(
    { length: 10 },
    (_, c) => distinctPuts(`last${c}`, 500, 1, c * 500),
  );
  {
    // The default --fsync, a clean stop: every record is whole.
    await using server = await startServer(dir.path);
    for (const puts of chunks) {
      deepEqual(await pipeline(server.port, puts), new Array(500).fill(OK));
      // Past the write delay, so that chunks go to records of their own.
      await delay(20);
    }
    await stopServer(server);
  }
  const log = await lastLog(dir.path);
  const bytes = await Deno.readFile(log);
  const [start, end] = frames(bytes).at(-1)!;
  equal(end, bytes.length, "the log is not whole records");
  const text = new TextDecoder("latin1").decode(bytes.subarray(start, end));
  const lostKeys = chunks.map((_, c) => `last${c}.s0`).filter((key) =>
    text.includes(key)
  );
  bytes[start + 40] ^= 0x01;
  bytes[end - 2] ^= 0x10;
  await Deno.writeFile(log, bytes);

  const name = `${log.slice(log.lastIndexOf("/") + 1)}.${start}.damaged`;
  {
    await using server = await startServer(dir.path);
    assert(
      server.stderr.includes(
        `cut off a record of ${
          end - start
        } bytes at offset ${start} (damaged: checksum mismatch), its bytes set aside in ${dir.path}/${name}`,
      ),
      server.stderr,
    );
    assert(!server.stderr.includes("cut short"), server.stderr);
    deepEqual(
      await damagedFiles(dir.path),
      new Map([[name, bytes.subarray(start)]]),
    );
    const restored = await getAll(server.port);
    const all = chunks.flat();
    const kept = all.filter((put) => !lostKeys.includes(put.key));
    assert(kept.length >= 4_000, `${lostKeys} in the last record`);
    assertHolds(restored, samplesOf(kept), "the records before the last");
    const everything = samplesOf(all);
    for (const [sample, value] of restored) {
      equal(everything.get(sample), value);
    }
    await stopServer(server);
  }
  await using server = await startServer(dir.path);
  deepEqual(problems(server.stderr), []);
  await stopServer(server);
});

Deno.test("server.ts refuses a data directory another server holds", async () => {
  await using dir = await tempDir();
  await using first = await startServer(dir.path);
  const second = await within(
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        SERVER,
        "--port",
        "0",
        "--http",
        "off",
        "--data",
        dir.path,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output(),
    "the second server's exit",
    30_000,
  );
  const stderr = new TextDecoder().decode(second.stderr);
  assert(second.code !== 0, `exit code ${second.code}`);
  assert(stderr.includes(dir.path), stderr);
  assert(stderr.includes(`pid ${first.pid}`), stderr);
  assert(!stderr.includes("listening"), stderr);
  await stopServer(first);
});

Deno.test("server.ts keeps every sample through compactions under load", async () => {
  await using dir = await tempDir();
  const random = rng(61);
  const all: Put[] = [];
  const logNumber = async () => {
    let highest = 0;
    for await (const entry of Deno.readDir(dir.path)) {
      const match = /^log-(\d+)\.pulse$/.exec(entry.name);
      if (match) highest = Math.max(highest, Number(match[1]));
    }
    return highest;
  };
  {
    await using server = await startServer(
      dir.path,
      "--fsync",
      "always",
      "--compact-bytes",
      "64KiB",
    );
    await within(
      (async () => {
        // New samples and overwrites of earlier ones, until three
        // compactions have started the fourth log.
        for (let round = 0; await logNumber() < 4; round++) {
          const loads = [0, 1].map((c) => {
            const puts = distinctPuts(
              `compact.c${c}`,
              1_000,
              50,
              round * 1_000,
            );
            for (let i = 0; i < 500 && all.length > 0; i++) {
              const earlier = all[randomInt(random, 0, all.length - 1)];
              puts.push(
                makePut(earlier.key, `${round}.25`, earlier.timestamp),
              );
            }
            return puts;
          });
          const answers = await Promise.all(
            loads.map((puts) => pipeline(server.port, puts)),
          );
          for (const [c, puts] of loads.entries()) {
            deepEqual(answers[c], new Array(puts.length).fill(OK));
            all.push(...puts);
          }
          await delay(50);
        }
      })(),
      "three compactions",
      45_000,
    );
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir.path)) names.push(entry.name);
    assert(names.includes("snapshot.pulse"), names.join(" "));
    assert(!names.includes("log-00000001.pulse"), names.join(" "));
    assert(
      names.filter((name) => name.startsWith("log-")).length <= 2,
      names.join(" "),
    );
    deepEqual(problems(server.stderr), []);
    server.child.kill("SIGKILL");
    await server.exit();
  }
  await using server = await startServer(dir.path);
  deepEqual(await getAll(server.port), samplesOf(all));
  await stopServer(server);
});

Deno.test("server.ts keeps retention's drops and deletes across restarts", async () => {
  await using dir = await tempDir();
  const now = Math.floor(Date.now() / 1000);
  const old = [makePut("old.a", "1.5", 1_000), makePut("old.a", "2.5", 2_000)];
  const kept = [
    makePut("mixed.a", "3.5", 1_500),
    makePut("mixed.a", "4.5", now + 1_000_000),
    makePut("keep.b", "5.5", now + 1_000_000),
  ];
  const gone = [makePut("gone.x", "6.5", now), makePut("gone.y", "7.5", now)];
  {
    await using server = await startServer(dir.path);
    const puts = [...old, ...kept, ...gone];
    deepEqual(await pipeline(server.port, puts), puts.map(() => OK));
    await using connection = await RawConnection.connect(server.port);
    await connection.send("delete gone.*\n");
    equal(await connection.answers(1), "ok\n2\n\n");
    connection.close();
    await stopServer(server);
  }
  const expected = samplesOf([kept[1], kept[2]]);
  {
    await using server = await startServer(dir.path, "--retention", "1h");
    deepEqual(await getAll(server.port), expected);
    await stopServer(server);
  }
  await using server = await startServer(dir.path);
  deepEqual(await getAll(server.port), expected);
  await stopServer(server);
});

/** Why the full-disk test cannot run here, or `undefined` when it can. */
async function tmpfsUnavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "it needs Linux's tmpfs";
  if (Deno.uid() !== 0) return "it needs root to mount a tmpfs";
  const probe = await Deno.makeTempDir({ prefix: "pulse-tmpfs-probe-" });
  try {
    const mounted = await run("mount", [
      "-t",
      "tmpfs",
      "-o",
      "size=1m",
      "tmpfs",
      probe,
    ]);
    if (mounted !== undefined) {
      return `mount -t tmpfs is not permitted: ${mounted}`;
    }
    await run("umount", [probe]);
    return undefined;
  } catch (error) {
    return `mount cannot run: ${(error as Error).message}`;
  } finally {
    await Deno.remove(probe);
  }
}

/** Runs a command; returns its stderr when it fails, else `undefined`. */
async function run(
  command: string,
  args: string[],
): Promise<string | undefined> {
  const { success, stderr } = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return success ? undefined : new TextDecoder().decode(stderr).trim();
}

const TMPFS_UNAVAILABLE = await tmpfsUnavailable();
const FULL_DISK_TEST =
  "server.ts on a full disk refuses puts it cannot store, serves reads and recovers";

Deno.test({
  name: TMPFS_UNAVAILABLE === undefined
    ? FULL_DISK_TEST
    : `${FULL_DISK_TEST} (ignored: ${TMPFS_UNAVAILABLE})`,
  ignore: TMPFS_UNAVAILABLE !== undefined,
  async fn() {
    await using mount = await tempDir();
    const failure = await run("mount", [
      "-t",
      "tmpfs",
      "-o",
      "size=2m",
      "tmpfs",
      mount.path,
    ]);
    equal(failure, undefined, "mount");
    try {
      await fullDisk(mount.path);
    } finally {
      equal(await run("umount", [mount.path]), undefined, "umount");
    }
  },
});

async function fullDisk(mount: string): Promise<void> {
  const data = `${mount}/data`;
  const filler = `${mount}/filler`;
  const acked: Put[] = [];
  let next = 0;
  const batch = (count: number) => {
    const puts = distinctPuts("full", count, 10, next);
    next += count;
    return puts;
  };
  /** Sends puts; every answer must be `ok` or the write error. */
  const send = async (port: number, puts: Put[]) => {
    const answers = await pipeline(port, puts);
    equal(answers.length, puts.length);
    for (const answer of answers) {
      assert(answer === OK || WRITE_ERROR.test(answer), answer);
    }
    acked.push(...acknowledged(puts, answers));
    return answers;
  };
  {
    await using server = await ServerProcess.start([
      "--port=0",
      "--http=127.0.0.1:0",
      `--data=${data}`,
      "--fsync=always",
    ]);
    const { port } = server;
    const [, httpPort] = await server.waitForStderr(
      /http listening on http:\/\/127\.0\.0\.1:(\d+)/,
    );
    await send(port, batch(500));
    equal(acked.length, 500);
    // Fill every byte left.
    const file = await Deno.open(filler, { write: true, create: true });
    try {
      const block = new Uint8Array(64 * 1024).fill(7);
      while (true) await file.write(block);
    } catch (error) {
      assert(/no space left/i.test((error as Error).message), String(error));
    } finally {
      file.close();
    }
    // The log's last page may take a few more; then puts fail.
    await within(
      (async () => {
        while ((await send(port, batch(200))).every((a) => a === OK));
      })(),
      "puts failing on the full disk",
      30_000,
    );
    const refused = await send(port, batch(100));
    assert(
      refused.every((answer) => WRITE_ERROR.test(answer)),
      `answered ${refused.find((answer) => answer === OK)} on a full disk`,
    );
    assert(/no space left on device/.test(refused[0]), refused[0]);
    // A batch over HTTP is refused whole.
    const posted = batch(2000);
    const response = await fetch(`http://127.0.0.1:${httpPort}/api/put`, {
      method: "POST",
      body: posted.map((put) => `${put.key} ${put.value} ${put.timestamp}\n`)
        .join(""),
    });
    equal(response.status, 503, await response.text());
    // Reads go on, and what was refused left no trace.
    deepEqual(await getAll(port), samplesOf(acked), "reads on the full disk");

    await Deno.remove(filler);
    await within(
      (async () => {
        while ((await send(port, batch(1)))[0] !== OK) await delay(200);
      })(),
      "puts succeeding once space returns",
      20_000,
    );
    const after = await send(port, batch(500));
    deepEqual(after, new Array(500).fill(OK));
    await stopServer(server);
  }
  await using server = await startServer(data);
  deepEqual(await getAll(server.port), samplesOf(acked), "after the restart");
  await stopServer(server);
}
