import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import {
  parseClickHouseUrl,
  serverError,
} from "../storage/clickhouse/_client.ts";
import { HybridClock } from "../storage/clickhouse/_hybrid_clock.ts";
import { literalPrefixes } from "../storage/clickhouse/_prefixes.ts";
import { quote } from "../storage/clickhouse/_sql.ts";
import { Pattern } from "../store/pattern.ts";

/** The clock's last version. */
function version(clock: HybridClock): bigint {
  clock.tick();
  return clock.last();
}

Deno.test("`HybridClock.tick()` gives increasing versions that carry the front end's number", async (t) => {
  await t.step("within a millisecond, and across them", () => {
    let now = 1_700_000_000_000;
    const clock = new HybridClock(5, () => now);
    const first = version(clock);
    equal(first, (BigInt(now) << 20n) + 5n);
    const second = version(clock);
    equal(second, first + 1024n);
    now++;
    equal(version(clock), (BigInt(now) << 20n) + 5n);
  });
  await t.step("when the wall clock steps back", () => {
    let now = 1_700_000_000_000;
    const clock = new HybridClock(1, () => now);
    const before = version(clock);
    now -= 60_000;
    const after = version(clock);
    assert(after > before);
    equal(after >> 20n, before >> 20n);
  });
  await t.step("past 1,024 puts in a millisecond, into the next", () => {
    const clock = new HybridClock(0, () => 1_000);
    let last = -1n;
    for (let i = 0; i < 3000; i++) {
      const next = version(clock);
      assert(next > last);
      last = next;
    }
    equal(last >> 20n, 1002n);
  });
  await t.step("past a version seen elsewhere", () => {
    const clock = new HybridClock(3, () => 1_000);
    const seen = (5_000n << 20n) + (7n << 10n) + 9n;
    clock.observe(seen);
    assert(version(clock) > seen);
    equal(clock.last() & 1023n, 3n);
  });
  await t.step("two front ends never give the same version", () => {
    const a = new HybridClock(1, () => 1_000);
    const b = new HybridClock(2, () => 1_000);
    const versions = new Set<bigint>();
    for (let i = 0; i < 2000; i++) {
      versions.add(version(a));
      versions.add(version(b));
    }
    equal(versions.size, 4000);
  });
  await t.step("refuses a number out of range", () => {
    throws(() => new HybridClock(1024), RangeError);
    throws(() => new HybridClock(-1), RangeError);
  });
});

Deno.test("`quote()` escapes what would end a ClickHouse string literal", () => {
  deepEqual(
    ["plain", "it's", "a\\b", "\x00\x1f\x7f", "é🙂"].map(quote),
    ["'plain'", "'it\\'s'", "'a\\\\b'", "'\\x00\\x1f\\x7f'", "'é🙂'"],
  );
});

Deno.test("`literalPrefixes()` gives the literal start of every alternative", () => {
  const prefixes = (source: string) => literalPrefixes(new Pattern(source));
  deepEqual(prefixes("a.b.*"), ["a.b."]);
  deepEqual(prefixes("{a,b}.**"), ["a.", "b."]);
  deepEqual(prefixes("a.{x,*}"), ["a.x", "a."]);
  deepEqual(prefixes("{a.*,*.b}"), []);
  deepEqual(prefixes("a*.b"), []);
});

Deno.test("`parseClickHouseUrl()` reads the address and hides the password", async (t) => {
  await t.step("user, password and database", () => {
    const address = parseClickHouseUrl("http://us%40er:p%3Ass@ch:8123/metrics");
    equal(address.endpoint, "http://ch:8123/");
    equal(address.database, "metrics");
    equal(address.authorization, `Basic ${btoa("us@er:p:ss")}`);
    equal(address.shown, "http://us%40er@ch:8123/metrics");
  });
  await t.step("the default database, and no login", () => {
    const address = parseClickHouseUrl("https://ch:8443");
    equal(address.database, "pulse");
    equal(address.authorization, undefined);
  });
  await t.step("what it refuses", () => {
    for (
      const url of ["ch:8123", "ftp://ch/x", "http://ch/a/b", "http://ch/x?y=1"]
    ) {
      throws(() => parseClickHouseUrl(url), TypeError, url);
    }
  });
});

Deno.test("`serverError()` makes one line of ClickHouse's error text", () => {
  const error = serverError(
    "Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist., e.what() = DB::Exception\n",
  );
  equal(error.message, "Table x.y doesn't exist. (code 60)");
  equal(error.code, 60);
  equal(serverError("something else\nmore").message, "something else");
});
