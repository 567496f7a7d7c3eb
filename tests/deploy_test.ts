/**
 * docs/DEPLOY.md tells the truth: its systemd unit passes
 * `systemd-analyze verify`, and its command line, Deno's permissions
 * included, runs a server that takes the token from the environment, logs
 * to its file, reopens it on SIGHUP and stops cleanly on SIGTERM. Both are
 * read from the page itself, so that it cannot drift from the code.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import {
  available,
  delay,
  events,
  HOST,
  plainLines,
  RawConnection,
  ServerProcess,
  within,
} from "./_helpers.ts";

const DEPLOY = new URL("../docs/DEPLOY.md", import.meta.url);
const UNIT_NAME = "/etc/systemd/system/pulse.service";

/**
 * The fenced code block of a markdown page whose first line is `first`.
 *
 * @returns The block's lines, `first` among them.
 */
function codeBlock(markdown: string, first: string): string[] {
  const blocks = markdown.split(/^```[a-z]*\n/m).filter((_, i) => i % 2 === 1);
  const block = blocks.find((text) => text.startsWith(`${first}\n`));
  if (block === undefined) throw new Error(`no block starting ${first}`);
  return block.split("\n");
}

/** The unit file of DEPLOY.md. */
async function unitFile(): Promise<string[]> {
  return codeBlock(await Deno.readTextFile(DEPLOY), `# ${UNIT_NAME}`);
}

/** The value of `key=` in the unit's lines. */
function setting(unit: string[], key: string): string {
  const line = unit.find((text) => text.startsWith(`${key}=`));
  if (line === undefined) throw new Error(`no ${key}= in the unit`);
  return line.slice(key.length + 1);
}

Deno.test({
  name: "docs/DEPLOY.md's unit passes systemd-analyze verify",
  // It comes with the systemd package; without it there is nothing to ask.
  ignore: !await available("systemd-analyze", ["--version"]),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pulse-unit-" });
    try {
      let unit = (await unitFile()).join("\n");
      // verify checks that ExecStart's program exists: on a machine with
      // Deno elsewhere than the page says, point it at this one.
      const deno = setting(await unitFile(), "ExecStart").split(" ")[0];
      try {
        await Deno.stat(deno);
      } catch {
        unit = unit.replace(
          `ExecStart=${deno} `,
          `ExecStart=${Deno.execPath()} `,
        );
      }
      const path = `${dir}/pulse.service`;
      await Deno.writeTextFile(path, unit);
      const { success, stdout, stderr } = await new Deno.Command(
        "systemd-analyze",
        { args: ["verify", path], stdout: "piped", stderr: "piped" },
      ).output();
      const said = new TextDecoder().decode(stderr) +
        new TextDecoder().decode(stdout);
      assert(success, said);
      // Unknown or misspelt settings are warnings, not failures: none.
      assert(!said.includes("pulse.service"), said);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("docs/DEPLOY.md's command line serves with its permissions, token and log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulse-deploy-" });
  try {
    // What systemd makes: the state and logs directories.
    const places: Record<string, string> = {
      "/var/lib/pulse": `${dir}/lib`,
      "/var/log/pulse": `${dir}/log`,
      "/etc/pulse": `${dir}/etc`,
    };
    for (const path of Object.values(places)) await Deno.mkdir(path);
    const words = setting(await unitFile(), "ExecStart").split(" ").map(
      (word) => {
        for (const [from, to] of Object.entries(places)) {
          word = word.replaceAll(from, to);
        }
        // Test traffic stays on loopback, on free ports.
        return word.replace("0.0.0.0", HOST).replace(/^8888$/, "0")
          .replace(/^127\.0\.0\.1:8889$/, `${HOST}:0`);
      },
    );
    const script = words.findIndex((word) => word.endsWith("/server.ts"));
    equal(words[1], "run");
    const permissions = words.slice(2, script);
    assert(!permissions.includes("-A"), "no blanket permissions");
    await using server = await ServerProcess.start(words.slice(script + 1), {
      permissions,
      env: { PULSE_TOKEN: "secret" },
    });
    {
      await using connection = await RawConnection.connect(server.port);
      // Within the retention window.
      const now = Math.floor(Date.now() / 1000);
      await connection.send(
        `ping\nauth secret\nput deploy 1 ${now}\nget deploy\n`,
      );
      equal(
        await connection.answers(4),
        "error\nauthentication required\n\n" + "ok\n\n" + "ok\n\n" +
          `ok\ndeploy 1.0 ${now}\n\n`,
      );
    }
    const log = `${dir}/log/pulse.log`;
    const read = async () => events(await Deno.readTextFile(log));
    await within(
      (async () => {
        while (!(await read()).some((event) => event.event === "close")) {
          await delay(20);
        }
      })(),
      "the close event in the log",
    );
    // ExecReload, as logrotate's postrotate runs it.
    await Deno.rename(log, `${log}.1`);
    server.child.kill("SIGHUP");
    await within(
      (async () => {
        while (!await Deno.stat(log).then(() => true, () => false)) {
          await delay(20);
        }
      })(),
      "the log made again",
    );
    server.child.kill("SIGTERM");
    equal((await server.exit()).code, 0, server.stderr);
    deepEqual(
      (await read()).map((event) => event.event),
      ["shutdown", "shutdown"],
    );
    const before = events(await Deno.readTextFile(`${log}.1`));
    deepEqual(before.map((event) => event.event).slice(0, 2), [
      "restore",
      "listening",
    ]);
    deepEqual(
      plainLines(server.stderr).filter((line) => line.includes("warning")),
      [],
    );
    const names = [...Deno.readDirSync(`${dir}/lib`)].map((entry) =>
      entry.name
    );
    assert(names.includes("LOCK"), names.join(" "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
