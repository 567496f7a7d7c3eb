/**
 * Answers made piece by piece as the client reads them: JSON, or the put
 * lines of an export. Each pull joins pieces into a chunk, and gives other
 * requests and connections a turn while it makes them.
 *
 * @module
 */

import { EventLoopTurns, nextTurn } from "../internal/turns.ts";

const ENCODER = new TextEncoder();
// A streamed answer leaves in chunks of about this many characters.
const CHUNK_CHARS = 64 * 1024;
// Milliseconds of making an answer before other requests and connections get
// a turn: a roll-up of millions of samples makes little text, but must not
// hold the event loop meanwhile.
const SLICE_MS = 10;

/**
 * An answer whose body is made piece by piece as it is read: each pull
 * joins pieces into a chunk of about 64 KiB, waiting for a turn of the
 * event loop whenever it has held it for 10 ms.
 *
 * @param pieces The answer's text, in pieces.
 * @param headers Its headers: the content type.
 * @returns The response.
 */
export function streamPieces(
  pieces: Generator<string> | AsyncGenerator<string>,
  headers: Readonly<Record<string, string>>,
): Response {
  const turns = new EventLoopTurns();
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let text = "";
      while (text.length < CHUNK_CHARS) {
        if (turns.overdue(SLICE_MS)) {
          await nextTurn();
          if (cancelled) return;
        }
        const next = await pieces.next();
        if (next.done) {
          turns.close();
          if (text.length > 0) controller.enqueue(ENCODER.encode(text));
          controller.close();
          return;
        }
        text += next.value;
      }
      controller.enqueue(ENCODER.encode(text));
    },
    async cancel() {
      cancelled = true;
      turns.close();
      try {
        await pieces.return(undefined);
      } catch {
        // Its end was what went wrong: nothing is left to free.
      }
    },
  });
  return new Response(body, { headers });
}
