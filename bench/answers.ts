/**
 * Counts complete answers in a stream of bytes read from a Pulse connection.
 *
 * Every answer of the protocol ends at its first empty line: `ok\n\n`,
 * `ok\n<samples>\n\n` and `error\n<msg>\n\n` all end with the first `\n\n`
 * and no answer holds an empty line before its end. So counting answers only
 * needs the positions of `\n\n`, which `Buffer.prototype.indexOf` finds in
 * native code; counting every newline too (to check how many lines answers
 * have) costs a call per line, so it can be switched off once enough answers
 * were checked, keeping the load generator's cost per answer small next to
 * the server's. A terminator may be split across two reads, so the scanner
 * carries one bit of state between chunks.
 *
 * @module
 */

import { Buffer } from "node:buffer";

const NEWLINE = 0x0a;
const TERMINATOR = Buffer.from("\n\n");
const ERROR_INITIAL = 0x65; // "e", the first byte of an `error` answer.
const ERROR_EXCERPT_BYTES = 200;

/** Counts answers, newlines and error answers across chunk boundaries. */
export class AnswerScanner {
  /** Complete answers seen so far. */
  answers = 0;
  /** Answers seen while newlines were counted. */
  linedAnswers = 0;
  /** Newline bytes seen so far, to tell how many lines an answer had. */
  newlines = 0;
  /** Answers that started with `error`. */
  errors = 0;
  /** The start of the first error answer, decoded, for the report. */
  firstError: string | undefined;
  /** Whether to count newlines; off, only answers and errors are counted. */
  countLines = true;

  #pendingNewline = false;
  #atAnswerStart = true;

  /**
   * Scans `chunk` and returns how many answers it completed.
   *
   * @param chunk The bytes just read, in stream order.
   */
  scan(chunk: Uint8Array): number {
    const length = chunk.length;
    if (length === 0) return 0;
    if (this.#atAnswerStart) {
      this.#checkAnswerStart(chunk, 0);
      this.#atAnswerStart = false;
    }
    if (!this.countLines) return this.#scanAnswers(chunk);
    let completed = 0;
    // A newline left pending by the previous chunk acts as if it sat at -1.
    let last = this.#pendingNewline ? -1 : -2;
    let pending = this.#pendingNewline;
    let index = chunk.indexOf(NEWLINE);
    while (index !== -1) {
      this.newlines++;
      if (pending && index === last + 1) {
        completed++;
        pending = false;
        if (index + 1 < length) {
          this.#checkAnswerStart(chunk, index + 1);
        } else {
          this.#atAnswerStart = true;
        }
      } else {
        pending = true;
      }
      last = index;
      index = chunk.indexOf(NEWLINE, index + 1);
    }
    this.#pendingNewline = pending && last === length - 1;
    this.answers += completed;
    this.linedAnswers += completed;
    return completed;
  }

  /** Finds only the answers' ends, with a native search for `\n\n`. */
  #scanAnswers(chunk: Uint8Array): number {
    const length = chunk.length;
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, length);
    let completed = 0;
    let from = 0;
    if (this.#pendingNewline && chunk[0] === NEWLINE) {
      completed++;
      from = 1;
      this.#answerStartsAt(chunk, from);
    }
    let end = bytes.indexOf(TERMINATOR, from);
    while (end !== -1) {
      completed++;
      from = end + 2;
      this.#answerStartsAt(chunk, from);
      end = bytes.indexOf(TERMINATOR, from);
    }
    this.#pendingNewline = from < length && chunk[length - 1] === NEWLINE;
    this.answers += completed;
    return completed;
  }

  #answerStartsAt(chunk: Uint8Array, offset: number): void {
    if (offset < chunk.length) this.#checkAnswerStart(chunk, offset);
    else this.#atAnswerStart = true;
  }

  #checkAnswerStart(chunk: Uint8Array, offset: number): void {
    if (chunk[offset] !== ERROR_INITIAL) return;
    this.errors++;
    this.firstError ??= new TextDecoder().decode(
      chunk.subarray(offset, offset + ERROR_EXCERPT_BYTES),
    ).trimEnd();
  }
}
