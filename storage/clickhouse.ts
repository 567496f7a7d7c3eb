/**
 * The ClickHouse backend: a stateless Pulse front end over a ClickHouse
 * server or cluster, which holds every sample. Several front ends may serve
 * the same database behind a load balancer; losing one loses nothing it
 * acknowledged, since a put is answered `ok` only once ClickHouse has taken
 * the insert that holds it.
 *
 * - Puts from every connection are batched (`batchRows` rows or `batchMs`
 *   milliseconds) into one RowBinary insert, each put versioned by a hybrid
 *   clock, so that the last write of a second wins (`argMax(value,
 *   version)`), on one front end and across them.
 * - Reads are SQL, streamed and parsed as they arrive.
 * - `delete` and retention are `ALTER TABLE ... DELETE` mutations, answered
 *   once done.
 *
 * See docs/SCALING.md for the deployment and what is guaranteed.
 *
 * @example Usage
 * ```ts ignore
 * import { ClickHouseStorage, serve } from "@pulse/metrics";
 *
 * await using storage = await ClickHouseStorage.open(
 *   "http://127.0.0.1:8123/pulse",
 * );
 * await using server = serve({ port: 0, storage });
 * ```
 *
 * @module
 */

import type { Pattern } from "../store/pattern.ts";
import type { Appender, Querier, Storage, StorageStats } from "./storage.ts";
import { StorageError } from "./storage.ts";
import {
  type AppenderContext,
  ClickHouseAppender,
} from "./clickhouse/_appender.ts";
import {
  ClickHouseClient,
  type ClickHouseError,
  parseClickHouseUrl,
} from "./clickhouse/_client.ts";
import { HybridClock, NODE_COUNT } from "./clickhouse/_hybrid_clock.ts";
import { Inserter } from "./clickhouse/_inserter.ts";
import { Mutations } from "./clickhouse/_mutations.ts";
import { ClickHouseQuerier } from "./clickhouse/_querier.ts";
import { type Layout, prepareSchema } from "./clickhouse/_schema.ts";
import { isIdentifier, quote } from "./clickhouse/_sql.ts";

/** The default of {@linkcode ClickHouseOptions.timeout}: 10 seconds. */
export const DEFAULT_CLICKHOUSE_TIMEOUT = 10_000;
/** The default of {@linkcode ClickHouseOptions.batchRows}. */
export const DEFAULT_BATCH_ROWS = 50_000;
/** The default of {@linkcode ClickHouseOptions.batchMs}. */
export const DEFAULT_BATCH_MS = 5;

/** Options of {@linkcode ClickHouseStorage.open}. */
export interface ClickHouseOptions {
  /**
   * A cluster of ClickHouse's `remote_servers` to shard over: the tables
   * are then created `ON CLUSTER` (which needs ZooKeeper), replicated when
   * the cluster has replicas, behind `Distributed` tables.
   *
   * @default {undefined}
   */
  cluster?: string;
  /**
   * Milliseconds to wait for ClickHouse before answering with an error.
   *
   * @default {10000}
   */
  timeout?: number;
  /**
   * On a replicated cluster, how many replicas of a shard must have a put's
   * rows before it is answered `ok` (ClickHouse's `insert_quorum`). With 1,
   * a put is acknowledged once one replica has it, and writes go on while
   * any replica of each shard is up; a replica lost for good before it
   * passed its last rows on loses them. With 2, that takes two replicas
   * lost, and writes to a shard stop while fewer than 2 of its replicas are
   * up.
   *
   * @default {1}
   */
  insertQuorum?: number;
  /**
   * Rows that make a batch of puts go to ClickHouse at once.
   *
   * @default {50000}
   */
  batchRows?: number;
  /**
   * Milliseconds a batch of puts waits for more at most.
   *
   * @default {5}
   */
  batchMs?: number;
  /**
   * Inserts running at once at most; more puts wait in the next batch.
   *
   * @default {4}
   */
  maxInFlight?: number;
  /**
   * Rows waiting for ClickHouse past which puts are refused at once.
   *
   * @default {1000000}
   */
  maxPendingRows?: number;
  /**
   * Seconds samples are kept: older ones are removed at start and at least
   * once a minute, and puts of older ones refused. Kept for ever when unset.
   *
   * @default {undefined}
   */
  retention?: number;
  /**
   * This front end's number in the versions it gives, from 0 to 1023.
   * Front ends with different numbers never give the same version.
   *
   * @default {a random number}
   */
  node?: number;
  /**
   * Milliseconds between updates of the figures that ClickHouse counts
   * (series, rows, bytes on disk).
   *
   * @default {10000}
   */
  statsInterval?: number;
  /**
   * Hears about failed inserts, recovery and retention.
   *
   * @default {() => {}}
   */
  onLog?: (message: string) => void;
}

// How often retention removes old samples at most: at least once a minute.
const RETENTION_CHECK_MS = 60_000;

/** Checks that an option is a whole number of at least `min`. */
function checkCount(name: string, value: number | undefined, min: number) {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= min)) {
    throw new RangeError(
      `Cannot use ClickHouse with ${name} ${value}: not an integer >= ${min}`,
    );
  }
}

/** Writes a number of seconds as the largest whole unit: `30d`, `90s`. */
function formatSeconds(seconds: number): string {
  for (const [unit, size] of [["w", 604_800], ["d", 86_400], ["h", 3_600]]) {
    if (seconds % (size as number) === 0) {
      return `${seconds / (size as number)}${unit}`;
    }
  }
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/** Seconds rounded to microseconds, for figures that read well. */
function microseconds(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}

/** Samples in ClickHouse, behind a stateless front end. */
export class ClickHouseStorage implements Storage {
  /** Always `clickhouse`. */
  readonly backend = "clickhouse";
  /** Reads: every method answers with a promise. */
  readonly querier: Querier;
  #client: ClickHouseClient;
  #layout: Layout;
  #clickhouseQuerier: ClickHouseQuerier;
  #inserter: Inserter;
  #mutations: Mutations;
  #clock: HybridClock;
  #onLog: (message: string) => void;
  #retention: number | undefined;
  #cutoff = -Infinity;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #queryErrors = 0;
  #counted = { series: 0, rows: 0, bytes: 0 };
  #background = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;
  #appenders: AppenderContext;

  private constructor(
    client: ClickHouseClient,
    layout: Layout,
    options: ClickHouseOptions,
  ) {
    this.#client = client;
    this.#layout = layout;
    this.#onLog = options.onLog ?? (() => {});
    this.#clock = new HybridClock(
      options.node ??
        crypto.getRandomValues(new Uint16Array(1))[0] % NODE_COUNT,
    );
    this.#clickhouseQuerier = new ClickHouseQuerier(
      client,
      layout,
      () => this.#queryErrors++,
    );
    this.querier = this.#clickhouseQuerier;
    const timeoutSeconds = Math.ceil(client.timeout / 1000);
    if (layout.replicated) {
      // Reads and writes go to the first replica of each shard that is up,
      // so that a read sees what was just written, replicated or not yet.
      client.defaults = { load_balancing: "in_order" };
    }
    const quorum = options.insertQuorum ?? 1;
    if (quorum > 1 && !layout.replicated) {
      throw new RangeError(
        `Cannot ask ${quorum} replicas for each insert: the tables are not replicated`,
      );
    }
    this.#inserter = new Inserter(client, {
      table: layout.samples,
      settings: {
        ...layout.cluster === undefined ? {} : {
          // Answered once every shard has its rows, not when queued here.
          insert_distributed_sync: 1,
          insert_distributed_timeout: timeoutSeconds,
        },
        ...quorum > 1
          ? { insert_quorum: quorum, insert_quorum_timeout: client.timeout }
          : {},
      },
      batchRows: options.batchRows ?? DEFAULT_BATCH_ROWS,
      batchMs: options.batchMs ?? DEFAULT_BATCH_MS,
      maxInFlight: options.maxInFlight ?? 4,
      maxPendingRows: options.maxPendingRows ?? 1_000_000,
      onLog: this.#onLog,
    });
    this.#mutations = new Mutations(client, layout);
    this.#retention = options.retention;
    // deno-lint-ignore no-this-alias
    const storage = this;
    this.#appenders = {
      clock: this.#clock,
      inserter: this.#inserter,
      get cutoff() {
        return storage.#cutoff;
      },
      tooOld: (timestamp) => this.#tooOld(timestamp),
      delete: (pattern) => this.#delete(pattern),
    };
  }

  /**
   * Connects to ClickHouse, creates the database and tables where missing
   * and checks them, and starts the front end's clock past the versions
   * already stored.
   *
   * @param url `http://[user:pass@]host:8123/<database>`; the database is
   * `pulse` when the path is empty.
   * @param options The cluster, timeout, batches, retention.
   * @returns The open backend.
   * @throws {TypeError} When the URL or the cluster name cannot be used.
   * @throws {RangeError} When an option is out of its range.
   * @throws {Error} When ClickHouse cannot be reached in time, or its
   * tables are not Pulse's.
   */
  static async open(
    url: string,
    options: ClickHouseOptions = {},
  ): Promise<ClickHouseStorage> {
    const address = parseClickHouseUrl(url);
    if (options.cluster !== undefined && !isIdentifier(options.cluster)) {
      throw new TypeError(
        `Cannot use the cluster name ${options.cluster}: only letters, digits and _`,
      );
    }
    checkCount("timeout", options.timeout, 1);
    checkCount("batchRows", options.batchRows, 1);
    checkCount("batchMs", options.batchMs, 0);
    checkCount("maxInFlight", options.maxInFlight, 1);
    checkCount("maxPendingRows", options.maxPendingRows, 1);
    checkCount("node", options.node, 0);
    checkCount("insertQuorum", options.insertQuorum, 1);
    checkCount("statsInterval", options.statsInterval, 1);
    if (options.retention !== undefined && !(options.retention > 0)) {
      throw new RangeError(
        `Cannot keep samples for ${options.retention} seconds: not a number > 0`,
      );
    }
    const client = new ClickHouseClient(
      address,
      options.timeout ?? DEFAULT_CLICKHOUSE_TIMEOUT,
    );
    let storage: ClickHouseStorage;
    try {
      const layout = await prepareSchema(client, options.cluster);
      storage = new ClickHouseStorage(client, layout, options);
      await storage.#startClock();
    } catch (error) {
      client.close();
      throw new Error(
        `Cannot open ClickHouse at ${address.shown}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    storage.#start(options.statsInterval ?? 10_000);
    return storage;
  }

  /** Where ClickHouse is, without the password: `http://host:8123/db`. */
  get address(): string {
    return this.#client.address.shown;
  }

  /** The cluster the tables are sharded over, if any. */
  get cluster(): string | undefined {
    return this.#layout.cluster;
  }

  /**
   * Starts a run of changes.
   *
   * @returns A new appender, whose changes take effect at commit.
   */
  appender(): Appender {
    return new ClickHouseAppender(this.#appenders);
  }

  /**
   * The backend's figures: those ClickHouse counts (updated every few
   * seconds), and the inserts of this front end.
   *
   * @returns Figures by name.
   */
  stats(): StorageStats {
    const inserts = this.#inserter.figures;
    return {
      series: this.#counted.series,
      samples: this.#counted.rows,
      clickhouse_bytes_on_disk: this.#counted.bytes,
      clickhouse_inserts_total: inserts.inserts,
      clickhouse_insert_rows_total: inserts.rows,
      clickhouse_insert_seconds_total: microseconds(inserts.seconds),
      clickhouse_insert_last_rows: inserts.lastRows,
      clickhouse_insert_last_seconds: microseconds(inserts.lastSeconds),
      clickhouse_insert_max_rows: inserts.maxRows,
      clickhouse_insert_errors_total: inserts.errors,
      clickhouse_insert_failed_rows_total: inserts.failedRows,
      clickhouse_pending_rows: this.#inserter.pending,
      clickhouse_inserts_in_flight: this.#inserter.inFlight,
      clickhouse_query_errors_total: this.#queryErrors,
    };
  }

  /**
   * Stops: sends the puts waiting and waits for every insert, stops
   * retention and closes the connections. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#timers) clearTimeout(timer);
      await this.#inserter.drain();
      await Promise.allSettled(this.#background);
      this.#client.close();
    })();
    return this.#closing;
  }

  /** Closes the backend, as {@linkcode ClickHouseStorage.close} does. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Moves the clock past the largest version stored, as far as it finds. */
  async #startClock(): Promise<void> {
    const answer = await this.#client.run(
      `SELECT max(version) FROM ${this.#layout.samples}`,
      {
        // A huge table is searched only so long; any version found helps.
        settings: { max_execution_time: 2, timeout_overflow_mode: "break" },
      },
    );
    const text = new TextDecoder().decode(answer).trim();
    if (/^\d+$/.test(text)) this.#clock.observe(BigInt(text));
  }

  #tooOld(timestamp: number): string {
    return `${timestamp} is older than the retention window of ${
      formatSeconds(this.#retention!)
    } (samples from ${this.#cutoff} on are kept)`;
  }

  async #delete(pattern: Pattern): Promise<number> {
    const keys = await this.#clickhouseQuerier.keys(pattern);
    if (keys.length === 0) return 0;
    try {
      await this.#mutations.deleteKeys(keys);
    } catch (error) {
      throw new StorageError(
        `Cannot delete in ClickHouse: ${(error as ClickHouseError).message}`,
        { cause: error },
      );
    }
    return keys.length;
  }

  /** Starts the figures' updates and retention. */
  #start(statsInterval: number): void {
    this.#every(statsInterval, () => this.#count());
    const retention = this.#retention;
    if (retention === undefined) return;
    const moveCutoff = () => {
      this.#cutoff = Math.floor(Date.now() / 1000) - retention;
    };
    moveCutoff();
    this.#every(1_000, moveCutoff);
    this.#every(
      Math.min(RETENTION_CHECK_MS, retention * 100),
      () => this.#enforceRetention(),
    );
  }

  /** Runs `task` now and then every `ms`, one run at a time. */
  #every(ms: number, task: () => Promise<void> | void): void {
    const run = () => {
      const running = Promise.resolve().then(task).catch(() => {}).finally(
        () => {
          this.#background.delete(running);
          if (this.#closing === undefined) {
            this.#timers.push(setTimeout(run, ms));
          }
        },
      );
      this.#background.add(running);
    };
    run();
  }

  async #enforceRetention(): Promise<void> {
    const cutoff = this.#cutoff;
    try {
      const dropped = await this.#mutations.dropBefore(cutoff);
      if (dropped > 0) {
        this.#onLog(
          `pulse: retention dropped ${dropped} rows older than ${cutoff}`,
        );
      }
    } catch (error) {
      this.#onLog(
        `pulse: clickhouse: retention failed, tried again later: ${
          (error as Error).message
        }`,
      );
    }
  }

  /** Asks ClickHouse how many series, rows and bytes it holds. */
  async #count(): Promise<void> {
    const layout = this.#layout;
    const parts = layout.cluster === undefined
      ? "system.parts"
      : `cluster(${quote(layout.cluster)}, system.parts)`;
    const answer = await this.#client.run(
      `SELECT (SELECT uniqExact(key) FROM ${layout.keys}), sumIf(rows, table = ${
        quote(layout.samplesLocal.slice(layout.database.length + 1))
      }), sum(bytes_on_disk) FROM ${parts} WHERE active AND database = ${
        quote(layout.database)
      } FORMAT TabSeparated`,
      { settings: { skip_unavailable_shards: 1 } },
    );
    const [series, rows, bytes] = new TextDecoder().decode(answer).trim()
      .split("\t").map(Number);
    this.#counted = { series, rows, bytes };
  }
}
