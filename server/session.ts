/**
 * One client's connection: its lines are framed, parsed, run against the
 * shared store, and their answers handed to the client's outbox.
 *
 * Every complete line of a chunk is handled before anything is awaited, and
 * their answers leave in one write; the next chunk is read once the client
 * has taken them. Within a chunk a session waits only for a log commit under
 * `--fsync always`, and when its answers pass 64 KiB (a long answer, or many)
 * it hands them to the outbox and waits while the client holds more than
 * 64 KiB of them unread. Work on one chunk also gives way to other clients
 * every few milliseconds.
 *
 * @module
 */

import { describe } from "../internal/describe.ts";
import { type LineBatch, readLines } from "./lines.ts";
import { type EventLoopTurns, nextTurn } from "../internal/turns.ts";
import { Outbox } from "./outbox.ts";
import { MAX_CACHED_SAMPLES, type RenderCache } from "./render_cache.ts";
import type { Counters } from "./counters.ts";
import type { Journal } from "../persist/journal.ts";
import { AnswerWriter, OK_LENGTH } from "../protocol/answer_writer.ts";
import {
  type Request,
  type RequestParser,
  WRONG_COMMAND,
} from "../protocol/request.ts";
import { Query } from "../store/query.ts";
import type { Store } from "../store.ts";

/** What all sessions share. */
export interface SessionContext {
  /** The store. */
  store: Store;
  /** The log, unless the store is kept in memory only. */
  journal: Journal | undefined;
  /** The request parser, with its cache of keys. */
  parser: RequestParser;
  /** The server's figures. */
  counters: Counters;
  /** Rendered answers of small series. */
  renderCache: RenderCache;
  /** Whether the event loop is overdue for a turn. */
  turns: EventLoopTurns;
  /** The token a client must send first, as bytes, if any. */
  token: Uint8Array | undefined;
  /** The longest request line. */
  maxLineLength: number;
  /** Held answer bytes past which a client is disconnected. */
  maxOutput: number;
  /** Whether the server is shutting down. */
  readonly closing: boolean;
  /** Lines of the `stats` answer beyond the counters. */
  stats(): [name: string, value: number][];
}

/** What the server tracks of a session. */
export interface SessionState {
  /** Waiting for bytes, with no answer owed: safe to close. */
  idle: boolean;
  /**
   * Grows whenever the client sends bytes or takes answers: the server sees
   * idleness as this standing still, without reading a clock per request.
   */
  activity: number;
}

// Answers are handed over at this size even mid-answer, so that a long one
// is streamed rather than built whole.
const FLUSH_SIZE = 64 * 1024;
// Held answers past this make the session wait and stop reading.
const HIGH_WATER = 64 * 1024;
// Samples read per step of a streamed answer.
const READ_STEP = 4096;
// A session gives way to the others after holding the event loop this
// long. Giving way costs about a millisecond (a timer's resolution).
const SLICE_MS = 4;

const TOO_LONG: Request = { command: "invalid", message: WRONG_COMMAND };

/** Compares two byte strings in time that depends on their lengths only. */
function equalInConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ b[i];
  return difference === 0;
}

/**
 * Serves one connection until the client leaves or the server shuts down.
 *
 * @param conn The connection.
 * @param context What sessions share.
 * @param state Updated for the server: idle or not, and when last active.
 */
export async function serveSession(
  conn: Deno.Conn,
  context: SessionContext,
  state: SessionState,
): Promise<void> {
  const { store, journal, parser, counters, renderCache, turns } = context;
  const out = new AnswerWriter();
  const outbox = new Outbox(conn, HIGH_WATER, context.maxOutput);
  let authenticated = context.token === undefined;
  let batch: LineBatch;
  // Answers of changes not yet committed to the log, as triples: where they
  // start, where they end, and how many answers that is.
  const uncommitted: number[] = [];
  // The run of consecutive puts not yet given to the log: lines `runFirst`
  // to `runLast` of the batch. It goes to the log as the bytes the client
  // sent, one copy per run rather than an encoding per put. Its answers are
  // as many `ok\n\n` from `runAnswers` on, as nothing comes between them.
  let runFirst = -1;
  let runLast = -1;
  let runAnswers = 0;

  /** Adds line `line` of the batch, a put, to the run for the log. */
  const logPut = (line: number) => {
    if (runFirst >= 0 && runLast === line - 1) {
      runLast = line;
      return;
    }
    logRun();
    runFirst = runLast = line;
    runAnswers = out.length;
  };
  /** Gives the run to the log; before any other change, and before waiting. */
  const logRun = () => {
    if (runFirst < 0) return;
    const count = runLast - runFirst + 1;
    journal!.lines(
      batch.bytes,
      batch.start(runFirst),
      batch.end(runLast),
      count,
    );
    uncommitted.push(runAnswers, runAnswers + OK_LENGTH * count, count);
    runFirst = -1;
  };
  /**
   * Commits the changes whose answers are written, and turns those answers
   * into errors if the log could not take them.
   */
  const commit = (): Promise<void> | undefined => {
    logRun();
    if (uncommitted.length === 0) return undefined;
    const durable = journal!.commit();
    if (durable === undefined) {
      uncommitted.length = 0;
      return undefined;
    }
    return durable.then(() => {
      uncommitted.length = 0;
    }, (error) => {
      out.failAt(uncommitted, `cannot write the log: ${describe(error)}`);
      for (let i = 2; i < uncommitted.length; i += 3) {
        counters.errors += uncommitted[i];
      }
      uncommitted.length = 0;
    });
  };
  /**
   * Hands the answers so far to the outbox mid-chunk, and waits while the
   * client holds more than the high-water mark of them unread.
   */
  const handOver = async () => {
    const committing = commit();
    if (committing !== undefined) await committing;
    if (out.length > 0) {
      counters.bytesOut += out.length;
      outbox.send(out.take());
    }
    const draining = outbox.drain();
    if (draining !== undefined) await draining;
    // Taking a long answer bit by bit is activity too.
    state.activity++;
    if (turns.overdue(SLICE_MS)) await nextTurn();
  };
  const sink = (key: string, value: number, timestamp: number) =>
    out.sample(key, value, timestamp);
  /** The rest of an answer: writes some of it, returns whether it is done. */
  type Rest = () => boolean;
  const rows = (query: Query): Rest => () => query.read(sink, READ_STEP);
  /** Streams the rest of an answer as the client takes it, and ends it. */
  const stream = async (rest: Rest) => {
    do {
      if (out.length >= FLUSH_SIZE) await handOver();
    } while (!rest());
    out.end();
  };

  /**
   * Runs one request and writes its answer, or the start of it when the
   * rest is to be streamed.
   */
  const execute = (request: Request, line: number): Rest | undefined => {
    counters.commands[request.command]++;
    if (!authenticated && request.command !== "auth") {
      counters.errors++;
      out.error("authentication required");
      return undefined;
    }
    switch (request.command) {
      case "put":
        if (journal !== undefined) {
          if (journal.failure !== undefined) {
            counters.errors++;
            out.error(`cannot write the log: ${describe(journal.failure)}`);
            return undefined;
          }
          logPut(line);
        }
        store.put(request.key, request.value, request.timestamp);
        out.ok();
        return undefined;
      case "get": {
        out.begin();
        if (request.key === "*") return rows(new Query(store.series()));
        const series = store.get(request.key);
        if (series === undefined) return rows(new Query([]));
        if (series.length > MAX_CACHED_SAMPLES) {
          return rows(new Query([series]));
        }
        let lines = renderCache.get(series);
        if (lines === undefined) {
          const start = out.length;
          new Query([series]).read(sink);
          lines = out.bytes().slice(start);
          renderCache.set(series, lines);
        } else {
          out.raw(lines);
        }
        out.end();
        return undefined;
      }
      case "query":
        out.begin();
        return rows(new Query(store.match(request.pattern), request));
      case "last":
        out.begin();
        return rows(new Query(store.match(request.pattern), { latest: true }));
      case "keys": {
        out.begin();
        const matched = store.match(request.pattern);
        let i = 0;
        return () => {
          for (; i < matched.length && out.length < FLUSH_SIZE; i++) {
            out.line(matched[i].key);
          }
          return i === matched.length;
        };
      }
      case "delete": {
        if (journal?.failure !== undefined) {
          counters.errors++;
          out.error(`cannot write the log: ${describe(journal.failure)}`);
          return undefined;
        }
        if (journal !== undefined) logRun();
        const matched = store.match(request.pattern);
        for (const series of matched) {
          journal?.delete(series.key);
          store.delete(series.key);
        }
        const start = out.length;
        out.begin();
        out.line(String(matched.length));
        out.end();
        if (journal !== undefined) uncommitted.push(start, out.length, 1);
        return undefined;
      }
      case "ping":
        out.begin();
        out.line("pong");
        out.end();
        return undefined;
      case "stats":
        out.begin();
        for (const [name, value] of context.stats()) {
          out.line(`${name} ${value}`);
        }
        out.end();
        return undefined;
      case "auth":
        if (
          context.token !== undefined &&
          !equalInConstantTime(request.token, context.token)
        ) {
          counters.errors++;
          out.error("invalid token");
          return undefined;
        }
        authenticated = true;
        out.ok();
        return undefined;
      case "invalid":
        counters.errors++;
        out.error(request.message);
        return undefined;
    }
  };

  state.idle = true;
  const lines = readLines(conn, {
    maxLineLength: context.maxLineLength,
    onRead: (n) => {
      counters.bytesIn += n;
      state.activity++;
    },
  });
  for await (batch of lines) {
    state.idle = false;
    // A client whose bytes keep coming is read without a turn of the loop.
    if (turns.overdue(SLICE_MS)) await nextTurn();
    const bytes = batch.bytes;
    for (let i = 0; i < batch.count; i++) {
      const start = batch.start(i);
      const request = start < 0
        ? TOO_LONG
        : authenticated
        ? parser.parse(bytes, start, batch.end(i))
        : parser.parseBeforeAuth(bytes, start, batch.end(i));
      if (request === undefined) continue;
      const rest = execute(request, i);
      if (rest !== undefined) {
        // Most answers are done in one step: no need to wait for anything.
        if (rest()) out.end();
        else await stream(rest);
      }
      if (
        out.length >= FLUSH_SIZE ||
        ((i & 31) === 31 && turns.overdue(SLICE_MS))
      ) {
        await handOver();
      }
    }
    const committing = commit();
    if (committing !== undefined) await committing;
    // Read on only once the client has taken every answer.
    if (out.length > 0) {
      counters.bytesOut += out.length;
      await outbox.write(out.bytes());
      out.reset();
    }
    state.activity++;
    if (context.closing) break;
    state.idle = true;
  }
  const draining = outbox.drain(0);
  if (draining !== undefined) await draining;
}
