/**
 * Turns errors into the tail of a one-line message, the way Pulse's messages
 * read: "Cannot connect to 127.0.0.1:8888: connection refused".
 *
 * @module
 */

/**
 * An error's message, lower-cased at the start and without the OS's error
 * number, to follow a colon.
 *
 * @param error What was thrown.
 * @returns The message, such as `"connection refused"`.
 */
export function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ \(os error \d+\)$/, "").replace(
    /^[A-Z](?=[a-z])/,
    (first) => first.toLowerCase(),
  );
}
