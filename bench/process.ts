/**
 * Child processes of the benchmark: servers under test and load generators.
 *
 * Every child is registered until it exits, so that {@linkcode killAll} can
 * end all of them whatever way the benchmark stops: normal end, thrown error
 * or Ctrl-C. Servers report their port on stderr, since they listen on port 0
 * to avoid collisions; their stderr is drained for the whole run, because a
 * full pipe would block a server that logs.
 *
 * @module
 */

const LISTENING = /listening on [^\s]+:(\d+)/;
/**
 * The V8 flags of `deno task start`, read from deno.json: every server runs
 * as Pulse is meant to be run, and the flags are written down in one place.
 */
const V8_FLAGS: string[] = JSON.parse(
  Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
).tasks.start.split(/\s+/).filter((arg: string) =>
  arg.startsWith("--v8-flags=")
);
const STARTUP_TIMEOUT_MS = 30_000;
const KEPT_STDERR_LINES = 20;

const children = new Set<Deno.ChildProcess>();

/** A server started as a child process, listening on loopback. */
export interface Server {
  /** The name printed in the report. */
  name: string;
  /** The operating system's id of the server process. */
  pid: number;
  /** The TCP port it listens on. */
  port: number;
  /**
   * The first timestamp not yet put to this server: each run of puts starts
   * there, so that every series keeps receiving its samples in order.
   */
  nextTimestamp: number;
  /** The last lines it wrote on stderr, to explain a failure. */
  stderrTail(): string;
  /**
   * Ends the server and waits for it to exit.
   *
   * @param signal SIGKILL by default; SIGTERM lets it shut down cleanly.
   */
  stop(signal?: Deno.Signal): Promise<void>;
}

/** The memory figures of a process, in bytes, from `/proc/<pid>/status`. */
export interface Memory {
  /** Resident set size now. */
  rss: number;
  /** Peak resident set size since start or since {@linkcode resetPeakRss}. */
  hwm: number;
}

function spawn(args: string[], stdout: "piped" | "null"): Deno.ChildProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout,
    stderr: "piped",
  }).spawn();
  children.add(child);
  child.status.finally(() => children.delete(child));
  return child;
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal = "SIGKILL"): void {
  try {
    child.kill(signal);
  } catch (error) {
    // It has exited already: nothing is left to end.
    if (!(error instanceof TypeError)) throw error;
  }
}

/**
 * Starts `deno run -A <script> <args>` and waits until it prints its
 * listening line on stderr.
 *
 * @param name The name of the server in the report.
 * @param script The path of the server's main module.
 * @param args The server's own arguments.
 */
export async function startServer(
  name: string,
  script: string,
  args: string[],
): Promise<Server> {
  const child = spawn(["run", ...V8_FLAGS, "-A", script, ...args], "null");
  const lines: string[] = [];
  const reader = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  let port: number | undefined;
  let partial = "";
  // Reads stderr until the listening line appears; the rest of the stream is
  // drained later by the same reader.
  async function readLines(untilListening: boolean): Promise<void> {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      const parts = (partial + value).split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (lines.length > KEPT_STDERR_LINES) lines.shift();
        const match = port === undefined ? LISTENING.exec(line) : null;
        if (match) port = Number(match[1]);
      }
      if (untilListening && port !== undefined) return;
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${name} did not start listening in time`)),
      STARTUP_TIMEOUT_MS,
    );
  });
  const tail = () => [...lines, partial].join("\n").trim();
  try {
    await Promise.race([readLines(true), timeout]);
    if (port === undefined) {
      throw new Error(`${name} exited before listening:\n${tail()}`);
    }
  } catch (error) {
    kill(child);
    await child.status;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  // Errors of the drain only mean the process is gone, which the next load
  // against it reports with the tail of its stderr.
  readLines(false).catch(() => {});
  return {
    name,
    pid: child.pid,
    port,
    nextTimestamp: 1,
    stderrTail: tail,
    async stop(signal?: Deno.Signal) {
      kill(child, signal);
      await child.status;
    },
  };
}

/**
 * Runs `deno run -A <script> <args>` to its end and returns its stdout.
 * Throws with its stderr when it exits with a failure.
 *
 * @param script The path of the module to run.
 * @param args Its arguments.
 */
export async function runScript(
  script: string,
  args: string[],
): Promise<string> {
  const child = spawn(["run", "-A", script, ...args], "piped");
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  if (!status.success) {
    throw new Error(
      `${script} ${args.join(" ")} failed (exit ${status.code}):\n${stderr}`,
    );
  }
  return stdout;
}

/** Kills every child process still running. */
export function killAll(): void {
  for (const child of children) kill(child);
}

/**
 * Makes SIGINT and SIGTERM kill every child before exiting: children must
 * not outlive a benchmark, however it ends.
 */
export function killChildrenOnSignal(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      killAll();
      Deno.exit(130);
    });
  }
}

/**
 * Reads the resident set size and its peak of a process, in bytes.
 *
 * @param pid The process id.
 */
export function readMemory(pid: number): Memory {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  function field(name: string): number {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!match) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  }
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/**
 * Resets the peak resident set size (VmHWM) of a process to its current
 * size, so that a later {@linkcode readMemory} tells the peak of one phase.
 *
 * @param pid The process id.
 */
export function resetPeakRss(pid: number): void {
  Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
}
