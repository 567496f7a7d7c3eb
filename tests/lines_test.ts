import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
} from "node:assert/strict";
import {
  type ByteReader,
  DEFAULT_MAX_LINE_LENGTH,
  readLines,
  type ReadLinesOptions,
} from "../server/lines.ts";
import { bytes, concat, decoder, randomInt, rng } from "./_helpers.ts";

/** A line as the tests see it: its text, or `null` when it was over-long. */
type Line = string | null;

/**
 * A reader that hands out scripted chunks, one per read (the rest of a chunk
 * that does not fit comes with the next read), then the end.
 */
class ScriptedReader implements ByteReader {
  #chunks: Uint8Array[];
  /** The largest buffer a read was given. */
  largestRead = 0;

  constructor(chunks: (string | Uint8Array)[]) {
    this.#chunks = chunks.map((c) => typeof c === "string" ? bytes(c) : c);
  }

  read(p: Uint8Array): Promise<number | null> {
    this.largestRead = Math.max(this.largestRead, p.length);
    const chunk = this.#chunks.shift();
    if (chunk === undefined) return Promise.resolve(null);
    const n = Math.min(p.length, chunk.length);
    p.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#chunks.unshift(chunk.subarray(n));
    return Promise.resolve(n);
  }
}

/** Runs readLines() over `reader` and copies out every batch's lines. */
async function batchesOf(
  reader: ByteReader,
  options?: ReadLinesOptions,
): Promise<Line[][]> {
  const batches: Line[][] = [];
  for await (const batch of readLines(reader, options)) {
    const lines: Line[] = [];
    for (let i = 0; i < batch.count; i++) {
      const start = batch.start(i);
      const end = batch.end(i);
      if (start === -1) {
        equal(end, -1, "an over-long line has -1 for both offsets");
        lines.push(null);
      } else {
        assert(0 <= start && start <= end && end <= batch.bytes.length);
        lines.push(decoder.decode(batch.bytes.subarray(start, end)));
      }
    }
    assert(lines.length > 0, "a batch is yielded only when it has lines");
    batches.push(lines);
  }
  return batches;
}

async function linesOf(
  chunks: (string | Uint8Array)[],
  options?: ReadLinesOptions,
): Promise<Line[]> {
  return (await batchesOf(new ScriptedReader(chunks), options)).flat();
}

/** What readLines() should find in `input`: the reference framing. */
function referenceLines(input: Uint8Array, maxLineLength: number): Line[] {
  const lines: Line[] = [];
  let start = 0;
  for (
    let nl = input.indexOf(0x0a);
    nl !== -1;
    nl = input.indexOf(0x0a, start)
  ) {
    const raw = input.subarray(start, nl);
    if (raw.length > maxLineLength) lines.push(null);
    else {
      const end = raw.at(-1) === 0x0d ? raw.length - 1 : raw.length;
      lines.push(decoder.decode(raw.subarray(0, end)));
    }
    start = nl + 1;
  }
  return lines;
}

// Multi-byte characters (2, 3 and 4 bytes), \r\n, a blank line, a lone \r.
const SCRIPT = "put temp.°C 1 2\r\nget €uro\n\n \t\nkey.😀 x\r\na\rb\nend\n";
const SCRIPT_LINES = [
  "put temp.°C 1 2",
  "get €uro",
  "",
  " \t",
  "key.😀 x",
  "a\rb",
  "end",
];

Deno.test("readLines() hands over every complete line of a chunk in one batch", async () => {
  deepEqual(
    await batchesOf(new ScriptedReader(["a\nbb\nccc\n"])),
    [["a", "bb", "ccc"]],
  );
  const many = Array.from({ length: 250 }, (_, i) => `put k ${i} ${i}`);
  deepEqual(
    await batchesOf(new ScriptedReader([many.map((l) => l + "\n").join("")])),
    [many],
  );
});

Deno.test("readLines() yields one batch per chunk that completes a line", async () => {
  deepEqual(
    await batchesOf(new ScriptedReader(["ab", "c\nd", "e", "\nf\ng\n", "h"])),
    [["abc"], ["de", "f", "g"]],
  );
});

Deno.test("readLines() frames lines split at every byte position", async (t) => {
  const input = bytes(SCRIPT);
  await t.step("two chunks", async () => {
    for (let i = 0; i <= input.length; i++) {
      deepEqual(
        await linesOf([input.subarray(0, i), input.subarray(i)]),
        SCRIPT_LINES,
        `split at byte ${i}`,
      );
    }
  });
  await t.step("three chunks", async () => {
    for (let i = 0; i <= input.length; i++) {
      for (let j = i; j <= input.length; j++) {
        deepEqual(
          await linesOf([
            input.subarray(0, i),
            input.subarray(i, j),
            input.subarray(j),
          ]),
          SCRIPT_LINES,
          `split at bytes ${i} and ${j}`,
        );
      }
    }
  });
  await t.step("one byte per chunk", async () => {
    const chunks = Array.from(input, (b) => Uint8Array.of(b));
    deepEqual(await linesOf(chunks), SCRIPT_LINES);
  });
  await t.step("a tiny first buffer that has to grow", async () => {
    for (const initialBufferSize of [1, 2, 3, 7]) {
      deepEqual(
        await linesOf([input], { initialBufferSize }),
        SCRIPT_LINES,
        `initialBufferSize ${initialBufferSize}`,
      );
    }
  });
});

Deno.test("readLines() strips \\r\\n and keeps any other \\r", async () => {
  deepEqual(await linesOf(["a\r\nb\r\n"]), ["a", "b"]);
  deepEqual(await linesOf(["\r\n"]), [""]);
  deepEqual(await linesOf(["a\r\r\n"]), ["a\r"]);
  deepEqual(await linesOf(["a\rb\n\rc\n"]), ["a\rb", "\rc"]);
  deepEqual(await linesOf(["a\r", "\nb\n"]), ["a", "b"]);
});

Deno.test("readLines() passes blank lines through", async () => {
  deepEqual(await linesOf(["\n\n \n\t\n  \t \r\n"]), [
    "",
    "",
    " ",
    "\t",
    "  \t ",
  ]);
});

Deno.test("readLines() drops an unfinished line at the end of the input", async () => {
  deepEqual(await batchesOf(new ScriptedReader(["a\nb"])), [["a"]]);
  deepEqual(await batchesOf(new ScriptedReader(["partial"])), []);
  deepEqual(await batchesOf(new ScriptedReader(["put k 1 1\nput k", " 2 2"])), [
    ["put k 1 1"],
  ]);
  deepEqual(await batchesOf(new ScriptedReader([])), []);
  deepEqual(await batchesOf(new ScriptedReader(["a\r"])), []);
});

Deno.test("readLines() reports over-long lines as -1", async (t) => {
  const maxLineLength = 10;
  await t.step("at the limit and one past it", async () => {
    deepEqual(
      await linesOf(["0123456789\n01234567890\nok\n"], { maxLineLength }),
      ["0123456789", null, "ok"],
    );
  });
  await t.step("a \\r counts toward the limit", async () => {
    deepEqual(
      await linesOf(["012345678\r\n0123456789\r\nok\n"], { maxLineLength }),
      ["012345678", null, "ok"],
    );
  });
  await t.step("over-long at every split position", async () => {
    const input = bytes("a\n" + "x".repeat(25) + "\nb\n");
    for (let i = 0; i <= input.length; i++) {
      deepEqual(
        await linesOf([input.subarray(0, i), input.subarray(i)], {
          maxLineLength,
        }),
        ["a", null, "b"],
        `split at byte ${i}`,
      );
    }
  });
  await t.step("several over-long lines in a row", async () => {
    deepEqual(
      await linesOf(["x".repeat(11) + "\n" + "y".repeat(30) + "\n\n"], {
        maxLineLength,
      }),
      [null, null, ""],
    );
  });
  await t.step("the default limit is 64 KiB", async () => {
    equal(DEFAULT_MAX_LINE_LENGTH, 64 * 1024);
    const atLimit = "x".repeat(DEFAULT_MAX_LINE_LENGTH);
    deepEqual(
      await linesOf([atLimit + "\n" + atLimit + "y\nz\n"]),
      [atLimit, null, "z"],
    );
  });
});

Deno.test("readLines() discards a 10 MB line without buffering it", async () => {
  const piece = new Uint8Array(4096).fill(0x78); // "x"
  const chunks: Uint8Array[] = [bytes("before\nx")];
  for (let sent = 0; sent < 10 * 1024 * 1024; sent += piece.length) {
    chunks.push(piece);
  }
  chunks.push(bytes("x\r\nafter\n"), bytes("last\n"));
  const reader = new ScriptedReader(chunks);
  const batches = await batchesOf(reader);
  deepEqual(batches, [["before"], [null, "after"], ["last"]]);
  // The read buffer stays bounded by the limit, not by the line.
  assert(
    reader.largestRead <= 2 * DEFAULT_MAX_LINE_LENGTH + 1 + 64 * 1024,
    `read buffer grew to ${reader.largestRead} bytes`,
  );
});

Deno.test("readLines() frames random input in random chunks like the reference", async () => {
  const random = rng(0x5eed);
  const alphabet = bytes("ab €\t\r\n");
  for (let round = 0; round < 300; round++) {
    const maxLineLength = randomInt(random, 1, 40);
    const length = randomInt(random, 0, 400);
    const input = Uint8Array.from(
      { length },
      () => alphabet[randomInt(random, 0, alphabet.length - 1)],
    );
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < input.length;) {
      const n = randomInt(random, 1, 60);
      chunks.push(input.subarray(i, i + n));
      i += n;
    }
    deepEqual(
      await linesOf(chunks, {
        maxLineLength,
        initialBufferSize: randomInt(random, 1, 64),
      }),
      referenceLines(input, maxLineLength),
      `round ${round}`,
    );
  }
});

Deno.test("readLines() lets each batch's bytes be read before the next read", async () => {
  // The batch is reused: its lines must be intact when it is handed over,
  // even though the unfinished tail is moved afterwards.
  const input = concat(bytes("first\nsec"), bytes("ond\nthird\nfou"));
  const seen: string[] = [];
  for await (
    const batch of readLines(
      new ScriptedReader([input.subarray(0, 9), input.subarray(9), "rth\n"]),
    )
  ) {
    for (let i = 0; i < batch.count; i++) {
      seen.push(
        decoder.decode(batch.bytes.subarray(batch.start(i), batch.end(i))),
      );
    }
  }
  deepEqual(seen, ["first", "second", "third", "fourth"]);
});
