/**
 * Backups of a live server: `GET /api/snapshot` (`Storage.snapshot()`) and
 * `pulse backup`, restored by dropping the file into an empty data
 * directory; and what copying a live data directory gives, as
 * docs/STORAGE.md says.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { serveHttp } from "../http.ts";
import type { FsyncPolicy } from "../persist/journal.ts";
import { serve } from "../server.ts";
import { LocalStorage, openStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
import { Store } from "../store.ts";
import {
  exchange,
  HOST,
  RawConnection,
  ServerProcess,
  within,
} from "./_helpers.ts";
import { pulse } from "./_pulse.ts";

/**
 * The writes of the tests, in order: op `i` puts `i` at time `i`, mostly
 * into one of seven series that only grow, every tenth into one of three
 * that every 500th op deletes (so that they come back last in first-put
 * order).
 */
function op(i: number): string {
  if (i % 500 === 499) return `delete d${Math.floor(i / 500) % 3}\n`;
  const key = i % 10 === 5 ? `d${Math.floor(i / 10) % 3}` : `s${i % 7}`;
  return `put ${key} ${i}.5 ${i}\n`;
}

/**
 * What `get *` answers once ops `0..count-1` are applied, series in
 * first-put order, each by time.
 */
function expectedGetAll(count: number): string {
  const series = new Map<string, string[]>();
  for (let i = 0; i < count; i++) {
    const [command, key] = op(i).split(" ");
    if (command === "delete") {
      series.delete(key.trimEnd());
      continue;
    }
    if (!series.has(key)) series.set(key, []);
    series.get(key)!.push(`${key} ${i}.5 ${i}\n`);
  }
  return `ok\n${[...series.values()].flat().join("")}\n`;
}

/**
 * Sends ops from `first` on, 200 to a write, each batch once the last is
 * answered, until `stop()` says so; `acked()` tells how many are answered.
 */
function writeOps(port: number, first: number, stop: () => boolean): {
  acked: () => number;
  done: Promise<number>;
} {
  let acked = first;
  const done = (async () => {
    await using connection = await RawConnection.connect(port);
    while (!stop()) {
      let text = "";
      for (let i = acked; i < acked + 200; i++) text += op(i);
      await connection.send(text);
      const answers = await connection.answers(200, 60_000);
      assert(!answers.includes("error"), answers.slice(0, 200));
      acked += 200;
    }
    return acked;
  })();
  return { acked: () => acked, done };
}

/** Restores a snapshot file in an empty directory; returns its `get *`. */
async function restoreGetAll(snapshot: Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pulse-restore-" });
  try {
    await Deno.writeFile(`${dir}/snapshot.pulse`, snapshot);
    return await getAllOf(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Opens a data directory and answers `get *` from it. */
async function getAllOf(dir: string): Promise<string> {
  await using storage = await openStorage(dir);
  await using server = serve({ hostname: HOST, port: 0, storage });
  return await exchange(server.addr.port, "get *\n", 1);
}

/**
 * How many ops, applied in order, give `answer`, if any such count is at
 * least `least`. The largest value held is among the last puts: a delete
 * may have removed the very last, and deletes after it may be in or out.
 */
function prefixOf(answer: string, least: number): number | undefined {
  let last = -1;
  for (const match of answer.matchAll(/ (\d+)\.5 /g)) {
    last = Math.max(last, Number(match[1]));
  }
  for (let count = last + 1; count <= last + 20; count++) {
    if (count >= least && expectedGetAll(count) === answer) return count;
  }
  return undefined;
}

Deno.test("`GET /api/snapshot` asks for the token, and answers 501 or 500 without a snapshot to give", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-snapshot-" });
  try {
    await t.step("the token", async () => {
      await using storage = await openStorage(dir);
      await using tcp = serve({ hostname: HOST, port: 0, storage });
      await using http = serveHttp({ port: 0, storage, token: "tk" });
      await exchange(tcp.addr.port, "put a.b 1.5 7\nput c 2.5 8\n", 2);
      const url = `http://${HOST}:${http.addr.port}/api/snapshot`;
      const tries: Record<string, string>[] = [{}, {
        authorization: "Bearer x",
      }];
      for (const headers of tries) {
        const denied = await fetch(url, { headers });
        equal(denied.status, 401);
        await denied.body?.cancel();
      }
      const auth = { authorization: "Bearer tk" };
      const head = await fetch(url, { method: "HEAD", headers: auth });
      equal(head.status, 200);
      equal(storage.sizes?.snapshot, 0, "HEAD took no snapshot");
      const response = await fetch(url, { headers: auth });
      equal(response.status, 200);
      equal(response.headers.get("content-type"), "application/octet-stream");
      const body = new Uint8Array(await response.arrayBuffer());
      equal(Number(response.headers.get("content-length")), body.length);
      equal(await restoreGetAll(body), "ok\na.b 1.5 7\nc 2.5 8\n\n");
    });
    await t.step("500 when it cannot be taken", async () => {
      const storage = await openStorage(dir);
      await storage.close();
      await using http = serveHttp({ port: 0, storage });
      const response = await fetch(
        `http://${HOST}:${http.addr.port}/api/snapshot`,
      );
      equal(response.status, 500);
      deepEqual(await response.json(), {
        error:
          `cannot take a snapshot: cannot back up ${dir}: the storage is closed`,
      });
    });
    await t.step("in memory only", async () => {
      await using http = serveHttp({ port: 0, store: new Store() });
      const response = await fetch(
        `http://${HOST}:${http.addr.port}/api/snapshot`,
      );
      equal(response.status, 501);
      deepEqual(await response.json(), {
        error:
          "cannot take a snapshot: the samples are kept in memory only (use /api/export)",
      });
    });
    await t.step("a backend without snapshot()", async () => {
      await using local = new LocalStorage();
      const storage: Storage = {
        backend: "remote",
        appender: () => local.appender(),
        querier: local.querier,
        stats: () => local.stats(),
        close: () => local.close(),
        [Symbol.asyncDispose]: () => local.close(),
      };
      await using http = serveHttp({ port: 0, storage });
      const response = await fetch(
        `http://${HOST}:${http.addr.port}/api/snapshot`,
      );
      equal(response.status, 501);
      deepEqual(await response.json(), {
        error:
          "cannot take a snapshot: the remote backend has none (use /api/export)",
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`GET /api/snapshot` under writes restores the store of one moment, with every write acknowledged before it", async (t) => {
  const policies: FsyncPolicy[] = ["everysec", "always"];
  for (const fsync of policies) {
    await t.step(`--fsync ${fsync}`, async () => {
      const dir = await Deno.makeTempDir({ prefix: "pulse-backup-" });
      try {
        await using storage = await openStorage(dir, { fsync });
        await using tcp = serve({ hostname: HOST, port: 0, storage });
        await using http = serveHttp({ port: 0, storage });
        // Enough that writing the snapshot takes many steps, between which
        // the writer's puts and deletes go on.
        const preload = 300_000;
        let text = "";
        for (let i = 0; i < preload; i++) text += op(i);
        await exchange(tcp.addr.port, text, preload);
        let backedUp = false;
        const writer = writeOps(tcp.addr.port, preload, () => backedUp);
        // Let the writer get going, then take the backup.
        while (writer.acked() < preload + 2000) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        const before = writer.acked();
        const response = await fetch(
          `http://${HOST}:${http.addr.port}/api/snapshot`,
        );
        equal(response.status, 200);
        const backup = new Uint8Array(await response.arrayBuffer());
        backedUp = true;
        const after = await within(writer.done, "the writer");
        assert(after > before, "writes went on meanwhile");
        const restored = await restoreGetAll(backup);
        const count = prefixOf(restored, before);
        assert(
          count !== undefined,
          `the backup is no prefix of the writes of at least ${before}`,
        );
        assert(count <= after, `${count} <= ${after}`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

/** Starts `server.ts` on a data directory, with HTTP on a free port. */
async function startServer(
  args: string[],
): Promise<{ server: ServerProcess; http: number }> {
  const server = await ServerProcess.start([
    "--port",
    "0",
    "--http",
    `${HOST}:0`,
    ...args,
  ]);
  const match = await server.waitForStderr(
    /http listening on http:\/\/\S+:(\d+)/,
  );
  return { server, http: Number(match[1]) };
}

Deno.test("pulse backup saves a snapshot atomically, and it restores in an empty data directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-backup-cli-" });
  try {
    const { server, http } = await startServer([
      "--data",
      `${dir}/data`,
      "--token",
      "tk",
    ]);
    await using _ = server;
    let text = "auth tk\n";
    for (let i = 0; i < 5000; i++) text += op(i);
    await exchange(server.port, text, 5001);
    const expected = await exchange(server.port, "auth tk\nget *\n", 2);
    const file = `${dir}/out/backup.pulse`;
    await Deno.mkdir(`${dir}/out`);
    await Deno.writeTextFile(file, "an older backup");
    const address = ["--http", `${HOST}:${http}`];

    const denied = await pulse(["backup", file, ...address]);
    equal(denied.code, 1);
    equal(
      denied.stderr,
      "pulse: Cannot back up: the server answered 401: authentication required: send Authorization: Bearer <token>\n",
    );
    equal(await Deno.readTextFile(file), "an older backup", "left as it was");

    const run = await pulse(["backup", file, ...address, "--token", "tk"]);
    equal(run.code, 0, run.stderr);
    assert(
      /^pulse: saved a snapshot of [\d.,]+ (B|MiB) to .*backup\.pulse in [\d.]+ s \(.*\/s\)\n$/
        .test(run.stderr),
      run.stderr,
    );
    const names = [];
    for await (const entry of Deno.readDir(`${dir}/out`)) {
      names.push(entry.name);
    }
    deepEqual(names, ["backup.pulse"], "no temporary file is left");
    equal(
      await restoreGetAll(await Deno.readFile(file)),
      expected.slice("ok\n\n".length),
    );
    const port = await pulse(["backup", file, "--port", "1"]);
    equal(port.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pulse backup of a server in memory only says why it cannot", async () => {
  const { server, http } = await startServer(["--memory"]);
  await using _ = server;
  const run = await pulse([
    "backup",
    "/nonexistent/b.pulse",
    "--http",
    `${HOST}:${http}`,
  ]);
  equal(run.code, 1);
  equal(
    run.stderr,
    "pulse: Cannot back up: the server answered 501: cannot take a snapshot: the samples are kept in memory only (use /api/export)\n",
  );
});

Deno.test("copying a live data directory: a prefix of the writes without a compaction, a lost log with one", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-copy-" });
  try {
    await t.step("cp -r under writes, no compaction meanwhile", async () => {
      await using storage = await openStorage(`${dir}/live`, {
        fsync: "always",
      });
      await using tcp = serve({ hostname: HOST, port: 0, storage });
      let copied = false;
      const writer = writeOps(tcp.addr.port, 0, () => copied);
      while (writer.acked() < 5000) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const before = writer.acked();
      const cp = await new Deno.Command("cp", {
        args: ["-r", `${dir}/live`, `${dir}/copy`],
      }).output();
      copied = true;
      equal(cp.code, 0, new TextDecoder().decode(cp.stderr));
      const after = await within(writer.done, "the writer");
      const count = prefixOf(await getAllOf(`${dir}/copy`), before);
      assert(count !== undefined, `no prefix of at least ${before} writes`);
      assert(count <= after, `${count} <= ${after}`);
    });
    await t.step(
      "a compaction during the copy removes a log it needs",
      async () => {
        const live = `${dir}/compacting`;
        await using storage = await openStorage(live);
        const appender = storage.appender();
        appender.append("before", 1, 1);
        await appender.commit();
        await storage.compact();
        appender.append("after", 2, 2); // in log 2, which the snapshot needs
        await appender.commit();
        // A copy that reads the snapshot, then the logs, in that order, as cp
        // may: a compaction in between removes log 2.
        await Deno.mkdir(`${dir}/torn-copy`);
        await Deno.copyFile(
          `${live}/snapshot.pulse`,
          `${dir}/torn-copy/snapshot.pulse`,
        );
        const logs: string[] = [];
        for await (const entry of Deno.readDir(live)) {
          if (entry.name.startsWith("log-")) logs.push(entry.name);
        }
        deepEqual(logs, ["log-00000002.pulse"]);
        await storage.compact();
        let missing = 0;
        for (const log of logs) {
          await Deno.copyFile(`${live}/${log}`, `${dir}/torn-copy/${log}`)
            .catch(
              (error) => {
                assert(error instanceof Deno.errors.NotFound);
                missing++;
              },
            );
        }
        equal(missing, 1, "cp would say: No such file or directory");
        equal(await getAllOf(`${dir}/torn-copy`), "ok\nbefore 1.0 1\n\n");
      },
    );
    await t.step("a stopped server's directory copies whole", async () => {
      const expected = await getAllOf(`${dir}/live`);
      const cp = await new Deno.Command("cp", {
        args: ["-r", `${dir}/live`, `${dir}/stopped-copy`],
      }).output();
      equal(cp.code, 0);
      equal(await getAllOf(`${dir}/stopped-copy`), expected);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
