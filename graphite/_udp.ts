/**
 * Graphite plaintext over UDP: each datagram holds whole lines (the last may
 * lack its `\n`, as carbon allows), read and committed as one chunk before
 * the next datagram is received. A datagram is at most 64 KiB, so the work
 * per datagram is bounded; while a commit is under way nothing is received
 * and the kernel's buffer takes, then drops, what comes meanwhile, as UDP
 * does.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { nextTurn } from "../internal/turns.ts";
import { formatAddress } from "../server/accept.ts";
import { type FeedContext, ProblemLog, SLICE_MS } from "./_ingest.ts";
import { LineIngest } from "./_line_ingest.ts";
import { MAX_GRAPHITE_LINE_LENGTH } from "./plaintext.ts";

// The largest UDP payload.
const MAX_DATAGRAM = 65_536;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

function socketClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}

function formatSender(addr: Deno.Addr | undefined): string {
  if (addr === undefined || addr.transport !== "udp") {
    return "an unknown sender";
  }
  return formatAddress(addr.hostname, addr.port);
}

/** Reads the lines of one datagram into `ingest`. */
function ingestDatagram(ingest: LineIngest, bytes: Uint8Array): void {
  const now = Math.floor(Date.now() / 1000);
  let start = 0;
  while (start < bytes.length) {
    let newline = bytes.indexOf(NEWLINE, start);
    if (newline < 0) newline = bytes.length;
    let end = newline;
    if (end > start && bytes[end - 1] === CARRIAGE_RETURN) end--;
    if (end - start > MAX_GRAPHITE_LINE_LENGTH) ingest.longLine();
    else ingest.line(bytes, start, end, now);
    start = newline + 1;
  }
}

/**
 * Receives datagrams until the socket is closed.
 *
 * @param socket A UDP socket.
 * @param context What the feeds share.
 * @param source The socket's address, for the log.
 */
export async function serveDatagrams(
  socket: Deno.DatagramConn,
  context: FeedContext,
  source: string,
): Promise<void> {
  const { counters, turns } = context;
  let sender: Deno.Addr | undefined;
  const log = new ProblemLog(
    context.onLog,
    () => `${source}, a datagram from ${formatSender(sender)}`,
  );
  const ingest = new LineIngest(context, log);
  const buffer = new Uint8Array(MAX_DATAGRAM);
  while (!context.closing()) {
    let datagram: Uint8Array;
    try {
      [datagram, sender] = await socket.receive(buffer);
    } catch (error) {
      if (socketClosed(error)) break;
      log.note(`cannot receive: ${describe(error)}`);
      await nextTurn();
      continue;
    }
    counters.datagrams++;
    counters.bytesIn += datagram.length;
    ingestDatagram(ingest, datagram);
    const committing = ingest.sink.commit();
    if (committing !== undefined) await committing;
    if (turns.overdue(SLICE_MS)) await nextTurn();
  }
  ingest.sink.rollback();
}
