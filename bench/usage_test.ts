/**
 * The benchmark and the soak test read their flags before they start
 * anything: `--help` prints the usage, a flag they cannot read one line.
 *
 * @module
 */

import { ok as assert, strictEqual as equal } from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const decoder = new TextDecoder();

/** Runs `deno ...args` in the repository's root to its end. */
async function deno(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

const PROGRAMS = [
  { name: "bench", command: ["task", "bench"], flags: ["--only", "--storage"] },
  {
    name: "soak",
    command: ["run", "-A", "bench/soak.ts"],
    flags: ["--kill-every", "--writers"],
  },
];

Deno.test("bench/main.ts and bench/soak.ts --help print the usage and exit 0", async (t) => {
  for (const { name, command, flags } of PROGRAMS) {
    await t.step(name, async () => {
      for (const help of ["--help", "-h"]) {
        const run = await deno(...command, help);
        equal(run.code, 0, run.stderr);
        assert(run.stdout.startsWith(`Usage: deno task ${name}`), run.stdout);
        for (const flag of flags) assert(run.stdout.includes(flag), flag);
      }
    });
  }
});

Deno.test("bench/main.ts and bench/soak.ts exit 2 with one line on a flag they cannot read", async (t) => {
  const cases = [
    ["task", "bench", "--rounds", "0"],
    ["task", "bench", "--only", "nothing"],
    ["task", "bench", "--frobnicate"],
    ["run", "-A", "bench/soak.ts", "--duration", "0"],
    ["run", "-A", "bench/soak.ts", "stray"],
  ];
  for (const args of cases) {
    await t.step(args.join(" "), async () => {
      const run = await deno(...args);
      equal(run.code, 2, run.stderr);
      equal(run.stdout, "");
      // deno task names the task on stderr first.
      const lines = run.stderr.trimEnd().split("\n")
        .filter((line) => !line.startsWith("Task "));
      equal(lines.length, 1, run.stderr);
      assert(/^(bench|soak): .*\(see --help\)$/.test(lines[0]), lines[0]);
    });
  }
});
