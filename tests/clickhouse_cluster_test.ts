import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import {
  CLICKHOUSE_MISSING,
  type Cluster,
  startCluster,
  testName,
  ZOOKEEPER_MISSING,
} from "../bench/clickhouse_server.ts";
import { builtIn, onClickHouse, waitFor } from "./_clickhouse_front.ts";
import { RawConnection, within } from "./_helpers.ts";
import { compareSuite, runScript } from "./_protocol_suite.ts";

const MISSING = CLICKHOUSE_MISSING ?? ZOOKEEPER_MISSING;

/** A cluster in a temporary directory, for one test. */
async function cluster(
  shards: number,
  replicas: number,
): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ prefix: "pulse_cluster_" });
  try {
    const started = await startCluster(dir, shards, replicas);
    return {
      ...started,
      async [Symbol.asyncDispose]() {
        await started[Symbol.asyncDispose]();
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/** Puts `count` samples of `key`, one a second from `from`, value = second. */
function puts(key: string, from: number, count: number): string {
  let lines = "";
  for (let t = from; t < from + count; t++) lines += `put ${key} ${t} ${t}\n`;
  return lines;
}

/**
 * Writes on several connections, two chunks ahead of their answers, until
 * `stop()` is called, and records the puts answered `ok` and the errors.
 */
function writeUnderLoad(port: number, writers: number) {
  const acknowledged: [key: string, timestamp: number][] = [];
  const errors: string[] = [];
  let stopping = false;
  const write = async (writer: number) => {
    await using connection = await RawConnection.connect(port);
    const key = `load.w${writer}`;
    await connection.send(puts(key, 0, 100));
    for (let n = 0;; n++) {
      const more = !stopping;
      if (more) await connection.send(puts(key, (n + 1) * 100, 100));
      const answers = (await connection.answers(100, 60_000)).split("\n\n");
      answers.slice(0, -1).forEach((answer, i) => {
        if (answer === "ok") acknowledged.push([key, n * 100 + i]);
        else errors.push(answer);
      });
      if (!more) return;
    }
  };
  const running = Promise.all(
    Array.from({ length: writers }, (_, i) => write(i)),
  );
  return {
    acknowledged,
    errors,
    async stop() {
      stopping = true;
      await within(running, "the writers", 60_000);
    },
  };
}

/** Checks that every acknowledged put reads back. */
async function checkStored(
  port: number,
  acknowledged: [string, number][],
): Promise<void> {
  const [answer] = await runScript(port, [
    "query load.* 0 9007199254740991\n",
  ]);
  const stored = new Set(answer.split("\n").slice(1, -2));
  for (const [key, timestamp] of acknowledged) {
    assert(
      stored.has(`${key} ${timestamp}.0 ${timestamp}`),
      `${key} ${timestamp} was acknowledged but is not stored`,
    );
  }
}

Deno.test({
  name: testName(
    "`ClickHouseStorage` on a cluster of two shards: the suite, two front ends, and a shard that stops",
    MISSING,
  ),
  ignore: MISSING !== undefined,
  async fn(t) {
    await using shards = await cluster(2, 1);
    const [[first], [second]] = shards.servers;
    const options = { cluster: shards.name };
    await t.step(
      "the protocol suite, as the built-in store answers it",
      (t) =>
        compareSuite(
          t,
          builtIn,
          (database) => onClickHouse(first.url(database), options),
        ),
    );
    await t.step("two front ends see each other's writes", async () => {
      await using a = await onClickHouse(first.url("two"), options);
      await using b = await onClickHouse(second.url("two"), options);
      const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
      deepEqual(
        await runScript(a.port, [
          keys.map((key) => `put ${key} 1 10\n`).join(""),
        ]),
        ["ok\n\n".repeat(keys.length)],
      );
      deepEqual(await runScript(b.port, ["put k7 2 10\nget k7\n"]), [
        "ok\n\nok\nk7 2.0 10\n\n",
      ]);
      deepEqual(await runScript(a.port, ["get k7\nkeys k*\n"]), [
        `ok\nk7 2.0 10\n\nok\n${keys.join("\n")}\n\n`,
      ]);
      // Rows land on both shards, each series on one.
      const counts = await Promise.all(
        [first, second].map(async (server) =>
          Number(
            await server.query("SELECT uniqExact(key) FROM two.samples_local"),
          )
        ),
      );
      assert(counts.every((count) => count > 0), `keys by shard: ${counts}`);
      equal(counts[0] + counts[1], keys.length);
    });
    await t.step(
      "a shard that stops: errors, no hang, nothing lost, recovery",
      async () => {
        await using front = await onClickHouse(first.url("stop"), {
          ...options,
          timeout: 2_000,
        });
        const load = writeUnderLoad(front.port, 4);
        while (load.acknowledged.length < 2_000) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await second.kill();
        const before = load.errors.length;
        while (load.errors.length === before) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await second.restart();
        const after = load.acknowledged.length;
        while (load.acknowledged.length < after + 2_000) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await load.stop();
        for (const error of load.errors) {
          assert(/^error\ncannot store in ClickHouse: /.test(error), error);
        }
        await checkStored(front.port, load.acknowledged);
      },
    );
  },
});

Deno.test({
  name: testName(
    "`ClickHouseStorage` on two shards of two replicas reads and writes on when a replica is killed, and loses nothing",
    MISSING,
  ),
  ignore: MISSING !== undefined,
  async fn() {
    await using replicas = await cluster(2, 2);
    const [[entry], [first, second]] = replicas.servers;
    const count = async (server: typeof first, database: string) =>
      Number(
        await server.query(`SELECT count() FROM ${database}.samples_local`),
      );
    {
      // With a quorum of 2, both replicas of a shard hold a put once it is
      // acknowledged.
      await using quorum = await onClickHouse(entry.url("quorum"), {
        cluster: replicas.name,
        insertQuorum: 2,
      });
      const lines = Array.from({ length: 20 }, (_, i) => `put q${i} 1 1\n`);
      deepEqual(await runScript(quorum.port, [lines.join("")]), [
        "ok\n\n".repeat(lines.length),
      ]);
      let total = 0;
      for (const [a, b] of replicas.servers) {
        const held = await count(a, "quorum");
        equal(await count(b, "quorum"), held);
        total += held;
      }
      equal(total, lines.length);
    }
    await using front = await onClickHouse(entry.url("replicas"), {
      cluster: replicas.name,
    });
    const load = writeUnderLoad(front.port, 2);
    await waitFor(() => load.acknowledged.length >= 1_000, "1,000 puts");
    // The replica that shard 2's reads and writes go to first.
    await first.kill();
    const before = load.acknowledged.length;
    const untilAcknowledged = (count: number) =>
      waitFor(() => load.acknowledged.length >= count, `${count} puts`);
    // Writes go on: the puts in flight as the replica died may fail (two
    // chunks of 100 a writer), none after.
    await untilAcknowledged(before + 1_000);
    const failed = load.errors.length;
    assert(failed <= 2 * 2 * 100, `${failed} errors`);
    await untilAcknowledged(before + 2_000);
    await load.stop();
    equal(load.errors.length, failed);
    for (const error of load.errors) {
      assert(/^error\ncannot store in ClickHouse: /.test(error), error);
    }
    // What was acknowledged since is read from the replica left.
    await checkStored(front.port, load.acknowledged.slice(before));
    // What the killed replica had not passed on yet is back with it.
    await first.restart();
    await waitFor(
      async () =>
        await count(first, "replicas") === await count(second, "replicas"),
      "replication",
    );
    await checkStored(front.port, load.acknowledged);
  },
});
