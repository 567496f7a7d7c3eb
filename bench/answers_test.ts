/**
 * Tests of {@linkcode AnswerScanner}.
 *
 * @module
 */

import {
  deepStrictEqual as deepEqual,
  strictEqual as equal,
} from "node:assert/strict";
import { AnswerScanner } from "./answers.ts";

const STREAM = new TextEncoder().encode(
  "ok\n\nok\na.cpu 1 2\na.cpu 3 4\n\nerror\nwrong command\n\nok\npong\n\n",
);

Deno.test("AnswerScanner counts answers, lines and errors", () => {
  const scanner = new AnswerScanner();
  equal(scanner.scan(STREAM), 4);
  deepEqual(
    [scanner.answers, scanner.newlines, scanner.errors],
    [4, 12, 1],
  );
  equal(scanner.firstError, "error\nwrong command\n\nok\npong");
});

Deno.test("AnswerScanner finds terminators split at any chunk boundary", () => {
  for (let first = 0; first <= STREAM.length; first++) {
    for (let second = first; second <= STREAM.length; second++) {
      const scanner = new AnswerScanner();
      const completed = scanner.scan(STREAM.subarray(0, first)) +
        scanner.scan(STREAM.subarray(first, second)) +
        scanner.scan(STREAM.subarray(second));
      equal(completed, 4, `split at ${first} and ${second}`);
      equal(scanner.errors, 1, `split at ${first} and ${second}`);
    }
  }
});

Deno.test("AnswerScanner does not end an answer at newlines across data", () => {
  const scanner = new AnswerScanner();
  const encoder = new TextEncoder();
  equal(scanner.scan(encoder.encode("ok\na.cpu 1 2\n")), 0);
  equal(scanner.scan(encoder.encode("a.cpu 3 4\n")), 0);
  equal(scanner.scan(encoder.encode("\n")), 1);
});

Deno.test("AnswerScanner.scanOne() ends one answer at its empty line, split anywhere", () => {
  const answer = new TextEncoder().encode("ok\na.cpu 1 2\na.cpu 3 4\n\n");
  for (let first = 0; first <= answer.length; first++) {
    for (let second = first; second <= answer.length; second++) {
      const scanner = new AnswerScanner();
      const parts = [
        answer.subarray(0, first),
        answer.subarray(first, second),
        answer.subarray(second),
      ];
      const completed = parts.map((part) => scanner.scanOne(part));
      const last = parts.findLastIndex((part) => part.length > 0);
      deepEqual(
        completed,
        parts.map((_, i) => i === last ? 1 : 0),
        `split at ${first} and ${second}`,
      );
    }
  }
  const error = new AnswerScanner();
  equal(error.scanOne(new TextEncoder().encode("error\nwrong command\n\n")), 1);
  equal(error.errors, 1);
});
