/**
 * JSON answers: whole ones, errors as `{"error":"..."}`, and streamed ones
 * made piece by piece as the client takes them, giving other clients a turn
 * while they are made.
 *
 * @module
 */

import { streamPieces } from "./_streamed.ts";

/** The content type of every JSON answer. */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/json; charset=utf-8",
};

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
 * A JSON answer whose body is made piece by piece as it is read (see
 * {@linkcode streamPieces}).
 *
 * @param pieces The answer's text, in pieces.
 * @returns The response.
 */
export function streamJson(
  pieces: Generator<string> | AsyncGenerator<string>,
): Response {
  return streamPieces(pieces, JSON_HEADERS);
}
