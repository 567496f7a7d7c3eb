/**
 * The host agent: collects a host's figures every interval and sends them to
 * a Pulse server, holding them while the server is unreachable.
 *
 * Collections wait in a bounded backlog, oldest first, and are sent in that
 * order, many puts pipelined on one connection. A send that fails leaves
 * them in place to be sent again after the next collection; sending a
 * sample twice is harmless, since the same key and timestamp replaces the
 * value. When the backlog is full the oldest collection is dropped, and a
 * log line says so once per outage.
 *
 * @example Sending one collection
 * ```ts
 * import { Client, serve, Store } from "@pulse/metrics";
 * import { Agent } from "@pulse/metrics/agent";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const store = new Store();
 * await using server = serve({ port: 0, store });
 * await using client = new Client("127.0.0.1", server.addr.port);
 * const agent = new Agent(client, {
 *   collector: {
 *     collect: (now) =>
 *       Promise.resolve([{ key: "palm.cpu", value: 10.6, timestamp: now / 1000 }]),
 *   },
 *   now: () => 1501864247_000,
 * });
 * await agent.tick();
 * deepStrictEqual(store.get("palm.cpu")?.toArray(), [[1501864247, 10.6]]);
 * ```
 *
 * @module
 */

import type { Client } from "../client.ts";
import { HostCollector, hostPrefix, type Sample } from "./host.ts";
import { isKey } from "../protocol/grammar.ts";

/** The default of {@linkcode AgentOptions.every}: 10 seconds. */
export const DEFAULT_EVERY = 10_000;
/** The default of {@linkcode AgentOptions.buffer}: one hour. */
export const DEFAULT_BUFFER = 3_600_000;

// Samples in flight at once while sending a backlog.
const SEND_GROUP = 4096;

/** What the agent collects from: {@linkcode HostCollector} by default. */
export interface Collector {
  /**
   * Reads the figures once.
   *
   * @param now The time in milliseconds since the epoch.
   * @returns The samples to send.
   */
  collect(now: number): Promise<Sample[]>;
}

/** Options of {@linkcode Agent}. */
export interface AgentOptions {
  /**
   * Milliseconds between collections; at least 1000, since a series holds
   * one value per second.
   *
   * @default {10000}
   */
  every?: number;
  /**
   * Milliseconds of collections held while the server is unreachable;
   * beyond it the oldest are dropped.
   *
   * @default {3600000}
   */
  buffer?: number;
  /**
   * The first segment of every key, for the default collector.
   *
   * @default {hostPrefix()}
   */
  prefix?: string;
  /**
   * Where the samples come from.
   *
   * @default {new HostCollector(prefix)}
   */
  collector?: Collector;
  /**
   * The clock, in milliseconds since the epoch: collections are stamped
   * with it.
   *
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * Receives the agent's log lines: warnings, the server going and coming
   * back, samples dropped.
   *
   * @default {(message) => console.error(`pulse: agent: ${message}`)}
   */
  onLog?: (message: string) => void;
}

function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "m"],
    [1000, "s"],
  ];
  for (const [size, unit] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Collects every interval and sends to a server through a
 * {@linkcode Client}, holding a bounded backlog while the server is away.
 *
 * @example Running until a signal aborts
 * ```ts
 * import { Client, serve } from "@pulse/metrics";
 * import { Agent } from "@pulse/metrics/agent";
 * import { ok } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * await using client = new Client("127.0.0.1", server.addr.port);
 * const controller = new AbortController();
 * const agent = new Agent(client, {
 *   every: 1000,
 *   prefix: "palm",
 *   onLog: () => {},
 * });
 * setTimeout(() => controller.abort(), 100);
 * await agent.run(controller.signal);
 * ok((await client.keys("palm.*")).includes("palm.memory"));
 * ```
 */
export class Agent {
  #client: Client;
  #every: number;
  #limit: number;
  #collector: Collector;
  #now: () => number;
  #onLog: (message: string) => void;
  // Collections not yet sent, oldest first.
  #backlog: Sample[][] = [];
  #pending = 0;
  #sending: Promise<boolean> | undefined;
  #unreachable = false;
  #dropping = false;
  #dropped = 0;
  #warned = new Set<string>();

  /**
   * Creates an agent; it does nothing until {@linkcode Agent.tick} or
   * {@linkcode Agent.run}.
   *
   * @param client The connection to the server; the agent does not close it.
   * @param options The interval, the backlog's bound, the collector, the
   * clock and the log.
   * @throws {RangeError} When `every` is under a second or `buffer` negative.
   */
  constructor(client: Client, options: AgentOptions = {}) {
    const every = options.every ?? DEFAULT_EVERY;
    const buffer = options.buffer ?? DEFAULT_BUFFER;
    if (!(every >= 1000 && Number.isFinite(every))) {
      throw new RangeError(
        `Cannot collect every ${every} ms: the interval must be at least 1s`,
      );
    }
    if (!(buffer >= 0 && Number.isFinite(buffer))) {
      throw new RangeError(
        `Cannot hold ${buffer} ms of samples: not a duration >= 0`,
      );
    }
    this.#client = client;
    this.#every = every;
    // The collection in hand counts too: a zero buffer still sends it.
    this.#limit = Math.max(1, Math.ceil(buffer / every));
    this.#now = options.now ?? Date.now;
    this.#onLog = options.onLog ??
      ((message) => console.error(`pulse: agent: ${message}`));
    this.#collector = options.collector ??
      new HostCollector(options.prefix ?? hostPrefix(), {
        onWarning: this.#onLog,
      });
  }

  /** How many collected samples are waiting to be sent. */
  get pending(): number {
    return this.#pending;
  }

  /** How many collections the backlog holds at most. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Collects once and sends everything waiting.
   *
   * @returns Whether everything was sent.
   */
  async tick(): Promise<boolean> {
    await this.#collect();
    return await this.flush();
  }

  /**
   * Sends what is waiting, oldest first; a send already under way is
   * joined, and goes on to what was collected meanwhile.
   *
   * @returns Whether everything was sent.
   */
  flush(): Promise<boolean> {
    this.#sending ??= this.#send().finally(() => this.#sending = undefined);
    return this.#sending;
  }

  /**
   * Collects every interval, from now on, and sends in the background until
   * `signal` aborts; then sends what is left, once.
   *
   * @param signal Stops the agent.
   * @returns A promise that settles once the agent has stopped.
   */
  async run(signal: AbortSignal): Promise<void> {
    let due = performance.now();
    while (!signal.aborted) {
      await this.#collect();
      this.flush();
      due += this.#every;
      const now = performance.now();
      // A collection that ran late is not repeated to catch up.
      if (due < now) due = now + this.#every - (now - due) % this.#every;
      await sleep(due - now, signal);
    }
    await this.#sending;
    if (!await this.flush()) {
      this.#onLog(`stopping with ${this.#pending} samples unsent`);
    }
  }

  async #collect(): Promise<void> {
    let collected: Sample[];
    try {
      collected = await this.#collector.collect(this.#now());
    } catch (error) {
      // A key never holds a space, so this cannot clash with one.
      this.#warnOnce(" collect", `cannot collect: ${(error as Error).message}`);
      return;
    }
    const samples = collected.filter((sample) => this.#sendable(sample));
    if (samples.length === 0) return;
    if (this.#backlog.length >= this.#limit) {
      const oldest = this.#backlog.shift()!;
      this.#pending -= oldest.length;
      this.#dropped += oldest.length;
      if (!this.#dropping) {
        this.#dropping = true;
        this.#onLog(
          `the backlog is full (${this.#limit} collections, ${
            formatDuration(this.#limit * this.#every)
          }): dropping the oldest samples until the server takes them`,
        );
      }
    }
    this.#backlog.push(samples);
    this.#pending += samples.length;
  }

  /** Whether the protocol can carry `sample`; warns once per key if not. */
  #sendable(sample: Sample): boolean {
    if (
      isKey(sample.key) && Number.isFinite(sample.value) &&
      Number.isSafeInteger(sample.timestamp)
    ) {
      return true;
    }
    this.#warnOnce(
      sample.key,
      `skipping ${
        JSON.stringify(sample.key)
      }: ${sample.value} at ${sample.timestamp} cannot be sent`,
    );
    return false;
  }

  /** Logs `message` the first time `what` goes wrong only. */
  #warnOnce(what: string, message: string): void {
    if (this.#warned.has(what)) return;
    this.#warned.add(what);
    this.#onLog(message);
  }

  async #send(): Promise<boolean> {
    let sent = 0;
    while (this.#backlog.length > 0) {
      const group = new Set<Sample[]>();
      let size = 0;
      for (const batch of this.#backlog) {
        if (size > 0 && size + batch.length > SEND_GROUP) break;
        group.add(batch);
        size += batch.length;
      }
      const puts = [...group].flatMap((batch) =>
        batch.map((s) => this.#client.put(s.key, s.value, s.timestamp))
      );
      const failure = (await Promise.allSettled(puts)).find((result) =>
        result.status === "rejected"
      );
      if (failure !== undefined) {
        if (!this.#unreachable) {
          this.#unreachable = true;
          this.#onLog(
            `${
              (failure.reason as Error).message
            }; holding samples until the server takes them (up to ${
              formatDuration(this.#limit * this.#every)
            })`,
          );
        }
        return false;
      }
      // The bound may have dropped some of the group meanwhile.
      while (this.#backlog.length > 0 && group.has(this.#backlog[0])) {
        this.#pending -= this.#backlog.shift()!.length;
      }
      sent += size;
    }
    if (this.#unreachable) {
      const dropped = this.#dropped === 0
        ? ""
        : `; ${this.#dropped} older samples were dropped`;
      this.#onLog(`the server is back: sent ${sent} held samples${dropped}`);
    }
    this.#unreachable = false;
    this.#dropping = false;
    this.#dropped = 0;
    return true;
  }
}

/** Waits `ms` milliseconds, or until `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
