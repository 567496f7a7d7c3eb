/**
 * The HTTP pieces the Graphite endpoints share: their parameters, read from
 * the query string and a form body as graphite-web merges them; plain-text
 * errors as graphite-web answers them; and answers streamed a piece at a
 * time, giving other clients turns.
 *
 * @module
 */

import type { Pacer } from "./_pacer.ts";

const ENCODER = new TextEncoder();
const UTF8 = new TextDecoder("utf-8", { fatal: true });
// Characters of an answer sent per chunk.
const CHUNK_CHARS = 64 * 1024;

/** The default of `maxBodyBytes`: 1 MiB of form body. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** The methods every Graphite endpoint takes. */
const METHODS = ["GET", "POST"];

/**
 * A plain-text answer, as graphite-web gives errors.
 *
 * @param status The status.
 * @param message The text.
 * @param headers More headers.
 * @returns The response.
 */
export function textResponse(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(message, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * The request's parameters: the query string's, then the form body's, or
 * an error answer.
 *
 * @param request The request.
 * @param maxBodyBytes The largest body taken.
 * @returns The parameters, or the response refusing the request.
 */
export async function readParams(
  request: Request,
  maxBodyBytes: number,
): Promise<URLSearchParams | Response> {
  if (!METHODS.includes(request.method)) {
    await request.body?.cancel();
    return textResponse(
      405,
      `Cannot ${request.method} here: use GET or POST`,
      { allow: METHODS.join(", ") },
    );
  }
  const params = new URLSearchParams(new URL(request.url).search);
  if (request.body === null) return params;
  const type = (request.headers.get("content-type") ?? "").split(";")[0]
    .trim().toLowerCase();
  const body = await readBody(request, maxBodyBytes);
  if (body === undefined) {
    return textResponse(
      413,
      `Cannot read the body: it is larger than ${maxBodyBytes} bytes`,
    );
  }
  if (body.length === 0) return params;
  if (type !== "application/x-www-form-urlencoded") {
    return textResponse(
      415,
      "Cannot read the body: send the parameters as application/x-www-form-urlencoded",
    );
  }
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    return textResponse(400, "Cannot read the body: it is not valid UTF-8");
  }
  for (const [name, value] of new URLSearchParams(text)) {
    params.append(name, value);
  }
  return params;
}

/** Reads a body of at most `max` bytes; `undefined` when it is larger. */
async function readBody(
  request: Request,
  max: number,
): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > max) {
    await request.body?.cancel();
    return undefined;
  }
  const parts: Uint8Array[] = [];
  let length = 0;
  const reader = request.body!.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > max) {
      await reader.cancel();
      return undefined;
    }
    parts.push(value);
  }
  const body = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.length;
  }
  return body;
}

/**
 * An answer whose body is made piece by piece as the client reads it, in
 * chunks of about 64 KiB, giving other clients turns.
 *
 * @param pieces The text, in pieces.
 * @param contentType The answer's type.
 * @param pacer Paces the work; disposed of when the body ends.
 * @returns The response.
 */
export function streamResponse(
  pieces: Iterator<string>,
  contentType: string,
  pacer: Pacer,
): Response {
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let text = "";
      while (text.length < CHUNK_CHARS) {
        const next = pieces.next();
        if (next.done) {
          if (text.length > 0) controller.enqueue(ENCODER.encode(text));
          controller.close();
          pacer[Symbol.dispose]();
          return;
        }
        text += next.value;
        await pacer.pause();
      }
      controller.enqueue(ENCODER.encode(text));
    },
    cancel() {
      pieces.return?.(undefined);
      pacer[Symbol.dispose]();
    },
  });
  return new Response(body, { headers: { "content-type": contentType } });
}

/**
 * A JSON answer of text already made.
 *
 * @param text The JSON.
 * @param contentType The type, `application/json` by default.
 * @returns The response.
 */
export function jsonResponse(
  text: string,
  contentType = "application/json",
): Response {
  return new Response(text, { headers: { "content-type": contentType } });
}
