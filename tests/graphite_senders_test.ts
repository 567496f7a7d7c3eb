/**
 * Real Graphite senders, unchanged, against `serveGraphite()`: collectd's
 * write_graphite plugin (Debian's collectd-core) over TCP and UDP, and
 * carbon-c-relay forwarding to Pulse. A sender that is not installed makes
 * its test say why and be ignored.
 *
 * @module
 */

import { ok as assert, strictEqual as equal } from "node:assert/strict";
import { type GraphiteServer, serveGraphite } from "../graphite/ingest.ts";
import { LocalStorage } from "../storage/local.ts";
import {
  available,
  bytes,
  decoder,
  delay,
  HOST,
  unusedPort,
  within,
} from "./_helpers.ts";

const COLLECTD = "/usr/sbin/collectd";
// Generous guards, not speed limits: collectd sends every second, and the
// machine may be busy.
const ARRIVAL_MS = 60_000;

/** Where collectd-core keeps its plugins and types, from `dpkg -L`. */
async function collectdFiles(): Promise<
  { plugins: string; types: string } | string
> {
  if (!await available(COLLECTD, ["-h"])) return `${COLLECTD} is missing`;
  if (!await available("dpkg", ["--version"])) return "dpkg is missing";
  const { stdout } = await new Deno.Command("dpkg", {
    args: ["-L", "collectd-core"],
    stderr: "null",
  }).output();
  const files = decoder.decode(stdout).split("\n");
  const plugin = files.find((file) => file.endsWith("/write_graphite.so"));
  const types = files.find((file) => file.endsWith("/types.db"));
  if (plugin === undefined || types === undefined) {
    return "collectd-core has no write_graphite.so or types.db";
  }
  return { plugins: plugin.slice(0, plugin.lastIndexOf("/")), types };
}

const COLLECTD_FILES = await collectdFiles();
if (typeof COLLECTD_FILES === "string") {
  console.warn(
    `graphite_senders_test: ${COLLECTD_FILES}, so the collectd tests are ignored (install Debian's collectd-core package to run them)`,
  );
}
const RELAY = await available("carbon-c-relay", ["-v"]);
if (!RELAY) {
  console.warn(
    "graphite_senders_test: carbon-c-relay is missing, so its tests are ignored (install Debian's carbon-c-relay package to run them)",
  );
}

/** Waits until `storage` holds a series for each of `keys`. */
async function arrived(
  storage: LocalStorage,
  graphite: GraphiteServer,
  keys: string[],
  stderr: () => string,
): Promise<void> {
  const missing = () => keys.filter((key) => !storage.store.get(key)?.length);
  try {
    await within(
      (async () => {
        while (missing().length > 0) await delay(50);
      })(),
      "the series' arrival",
      ARRIVAL_MS,
    );
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; missing ${missing().join(", ")}; ${
        JSON.stringify(graphite.stats())
      }; the sender said: ${stderr()}`,
    );
  }
}

/** A child process whose stderr is collected, ended with SIGTERM. */
class Sender implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #stderr = "";
  #drained: Promise<void>;

  constructor(command: string, args: string[]) {
    const child = new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#drained = (async () => {
      for await (const chunk of child.stderr) {
        this.#stderr += decoder.decode(chunk);
      }
    })();
  }

  get stderr(): string {
    return this.#stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // It exited already.
    }
    await within(this.#child.status, "the sender's exit", 30_000);
    await this.#drained;
  }
}

/** A temporary directory, removed on disposal. */
async function tempDir(prefix: string) {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** collectd's configuration: cpu, memory and load every second to Pulse. */
function collectdConfig(
  dir: string,
  files: { plugins: string; types: string },
  port: number,
  protocol: "tcp" | "udp",
): string {
  return [
    "Interval 1",
    `BaseDir "${dir}"`,
    `PIDFile "${dir}/collectd.pid"`,
    `PluginDir "${files.plugins}"`,
    `TypesDB "${files.types}"`,
    "FQDNLookup false",
    'Hostname "pulse-test"',
    "LoadPlugin cpu",
    "LoadPlugin memory",
    "LoadPlugin load",
    "LoadPlugin write_graphite",
    "<Plugin write_graphite>",
    '  <Node "pulse">',
    `    Host "${HOST}"`,
    `    Port "${port}"`,
    `    Protocol "${protocol}"`,
    '    Prefix "collectd."',
    "  </Node>",
    "</Plugin>",
    "",
  ].join("\n");
}

Deno.test({
  name: "serveGraphite() takes collectd's write_graphite: cpu, memory and load",
  ignore: typeof COLLECTD_FILES === "string",
  fn: async (t) => {
    const files = COLLECTD_FILES as { plugins: string; types: string };
    for (const protocol of ["tcp", "udp"] as const) {
      await t.step(`over ${protocol.toUpperCase()}`, async () => {
        await using dir = await tempDir("pulse-collectd-");
        await using storage = new LocalStorage();
        await using graphite = serveGraphite(storage, {
          plaintext: { hostname: HOST, port: 0 },
        });
        const config = `${dir.path}/collectd.conf`;
        const port = graphite.addrs.plaintext!.port;
        await Deno.writeTextFile(
          config,
          collectdConfig(dir.path, files, port, protocol),
        );
        {
          await using collectd = new Sender(COLLECTD, ["-f", "-C", config]);
          await arrived(storage, graphite, [
            "collectd.pulse-test.load.load.shortterm",
            "collectd.pulse-test.load.load.longterm",
            "collectd.pulse-test.memory.memory-used",
            "collectd.pulse-test.memory.memory-free",
            // A rate: its first value is nan, the next ones are stored.
            "collectd.pulse-test.cpu-0.cpu-idle",
            "collectd.pulse-test.cpu-0.cpu-user",
          ], () => collectd.stderr);
        }
        const stats = graphite.stats();
        equal(stats.graphite_bad_lines_total, 0);
        assert(stats.graphite_non_finite_total > 0, "the first rates are nan");
        equal(stats.graphite_datagrams_total > 0, protocol === "udp");
        const [[timestamp, value]] = storage.store.get(
          "collectd.pulse-test.memory.memory-used",
        )!.toArray();
        assert(value > 0, `${value}`);
        assert(Math.abs(timestamp - Date.now() / 1000) < 3600, `${timestamp}`);
      });
    }
  },
});

/** carbon-c-relay's configuration: listen on loopback, forward everything. */
function relayConfig(
  listen: number,
  port: number,
  protocol: "tcp" | "udp",
): string {
  return [
    "listen",
    "  type linemode",
    `    ${HOST}:${listen} proto tcp`,
    "  ;",
    "cluster pulse",
    "  forward",
    `    ${HOST}:${port} proto ${protocol}`,
    "  ;",
    "match *",
    "  send to pulse",
    "  stop",
    "  ;",
    "",
  ].join("\n");
}

/** Connects to the relay once it listens. */
async function connectWhenUp(port: number): Promise<Deno.Conn> {
  return await within(
    (async () => {
      while (true) {
        try {
          return await Deno.connect({ hostname: HOST, port });
        } catch (error) {
          if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
          await delay(50);
        }
      }
    })(),
    "carbon-c-relay listening",
    30_000,
  );
}

Deno.test({
  name: "serveGraphite() takes what carbon-c-relay forwards",
  ignore: !RELAY,
  fn: async (t) => {
    // The relay sends a datagram per line: a burst larger than the kernel's
    // socket buffer (about 270 small datagrams by default) would be dropped
    // before Pulse could read it, as UDP does.
    for (const [protocol, count] of [["tcp", 500], ["udp", 100]] as const) {
      await t.step(`forwarded over ${protocol.toUpperCase()}`, async () => {
        await using dir = await tempDir("pulse-relay-");
        await using storage = new LocalStorage();
        await using graphite = serveGraphite(storage, {
          plaintext: { hostname: HOST, port: 0 },
        });
        const config = `${dir.path}/relay.conf`;
        const listen = unusedPort();
        await Deno.writeTextFile(
          config,
          relayConfig(listen, graphite.addrs.plaintext!.port, protocol),
        );
        const lines = Array.from(
          { length: count },
          (_, i) => `relay.host${i % 50}.cpu ${i / 8} ${1501864247 + i}\n`,
        );
        lines.push("relay.tagged;dc=x;host=a 7 1501864247\n");
        lines.push("relay.nan nan 1501864247\n");
        {
          await using relay = new Sender("carbon-c-relay", [
            "-f",
            config,
            "-s",
            "-l",
            `${dir.path}/relay.log`,
          ]);
          const conn = await connectWhenUp(listen);
          try {
            const data = bytes(lines.join(""));
            for (let at = 0; at < data.length;) {
              at += await conn.write(data.subarray(at));
            }
          } finally {
            conn.close();
          }
          await arrived(
            storage,
            graphite,
            ["relay.host49.cpu", "relay.tagged;dc=x;host=a"],
            () => relay.stderr,
          );
          await within(
            (async () => {
              while (graphite.stats().graphite_lines_total < count + 1) {
                await delay(20);
              }
            })(),
            `${count + 1} lines`,
            ARRIVAL_MS,
          );
        }
        equal(graphite.stats().graphite_lines_total, count + 1);
        equal(graphite.stats().graphite_bad_lines_total, 0);
        equal(storage.store.get("relay.host7.cpu")?.length, count / 50);
        equal(storage.store.get("relay.host7.cpu")?.toArray()[1][1], 57 / 8);
        equal(storage.store.get("relay.nan"), undefined);
      });
    }
  },
});
