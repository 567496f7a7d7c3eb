/**
 * Tests of the rendered-answer cache behind `get`: answers must never be
 * stale, whatever changed the series since it was last read.
 *
 * @module
 */

import { strictEqual } from "node:assert/strict";
import { serve, Store } from "../mod.ts";
import { RenderCache } from "../server/render_cache.ts";
import { exchange } from "./_helpers.ts";

Deno.test("RenderCache.get() returns lines only while the series is unchanged", () => {
  const store = new Store();
  store.put("k", 1, 1);
  const series = store.get("k")!;
  const cache = new RenderCache();
  const lines = new TextEncoder().encode("k 1.0 1\n");
  cache.set(series, lines);
  strictEqual(cache.get(series), lines);
  store.put("k", 2, 1);
  strictEqual(cache.get(series), undefined);
});

Deno.test("serve() answers get from fresh text after every kind of change", async (t) => {
  const store = new Store();
  await using server = serve({ port: 0, store });
  const port = server.addr.port;
  const get = () => exchange(port, "get k\n", 1);
  for (let i = 0; i < 100; i++) store.put("k", i, 1000 + i);
  const first = await get();
  strictEqual(first.split("\n").length, 103);
  strictEqual(await get(), first, "a repeated get answers the same");

  await t.step("an append", async () => {
    await exchange(port, "put k 7.5 5000\n", 1);
    strictEqual(await get(), first.slice(0, -1) + "k 7.5 5000\n\n");
  });
  await t.step("a replacement", async () => {
    await exchange(port, "put k 99 1000\n", 1);
    const answer = await get();
    strictEqual(answer.split("\n")[1], "k 99.0 1000");
  });
  await t.step("an earlier timestamp", async () => {
    await exchange(port, "put k 1 10\n", 1);
    strictEqual((await get()).split("\n")[1], "k 1.0 10");
  });
  await t.step("retention", async () => {
    store.dropBefore(1050);
    const lines = (await get()).split("\n");
    strictEqual(lines[1], "k 50.0 1050");
  });
  await t.step("a deletion and a new series of the same name", async () => {
    await exchange(port, "delete k\n", 1);
    strictEqual(await get(), "ok\n\n");
    await exchange(port, "put k 3 3\n", 1);
    strictEqual(await get(), "ok\nk 3.0 3\n\n");
  });
});
