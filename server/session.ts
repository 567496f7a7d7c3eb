/**
 * One client's connection: its lines are framed, parsed, run against the
 * storage, and their answers handed to the client's outbox.
 *
 * Every complete line of a chunk is handled before anything is awaited, and
 * their answers leave in one write; the next chunk is read once the client
 * has taken them. A session waits within a chunk only for what the storage
 * has not done yet (a commit under `--fsync always`, a remote backend's
 * read), always answering in order, and when its answers pass 64 KiB (a
 * long answer, or many) it hands them to the outbox and waits while the
 * client holds more than 64 KiB of them unread. Work on one chunk also
 * gives way to other clients every few milliseconds.
 *
 * A session keeps its connection's figures (commands, bytes, when it last
 * sent something) with plain increments; the time is read once per chunk.
 *
 * @module
 */

import { equalInConstantTime } from "../internal/constant_time.ts";
import { describe } from "../internal/describe.ts";
import { type EventLoopTurns, nextTurn } from "../internal/turns.ts";
import { AnswerWriter, OK_LENGTH } from "../protocol/answer_writer.ts";
import {
  type Request,
  type RequestParser,
  WRONG_COMMAND,
} from "../protocol/request.ts";
import {
  type Appender,
  failureMessage,
  type MaybePromise,
  type Querier,
  type RowCursor,
  type SeriesInfo,
  type Storage,
  StorageError,
} from "../storage/storage.ts";
import type { Logger } from "../internal/logger.ts";
import {
  type ConnectionInfo,
  type ConnectionRegistry,
  describeConnection,
} from "./connections.ts";
import type { Counters } from "./counters.ts";
import { type LineBatch, readLines } from "./lines.ts";
import { Outbox } from "./outbox.ts";
import { MAX_CACHED_SAMPLES, type RenderCache } from "./render_cache.ts";

/** What all sessions share. */
export interface SessionContext {
  /** Where samples are kept. */
  storage: Storage;
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
  /** The open connections, for `clients`. */
  connections: ConnectionRegistry;
  /** The event log. */
  logger: Logger;
  /** Whether every request line goes to the event log. */
  logRequests: boolean;
  /** Whether the server is shutting down. */
  closing(): boolean;
  /** Asks the server to shut down, for the `shutdown` command of `by`. */
  requestShutdown(by: ConnectionInfo): void;
  /** Lines of the `stats` answer beyond the counters. */
  stats(): [name: string, value: number][];
}

// Answers are handed over at this size even mid-answer, so that a long one
// is streamed rather than built whole.
const FLUSH_SIZE = 64 * 1024;
// Held answers past this make the session wait and stop reading.
const HIGH_WATER = 64 * 1024;
// Samples read per step of a streamed answer.
const SAMPLES_PER_STEP = 4096;
// A session gives way to the others after holding the event loop this
// long. Giving way costs about a millisecond (a timer's resolution).
const SLICE_MS = 4;

const TOO_LONG: Request = { command: "invalid", message: WRONG_COMMAND };
// A line that logs in, whose token the event log must not hold.
const AUTH_LINE = /^[ \t]*auth[ \t]/;
const LENIENT_UTF8 = new TextDecoder();

/**
 * The rest of an answer: writes some of it, and says whether the answer is
 * complete, its end written.
 */
type Rest = () => MaybePromise<boolean>;

/** The rest of an answer that is complete. */
const COMPLETE: Rest = () => true;

/**
 * Serves one connection until the client leaves or the server shuts down.
 *
 * @param context What sessions share.
 * @param state The connection, whose figures the session keeps: idle or
 * not, activity, commands and bytes.
 */
export function serveSession(
  context: SessionContext,
  state: ConnectionInfo,
): Promise<void> {
  return new Session(context, state).run();
}

/** One connection's requests, answered in order. */
class Session {
  #conn: Deno.Conn;
  #context: SessionContext;
  #state: ConnectionInfo;
  #out = new AnswerWriter();
  #outbox: Outbox;
  #appender: Appender;
  #querier: Querier;
  #authenticated: boolean;
  #quitting = false;
  #batch: LineBatch | undefined;
  // Answers of changes whose commit is still to come, when changes take
  // effect only then: where they start, where they end, how many they are.
  #uncommitted: number[] = [];
  // The cursor of the answer being streamed, closed if the session ends
  // first; and how many times answers were handed over, to tell whether an
  // answer that fails has been sent in part.
  #cursor: RowCursor | undefined;
  #handedOver = 0;
  #sink = (key: string, value: number, timestamp: number) =>
    this.#out.sample(key, value, timestamp);

  constructor(context: SessionContext, state: ConnectionInfo) {
    this.#conn = state.conn;
    this.#context = context;
    this.#state = state;
    this.#outbox = new Outbox(state.conn, HIGH_WATER, context.maxOutput);
    this.#appender = context.storage.appender();
    this.#querier = context.storage.querier;
    this.#authenticated = context.token === undefined;
  }

  /** Reads and answers chunks until the end of the connection. */
  async run(): Promise<void> {
    const { counters, turns } = this.#context;
    const state = this.#state;
    state.idle = true;
    const lines = readLines(this.#conn, {
      maxLineLength: this.#context.maxLineLength,
      onRead: (n) => {
        counters.bytesIn += n;
        state.bytesIn += n;
        state.activity++;
        state.lastActive = Date.now();
      },
    });
    try {
      for await (const batch of lines) {
        state.idle = false;
        this.#batch = batch;
        if (this.#context.logRequests) this.#logRequests(batch);
        // A client whose bytes keep coming is read without a turn of the loop.
        if (turns.overdue(SLICE_MS)) await nextTurn();
        // Most chunks are answered without waiting for anything.
        const answering = this.#answerLines(batch, 0);
        if (answering !== undefined) await answering;
        // Read on only once the client has taken every answer.
        const out = this.#out;
        if (out.length > 0) {
          counters.bytesOut += out.length;
          state.bytesOut += out.length;
          await this.#outbox.write(out.bytes());
          out.reset();
        }
        state.activity++;
        if (this.#quitting) {
          state.reason = "quit";
          break;
        }
        if (this.#context.closing()) break;
        state.idle = true;
      }
    } finally {
      this.#appender.rollback();
      this.#cursor?.close();
    }
    const draining = this.#outbox.drain(0);
    if (draining !== undefined) await draining;
  }

  /**
   * Answers the lines of a chunk from line `from` on, in order, and commits
   * their changes. Synchronous until something must be waited for (a
   * commit before a read, a streamed or remote answer, the client taking
   * answers): then it returns a promise that answers the rest.
   */
  #answerLines(batch: LineBatch, from: number): Promise<void> | undefined {
    const { parser, turns } = this.#context;
    const out = this.#out;
    const bytes = batch.bytes;
    for (let i = from; i < batch.count; i++) {
      const start = batch.start(i);
      const request = start < 0
        ? TOO_LONG
        : this.#authenticated
        ? parser.parse(bytes, start, batch.end(i))
        : parser.parseBeforeAuth(bytes, start, batch.end(i));
      if (request === undefined) continue;
      let waiting: Promise<void> | undefined;
      if (request.command === "put") {
        // The usual request, straight to its answer: a put is parsed only
        // once logged in.
        this.#context.counters.commands.put++;
        this.#state.commands++;
        this.#put(request.key, request.value, request.timestamp, i);
      } else if (this.#uncommitted.length > 0 && request.command !== "ping") {
        // A client reads what it wrote: its changes take effect first.
        const committing = this.#commit();
        if (committing === undefined) {
          waiting = this.#answer(request, i);
        } else {
          // The parser, shared by all sessions, reuses its `get` for the
          // next line parsed, maybe another session's while this one waits.
          const held = request.command === "get" ? { ...request } : request;
          waiting = committing.then(() => this.#answer(held, i));
        }
      } else {
        waiting = this.#answer(request, i);
      }
      if (waiting === undefined) {
        // The lines after `quit` are not run.
        if (this.#quitting) break;
        if (
          out.length >= FLUSH_SIZE ||
          ((i & 31) === 31 && turns.overdue(SLICE_MS))
        ) {
          waiting = this.#handOver();
        }
      }
      if (waiting !== undefined) return this.#resume(waiting, batch, i);
    }
    // Committed before anything else runs, as every wait above does: the
    // log then holds the changes of all sessions in the order they were
    // applied.
    return this.#commit();
  }

  /** Waits, then answers the lines of the chunk after line `line`. */
  async #resume(
    waiting: Promise<void>,
    batch: LineBatch,
    line: number,
  ): Promise<void> {
    await waiting;
    if (this.#quitting) return this.#commit();
    const out = this.#out;
    if (
      out.length >= FLUSH_SIZE ||
      ((line & 31) === 31 && this.#context.turns.overdue(SLICE_MS))
    ) {
      await this.#handOver();
    }
    const rest = this.#answerLines(batch, line + 1);
    if (rest !== undefined) await rest;
  }

  /**
   * Answers a request other than a put: at once, or with a promise when its
   * answer streams or comes later. A backend that could not read answers an
   * error in place of the answer, unless part of it is sent: then the
   * connection closes.
   */
  #answer(request: Request, line: number): Promise<void> | undefined {
    const out = this.#out;
    const answerStart = out.length;
    const handedOver = this.#handedOver;
    const failed = (error: unknown) => {
      if (
        !(error instanceof StorageError) || this.#handedOver !== handedOver
      ) {
        throw error;
      }
      const before = out.bytes().slice(0, answerStart);
      out.reset();
      out.raw(before);
      this.#fail(failureMessage(error));
    };
    try {
      const rest = this.#execute(request, line);
      if (rest === undefined) return undefined;
      // Most answers are done in one step: no need to wait for anything.
      const done = rest();
      if (done === true) return undefined;
      return this.#stream(rest, done).catch(failed);
    } catch (error) {
      failed(error);
      return undefined;
    }
  }

  /**
   * Writes the chunk's request lines to the event log, a token sent with
   * `auth` left out.
   */
  #logRequests(batch: LineBatch): void {
    const { logger } = this.#context;
    const conn = this.#state.id;
    const lines: string[] = [];
    for (let i = 0; i < batch.count; i++) {
      const start = batch.start(i);
      if (start < 0) {
        // In order: the lines before it first.
        logger.each("info", "request", { conn }, "line", lines);
        lines.length = 0;
        logger.info("request", { conn, too_long: true });
        continue;
      }
      const line = LENIENT_UTF8.decode(
        batch.bytes.subarray(start, batch.end(i)),
      );
      if (line.trim() === "") continue;
      lines.push(AUTH_LINE.test(line) ? "auth (token left out)" : line);
    }
    logger.each("info", "request", { conn }, "line", lines);
  }

  /**
   * Runs one request and writes its answer, or the start of it when the
   * rest is to be streamed or awaited.
   */
  #execute(request: Request, line: number): Rest | undefined {
    const context = this.#context;
    const out = this.#out;
    const counted = request.command === "invalid"
      ? request.refused ?? "invalid"
      : request.command;
    context.counters.commands[counted]++;
    this.#state.commands++;
    if (
      !this.#authenticated && request.command !== "auth" &&
      request.command !== "quit"
    ) {
      return this.#fail("authentication required");
    }
    switch (request.command) {
      case "put":
        return this.#put(request.key, request.value, request.timestamp, line);
      case "get":
        return this.#get(request.key);
      case "query":
        out.begin();
        return this.#rows(this.#querier.series(request.pattern), request);
      case "last":
        out.begin();
        return this.#rows(this.#querier.series(request.pattern), {
          latest: true,
        });
      case "keys":
        out.begin();
        return this.#lines(
          this.#querier.series(request.pattern),
          (series) => series.key,
        );
      case "delete":
        return this.#count(this.#appender.delete(request.pattern));
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
        return this.#authenticate(request.token);
      case "quit":
        this.#quitting = true;
        out.ok();
        return undefined;
      case "clients": {
        out.begin();
        const now = Date.now();
        return this.#lines(
          context.connections,
          (info) => describeConnection(info, now),
        );
      }
      case "compact":
        return this.#compact();
      case "shutdown":
        if (!this.#mayAdminister("shutdown")) return undefined;
        out.ok();
        context.requestShutdown(this.#state);
        return undefined;
      case "invalid":
        return this.#fail(request.message);
    }
  }

  /** `auth <token>`: the connection is open once the token is right. */
  #authenticate(token: Uint8Array): undefined {
    const context = this.#context;
    if (
      context.token !== undefined && !equalInConstantTime(token, context.token)
    ) {
      const { id, addr } = this.#state;
      context.logger.warn("auth_failed", { conn: id, addr });
      return this.#fail("invalid token");
    }
    this.#authenticated = true;
    this.#out.ok();
    return undefined;
  }

  /**
   * Whether this client may run `shutdown` and `compact`: any client that
   * logged in when there is a token, else only one on a loopback address.
   * Answers the refusal.
   */
  #mayAdminister(command: "shutdown" | "compact"): boolean {
    if (this.#context.token !== undefined || this.#state.loopback) return true;
    this.#fail(`${command} not allowed`);
    return false;
  }

  /** `compact`: answered once the snapshot is written and the log cut. */
  #compact(): Rest | undefined {
    if (!this.#mayAdminister("compact")) return undefined;
    const storage = this.#context.storage;
    if (storage.compact === undefined) {
      return this.#fail(
        `cannot compact: the ${storage.backend} backend has no snapshots`,
      );
    }
    return this.#later(
      storage.compact().then(
        () => {
          this.#out.ok();
          return COMPLETE;
        },
        (error) => {
          const text = describe(error);
          this.#fail(
            text.startsWith("cannot ") ? text : `cannot compact: ${text}`,
          );
          return COMPLETE;
        },
      ),
    );
  }

  #fail(message: string): undefined {
    this.#context.counters.errors++;
    this.#out.error(message);
    return undefined;
  }

  /** The usual request: one sample, answered `ok\n\n` unless refused. */
  #put(key: string, value: number, timestamp: number, line: number): undefined {
    const batch = this.#batch!;
    const refused = this.#appender.append(
      key,
      value,
      timestamp,
      batch.bytes,
      batch.start(line),
      batch.end(line),
    );
    if (refused !== undefined) return this.#fail(refused);
    const out = this.#out;
    if (this.#appender.deferred) {
      const uncommitted = this.#uncommitted;
      const last = uncommitted.length - 3;
      // Consecutive `ok`s make one run: one triple, however many.
      if (last >= 0 && uncommitted[last + 1] === out.length) {
        uncommitted[last + 1] += OK_LENGTH;
        uncommitted[last + 2]++;
      } else {
        uncommitted.push(out.length, out.length + OK_LENGTH, 1);
      }
    }
    out.ok();
    return undefined;
  }

  /** `get <key>`: small series that did not change answer from the cache. */
  #get(key: string): Rest {
    this.#out.begin();
    if (key === "*") return this.#rows(this.#querier.series());
    const found = this.#querier.get(key);
    if (found instanceof Promise) {
      return this.#later(found.then((series) => this.#getOne(series)));
    }
    return this.#getOne(found);
  }

  #getOne(series: SeriesInfo | undefined): Rest {
    if (series === undefined) return this.#rows([]);
    if (series.version === undefined || series.length! > MAX_CACHED_SAMPLES) {
      return this.#rows([series]);
    }
    const out = this.#out;
    const cache = this.#context.renderCache;
    let lines = cache.get(series);
    if (lines === undefined) {
      const start = out.length;
      this.#querier.read([series]).read(this.#sink, Infinity);
      lines = out.bytes().slice(start);
      cache.set(series, lines);
    } else {
      out.raw(lines);
    }
    out.end();
    return COMPLETE;
  }

  /** The rows of `series` as sample lines, a step at a time. */
  #rows(
    series: MaybePromise<Iterable<SeriesInfo>>,
    options?: Parameters<Querier["read"]>[1],
  ): Rest {
    if (series instanceof Promise) {
      return this.#later(series.then((found) => this.#rows(found, options)));
    }
    const cursor: RowCursor = this.#querier.read(series, options);
    this.#cursor = cursor;
    const out = this.#out;
    const ended = (done: boolean) => {
      if (done) out.end();
      return done;
    };
    return () => {
      const done = cursor.read(this.#sink, SAMPLES_PER_STEP);
      return done instanceof Promise ? done.then(ended) : ended(done);
    };
  }

  /**
   * A line for each of `items` (such as the keys of series), as many at a
   * time as fit.
   */
  #lines<T>(
    items: MaybePromise<Iterable<T>>,
    line: (item: T) => string,
  ): Rest {
    if (items instanceof Promise) {
      return this.#later(items.then((found) => this.#lines(found, line)));
    }
    const iterator = items[Symbol.iterator]();
    const out = this.#out;
    return () => {
      while (out.length < FLUSH_SIZE) {
        const next = iterator.next();
        if (next.done) {
          out.end();
          return true;
        }
        out.line(line(next.value));
      }
      return false;
    };
  }

  /** A count, such as `delete`'s, as a one-line answer once known. */
  #count(count: MaybePromise<number>): Rest | undefined {
    if (count instanceof Promise) {
      return this.#later(count.then(
        (n) => {
          this.#count(n);
          return COMPLETE;
        },
        (error) => {
          this.#fail(failureMessage(error));
          return COMPLETE;
        },
      ));
    }
    const out = this.#out;
    out.begin();
    out.line(String(count));
    out.end();
    return undefined;
  }

  /** An answer whose rest is known once `found` settles. */
  #later(found: Promise<Rest>): Rest {
    let rest: Rest | undefined;
    return () => {
      if (rest !== undefined) return rest();
      return found.then((next) => {
        rest = next;
        return next();
      });
    };
  }

  /** Streams the rest of an answer as the client takes it. */
  async #stream(rest: Rest, first: MaybePromise<boolean>): Promise<void> {
    let done = first;
    while (true) {
      if (done instanceof Promise) done = await done;
      if (done === true) return;
      if (this.#out.length >= FLUSH_SIZE) await this.#handOver();
      done = rest();
    }
  }

  /**
   * Commits the changes whose answers are written, and turns those answers
   * into errors if they could not be stored.
   */
  #commit(): Promise<void> | undefined {
    const committing = this.#appender.commit();
    if (committing === undefined) {
      this.#uncommitted.length = 0;
      return undefined;
    }
    return committing.then(() => {
      this.#uncommitted.length = 0;
    }, (error) => {
      this.#out.failAt(this.#uncommitted, failureMessage(error));
      const counters = this.#context.counters;
      for (let i = 2; i < this.#uncommitted.length; i += 3) {
        counters.errors += this.#uncommitted[i];
      }
      this.#uncommitted.length = 0;
    });
  }

  /**
   * Hands the answers so far to the outbox mid-chunk, and waits while the
   * client holds more than the high-water mark of them unread.
   */
  async #handOver(): Promise<void> {
    await this.#commit();
    const out = this.#out;
    if (out.length > 0) {
      this.#context.counters.bytesOut += out.length;
      this.#state.bytesOut += out.length;
      this.#outbox.send(out.take());
      this.#handedOver++;
    }
    const draining = this.#outbox.drain();
    if (draining !== undefined) await draining;
    // Taking a long answer bit by bit is activity too.
    this.#state.activity++;
    if (this.#context.turns.overdue(SLICE_MS)) await nextTurn();
  }
}
