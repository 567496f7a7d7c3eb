/**
 * `server.ts` starting and stopping, as a newcomer meets it: the start line
 * says how to stop, a busy port is named and leaves the data directory
 * untouched, `--memory` with `--data` is refused, SIGINT says one line,
 * `shutdown` stops it cleanly; and its event log: `--log FILE` reopened on
 * SIGHUP, `--log-level`, `--log-requests`.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import {
  decoder,
  delay,
  events,
  HOST,
  plainLines,
  RawConnection,
  ServerProcess,
  within,
} from "./_helpers.ts";

const IN_MEMORY = ["--port", "0", "--memory", "--http", "off"];

/** A temporary directory, removed when disposed. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "pulse-startup-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Waits until `path` holds text that `pattern` matches. */
async function waitForFile(path: string, pattern: RegExp): Promise<string> {
  return await within(
    (async () => {
      while (true) {
        const text = await Deno.readTextFile(path).catch(() => "");
        if (pattern.test(text)) return text;
        await delay(20);
      }
    })(),
    `${pattern} in ${path}`,
  );
}

Deno.test("server.ts says how to stop on its start line", async () => {
  await using server = await ServerProcess.start(IN_MEMORY);
  assert(
    new RegExp(
      `^pulse: listening on 127\\.0\\.0\\.1:${server.port}; Ctrl-C to stop$`,
      "m",
    ).test(server.stderr),
    server.stderr,
  );
});

Deno.test("server.ts on SIGINT says one line, answers what came, and exits 0", async () => {
  await using server = await ServerProcess.start(IN_MEMORY);
  const before = plainLines(server.stderr).length;
  await using connection = await RawConnection.connect(server.port);
  await connection.send("put a 1 1\n");
  equal(await connection.answers(1), "ok\n\n");
  server.child.kill("SIGINT");
  equal((await server.exit()).code, 0, server.stderr);
  deepEqual(plainLines(server.stderr).slice(before), [
    "pulse: stopping on SIGINT",
  ]);
  const shutdown = events(server.stderr).filter((event) =>
    event.event === "shutdown"
  );
  deepEqual(shutdown.map((event) => event.reason ?? "done"), [
    "SIGINT",
    "done",
  ]);
});

Deno.test("server.ts names a busy port and creates nothing in --data", async (t) => {
  for (const door of ["tcp", "http"]) {
    await t.step(door, async () => {
      await using dir = await tempDir();
      using busy = Deno.listen({ hostname: HOST, port: 0 });
      const data = `${dir.path}/data`;
      const args = door === "tcp"
        ? ["--port", String(busy.addr.port), "--http", "off"]
        : ["--port", "0", "--http", `${HOST}:${busy.addr.port}`];
      await using server = ServerProcess.spawn([...args, "--data", data]);
      equal((await server.exit()).code, 1, server.stderr);
      deepEqual(plainLines(server.stderr).slice(-1), [
        `pulse: Cannot listen on ${HOST}:${busy.addr.port}: address in use`,
      ]);
      assert(!server.stderr.includes("listening"), server.stderr);
      equal(await exists(data), false, "the data directory was created");
    });
  }
});

Deno.test("server.ts refuses --memory with --data", async () => {
  await using server = ServerProcess.spawn([
    "--port",
    "0",
    "--memory",
    "--data",
    "./data",
  ]);
  equal((await server.exit()).code, 2, server.stderr);
  assert(
    server.stderr.startsWith(
      "pulse: Cannot use --memory with --data: --memory keeps samples in memory only\n",
    ),
    server.stderr,
  );
});

Deno.test({
  name: "server.ts writes IPv6 addresses in brackets",
  ignore: (() => {
    try {
      Deno.listen({ hostname: "::1", port: 0 }).close();
      return false;
    } catch {
      return true; // no IPv6 loopback here
    }
  })(),
  fn: async () => {
    await using server = await ServerProcess.start([
      "--hostname",
      "::1",
      ...IN_MEMORY,
    ]);
    assert(
      server.stderr.includes(`pulse: listening on [::1]:${server.port};`),
      server.stderr,
    );
    const [line] = await server.waitForStderr(/^\{.*"event":"listening".*$/m);
    equal(JSON.parse(line).addr, `[::1]:${server.port}`);
  },
});

Deno.test("server.ts stops on a client's `shutdown`, its log committed", async () => {
  await using dir = await tempDir();
  const data = ["--port", "0", "--http", "off", "--data", dir.path];
  {
    await using server = await ServerProcess.start(data);
    await using connection = await RawConnection.connect(server.port);
    await connection.send("put kept 1.5 1\nshutdown\n");
    equal(decoder.decode(await connection.readToEnd()), "ok\n\nok\n\n");
    equal((await server.exit()).code, 0, server.stderr);
    const shutdown = events(server.stderr).find((event) =>
      event.event === "shutdown"
    )!;
    equal(shutdown.reason, "command");
    assert(!server.stderr.includes("pulse: stopping"), "no signal came");
  }
  await using server = await ServerProcess.start(data);
  await using connection = await RawConnection.connect(server.port);
  await connection.send("get kept\n");
  equal(await connection.answers(1), "ok\nkept 1.5 1\n\n");
});

Deno.test("server.ts --log writes the events to a file, reopened on SIGHUP", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/pulse.log`;
  await using server = await ServerProcess.start([
    ...IN_MEMORY,
    "--log",
    path,
  ]);
  deepEqual(events(server.stderr), [], "none on stderr");
  {
    await using connection = await RawConnection.connect(server.port);
    await connection.send("quit\n");
    await connection.readToEnd();
  }
  await waitForFile(path, /"event":"close"/);
  // What logrotate does: rename the file, then SIGHUP.
  await Deno.rename(path, `${path}.1`);
  server.child.kill("SIGHUP");
  await within(
    (async () => {
      while (!await exists(path)) await delay(20);
    })(),
    "the log made again",
  );
  {
    await using connection = await RawConnection.connect(server.port);
    await connection.send("quit\n");
    await connection.readToEnd();
  }
  await waitForFile(path, /"event":"close"/);
  server.child.kill("SIGTERM");
  equal((await server.exit()).code, 0, server.stderr);
  const old = events(await Deno.readTextFile(`${path}.1`));
  const current = events(await Deno.readTextFile(path));
  deepEqual(old.map((event) => event.event), [
    "listening",
    "open",
    "close",
  ]);
  deepEqual(current.map((event) => event.event), [
    "open",
    "close",
    "shutdown",
    "shutdown",
  ]);
  assert(current[0].conn !== old[1].conn, "a new connection, a new id");
});

Deno.test("server.ts keeps running on SIGHUP with its log on stderr", async () => {
  await using server = await ServerProcess.start(IN_MEMORY);
  server.child.kill("SIGHUP");
  // Signals are taken in order: the server is still there for the ping.
  await using connection = await RawConnection.connect(server.port);
  await connection.send("ping\n");
  equal(await connection.answers(1), "ok\npong\n\n");
  server.child.kill("SIGTERM");
  equal((await server.exit()).code, 0, server.stderr);
});

Deno.test("server.ts --log-level leaves out the events below it", async () => {
  await using server = await ServerProcess.start([
    ...IN_MEMORY,
    "--log-level",
    "warn",
  ]);
  await using connection = await RawConnection.connect(server.port);
  await connection.send("auth x\nping\n");
  await connection.answers(2);
  connection.close();
  server.child.kill("SIGTERM");
  equal((await server.exit()).code, 0, server.stderr);
  deepEqual(events(server.stderr), []);
});

Deno.test("server.ts --log-requests logs every request line with its connection", async () => {
  await using server = await ServerProcess.start([
    ...IN_MEMORY,
    "--log-requests",
  ]);
  await using connection = await RawConnection.connect(server.port);
  await connection.send("put a 1 1\nget a\n");
  await connection.answers(2);
  const [, line] = await server.waitForStderr(/^(\{.*"line":"get a".*)$/m);
  const request = JSON.parse(line);
  const open = events(server.stderr).find((event) => event.event === "open")!;
  equal(request.conn, open.conn);
  equal(request.event, "request");
});

Deno.test("server.ts exits on a --log or --log-level it cannot use", async (t) => {
  await t.step("a file that cannot be opened: 1", async () => {
    await using server = ServerProcess.spawn([
      ...IN_MEMORY,
      "--log",
      "/nonexistent/dir/pulse.log",
    ]);
    equal((await server.exit()).code, 1, server.stderr);
    assert(
      server.stderr.startsWith(
        "pulse: Cannot open the log /nonexistent/dir/pulse.log: ",
      ),
      server.stderr,
    );
  });
  await t.step("a level that is none: 2", async () => {
    await using server = ServerProcess.spawn([
      ...IN_MEMORY,
      "--log-level",
      "loud",
    ]);
    equal((await server.exit()).code, 2, server.stderr);
    assert(
      server.stderr.startsWith(
        "pulse: --log-level must be one of error, warn, info, debug",
      ),
      server.stderr,
    );
  });
});
