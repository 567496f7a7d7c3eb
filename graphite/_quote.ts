/**
 * Quoting what senders sent for the log: cut short, and with control
 * characters escaped, so that a hostile path can neither flood the log nor
 * write escape sequences to an operator's terminal.
 *
 * @module
 */

/** How much of a sender's text is quoted. */
export const QUOTED_CHARACTERS = 200;

/**
 * Quotes `text` as a JSON string, cut after {@linkcode QUOTED_CHARACTERS}
 * characters with `...` after the quote.
 *
 * @param text What a sender sent: a line, a path.
 * @returns Such as `"palm.cpu abc 1"`.
 */
export function quote(text: string): string {
  return text.length > QUOTED_CHARACTERS
    ? `${JSON.stringify(text.slice(0, QUOTED_CHARACTERS))}...`
    : JSON.stringify(text);
}
