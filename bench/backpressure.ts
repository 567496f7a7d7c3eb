/**
 * Backpressure: what a client that pipelines requests but never reads the
 * answers costs the server and its other clients.
 *
 * A server that keeps reading requests while its answers cannot be written
 * buffers them without bound, until it runs out of memory; one that stops
 * reading such a connection lets the kernel's socket buffers fill and the
 * client's writes block. Meanwhile another client's pings must stay fast:
 * one stuck connection must not stall the event loop for the others.
 *
 * @module
 */

import { AnswerScanner } from "./answers.ts";
import { Histogram } from "./histogram.ts";
import { readMemory, resetPeakRss, type Server } from "./process.ts";
import { formatCount, formatMiB, formatMs, table } from "./report.ts";
import { keyName } from "./requests.ts";
import { GET_PREFIX } from "./throughput.ts";
import { writeAll } from "../internal/write_all.ts";

const FLOOD_MS = 3000;
const PING_INTERVAL_MS = 20;
const PING_TIMEOUT_MS = 2000;
/** Past this growth the server is deemed unbounded and the flood stops. */
const RSS_GROWTH_LIMIT = 1024 * 1024 * 1024;
const REQUESTS_PER_WRITE = 1000;
const PING = new TextEncoder().encode("ping\n");

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Sends one ping and resolves with its latency in milliseconds. */
async function ping(
  conn: Deno.Conn,
  scanner: AnswerScanner,
  buffer: Uint8Array,
): Promise<number> {
  const start = performance.now();
  const answered = scanner.answers + 1;
  await writeAll(conn, PING);
  while (scanner.answers < answered) {
    const read = await conn.read(buffer);
    if (read === null) throw new Error("server closed the ping connection");
    scanner.scan(buffer.subarray(0, read));
  }
  return performance.now() - start;
}

/**
 * Floods the server with unread `get`s of the prefilled key while pinging it
 * on another connection, and returns the markdown table of what happened.
 *
 * @param server A Pulse server whose get key is prefilled.
 */
export async function measureBackpressure(server: Server): Promise<string> {
  const address = { hostname: "127.0.0.1", port: server.port };
  const request = new TextEncoder().encode(
    `get ${keyName(GET_PREFIX, 0)}\n`,
  );
  const block = new Uint8Array(request.length * REQUESTS_PER_WRITE);
  for (let offset = 0; offset < block.length; offset += request.length) {
    block.set(request, offset);
  }
  const flooder = await Deno.connect(address);
  const pinger = await Deno.connect(address);
  const scanner = new AnswerScanner();
  const buffer = new Uint8Array(4096);
  const latencies = new Histogram();
  let written = 0;
  let flooding = true;
  let outcome = "all pings answered";
  // Closing the connection also ends the write the flood is blocked in.
  function stopFlood(): void {
    if (!flooding) return;
    flooding = false;
    flooder.close();
  }
  try {
    resetPeakRss(server.pid);
    const before = readMemory(server.pid).rss;
    const flood = (async () => {
      // Requests may be cut between writes; the next write resumes the cut.
      let offset = 0;
      while (flooding) {
        const count = await flooder.write(block.subarray(offset));
        written += count;
        offset = (offset + count) % block.length;
      }
    })().catch((error) => {
      // A write that fails before the flood is stopped means the server
      // dropped the flooder, a fair defence.
      if (flooding) outcome = `server dropped the flooder: ${error.name}`;
    });
    const end = performance.now() + FLOOD_MS;
    while (performance.now() < end) {
      if (readMemory(server.pid).rss - before > RSS_GROWTH_LIMIT) {
        outcome = `flood stopped: RSS grew past ${formatMiB(RSS_GROWTH_LIMIT)}`;
        break;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), PING_TIMEOUT_MS);
      });
      const answer = ping(pinger, scanner, buffer);
      // A ping left unanswered fails when its connection closes, unawaited.
      answer.catch(() => {});
      const latency = await Promise.race([answer, timeout]);
      clearTimeout(timer);
      if (latency === undefined) {
        outcome = `a ping got no answer in ${formatMs(PING_TIMEOUT_MS)}`;
        break;
      }
      latencies.record(latency);
      await sleep(PING_INTERVAL_MS);
    }
    const peak = readMemory(server.pid).hwm;
    stopFlood();
    await flood;
    return table(
      [
        "unread requests written",
        "peak server RSS growth",
        "pings",
        "ping p50",
        "ping p99",
        "ping max",
        "outcome",
      ],
      [[
        formatCount(written / request.length),
        formatMiB(peak - before),
        formatCount(latencies.count),
        formatMs(latencies.quantile(0.5)),
        formatMs(latencies.quantile(0.99)),
        formatMs(latencies.quantile(1)),
        outcome,
      ]],
    );
  } finally {
    stopFlood();
    pinger.close();
  }
}
