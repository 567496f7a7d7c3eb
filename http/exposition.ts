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

// Every figure the server reports (`stats` over TCP, `/api/stats`), by the
// one name it has there: the metric it becomes, its type, and what it means.
const FIGURES: Record<
  string,
  [name: string, type: MetricFamily["type"], help: string]
> = {
  uptime_seconds: [
    "pulse_uptime_seconds",
    "gauge",
    "Seconds since the server started.",
  ],
  connections: [
    "pulse_connections",
    "gauge",
    "TCP connections open now.",
  ],
  connections_total: [
    "pulse_connections_accepted_total",
    "counter",
    "TCP connections accepted since the start.",
  ],
  connections_refused: [
    "pulse_connections_refused_total",
    "counter",
    "TCP connections refused: past --max-connections, or no file descriptor free.",
  ],
  errors: [
    "pulse_errors_total",
    "counter",
    "TCP requests answered with an error.",
  ],
  series: ["pulse_series", "gauge", "Series in the store."],
  samples: ["pulse_samples", "gauge", "Samples in the store."],
  bytes_in: [
    "pulse_received_bytes_total",
    "counter",
    "Bytes received from TCP clients.",
  ],
  bytes_out: [
    "pulse_sent_bytes_total",
    "counter",
    "Bytes of answers sent to TCP clients.",
  ],
  log_bytes: [
    "pulse_log_bytes",
    "gauge",
    "Bytes in the data directory's current log file.",
  ],
  snapshot_bytes: [
    "pulse_snapshot_bytes",
    "gauge",
    "Bytes in the data directory's snapshot file.",
  ],
  memory_rss_bytes: [
    "pulse_memory_rss_bytes",
    "gauge",
    "Resident memory of the server process (RSS), in bytes.",
  ],
  memory_heap_bytes: [
    "pulse_memory_heap_bytes",
    "gauge",
    "Bytes of V8's JavaScript heap, used and free.",
  ],
  memory_external_bytes: [
    "pulse_memory_external_bytes",
    "gauge",
    "Bytes held outside V8's heap, such as buffers.",
  ],
  http_connections: [
    "pulse_http_connections",
    "gauge",
    "HTTP connections open now.",
  ],
  http_connections_total: [
    "pulse_http_connections_accepted_total",
    "counter",
    "HTTP connections accepted since the start.",
  ],
  http_connections_refused: [
    "pulse_http_connections_refused_total",
    "counter",
    "HTTP connections refused with 503: past --http-max-connections, or no file descriptor free.",
  ],
  http_samples_put: [
    "pulse_http_samples_put_total",
    "counter",
    "Samples stored through POST /api/put.",
  ],
  http_body_bytes: [
    "pulse_http_body_bytes",
    "gauge",
    "Bytes of the --max-body budget taken by put bodies being read or stored now.",
  ],
  chunk_bytes_raw: [
    "pulse_chunk_bytes_raw",
    "gauge",
    "Bytes of the series' raw head chunks, kept unencoded for cheap appends.",
  ],
  chunk_bytes_decimal: [
    "pulse_chunk_bytes_decimal",
    "gauge",
    "Bytes of sealed chunks whose values are encoded as decimals.",
  ],
  chunk_bytes_xor: [
    "pulse_chunk_bytes_xor",
    "gauge",
    "Bytes of sealed chunks whose values are encoded with XOR.",
  ],
  samples_raw: [
    "pulse_samples_raw",
    "gauge",
    "Samples in raw head chunks.",
  ],
  samples_decimal: [
    "pulse_samples_decimal",
    "gauge",
    "Samples in chunks of decimal values.",
  ],
  samples_xor: [
    "pulse_samples_xor",
    "gauge",
    "Samples in chunks of XOR values.",
  ],
  chunk_pages_bytes: [
    "pulse_chunk_pages_bytes",
    "gauge",
    "Bytes of the pages that hold the sealed chunks, free space not yet reclaimed included.",
  ],
  graphite_connections: [
    "pulse_graphite_connections",
    "gauge",
    "Graphite TCP connections open now, plaintext and pickle.",
  ],
  graphite_connections_total: [
    "pulse_graphite_connections_total",
    "counter",
    "Graphite TCP connections accepted.",
  ],
  graphite_connections_refused_total: [
    "pulse_graphite_connections_refused_total",
    "counter",
    "Graphite TCP connections closed at once, past the cap or for want of descriptors.",
  ],
  graphite_received_bytes_total: [
    "pulse_graphite_received_bytes_total",
    "counter",
    "Bytes received by the Graphite listeners, TCP and UDP.",
  ],
  graphite_datagrams_total: [
    "pulse_graphite_datagrams_total",
    "counter",
    "Graphite UDP datagrams received.",
  ],
  graphite_lines_total: [
    "pulse_graphite_lines_total",
    "counter",
    "Graphite plaintext lines stored.",
  ],
  graphite_bad_lines_total: [
    "pulse_graphite_bad_lines_total",
    "counter",
    "Graphite plaintext lines and pickle entries skipped as malformed.",
  ],
  graphite_non_finite_total: [
    "pulse_graphite_non_finite_total",
    "counter",
    "Graphite samples dropped because their value is not a finite number.",
  ],
  graphite_long_lines_total: [
    "pulse_graphite_long_lines_total",
    "counter",
    "Graphite plaintext lines over 16 KiB, dropped.",
  ],
  graphite_refused_samples_total: [
    "pulse_graphite_refused_samples_total",
    "counter",
    "Graphite samples the storage refused or could not commit.",
  ],
  graphite_pickle_messages_total: [
    "pulse_graphite_pickle_messages_total",
    "counter",
    "Pickle messages decoded.",
  ],
  graphite_pickle_samples_total: [
    "pulse_graphite_pickle_samples_total",
    "counter",
    "Samples stored from pickle messages.",
  ],
  graphite_pickle_refused_total: [
    "pulse_graphite_pickle_refused_total",
    "counter",
    "Pickle messages refused, their connection closed.",
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
        `The server's ${figure} figure (see docs/HTTP.md).`,
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
