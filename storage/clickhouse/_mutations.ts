/**
 * Removing rows from ClickHouse: `delete` and retention. ClickHouse 18.16
 * removes rows only with `ALTER TABLE ... DELETE`, a mutation that rewrites
 * the parts holding them in the background, on the tables that hold rows
 * (the `_local` tables of a cluster, `ON CLUSTER`). A mutation changes only
 * the parts that exist when it starts, so a put that comes after a delete
 * stays. A removal is answered once no mutation of Pulse's tables is left
 * to do, on the server Pulse talks to or, on a cluster, on one replica of
 * each shard.
 *
 * Keys are written into the statements themselves (a mutation cannot read
 * a table sent along), escaped by `quote()`, a few hundred KiB of them per
 * statement so that ZooKeeper, which holds the mutations of replicated
 * tables, takes each.
 *
 * @module
 */

import type { ClickHouseClient } from "./_client.ts";
import type { Layout } from "./_schema.ts";
import { integer, quote } from "./_sql.ts";

// Bytes of keys per statement at most.
const STATEMENT_KEYS_BYTES = 256 * 1024;
// The longest wait between two looks at the mutations.
const MAX_POLL_MS = 200;

/** Runs and waits for the mutations of one backend. */
export class Mutations {
  #client: ClickHouseClient;
  #layout: Layout;

  /**
   * Creates the mutations of one backend.
   *
   * @param client The connection.
   * @param layout Where the tables are.
   */
  constructor(client: ClickHouseClient, layout: Layout) {
    this.#client = client;
    this.#layout = layout;
  }

  /**
   * Removes every sample of the given keys, and the keys.
   *
   * @param keys The keys.
   * @returns A promise that settles once the rows are gone.
   * @throws {ClickHouseError} When ClickHouse fails, or the removal takes
   * longer than the timeout (it goes on in the background).
   */
  async deleteKeys(keys: readonly string[]): Promise<void> {
    const deadline = Date.now() + this.#client.timeout;
    let start = 0;
    while (start < keys.length) {
      let end = start;
      let bytes = 0;
      while (end < keys.length && bytes < STATEMENT_KEYS_BYTES) {
        bytes += keys[end++].length + 4;
      }
      const list = keys.slice(start, end).map(quote).join(", ");
      for (const table of [this.#layout.samplesLocal, this.#layout.keysLocal]) {
        await this.#alter(table, `key IN (${list})`);
      }
      start = end;
    }
    await this.settled(deadline);
  }

  /**
   * Removes every sample older than `cutoff`, then the keys left without
   * samples.
   *
   * @param cutoff The earliest timestamp kept.
   * @returns How many rows were older, none when nothing was to remove.
   */
  async dropBefore(cutoff: number): Promise<number> {
    const layout = this.#layout;
    const answer = await this.#client.run(
      `SELECT count() FROM ${layout.samples} WHERE ts < ${integer(cutoff)}`,
    );
    const old = Number(new TextDecoder().decode(answer).trim());
    if (!(old > 0)) return 0;
    const deadline = Date.now() + this.#client.timeout;
    await this.#alter(layout.samplesLocal, `ts < ${integer(cutoff)}`);
    await this.settled(deadline);
    await this.#alter(
      layout.keysLocal,
      `key NOT IN (SELECT key FROM ${layout.samplesLocal})`,
    );
    await this.settled(Date.now() + this.#client.timeout);
    return old;
  }

  /**
   * Waits until no mutation of Pulse's tables is left to do.
   *
   * @param deadline When to give up, by `Date.now()`.
   * @throws {ClickHouseError} When some are still running at the deadline.
   */
  async settled(deadline: number): Promise<void> {
    const layout = this.#layout;
    const source = layout.cluster === undefined
      ? "system.mutations"
      : `cluster(${quote(layout.cluster)}, system.mutations)`;
    const tables = [layout.samplesLocal, layout.keysLocal].map((table) =>
      quote(table.slice(layout.database.length + 1))
    );
    const sql = `SELECT count() FROM ${source} WHERE database = ${
      quote(layout.database)
    } AND table IN (${tables.join(", ")}) AND is_done = 0`;
    for (let wait = 5;; wait = Math.min(wait * 2, MAX_POLL_MS)) {
      const answer = await this.#client.run(sql, {
        settings: { skip_unavailable_shards: 1 },
      });
      if (new TextDecoder().decode(answer).trim() === "0") return;
      if (Date.now() + wait > deadline) {
        throw new Error(
          `the removal is still running after ${
            this.#client.timeout / 1000
          }s (it goes on in the background)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  async #alter(table: string, where: string): Promise<void> {
    const sql =
      `ALTER TABLE ${table}${this.#layout.onCluster} DELETE WHERE ${where}`;
    await this.#client.run(sql, {
      settings: {
        max_query_size: Math.max(262_144, sql.length * 4 + 1024),
        distributed_ddl_task_timeout: Math.ceil(this.#client.timeout / 1000),
      },
    });
  }
}
