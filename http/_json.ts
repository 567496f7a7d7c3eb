/**
 * JSON answers: whole ones, errors as `{"error":"..."}`, and streamed ones
 * made piece by piece as the client takes them, giving other clients a turn
 * while they are made.
 *
 * @module
 */

import { EventLoopTurns, nextTurn } from "../internal/turns.ts";

/** The content type of every JSON answer. */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/json; charset=utf-8",
};

const ENCODER = new TextEncoder();
// A streamed answer leaves in chunks of about this many characters.
const CHUNK_CHARS = 64 * 1024;
// Milliseconds of making an answer before other requests and connections get
// a turn: a roll-up of millions of samples makes little text, but must not
// hold the event loop meanwhile.
const SLICE_MS = 10;

/**
 * A JSON answer.
 *
 * @param status The status.
 * @param body What to send, as `JSON.stringify` writes it.
 * @returns The response.
 */
export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

/**
 * An error answer: `{"error":"<message>", ...details}`.
 *
 * @param status A 4xx or 5xx status.
 * @param message What is wrong, for the client.
 * @param details More fields, such as the bad line's number.
 * @returns The response.
 */
export function fail(
  status: number,
  message: string,
  details: Record<string, unknown> = {},
): Response {
  return json(status, { error: message, ...details });
}

/**
 * A JSON answer whose body is made piece by piece as it is read: each pull
 * joins pieces into a chunk of about 64 KiB, waiting for a turn of the
 * event loop whenever it has held it for 10 ms.
 *
 * @param pieces The answer's text, in pieces.
 * @returns The response.
 */
export function streamJson(
  pieces: Generator<string> | AsyncGenerator<string>,
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
  return new Response(body, { headers: JSON_HEADERS });
}
