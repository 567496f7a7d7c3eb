/**
 * Compiles a pattern and matches keys with it, in a worker: a test can give
 * up on a pattern that stalls, which `within()` cannot do for work on the
 * test's own thread.
 *
 * It receives `{ source, keys }` and answers `{ tested, matched }`, the keys
 * that `Pattern.test()` and `Store.match()` find in a store of `keys`, or
 * `{ error: { name, message } }` when the pattern is refused.
 *
 * @module
 */

import { Pattern } from "../store/pattern.ts";
import { Store } from "../store.ts";

/** What the worker is asked. */
export interface PatternJob {
  /** The pattern. */
  source: string;
  /** The keys to match against it. */
  keys: string[];
}

/** What the worker answers. */
export type PatternOutcome =
  | { tested: string[]; matched: string[] }
  | { error: { name: string; message: string } };

// The worker's global scope: the type checker reads every file as a window.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<PatternJob>) => void) | null;
  postMessage(message: PatternOutcome): void;
};

scope.onmessage = (event: MessageEvent<PatternJob>) => {
  const { source, keys } = event.data;
  let outcome: PatternOutcome;
  try {
    const store = new Store();
    for (const key of keys) store.put(key, 1, 1);
    const pattern = new Pattern(source);
    outcome = {
      tested: keys.filter((key) => pattern.test(key)),
      matched: store.match(pattern).map((series) => series.key),
    };
  } catch (error) {
    const { name, message } = error as Error;
    outcome = { error: { name, message } };
  }
  scope.postMessage(outcome);
};
