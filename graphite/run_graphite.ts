/**
 * The Graphite listeners as the server's command line runs them: where they
 * listen by default, what they print, and a default port that is taken.
 *
 * @module
 */

import type { Logger } from "../internal/logger.ts";
import { DEFAULT_HOSTNAME } from "../protocol/defaults.ts";
import { formatAddress } from "../server/accept.ts";
import type { Storage } from "../storage/storage.ts";
import {
  DEFAULT_GRAPHITE_MAX_CONNECTIONS,
  DEFAULT_GRAPHITE_PORT,
  type GraphiteAddress,
  type GraphiteServer,
  serveGraphite,
} from "./ingest.ts";

/** The Graphite options of `runServer()`. */
export interface RunGraphiteOptions {
  /**
   * Where Graphite plaintext is taken, over TCP and UDP on one port
   * (`serveGraphite()`); `false` for none. When the default port is taken
   * the server warns and goes on without it, while an address given must
   * be free.
   *
   * @default {{ hostname: "127.0.0.1", port: 2003 }}
   */
  graphite?: GraphiteAddress | false;
  /**
   * Where carbon's pickle protocol is taken, over TCP; `false` for none.
   *
   * @default {false}
   */
  pickle?: GraphiteAddress | false;
  /**
   * The most connections at once of each Graphite TCP listener (plaintext,
   * pickle).
   *
   * @default {1000}
   */
  graphiteMaxConnections?: number;
}

/**
 * The Graphite listeners' addresses, as the options ask.
 *
 * @param options The server's options.
 * @returns Where plaintext and pickle are taken, `false` for nowhere.
 */
export function graphiteAddresses(
  options: RunGraphiteOptions,
): [plaintext: GraphiteAddress | false, pickle: GraphiteAddress | false] {
  const { graphite, pickle } = options;
  return [
    graphite === false ? false : {
      hostname: graphite?.hostname ?? DEFAULT_HOSTNAME,
      port: graphite?.port ?? DEFAULT_GRAPHITE_PORT,
    },
    pickle === undefined || pickle === false ? false : {
      hostname: pickle.hostname ?? DEFAULT_HOSTNAME,
      port: pickle.port,
    },
  ];
}

/**
 * How many Graphite connections the options allow at most, for counting
 * descriptors.
 *
 * @param options The server's options.
 * @returns The cap times the TCP listeners.
 */
export function graphiteConnections(options: RunGraphiteOptions): number {
  const listeners = graphiteAddresses(options).filter((a) => a !== false);
  return listeners.length *
    (options.graphiteMaxConnections ?? DEFAULT_GRAPHITE_MAX_CONNECTIONS);
}

/**
 * Starts the Graphite listeners the options ask for, if any. When only the
 * default plaintext port is taken, it warns and goes on without it. What the
 * listeners log goes to stderr.
 *
 * @param storage Where samples are kept.
 * @param options Where to listen, the cap, the idle timeout, and a signal
 * that shuts the listeners down when aborted.
 * @returns The listeners, or `undefined` when none is asked for or the
 * default port alone was taken.
 * @throws {Deno.errors.AddrInUse} When an address given is taken.
 */
export function startGraphite(
  storage: Storage,
  options: RunGraphiteOptions & {
    idleTimeout?: number;
    signal?: AbortSignal;
    logger?: Logger;
  },
): GraphiteServer | undefined {
  const [plaintext, pickle] = graphiteAddresses(options);
  if (plaintext === false && pickle === false) return undefined;
  const start = (plaintext: GraphiteAddress | false) => {
    const graphite = serveGraphite(storage, {
      plaintext,
      pickle,
      maxConnections: options.graphiteMaxConnections,
      idleTimeout: options.idleTimeout,
      signal: options.signal,
      onLog: (message) => options.logger?.warn("graphite", { msg: message }),
    });
    const { addrs } = graphite;
    for (const [name, addr] of Object.entries(addrs)) {
      options.logger?.info("listening", {
        door: `graphite ${name}`,
        addr: formatAddress(addr.hostname, addr.port),
      });
      console.error(
        `pulse: graphite ${name} listening on ${
          formatAddress(addr.hostname, addr.port)
        }`,
      );
    }
    return graphite;
  };
  try {
    return start(plaintext);
  } catch (error) {
    if (
      options.graphite !== undefined ||
      !(error instanceof Deno.errors.AddrInUse)
    ) {
      throw error;
    }
  }
  // The default plaintext port, or the pickle port given, is taken.
  const graphite = pickle === false ? undefined : start(false);
  const { hostname, port } = plaintext as GraphiteAddress;
  console.error(
    `pulse: warning: not taking Graphite plaintext: ${
      formatAddress(hostname!, port!)
    } is in use (choose another with --graphite HOST:PORT, or --graphite off)`,
  );
  return graphite;
}
