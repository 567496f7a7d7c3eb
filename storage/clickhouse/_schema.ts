/**
 * Pulse's tables in ClickHouse, created by the front end itself, every
 * statement idempotent, and checked at start:
 *
 * - `samples (key String, ts Int64, value Float64, version UInt64)`, a
 *   `ReplacingMergeTree(version)` ordered by `(key, ts)`: merges keep the
 *   row of the largest version of each second, and reads take
 *   `argMax(value, version)`, so the last write wins before merges too;
 * - `keys (key String, rank UInt64)`, a `ReplacingMergeTree(rank)` fed by
 *   the materialized view `keys_mv` with `bitNot(version)` of each insert's
 *   rows: keeping the largest rank keeps the smallest version, the key's
 *   first put, which merges of `samples` drop;
 * - `pulse_schema (version UInt32)`: which layout the tables have.
 *
 * On a cluster (`remote_servers`) these are the `_local` tables of each
 * shard, created `ON CLUSTER` (which needs ZooKeeper), `Replicated...` when
 * the cluster has replicas; `samples` and `keys` are then `Distributed`
 * tables over them, sharded by `cityHash64(key)`, so a series lives on one
 * shard.
 *
 * @module
 */

import type { ClickHouseClient } from "./_client.ts";
import { quote } from "./_sql.ts";

/** The layout of the tables this version of Pulse uses. */
export const SCHEMA_VERSION = 1;

const SAMPLES_COLUMNS = "key String, ts Int64, value Float64, version UInt64";
const KEYS_COLUMNS = "key String, rank UInt64";

/** Where Pulse's tables are, and how to change them. */
export interface Layout {
  /** The database. */
  readonly database: string;
  /** The cluster, when sharded. */
  readonly cluster: string | undefined;
  /** Whether the tables are replicated. */
  readonly replicated: boolean;
  /** The table inserts go to and reads come from. */
  readonly samples: string;
  /** The table of keys in first-put order. */
  readonly keys: string;
  /** The tables that hold the rows, which mutations change. */
  readonly samplesLocal: string;
  /** The keys' table that holds the rows. */
  readonly keysLocal: string;
  /** ` ON CLUSTER name` on a cluster, else empty. */
  readonly onCluster: string;
  /** `host:port` (native protocol) of every server of the cluster. */
  readonly hosts: readonly string[];
}

/** A cluster as `system.clusters` describes it. */
interface ClusterShape {
  hosts: string[];
  replicas: number;
}

/**
 * Creates the database and the tables where they are missing, and checks
 * those that exist.
 *
 * @param client The connection to ClickHouse.
 * @param cluster The cluster of `remote_servers` to shard over, if any.
 * @returns Where the tables are.
 * @throws {Error} When the tables cannot be created or are not Pulse's.
 */
export async function prepareSchema(
  client: ClickHouseClient,
  cluster: string | undefined,
): Promise<Layout> {
  const database = client.address.database;
  const shape = cluster === undefined
    ? undefined
    : await clusterShape(client, cluster);
  const onCluster = cluster === undefined ? "" : ` ON CLUSTER ${cluster}`;
  const suffix = cluster === undefined ? "" : "_local";
  const layout: Layout = {
    database,
    cluster,
    replicated: (shape?.replicas ?? 1) > 1,
    samples: `${database}.samples`,
    keys: `${database}.keys`,
    samplesLocal: `${database}.samples${suffix}`,
    keysLocal: `${database}.keys${suffix}`,
    onCluster,
    hosts: shape?.hosts ?? [],
  };
  const ddl = schemaStatements(layout);
  // ON CLUSTER waits for every server; ClickHouse's own limit is 3 minutes.
  const settings = {
    distributed_ddl_task_timeout: Math.ceil(client.timeout / 1000),
  };
  for (const statement of ddl) {
    await client.run(statement, { settings });
  }
  await checkColumns(client, layout);
  await checkVersion(client, database);
  return layout;
}

/**
 * The statements that create Pulse's tables, in order.
 *
 * @param layout Where they go.
 * @returns `CREATE ... IF NOT EXISTS` statements.
 */
export function schemaStatements(layout: Layout): string[] {
  const { database, onCluster, cluster } = layout;
  const engine = (name: string, version: string) =>
    layout.replicated
      ? `ReplicatedReplacingMergeTree(${
        quote(`/clickhouse/tables/{shard}/${database}/${name}`)
      }, '{replica}', ${version})`
      : `ReplacingMergeTree(${version})`;
  const statements = [
    `CREATE DATABASE IF NOT EXISTS ${database}${onCluster}`,
    `CREATE TABLE IF NOT EXISTS ${layout.samplesLocal}${onCluster} (${SAMPLES_COLUMNS}) ENGINE = ${
      engine("samples", "version")
    } ORDER BY (key, ts)`,
    `CREATE TABLE IF NOT EXISTS ${layout.keysLocal}${onCluster} (${KEYS_COLUMNS}) ENGINE = ${
      engine("keys", "rank")
    } ORDER BY key`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.keys_mv${onCluster} TO ${layout.keysLocal} AS SELECT key, max(bitNot(version)) AS rank FROM ${layout.samplesLocal} GROUP BY key`,
    `CREATE TABLE IF NOT EXISTS ${database}.pulse_schema${onCluster} (version UInt32) ENGINE = ReplacingMergeTree() ORDER BY version`,
  ];
  if (cluster !== undefined) {
    for (const table of ["samples", "keys"]) {
      statements.push(
        `CREATE TABLE IF NOT EXISTS ${database}.${table}${onCluster} AS ${database}.${table}_local ENGINE = Distributed(${cluster}, ${database}, ${table}_local, cityHash64(key))`,
      );
    }
  }
  return statements;
}

/** The servers of a cluster, and whether ClickHouse can run DDL on it. */
async function clusterShape(
  client: ClickHouseClient,
  cluster: string,
): Promise<ClusterShape> {
  const rows = await text(
    client,
    `SELECT host_address, port, replica_num FROM system.clusters WHERE cluster = ${
      quote(cluster)
    } FORMAT TabSeparated`,
  );
  if (rows.length === 0) {
    throw new Error(
      `Cannot use cluster ${cluster}: ${client.address.shown} has no such cluster in its remote_servers`,
    );
  }
  const hosts = rows.map(([host, port]) => `${host}:${port}`);
  const replicas = Math.max(...rows.map((row) => Number(row[2])));
  try {
    await client.run("SELECT count() FROM system.zookeeper WHERE path = '/'");
  } catch (error) {
    throw new Error(
      `Cannot create tables ON CLUSTER ${cluster}: ClickHouse needs ZooKeeper for that (configure <zookeeper> on every server): ${
        (error as Error).message
      }`,
    );
  }
  if (replicas > 1) {
    const macros = (await text(client, "SELECT macro FROM system.macros"))
      .map(([name]) => name);
    if (!macros.includes("shard") || !macros.includes("replica")) {
      throw new Error(
        `Cannot create replicated tables on cluster ${cluster}: every server needs the macros shard and replica (<macros>)`,
      );
    }
  }
  return { hosts, replicas };
}

/** Refuses tables of the same names that hold something else. */
async function checkColumns(
  client: ClickHouseClient,
  layout: Layout,
): Promise<void> {
  const wanted: Record<string, string> = {
    [layout.samplesLocal]: SAMPLES_COLUMNS,
    [layout.keysLocal]: KEYS_COLUMNS,
  };
  for (const [table, columns] of Object.entries(wanted)) {
    const name = table.slice(layout.database.length + 1);
    const found = (await text(
      client,
      `SELECT name, type FROM system.columns WHERE database = ${
        quote(layout.database)
      } AND table = ${quote(name)} FORMAT TabSeparated`,
    )).map(([column, type]) => `${column} ${type}`).join(", ");
    if (found !== columns) {
      throw new Error(
        `Cannot use ${table}: it has the columns (${found}), not Pulse's (${columns})`,
      );
    }
  }
}

/** Refuses tables of another layout, and records this one's. */
async function checkVersion(
  client: ClickHouseClient,
  database: string,
): Promise<void> {
  const versions = (await text(
    client,
    `SELECT DISTINCT version FROM ${database}.pulse_schema FORMAT TabSeparated`,
  )).map(([version]) => Number(version));
  const other = versions.find((version) => version !== SCHEMA_VERSION);
  if (other !== undefined) {
    throw new Error(
      `Cannot use database ${database}: its tables have the layout of schema version ${other}, and this Pulse knows version ${SCHEMA_VERSION}`,
    );
  }
  if (versions.length === 0) {
    await client.run(
      `INSERT INTO ${database}.pulse_schema VALUES (${SCHEMA_VERSION})`,
    );
  }
}

/** Runs a query whose answer is a small TabSeparated table of plain text. */
async function text(
  client: ClickHouseClient,
  sql: string,
): Promise<string[][]> {
  const answer = new TextDecoder().decode(await client.run(sql));
  return answer.split("\n").filter((line) => line !== "").map((line) =>
    line.split("\t")
  );
}
