import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { Client, ClientError } from "../client.ts";
import { serve } from "../server.ts";
import { openStorage } from "../storage/local.ts";
import {
  available,
  bytes,
  ERROR_ANSWER,
  FakeServer,
  HOST,
  makeCertificate,
  randomInt,
  rng,
  unusedPort,
  within,
  writeFully,
} from "./_helpers.ts";

/** Expects `call` to reject with a ClientError whose message matches. */
async function clientError(
  call: Promise<unknown>,
  message: RegExp,
  what = "the call",
): Promise<ClientError> {
  let error: unknown;
  try {
    await within(call, what, 3_000);
  } catch (e) {
    error = e;
  }
  assert(error !== undefined, `${what} resolved instead of failing`);
  assert(
    error instanceof ClientError,
    `${what} rejected with ${error} instead of a ClientError`,
  );
  equal(error.name, "ClientError");
  assert(error instanceof Error);
  assert(message.test(error.message), `message: ${error.message}`);
  return error;
}

/** Answers each request line with `answer(line, i)` until the peer goes. */
function answering(
  answer: (line: string, i: number, connection: number) => string | null,
): ConstructorParameters<typeof FakeServer>[0] {
  return async (conn, lines, connection) => {
    for (let i = 0;; i++) {
      const line = await lines.readLine();
      if (line === null) return;
      const text = answer(line, i, connection);
      if (text === null) return; // hang up
      if (text !== "") await writeFully(conn, bytes(text));
    }
  };
}

Deno.test("Client runs the course's client example against serve()", async () => {
  await using server = serve({ port: 0 });
  await using client = new Client(HOST, server.addr.port, { timeout: 15_000 });
  await client.put("palm.cpu", 0.5, 1150864247);
  await client.put("palm.cpu", 2.0, 1150864248);
  await client.put("palm.cpu", 0.5, 1150864248);
  await client.put("eardrum.cpu", 3, 1150864250);
  await client.put("eardrum.cpu", 4, 1150864251);
  const before = Math.floor(Date.now() / 1000);
  await client.put("eardrum.memory", 4200000);
  const after = Math.floor(Date.now() / 1000);
  const all = await client.get("*");
  deepEqual(Object.keys(all), ["palm.cpu", "eardrum.cpu", "eardrum.memory"]);
  deepEqual(all["palm.cpu"], [[1150864247, 0.5], [1150864248, 0.5]]);
  deepEqual(all["eardrum.cpu"], [[1150864250, 3], [1150864251, 4]]);
  equal(all["eardrum.memory"].length, 1);
  const [timestamp, value] = all["eardrum.memory"][0];
  equal(value, 4200000);
  assert(
    before <= timestamp && timestamp <= after,
    `default timestamp ${timestamp} is now (${before}..${after})`,
  );
  deepEqual(await client.get("palm.cpu"), {
    "palm.cpu": [[1150864247, 0.5], [1150864248, 0.5]],
  });
  deepEqual(await client.get("non_existing_key"), {});
});

Deno.test("Client sends the course's request lines", async () => {
  const lines: string[] = [];
  await using fake = new FakeServer(answering((line) => {
    lines.push(line);
    if (line === "ping") return "ok\npong\n\n";
    if (line.startsWith("get")) return "ok\n\n";
    return "ok\n\n";
  }));
  await using client = new Client(HOST, fake.port);
  await client.put("palm.cpu", 0.5, 1150864247);
  await client.put("eardrum.cpu", 3, 1150864250);
  await client.put("big", 1e16, -5);
  await client.put("neg", -0, 0);
  await client.get("*");
  await client.get("palm.cpu");
  await client.ping();
  deepEqual(lines, [
    "put palm.cpu 0.5 1150864247",
    "put eardrum.cpu 3.0 1150864250",
    "put big 1e+16 -5",
    "put neg -0.0 0",
    "get *",
    "get palm.cpu",
    "ping",
  ]);
  equal(fake.accepted, 1, "one connection for every call");
});

Deno.test("Client.put() and get() round-trip every finite value exactly", async () => {
  await using server = serve({ port: 0 });
  await using client = new Client(HOST, server.addr.port);
  const random = rng(31337);
  const view = new DataView(new ArrayBuffer(8));
  const expected: [number, number][] = [];
  const values = [0, -0, 1e16, 1e-5, 5e-324, Number.MAX_VALUE, -4200000, 0.1];
  for (let i = 0; i < 2000; i++) {
    let value = values[i];
    if (value === undefined) {
      view.setUint32(0, randomInt(random, 0, 0xffffffff));
      view.setUint32(4, randomInt(random, 0, 0xffffffff));
      value = view.getFloat64(0);
      if (!Number.isFinite(value)) value = i;
    }
    const timestamp = i % 2 === 0 ? i : -i * 1_000_000_007;
    expected.push([timestamp, value]);
  }
  await Promise.all(expected.map(([t, v]) => client.put("values", v, t)));
  expected.sort((a, b) => a[0] - b[0]);
  deepEqual(await client.get("values"), { values: expected });
});

Deno.test("Client pipelines concurrent calls and matches their answers", async (t) => {
  await using server = serve({ port: 0 });
  await using client = new Client(HOST, server.addr.port);
  await t.step("1000 puts at once, then a get", async () => {
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) => client.put("load", i / 2, i)),
    );
    const { load } = await client.get("load");
    deepEqual(load, Array.from({ length: 1000 }, (_, i) => [i, i / 2]));
  });
  await t.step(
    "gets between puts see exactly the puts before them",
    async () => {
      const gets: [Promise<Record<string, unknown[]>>, number][] = [];
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 300; i++) {
        calls.push(client.put("step", i, i));
        if (i % 10 === 0) {
          const get = client.get("step");
          gets.push([get, i + 1]);
          calls.push(get);
        }
        if (i % 50 === 0) calls.push(client.ping());
      }
      await Promise.all(calls);
      for (const [get, puts] of gets) {
        equal((await get).step.length, puts, "a get sees the puts before it");
      }
    },
  );
  await t.step("an error answer fails only its own call", async () => {
    const results = await Promise.allSettled([
      client.put("mixed", 1, 1),
      client.get("*"),
      client.put("mixed", 2, 2),
    ]);
    deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "fulfilled",
      "fulfilled",
    ]);
  });
});

Deno.test("Client.ping() resolves when the server answers pong", async () => {
  await using server = serve({ port: 0 });
  await using client = new Client(HOST, server.addr.port, { timeout: 5_000 });
  await client.ping();
  await client.ping();
});

Deno.test("Client rejects with ClientError on an error answer", async () => {
  await using fake = new FakeServer(
    answering((_, i) => i === 0 ? ERROR_ANSWER : "ok\n\n"),
  );
  await using client = new Client(HOST, fake.port);
  await clientError(client.put("k", 1, 1), /wrong command/);
  // The connection stays in step: the next call gets its own answer.
  await within(client.put("k", 2, 2), "the next put");
  equal(fake.accepted, 1, "the connection was kept");
});

Deno.test("Client rejects with ClientError on a malformed answer", async (t) => {
  const cases: [
    name: string,
    answer: string,
    call: (c: Client) => Promise<unknown>,
  ][] = [
    ["an unknown status", "garbage\n\n", (c) => c.put("k", 1, 1)],
    ["an error without a message", "error\n\n", (c) => c.put("k", 1, 1)],
    ["an upper-case status", "OK\n\n", (c) => c.get("k")],
    ["data lines after a put", "ok\nk 1.0 1\n\n", (c) => c.put("k", 1, 1)],
    ["a bad value", "ok\nk one 1\n\n", (c) => c.get("k")],
    ["a bad timestamp", "ok\nk 1.0 1.5\n\n", (c) => c.get("k")],
    ["a short data line", "ok\nk 1.0\n\n", (c) => c.get("k")],
    ["a wrong pong", "ok\nping\n\n", (c) => c.ping()],
  ];
  for (const [name, answer, call] of cases) {
    await t.step(name, async () => {
      // The first request gets the bad answer, later ones good answers.
      await using fake = new FakeServer(
        answering((line, i, connection) =>
          connection === 0 && i === 0
            ? answer
            : line === "ping"
            ? "ok\npong\n\n"
            : "ok\n\n"
        ),
      );
      await using client = new Client(HOST, fake.port);
      await clientError(call(client), /malformed|answer/, name);
      // A later call works, on the same or a new connection.
      await within(client.ping(), "the next call");
    });
  }
});

Deno.test("Client rejects with ClientError when the server never answers", async () => {
  await using fake = new FakeServer(
    answering((_, __, connection) => connection === 0 ? "" : "ok\n\n"),
  );
  await using client = new Client(HOST, fake.port, { timeout: 200 });
  const calls = [client.put("k", 1, 1), client.put("k", 2, 2)];
  await clientError(calls[0], /200 ms/);
  await clientError(calls[1], /200 ms/, "a call pipelined behind it");
  // A timeout leaves the connection out of step: the next call reconnects.
  await within(client.put("k", 3, 3), "the put after the timeout");
  equal(fake.accepted, 2);
});

Deno.test("Client rejects with ClientError when the server closes the connection", async (t) => {
  await t.step("after reading the request", async () => {
    await using fake = new FakeServer(
      answering((_, __, connection) => connection === 0 ? null : "ok\n\n"),
    );
    await using client = new Client(HOST, fake.port);
    await clientError(client.put("k", 1, 1), /closed/);
    await within(client.put("k", 1, 1), "the put after reconnecting");
    equal(fake.accepted, 2);
  });
  await t.step("between two calls", async () => {
    await using fake = new FakeServer(
      answering((_, i, connection) =>
        connection === 0 && i === 1 ? null : "ok\n\n"
      ),
    );
    await using client = new Client(HOST, fake.port);
    await client.put("k", 1, 1);
    await clientError(client.put("k", 2, 2), /closed|reset|broken/i);
    await within(client.put("k", 3, 3), "the put after reconnecting");
  });
  await t.step("mid-answer", async () => {
    await using fake = new FakeServer(async (conn, lines) => {
      await lines.readLine();
      await writeFully(conn, bytes("ok\nk 1.0 1\n"));
    });
    await using client = new Client(HOST, fake.port);
    await clientError(client.get("k"), /closed/);
  });
});

Deno.test("Client rejects with ClientError when nothing listens", async () => {
  const port = unusedPort();
  await using client = new Client(HOST, port, { timeout: 5_000 });
  const error = await clientError(client.put("k", 1, 1), /./);
  assert(
    error.message.startsWith(`Cannot connect to 127.0.0.1:${port}`),
    error.message,
  );
  assert(
    error.cause instanceof Deno.errors.ConnectionRefused,
    `cause: ${error.cause}`,
  );
  const again = await clientError(client.get("*"), /^Cannot connect to /);
  assert(again.cause instanceof Deno.errors.ConnectionRefused);
});

Deno.test("Client refuses invalid arguments before sending anything", async () => {
  const received: string[] = [];
  await using fake = new FakeServer(answering((line) => {
    received.push(line);
    return line === "ping" ? "ok\npong\n\n" : "ok\n\n";
  }));
  await using client = new Client(HOST, fake.port);
  const bad: [string, Promise<unknown>][] = [
    ["a key with a space", client.put("a b", 1, 1)],
    ["a key with a tab", client.put("a\tb", 1, 1)],
    ["a key with a newline", client.put("a\nput x 1 1", 1, 1)],
    ["an empty key", client.put("", 1, 1)],
    ["NaN", client.put("k", NaN, 1)],
    ["Infinity", client.put("k", Infinity, 1)],
    ["-Infinity", client.put("k", -Infinity, 1)],
    ["a 1.5 timestamp", client.put("k", 1, 1.5)],
    ["a NaN timestamp", client.put("k", 1, NaN)],
    ["a 2^53 timestamp", client.put("k", 1, 2 ** 53)],
    ["get of a key with a space", client.get("a b")],
    ["get of an empty key", client.get("")],
    ["get of a key with a newline", client.get("a\nping")],
  ];
  for (const [what, call] of bad) await clientError(call, /./, what);
  await client.ping();
  deepEqual(received, ["ping"], "nothing was sent before the ping");
});

Deno.test("Client.close() fails waiting calls and the client reconnects", async () => {
  await using fake = new FakeServer(
    answering((_, __, connection) => connection === 0 ? "" : "ok\n\n"),
  );
  await using client = new Client(HOST, fake.port);
  const waiting = client.put("k", 1, 1);
  // Let the request leave before closing.
  while (fake.accepted === 0) await new Promise((r) => setTimeout(r, 5));
  client.close();
  await clientError(waiting, /closed/);
  await within(client.put("k", 2, 2), "a put after close()");
  equal(fake.accepted, 2);
});

Deno.test("Client[Symbol.asyncDispose] closes the connection", async () => {
  const ended = Promise.withResolvers<void>();
  await using fake = new FakeServer(async (conn, lines) => {
    while (true) {
      const line = await lines.readLine();
      if (line === null) break;
      await writeFully(conn, bytes("ok\npong\n\n"));
    }
    ended.resolve();
  });
  {
    await using client = new Client(HOST, fake.port);
    await client.ping();
  }
  await within(ended.promise, "the server to see the connection end");
});

Deno.test("Client.get() groups samples by key and sorts each list", async () => {
  await using fake = new FakeServer(
    answering(() => "ok\nb 1.0 3\na 2.0 2\nb 0.5 1\nc -0.0 -7\nb 1e+16 2\n\n"),
  );
  await using client = new Client(HOST, fake.port);
  deepEqual(await client.get("*"), {
    b: [[1, 0.5], [2, 1e16], [3, 1]],
    a: [[2, 2]],
    c: [[-7, -0]],
  });
});

Deno.test("Client.keys() without a pattern lists every key", async () => {
  await using server = serve({ port: 0 });
  await using client = new Client(HOST, server.addr.port);
  await client.put("b.x", 1, 1);
  await client.put("a", 2, 2);
  deepEqual(await client.keys(), ["b.x", "a"]);
  deepEqual(await client.keys("b.*"), ["b.x"]);
});

Deno.test("Client.clients() reads each connection's fields", async (t) => {
  await t.step("from the server", async () => {
    await using server = serve({ port: 0 });
    await using client = new Client(HOST, server.addr.port);
    await client.ping();
    const [self] = await client.clients();
    equal(typeof self.id, "number");
    assert(/^127\.0\.0\.1:\d+$/.test(self.addr), self.addr);
    deepEqual(
      [self.age, self.idle, self.cmds, self.in, self.out],
      [0, 0, 2, "ping\nclients\n".length, "ok\npong\n\n".length],
    );
  });
  await t.step("fields it does not know, and malformed lines", async () => {
    await using server = new FakeServer(
      answering((line) =>
        line === "clients"
          ? "ok\nid=3 addr=[::1]:5 age=1 idle=0 cmds=7 tls=yes\nnonsense\n\n"
          : ERROR_ANSWER
      ),
    );
    await using client = new Client(HOST, server.port);
    await clientError(client.clients(), /malformed answer "nonsense"/);
  });
  await t.step("extra fields kept, numbers as numbers", async () => {
    await using server = new FakeServer(
      answering(() => "ok\nid=3 addr=[::1]:5 age=1 idle=0 cmds=7 tls=yes\n\n"),
    );
    await using client = new Client(HOST, server.port);
    deepEqual(await client.clients(), [
      { id: 3, addr: "[::1]:5", age: 1, idle: 0, cmds: 7, tls: "yes" },
    ]);
  });
});

Deno.test("Client.compact() and shutdown() resolve once the server agreed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-client-ops-" });
  try {
    await using storage = await openStorage(dir);
    const server = serve({ port: 0, storage });
    await using client = new Client(HOST, server.addr.port);
    await client.put("a", 1, 1);
    await client.compact();
    const names = [...Deno.readDirSync(dir)].map((entry) => entry.name);
    assert(names.includes("snapshot.pulse"), names.join(" "));
    await client.shutdown();
    await within(server.finished, "the server's end");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ClientError says by its code what the client's options can fix", async (t) => {
  await t.step("authentication-required", async () => {
    await using server = serve({ port: 0, token: "secret" });
    await using client = new Client(HOST, server.addr.port);
    const error = await clientError(client.ping(), /authentication required/);
    equal(error.code, "authentication-required");
  });
  await t.step("invalid-token", async () => {
    await using server = serve({ port: 0, token: "secret" });
    await using client = new Client(HOST, server.addr.port, { token: "x" });
    const error = await clientError(client.ping(), /invalid token/);
    equal(error.code, "invalid-token");
  });
  await t.step("none for other errors", async () => {
    await using server = serve({ port: 0 });
    await using client = new Client(HOST, server.addr.port);
    const error = await clientError(client.query("{a", {}), /invalid pattern/);
    equal(error.code, undefined);
  });
});

Deno.test({
  name: "ClientError codes tls-required and tls-unsupported",
  ignore: !await available("openssl", ["version"]),
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "pulse-client-tls-" });
    try {
      const { cert, certFile, keyFile } = await makeCertificate(dir);
      await t.step("a plain client on a TLS port", async () => {
        await using server = serve({
          port: 0,
          cert,
          key: await Deno.readTextFile(keyFile),
        });
        await using client = new Client(HOST, server.addr.port);
        const error = await clientError(
          client.ping(),
          /the server answered with TLS/,
        );
        equal(error.code, "tls-required");
      });
      await t.step("a TLS client on a plain port", async () => {
        await using server = serve({ port: 0 });
        await using client = new Client(HOST, server.addr.port, {
          tls: true,
          caCerts: [await Deno.readTextFile(certFile)],
        });
        const error = await clientError(
          client.ping(),
          /over TLS: .*\(the server does not speak TLS there\)$/,
        );
        equal(error.code, "tls-unsupported");
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
