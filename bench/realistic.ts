/**
 * Realistic host data: what collectors send, ten series a host, one sample
 * each every 10 seconds, as the text of `put` lines. Seeded with
 * {@linkcode rng}, so every run sends the same samples.
 *
 * The ten metrics of a host, each with parameters drawn per host:
 *
 * | metric        | what it is                              | as sent          |
 * | ------------- | --------------------------------------- | ---------------- |
 * | `cpu`         | percent, a random walk within 0–100     | one decimal      |
 * | `memory`      | bytes used, drifting (kB × 1024)        | integer          |
 * | `load`        | load average, smoothed towards a target | two decimals     |
 * | `disk`        | percent used, moves rarely              | one decimal      |
 * | `net`         | bytes a second, noisy around a rate     | integer          |
 * | `requests`    | requests served, a monotonic counter    | integer          |
 * | `temperature` | degrees, a slow random walk             | integer          |
 * | `errors`      | errors in the interval, mostly 0        | integer          |
 * | `cores`       | a constant                              | integer          |
 * | `latency`     | milliseconds, noisy around a mean       | three decimals   |
 *
 * Timestamps are whole seconds, 10 apart; one in a hundred comes a second
 * late, as a collector's timer slips past a second's boundary.
 *
 * Two other kinds bound the figures: `random`, doubles that no encoding can
 * shrink (random bits, printed exactly), and `constant`, one value for ever.
 *
 * @module
 */

import { rng } from "./random.ts";

/** The metrics of a realistic host, in the order they are sent. */
export const REALISTIC_METRICS = [
  "cpu",
  "memory",
  "load",
  "disk",
  "net",
  "requests",
  "temperature",
  "errors",
  "cores",
  "latency",
] as const;

/** How many series a host has. */
export const HOST_METRICS_COUNT: number = REALISTIC_METRICS.length;

/** The kinds of data the generator makes. */
export type DataKind = "realistic" | "random" | "constant";

/** Seconds between two samples of a series. */
export const STEP_SECONDS = 10;

/** A standard normal variate, by Box–Muller. */
function gauss(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) *
    Math.cos(2 * Math.PI * random());
}

/** A number between `low` and `high`, evenly on a log scale. */
function logUniform(random: () => number, low: number, high: number): number {
  return Math.exp(Math.log(low) + random() * (Math.log(high) - Math.log(low)));
}

/** Keeps a walk within [low, high] by reflecting it at the bounds. */
function reflect(value: number, low: number, high: number): number {
  if (value < low) return 2 * low - value;
  if (value > high) return 2 * high - value;
  return value;
}

/** One host's collector: the state of its ten metrics. */
class RealisticHost {
  #random: () => number;
  #cpu: number;
  #cpuStep: number;
  #memoryKb: number;
  #load: number;
  #loadTarget: number;
  #disk: number;
  #rate: number;
  #requests: number;
  #requestRate: number;
  #temperature: number;
  #cores: number;
  #latency: number;

  constructor(random: () => number) {
    this.#random = random;
    this.#cpu = 5 + random() * 60;
    this.#cpuStep = 0.5 + random() * 2;
    this.#memoryKb = Math.round(logUniform(random, 1, 64) * 1024 * 1024);
    this.#load = random() * 4;
    this.#loadTarget = this.#load;
    this.#disk = 20 + random() * 70;
    this.#rate = logUniform(random, 1e3, 1e7);
    this.#requests = Math.floor(random() * 1e9);
    this.#requestRate = logUniform(random, 1, 1000);
    this.#temperature = Math.round(35 + random() * 30);
    this.#cores = [2, 4, 8, 16, 32, 64][Math.floor(random() * 6)];
    this.#latency = logUniform(random, 1, 200);
  }

  /** The next sample of each metric, as collectors print them. */
  next(): string[] {
    const random = this.#random;
    this.#cpu = reflect(this.#cpu + gauss(random) * this.#cpuStep, 0, 100);
    // Used memory moves by a few MiB, now and then by hundreds.
    const jump = random() < 0.01 ? gauss(random) * 256 * 1024 : 0;
    this.#memoryKb = Math.max(
      65536,
      Math.round(this.#memoryKb + gauss(random) * 2048 + jump),
    );
    if (random() < 0.02) this.#loadTarget = random() * this.#cores;
    this.#load += (this.#loadTarget - this.#load) * 0.08 +
      gauss(random) * 0.02;
    this.#load = Math.max(0, this.#load);
    if (random() < 0.02) this.#disk = Math.min(99.9, this.#disk + 0.1);
    this.#rate *= Math.exp(gauss(random) * 0.01);
    const net = Math.max(0, this.#rate * (1 + gauss(random) * 0.3));
    const served = this.#requestRate * STEP_SECONDS;
    this.#requests += Math.max(
      0,
      Math.round(served + gauss(random) * Math.sqrt(served)),
    );
    if (random() < 0.05) this.#temperature += random() < 0.5 ? -1 : 1;
    this.#temperature = reflect(this.#temperature, 30, 90);
    const errors = random() < 0.97 ? 0 : 1 + Math.floor(random() * 3);
    const latency = this.#latency * Math.exp(gauss(random) * 0.2);
    return [
      this.#cpu.toFixed(1),
      String(this.#memoryKb * 1024),
      this.#load.toFixed(2),
      this.#disk.toFixed(1),
      String(Math.round(net)),
      String(this.#requests),
      String(this.#temperature),
      String(errors),
      String(this.#cores),
      latency.toFixed(3),
    ];
  }
}

/** A double of random bits, finite, printed so that it reads back exactly. */
function randomDouble(random: () => number, view: DataView): string {
  do {
    view.setUint32(0, Math.floor(random() * 2 ** 32));
    view.setUint32(4, Math.floor(random() * 2 ** 32));
  } while (!Number.isFinite(view.getFloat64(0)));
  return String(view.getFloat64(0));
}

/** Options of {@linkcode HostData}. */
export interface HostDataOptions {
  /**
   * What the values are.
   *
   * @default {"realistic"}
   */
  kind?: DataKind;
  /**
   * The seed of the generator.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * The first timestamp.
   *
   * @default {1700000000}
   */
  start?: number;
  /**
   * Keys are `<prefix><host>.<metric>`.
   *
   * @default {"host"}
   */
  prefix?: string;
}

/**
 * The samples of some hosts, round after round: each round holds one sample
 * of each of a host's ten series, for every host in turn.
 */
export class HostData {
  /** The keys, `<prefix><h>.<metric>`, host by host. */
  readonly keys: string[];
  #kind: DataKind;
  #hosts: RealisticHost[];
  #random: () => number;
  #view = new DataView(new ArrayBuffer(8));
  #clock: number;
  #late: boolean[];

  /**
   * @param hosts How many hosts; host `h` is `host<first + h>`.
   * @param options The kind of data, the seed and the first timestamp.
   * @param first The number of the first host.
   */
  constructor(hosts: number, options: HostDataOptions = {}, first = 0) {
    this.#kind = options.kind ?? "realistic";
    this.#random = rng(options.seed ?? 1);
    this.#clock = options.start ?? 1_700_000_000;
    this.#hosts = Array.from(
      { length: hosts },
      () => new RealisticHost(this.#random),
    );
    this.#late = this.#hosts.map(() => false);
    this.keys = [];
    for (let h = 0; h < hosts; h++) {
      for (const metric of REALISTIC_METRICS) {
        this.keys.push(`${options.prefix ?? "host"}${first + h}.${metric}`);
      }
    }
  }

  /**
   * Calls `sample` with every sample of the next round: one per key, in the
   * order of {@linkcode HostData.keys}.
   *
   * @param sample Receives the key's index, the value as sent and the
   * timestamp.
   */
  round(sample: (key: number, value: string, timestamp: number) => void): void {
    const random = this.#random;
    for (let h = 0; h < this.#hosts.length; h++) {
      // One sample in a hundred is stamped a second late.
      this.#late[h] = random() < 0.01;
      const timestamp = this.#clock + (this.#late[h] ? 1 : 0);
      const values = this.#values(h);
      for (let m = 0; m < values.length; m++) {
        sample(h * REALISTIC_METRICS.length + m, values[m], timestamp);
      }
    }
    this.#clock += STEP_SECONDS;
  }

  #values(host: number): string[] {
    switch (this.#kind) {
      case "realistic":
        return this.#hosts[host].next();
      case "random":
        return REALISTIC_METRICS.map(() =>
          randomDouble(this.#random, this.#view)
        );
      case "constant":
        return REALISTIC_METRICS.map((_, m) => String(m * 10 + 1));
    }
  }
}

const encoder = new TextEncoder();

/** Samples of some hosts, generated ahead, as numbers. */
export interface HostSamples {
  /** The keys. */
  keys: string[];
  /** Every sample's key, as an index into `keys`, round after round. */
  keyIndexes: Int32Array;
  /** Every sample's value, parsed from the text sent. */
  values: Float64Array;
  /** Every sample's timestamp. */
  timestamps: Float64Array;
  /** The samples of one key, in order. */
  series(key: number): { timestamps: Float64Array; values: Float64Array };
}

/**
 * Generates `rounds` rounds of samples of `hosts` hosts ahead, as numbers,
 * for measuring the store in-process without the cost of generating them.
 *
 * @param hosts How many hosts.
 * @param rounds How many samples each series gets.
 * @param kind What the values are.
 * @returns The samples.
 */
export function hostSamples(
  hosts: number,
  rounds: number,
  kind: DataKind,
): HostSamples {
  const data = new HostData(hosts, { kind });
  const total = data.keys.length * rounds;
  const keyIndexes = new Int32Array(total);
  const values = new Float64Array(total);
  const timestamps = new Float64Array(total);
  let at = 0;
  for (let round = 0; round < rounds; round++) {
    data.round((key, value, timestamp) => {
      keyIndexes[at] = key;
      values[at] = Number(value);
      timestamps[at++] = timestamp;
    });
  }
  const keys = data.keys;
  const series = (key: number) => {
    const picked = {
      timestamps: new Float64Array(rounds),
      values: new Float64Array(rounds),
    };
    for (let round = 0; round < rounds; round++) {
      picked.timestamps[round] = timestamps[round * keys.length + key];
      picked.values[round] = values[round * keys.length + key];
    }
    return picked;
  };
  return { keys, keyIndexes, values, timestamps, series };
}

/**
 * The `put` lines of some hosts' data, for a connection of the load
 * generator: round after round, each line as a collector writes it.
 */
export class HostSource {
  #data: HostData;
  #lines: string[] = [];
  #next = 0;
  #lastTimestamp: number;

  /**
   * @param hosts How many hosts, numbered from `first`.
   * @param options The kind of data, the seed and the first timestamp.
   * @param first The number of the first host.
   */
  constructor(hosts: number, options: HostDataOptions, first: number) {
    this.#data = new HostData(hosts, options, first);
    this.#lastTimestamp = (options.start ?? 1_700_000_000) - 1;
  }

  /** The highest timestamp put so far. */
  get lastTimestamp(): number {
    return this.#lastTimestamp;
  }

  /**
   * The next `count` lines, encoded as one block to write.
   *
   * @param count How many lines.
   * @returns The block.
   */
  next(count: number): Uint8Array {
    let text = "";
    for (let i = 0; i < count; i++) {
      if (this.#next === this.#lines.length) this.#round();
      text += this.#lines[this.#next++];
    }
    return encoder.encode(text);
  }

  #round(): void {
    const keys = this.#data.keys;
    this.#lines.length = 0;
    this.#next = 0;
    this.#data.round((key, value, timestamp) => {
      this.#lines.push(`put ${keys[key]} ${value} ${timestamp}\n`);
      if (timestamp > this.#lastTimestamp) this.#lastTimestamp = timestamp;
    });
  }
}
