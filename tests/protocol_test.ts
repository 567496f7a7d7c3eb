import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import { AnswerWriter } from "../protocol/answer_writer.ts";
import { findAnswerEnd, SampleLineReader } from "../protocol/answer_reader.ts";
import { formatValue } from "../protocol/format_value.ts";
import { KeyDecoder } from "../protocol/key_decoder.ts";
import {
  type Request,
  RequestParser,
  WRONG_COMMAND,
} from "../protocol/request.ts";
import { bytes, concat, decoder, randomInt, rng } from "./_helpers.ts";

const INVALID: Request = { command: "invalid", message: WRONG_COMMAND };

/**
 * Parses `line` the way the server does, placed inside other bytes so that
 * the offsets are honoured.
 */
function parse(line: string | Uint8Array, parser = new RequestParser()) {
  const body = typeof line === "string" ? bytes(line) : line;
  const framed = concat(bytes("put x 1 1\n"), body, bytes("\nget y z"));
  const request = parser.parse(framed, 10, 10 + body.length);
  // The parser may reuse the object it returns: copy it.
  return request === undefined ? undefined : { ...request };
}

/** The value `put k <text> 1` stores, or undefined when it is refused. */
function parseValue(text: string): number | undefined {
  const request = parse(`put k ${text} 1`);
  return request?.command === "put" ? request.value : undefined;
}

/** The timestamp `put k 1 <text>` stores, or undefined when refused. */
function parseTimestamp(text: string): number | undefined {
  const request = parse(`put k 1 ${text}`);
  return request?.command === "put" ? request.timestamp : undefined;
}

/**
 * Python's `str(float(text))` for each text, generated with Python 3.11 when
 * the test was written (Python need not be installed to run it).
 */
const PYTHON_STR: [text: string, printed: string][] = [
  ["10", "10.0"],
  ["4200000", "4200000.0"],
  ["0.1", "0.1"],
  ["10.60", "10.6"],
  ["1e16", "1e+16"],
  ["1e-05", "1e-05"],
  ["123456789012345678", "1.2345678901234568e+17"],
  ["-0", "-0.0"],
  ["0.0001", "0.0001"],
  ["1e-4", "0.0001"],
  ["0.00009999999999999999", "9.999999999999999e-05"],
  ["9.999999999999999e-05", "9.999999999999999e-05"],
  ["9999999999999998.0", "9999999999999998.0"],
  ["9999999999999999.0", "1e+16"],
  ["1e22", "1e+22"],
  ["5e-324", "5e-324"],
  ["1.7976931348623157e+308", "1.7976931348623157e+308"],
  ["0.30000000000000004", "0.30000000000000004"],
  ["0", "0.0"],
  ["1", "1.0"],
  ["-1", "-1.0"],
  ["0.5", "0.5"],
  ["2.0", "2.0"],
  ["3", "3.0"],
  ["1e15", "1000000000000000.0"],
  ["1e21", "1e+21"],
  ["1e100", "1e+100"],
  ["-1e-7", "-1e-07"],
  ["1.5e-10", "1.5e-10"],
  ["123.456", "123.456"],
  ["-123.456", "-123.456"],
  ["0.001", "0.001"],
  ["1234567.891", "1234567.891"],
  ["2.5e-5", "2.5e-05"],
  ["100", "100.0"],
  ["-4200000", "-4200000.0"],
  ["1e300", "1e+300"],
  ["2.2250738585072014e-308", "2.2250738585072014e-308"],
  ["-2.2250738585072014e-308", "-2.2250738585072014e-308"],
  ["4.9406564584124654e-324", "5e-324"],
  ["0.1e-3", "0.0001"],
  ["12345678901234567890", "1.2345678901234567e+19"],
  ["999999999999999.9", "999999999999999.9"],
  ["1e23", "1e+23"],
  ["-1e16", "-1e+16"],
  ["1e17", "1e+17"],
  ["33.333333333333336", "33.333333333333336"],
  ["6.02214076e23", "6.02214076e+23"],
  ["-9007199254740993", "-9007199254740992.0"],
  ["9007199254740992", "9007199254740992.0"],
  ["0.000123", "0.000123"],
  ["1.0000000000000002", "1.0000000000000002"],
  ["12.0", "12.0"],
  ["13.0", "13.0"],
  ["0.00010000000000000002", "0.00010000000000000002"],
  ["1.0000000000000002e+16", "1.0000000000000002e+16"],
  ["1000000000000000.1", "1000000000000000.1"],
  ["0.0009999999999999998", "0.0009999999999999998"],
  ["0.0010000000000000002", "0.0010000000000000002"],
  ["9.999999999999999e-06", "9.999999999999999e-06"],
  ["1.0000000000000003e-05", "1.0000000000000003e-05"],
  ["0.3333333333333333", "0.3333333333333333"],
  ["0.6666666666666666", "0.6666666666666666"],
  ["9007199254740992.0", "9007199254740992.0"],
  ["9.223372036854776e+18", "9.223372036854776e+18"],
  ["9.5367431640625e-07", "9.5367431640625e-07"],
  ["1e-320", "1e-320"],
  ["1.23e-18", "1.23e-18"],
  ["5e-05", "5e-05"],
  ["0.00015", "0.00015"],
  ["999999999999999.5", "999999999999999.5"],
  ["999999999999999.0", "999999999999999.0"],
  ["1000000000000001.0", "1000000000000001.0"],
  ["-0.0001", "-0.0001"],
  ["-1e+16", "-1e+16"],
  ["-9.999999999999999e-05", "-9.999999999999999e-05"],
  ["4.492152248019643e+253", "4.492152248019643e+253"],
  ["4.389120112770094e+278", "4.389120112770094e+278"],
  ["160351883752.32532", "160351883752.32532"],
  ["-5.4399131119142674e+209", "-5.4399131119142674e+209"],
  ["4.383079907872608e-15", "4.383079907872608e-15"],
  ["8.614354442467737e+83", "8.614354442467737e+83"],
  ["-1.2985664392816573e+254", "-1.2985664392816573e+254"],
  ["-5.314965623006408e-268", "-5.314965623006408e-268"],
  ["-1.146488202889241e+126", "-1.146488202889241e+126"],
  ["3.420758551378043e+130", "3.420758551378043e+130"],
  ["2.3046315439163635e+204", "2.3046315439163635e+204"],
  ["1.1833994934170815e+51", "1.1833994934170815e+51"],
  ["-1.3055768296735293e+129", "-1.3055768296735293e+129"],
  ["-1.5748679552677205e-295", "-1.5748679552677205e-295"],
  ["2.51627196477289e-246", "2.51627196477289e-246"],
  ["-9.036613517376497e-130", "-9.036613517376497e-130"],
  ["-3.892215651960722e-55", "-3.892215651960722e-55"],
  ["3.589385198837107", "3.589385198837107"],
  ["-6.688184663054428e+185", "-6.688184663054428e+185"],
  ["-3.994044171376333e-290", "-3.994044171376333e-290"],
  ["5.2303534038858595e+73", "5.2303534038858595e+73"],
  ["-2.239361282907897e-76", "-2.239361282907897e-76"],
  ["1.9354693131874806e-215", "1.9354693131874806e-215"],
  ["-9.305240496802682e+156", "-9.305240496802682e+156"],
  ["-1.8471377613108987e-122", "-1.8471377613108987e-122"],
  ["2811461620697.4565", "2811461620697.4565"],
  ["6.962609881020059e+201", "6.962609881020059e+201"],
  ["-2.8696480509335243e-209", "-2.8696480509335243e-209"],
  ["-3.41619470970423e+138", "-3.41619470970423e+138"],
  ["6.616060051749092e+261", "6.616060051749092e+261"],
  ["-1.3769933585597693e-204", "-1.3769933585597693e-204"],
  ["4.2336503662127315e+279", "4.2336503662127315e+279"],
  ["2.887337660350333e+69", "2.887337660350333e+69"],
  ["2.4355366694702615e-200", "2.4355366694702615e-200"],
  ["2.3339888564043163e-139", "2.3339888564043163e-139"],
  ["-5.072987159160624e-140", "-5.072987159160624e-140"],
  ["-1.444561059875671e-188", "-1.444561059875671e-188"],
  ["8.719375264419009e+191", "8.719375264419009e+191"],
  ["1.7639331668509974e-241", "1.7639331668509974e-241"],
  ["-1.0435487072953564e-137", "-1.0435487072953564e-137"],
  ["-708004.5695", "-708004.5695"],
  ["-0.0", "-0.0"],
  ["211724987845.19434", "211724987845.19434"],
  ["0.9", "0.9"],
  ["852611777358788.2", "852611777358788.2"],
  ["571.210582", "571.210582"],
  ["-2194097904547.9426", "-2194097904547.9426"],
  ["-0.06975", "-0.06975"],
  ["-174159761460.90695", "-174159761460.90695"],
  ["-6.29815796", "-6.29815796"],
  ["-6387.507", "-6387.507"],
  ["180289410797.56", "180289410797.56"],
  ["2.4959147458081852e+16", "2.4959147458081852e+16"],
  ["-3e-08", "-3e-08"],
  ["-0.889861", "-0.889861"],
  ["-32553.3696", "-32553.3696"],
  ["2.7026918695216696e+16", "2.7026918695216696e+16"],
  ["6.272129946452765e+16", "6.272129946452765e+16"],
  ["2.628647", "2.628647"],
  ["98723875777.36705", "98723875777.36705"],
  ["6313951513.82", "6313951513.82"],
  ["913935095331.6521", "913935095331.6521"],
  ["0.0", "0.0"],
  ["896582715.0", "896582715.0"],
  ["-35951778.45582598", "-35951778.45582598"],
  ["-0.1", "-0.1"],
  ["3320536015926.863", "3320536015926.863"],
  ["197135017.8210729", "197135017.8210729"],
  ["45525519492.69512", "45525519492.69512"],
  ["-6562031901523058.0", "-6562031901523058.0"],
  ["-0.022", "-0.022"],
  ["7734171.33414", "7734171.33414"],
  ["-6.778873603942304e+16", "-6.778873603942304e+16"],
];

Deno.test("RequestParser.parse() reads a put", async (t) => {
  await t.step("the basic form", () => {
    deepEqual(parse("put palm.cpu 10.6 1501864247"), {
      command: "put",
      key: "palm.cpu",
      value: 10.6,
      timestamp: 1501864247,
    });
  });
  await t.step("runs of spaces and tabs, leading and trailing", () => {
    const expected = { command: "put", key: "k", value: 1.5, timestamp: 7 };
    deepEqual(parse("put\tk\t1.5\t7"), expected);
    deepEqual(parse("  put   k \t 1.5\t\t 7  "), expected);
    deepEqual(parse("\t put k 1.5 7\t"), expected);
  });
  await t.step("a key in UTF-8", () => {
    deepEqual(parse("put temp.°C.😀 1 2"), {
      command: "put",
      key: "temp.°C.😀",
      value: 1,
      timestamp: 2,
    });
  });
  await t.step("a key that looks like a number or a command", () => {
    equal((parse("put 12 1 2") as { key: string }).key, "12");
    equal((parse("put get 1 2") as { key: string }).key, "get");
  });
});

Deno.test("RequestParser.parse() reads values as finite decimals", async (t) => {
  const valid: [string, number][] = [
    ["10", 10],
    ["-1.5", -1.5],
    ["+2", 2],
    ["1e3", 1000],
    ["1E3", 1000],
    ["1e+3", 1000],
    ["1e-3", 0.001],
    [".5", 0.5],
    ["-.5", -0.5],
    ["+.5", 0.5],
    ["5.", 5],
    ["1.e2", 100],
    ["0", 0],
    ["-0", -0],
    ["-0.0", -0],
    ["007", 7],
    ["12.0", 12],
    ["10.60", 10.6],
    ["4200000", 4200000],
    ["123456789012345678", 123456789012345680],
    ["1e-400", 0],
    ["-1e-400", -0],
    ["1.7976931348623157e308", Number.MAX_VALUE],
    ["5e-324", Number.MIN_VALUE],
  ];
  for (const [text, value] of valid) {
    await t.step(`${text} -> ${Object.is(value, -0) ? "-0" : value}`, () => {
      equal(parseValue(text), value);
    });
  }
  const invalid = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "-Infinity",
    "0x10",
    "0b1",
    "0o7",
    "1,5",
    "1_0",
    "1e",
    "1e+",
    "1e-",
    "e5",
    "--1",
    "+-1",
    "-",
    "+",
    ".",
    "-.",
    ".e1",
    "1.2.3",
    "1e5.5",
    "1e1.0",
    "1ee5",
    "1..2",
    "1e309",
    "-1e309",
    "2e308",
    "1x",
    "１",
    "٣",
  ];
  for (const text of invalid) {
    await t.step(`${JSON.stringify(text)} is refused`, () => {
      deepEqual(parse(`put k ${text} 1`), INVALID);
    });
  }
});

Deno.test("RequestParser.parse() reads values exactly as Number() does", () => {
  const random = rng(20240601);
  const digits = (n: number) => {
    let s = "";
    for (let i = 0; i < n; i++) s += String(randomInt(random, 0, 9));
    return s;
  };
  // Lengths that favour the edges: none, few, about 15 to 17, many.
  const lengths = [0, 1, 2, 3, 5, 8, 14, 15, 16, 17, 18, 19, 22, 25, 40];
  const pick = <T>(items: T[]) => items[randomInt(random, 0, items.length - 1)];
  let checked = 0;
  while (checked < 20_000) {
    const sign = pick(["", "", "+", "-"]);
    const zeros = random() < 0.2 ? "0".repeat(randomInt(random, 1, 25)) : "";
    const whole = zeros + digits(pick(lengths));
    const hasDot = random() < 0.6;
    const fraction = hasDot
      ? (random() < 0.2 ? "0".repeat(randomInt(random, 1, 25)) : "") +
        digits(pick(lengths))
      : "";
    if (whole === "" && fraction === "") continue;
    let exponent = "";
    if (random() < 0.5) {
      const size = random() < 0.1
        ? randomInt(random, 280, 420)
        : random() < 0.5
        ? randomInt(random, 0, 25)
        : randomInt(random, 0, 330);
      exponent = pick(["e", "E"]) + pick(["", "+", "-"]) + String(size);
    }
    const text = sign + whole + (hasDot ? "." : "") + fraction + exponent;
    const expected = Number(text);
    equal(
      parseValue(text),
      Number.isFinite(expected) ? expected : undefined,
      `value ${text}`,
    );
    checked++;
  }
  // Hard cases for a fast path: halfway points, 2^53 neighbours, and
  // mantissas just past what fits exactly.
  for (
    const text of [
      "9007199254740993",
      "9007199254740992.5",
      "9007199254740995",
      "18014398509481993",
      "0.1000000000000000055511151231257827",
      "0.1000000000000000055511151231257828",
      "2.2250738585072011e-308",
      "2.2250738585072012e-308",
      "4.9406564584124654e-324",
      "2.4703282292062327e-324",
      "2.4703282292062328e-324",
      "1.7976931348623158e308",
      "1.7976931348623159e308",
      "123456789012345.67e7",
      "999999999999999999999e-22",
      "1000000000000000000000001e-24",
      "0.000000000000000000000000000001e30",
      "8.98846567431158e307",
      "1" + "0".repeat(400) + "e-400",
      "0." + "0".repeat(400) + "1e401",
    ]
  ) {
    const expected = Number(text);
    equal(
      parseValue(text),
      Number.isFinite(expected) ? expected : undefined,
      `value ${text}`,
    );
  }
});

Deno.test("RequestParser.parse() reads timestamps as safe integers", async (t) => {
  const valid: [string, number][] = [
    ["1503319740", 1503319740],
    ["+7", 7],
    ["007", 7],
    ["0", 0],
    ["-5", -5],
    ["9007199254740991", Number.MAX_SAFE_INTEGER],
    ["-9007199254740991", -Number.MAX_SAFE_INTEGER],
    ["+009007199254740991", Number.MAX_SAFE_INTEGER],
  ];
  for (const [text, timestamp] of valid) {
    await t.step(`${text} -> ${timestamp}`, () => {
      equal(parseTimestamp(text), timestamp);
    });
  }
  const invalid = [
    "9007199254740992",
    "-9007199254740992",
    "9007199254740993",
    "99999999999999999999",
    "1.5",
    "1.0",
    "1e3",
    "-",
    "+",
    "--1",
    "0x10",
    "1_0",
    "7a",
    "nan",
  ];
  for (const text of invalid) {
    await t.step(`${JSON.stringify(text)} is refused`, () => {
      deepEqual(parse(`put k 1 ${text}`), INVALID);
    });
  }
});

Deno.test("RequestParser.parse() reads get and ping", () => {
  deepEqual(parse("get palm.cpu"), { command: "get", key: "palm.cpu" });
  deepEqual(parse("get *"), { command: "get", key: "*" });
  deepEqual(parse("get test_key "), { command: "get", key: "test_key" });
  deepEqual(parse("\tget\t\tk "), { command: "get", key: "k" });
  deepEqual(parse("ping"), { command: "ping" });
  deepEqual(parse("  ping\t"), { command: "ping" });
});

Deno.test("RequestParser.parse() refuses a wrong command or arity", async (t) => {
  const lines = [
    "got test_key",
    "get wrong command test",
    "get a b",
    "get",
    "put",
    "put k",
    "put k 1",
    "put k  1", // an empty value is no token at all: too few arguments
    "put k 1 1 1",
    "put k 1 1 1 1 1 1 1 1 1 1 1",
    "ping x",
    "PUT k 1 1",
    "Put k 1 1",
    "GET k",
    "Get k",
    "PING",
    "puts k 1 1",
    "pu k 1 1",
    "getk",
    "put\u000bk 1 1",
    "x",
    "*",
  ];
  for (const line of lines) {
    await t.step(JSON.stringify(line), () => {
      deepEqual(parse(line), INVALID);
    });
  }
});

Deno.test("RequestParser.parse() refuses keys that are not valid UTF-8 or hold whitespace", async (t) => {
  const keys: [string, Uint8Array][] = [
    ["a lone 0xff", Uint8Array.of(0xff)],
    ["a truncated sequence", Uint8Array.of(0x61, 0xc3)],
    ["an overlong slash", Uint8Array.of(0xc0, 0xaf)],
    ["a surrogate", Uint8Array.of(0xed, 0xa0, 0x80)],
    ["a code point past U+10FFFF", Uint8Array.of(0xf4, 0x90, 0x80, 0x80)],
    ["a continuation byte first", Uint8Array.of(0x80, 0x61)],
    ["a vertical tab", bytes("a\u000bb")],
    ["a form feed", bytes("a\fb")],
    ["a no-break space", bytes("a\u00a0b")],
    ["an ideographic space", bytes("a\u3000b")],
    ["a carriage return", bytes("a\rb")],
  ];
  for (const [name, key] of keys) {
    await t.step(name, () => {
      deepEqual(
        parse(concat(bytes("put "), key, bytes(" 1 1"))),
        INVALID,
        "put",
      );
      deepEqual(parse(concat(bytes("get "), key)), INVALID, "get");
    });
  }
});

Deno.test("RequestParser.parse() returns undefined for a blank line", () => {
  for (const line of ["", " ", "\t", " \t  \t", "\t\t\t"]) {
    equal(parse(line), undefined, JSON.stringify(line));
  }
});

Deno.test("KeyDecoder.decode() returns the right key for many keys", () => {
  // Thousands of keys through one decoder, twice: its cache must never hand
  // out another key's string.
  const random = rng(7);
  const keys = new KeyDecoder();
  const alphabet = ["a", "b", "c", ".", "_", "°", "€", "😀", "0", "9"];
  // Mostly short keys, some past the 63 bytes a cache slot holds: a slot
  // serves a short key, then a long one, then a short one again.
  const names = Array.from({ length: 20_000 }, () => {
    let name = "";
    const length = randomInt(random, 1, random() < 0.2 ? 40 : 6);
    for (let i = 0; i < length; i++) {
      name += alphabet[randomInt(random, 0, alphabet.length - 1)];
    }
    return name;
  });
  for (const length of [62, 63, 64, 65]) {
    names.push("k".repeat(length), "k".repeat(length - 1) + "j");
  }
  for (let round = 0; round < 2; round++) {
    for (const name of names) {
      const b = concat(bytes("<"), bytes(name), bytes(">"));
      equal(keys.decode(b, 1, b.length - 1), name);
    }
  }
  equal(keys.decode(Uint8Array.of(0xff), 0, 1), undefined);
  equal(keys.decode(Uint8Array.of(0xff), 0, 1), undefined, "not cached");
});

Deno.test("formatValue() prints values as Python's str(float) does", async (t) => {
  await t.step("the table of issue 2", () => {
    equal(formatValue(10), "10.0");
    equal(formatValue(4200000), "4200000.0");
    equal(formatValue(0.1), "0.1");
    equal(formatValue(10.60), "10.6");
    equal(formatValue(1e16), "1e+16");
    equal(formatValue(1e-05), "1e-05");
    equal(formatValue(123456789012345678), "1.2345678901234568e+17");
    equal(formatValue(-0), "-0.0");
  });
  await t.step("Python's own output", () => {
    for (const [text, printed] of PYTHON_STR) {
      equal(formatValue(Number(text)), printed, `str(float(${text}))`);
    }
  });
  await t.step("a put value prints as Python prints it", () => {
    for (const [text, printed] of PYTHON_STR) {
      const value = parseValue(text);
      assert(value !== undefined, text);
      equal(formatValue(value), printed, `put ${text}`);
    }
  });
  await t.step("the printed text reads back to the same value", () => {
    const random = rng(99);
    const view = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 20_000; i++) {
      view.setUint32(0, randomInt(random, 0, 0xffffffff));
      view.setUint32(4, randomInt(random, 0, 0xffffffff));
      const value = view.getFloat64(0);
      if (!Number.isFinite(value)) continue;
      const text = formatValue(value);
      equal(Number(text), value, text);
      assert(/^-?\d+\.\d+$|^-?\d(\.\d+)?e[+-]\d\d+$/.test(text), text);
    }
  });
  await t.step("what is not finite, as Python prints it", () => {
    // str(float("nan")), str(float("inf")), str(float("-inf"))
    equal(formatValue(NaN), "nan");
    equal(formatValue(Infinity), "inf");
    equal(formatValue(-Infinity), "-inf");
  });
});

Deno.test("AnswerWriter.sample() writes `key value timestamp` as formatValue() prints it", () => {
  const random = rng(42);
  const view = new DataView(new ArrayBuffer(8));
  const out = new AnswerWriter(16);
  let expected = "";
  const keys = ["palm.cpu", "temp.°C", "k", "😀"];
  const edges = [
    0,
    -0,
    1,
    -1,
    9,
    10,
    99,
    100,
    1e15 - 1,
    1e15,
    -(1e15 - 1),
    -1e15,
    1e15 + 1,
    2 ** 53,
    2 ** 53 - 1,
    1e16,
    1e21,
    0.5,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    -Number.MAX_VALUE,
  ];
  const timestamps = [
    0,
    -0,
    1,
    -1,
    9,
    10,
    1503319740,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    1e15,
    1e15 - 1,
    999999999999999,
  ];
  for (let i = 0; i < 30_000; i++) {
    let value: number;
    const kind = i % 5;
    if (i < edges.length) value = edges[i];
    else if (kind === 0) value = randomInt(random, -1000, 1000);
    else if (kind === 1) {
      value = randomInt(random, -(2 ** 53 - 1), 2 ** 53 - 1) /
        10 ** randomInt(random, 0, 3);
    } else if (kind === 2) {
      value = (random() - 0.5) * 10 ** randomInt(random, -20, 25);
    } else {
      view.setUint32(0, randomInt(random, 0, 0xffffffff));
      view.setUint32(4, randomInt(random, 0, 0xffffffff));
      value = view.getFloat64(0);
      if (!Number.isFinite(value)) value = 1;
    }
    const timestamp = i < timestamps.length
      ? timestamps[i]
      : randomInt(random, -(2 ** 53 - 1), 2 ** 53 - 1);
    const key = keys[randomInt(random, 0, keys.length - 1)];
    out.sample(key, value, timestamp);
    expected += `${key} ${formatValue(value)} ${
      Object.is(timestamp, -0) ? 0 : timestamp
    }\n`;
  }
  equal(decoder.decode(out.bytes()), expected);
  equal(out.length, bytes(expected).length);
});

Deno.test("AnswerWriter writes whole answers", async (t) => {
  await t.step("ok, error, begin/line/end and reset", () => {
    const out = new AnswerWriter(1);
    out.ok();
    out.error("wrong command");
    out.begin();
    out.line("pong");
    out.end();
    out.begin();
    out.sample("k", 12, 1503319740);
    out.end();
    equal(
      decoder.decode(out.bytes()),
      "ok\n\nerror\nwrong command\n\nok\npong\n\nok\nk 12.0 1503319740\n\n",
    );
    out.reset();
    equal(out.length, 0);
    out.ok();
    equal(decoder.decode(out.bytes()), "ok\n\n");
  });
  await t.step("failAt() turns runs of answers into as many errors", () => {
    const out = new AnswerWriter(1);
    out.ok();
    const run = out.length;
    out.ok();
    out.ok();
    out.ok();
    const runEnd = out.length;
    out.begin();
    out.line("pong");
    out.end();
    const deleted = out.length;
    out.begin();
    out.line("2");
    out.end();
    const deletedEnd = out.length;
    out.ok();
    out.failAt([run, runEnd, 3, deleted, deletedEnd, 1], "disk full");
    equal(
      decoder.decode(out.bytes()),
      "ok\n\n" + "error\ndisk full\n\n".repeat(3) + "ok\npong\n\n" +
        "error\ndisk full\n\nok\n\n",
    );
  });
  await t.step("grows past its capacity", () => {
    const out = new AnswerWriter(4);
    let expected = "";
    for (let i = 0; i < 10_000; i++) {
      out.sample("series.😀", i / 4, i);
      expected += `series.😀 ${formatValue(i / 4)} ${i}\n`;
    }
    equal(decoder.decode(out.bytes()), expected);
  });
});

Deno.test("findAnswerEnd() finds the end of the first complete answer", () => {
  const text = bytes(
    "ok\n\nerror\nwrong command\n\nok\na 1.0 1\nb 2.0 2\n\nok\n",
  );
  equal(findAnswerEnd(text, 0, text.length), 4);
  equal(findAnswerEnd(text, 4, text.length), 25);
  equal(findAnswerEnd(text, 25, text.length), 45);
  equal(findAnswerEnd(text, 45, text.length), -1, "incomplete");
  equal(findAnswerEnd(text, 0, 3), -1, "cut before the empty line");
  equal(findAnswerEnd(text, 4, 24), -1, "cut inside the empty line");
  equal(findAnswerEnd(bytes("ok\n"), 0, 3), -1);
  equal(findAnswerEnd(new Uint8Array(0), 0, 0), -1);
  // Bytes past `end` are not looked at.
  const stale = bytes("ok\nX\n\n");
  equal(findAnswerEnd(stale, 0, 4), -1);
  equal(findAnswerEnd(stale, 0, 6), 6);
});

Deno.test("SampleLineReader.read() reads `key value timestamp`", () => {
  const reader = new SampleLineReader();
  const sample = (line: string) => {
    const b = bytes(`>${line}<`);
    return reader.read(b, 1, b.length - 1);
  };
  deepEqual(sample("palm.cpu 0.5 1150864247"), ["palm.cpu", 0.5, 1150864247]);
  deepEqual(sample("k 1e+16 -3"), ["k", 1e16, -3]);
  deepEqual(sample("k -0.0 0"), ["k", -0, 0]);
  deepEqual(sample("temp.°C 1e-05 7"), ["temp.°C", 1e-5, 7]);
  for (
    const bad of [
      "",
      "k",
      "k 1",
      "k 1 2 3",
      "k x 2",
      "k 1 1.5",
      "k nan 1",
      "k 1 9007199254740992",
    ]
  ) {
    equal(sample(bad), undefined, JSON.stringify(bad));
  }
});
