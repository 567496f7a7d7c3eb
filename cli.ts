/**
 * The `pulse` command line: put, read, query and delete samples on a Pulse
 * server, check it, read its figures, and run the host agent.
 *
 * ```sh
 * deno run -A jsr:@pulse/metrics/cli put palm.cpu 10.6
 * deno run -A jsr:@pulse/metrics/cli query 'palm.*' -1h now --step 1m --agg max
 * deno run -A jsr:@pulse/metrics/cli agent --every 10s
 * ```
 *
 * Answers print as an aligned table on a terminal, and as the protocol's own
 * lines (`<key> <value> <timestamp>`) when the output is a pipe or a file;
 * `--json` and `--csv` print for scripts. It exits 0 on success, 1 on an
 * error answer or a connection failure (with a one-line message on stderr),
 * and 2 on a usage error. `pulse --help` and `pulse <command> --help` tell
 * the rest.
 *
 * The host agent's API is in `@pulse/metrics/agent`; {@linkcode Agent} is
 * still exported here, deprecated.
 *
 * @example Putting and reading back through the command line
 * ```ts
 * import { serve } from "@pulse/metrics";
 * import { main } from "@pulse/metrics/cli";
 * import { strictEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * const port = String(server.addr.port);
 * strictEqual(await main(["put", "palm.cpu", "10.6", "1501864247", "--port", port]), 0);
 * strictEqual(await main(["get", "palm.cpu", "--port", port, "--json"]), 0);
 * strictEqual(await main(["frobnicate"]), 2);
 * ```
 *
 * @module
 */

import { Agent as AgentClass } from "./agent/agent.ts";
import type { Client } from "./client.ts";
import { ClientError } from "./client.ts";
import { describe } from "./internal/describe.ts";
import { VERSION } from "./internal/version.ts";
import {
  checkUse,
  commandHelp,
  commandNamed,
  OVERVIEW,
} from "./cli/commands.ts";
import { UsageError } from "./cli/flags.ts";
import { hintFor } from "./cli/hints.ts";
import {
  clientFor,
  type CommandLine,
  parseCommandLine,
} from "./cli/options.ts";
import { chooseFormat, print } from "./cli/output.ts";

/**
 * The host agent.
 *
 * @deprecated Import from "@pulse/metrics/agent"
 */
export const Agent: typeof AgentClass = AgentClass;
/**
 * The host agent.
 *
 * @deprecated Import from "@pulse/metrics/agent"
 */
export type Agent = AgentClass;

/**
 * The help page asked for, if any: `pulse --help`, `pulse help [command]`,
 * `pulse <command> --help`.
 */
function helpAsked(line: CommandLine): string | undefined {
  const [first, topic] = line._;
  if (first === "help") {
    return topic === undefined ? OVERVIEW : commandHelp(commandNamed(topic));
  }
  if (!line.help) return undefined;
  return first === undefined ? OVERVIEW : commandHelp(commandNamed(first));
}

/**
 * Runs the command line: parses `args`, talks to the server, prints the
 * answer on stdout and any failure as one line on stderr.
 *
 * @example Usage
 * ```ts
 * import { serve } from "@pulse/metrics";
 * import { main } from "@pulse/metrics/cli";
 * import { strictEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * strictEqual(await main(["ping", "--port", String(server.addr.port)]), 0);
 * ```
 *
 * @param args The arguments, such as `["get", "palm.cpu", "--json"]`.
 * @returns The exit code: 0 on success, 1 on an error answer or a
 * connection failure, 2 on a usage error.
 */
export async function main(args: string[]): Promise<number> {
  let client: Client | undefined;
  let name: string | undefined;
  let tls = false;
  try {
    const line = parseCommandLine(args);
    tls = line.tls || line.ca !== undefined;
    const help = helpAsked(line);
    if (help !== undefined) {
      await print(help);
      return 0;
    }
    if (line.version) {
      await print(`pulse ${VERSION}\n`);
      return 0;
    }
    const first = line._[0];
    if (first === undefined) {
      throw new UsageError("Cannot tell what to do: give a command");
    }
    const command = commandNamed(first);
    name = first;
    checkUse(name, line);
    const format = chooseFormat(line);
    client = await clientFor(line);
    await print(
      await command.run({
        args: line._.slice(1),
        line,
        format,
        now: Math.floor(Date.now() / 1000),
        client,
      }),
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(
        `pulse: ${error.message} (see pulse ${
          name === undefined ? "" : `${name} `
        }--help)`,
      );
      return 2;
    }
    // A ClientError says what failed; others are from the system.
    const message = error instanceof ClientError
      ? error.message
      : describe(error);
    const hint = hintFor(error, tls);
    console.error(`pulse: ${message}${hint === undefined ? "" : ` (${hint})`}`);
    return 1;
  } finally {
    await client?.[Symbol.asyncDispose]();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
