import { strictEqual as equal, throws } from "node:assert/strict";
import { parseStep, parseTime, STEPS } from "../internal/time.ts";

const NOW = 1501864247;

Deno.test("`parseTime()` reads now, durations before now, ISO 8601 and Unix seconds", async (t) => {
  const cases: [string, number][] = [
    ["now", NOW],
    ["-1h", NOW - 3600],
    ["-30m", NOW - 1800],
    ["-7d", NOW - 7 * 86400],
    ["-1.5s", NOW - 1],
    ["-250ms", NOW],
    ["1501864247", 1501864247],
    ["+1501864247", 1501864247],
    ["-60", -60],
    ["0", 0],
    ["9007199254740991", Number.MAX_SAFE_INTEGER],
    ["2017-08-04", 1501804800],
    ["2017-08-04T16:30:47Z", 1501864247],
    ["2017-08-04T16:30:47.999Z", 1501864247],
    ["2017-08-04T16:30Z", 1501864200],
    ["2017-08-04T18:30:47+02:00", 1501864247],
    ["2017-08-04t16:30:47z", 1501864247],
    ["2016-02-29", 1456704000],
  ];
  for (const [text, seconds] of cases) {
    await t.step(text, () => equal(parseTime(text, NOW), seconds));
  }
  await t.step("a date-time without an offset is local time", () => {
    equal(
      parseTime("2017-08-04T16:30:47", NOW),
      new Date(2017, 7, 4, 16, 30, 47).getTime() / 1000,
    );
  });
});

Deno.test("`parseTime()` refuses other forms with a clear error", async (t) => {
  for (
    const text of [
      "",
      "yesterday",
      "NOW",
      "-1x",
      "-1h ",
      " now",
      "+1h",
      "1h",
      "1.5",
      "1e9",
      "9007199254740992",
      "2017-02-30",
      "2017-13-01",
      "2017-08-04T25:00Z",
      "2017-08-04 16:30:47",
      "2017-08-04foo",
      "17-08-04",
      "Fri, 04 Aug 2017 16:30:47 GMT",
    ]
  ) {
    await t.step(JSON.stringify(text), () => {
      throws(() => parseTime(text, NOW), {
        name: "RangeError",
        message:
          `Cannot read the time "${text}": use Unix seconds, now, a duration before now such as -1h, or an ISO 8601 date such as 2017-08-04T16:30:47Z`,
      });
    });
  }
});

Deno.test("`parseStep()` reads whole seconds, plain or as a duration", async (t) => {
  for (
    const [text, seconds] of [
      ["60", 60],
      ["1", 1],
      ["1m", 60],
      ["1h", 3600],
      ["2000ms", 2],
      ["1.5m", 90],
    ] as const
  ) {
    await t.step(text, () => equal(parseStep(text), seconds));
  }
  for (const text of ["0", "0s", "1.5s", "500ms", "-60", "1e3", "", "1 m"]) {
    await t.step(`${JSON.stringify(text)} is refused`, () => {
      throws(() => parseStep(text), {
        name: "RangeError",
        message:
          `Cannot read the step "${text}": use whole seconds, such as 60 or 1m`,
      });
    });
  }
});

Deno.test("`STEPS` rise, each a whole number of seconds up to a day", () => {
  for (let i = 1; i < STEPS.length; i++) {
    equal(STEPS[i] > STEPS[i - 1], true, `${STEPS[i]} after ${STEPS[i - 1]}`);
  }
  equal(STEPS.every(Number.isSafeInteger), true);
  equal(STEPS.at(-1), 86400);
});
