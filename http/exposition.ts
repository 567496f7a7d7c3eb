/**
 * The server's figures in Prometheus's text exposition format, version
 * 0.0.4, named and documented so that `promtool check metrics` finds nothing
 * to say: counters end in `_total`, sizes in `_bytes`, times in `_seconds`.
 *
 * @module
 */

/** One metric family: its name, meaning, type and samples. */
export interface MetricFamily {
  /** The metric's name, such as `pulse_samples`. */
  name: string;
  /** What it measures: one line. */
  help: string;
  /** How it behaves. */
  type: "counter" | "gauge";
  /** Its samples: label values by label name, and the value. */
  samples: [labels: Record<string, string>, value: number][];
}

/** The content type of the exposition. */
export const EXPOSITION_CONTENT_TYPE =
  "text/plain; version=0.0.4; charset=utf-8";

// The figures of `Server.stats()`, by name: the metric each becomes.
const FIGURES: Record<
  string,
  [name: string, type: MetricFamily["type"], help: string]
> = {
  uptime_seconds: [
    "pulse_uptime_seconds",
    "gauge",
    "Seconds since the server started.",
  ],
  connections: ["pulse_connections", "gauge", "Client connections open now."],
  connections_total: [
    "pulse_connections_accepted_total",
    "counter",
    "Client connections accepted.",
  ],
  connections_refused: [
    "pulse_connections_refused_total",
    "counter",
    "Client connections refused because there were too many.",
  ],
  errors: ["pulse_errors_total", "counter", "Requests answered with an error."],
  series: ["pulse_series", "gauge", "Series in the store."],
  samples: ["pulse_samples", "gauge", "Samples in the store."],
  bytes_in: [
    "pulse_received_bytes_total",
    "counter",
    "Bytes received from clients.",
  ],
  bytes_out: [
    "pulse_sent_bytes_total",
    "counter",
    "Bytes of answers sent to clients.",
  ],
  log_bytes: ["pulse_log_bytes", "gauge", "Bytes in the current log file."],
  snapshot_bytes: [
    "pulse_snapshot_bytes",
    "gauge",
    "Bytes in the snapshot file.",
  ],
};
const COMMAND_PREFIX = "commands_";

/**
 * Turns the server's figures into metric families. Commands by kind become
 * one counter with a `command` label; figures it does not know become gauges
 * (counters when their names end in `_total`) named after them.
 *
 * @param figures The figures, such as `Server.stats()` returns.
 * @returns The families, in the order the figures came.
 */
export function figureFamilies(
  figures: Record<string, number>,
): MetricFamily[] {
  const families = new Map<string, MetricFamily>();
  const add = (
    name: string,
    type: MetricFamily["type"],
    help: string,
    labels: Record<string, string>,
    value: number,
  ) => {
    let family = families.get(name);
    if (family === undefined) {
      family = { name, help, type, samples: [] };
      families.set(name, family);
    }
    family.samples.push([labels, value]);
  };
  for (const [figure, value] of Object.entries(figures)) {
    const known = FIGURES[figure];
    if (known !== undefined) {
      add(...known, {}, value);
    } else if (figure.startsWith(COMMAND_PREFIX)) {
      add(
        "pulse_commands_total",
        "counter",
        "Requests received over TCP, by command; invalid lines count as invalid.",
        { command: figure.slice(COMMAND_PREFIX.length) },
        value,
      );
    } else {
      const name = `pulse_${figure.replace(/[^a-zA-Z0-9_]/g, "_")}`;
      add(
        name,
        name.endsWith("_total") ? "counter" : "gauge",
        `The server's ${figure} figure.`,
        {},
        value,
      );
    }
  }
  return [...families.values()];
}

/**
 * Writes metric families in the text format: a `# HELP` and a `# TYPE` line
 * per family, then its samples.
 *
 * @param families The families; names must be unique.
 * @returns The exposition, ending in a newline.
 */
export function formatExposition(families: readonly MetricFamily[]): string {
  let text = "";
  for (const { name, help, type, samples } of families) {
    text += `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
    for (const [labels, value] of samples) {
      const pairs = Object.entries(labels).map(([label, labelValue]) =>
        `${label}="${escapeLabelValue(labelValue)}"`
      );
      text += `${name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${
        formatSampleValue(value)
      }\n`;
    }
  }
  return text;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(
    /\n/g,
    "\\n",
  );
}

function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
