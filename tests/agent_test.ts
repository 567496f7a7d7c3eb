import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import { Agent, type Collector } from "../agent/agent.ts";
import { Client } from "../client.ts";
import {
  type DiskSpace,
  HostCollector,
  hostPrefix,
  type HostSource,
  keySegment,
  type Sample,
} from "../agent/host.ts";
import { serve, type Server } from "../server.ts";
import { Store } from "../store.ts";
import { delay, HOST, ServerProcess, within } from "./_helpers.ts";
import * as agentExport from "@pulse/metrics/agent";
import * as cliExport from "@pulse/metrics/cli";

/** Fixture files and filesystems that tests change between collections. */
class FakeHost implements HostSource {
  files = new Map<string, string>();
  disks = new Map<string, DiskSpace>();
  reads: string[] = [];

  readTextFile(path: string): Promise<string> {
    this.reads.push(path);
    const text = this.files.get(path);
    return text === undefined
      ? Promise.reject(
        new Deno.errors.NotFound(`No such file or directory: ${path}`),
      )
      : Promise.resolve(text);
  }

  statfs(path: string): Promise<DiskSpace> {
    const space = this.disks.get(path);
    return space === undefined
      ? Promise.reject(new Deno.errors.PermissionDenied("Permission denied"))
      : Promise.resolve(space);
  }
}

const STAT_1 = `cpu  100 20 30 800 50 0 0 0 0 0
cpu0 50 10 15 400 25 0 0 0 0 0
intr 12345
`;
// user +60, system +20, idle +200, iowait +20, guest +10 (part of user).
const STAT_2 = `cpu  160 20 50 1000 70 0 0 0 10 0
cpu0 80 10 25 500 35 0 0 0 5 0
`;
const MEMINFO = `MemTotal:       16384000 kB
MemFree:         2048000 kB
MemAvailable:    4096000 kB
Buffers:          102400 kB
`;
const LOADAVG = "0.52 0.58 0.59 1/467 12345\n";
const MOUNTS = `proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
/dev/sda1 / ext4 rw,relatime 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=1632000k,mode=755 0 0
/dev/sda2 /var/lib xfs rw,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
/dev/loop0 /snap/core/1 squashfs ro,nodev,relatime 0 0
/dev/sdb1 /mnt/my\\040disk ext4 rw,relatime 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime 0 0
`;
const NET_HEADER =
  `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
`;

function netDev(counters: Record<string, [rx: number, tx: number]>): string {
  return NET_HEADER +
    Object.entries(counters).map(([name, [rx, tx]]) =>
      `${name.padStart(6)}: ${rx} 10 0 0 0 0 0 0 ${tx} 10 0 0 0 0 0 0\n`
    ).join("");
}

/** A host with every file, at its first reading. */
function fullHost(): FakeHost {
  const host = new FakeHost();
  host.files.set("/proc/stat", STAT_1);
  host.files.set("/proc/meminfo", MEMINFO);
  host.files.set("/proc/loadavg", LOADAVG);
  host.files.set("/proc/mounts", MOUNTS);
  host.files.set(
    "/proc/net/dev",
    netDev({ lo: [999, 999], eth0: [1000, 2000], wlan0: [500, 500] }),
  );
  host.disks.set("/", { size: 1000, free: 400, available: 300 });
  host.disks.set("/var/lib", { size: 2000, free: 1500, available: 1500 });
  host.disks.set("/mnt/my disk", { size: 100, free: 0, available: 0 });
  return host;
}

function samplesByKey(samples: Sample[]): Record<string, number> {
  return Object.fromEntries(samples.map((s) => [s.key, s.value]));
}

Deno.test("HostCollector.collect() reads /proc into samples", async (t) => {
  const host = fullHost();
  const warnings: string[] = [];
  const collector = new HostCollector("palm", {
    source: host,
    onWarning: (message) => warnings.push(message),
  });

  await t.step("the first collection has no rates yet", async () => {
    const samples = await collector.collect(1_501_864_247_900);
    for (const sample of samples) equal(sample.timestamp, 1_501_864_247);
    deepEqual(samples.map((s) => s.key), [
      "palm.memory",
      "palm.load1",
      "palm.disk.root",
      "palm.disk.var_lib",
      "palm.disk.mnt_my_disk",
    ]);
    deepEqual(samplesByKey(samples), {
      "palm.memory": (16384000 - 4096000) * 1024,
      "palm.load1": 0.52,
      // used / (used + available), as df: 600 / 900, 500 / 2000, 100 / 100.
      "palm.disk.root": 66.67,
      "palm.disk.var_lib": 25,
      "palm.disk.mnt_my_disk": 100,
    });
  });
  await t.step("the second gives CPU and network rates", async () => {
    host.files.set("/proc/stat", STAT_2);
    host.files.set(
      "/proc/net/dev",
      // eth0 +5000 and +500 bytes in 10 s; wlan0's counters were reset;
      // eth1 is new.
      netDev({ lo: [5999, 5999], eth0: [6000, 2500], wlan0: [100, 100] }) +
        "  eth1: 7 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n",
    );
    const samples = await collector.collect(1_501_864_257_900);
    for (const sample of samples) equal(sample.timestamp, 1_501_864_257);
    const values = samplesByKey(samples);
    // Busy: total +300 (guest not counted twice), idle + iowait +220.
    equal(values["palm.cpu"], 26.67);
    equal(values["palm.net.eth0.rx"], 500);
    equal(values["palm.net.eth0.tx"], 50);
    deepEqual(
      samples.map((s) => s.key).filter((key) => key.includes(".net.")),
      ["palm.net.eth0.rx", "palm.net.eth0.tx"],
      "no loopback, no reset counters, no new interface yet",
    );
    equal(samples[0].key, "palm.cpu", "cpu comes first");
  });
  await t.step("no warnings when everything is there", () => {
    deepEqual(warnings, []);
  });
});

Deno.test("HostCollector.collect() skips what the system lacks, with one warning each", async (t) => {
  const host = new FakeHost();
  host.files.set("/proc/meminfo", MEMINFO);
  host.files.set("/proc/mounts", MOUNTS);
  host.disks.set("/", { size: 1000, free: 400, available: 300 });
  const warnings: string[] = [];
  const collector = new HostCollector("palm", {
    source: host,
    onWarning: (message) => warnings.push(message),
  });
  let samples: Sample[] = [];
  for (let i = 0; i < 3; i++) samples = await collector.collect(i * 10_000);
  deepEqual(samples.map((s) => s.key), ["palm.memory", "palm.disk.root"]);

  await t.step("one warning per missing file or filesystem", () => {
    equal(warnings.length, 5, warnings.join("\n"));
    const expected = [
      /^skipping palm\.cpu: cannot read \/proc\/stat: no such file/,
      /^skipping palm\.load1: cannot read \/proc\/loadavg: no such file/,
      /^skipping palm\.net\.\*: cannot read \/proc\/net\/dev: no such file/,
      /^skipping palm\.disk\.var_lib: cannot read the space of \/var\/lib: permission denied/,
      /^skipping palm\.disk\.mnt_my_disk: cannot read the space of \/mnt\/my disk: permission denied/,
    ];
    for (const pattern of expected) {
      equal(warnings.filter((w) => pattern.test(w)).length, 1, `${pattern}`);
    }
  });
  await t.step("malformed files are skipped too", async () => {
    warnings.length = 0;
    host.files.set("/proc/stat", "intr 1 2 3\n");
    host.files.set("/proc/loadavg", "\n");
    host.files.set("/proc/meminfo", "MemTotal: 100 kB\n");
    deepEqual((await collector.collect(40_000)).map((s) => s.key), [
      "palm.disk.root",
    ]);
    await collector.collect(50_000);
    // /proc/stat and /proc/loadavg were warned about already.
    equal(warnings.length, 1, warnings.join("\n"));
    assert(/^skipping palm\.memory: .*no MemAvailable/.test(warnings[0]));
  });
  await t.step("a figure that comes back is collected again", async () => {
    host.files.set("/proc/meminfo", MEMINFO);
    const keys = (await collector.collect(60_000)).map((s) => s.key);
    assert(keys.includes("palm.memory"), keys.join());
  });
});

Deno.test("HostCollector.collect() reads the running system", async () => {
  const warnings: string[] = [];
  const collector = new HostCollector("self", {
    onWarning: (message) => warnings.push(message),
  });
  const now = Date.now();
  await collector.collect(now);
  // Let the CPU counters (in hundredths of a second) move on.
  await delay(200);
  const samples = await collector.collect(now + 1000);
  for (const sample of samples) {
    assert(sample.key.startsWith("self."), sample.key);
    assert(Number.isFinite(sample.value), `${sample.key} ${sample.value}`);
    equal(sample.timestamp, Math.floor((now + 1000) / 1000));
  }
  // Whatever this system lacks was said, once; what it has was read.
  const keys = new Set(samples.map((s) => s.key));
  const expected: [string, string][] = [
    ["self.cpu", "/proc/stat"],
    ["self.memory", "/proc/meminfo"],
    ["self.load1", "/proc/loadavg"],
  ];
  for (const [key, path] of expected) {
    assert(
      keys.has(key) || warnings.some((w) => w.includes(path)),
      `${key}: ${warnings.join("\n")}`,
    );
  }
});

Deno.test("keySegment() turns mounts and interfaces into one key segment", () => {
  equal(keySegment("/"), "root");
  equal(keySegment("/var/lib"), "var_lib");
  equal(keySegment("/var/lib/"), "var_lib");
  equal(keySegment("/mnt/my disk"), "mnt_my_disk");
  equal(keySegment("/media/usb.key"), "media_usb_key");
  equal(keySegment("eth0"), "eth0");
  equal(keySegment("eth0.100"), "eth0_100");
  equal(keySegment("wg-home"), "wg-home");
});

Deno.test("hostPrefix() replaces dots in the host name", () => {
  equal(hostPrefix("palm"), "palm");
  equal(hostPrefix("palm.example.com"), "palm_example_com");
  equal(hostPrefix("my host"), "my_host");
  equal(hostPrefix(""), "host");
  assert(!/[.\s]/.test(hostPrefix()), hostPrefix());
});

/** A collector of two series whose values count collections; it records. */
class CountingCollector implements Collector {
  collected: Sample[][] = [];

  collect(now: number): Promise<Sample[]> {
    const n = this.collected.length;
    const timestamp = Math.floor(now / 1000);
    const samples = [
      { key: "test.a", value: n, timestamp },
      { key: "test.b", value: -n / 4, timestamp },
    ];
    this.collected.push(samples);
    return Promise.resolve(samples);
  }

  /** Every sample collected, in order. */
  get all(): Sample[] {
    return this.collected.flat();
  }
}

/** A store that records the order in which samples arrive. */
class RecordingStore extends Store {
  arrivals: string[] = [];

  override put(key: string, value: number, timestamp: number): void {
    this.arrivals.push(`${key} ${value} ${timestamp}`);
    super.put(key, value, timestamp);
  }

  /** Each sample at its first arrival, in arrival order. */
  get firstArrivals(): string[] {
    return [...new Set(this.arrivals)];
  }
}

function describeSamples(samples: Sample[]): string[] {
  return samples.map((s) => `${s.key} ${s.value} ${s.timestamp}`);
}

/** A clock that moves 10 s on each reading. */
function steppingClock(start = 1_700_000_000_000, step = 10_000) {
  let now = start - step;
  return () => now += step;
}

function serveOn(port: number, store: Store): Server {
  return serve({ hostname: HOST, port, store, onError: () => {} });
}

Deno.test("Agent.tick() sends every collection in order", async () => {
  const store = new RecordingStore();
  await using server = serveOn(0, store);
  await using client = new Client(HOST, server.addr.port, { timeout: 20_000 });
  const collector = new CountingCollector();
  const log: string[] = [];
  const agent = new Agent(client, {
    collector,
    now: steppingClock(),
    onLog: (message) => log.push(message),
  });
  for (let i = 0; i < 5; i++) equal(await agent.tick(), true);
  equal(agent.pending, 0);
  deepEqual(store.firstArrivals, describeSamples(collector.all));
  deepEqual(log, []);
});

Deno.test("Agent holds samples while the server is down and sends them, in order, once it is back", async (t) => {
  const store = new RecordingStore();
  let server = serveOn(0, store);
  const port = server.addr.port;
  await using client = new Client(HOST, port, { timeout: 20_000 });
  const collector = new CountingCollector();
  const log: string[] = [];
  const agent = new Agent(client, {
    collector,
    now: steppingClock(),
    onLog: (message) => log.push(message),
  });
  try {
    for (let i = 0; i < 3; i++) equal(await agent.tick(), true);
    await server.shutdown();

    await t.step("while down, collections wait", async () => {
      for (let i = 0; i < 4; i++) equal(await agent.tick(), false);
      equal(agent.pending, 8);
      equal(log.length, 1, log.join("\n"));
      assert(
        log[0].startsWith(`Cannot connect to ${HOST}:${port}: `) ||
          log[0].startsWith(`Cannot read from ${HOST}:${port}: `) ||
          log[0].startsWith(`Cannot send to ${HOST}:${port}: `),
        log[0],
      );
      assert(log[0].includes("holding samples"), log[0]);
    });

    // The same port, the same store: a restart.
    server = serveOn(port, store);
    await t.step("once back, the backlog goes first", async () => {
      equal(await agent.tick(), true);
      equal(agent.pending, 0);
      deepEqual(store.firstArrivals, describeSamples(collector.all));
      equal(collector.all.length, 16);
      equal(log.length, 2, log.join("\n"));
      equal(log[1], "the server is back: sent 10 held samples");
    });
    await t.step("and later outages are reported again", async () => {
      await server.shutdown();
      equal(await agent.tick(), false);
      equal(log.length, 3, log.join("\n"));
      server = serveOn(port, store);
      equal(await agent.tick(), true);
      equal(log.length, 4, log.join("\n"));
      deepEqual(store.firstArrivals, describeSamples(collector.all));
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("Agent drops the oldest collections beyond its bound, with one log line", async () => {
  const store = new RecordingStore();
  let server = serveOn(0, store);
  const port = server.addr.port;
  await server.shutdown();
  await using client = new Client(HOST, port, { timeout: 20_000 });
  const collector = new CountingCollector();
  const log: string[] = [];
  // 30 s of collections every 10 s: three are held.
  const agent = new Agent(client, {
    collector,
    every: 10_000,
    buffer: 30_000,
    now: steppingClock(),
    onLog: (message) => log.push(message),
  });
  equal(agent.limit, 3);
  try {
    for (let i = 0; i < 7; i++) equal(await agent.tick(), false);
    equal(agent.pending, 6);
    const full = log.filter((line) => line.includes("backlog is full"));
    deepEqual(full, [
      "the backlog is full (3 collections, 30s): dropping the oldest samples until the server takes them",
    ]);
    server = serveOn(port, store);
    equal(await agent.flush(), true);
    // The last three collections arrive, in order; the four before do not.
    deepEqual(
      store.firstArrivals,
      describeSamples(collector.collected.slice(4).flat()),
    );
    equal(
      log.at(-1),
      "the server is back: sent 6 held samples; 8 older samples were dropped",
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("Agent skips samples that cannot be sent, with one warning each", async () => {
  const store = new Store();
  await using server = serveOn(0, store);
  await using client = new Client(HOST, server.addr.port);
  const log: string[] = [];
  let calls = 0;
  const agent = new Agent(client, {
    collector: {
      collect: (now) => {
        if (calls++ === 2) {
          return Promise.reject(new Error("the disk fell off"));
        }
        const timestamp = now / 1000;
        return Promise.resolve([
          { key: "ok", value: 1, timestamp },
          { key: "bad value", value: 1, timestamp },
          { key: "nan", value: NaN, timestamp },
          { key: "half", value: 1, timestamp: timestamp + 0.5 },
        ]);
      },
    },
    now: steppingClock(),
    onLog: (message) => log.push(message),
  });
  for (let i = 0; i < 4; i++) equal(await agent.tick(), true);
  deepEqual(
    store.get("ok")?.toArray().map(([timestamp]) => timestamp),
    [1_700_000_000, 1_700_000_010, 1_700_000_030],
  );
  deepEqual([...store.series()].map((series) => series.key), ["ok"]);
  equal(log.length, 4, log.join("\n"));
  equal(log.filter((line) => line.startsWith('skipping "nan"')).length, 1);
  equal(
    log.filter((line) => line === "cannot collect: the disk fell off").length,
    1,
  );
});

Deno.test("new Agent() refuses an interval under a second and a negative buffer", () => {
  const client = new Client(HOST, 1);
  throws(() => new Agent(client, { every: 999 }), RangeError);
  throws(() => new Agent(client, { every: NaN }), RangeError);
  throws(() => new Agent(client, { buffer: -1 }), RangeError);
  equal(new Agent(client, { every: 1000, buffer: 0 }).limit, 1);
  equal(new Agent(client).limit, 360, "an hour of 10 s collections");
});

/** Waits, guarded, until `condition` holds. */
async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 30_000,
): Promise<void> {
  await within(
    (async () => {
      while (!await condition()) await delay(20);
    })(),
    what,
    ms,
  );
}

Deno.test("Agent.run() collects every interval and sends the rest when stopped", async (t) => {
  await t.step("with the server up", async () => {
    const store = new Store();
    await using server = serveOn(0, store);
    await using client = new Client(HOST, server.addr.port);
    const collector = new CountingCollector();
    const agent = new Agent(client, {
      collector,
      every: 1000,
      now: steppingClock(),
      onLog: () => {},
    });
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    await until(() => collector.collected.length >= 2, "two collections");
    controller.abort();
    await within(running, "the agent's stop");
    equal(agent.pending, 0);
    const a = collector.all.filter((s) => s.key === "test.a");
    deepEqual(
      store.get("test.a")?.toArray(),
      a.map((s) => [s.timestamp, s.value]),
    );
  });
  await t.step(
    "with the server down, it says what it could not send",
    async () => {
      const store = new Store();
      const server = serveOn(0, store);
      await server.shutdown();
      await using client = new Client(HOST, server.addr.port);
      const log: string[] = [];
      const agent = new Agent(client, {
        collector: new CountingCollector(),
        now: steppingClock(),
        onLog: (message) => log.push(message),
      });
      const controller = new AbortController();
      const running = agent.run(controller.signal);
      await until(() => agent.pending > 0, "a collection");
      controller.abort();
      await within(running, "the agent's stop");
      equal(log.at(-1), `stopping with ${agent.pending} samples unsent`);
    },
  );
});

Deno.test("Agent.run() sends every sample across a restart of server.ts on the same port", async () => {
  const data = await Deno.makeTempDir({ prefix: "pulse-agent-test-" });
  const args = ["--http", "off", "--data", data];
  let server = await ServerProcess.start(["--port", "0", ...args]);
  const port = server.port;
  try {
    await using client = new Client(HOST, port, { timeout: 20_000 });
    const collector = new CountingCollector();
    const log: string[] = [];
    const agent = new Agent(client, {
      collector,
      every: 1000,
      now: steppingClock(),
      onLog: (message) => log.push(message),
    });
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    try {
      await until(() => collector.collected.length >= 2, "two collections");
      server.child.kill("SIGTERM");
      equal((await server.exit()).code, 0, server.stderr);
      await server[Symbol.asyncDispose]();
      await until(() => log.length > 0, "the agent to see the server gone");
      const held = collector.collected.length;
      await until(
        () => collector.collected.length >= held + 2,
        "two collections while down",
      );
      assert(agent.pending > 0);
      server = await ServerProcess.start(["--port", String(port), ...args]);
      await until(
        () => log.some((line) => line.startsWith("the server is back")),
        "the backlog to be sent",
      );
    } finally {
      controller.abort();
      await within(running, "the agent's stop");
    }
    equal(agent.pending, 0, log.join("\n"));
    const expected: Record<string, [number, number][]> = {};
    for (const sample of collector.all) {
      (expected[sample.key] ??= []).push([sample.timestamp, sample.value]);
    }
    deepEqual(await client.get("*"), expected);
  } finally {
    await server[Symbol.asyncDispose]();
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("cli.ts agent sends this host's figures until SIGTERM", async () => {
  const store = new Store();
  await using server = serveOn(0, store);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../cli.ts", import.meta.url).pathname,
      "agent",
      "--every",
      "1s",
      "--prefix",
      "clitest",
      "--port",
      String(server.addr.port),
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    // A second collection shows the agent runs on after its first.
    await until(
      () => [...store.series()].some((series) => series.length >= 2),
      "two collections",
    );
  } finally {
    child.kill("SIGTERM");
  }
  const { code, stdout, stderr } = await within(output, "the agent's exit");
  const text = new TextDecoder().decode(stderr);
  equal(code, 0, text);
  equal(stdout.length, 0);
  assert(
    text.startsWith(
      `pulse: agent: sending clitest.* to 127.0.0.1:${server.addr.port} every 1s\n`,
    ),
    text,
  );
  const keys = [...store.series()].map((series) => series.key);
  for (const key of keys) assert(key.startsWith("clitest."), key);
  for (const key of ["clitest.memory", "clitest.load1"]) {
    assert(keys.includes(key) || text.includes(key), `${key}: ${text}`);
  }
});

Deno.test("`@pulse/metrics/agent` exports the agent; `Agent` of `./cli` is its deprecated alias", () => {
  equal(agentExport.Agent, Agent);
  equal(agentExport.HostCollector, HostCollector);
  equal(agentExport.hostPrefix, hostPrefix);
  equal(agentExport.keySegment, keySegment);
  equal(cliExport.Agent, Agent);
  deepEqual(Object.keys(cliExport).sort(), ["Agent", "main"]);
});
