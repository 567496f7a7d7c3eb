/**
 * The commands of operations over TCP: `quit` and `disconnect`, `shutdown`,
 * `clients` and `compact`, with who may run them; and what a plain client
 * gets from a TLS port.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  rejects,
  strictEqual as equal,
} from "node:assert/strict";
import { serve } from "../server.ts";
import { serveListener } from "../server/serve.ts";
import { LocalStorage, openStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
import { Store } from "../store.ts";
import {
  available,
  decoder,
  delay,
  HOST,
  makeCertificate,
  RawConnection,
  splitAnswers,
  within,
} from "./_helpers.ts";

/** A peer address no test traffic goes to (TEST-NET-1, RFC 5737). */
const FAR_PEER = { transport: "tcp", hostname: "192.0.2.7", port: 40000 };

/**
 * A loopback listener whose connections say they come from another
 * machine: real TCP, only the peer's address differs, to check what a
 * client beyond loopback may do.
 */
function farListener(): Deno.Listener {
  const real = Deno.listen({ hostname: HOST, port: 0 });
  const far = (conn: Deno.Conn): Deno.Conn =>
    new Proxy(conn, {
      get(target, property) {
        if (property === "remoteAddr") return FAR_PEER;
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  return {
    get addr() {
      return real.addr;
    },
    accept: async () => far(await real.accept()),
    close: () => real.close(),
  } as unknown as Deno.Listener;
}

/** Sends `requests` and reads until the server closes the connection. */
async function untilClosed(port: number, requests: string): Promise<string> {
  await using connection = await RawConnection.connect(port);
  await connection.send(requests);
  return decoder.decode(await connection.readToEnd());
}

Deno.test("`quit` answers ok, closes the connection and runs no line after it", async (t) => {
  const store = new Store();
  await using server = serve({ port: 0, store });
  const port = server.addr.port;
  for (const command of ["quit", "disconnect"]) {
    await t.step(command, async () => {
      equal(
        await untilClosed(
          port,
          `put ${command}.before 1 1\nping\n${command}\nput ${command}.after 2 2\nping\n`,
        ),
        "ok\n\nok\npong\n\nok\n\n",
      );
      equal(store.get(`${command}.before`)?.length, 1);
      equal(store.get(`${command}.after`), undefined, "the line after");
    });
  }
  await t.step("with trailing whitespace and \\r\\n", async () => {
    equal(await untilClosed(port, "  quit \r\n"), "ok\n\n");
  });
  await t.step(
    "with an argument it is an error, and the line is open",
    async () => {
      await using connection = await RawConnection.connect(port);
      await connection.send("quit now\ndisconnect 1\nping\n");
      equal(
        await connection.answers(3),
        "error\nquit takes no arguments\n\n" +
          "error\ndisconnect takes no arguments\n\n" + "ok\npong\n\n",
      );
    },
  );
  await t.step(
    "after a long answer, once every earlier answer is written",
    async () => {
      for (let i = 0; i < 20_000; i++) store.put(`long.${i % 100}`, i, i);
      const answer = await untilClosed(port, "get *\nquit\n");
      const answers = splitAnswers(answer);
      equal(answers.length, 2);
      // Its status line, a line per sample, the empty line and the end.
      equal(answers[0].split("\n").length, store.stats.samples + 3);
      equal(answers[1], "ok\n\n");
    },
  );
});

Deno.test("`quit` is allowed before `auth`; other commands are not", async () => {
  await using server = serve({ port: 0, token: "secret" });
  equal(
    await untilClosed(server.addr.port, "ping\nquit\n"),
    "error\nauthentication required\n\nok\n\n",
  );
  equal(
    await untilClosed(server.addr.port, "disconnect\n"),
    "ok\n\n",
  );
  const figures = server.stats();
  equal(figures.commands_quit, 2);
  equal(figures.errors, 1);
});

Deno.test("`shutdown` from loopback stops serve() as SIGTERM does", async () => {
  const store = new Store();
  const server = serve({ port: 0, store });
  const port = server.addr.port;
  await using idle = await RawConnection.connect(port);
  await idle.send("ping\n");
  equal(await idle.answers(1), "ok\npong\n\n");
  // The chunk is answered whole, as at SIGTERM: the lines after too.
  equal(
    await untilClosed(port, "put before 1 1\nshutdown\nput after 2 2\n"),
    "ok\n\nok\n\nok\n\n",
  );
  await within(server.finished, "the server's end");
  equal(decoder.decode(await idle.readToEnd()), "", "idle ones are closed");
  deepEqual(store.get("after")?.toArray(), [[2, 2]]);
  await rejects(
    Deno.connect({ hostname: HOST, port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("`shutdown` calls onShutdownRequest instead when given", async () => {
  let requests = 0;
  await using server = serve({
    port: 0,
    onShutdownRequest: () => requests++,
  });
  await using connection = await RawConnection.connect(server.addr.port);
  await connection.send("shutdown\nping\n");
  equal(await connection.answers(2), "ok\n\nok\npong\n\n");
  equal(requests, 1);
  await connection.send("ping\n");
  equal(await connection.answers(1), "ok\npong\n\n", "still serving");
});

Deno.test("`shutdown` and `compact` need a login with a token, loopback without", async (t) => {
  await t.step("before auth: authentication required", async () => {
    await using server = serve({ port: 0, token: "secret" });
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send("shutdown\ncompact\nclients\n");
    equal(
      await connection.answers(3),
      "error\nauthentication required\n\n".repeat(3),
    );
    const figures = server.stats();
    deepEqual(
      [figures.commands_shutdown, figures.commands_compact, figures.errors],
      [1, 1, 3],
    );
  });
  await t.step("beyond loopback without a token: not allowed", async () => {
    await using server = serveListener(farListener(), {});
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send("shutdown\ncompact\nclients\n");
    const answers = splitAnswers(await connection.answers(3));
    deepEqual(answers.slice(0, 2), [
      "error\nshutdown not allowed\n\n",
      "error\ncompact not allowed\n\n",
    ]);
    assert(answers[2].startsWith("ok\nid="), answers[2]);
    assert(answers[2].includes(" addr=192.0.2.7:40000 "), answers[2]);
  });
  await t.step("beyond loopback with the token: allowed", async () => {
    const server = serveListener(farListener(), { token: "secret" });
    equal(
      await untilClosed(server.addr.port, "auth secret\nshutdown\n"),
      "ok\n\nok\n\n",
    );
    await within(server.finished, "the server's end");
  });
});

Deno.test("`clients` lists every open connection with its figures", async (t) => {
  await using server = serve({ port: 0 });
  const port = server.addr.port;
  await using first = await RawConnection.connect(port);
  await first.send("put a 1 1\nping\n");
  equal(await first.answers(2), "ok\n\nok\npong\n\n");
  await using second = await RawConnection.connect(port);
  const line =
    /^id=(\d+) addr=127\.0\.0\.1:(\d+) age=(\d+) idle=(\d+) cmds=(\d+) in=(\d+) out=(\d+)$/;
  const list = async () => {
    await second.send("clients\n");
    const lines = (await second.answers(1)).split("\n");
    equal(lines[0], "ok");
    deepEqual(lines.slice(-2), ["", ""]);
    return lines.slice(1, -2).map((text) => {
      const match = line.exec(text);
      assert(match !== null, text);
      return match.slice(1).map((field, i) => i === 1 ? field : Number(field));
    });
  };
  await t.step("one line per connection, oldest first", async () => {
    const rows = await list();
    equal(rows.length, 2);
    const [a, b] = rows;
    equal(a[1], String((first.conn.localAddr as Deno.NetAddr).port));
    equal(b[1], String((second.conn.localAddr as Deno.NetAddr).port));
    assert((b[0] as number) > (a[0] as number), "ids grow");
    // cmds, bytes in and out of the first connection, exactly.
    deepEqual(a.slice(4), [
      2,
      "put a 1 1\nping\n".length,
      "ok\n\nok\npong\n\n".length,
    ]);
    deepEqual(b.slice(4), [1, "clients\n".length, 0], "itself, so far");
  });
  await t.step("idle counts seconds since the client last sent", async () => {
    await delay(1_100);
    const [a, b] = await list();
    assert((a[3] as number) >= 1, `idle=${a[3]}`);
    assert((a[2] as number) >= 1, `age=${a[2]}`);
    equal(b[3], 0);
  });
  await t.step("ids are unique across the servers of a process", async () => {
    await using other = serve({ port: 0 });
    await using connection = await RawConnection.connect(other.addr.port);
    await connection.send("clients\n");
    const id = Number(/id=(\d+)/.exec(await connection.answers(1))![1]);
    const ids = (await list()).map((row) => row[0] as number);
    assert(!ids.includes(id), `${id} in ${ids}`);
  });
  await t.step("a closed connection leaves the list", async () => {
    first.close();
    await within(
      (async () => {
        while ((await list()).length !== 1) await delay(10);
      })(),
      "the first connection gone",
    );
  });
});

Deno.test("`compact` writes a snapshot and cuts the log, or says why not", async (t) => {
  await t.step("with a data directory", async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulse-compact-" });
    try {
      {
        await using storage = await openStorage(dir, { fsync: "always" });
        await using server = serve({ port: 0, storage });
        await using connection = await RawConnection.connect(
          server.addr.port,
        );
        await connection.send("put a 1 1\nput b 2 2\ncompact\nput c 3 3\n");
        equal(await connection.answers(4), "ok\n\n".repeat(4));
        const names = [...Deno.readDirSync(dir)].map((entry) => entry.name)
          .sort();
        deepEqual(names, ["LOCK", "log-00000002.pulse", "snapshot.pulse"]);
        equal(server.stats().commands_compact, 1);
      }
      await using storage = await openStorage(dir);
      deepEqual(storage.restored?.samples, 3);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("in memory", async () => {
    await using server = serve({ port: 0 });
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send("compact\n");
    equal(
      await connection.answers(1),
      "error\ncannot compact: the samples are kept in memory only\n\n",
    );
  });
  await t.step("a backend without compaction", async () => {
    const local = new LocalStorage();
    // Everything of the local backend but compact().
    const storage: Storage = {
      backend: "remote",
      appender: () => local.appender(),
      querier: local.querier,
      stats: () => local.stats(),
      close: () => local.close(),
      [Symbol.asyncDispose]: () => local.close(),
    };
    await using server = serve({ port: 0, storage });
    await using connection = await RawConnection.connect(server.addr.port);
    await connection.send("compact\n");
    equal(
      await connection.answers(1),
      "error\ncannot compact: the remote backend has no snapshots\n\n",
    );
  });
});

Deno.test({
  name: "A plain client on a TLS port gets a TLS alert",
  ignore: !await available("openssl", ["version"]),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulse-ops-tls-" });
    try {
      const { certFile, keyFile } = await makeCertificate(dir);
      await using server = serve({
        port: 0,
        cert: await Deno.readTextFile(certFile),
        key: await Deno.readTextFile(keyFile),
      });
      await using connection = await RawConnection.connect(server.addr.port);
      await connection.send("ping\n");
      const answer = await connection.readToEnd();
      // A TLS record: content type 21 (alert), version 3.x, a fatal alert.
      deepEqual([...answer.subarray(0, 2)], [0x15, 0x03]);
      equal(answer[5], 2, "fatal");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
