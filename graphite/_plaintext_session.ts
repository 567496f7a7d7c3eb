/**
 * One Graphite plaintext connection over TCP: its lines are framed as they
 * arrive, every complete line of a chunk read before anything is awaited,
 * and their samples committed once per chunk. Nothing is ever answered.
 *
 * The next chunk is read only once the last one's commit settled: under
 * `--fsync always` that is once it is on disk, and with a remote backend it
 * is what holds a fast sender back (TCP's window fills up). Work on one
 * chunk gives way to other clients every few milliseconds.
 *
 * @module
 */

import { nextTurn } from "../internal/turns.ts";
import { readLines } from "../server/lines.ts";
import {
  type ConnectionState,
  type FeedContext,
  ProblemLog,
  SLICE_MS,
} from "./_ingest.ts";
import { LineIngest } from "./_line_ingest.ts";
import { MAX_GRAPHITE_LINE_LENGTH } from "./plaintext.ts";

/**
 * Reads a connection's lines until it ends or the listeners shut down.
 *
 * @param conn The connection.
 * @param context What the feeds share.
 * @param state The peer's address; updated for the idle sweep.
 */
export async function servePlaintext(
  conn: Deno.Conn,
  context: FeedContext,
  state: ConnectionState,
): Promise<void> {
  const { counters, turns } = context;
  const ingest = new LineIngest(
    context,
    new ProblemLog(context.onLog, state.source),
  );
  const sink = ingest.sink;
  const lines = readLines(conn, {
    maxLineLength: MAX_GRAPHITE_LINE_LENGTH,
    onRead: (n) => {
      counters.bytesIn += n;
      state.activity++;
    },
  });
  try {
    for await (const batch of lines) {
      // A sender whose bytes keep coming is read without a turn of the loop.
      if (turns.overdue(SLICE_MS)) await nextTurn();
      const now = Math.floor(Date.now() / 1000);
      const bytes = batch.bytes;
      for (let i = 0; i < batch.count; i++) {
        const start = batch.start(i);
        if (start < 0) ingest.longLine();
        else ingest.line(bytes, start, batch.end(i), now);
        if ((i & 31) === 31 && turns.overdue(SLICE_MS)) {
          const committing = sink.commit();
          if (committing !== undefined) await committing;
          await nextTurn();
        }
      }
      const committing = sink.commit();
      if (committing !== undefined) await committing;
      if (context.closing()) break;
    }
  } finally {
    sink.rollback();
  }
}
