import {
  deepStrictEqual as deepEqual,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import {
  parseArgs,
  readCount,
  readDuration,
  readNumber,
  readSize,
} from "../cli/flags.ts";

const SPEC = {
  string: ["port", "step", "http-host"],
  boolean: ["help", "tls"],
  collect: ["http-host"],
  alias: { h: "help" },
  default: { port: "8888" },
} as const;

Deno.test("`parseArgs()` reads flags and positionals", async (t) => {
  await t.step("nothing given: defaults", () => {
    deepEqual(parseArgs([], SPEC), {
      _: [],
      port: "8888",
      step: undefined,
      "http-host": [],
      help: false,
      tls: false,
    });
  });
  await t.step("--flag value, --flag=value, -h and repeats", () => {
    deepEqual(
      parseArgs([
        "query",
        "--port",
        "9000",
        "--step=1m",
        "-h",
        "--tls",
        "--http-host",
        "a",
        "--http-host=b=c",
        "x",
      ], SPEC),
      {
        _: ["query", "x"],
        port: "9000",
        step: "1m",
        "http-host": ["a", "b=c"],
        help: true,
        tls: true,
      },
    );
  });
  await t.step("the last of a repeated flag wins", () => {
    equal(parseArgs(["--port", "1", "--port=2"], SPEC).port, "2");
  });
  await t.step("an empty value is a value", () => {
    equal(parseArgs(["--step="], SPEC).step, "");
    equal(parseArgs(["--step", ""], SPEC).step, "");
  });
  await t.step("a value may start with a dash", () => {
    equal(parseArgs(["--step", "-1"], SPEC).step, "-1");
    equal(parseArgs(["--step", "--tls"], SPEC).tls, false);
  });
  await t.step("-1h, -5, -.5 and - are positionals", () => {
    deepEqual(parseArgs(["-1h", "-5", "-.5", "-"], SPEC)._, [
      "-1h",
      "-5",
      "-.5",
      "-",
    ]);
  });
  await t.step("-- ends the flags", () => {
    deepEqual(parseArgs(["--tls", "--", "--help", "-h"], SPEC), {
      ...parseArgs(["--tls"], SPEC),
      _: ["--help", "-h"],
    });
  });
});

Deno.test("`parseArgs()` refuses what it cannot read", async (t) => {
  const cases: [string[], string][] = [
    [["--frobnicate"], "Cannot use --frobnicate: there is no such option"],
    [["--token=s3cret"], "Cannot use --token: there is no such option"],
    [["-x"], "Cannot use -x: there is no such option"],
    [["-hh"], "Cannot use -hh: there is no such option"],
    [["--h"], "Cannot use --h: there is no such option"],
    [["--PORT", "1"], "Cannot use --PORT: there is no such option"],
    [["--tls=yes"], "Cannot give --tls a value: it is a switch"],
    [["--port"], "Cannot read --port: it needs a value"],
    [["put", "--http-host"], "Cannot read --http-host: it needs a value"],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      throws(() => parseArgs(args, SPEC), { name: "UsageError", message });
    });
  }
});

Deno.test("`readCount()` reads whole numbers in range", async (t) => {
  equal(readCount("--n", "0"), 0);
  equal(readCount("--n", "007"), 7);
  equal(readCount("--port", "65535", { max: 65535 }), 65535);
  const cases: [string, Parameters<typeof readCount>[2], string][] = [
    ["", {}, "--n must be a whole number"],
    ["1.5", {}, "--n must be a whole number"],
    ["-1", {}, "--n must be a whole number"],
    ["1e3", {}, "--n must be a whole number"],
    ["9007199254740992", {}, "--n must be a whole number"],
    ["0", { min: 1 }, "--n must be at least 1"],
    ["0", { min: 1, max: 9 }, "--n must be an integer from 1 to 9"],
    ["10", { min: 1, max: 9 }, "--n must be an integer from 1 to 9"],
    ["x", { max: 9 }, "--n must be an integer from 0 to 9"],
  ];
  for (const [text, options, message] of cases) {
    await t.step(`${JSON.stringify(text)} ${JSON.stringify(options)}`, () => {
      throws(() => readCount("--n", text, options), {
        name: "UsageError",
        message,
      });
    });
  }
});

Deno.test("`readSize()` and `readDuration()` read units and a least value", async (t) => {
  await t.step("sizes", () => {
    equal(readSize("--max-output", "64KiB"), 65536);
    equal(readSize("--max-output", "0"), 0);
    throws(() => readSize("--max-output", "0", { min: 1 }), {
      name: "UsageError",
      message: "--max-output must be at least 1 byte",
    });
    throws(() => readSize("--max-output", "1", { min: 2 }), {
      message: "--max-output must be at least 2 bytes",
    });
    throws(() => readSize("--max-output", "lots"), {
      name: "UsageError",
      message:
        '--max-output: Cannot read the size "lots": use a number of bytes, or k, MiB or GiB',
    });
  });
  await t.step("durations", () => {
    equal(readDuration("--every", "1.5s"), 1500);
    equal(readDuration("--every", "0s"), 0);
    throws(() => readDuration("--every", "500ms", { min: 1000 }), {
      name: "UsageError",
      message: "--every must be at least 1s",
    });
    throws(() => readDuration("--x", "1m", { min: 120_000 }), {
      message: "--x must be at least 2m",
    });
    throws(() => readDuration("--x", "1ms", { min: 1500 }), {
      message: "--x must be at least 1500ms",
    });
    throws(() => readDuration("--every", "often"), {
      name: "UsageError",
      message:
        '--every: Cannot read the duration "often": use a number and ms, s, m, h, d or w, such as 30d',
    });
  });
});

Deno.test("`readNumber()` reads decimal numbers of at least or above a least one", () => {
  equal(readNumber("--x", "3"), 3);
  equal(readNumber("--x", "0"), 0);
  equal(readNumber("--x", "0.25", { above: true }), 0.25);
  equal(readNumber("--x", "2", { min: 2 }), 2);
  for (const text of ["", "-1", "1e3", ".5", "5.", "inf", "0x1", " 1"]) {
    throws(() => readNumber("--x", text), {
      name: "UsageError",
      message: "--x must be a number of at least 0",
    });
  }
  throws(() => readNumber("--x", "0", { above: true }), {
    message: "--x must be a number above 0",
  });
  throws(() => readNumber("--x", "1.5", { min: 2 }), {
    message: "--x must be a number of at least 2",
  });
});
