/**
 * Uses the library the ways that printed before it took a logger, for
 * `tests/event_log_test.ts` to check that nothing reaches stdout or stderr:
 * a data directory opened twice (a restore), a client cut off for answers
 * it does not take, a compaction, and an HTTP request whose handler fails.
 *
 * ```sh
 * deno run -A tests/_quiet_library.ts <dir>
 * ```
 *
 * @module
 */

import { openStorage, serve, serveHttp, type Storage } from "../mod.ts";

const [dir] = Deno.args;
{
  await using _ = await openStorage(dir);
}
await using storage = await openStorage(dir);
for (let i = 0; i < 100_000; i++) storage.store.put(`k${i % 100}`, i, i);
{
  await using server = serve({ port: 0, storage, maxOutput: 64 });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  // Never read: the answer piles up past maxOutput.
  await conn.write(new TextEncoder().encode("get *\n"));
  while (server.stats().connections > 0) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  conn.close();
}
await storage.compact();
{
  // A backend whose reads fail: the HTTP server answers 500.
  const failing: Storage = {
    backend: "failing",
    appender: () => storage.appender(),
    querier: {
      get: () => undefined,
      series: () => {
        throw new Error("the backend is down");
      },
      read: () => storage.querier.read([]),
    },
    stats: () => ({}),
    close: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  await using http = serveHttp({ port: 0, storage: failing });
  const response = await fetch(
    `http://127.0.0.1:${http.addr.port}/api/keys`,
  );
  await response.body?.cancel();
  if (response.status !== 500) throw new Error(`answered ${response.status}`);
}
