/**
 * The JSON of the reading routes, written piece by piece:
 * `{"matched":2,"series":[{"key":"palm.cpu","points":[[1501864247,10.6]]}]}`,
 * each series' samples read through the querier's cursor a bounded number
 * at a time, as the client takes the answer.
 *
 * @module
 */

import type { Querier, SeriesInfo } from "../storage/storage.ts";
import type { QueryOptions } from "../store/query.ts";

// The most rows (samples read, or keys listed) that go into one piece of an
// answer: a piece is made without a pause, so this bounds the work between
// two chances to give other clients a turn.
const ROWS_PER_PIECE = 4096;

/** A JSON number, or `null` for what JSON cannot hold (an overflowed sum). */
function number(value: number): string {
  return Number.isFinite(value) ? String(value) : "null";
}

/**
 * The pieces of `/api/keys`' answer: the series' keys, without points.
 *
 * @param matched How many series the pattern matched.
 * @param series The ones to list.
 * @returns The answer's text, in pieces.
 */
export function* keysPieces(
  matched: number,
  series: SeriesInfo[],
): Generator<string> {
  yield `{"matched":${matched},"series":[`;
  for (let i = 0; i < series.length; i += ROWS_PER_PIECE) {
    let text = "";
    for (let j = i; j < Math.min(i + ROWS_PER_PIECE, series.length); j++) {
      text += `${j > 0 ? "," : ""}{"key":${JSON.stringify(series[j].key)}}`;
    }
    yield text;
  }
  yield "]}";
}

/**
 * The pieces of a reading answer: `head`'s fields, then every series with
 * its points, read a few thousand samples at a time.
 *
 * @param querier Reads the samples.
 * @param head The fields before `series`, such as `matched`.
 * @param series The series to read.
 * @param options The range and roll-up, or the latest sample only.
 * @returns The answer's text, in pieces.
 */
export async function* seriesPieces(
  querier: Querier,
  head: Record<string, number | null>,
  series: SeriesInfo[],
  options: QueryOptions,
): AsyncGenerator<string> {
  yield `${JSON.stringify(head).slice(0, -1)},"series":[`;
  for (let i = 0; i < series.length; i++) {
    let text = `${i > 0 ? "," : ""}{"key":${
      JSON.stringify(series[i].key)
    },"points":[`;
    let first = true;
    const sink = (_key: string, value: number, timestamp: number) => {
      text += `${first ? "" : ","}[${timestamp},${number(value)}]`;
      first = false;
    };
    const cursor = querier.read([series[i]], options);
    try {
      while (!await cursor.read(sink, ROWS_PER_PIECE)) {
        yield text;
        text = "";
      }
    } finally {
      // Freed whether it was read to its end or the client left.
      cursor.close();
    }
    yield `${text}]}`;
  }
  yield "]}";
}
