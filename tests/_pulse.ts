/**
 * `cli.ts` run as a child process for the tests of the bulk commands
 * (`export`, `import`, `backup`): its output kept as bytes, its stdin fed
 * or taken from a file, and its peak resident memory watched.
 *
 * @module
 */

import { decoder, within } from "./_helpers.ts";

/** The command line's script. */
export const CLI: string = new URL("../cli.ts", import.meta.url).pathname;

/** How a run of the command line ended. */
export interface PulseRun {
  /** The exit code. */
  code: number;
  /** What it wrote on stdout, as bytes. */
  stdout: Uint8Array;
  /** What it wrote on stderr. */
  stderr: string;
  /** Its largest resident set (`VmHWM`) as last seen, in bytes. */
  peak: number;
}

/** Options of {@linkcode pulse}. */
export interface PulseOptions {
  /**
   * Environment variables on top of this process's.
   *
   * @default {{}}
   */
  env?: Record<string, string>;
  /**
   * Bytes fed to its stdin, then closed; no stdin when unset.
   *
   * @default {undefined}
   */
  stdin?: Uint8Array;
  /**
   * A file its stdout goes to, instead of being collected.
   *
   * @default {undefined}
   */
  stdoutFile?: string;
  /**
   * The guard against hangs, in milliseconds.
   *
   * @default {60000}
   */
  timeout?: number;
}

/** The largest resident set of a process so far, or 0 once it is gone. */
function peakOf(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Runs `deno run -A cli.ts ...args` to its end, watching its peak memory
 * every 20 ms; a run that hangs is killed and fails the test.
 *
 * @param args The command line's arguments.
 * @param options Its environment, stdin, stdout and guard.
 * @returns How it ended.
 */
export async function pulse(
  args: string[],
  options: PulseOptions = {},
): Promise<PulseRun> {
  const file = options.stdoutFile === undefined
    ? undefined
    : await Deno.open(options.stdoutFile, {
      write: true,
      create: true,
      truncate: true,
    });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  const watcher = setInterval(() => {
    peak = Math.max(peak, peakOf(child.pid));
  }, 20);
  const feeding = options.stdin === undefined
    ? Promise.resolve()
    : (async () => {
      const writer = child.stdin.getWriter();
      await writer.write(options.stdin);
      await writer.close();
    })();
  const stdout = file === undefined
    ? new Response(child.stdout).bytes()
    : child.stdout.pipeTo(file.writable).then(() => new Uint8Array(0));
  const stderr = new Response(child.stderr).text();
  const ended = Promise.all([child.status, stdout, stderr, feeding]);
  try {
    const [status, out, err] = await within(
      ended,
      `pulse ${args.join(" ")}`,
      options.timeout ?? 60_000,
    );
    return { code: status.code, stdout: out, stderr: err, peak };
  } catch (error) {
    child.kill("SIGKILL");
    await ended.catch(() => {});
    throw error;
  } finally {
    clearInterval(watcher);
  }
}

/**
 * The text of a run's stdout.
 *
 * @param run A run.
 * @returns Its stdout, decoded.
 */
export function stdoutText(run: PulseRun): string {
  return decoder.decode(run.stdout);
}
