/**
 * Counts complete answers in a stream of bytes read from a Pulse connection.
 *
 * Every answer of the protocol ends at its first empty line: `ok\n\n`,
 * `ok\n<samples>\n\n` and `error\n<msg>\n\n` all end with the first `\n\n`
 * and no answer holds an empty line before its end. So counting answers only
 * needs the position of newline bytes, which `Uint8Array.prototype.indexOf`
 * finds far faster than a byte loop in JavaScript. A terminator may be split
 * across two reads, so the scanner carries one bit of state between chunks.
 *
 * @module
 */

const NEWLINE = 0x0a;
const ERROR_INITIAL = 0x65; // "e", the first byte of an `error` answer.
const ERROR_EXCERPT_BYTES = 200;

/** Counts answers, newlines and error answers across chunk boundaries. */
export class AnswerScanner {
  /** Complete answers seen so far. */
  answers = 0;
  /** Answers whose newlines were counted (by {@linkcode scan}). */
  linedAnswers = 0;
  /** Newline bytes seen so far, to tell how many lines an answer had. */
  newlines = 0;
  /** Answers that started with `error`. */
  errors = 0;
  /** The start of the first error answer, decoded, for the report. */
  firstError: string | undefined;

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

  /**
   * Scans `chunk` when exactly one request is outstanding: its bytes are
   * all of one answer, which is complete when they end with the empty line
   * (no answer holds one before its end). Costs O(1) instead of a search
   * through every line of a long answer. Newlines are not counted.
   *
   * @param chunk The bytes just read, in stream order.
   * @returns 1 when the answer is complete, else 0.
   */
  scanOne(chunk: Uint8Array): number {
    const length = chunk.length;
    if (length === 0) return 0;
    if (this.#atAnswerStart) {
      this.#checkAnswerStart(chunk, 0);
      this.#atAnswerStart = false;
    }
    const ended = chunk[length - 1] === NEWLINE &&
      (length > 1 ? chunk[length - 2] === NEWLINE : this.#pendingNewline);
    this.#pendingNewline = !ended && chunk[length - 1] === NEWLINE;
    if (!ended) return 0;
    this.#atAnswerStart = true;
    this.answers++;
    return 1;
  }

  #checkAnswerStart(chunk: Uint8Array, offset: number): void {
    if (chunk[offset] !== ERROR_INITIAL) return;
    this.errors++;
    this.firstError ??= new TextDecoder().decode(
      chunk.subarray(offset, offset + ERROR_EXCERPT_BYTES),
    ).trimEnd();
  }
}
