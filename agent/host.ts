/**
 * A Linux host's figures, read from `/proc` the way the host agent sends
 * them: CPU busy percent, memory used, load, disk used percent per real
 * filesystem, and network bytes per second per interface.
 *
 * The collector reads through a {@linkcode HostSource}, so that tests can
 * hand it fixture text instead of the running system's files.
 *
 * @example Collecting twice from fixture files
 * ```ts
 * import { HostCollector, type HostSource } from "@pulse/metrics/agent";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * let busy = 100;
 * const source: HostSource = {
 *   readTextFile: (path) => {
 *     if (path === "/proc/stat") return Promise.resolve(`cpu ${busy} 0 0 100\n`);
 *     return Promise.reject(new Deno.errors.NotFound(path));
 *   },
 *   statfs: (path) => Promise.reject(new Deno.errors.NotFound(path)),
 * };
 * const collector = new HostCollector("palm", { source, onWarning: () => {} });
 * await collector.collect(0);
 * busy = 150;
 * deepStrictEqual(await collector.collect(10_000), [
 *   { key: "palm.cpu", value: 100, timestamp: 10 },
 * ]);
 * ```
 *
 * @module
 */

import { statfs } from "node:fs";
import { describe } from "../internal/describe.ts";

/** One sample to send: a series' name, a value and a time in Unix seconds. */
export interface Sample {
  /** The series' name, such as `palm.cpu`. */
  key: string;
  /** The value. */
  value: number;
  /** Unix seconds. */
  timestamp: number;
}

/** The space of a filesystem, in bytes. */
export interface DiskSpace {
  /** All of it. */
  size: number;
  /** Not in use, including the blocks reserved for the superuser. */
  free: number;
  /** Free for ordinary users. */
  available: number;
}

/** How a {@linkcode HostCollector} reaches the system. */
export interface HostSource {
  /**
   * Reads a whole file, such as `/proc/stat`.
   *
   * @param path The file's path.
   * @returns Its text.
   */
  readTextFile(path: string): Promise<string>;
  /**
   * Reads the space of the filesystem mounted at `path`.
   *
   * @param path A mount point.
   * @returns Its space.
   */
  statfs(path: string): Promise<DiskSpace>;
}

/** Options of {@linkcode HostCollector}. */
export interface HostCollectorOptions {
  /**
   * Where the files and the filesystems' space are read.
   *
   * @default {SYSTEM_SOURCE}
   */
  source?: HostSource;
  /**
   * Receives one warning per figure the system does not offer; that figure
   * is then skipped without further warnings.
   *
   * @default {(message) => console.error(`pulse: agent: ${message}`)}
   */
  onWarning?: (message: string) => void;
}

/**
 * The running system: files through `Deno.readTextFile`, space through
 * `statfs(2)`.
 */
export const SYSTEM_SOURCE: HostSource = {
  readTextFile: (path) => Deno.readTextFile(path),
  statfs: (path) =>
    new Promise((resolve, reject) => {
      statfs(path, (error, stats) => {
        if (error) reject(error);
        else {
          resolve({
            size: stats.blocks * stats.bsize,
            free: stats.bfree * stats.bsize,
            available: stats.bavail * stats.bsize,
          });
        }
      });
    }),
};

// Filesystems that hold no disk space of their own, or only images that are
// full by construction (squashfs): their usage would be noise.
const PSEUDO_FILESYSTEMS = new Set([
  "autofs",
  "binfmt_misc",
  "bpf",
  "cgroup",
  "cgroup2",
  "configfs",
  "debugfs",
  "devpts",
  "devtmpfs",
  "efivarfs",
  "fusectl",
  "hugetlbfs",
  "mqueue",
  "nsfs",
  "proc",
  "pstore",
  "ramfs",
  "rpc_pipefs",
  "securityfs",
  "selinuxfs",
  "squashfs",
  "sysfs",
  "tmpfs",
  "tracefs",
]);

// Traffic of the loopback interface never leaves the host.
const LOOPBACK_INTERFACE = "lo";

interface CpuTimes {
  total: number;
  idle: number;
}

interface NetCounters {
  at: number;
  bytes: Map<string, [rx: number, tx: number]>;
}

/**
 * Turns a mount point or an interface name into one segment of a key:
 * `/` becomes `root`, `/var/lib` becomes `var_lib`, and every character
 * other than letters, digits, `_` and `-` becomes `_`.
 *
 * @example Usage
 * ```ts
 * import { keySegment } from "@pulse/metrics/agent";
 * import { strictEqual } from "node:assert/strict";
 *
 * strictEqual(keySegment("/"), "root");
 * strictEqual(keySegment("/var/lib"), "var_lib");
 * strictEqual(keySegment("eth0.100"), "eth0_100");
 * ```
 *
 * @param name A mount point or an interface name.
 * @returns A segment without dots or whitespace.
 */
export function keySegment(name: string): string {
  const trimmed = name.replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return "root";
  return trimmed.replace(/[^A-Za-z0-9_-]/g, "_");
}

/**
 * The agent's default prefix: the host's name with dots (and anything else
 * that cannot be in a segment) replaced by `_`.
 *
 * @example Usage
 * ```ts
 * import { hostPrefix } from "@pulse/metrics/agent";
 * import { strictEqual } from "node:assert/strict";
 *
 * strictEqual(hostPrefix("palm.example.com"), "palm_example_com");
 * ```
 *
 * @param hostname The host's name.
 * @returns The prefix.
 */
export function hostPrefix(hostname: string = Deno.hostname()): string {
  const prefix = hostname.replace(/[^A-Za-z0-9_-]/g, "_");
  return prefix === "" ? "host" : prefix;
}

/** Reads `\040`-style octal escapes of `/proc/mounts`. */
function unescapeMount(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * Collects a Linux host's figures from `/proc`. Rates (CPU busy, network
 * bytes per second) are over the time between two collections, so the first
 * collection gives none of them.
 *
 * @example Usage
 * ```ts
 * import { HostCollector } from "@pulse/metrics/agent";
 * import { ok } from "node:assert/strict";
 *
 * const collector = new HostCollector("palm", { onWarning: () => {} });
 * const samples = await collector.collect(Date.now());
 * ok(samples.every((sample) => sample.key.startsWith("palm.")));
 * ```
 */
export class HostCollector {
  #prefix: string;
  #source: HostSource;
  #onWarning: (message: string) => void;
  #warned = new Set<string>();
  #cpu: CpuTimes | undefined;
  #net: NetCounters | undefined;

  /**
   * Creates a collector.
   *
   * @param prefix The first segment(s) of every key, such as `palm`.
   * @param options Where to read from, and where warnings go.
   * @throws {TypeError} When the prefix is empty or holds whitespace.
   */
  constructor(prefix: string, options: HostCollectorOptions = {}) {
    if (prefix.length === 0 || /\s/.test(prefix)) {
      throw new TypeError(
        `Cannot collect under the prefix ${
          JSON.stringify(prefix)
        }: it is empty or holds whitespace`,
      );
    }
    this.#prefix = prefix;
    this.#source = options.source ?? SYSTEM_SOURCE;
    this.#onWarning = options.onWarning ??
      ((message) => console.error(`pulse: agent: ${message}`));
  }

  /**
   * Reads every figure the system offers once.
   *
   * @param now The time, in milliseconds since the epoch: samples are
   * stamped with its second, and rates are over the time since the last
   * collection.
   * @returns The samples: cpu, memory, load1, disk, then network.
   */
  async collect(now: number): Promise<Sample[]> {
    const timestamp = Math.floor(now / 1000);
    const samples: Sample[] = [];
    const add = (name: string, value: number) =>
      samples.push({ key: `${this.#prefix}.${name}`, value, timestamp });
    const [cpu, memory, load, disks, net] = await Promise.all([
      this.#attempt("cpu", "/proc/stat", () => this.#readCpu()),
      this.#attempt("memory", "/proc/meminfo", () => this.#readMemory()),
      this.#attempt("load1", "/proc/loadavg", () => this.#readLoad()),
      this.#attempt("disk.*", "/proc/mounts", () => this.#readDisks()),
      this.#attempt("net.*", "/proc/net/dev", () => this.#readNet(now)),
    ]);
    if (cpu !== undefined) add("cpu", cpu);
    if (memory !== undefined) add("memory", memory);
    if (load !== undefined) add("load1", load);
    for (const [mount, percent] of disks ?? []) add(`disk.${mount}`, percent);
    for (const [iface, [rx, tx]] of net ?? []) {
      add(`net.${iface}.rx`, rx);
      add(`net.${iface}.tx`, tx);
    }
    return samples;
  }

  /** Runs one reader; a failure is warned about once, then silent. */
  async #attempt<T>(
    name: string,
    path: string,
    read: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await read();
    } catch (error) {
      this.#warn(
        path,
        `skipping ${this.#prefix}.${name}: cannot read ${path}: ${
          describe(error)
        }`,
      );
      return undefined;
    }
  }

  #warn(what: string, message: string): void {
    if (this.#warned.has(what)) return;
    this.#warned.add(what);
    this.#onWarning(message);
  }

  /** Percent busy since the last reading, from the first line of /proc/stat. */
  async #readCpu(): Promise<number | undefined> {
    const text = await this.#source.readTextFile("/proc/stat");
    const line = text.split("\n").find((l) => /^cpu\s/.test(l));
    // user nice system idle iowait irq softirq steal; guest time is already
    // counted in user.
    const fields = line?.trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields === undefined || fields.length < 4 || fields.some(isNaN)) {
      throw new SyntaxError("no cpu line");
    }
    const times = {
      total: fields.reduce((sum, n) => sum + n, 0),
      idle: fields[3] + (fields[4] ?? 0),
    };
    const previous = this.#cpu;
    this.#cpu = times;
    if (previous === undefined) return undefined;
    const total = times.total - previous.total;
    const idle = times.idle - previous.idle;
    // No time passed, or the counters went back: nothing to report.
    if (!(total > 0) || idle < 0 || idle > total) return undefined;
    return round((total - idle) / total * 100);
  }

  /** Used bytes: MemTotal - MemAvailable. */
  async #readMemory(): Promise<number> {
    const text = await this.#source.readTextFile("/proc/meminfo");
    const field = (name: string): number => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text);
      if (match === null) throw new SyntaxError(`no ${name}`);
      return Number(match[1]) * 1024;
    };
    return field("MemTotal") - field("MemAvailable");
  }

  async #readLoad(): Promise<number> {
    const text = await this.#source.readTextFile("/proc/loadavg");
    const load = Number(text.trim().split(/\s+/)[0]);
    if (text.trim() === "" || !Number.isFinite(load)) {
      throw new SyntaxError("no load average");
    }
    return load;
  }

  /** Percent used of each real filesystem, by key segment of its mount. */
  async #readDisks(): Promise<Map<string, number>> {
    const text = await this.#source.readTextFile("/proc/mounts");
    const mounts = new Map<string, string>();
    for (const line of text.split("\n")) {
      const [, mountPoint, type] = line.trim().split(/\s+/);
      if (type === undefined || PSEUDO_FILESYSTEMS.has(type)) continue;
      const path = unescapeMount(mountPoint);
      // A mount point listed twice (mounted over) is one filesystem now.
      mounts.set(keySegment(path), path);
    }
    const percents = new Map<string, number>();
    await Promise.all([...mounts].map(async ([segment, path]) => {
      let space: DiskSpace;
      try {
        space = await this.#source.statfs(path);
      } catch (error) {
        this.#warn(
          `statfs ${path}`,
          `skipping ${this.#prefix}.disk.${segment}: cannot read the space of ${path}: ${
            describe(error)
          }`,
        );
        return;
      }
      // As df computes it: the superuser's reserve counts as neither.
      const used = space.size - space.free;
      const usable = used + space.available;
      if (usable > 0) percents.set(segment, round(used / usable * 100));
    }));
    // Mount order, whatever order statfs answered in.
    const ordered = new Map<string, number>();
    for (const segment of mounts.keys()) {
      const percent = percents.get(segment);
      if (percent !== undefined) ordered.set(segment, percent);
    }
    return ordered;
  }

  /** Bytes per second received and sent per interface since last time. */
  async #readNet(now: number): Promise<Map<string, [number, number]>> {
    const text = await this.#source.readTextFile("/proc/net/dev");
    const bytes = new Map<string, [number, number]>();
    for (const line of text.split("\n")) {
      const colon = line.indexOf(":");
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim();
      const fields = line.slice(colon + 1).trim().split(/\s+/).map(Number);
      if (name === LOOPBACK_INTERFACE || fields.length < 9) continue;
      if (isNaN(fields[0]) || isNaN(fields[8])) continue;
      bytes.set(keySegment(name), [fields[0], fields[8]]);
    }
    if (bytes.size === 0 && !/\|\s*bytes/.test(text)) {
      throw new SyntaxError("no interface table");
    }
    const previous = this.#net;
    this.#net = { at: now, bytes };
    const rates = new Map<string, [number, number]>();
    const seconds = previous === undefined ? 0 : (now - previous.at) / 1000;
    if (previous === undefined || !(seconds > 0)) return rates;
    for (const [name, [rx, tx]] of bytes) {
      const before = previous.bytes.get(name);
      // A new interface has no rate yet; one whose counters went back was
      // reset (or wrapped) and has none this time.
      if (before === undefined || rx < before[0] || tx < before[1]) continue;
      rates.set(name, [
        round((rx - before[0]) / seconds),
        round((tx - before[1]) / seconds),
      ]);
    }
    return rates;
  }
}
