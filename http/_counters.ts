/**
 * What the HTTP server counts of itself, for `/api/stats` and `/metrics`:
 * connections, requests by route and status, and samples stored.
 *
 * @module
 */

import type { MetricFamily } from "./exposition.ts";

/** The HTTP server's own counts. */
export class HttpCounters {
  /** When the server started, in milliseconds since the epoch. */
  readonly started: number = Date.now();
  /** Connections being served. */
  connections = 0;
  /** Connections accepted and served since the start. */
  connectionsTotal = 0;
  /** Connections refused: past the cap, or with no descriptor free. */
  connectionsRefused = 0;
  /** Samples stored through `POST /api/put`. */
  samplesPut = 0;
  // Requests answered, by route and status.
  #requests = new Map<string, Map<number, number>>();

  /** Seconds since the server started. */
  get uptime(): number {
    return Math.floor((Date.now() - this.started) / 1000);
  }

  /**
   * Counts a request answered.
   *
   * @param route The route's path, or `other` for an unknown one (so that
   * scanners cannot grow the labels).
   * @param status The answer's status.
   */
  countRequest(route: string, status: number): void {
    let byStatus = this.#requests.get(route);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.#requests.set(route, byStatus);
    }
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }

  /**
   * The requests answered, as the samples of `pulse_http_requests_total`.
   *
   * @returns One sample per route and status.
   */
  requestSamples(): MetricFamily["samples"] {
    const samples: MetricFamily["samples"] = [];
    for (const [route, byStatus] of this.#requests) {
      for (const [status, count] of byStatus) {
        samples.push([{ route, code: String(status) }, count]);
      }
    }
    return samples;
  }

  /**
   * The counts as figures, named as `/api/stats` shows them.
   *
   * @returns Figures by name.
   */
  figures(): Record<string, number> {
    return {
      http_connections: this.connections,
      http_connections_total: this.connectionsTotal,
      http_connections_refused: this.connectionsRefused,
      http_samples_put: this.samplesPut,
    };
  }
}
