import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { serve } from "../server.ts";
import { openStorage } from "../storage/local.ts";
import { Store } from "../store.ts";
import {
  available,
  decoder,
  HOST,
  makeCertificate,
  RawConnection,
  unusedPort,
  within,
} from "./_helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** How a run of the command line ended. */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A cli.ts ...args` to its end, its output collected; a
 * run that hangs is killed and fails the test.
 */
async function pulse(
  args: string[],
  env: Record<string, string> = {},
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    const { code, stdout, stderr } = await within(output, "pulse", 30_000);
    return {
      code,
      stdout: decoder.decode(stdout),
      stderr: decoder.decode(stderr),
    };
  } catch (error) {
    child.kill("SIGKILL");
    await output;
    throw error;
  }
}

/** Checks a run succeeded and printed nothing on stderr. */
function succeeded(run: Run): string {
  equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
  equal(run.stderr, "");
  return run.stdout;
}

/** Checks a run failed with `code` and one line on stderr, nothing on stdout. */
function failed(run: Run, code: number): string {
  equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  equal(run.stdout, "");
  assert(run.stderr.startsWith("pulse: "), run.stderr);
  equal(run.stderr.indexOf("\n"), run.stderr.length - 1, "one line");
  return run.stderr;
}

/** A store with a few samples of two hosts. */
function hostsStore(): Store {
  const store = new Store();
  store.put("palm.cpu", 10.6, 1501864247);
  store.put("palm.cpu", 2, 1501864308);
  store.put("palm.memory", 4200000, 1501864247);
  store.put("eardrum.cpu", -3.25, 1501864250);
  return store;
}

Deno.test("cli.ts put and get talk to the server", async (t) => {
  const store = new Store();
  await using server = serve({ hostname: HOST, port: 0, store });
  const port = ["--port", String(server.addr.port)];

  await t.step("put prints nothing and stores the sample", async () => {
    equal(
      succeeded(
        await pulse(["put", "palm.cpu", "10.6", "1501864247", ...port]),
      ),
      "",
    );
    equal(
      succeeded(await pulse([...port, "put", "palm.cpu", "-5", "1501864248"])),
      "",
    );
    deepEqual(store.get("palm.cpu")?.toArray(), [
      [1501864247, 10.6],
      [1501864248, -5],
    ]);
  });
  await t.step("put without a timestamp stamps now", async () => {
    const before = Math.floor(Date.now() / 1000);
    succeeded(await pulse(["put", "eardrum.memory", "4200000", ...port]));
    const after = Math.floor(Date.now() / 1000);
    const samples = store.get("eardrum.memory")!.toArray();
    equal(samples.length, 1);
    assert(before <= samples[0][0] && samples[0][0] <= after, String(samples));
  });
  await t.step("put with an ISO date", async () => {
    succeeded(
      await pulse(["put", "iso", "1", "2017-08-04T16:30:47Z", ...port]),
    );
    deepEqual(store.get("iso")?.toArray(), [[1501864247, 1]]);
  });
  await t.step("get prints the protocol's lines when piped", async () => {
    equal(
      succeeded(await pulse(["get", "palm.cpu", ...port])),
      "palm.cpu 10.6 1501864247\npalm.cpu -5.0 1501864248\n",
    );
    equal(succeeded(await pulse(["get", "nothing", ...port])), "");
  });
});

Deno.test("cli.ts prints a table, JSON and CSV", async (t) => {
  const store = hostsStore();
  store.put('odd,"key"', 1, 0);
  await using server = serve({ hostname: HOST, port: 0, store });
  const port = ["--port", String(server.addr.port)];

  await t.step("--table", async () => {
    equal(
      succeeded(await pulse(["get", "*", "--table", ...port])),
      [
        "key           timestamp  time (UTC)                value",
        "palm.cpu     1501864247  2017-08-04T16:30:47Z       10.6",
        "palm.cpu     1501864308  2017-08-04T16:31:48Z        2.0",
        "palm.memory  1501864247  2017-08-04T16:30:47Z  4200000.0",
        "eardrum.cpu  1501864250  2017-08-04T16:30:50Z      -3.25",
        'odd,"key"             0  1970-01-01T00:00:00Z        1.0',
        "",
      ].join("\n"),
    );
    equal(
      succeeded(await pulse(["last", "nothing.*", "--table", ...port])),
      "(no samples)\n",
    );
  });
  await t.step("--json has the shape of Client.get()", async () => {
    deepEqual(
      JSON.parse(succeeded(await pulse(["get", "*", "--json", ...port]))),
      {
        "palm.cpu": [[1501864247, 10.6], [1501864308, 2]],
        "palm.memory": [[1501864247, 4200000]],
        "eardrum.cpu": [[1501864250, -3.25]],
        'odd,"key"': [[0, 1]],
      },
    );
    equal(succeeded(await pulse(["get", "none", "--json", ...port])), "{}\n");
  });
  await t.step("--csv quotes what needs quoting", async () => {
    equal(
      succeeded(await pulse(["get", "*", "--csv", ...port])),
      "key,timestamp,value\n" +
        "palm.cpu,1501864247,10.6\n" +
        "palm.cpu,1501864308,2.0\n" +
        "palm.memory,1501864247,4200000.0\n" +
        "eardrum.cpu,1501864250,-3.25\n" +
        '"odd,""key""",0,1.0\n',
    );
  });
  await t.step("keys in every format", async () => {
    const args = ["keys", "*.cpu", ...port];
    equal(succeeded(await pulse(args)), "palm.cpu\neardrum.cpu\n");
    equal(
      succeeded(await pulse([...args, "--table"])),
      "palm.cpu\neardrum.cpu\n",
    );
    deepEqual(JSON.parse(succeeded(await pulse([...args, "--json"]))), [
      "palm.cpu",
      "eardrum.cpu",
    ]);
    equal(
      succeeded(await pulse([...args, "--csv"])),
      "key\npalm.cpu\neardrum.cpu\n",
    );
  });
  await t.step("stats in every format", async () => {
    const json = JSON.parse(
      succeeded(await pulse(["stats", "--json", ...port])),
    );
    equal(json.series, 4);
    equal(json.samples, 5);
    const plain = succeeded(await pulse(["stats", ...port]));
    assert(/^series 4$/m.test(plain), plain);
    const csv = succeeded(await pulse(["stats", "--csv", ...port]));
    assert(csv.startsWith("name,value\n"), csv);
    assert(/^samples,5$/m.test(csv), csv);
    const table = succeeded(await pulse(["stats", "--table", ...port]));
    const lines = table.trimEnd().split("\n");
    deepEqual(lines[0].split(/\s+/), ["name", "value"]);
    // Values are aligned to the right: every line ends at the same column.
    for (const line of lines) equal(line.length, lines[0].length, line);
    assert(/^series +4$/m.test(table), table);
  });
  await t.step("ping", async () => {
    equal(succeeded(await pulse(["ping", ...port])), "pong\n");
    equal(succeeded(await pulse(["ping", "--json", ...port])), '"pong"\n');
  });
});

Deno.test("cli.ts last, query and delete", async (t) => {
  const store = hostsStore();
  await using server = serve({ hostname: HOST, port: 0, store });
  const port = ["--port", String(server.addr.port)];

  await t.step("last", async () => {
    equal(
      succeeded(await pulse(["last", "palm.*", ...port])),
      "palm.cpu 2.0 1501864308\npalm.memory 4200000.0 1501864247\n",
    );
  });
  await t.step("query with Unix seconds", async () => {
    equal(
      succeeded(
        await pulse(["query", "*.cpu", "1501864247", "1501864250", ...port]),
      ),
      "palm.cpu 10.6 1501864247\neardrum.cpu -3.25 1501864250\n",
    );
  });
  await t.step("query with ISO times, a step and an aggregation", async () => {
    const args = [
      "query",
      "palm.cpu",
      "2017-08-04T16:00:00Z",
      "2017-08-04T17:00:00Z",
      "--step",
      "1m",
    ];
    // Buckets of 60 s: 1501864200 holds 10.6, 1501864260 holds 2.
    equal(
      succeeded(await pulse([...args, "--agg", "max", ...port])),
      "palm.cpu 10.6 1501864200\npalm.cpu 2.0 1501864260\n",
    );
    equal(
      succeeded(await pulse([...args, "--agg", "count", "--json", ...port])),
      '{"palm.cpu":[[1501864200,1],[1501864260,1]]}\n',
    );
    equal(
      succeeded(await pulse([...args.slice(0, 4), "--step", "3600", ...port])),
      `palm.cpu ${(10.6 + 2) / 2} 1501862400\n`,
      "avg by default",
    );
  });
  await t.step("query with times relative to now", async () => {
    const now = Math.floor(Date.now() / 1000);
    store.put("recent", 1, now - 60);
    store.put("recent", 2, now - 7200);
    equal(
      succeeded(await pulse(["query", "recent", "-1h", "now", ...port])),
      `recent 1.0 ${now - 60}\n`,
    );
  });
  await t.step("delete prints how many series went", async () => {
    equal(succeeded(await pulse(["delete", "palm.*", ...port])), "2\n");
    equal(
      succeeded(await pulse(["delete", "*.cpu", "--table", ...port])),
      "deleted 1 series\n",
    );
    equal(
      succeeded(await pulse(["delete", "*.cpu", "--json", ...port])),
      '{"deleted":0}\n',
    );
    deepEqual([...store.series()].map((series) => series.key), ["recent"]);
  });
});

Deno.test("cli.ts exits 1 with one line on an error answer or a connection failure", async (t) => {
  await using server = serve({ hostname: HOST, port: 0, store: hostsStore() });
  const port = ["--port", String(server.addr.port)];

  await t.step("an error answer", async () => {
    equal(
      failed(await pulse(["keys", "{a", ...port]), 1),
      "pulse: The server answered: invalid pattern {a: a '{' without '}'\n",
    );
  });
  await t.step("nothing listens", async () => {
    const free = unusedPort();
    equal(
      failed(await pulse(["ping", "--port", String(free)]), 1),
      `pulse: Cannot connect to 127.0.0.1:${free}: connection refused\n`,
    );
  });
});

Deno.test("cli.ts exits 2 on a usage error without connecting", async (t) => {
  await using server = serve({ hostname: HOST, port: 0 });
  const port = ["--port", String(server.addr.port)];
  const cases: string[][] = [
    [],
    ["frobnicate"],
    ["help", "frobnicate"],
    ["put", "palm.cpu"],
    ["put", "palm.cpu", "1", "2", "3"],
    ["put", "palm.cpu", "ten"],
    ["put", "palm.cpu", "nan"],
    ["put", "palm.cpu", "1e999"],
    ["put", "palm.cpu", "1", "yesterday"],
    ["put", "palm cpu", "1"],
    ["get"],
    ["get", "a", "b"],
    ["query", "palm.*", "0"],
    ["query", "palm.*", "0", "soon"],
    ["query", "palm.*", "0", "1", "--step", "0"],
    ["query", "palm.*", "0", "1", "--step", "1.5s"],
    ["query", "palm.*", "0", "1", "--agg", "max"],
    ["query", "palm.*", "0", "1", "--step", "60", "--agg", "median"],
    ["get", "a", "--step", "60"],
    ["ping", "--frobnicate"],
    ["ping", "extra"],
    ["ping", "--port"],
    ["ping", "--port", "0"],
    ["ping", "--port", "65536"],
    ["ping", "--port", "80x"],
    ["ping", "--json", "--csv"],
    ["ping", "--tls=yes"],
    ["ping", "--timeout", "soon"],
    ["ping", "--token", ""],
    ["ping", "--ca", "/nonexistent/ca.pem"],
    ["agent", "--every", "500ms"],
    ["agent", "--every", "often"],
    ["agent", "--prefix", "a b"],
  ];
  for (const args of cases) {
    await t.step(JSON.stringify(args.join(" ")), async () => {
      const withPort = args.some((arg) => arg.startsWith("--port"))
        ? args
        : [...args, ...port];
      failed(await pulse(withPort), 2);
    });
  }
  equal(server.stats().connections_total, 0, "no usage error connected");
});

Deno.test("cli.ts --help describes every command", async (t) => {
  const overview = succeeded(await pulse(["--help"]));
  assert(overview.startsWith("Usage: pulse"), overview);
  const commands = [
    "put",
    "get",
    "last",
    "query",
    "keys",
    "delete",
    "ping",
    "stats",
    "clients",
    "compact",
    "shutdown",
    "agent",
  ];
  for (const command of commands) {
    assert(new RegExp(`^  ${command} `, "m").test(overview), command);
  }
  for (const option of ["--host", "--port", "--token", "--json", "--csv"]) {
    assert(overview.includes(option), option);
  }
  for (const command of commands) {
    await t.step(command, async () => {
      const help = succeeded(await pulse([command, "--help"]));
      assert(help.startsWith(`Usage: pulse ${command}`), help);
      assert(help.includes("--port"), help);
      equal(succeeded(await pulse(["help", command])), help);
      equal(succeeded(await pulse(["-h", command])), help);
    });
  }
  await t.step("command options are described", async () => {
    const query = succeeded(await pulse(["query", "--help"]));
    for (const text of ["--step", "--agg", "-1h", "avg, min, max"]) {
      assert(query.includes(text), text);
    }
    const agent = succeeded(await pulse(["agent", "--help"]));
    for (const text of ["--every", "--prefix", "--buffer", ".net."]) {
      assert(agent.includes(text), text);
    }
  });
});

Deno.test("cli.ts --version prints the version of deno.json", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  equal(succeeded(await pulse(["--version"])), `pulse ${config.version}\n`);
  equal(succeeded(await pulse(["ping", "--version"])), `pulse 0.2.0\n`);
});

Deno.test("cli.ts put accepts and refuses the values and timestamps the server does", async (t) => {
  const store = new Store();
  await using server = serve({ hostname: HOST, port: 0, store });
  const port = String(server.addr.port);
  await using connection = await RawConnection.connect(server.addr.port);
  /** Whether the server stores `put <key> <value> <timestamp>`. */
  const serverTakes = async (line: string) => {
    await connection.send(`put ${line}\n`);
    return await connection.answers(1) === "ok\n\n";
  };
  const values = [
    "10",
    "+2",
    "-1.5",
    "5.",
    ".5",
    "-.5",
    "1e3",
    "1E-3",
    "007",
    "1e308",
    "1e309",
    "nan",
    "inf",
    "0x10",
    "1_000",
    "1,5",
    ".",
    "1e",
    "1.2.3",
  ];
  for (const [i, value] of values.entries()) {
    await t.step(`value ${value}`, async () => {
      const run = await pulse(["put", "v", value, String(i), "--port", port]);
      equal(run.code === 0, await serverTakes(`w ${value} ${i}`), run.stderr);
      if (run.code !== 0) failed(run, 2);
    });
  }
  const timestamps = [
    "0",
    "+5",
    "-5",
    "007",
    "9007199254740991",
    "-9007199254740991",
    "9007199254740992",
    "1.0",
    "1e3",
    "0x10",
  ];
  for (const timestamp of timestamps) {
    await t.step(`timestamp ${timestamp}`, async () => {
      const run = await pulse(["put", "t", "1", timestamp, "--port", port]);
      equal(run.code === 0, await serverTakes(`u 1 ${timestamp}`), run.stderr);
      if (run.code !== 0) failed(run, 2);
    });
  }
  equal(store.get("v")?.length, 10, "values taken");
  deepEqual(store.get("v")?.toArray(), store.get("w")?.toArray());
  equal(store.get("t")?.length, 6, "timestamps taken");
  deepEqual(store.get("t")?.toArray(), store.get("u")?.toArray());
});

Deno.test("cli.ts sends the token from --token or PULSE_TOKEN", async () => {
  await using server = serve({ hostname: HOST, port: 0, token: "s3cret" });
  const port = ["--port", String(server.addr.port)];
  equal(
    succeeded(await pulse(["ping", "--token", "s3cret", ...port])),
    "pong\n",
  );
  equal(
    succeeded(await pulse(["ping", ...port], { PULSE_TOKEN: "s3cret" })),
    "pong\n",
  );
  const wrong = failed(await pulse(["ping", "--token", "wrong", ...port]), 1);
  assert(wrong.includes("invalid token"), wrong);
  const none = failed(await pulse(["ping", ...port]), 1);
  assert(none.includes("authentication required"), none);
});

Deno.test({
  name: "cli.ts --tls --ca connects over TLS",
  ignore: !await available("openssl", ["version"]),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pulse-cli-tls-" });
    try {
      const { certFile, keyFile } = await makeCertificate(dir);
      await using server = serve({
        hostname: HOST,
        port: 0,
        cert: await Deno.readTextFile(certFile),
        key: await Deno.readTextFile(keyFile),
        // The refused handshake is reported here; the client's exit says it.
        onError: () => {},
      });
      const port = ["--port", String(server.addr.port)];
      equal(
        succeeded(await pulse(["ping", "--ca", certFile, ...port])),
        "pong\n",
      );
      equal(
        succeeded(await pulse(["ping", "--tls", "--ca", certFile, ...port])),
        "pong\n",
      );
      failed(await pulse(["ping", "--tls", ...port]), 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli.ts prints a table by default on a terminal",
  ignore: !await available("script", ["--version"]),
  async fn() {
    await using server = serve({
      hostname: HOST,
      port: 0,
      store: hostsStore(),
    });
    // script(1) runs the command on a pseudo-terminal.
    const command = [Deno.execPath(), "run", "-A", CLI, "last", "eardrum.*"]
      .concat(["--port", String(server.addr.port)])
      .map((arg) => `'${arg}'`).join(" ");
    const child = new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { code, stdout } = await within(child.output(), "script", 30_000);
    equal(code, 0);
    equal(
      decoder.decode(stdout).replaceAll("\r\n", "\n"),
      "key           timestamp  time (UTC)            value\n" +
        "eardrum.cpu  1501864250  2017-08-04T16:30:50Z  -3.25\n",
    );
  },
});

/** A module of `deno info --json`, with the parts read here. */
interface GraphModule {
  specifier: string;
  dependencies?: { code?: { specifier: string } }[];
}

/**
 * The modules `deno info --json` lists for `path`: all of them, types
 * included, and those its imports load when it runs (`import type` loads
 * nothing).
 */
async function moduleGraph(
  path: string,
): Promise<{ all: string[]; loaded: string[] }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", path],
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  equal(code, 0, decoder.decode(stderr));
  const info = JSON.parse(decoder.decode(stdout)) as {
    roots: string[];
    modules: GraphModule[];
  };
  const bySpecifier = new Map(
    info.modules.map((module) => [module.specifier, module]),
  );
  const loaded = new Set<string>();
  const pending = [...info.roots];
  for (let specifier; (specifier = pending.pop()) !== undefined;) {
    if (loaded.has(specifier)) continue;
    loaded.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dependency.code !== undefined) {
        pending.push(dependency.code.specifier);
      }
    }
  }
  const root = new URL("..", import.meta.url).href;
  const local = (specifiers: Iterable<string>) =>
    [...specifiers].filter((specifier) => specifier.startsWith(root))
      .map((specifier) => specifier.slice(root.length)).sort();
  return { all: local(bySpecifier.keys()), loaded: local(loaded) };
}

Deno.test("cli.ts loads no server, HTTP, persistence or store module", async () => {
  const { all, loaded } = await moduleGraph(CLI);
  assert(loaded.includes("client.ts"), loaded.join(", "));
  const serverSide = /^(?:server|http|persist)(?:\/|\.ts$)/;
  deepEqual(all.filter((path) => serverSide.test(path)), [], all.join(", "));
  // store/query.ts names store.ts's Series in a type only: checked, never
  // loaded.
  deepEqual(
    loaded.filter((path) => serverSide.test(path) || path === "store.ts"),
    [],
    loaded.join(", "),
  );
});

Deno.test("cli.ts keys with no pattern lists every key", async () => {
  await using server = serve({ hostname: HOST, port: 0, store: hostsStore() });
  const port = ["--port", String(server.addr.port)];
  equal(
    succeeded(await pulse(["keys", ...port])),
    "palm.cpu\npalm.memory\neardrum.cpu\n",
  );
  equal(
    succeeded(await pulse(["keys", ...port, "--json"])),
    '["palm.cpu","palm.memory","eardrum.cpu"]\n',
  );
});

Deno.test("cli.ts clients lists the server's connections", async (t) => {
  await using server = serve({ hostname: HOST, port: 0 });
  const port = ["--port", String(server.addr.port)];
  await using other = await RawConnection.connect(server.addr.port);
  await other.send("ping\n");
  await other.answers(1);
  const otherPort = (other.conn.localAddr as Deno.NetAddr).port;
  await t.step("plain: the protocol's lines", async () => {
    const lines = succeeded(await pulse(["clients", ...port])).split("\n");
    equal(lines.length, 3, "two connections and the end");
    assert(
      new RegExp(
        `^id=\\d+ addr=127\\.0\\.0\\.1:${otherPort} age=\\d+ idle=\\d+ cmds=1 in=5 out=9$`,
      ).test(lines[0]),
      lines[0],
    );
  });
  await t.step("json", async () => {
    const list = JSON.parse(
      succeeded(await pulse(["clients", ...port, "--json"])),
    );
    equal(list.length, 2);
    deepEqual(Object.keys(list[0]), [
      "id",
      "addr",
      "age",
      "idle",
      "cmds",
      "in",
      "out",
    ]);
    equal(list[0].addr, `127.0.0.1:${otherPort}`);
    equal(list[0].cmds, 1);
  });
  await t.step("csv", async () => {
    const csv = succeeded(await pulse(["clients", ...port, "--csv"]));
    assert(csv.startsWith("id,addr,age,idle,cmds,in,out\n"), csv);
  });
});

Deno.test("cli.ts compact snapshots the data directory, or says why not", async (t) => {
  await t.step("with a data directory", async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulse-cli-compact-" });
    try {
      await using storage = await openStorage(dir);
      await using server = serve({ hostname: HOST, port: 0, storage });
      const port = ["--port", String(server.addr.port)];
      succeeded(await pulse(["put", "a", "1", "1", ...port]));
      equal(succeeded(await pulse(["compact", ...port])), "");
      const names = [...Deno.readDirSync(dir)].map((entry) => entry.name);
      assert(names.includes("snapshot.pulse"), names.join(" "));
      assert(!names.includes("log-00000001.pulse"), names.join(" "));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("in memory: an error", async () => {
    await using server = serve({ hostname: HOST, port: 0 });
    equal(
      failed(await pulse(["compact", "--port", String(server.addr.port)]), 1),
      "pulse: The server answered: cannot compact: the samples are kept in memory only\n",
    );
  });
});

Deno.test("cli.ts shutdown stops the server", async () => {
  const server = serve({ hostname: HOST, port: 0 });
  equal(
    succeeded(await pulse(["shutdown", "--port", String(server.addr.port)])),
    "",
  );
  await within(server.finished, "the server's end");
});

Deno.test("cli.ts names --token and PULSE_TOKEN when the server wants a token", async (t) => {
  await using server = serve({ hostname: HOST, port: 0, token: "secret" });
  const port = ["--port", String(server.addr.port)];
  await t.step("none given", async () => {
    equal(
      failed(await pulse(["ping", ...port]), 1),
      "pulse: The server answered: authentication required (the server wants a token: pass --token SECRET or set PULSE_TOKEN)\n",
    );
  });
  await t.step("a wrong one", async () => {
    const message = failed(
      await pulse(["ping", ...port], { PULSE_TOKEN: "wrong" }),
      1,
    );
    assert(message.includes("invalid token"), message);
    assert(message.includes("--token or PULSE_TOKEN"), message);
  });
});

Deno.test({
  name:
    "cli.ts names --tls when it talks plain to a TLS port, or TLS to a plain one",
  ignore: !await available("openssl", ["version"]),
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "pulse-cli-hint-" });
    try {
      const { certFile, keyFile } = await makeCertificate(dir);
      await t.step("plain to TLS", async () => {
        await using server = serve({
          hostname: HOST,
          port: 0,
          cert: await Deno.readTextFile(certFile),
          key: await Deno.readTextFile(keyFile),
        });
        const message = failed(
          await pulse(["ping", "--port", String(server.addr.port)]),
          1,
        );
        assert(message.includes("the server answered with TLS"), message);
        assert(message.includes("add --tls"), message);
      });
      await t.step("TLS to plain", async () => {
        await using server = serve({ hostname: HOST, port: 0 });
        const message = failed(
          await pulse([
            "ping",
            "--ca",
            certFile,
            "--port",
            String(server.addr.port),
          ]),
          1,
        );
        assert(message.includes("drop --tls"), message);
      });
      await t.step("an untrusted certificate", async () => {
        await using server = serve({
          hostname: HOST,
          port: 0,
          cert: await Deno.readTextFile(certFile),
          key: await Deno.readTextFile(keyFile),
        });
        const message = failed(
          await pulse(["ping", "--tls", "--port", String(server.addr.port)]),
          1,
        );
        assert(message.includes("--ca FILE"), message);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
