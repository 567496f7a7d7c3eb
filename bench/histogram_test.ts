/**
 * Tests of {@linkcode Histogram}.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { Histogram } from "./histogram.ts";

function near(actual: number, expected: number): void {
  ok(
    Math.abs(actual - expected) <= expected * 0.01,
    `${actual} is not within 1 % of ${expected}`,
  );
}

Deno.test("Histogram answers quantiles within a bucket's width", () => {
  const histogram = new Histogram();
  for (let i = 1; i <= 1000; i++) histogram.record(i / 100);
  equal(histogram.count, 1000);
  near(histogram.quantile(0.5), 5);
  near(histogram.quantile(0.99), 9.9);
  near(histogram.quantile(1), 10);
});

Deno.test("Histogram forgets everything on reset", () => {
  const histogram = new Histogram();
  histogram.record(1);
  histogram.reset();
  equal(histogram.count, 0);
  ok(Number.isNaN(histogram.quantile(0.5)));
});
