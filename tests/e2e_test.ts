import {
  ok as assert,
  rejects,
  strictEqual as equal,
} from "node:assert/strict";
import { formatValue } from "../protocol/format_value.ts";
import {
  decoder,
  delay,
  HOST,
  RawConnection,
  replaySession,
  ServerProcess,
} from "./_helpers.ts";

/** Starts `server.ts --port 0 --memory` without HTTP. */
function startServer(): Promise<ServerProcess> {
  return ServerProcess.start(["--port", "0", "--memory", "--http", "off"]);
}

Deno.test("server.ts replays the session of issue 2 byte for byte", async () => {
  await using server = await startServer();
  {
    await using connection = await RawConnection.connect(server.port);
    await replaySession(connection, equal);
  }
  server.child.kill("SIGTERM");
  const status = await server.exit();
  equal(status.code, 0, server.stderr);
});

Deno.test("server.ts --help prints the usage and exits 0", async () => {
  await using server = ServerProcess.spawn(["--help"]);
  const status = await server.exit();
  equal(status.code, 0, server.stderr);
  assert(server.stdout.includes("Usage:"), server.stdout);
  assert(server.stdout.includes("--port"), server.stdout);
  assert(server.stdout.includes("--hostname"), server.stdout);
});

Deno.test("server.ts --version prints the version of deno.json and exits 0", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  equal(config.version, "0.2.0");
  await using server = ServerProcess.spawn(["--version"]);
  const status = await server.exit();
  equal(status.code, 0, server.stderr);
  equal(server.stdout, `pulse ${config.version}\n`);
  equal(server.stderr, "");
});

Deno.test("server.ts exits 2 with the usage on flags it cannot read", async (t) => {
  const cases: [string[], string][] = [
    [
      ["--frobnicate"],
      "pulse: Cannot use --frobnicate: there is no such option",
    ],
    [["--memory=yes"], "pulse: Cannot give --memory a value: it is a switch"],
    [["--data"], "pulse: Cannot read --data: it needs a value"],
    [["extra"], 'pulse: Cannot use the argument "extra"'],
    [["--fsync", "sometimes"], "pulse: --fsync must be always, everysec or no"],
    [["--cert", "cert.pem"], "pulse: --cert and --key go together"],
    [
      ["--max-connections", "many"],
      "pulse: --max-connections must be a whole number",
    ],
    [
      ["--retention", "forever"],
      '--retention: Cannot read the duration "forever"',
    ],
    [["--max-output", "lots"], '--max-output: Cannot read the size "lots"'],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), async () => {
      await using server = ServerProcess.spawn(args);
      const status = await server.exit();
      equal(status.code, 2, server.stderr);
      assert(server.stderr.startsWith("pulse: "), server.stderr);
      assert(server.stderr.includes(message), server.stderr);
      assert(server.stderr.includes("Usage:"), server.stderr);
    });
  }
});

Deno.test("server.ts exits 2 on a bad --port", async (t) => {
  const cases = [
    ["--port", "abc"],
    ["--port", "-1"],
    ["--port", "65536"],
    ["--port", "1.5"],
    ["--port", "8888x"],
    ["--port", ""],
    ["--port", "1e3"],
    ["--port"],
  ];
  for (const args of cases) {
    await t.step(JSON.stringify(args.join(" ")), async () => {
      await using server = ServerProcess.spawn(args);
      const status = await server.exit();
      equal(status.code, 2, `stderr: ${server.stderr}`);
      assert(server.stderr.includes("pulse:"), server.stderr);
    });
  }
});

Deno.test("server.ts answers requests in flight at SIGTERM, then exits 0", async () => {
  await using server = await startServer();
  const port = server.port;
  // Fill the server so that `get *` streams for a while (about 10 MB).
  const samples: string[] = [];
  {
    await using loader = await RawConnection.connect(port);
    let requests = "";
    for (let s = 0; s < 300; s++) {
      for (let i = 0; i < 1000; i++) {
        const value = i % 3 === 0 ? i : i / 4 - 100;
        const ts = 1_700_000_000 + i;
        requests += `put series${s}.value ${value} ${ts}\n`;
        samples.push(`series${s}.value ${formatValue(value)} ${ts}\n`);
      }
    }
    // Read while writing: the answers would otherwise fill the buffers.
    const [, answers] = await Promise.all([
      loader.send(requests),
      loader.answers(samples.length),
    ]);
    equal(answers, "ok\n\n".repeat(samples.length));
  }
  await using connection = await RawConnection.connect(port);
  await connection.send("get *\nput late 1.5 1\nping\n");
  // The first bytes prove the server has read the requests; we stop
  // reading, so it is still busy writing when the signal comes.
  assert(await connection.readMore());
  server.child.kill("SIGTERM");
  await delay(200); // let the signal land while the answer is unread
  const rest = decoder.decode(await connection.readToEnd(30_000));
  equal(
    rest,
    "ok\n" + samples.join("") + "\n" + "ok\n\n" + "ok\npong\n\n",
    "every answer, in order, then the end of the connection",
  );
  const status = await server.exit();
  equal(status.code, 0, server.stderr);
  await rejects(
    Deno.connect({ hostname: HOST, port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("server.ts serves with no more than the start task's permissions", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const permissions = (config.tasks.start as string).split(" ")
    .filter((word) => word.startsWith("--allow-"));
  const data = await Deno.makeTempDir();
  try {
    await using server = await ServerProcess.start(
      ["--port", "0", "--http", "127.0.0.1:0", "--data", data],
      { permissions, env: { PULSE_TOKEN: "secret" } },
    );
    await using connection = await RawConnection.connect(server.port);
    await connection.send("auth secret\nput palm.cpu 1 1\nget palm.cpu\n");
    equal(
      await connection.answers(3),
      "ok\n\nok\n\nok\npalm.cpu 1.0 1\n\n",
    );
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});
