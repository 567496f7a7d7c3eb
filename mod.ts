/**
 * Pulse: a metrics server and client for Deno, speaking the plain-text
 * put/get protocol of the well-known course byte for byte.
 *
 * Machines send numeric samples (`put palm.cpu 10.6 1501864247`) over TCP and
 * read them back (`get palm.cpu`, `get *`). {@linkcode serve} runs the server,
 * {@linkcode Client} talks to one, and {@linkcode Store} is the in-memory
 * store they share.
 *
 * @example The course's client example
 * ```ts
 * import { Client, serve } from "@pulse/metrics";
 * import { deepEqual } from "node:assert/strict";
 *
 * await using server = serve({ port: 0 });
 * await using client = new Client("127.0.0.1", server.addr.port, {
 *   timeout: 15_000,
 * });
 * await client.put("palm.cpu", 0.5, 1150864247);
 * await client.put("palm.cpu", 2.0, 1150864248);
 * await client.put("palm.cpu", 0.5, 1150864248);
 * await client.put("eardrum.cpu", 3, 1150864250);
 * deepEqual(await client.get("*"), {
 *   "palm.cpu": [[1150864247, 0.5], [1150864248, 0.5]],
 *   "eardrum.cpu": [[1150864250, 3]],
 * });
 * deepEqual(await client.get("non_existing_key"), {});
 * ```
 *
 * @module
 */

export {
  Client,
  ClientError,
  type ClientErrorCode,
  type ClientErrorOptions,
  type ClientOptions,
  type OpenConnection,
  type PutLinesOptions,
  type PutLinesReport,
  type QueryRange,
  type SampleLine,
  type Samples,
  type TimeRange,
} from "./client.ts";
export {
  isLogLevel,
  LOG_LEVELS,
  type LogFields,
  Logger,
  type LoggerOptions,
  type LogLevel,
  type LogSink,
} from "./internal/logger.ts";
export {
  DEFAULT_GRAPHITE_MAX_CONNECTIONS,
  DEFAULT_GRAPHITE_PORT,
  DEFAULT_HOSTNAME,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_OUTPUT,
  DEFAULT_PICKLE_PORT,
  DEFAULT_PORT,
  type GraphiteAddress,
  type GraphiteAddrs,
  type GraphiteOptions,
  type GraphiteServer,
  type RunGraphiteOptions,
  runServer,
  type RunServerOptions,
  serve,
  serveGraphite,
  type ServeOptions,
  type Server,
  type ServerStats,
} from "./server.ts";
export {
  DEFAULT_HTTP_HOSTNAME,
  DEFAULT_HTTP_MAX_CONNECTIONS,
  DEFAULT_HTTP_PORT,
  DEFAULT_MAX_BODY,
  DEFAULT_MAX_POINTS,
  DEFAULT_MAX_PUT_BYTES,
  type HttpServer,
  serveHttp,
  type ServeHttpOptions,
} from "./http.ts";
export {
  ChunkArena,
  type ChunkFigures,
  decodeChunk,
  encodeChunk,
  EncodedChunk,
  Encoding,
  type EncodingFigures,
  isKey,
  MAX_CHUNK_SAMPLES,
  type SampleColumns,
  Series,
  Store,
  type StoreStats,
} from "./store.ts";
export {
  GLOBSTAR,
  isPattern,
  Pattern,
  type Segment,
  SegmentGlob,
} from "./store/pattern.ts";
export {
  type Aggregation,
  AGGREGATIONS,
  bucketStart,
  isAggregation,
  Query,
  type QueryOptions,
  type RowSink,
} from "./store/query.ts";
export { formatValue } from "./protocol/format_value.ts";
export {
  type Appender,
  failureMessage,
  type MaybePromise,
  type Querier,
  type RowCursor,
  type SeriesInfo,
  type SeriesOptions,
  type Storage,
  StorageError,
  type StorageSnapshot,
  type StorageStats,
} from "./storage/storage.ts";
export {
  type ClickHouseOptions,
  ClickHouseStorage,
  DEFAULT_BATCH_MS,
  DEFAULT_BATCH_ROWS,
  DEFAULT_CLICKHOUSE_TIMEOUT,
} from "./storage/clickhouse.ts";
export {
  LocalStorage,
  type LocalStorageOptions,
  openStorage,
  type StorageOptions,
} from "./storage/local.ts";
export { SampleBatch } from "./storage/sample_batch.ts";
export {
  type DamagedBytes,
  type DataDirOptions,
  DEFAULT_COMPACT_BYTES,
  type RestoreSummary,
} from "./persist/data_dir.ts";
export type { FaultKind } from "./persist/records.ts";
export { FSYNC_POLICIES, type FsyncPolicy } from "./persist/journal.ts";
