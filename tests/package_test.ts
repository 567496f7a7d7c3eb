/**
 * The published package holds every file its exports load. `deno publish`
 * leaves out what `publish.include` misses without a word, even a file
 * imported as text (the dashboard's page), and the package would then fail
 * to load for every user of it.
 *
 * @module
 */

import { ok as assert } from "node:assert/strict";
import { decoder } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);

/** Runs the `deno` running this test in the repository's root. */
async function deno(...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const output = decoder.decode(stdout) + decoder.decode(stderr);
  assert(code === 0, `deno ${args.join(" ")} exited ${code}: ${output}`);
  return output;
}

Deno.test("`deno publish` ships every local file the exports import", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  ) as { exports: Record<string, string> };
  const imported = new Set<string>();
  // `deno info` takes one module at a time.
  for (const path of Object.values(config.exports)) {
    const info = JSON.parse(await deno("info", "--json", path)) as {
      modules: { specifier: string }[];
    };
    for (const { specifier } of info.modules) {
      if (specifier.startsWith("file:")) imported.add(specifier);
    }
  }
  assert(
    [...imported].some((specifier) => specifier.endsWith("/index.html")),
    "the dashboard's page is among the imports",
  );
  const listing = await deno("publish", "--dry-run", "--allow-dirty");
  const published = new Set(listing.match(/file:\/\/\S+/g));
  const missing = [...imported].filter((specifier) =>
    !published.has(specifier)
  );
  assert(missing.length === 0, `not published: ${missing.join(", ")}`);
});
