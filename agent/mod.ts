/**
 * The host agent: {@linkcode Agent} collects figures every interval and
 * sends them to a Pulse server, holding them while the server is
 * unreachable; {@linkcode HostCollector} reads this host's CPU, memory, load,
 * disks and network. `pulse agent` runs both.
 *
 * @example Sending one collection
 * ```ts
 * import { Client, serve, Store } from "@pulse/metrics";
 * import { Agent } from "@pulse/metrics/agent";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const store = new Store();
 * await using server = serve({ port: 0, store });
 * await using client = new Client("127.0.0.1", server.addr.port);
 * const agent = new Agent(client, {
 *   collector: {
 *     collect: (now) =>
 *       Promise.resolve([{ key: "palm.cpu", value: 2, timestamp: now / 1000 }]),
 *   },
 *   now: () => 1501864247_000,
 * });
 * await agent.tick();
 * deepStrictEqual(store.get("palm.cpu")?.toArray(), [[1501864247, 2]]);
 * ```
 *
 * @module
 */

export {
  Agent,
  type AgentOptions,
  type Collector,
  DEFAULT_BUFFER,
  DEFAULT_EVERY,
} from "./agent.ts";
export {
  type DiskSpace,
  HostCollector,
  type HostCollectorOptions,
  hostPrefix,
  type HostSource,
  keySegment,
  type Sample,
} from "./host.ts";
