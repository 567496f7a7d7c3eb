/**
 * The polite client of `tests/hostile_test.ts`, in a process of its own so
 * that what the test process does meanwhile (building a large body,
 * collecting its garbage) cannot show in the latencies: it pings a server
 * every 20 ms and prints one line per answer, `<ms since start> <latency>`,
 * until its stdin closes. A wrong answer or a lost connection ends it with
 * status 1 and the reason on stderr.
 *
 * ```sh
 * deno run -A tests/_pinger.ts <port> [token]
 * ```
 *
 * @module
 */

const PING_EVERY_MS = 20;
const [port, token] = Deno.args;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
const buffer = new Uint8Array(4096);

/** Reads one answer (up to its empty line) and returns it. */
async function answer(): Promise<string> {
  let text = "";
  while (!text.endsWith("\n\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("the server closed the connection");
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

let running = true;
// The test closes stdin to stop the pinging.
Deno.stdin.readable.pipeTo(new WritableStream()).finally(() => {
  running = false;
});
try {
  if (token !== undefined) {
    await conn.write(encoder.encode(`auth ${token}\n`));
    const login = await answer();
    if (login !== "ok\n\n") throw new Error(`auth answered ${login}`);
  }
  const started = performance.now();
  while (running) {
    const sent = performance.now();
    await conn.write(encoder.encode("ping\n"));
    const pong = await answer();
    if (pong !== "ok\npong\n\n") throw new Error(`ping answered ${pong}`);
    const latency = performance.now() - sent;
    await Deno.stdout.write(
      encoder.encode(`${(sent - started).toFixed(1)} ${latency.toFixed(1)}\n`),
    );
    await new Promise((resolve) => setTimeout(resolve, PING_EVERY_MS));
  }
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(1);
} finally {
  conn.close();
}
