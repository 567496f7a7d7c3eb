/**
 * Host data for the ClickHouse section: ten series a host, a sample each
 * every 10 seconds, as collectors send them (a percentage with one decimal,
 * byte counts, a counter, a constant...), one sample in a hundred a second
 * late. Seeded, so every run sends the same samples.
 *
 * It has the shape of the compression section's `HostData`
 * (bench/realistic.ts): `keys`, and `round()` handing over one sample of
 * every key, so that this section can take that generator instead, once
 * both are merged, and measure the same data set.
 *
 * @module
 */

import { rng } from "./random.ts";

/** The ten series of a host. */
export const HOST_METRICS = [
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

/** Seconds between two samples of a series. */
export const STEP_SECONDS = 10;

/** Samples of some hosts, round after round. */
export interface SampleSource {
  /** The keys, `host<h>.<metric>`, host by host. */
  readonly keys: string[];
  /**
   * Hands over one sample of every key, in the order of `keys`.
   *
   * @param sample Receives the key's index, the value as sent and the
   * timestamp.
   */
  round(sample: (key: number, value: string, timestamp: number) => void): void;
}

/** One host's state: each metric moves a little every round. */
interface Host {
  cpu: number;
  memory: number;
  load: number;
  disk: number;
  rate: number;
  requests: number;
  temperature: number;
  cores: number;
  latency: number;
}

/** Host data, as collectors send it. */
export class HostData implements SampleSource {
  /** The keys, `host<h>.<metric>`. */
  readonly keys: string[] = [];
  #hosts: Host[];
  #random: () => number;
  #clock: number;

  /**
   * @param hosts How many hosts.
   * @param seed The generator's seed.
   * @param start The first timestamp.
   */
  constructor(hosts: number, seed = 1, start = 1_700_000_000) {
    this.#random = rng(seed);
    this.#clock = start;
    const random = this.#random;
    this.#hosts = Array.from({ length: hosts }, () => ({
      cpu: random() * 100,
      memory: Math.floor(1e6 + random() * 3e6) * 1024,
      load: random() * 4,
      disk: 20 + random() * 60,
      rate: 1e4 + random() * 1e6,
      requests: Math.floor(random() * 1e6),
      temperature: 40 + Math.floor(random() * 20),
      cores: 2 ** Math.floor(1 + random() * 5),
      latency: 1 + random() * 50,
    }));
    for (let h = 0; h < hosts; h++) {
      for (const metric of HOST_METRICS) this.keys.push(`host${h}.${metric}`);
    }
  }

  /**
   * Hands over one sample of every key.
   *
   * @param sample Receives the key's index, the value and the timestamp.
   */
  round(sample: (key: number, value: string, timestamp: number) => void): void {
    const random = this.#random;
    for (let h = 0; h < this.#hosts.length; h++) {
      const host = this.#hosts[h];
      const timestamp = this.#clock + (random() < 0.01 ? 1 : 0);
      const noise = () => random() - 0.5;
      host.cpu = Math.min(100, Math.max(0, host.cpu + noise() * 10));
      host.memory += Math.round(noise() * 256) * 1024;
      host.load += (host.cpu / 25 - host.load) * 0.1;
      if (random() < 0.01) host.disk = Math.min(100, host.disk + 0.1);
      host.requests += Math.floor(random() * 500);
      if (random() < 0.05) host.temperature += random() < 0.5 ? -1 : 1;
      const values = [
        host.cpu.toFixed(1),
        String(host.memory),
        host.load.toFixed(2),
        host.disk.toFixed(1),
        String(Math.round(host.rate * (1 + noise() * 0.2))),
        String(host.requests),
        String(host.temperature),
        String(random() < 0.95 ? 0 : Math.ceil(random() * 5)),
        String(host.cores),
        (host.latency * (1 + noise() * 0.4)).toFixed(3),
      ];
      const first = h * HOST_METRICS.length;
      for (let m = 0; m < values.length; m++) {
        sample(first + m, values[m], timestamp);
      }
    }
    this.#clock += STEP_SECONDS;
  }
}
