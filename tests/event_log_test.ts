/**
 * The event log: the `Logger` and its levels, the log file and its
 * reopening for rotation, and the events of `serve()` and the storage, each
 * with its fields.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import { Logger } from "../internal/logger.ts";
import { serveHttp } from "../http.ts";
import { serve } from "../server.ts";
import { LogFile } from "../server/log_file.ts";
import { LocalStorage, openStorage } from "../storage/local.ts";
import { Store } from "../store.ts";
import {
  decoder,
  delay,
  events,
  type LogEvent,
  RawConnection,
  within,
} from "./_helpers.ts";

/** A logger whose lines are kept, and its events parsed. */
function collector(
  level: "error" | "warn" | "info" | "debug" = "debug",
): { logger: Logger; events: () => LogEvent[] } {
  const lines: string[] = [];
  return {
    logger: new Logger((line) => lines.push(line), { level }),
    events: () => events(lines.join("\n")),
  };
}

/** Waits until `events` holds one that `match` accepts, and returns it. */
async function eventually(
  all: () => LogEvent[],
  match: (event: LogEvent) => boolean,
  what: string,
): Promise<LogEvent> {
  return await within(
    (async () => {
      while (true) {
        const found = all().find(match);
        if (found !== undefined) return found;
        await delay(5);
      }
    })(),
    what,
  );
}

Deno.test("`Logger` writes JSON lines with time, level and event first", () => {
  const lines: string[] = [];
  const logger = new Logger((line) => lines.push(line), {
    now: () => Date.UTC(2017, 7, 4, 16, 30, 47),
  });
  logger.info("open", { conn: 7, addr: "127.0.0.1:5000", skipped: undefined });
  equal(
    lines[0],
    '{"time":"2017-08-04T16:30:47.000Z","level":"info","event":"open","conn":7,"addr":"127.0.0.1:5000"}',
  );
});

Deno.test("`Logger.each()` writes an event per value, the rest shared", () => {
  const lines: string[] = [];
  const logger = new Logger((line) => lines.push(line), {
    now: () => 0,
    level: "info",
  });
  logger.each("info", "request", { conn: 3 }, "line", ["put a 1 1", 'a"b']);
  logger.each("debug", "request", { conn: 3 }, "line", ["hidden"]);
  deepEqual(lines, [
    '{"time":"1970-01-01T00:00:00.000Z","level":"info","event":"request","conn":3,"line":"put a 1 1"}',
    '{"time":"1970-01-01T00:00:00.000Z","level":"info","event":"request","conn":3,"line":"a\\"b"}',
  ]);
});

Deno.test("`Logger` writes the levels from its own up, and none without a sink", async (t) => {
  for (
    const [level, written] of [
      ["error", ["error"]],
      ["warn", ["error", "warn"]],
      ["info", ["error", "warn", "info"]],
      ["debug", ["error", "warn", "info", "debug"]],
    ] as const
  ) {
    await t.step(level, () => {
      const { logger, events } = collector(level);
      logger.error("e");
      logger.warn("w");
      logger.info("i");
      logger.debug("d");
      deepEqual(events().map((event) => event.level), written);
      equal(logger.enabled("debug"), level === "debug");
    });
  }
  await t.step("no sink", () => {
    const logger = new Logger();
    equal(logger.enabled("error"), false);
    equal(logger.level, undefined);
  });
  await t.step("a level that is none", () => {
    throws(
      () => new Logger(() => {}, { level: "loud" as "info" }),
      RangeError,
    );
  });
});

Deno.test("`LogFile` writes lines together, and reopens by name for rotation", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-log-" });
  try {
    const path = `${dir}/pulse.log`;
    using log = new LogFile(path);
    log.write('{"n":1}');
    log.write('{"n":2}');
    equal(Deno.readTextFileSync(path), "", "gathered until a microtask");
    await Promise.resolve();
    equal(await Deno.readTextFile(path), '{"n":1}\n{"n":2}\n');
    // What logrotate does: rename, then SIGHUP.
    await Deno.rename(path, `${path}.1`);
    log.write('{"n":3}');
    log.reopen();
    log.write('{"n":4}');
    log.close();
    log.write('{"n":5}');
    equal(await Deno.readTextFile(`${path}.1`), '{"n":1}\n{"n":2}\n{"n":3}\n');
    equal(await Deno.readTextFile(path), '{"n":4}\n', "closed: no more");
    equal((await Deno.stat(path)).mode! & 0o777, 0o640);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`LogFile` writes at once past 64 KiB gathered", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-log-" });
  try {
    const path = `${dir}/pulse.log`;
    using log = new LogFile(path);
    const line = JSON.stringify({ text: "x".repeat(1000) });
    for (let i = 0; i < 70; i++) log.write(line);
    // Read before any turn of the loop, which would write the rest.
    const written = Deno.readTextFileSync(path).split("\n").length - 1;
    assert(written >= 64 && written < 70, `${written} lines before a turn`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`LogFile` counts the lines it could not write and says so later", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-log-" });
  try {
    const link = `${dir}/pulse.log`;
    // A full disk, then a working one behind the same name.
    await Deno.symlink("/dev/full", link);
    using log = new LogFile(link);
    log.write('{"n":1}');
    log.write('{"n":2}');
    log.flush();
    await Deno.remove(link);
    log.reopen();
    log.write('{"n":3}');
    log.flush();
    const lines = (await Deno.readTextFile(link)).trimEnd().split("\n");
    equal(lines.length, 2);
    const lost = JSON.parse(lines[0]);
    equal(lost.level, "error");
    assert(/^lost 2 lines of the log: /.test(lost.msg), lost.msg);
    equal(lines[1], '{"n":3}');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve() logs listening, open, close with its figures, and shutdown", async () => {
  const { logger, events } = collector();
  const server = serve({ port: 0, logger });
  const port = server.addr.port;
  const listening = events()[0];
  deepEqual(
    { ...listening, time: "" },
    {
      time: "",
      level: "info",
      event: "listening",
      door: "tcp",
      addr: `127.0.0.1:${port}`,
      tls: false,
    },
  );
  let local: number;
  {
    await using connection = await RawConnection.connect(port);
    local = (connection.conn.localAddr as Deno.NetAddr).port;
    await connection.send("put a 1 1\nping\n");
    equal(await connection.answers(2), "ok\n\nok\npong\n\n");
  }
  const close = await eventually(
    events,
    (event) => event.event === "close",
    "the close event",
  );
  const open = events().find((event) => event.event === "open")!;
  deepEqual(
    { ...open, time: "" },
    {
      time: "",
      level: "info",
      event: "open",
      conn: open.conn,
      addr: `127.0.0.1:${local}`,
    },
  );
  assert(typeof close.seconds === "number" && close.seconds >= 0);
  deepEqual({ ...close, time: "", seconds: 0 }, {
    time: "",
    level: "info",
    event: "close",
    conn: open.conn,
    addr: `127.0.0.1:${local}`,
    reason: "client",
    commands: 2,
    bytes_in: "put a 1 1\nping\n".length,
    bytes_out: "ok\n\nok\npong\n\n".length,
    seconds: 0,
  });
  await server.shutdown();
  const shutdown = events().at(-1)!;
  deepEqual(
    [shutdown.level, shutdown.event, shutdown.reason],
    ["info", "shutdown", "shutdown()"],
  );
});

Deno.test("serve() logs why each connection closed", async (t) => {
  await t.step("quit", async () => {
    const { logger, events } = collector();
    await using server = serve({ port: 0, logger });
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send("quit\n");
    await connection.readToEnd();
    const close = await eventually(
      events,
      (event) => event.event === "close",
      "close",
    );
    equal(close.reason, "quit");
  });
  await t.step("idle", async () => {
    const { logger, events } = collector();
    await using server = serve({ port: 0, logger, idleTimeout: 50 });
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.readToEnd();
    const close = await eventually(
      events,
      (event) => event.event === "close",
      "close",
    );
    equal(close.reason, "idle");
  });
  await t.step("shutdown", async () => {
    const { logger, events } = collector();
    const server = serve({ port: 0, logger });
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send("ping\n");
    await connection.answers(1);
    await server.shutdown();
    const close = events().find((event) => event.event === "close")!;
    equal(close.reason, "shutdown");
  });
  await t.step("too many answers held: output, at warn", async () => {
    const store = new Store();
    for (let i = 0; i < 50_000; i++) store.put(`k${i % 10}`, i, i);
    const { logger, events } = collector();
    let reported: Error | undefined;
    await using server = serve({
      port: 0,
      store,
      logger,
      maxOutput: 16 * 1024,
      onError: (error) => reported = error,
    });
    await using hog = await RawConnection.connect(server.addr.port);
    await hog.send("get *\n");
    const close = await eventually(
      events,
      (event) => event.event === "close",
      "close",
    );
    equal(close.level, "warn");
    equal(close.reason, "output");
    assert(
      /^cannot hold more answers for the client: \d+ bytes unread, the limit is 16384$/
        .test(close.error as string),
      String(close.error),
    );
    assert(reported?.message.endsWith(close.error as string));
  });
});

Deno.test("serve() logs refused connections, failed logins and a shutdown asked for", async () => {
  const { logger, events } = collector();
  const server = serve({ port: 0, logger, maxConnections: 1, token: "s" });
  const port = server.addr.port;
  await using first = await RawConnection.connect(port);
  await first.send("auth wrong\n");
  equal(await first.answers(1), "error\ninvalid token\n\n");
  {
    await using refused = await RawConnection.connect(port);
    equal(
      decoder.decode(await refused.readToEnd()),
      "error\ntoo many connections\n\n",
    );
  }
  const open = events().find((event) => event.event === "open")!;
  const failed = events().find((event) => event.event === "auth_failed")!;
  deepEqual([failed.level, failed.conn, failed.addr], [
    "warn",
    open.conn,
    open.addr,
  ]);
  const refusal = events().find((event) => event.event === "refused")!;
  deepEqual([refusal.level, refusal.why], ["warn", "connection cap"]);
  assert(/^127\.0\.0\.1:\d+$/.test(refusal.addr as string));
  await first.send("auth s\nshutdown\n");
  equal(await first.answers(2), "ok\n\nok\n\n");
  await within(server.finished, "the server's end");
  const shutdown = events().find((event) => event.event === "shutdown")!;
  deepEqual(
    [shutdown.reason, shutdown.conn, shutdown.addr],
    ["command", open.conn, open.addr],
  );
});

Deno.test("serveHttp() logs refused connections and hosts, and failed logins", async () => {
  const { logger, events } = collector();
  await using server = serveHttp({
    port: 0,
    logger,
    token: "s",
    maxConnections: 2,
  });
  {
    await using wrong = await RawConnection.connect(server.addr.port);
    await wrong.send(
      "GET /api/keys HTTP/1.1\r\nhost: localhost\r\n" +
        "authorization: Bearer wrong\r\nconnection: close\r\n\r\n",
    );
    assert(decoder.decode(await wrong.readToEnd()).startsWith("HTTP/1.1 401"));
  }
  const failed = await eventually(
    events,
    (event) => event.event === "auth_failed",
    "auth_failed",
  );
  deepEqual([failed.level, failed.door], ["warn", "http"]);
  assert(/^127\.0\.0\.1:\d+$/.test(failed.addr as string));
  {
    await using host = await RawConnection.connect(server.addr.port);
    await host.send(
      "GET /health HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n",
    );
    assert(decoder.decode(await host.readToEnd()).startsWith("HTTP/1.1 421"));
    const rebound = await eventually(
      events,
      (event) => event.event === "refused" && event.why === "host",
      "refused for the host",
    );
    equal(rebound.host, "evil.example");
  }
  {
    // Two connections held open, the next one past the cap.
    await using held = await RawConnection.connect(server.addr.port);
    await using another = await RawConnection.connect(server.addr.port);
    for (const connection of [held, another]) {
      await connection.send("GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n");
      await connection.readMore();
    }
    await using refused = await RawConnection.connect(server.addr.port);
    assert(
      decoder.decode(await refused.readToEnd()).startsWith("HTTP/1.1 503"),
    );
  }
  const refusal = await eventually(
    events,
    (event) => event.event === "refused" && event.why === "connection cap",
    "refused for the cap",
  );
  equal(refusal.door, "http");
});

Deno.test("serve() logs request lines only with logRequests, tokens left out", async (t) => {
  for (const logRequests of [true, false]) {
    await t.step(String(logRequests), async () => {
      const { logger, events } = collector("info");
      await using server = serve({
        port: 0,
        logger,
        logRequests,
        token: "secret",
      });
      await using connection = await RawConnection.connect(server.addr.port);
      await connection.send("auth secret\n\n  \nput a 1 1\nget a\n");
      equal(await connection.answers(3), "ok\n\nok\n\nok\na 1.0 1\n\n");
      const requests = events().filter((event) => event.event === "request");
      if (!logRequests) {
        deepEqual(requests, []);
        return;
      }
      const open = events().find((event) => event.event === "open")!;
      deepEqual(
        requests.map(({ level, conn, line }) => [level, conn, line]),
        [
          ["info", open.conn, "auth (token left out)"],
          ["info", open.conn, "put a 1 1"],
          ["info", open.conn, "get a"],
        ],
      );
      equal(JSON.stringify(events()).includes("secret"), false);
    });
  }
  await t.step("an over-long line, in its place", async () => {
    const { logger, events } = collector("info");
    await using server = serve({
      port: 0,
      logger,
      logRequests: true,
      maxLineLength: 16,
    });
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send(`ping\nput ${"x".repeat(40)} 1 1\nping\n`);
    await connection.answers(3);
    deepEqual(
      events().filter((event) => event.event === "request").map((event) =>
        event.line ?? event.too_long
      ),
      ["ping", true, "ping"],
    );
  });
  await t.step("not at a level above info", async () => {
    const { logger, events } = collector("warn");
    await using server = serve({ port: 0, logger, logRequests: true });
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send("ping\n");
    await connection.answers(1);
    deepEqual(events(), []);
  });
});

Deno.test("retention logs how many samples it dropped", async (t) => {
  const now = Math.floor(Date.now() / 1000);
  await t.step("in memory", async () => {
    const store = new Store();
    for (let i = 0; i < 5; i++) store.put("old", i, now - 7200 - i);
    store.put("new", 1, now);
    const { logger, events } = collector();
    await using _ = new LocalStorage({ store, retention: 3600, logger });
    const [retention] = events();
    deepEqual(
      [retention.level, retention.event, retention.dropped, retention.window],
      ["info", "retention", 5, "1h"],
    );
    equal(store.stats.samples, 1);
  });
  await t.step("with --fsync always, once the drop is on disk", async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulse-retention-" });
    try {
      {
        await using storage = await openStorage(dir);
        const appender = storage.appender();
        for (let i = 0; i < 3; i++) appender.append("old", i, now - 7200 - i);
        appender.append("new", 1, now);
        await appender.commit();
      }
      const { logger, events } = collector();
      await using storage = await openStorage(dir, {
        fsync: "always",
        retention: 3600,
        logger,
      });
      const retention = await eventually(
        events,
        (event) => event.event === "retention",
        "the retention event",
      );
      equal(retention.dropped, 3);
      equal(storage.store.stats.samples, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("the library prints nothing by itself: no logger, no output", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-quiet-" });
  try {
    const script = new URL("./_quiet_library.ts", import.meta.url).pathname;
    const { code, stdout, stderr } = await within(
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, `${dir}/data`],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output(),
      "the script",
      30_000,
    );
    equal(code, 0, decoder.decode(stderr));
    equal(decoder.decode(stdout), "");
    equal(decoder.decode(stderr), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
