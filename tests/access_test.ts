/**
 * Access of issue 5, against `server.ts` run as a child process: a token
 * (`--token` or `PULSE_TOKEN`) that every connection must send first, the
 * {@linkcode Client}'s `token` option, TLS with a certificate the test makes
 * itself with `openssl`, and the warning printed when the server listens
 * beyond loopback without a token.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  rejects,
  strictEqual as equal,
} from "node:assert/strict";
import { Client, ClientError } from "../client.ts";
import { serve } from "../server.ts";
import {
  available,
  bytes,
  concat,
  decoder,
  makeCertificate,
  RawConnection,
  replaySession,
  ServerProcess,
  within,
} from "./_helpers.ts";

/**
 * A child server's usual arguments: any free port, samples in memory, and no
 * HTTP, which would take the same fixed port in every test server.
 */
const IN_MEMORY = ["--port", "0", "--memory", "--http", "off"];
const PONG = "ok\npong\n\n";
const AUTH_REQUIRED = "error\nauthentication required\n\n";
const INVALID_TOKEN = "error\ninvalid token\n\n";
const TOKEN = "s3cret-Tökén";
const WARNING = /^pulse: warning: listening on .* without a token/m;

const OPENSSL = await available("openssl", ["version"]);

/**
 * Sends `request` over TLS and reads until `count` answers have come, for
 * byte-exact checks the Client cannot make.
 */
async function exchangeTls(
  port: number,
  caCerts: string[],
  request: string,
  count: number,
): Promise<string> {
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts });
  try {
    await conn.write(bytes(request));
    let received: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    const complete = () =>
      decoder.decode(received).split("\n\n").length - 1 >= count;
    await within(
      (async () => {
        while (!complete()) {
          const n = await conn.read(chunk);
          if (n === null) throw new Error("the server closed the connection");
          received = concat(received, chunk.subarray(0, n));
        }
      })(),
      `${count} answers over TLS`,
    );
    return decoder.decode(received);
  } finally {
    conn.close();
  }
}

Deno.test("server.ts --token requires `auth` before any other command", async (t) => {
  await using server = await ServerProcess.start([
    ...IN_MEMORY,
    "--token",
    TOKEN,
  ]);
  await using connection = await RawConnection.connect(server.port);
  await t.step("every command before it answers the error", async () => {
    await connection.send(
      "put locked.out 1 1\nget locked.out\nget *\nping\nstats\n" +
        "keys *\ndelete *\nbad command\n\n",
    );
    equal(await connection.answers(8), AUTH_REQUIRED.repeat(8));
  });
  await t.step(
    "a wrong token answers invalid token, still locked",
    async () => {
      await connection.send("auth not-the-token\nping\n");
      equal(await connection.answers(2), INVALID_TOKEN + AUTH_REQUIRED);
    },
  );
  await t.step("the right token opens the session of issue 2", async () => {
    await connection.send(`auth ${TOKEN}\n`);
    equal(await connection.answers(1), "ok\n\n");
    // The session starts from an empty store: nothing sent before got in.
    await replaySession(connection, equal);
  });
  await t.step("each connection logs in on its own", async () => {
    await using other = await RawConnection.connect(server.port);
    await other.send("get *\n");
    equal(await other.answers(1), AUTH_REQUIRED);
  });
});

Deno.test("server.ts accepts only the whole token, byte for byte", async () => {
  await using server = await ServerProcess.start([
    ...IN_MEMORY,
    "--token",
    TOKEN,
  ]);
  await using connection = await RawConnection.connect(server.port);
  const token = bytes(TOKEN);
  const lastChanged = token.slice();
  lastChanged[lastChanged.length - 1] ^= 1;
  const firstChanged = token.slice();
  firstChanged[0] ^= 1;
  const wrong: [string, Uint8Array][] = [
    ["a prefix", token.subarray(0, 6)],
    ["all but the last byte", token.subarray(0, token.length - 1)],
    ["cut inside a character", token.subarray(0, token.length - 2)],
    ["one byte more", concat(token, bytes("x"))],
    ["twice over", concat(token, token)],
    ["the last byte changed", lastChanged],
    ["the first byte changed", firstChanged],
    ["another case", bytes(TOKEN.toUpperCase())],
    ["the same length", bytes("x".repeat(token.length))],
    ["one byte", bytes("s")],
  ];
  for (const [name, candidate] of wrong) {
    await connection.send(concat(bytes("auth "), candidate, bytes("\nping\n")));
    equal(await connection.answers(2), INVALID_TOKEN + AUTH_REQUIRED, name);
  }
  await connection.send(concat(bytes("auth "), token, bytes("\nping\n")));
  equal(await connection.answers(2), "ok\n\n" + PONG);
});

Deno.test("server.ts reads the token from PULSE_TOKEN", async (t) => {
  await t.step("without --token", async () => {
    await using server = await ServerProcess.start(
      IN_MEMORY,
      { env: { PULSE_TOKEN: "from-the-environment" } },
    );
    await using connection = await RawConnection.connect(server.port);
    await connection.send("ping\nauth from-the-environment\nping\n");
    equal(await connection.answers(3), AUTH_REQUIRED + "ok\n\n" + PONG);
  });
  await t.step("--token wins over it", async () => {
    await using server = await ServerProcess.start(
      [...IN_MEMORY, "--token", "from-the-flag"],
      { env: { PULSE_TOKEN: "from-the-environment" } },
    );
    await using connection = await RawConnection.connect(server.port);
    await connection.send(
      "auth from-the-environment\nauth from-the-flag\nping\n",
    );
    equal(await connection.answers(3), INVALID_TOKEN + "ok\n\n" + PONG);
  });
});

Deno.test("Client sends its token first on every connection", async (t) => {
  await using server = serve({ port: 0, token: TOKEN });
  const port = server.addr.port;
  await t.step("with the right token, calls go through", async () => {
    await using client = new Client("127.0.0.1", port, {
      token: TOKEN,
      timeout: 10_000,
    });
    // Calls made before the connection exists queue behind the login.
    await Promise.all([
      client.put("with.token", 1, 10),
      client.put("with.token", 2, 20),
    ]);
    equal((await client.stats()).commands_auth, 1);
    deepEqual(await client.get("with.token"), {
      "with.token": [[10, 1], [20, 2]],
    });
  });
  await t.step("after a reconnection too", async () => {
    await using client = new Client("127.0.0.1", port, {
      token: TOKEN,
      timeout: 10_000,
    });
    await client.ping();
    client.close();
    await client.put("after.reconnect", 3, 30);
    deepEqual(await client.get("after.reconnect"), {
      "after.reconnect": [[30, 3]],
    });
  });
  await t.step("without a token, calls fail", async () => {
    await using client = new Client("127.0.0.1", port, { timeout: 10_000 });
    await rejects(
      client.put("no.token", 1, 1),
      (error) =>
        error instanceof ClientError &&
        error.message.includes("authentication required"),
    );
  });
  await t.step("with a wrong token, calls fail", async () => {
    await using client = new Client("127.0.0.1", port, {
      token: "wrong",
      timeout: 10_000,
    });
    await rejects(
      client.put("wrong.token", 1, 1),
      (error) =>
        error instanceof ClientError && error.message.includes("invalid token"),
    );
  });
  await t.step("nothing was stored by the refused calls", async () => {
    await using client = new Client("127.0.0.1", port, { token: TOKEN });
    deepEqual(Object.keys(await client.get("*")), [
      "with.token",
      "after.reconnect",
    ]);
  });
});

Deno.test({
  name: "server.ts --cert --key serves over TLS",
  ignore: !OPENSSL,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "pulse-tls-" });
    try {
      const { cert, certFile, keyFile } = await makeCertificate(dir);
      const tlsArgs = [...IN_MEMORY, "--cert", certFile];
      await t.step("the Client with { tls: true, caCerts }", async () => {
        await using server = await ServerProcess.start([
          ...tlsArgs,
          "--key",
          keyFile,
        ]);
        assert(server.stderr.includes(`:${server.port} (TLS)`), server.stderr);
        await using client = new Client("127.0.0.1", server.port, {
          tls: true,
          caCerts: [cert],
          timeout: 10_000,
        });
        await Promise.all([
          client.put("over.tls", 0.5, 1150864247),
          client.put("over.tls", 2, 1150864248),
        ]);
        await client.ping();
        deepEqual(await client.get("*"), {
          "over.tls": [[1150864247, 0.5], [1150864248, 2]],
        });
        equal(
          await exchangeTls(server.port, [cert], "get over.tls\nping\n", 2),
          "ok\nover.tls 0.5 1150864247\nover.tls 2.0 1150864248\n\n" + PONG,
        );
      });
      await t.step("a client that does not trust it gets nothing", async () => {
        await using server = await ServerProcess.start([
          ...tlsArgs,
          "--key",
          keyFile,
        ]);
        await using untrusting = new Client("127.0.0.1", server.port, {
          tls: true,
          timeout: 10_000,
        });
        await rejects(untrusting.ping(), ClientError);
        await using plain = await RawConnection.connect(server.port);
        await plain.send("ping\n");
        const received = decoder.decode(await plain.readToEnd());
        assert(!received.includes("pong"), received);
      });
      await t.step("with a token as well", async () => {
        await using server = await ServerProcess.start([
          ...tlsArgs,
          "--key",
          keyFile,
          "--token",
          TOKEN,
        ]);
        await using client = new Client("127.0.0.1", server.port, {
          tls: true,
          caCerts: [cert],
          token: TOKEN,
          timeout: 10_000,
        });
        await client.put("tls.and.token", 1, 1);
        deepEqual(await client.get("tls.and.token"), {
          "tls.and.token": [[1, 1]],
        });
        equal(
          await exchangeTls(server.port, [cert], "get *\n", 1),
          AUTH_REQUIRED,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("server.ts warns when it listens beyond loopback without a token", async (t) => {
  const anyAddress = ["--hostname", "0.0.0.0", ...IN_MEMORY];
  await t.step("0.0.0.0 without a token: the warning", async () => {
    await using server = await ServerProcess.start(anyAddress);
    assert(
      server.stderr.includes(
        "pulse: warning: listening on 0.0.0.0 without a token",
      ),
      server.stderr,
    );
    // It listens all the same, loopback included.
    await using connection = await RawConnection.connect(server.port);
    await connection.send("ping\n");
    equal(await connection.answers(1), PONG);
  });
  await t.step("0.0.0.0 with --token: none", async () => {
    await using server = await ServerProcess.start([
      ...anyAddress,
      "--token",
      TOKEN,
    ]);
    assert(!WARNING.test(server.stderr), server.stderr);
  });
  await t.step("0.0.0.0 with PULSE_TOKEN: none", async () => {
    await using server = await ServerProcess.start(anyAddress, {
      env: { PULSE_TOKEN: TOKEN },
    });
    assert(!WARNING.test(server.stderr), server.stderr);
  });
  await t.step("127.0.0.1 without a token: none", async () => {
    await using server = await ServerProcess.start([
      ...IN_MEMORY,
    ]);
    assert(!WARNING.test(server.stderr), server.stderr);
  });
});
