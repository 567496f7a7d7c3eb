import {
  ok as assert,
  rejects,
  strictEqual as equal,
} from "node:assert/strict";
import { formatValue } from "../protocol.ts";
import {
  decoder,
  delay,
  HOST,
  RawConnection,
  replaySession,
  within,
} from "./_helpers.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;
const LISTENING = /^pulse: listening on 127\.0\.0\.1:(\d+)$/m;

/**
 * `deno run -A server.ts ...args` as a child process, its output collected.
 * Disposing it kills the process if it still runs and waits for it.
 */
class ServerProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Resolves with the port once the server says it listens. */
  readonly listening: Promise<number>;
  #stderr = "";
  #stdout = "";
  #drained: Promise<void>;
  #exited = false;

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SERVER, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child.status.then(() => this.#exited = true);
    const listening = Promise.withResolvers<number>();
    this.listening = listening.promise;
    // Keep reading both pipes to their end, so that the child never blocks.
    this.#drained = Promise.all([
      this.#drain(this.child.stderr, (text) => {
        this.#stderr += text;
        const match = this.#stderr.match(LISTENING);
        if (match) listening.resolve(Number(match[1]));
      }),
      this.#drain(this.child.stdout, (text) => this.#stdout += text),
    ]).then(() =>
      listening.reject(new Error(`the server never listened: ${this.#stderr}`))
    );
    // Nobody may wait for it (a process that is meant to fail).
    this.listening.catch(() => {});
  }

  /** Everything the process wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Everything the process wrote to stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Waits for the exit and for the last of the output. */
  async exit(): Promise<Deno.CommandStatus> {
    const status = await within(this.child.status, "the server's exit", 30_000);
    await this.#drained;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // It exited meanwhile.
      }
    }
    await this.child.status;
    await this.#drained;
  }

  async #drain(
    stream: ReadableStream<Uint8Array>,
    onText: (text: string) => void,
  ): Promise<void> {
    const text = stream.pipeThrough(new TextDecoderStream());
    for await (const chunk of text) onText(chunk);
  }
}

/** Starts `server.ts --port 0 --memory` and waits until it listens. */
async function startServer(): Promise<[ServerProcess, number]> {
  const server = new ServerProcess(["--port", "0", "--memory"]);
  try {
    const port = await within(server.listening, "listening", 30_000);
    return [server, port];
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

Deno.test("server.ts replays the session of issue 2 byte for byte", async () => {
  const [server, port] = await startServer();
  await using _ = server;
  {
    await using connection = await RawConnection.connect(port);
    await replaySession(connection, equal);
  }
  server.child.kill("SIGTERM");
  const status = await server.exit();
  equal(status.code, 0, server.stderr);
});

Deno.test("server.ts --help prints the usage and exits 0", async () => {
  await using server = new ServerProcess(["--help"]);
  const status = await server.exit();
  equal(status.code, 0, server.stderr);
  assert(server.stdout.includes("Usage:"), server.stdout);
  assert(server.stdout.includes("--port"), server.stdout);
  assert(server.stdout.includes("--hostname"), server.stdout);
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
      await using server = new ServerProcess(args);
      // Fail fast rather than hang if it listens instead of refusing.
      const outcome = await within(
        Promise.race([
          server.child.status.then((s) => `exit ${s.code}`),
          server.listening.then(
            (port) => `listening on port ${port}`,
            () => new Promise<string>(() => {}), // it exited: see status
          ),
        ]),
        "exit or listen",
        30_000,
      );
      equal(outcome, "exit 2", `stderr: ${server.stderr}`);
      assert(server.stderr.includes("pulse:"), server.stderr);
    });
  }
});

Deno.test("server.ts answers requests in flight at SIGTERM, then exits 0", async () => {
  const [server, port] = await startServer();
  await using _ = server;
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
