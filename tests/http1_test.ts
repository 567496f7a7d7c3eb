import {
  deepStrictEqual as deepEqual,
  ok as assert,
  strictEqual as equal,
  throws,
} from "node:assert/strict";
import {
  type HttpConnectionOptions,
  type HttpHandler,
  serveHttpConnection,
} from "../http/_connection.ts";
import {
  ChunkedDecoder,
  HeadScanner,
  isHeadError,
  parseRequestHead,
} from "../http/_http1.ts";
import {
  available,
  bytes,
  concat,
  decoder,
  delay,
  HOST,
  makeCertificate,
  randomInt,
  rng,
  within,
  writeFully,
} from "./_helpers.ts";

// A `date` the handlers set, so that answers compare byte for byte.
const DATE = "Thu, 01 Jan 2026 00:00:00 GMT";
const OPENSSL = await available("openssl", ["version"]);
const CURL = await available("curl", ["--version"]);

/**
 * A listener whose every connection is served by `serveHttpConnection`, the
 * way the server's accept loop does it: the connection is closed once
 * serving it resolves. Disposing it aborts the shutdown signal and waits
 * for every connection.
 */
class TestServer implements AsyncDisposable {
  readonly port: number;
  /** What `onError` was given. */
  readonly errors: Error[] = [];
  /** How many requests reached the handler. */
  calls = 0;
  /** How many connections were served to their end. */
  finished = 0;
  #listener: Deno.Listener;
  #shutdown = new AbortController();
  #tasks = new Set<Promise<void>>();
  #accepting: Promise<void>;
  #ended: (() => void)[] = [];

  constructor(
    handler: HttpHandler,
    options: HttpConnectionOptions = {},
    listener: Deno.Listener = Deno.listen({ hostname: HOST, port: 0 }),
  ) {
    this.#listener = listener;
    this.port = (listener.addr as Deno.NetAddr).port;
    const counted: HttpHandler = (request, info) => {
      this.calls++;
      return handler(request, info);
    };
    this.#accepting = (async () => {
      try {
        for await (const conn of listener) {
          const task = serveHttpConnection(conn, counted, {
            signal: this.#shutdown.signal,
            onError: (error) => this.errors.push(error),
            ...options,
          }).finally(() => {
            conn.close();
            this.#tasks.delete(task);
            this.finished++;
            for (const ended of this.#ended.splice(0)) ended();
          });
          this.#tasks.add(task);
        }
      } catch {
        // The listener closed.
      }
    })();
  }

  /** Resolves once `count` connections in all have been served. */
  async served(count: number): Promise<void> {
    while (this.finished < count) {
      await within(
        new Promise<void>((resolve) => this.#ended.push(resolve)),
        `${count} connections served`,
      );
    }
  }

  /** Aborts the shutdown signal. */
  shutdown(): void {
    this.#shutdown.abort();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    this.#shutdown.abort();
    await this.#accepting;
    await within(Promise.all(this.#tasks), "every connection's end");
  }
}

/** A raw connection to send bytes on and read answers from. */
async function connect(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: HOST, port });
  conn.setNoDelay(true);
  return conn;
}

/** Reads until the server closes the connection; guarded against hangs. */
async function readToEnd(conn: Deno.Conn, ms = 10_000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reading = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      let count: number | null;
      try {
        count = await conn.read(buffer);
      } catch (error) {
        if (error instanceof Deno.errors.ConnectionReset) return;
        throw error;
      }
      if (count === null) return;
      parts.push(buffer.slice(0, count));
    }
  })();
  await within(reading, "the end of the connection", ms);
  return concat(...parts);
}

/** Reads until what came ends with `suffix`. */
async function readUntil(conn: Deno.Conn, suffix: string): Promise<Uint8Array> {
  let received: Uint8Array = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  while (!decoder.decode(received).endsWith(suffix)) {
    const count = await within(conn.read(buffer), `${suffix} to arrive`);
    if (count === null) throw new Error(`closed before ${suffix}`);
    received = concat(received, buffer.subarray(0, count));
  }
  return received;
}

/** Sends `request` on a new connection and reads until it closes. */
async function exchangeAll(port: number, request: string | Uint8Array) {
  const conn = await connect(port);
  try {
    await writeFully(
      conn,
      typeof request === "string" ? bytes(request) : request,
    );
    return decoder.decode(await readToEnd(conn));
  } finally {
    conn.close();
  }
}

/** A response as the tests' own parser reads it. */
interface Answer {
  status: number;
  statusLine: string;
  headers: Map<string, string>;
  body: Uint8Array;
}

const STATUS_LINE = /^HTTP\/1\.1 (\d{3}) [\x20-\x7e]*$/;
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9a-z]+): ([\x20-\x7e\x80-\xff]*)$/;

/**
 * Parses every response in `data`, strictly; a body without a length runs
 * to the end. Independent of the code under test, so as not to share a bug.
 *
 * @param data What the server sent, to its close.
 * @param bodiless Whether the n-th final response answers a HEAD.
 * @returns The responses, 1xx ones included.
 * @throws {Error} When the bytes are not well-formed responses.
 */
function parseAnswers(
  data: Uint8Array,
  bodiless: (index: number) => boolean = () => false,
): Answer[] {
  const text = String.fromCharCode(...data);
  const answers: Answer[] = [];
  let at = 0;
  let finals = 0;
  while (at < text.length) {
    const headEnd = text.indexOf("\r\n\r\n", at);
    if (headEnd === -1) throw new Error(`an incomplete head at ${at}`);
    const [statusLine, ...lines] = text.slice(at, headEnd).split("\r\n");
    const match = STATUS_LINE.exec(statusLine);
    if (match === null) throw new Error(`a bad status line: ${statusLine}`);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const field = HEADER_LINE.exec(line);
      if (field === null) throw new Error(`a bad header line: ${line}`);
      headers.set(field[1], field[2]);
    }
    at = headEnd + 4;
    const status = Number(match[1]);
    let body: Uint8Array = new Uint8Array(0);
    const noBody = status < 200 || status === 204 || status === 304 ||
      (status >= 200 && bodiless(finals));
    if (status >= 200) finals++;
    if (noBody) {
      // No body.
    } else if (headers.has("content-length")) {
      const length = Number(headers.get("content-length"));
      if (at + length > text.length) throw new Error("a truncated body");
      body = data.slice(at, at + length);
      at += length;
    } else if (headers.get("transfer-encoding") === "chunked") {
      const parts: Uint8Array[] = [];
      while (true) {
        const lineEnd = text.indexOf("\r\n", at);
        if (lineEnd === -1) throw new Error("a truncated chunk");
        const size = parseInt(text.slice(at, lineEnd), 16);
        if (!/^[0-9a-f]+$/.test(text.slice(at, lineEnd))) {
          throw new Error(`a bad chunk size: ${text.slice(at, lineEnd)}`);
        }
        at = lineEnd + 2;
        if (size === 0) break;
        parts.push(data.slice(at, at + size));
        if (text.slice(at + size, at + size + 2) !== "\r\n") {
          throw new Error("a chunk without CRLF");
        }
        at += size + 2;
      }
      if (text.slice(at, at + 2) !== "\r\n") throw new Error("no last CRLF");
      at += 2;
      body = concat(...parts);
    } else {
      body = data.slice(at);
      at = text.length;
    }
    answers.push({ status, statusLine, headers, body });
  }
  return answers;
}

/** A handler that says what it got. */
const echo: HttpHandler = async (request, info) => {
  const body = request.body === null
    ? "-"
    : decoder.decode(await request.arrayBuffer());
  return new Response(
    `${request.method} ${request.url} ${info.remoteAddr.hostname} ${body}`,
    { headers: { date: DATE } },
  );
};

function text(body: string, init: ResponseInit = {}): Response {
  return new Response(body, {
    ...init,
    headers: { date: DATE, "content-type": "text/plain", ...init.headers },
  });
}

Deno.test("`serveHttpConnection()` answers fetch with Web-standard requests", async (t) => {
  await using server = new TestServer(echo);
  const base = `http://${HOST}:${server.port}`;
  await t.step("GET: the URL from Host, the remote address", async () => {
    const response = await fetch(`${base}/path?q=1`);
    const expected = `GET ${base}/path?q=1 ${HOST} -`;
    equal(response.status, 200);
    equal(response.headers.get("content-length"), String(expected.length));
    equal(await response.text(), expected);
  });
  await t.step("POST with a Content-Length body", async () => {
    const response = await fetch(`${base}/put`, {
      method: "POST",
      body: "palm.cpu 10.6",
    });
    equal(await response.text(), `POST ${base}/put ${HOST} palm.cpu 10.6`);
  });
  await t.step("POST with a chunked body", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes("one "));
        controller.enqueue(bytes("two"));
        controller.close();
      },
    });
    const response = await fetch(`${base}/put`, { method: "POST", body });
    equal(await response.text(), `POST ${base}/put ${HOST} one two`);
  });
  await t.step("a large body, in and out", async () => {
    const random = rng(1);
    const sent = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < sent.length; i++) sent[i] = randomInt(random, 0, 255);
    await using large = new TestServer(async (request) =>
      new Response(await request.arrayBuffer())
    );
    const response = await fetch(`http://${HOST}:${large.port}/`, {
      method: "PUT",
      body: sent,
    });
    equal(response.headers.get("content-length"), String(sent.length));
    deepEqual(new Uint8Array(await response.arrayBuffer()), sent);
  });
  deepEqual(server.errors, []);
});

Deno.test("`serveHttpConnection()` keeps connections alive and answers pipelined requests in order, byte for byte", async () => {
  await using server = new TestServer((request) =>
    text(`path ${new URL(request.url).pathname}`)
  );
  const answer = (path: string, close = false) =>
    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n" +
    `date: ${DATE}\r\ncontent-length: ${5 + path.length}\r\n` +
    (close ? "connection: close\r\n" : "") + `\r\npath ${path}`;
  const received = await exchangeAll(
    server.port,
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n" +
      "GET /bb HTTP/1.1\r\nHost: h\r\n\r\n" +
      "\r\nGET /ccc HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
  );
  equal(received, answer("/a") + answer("/bb") + answer("/ccc", true));
  equal(server.calls, 3);
  await server.served(1);
});

Deno.test("`serveHttpConnection()` reads a chunked body split at every position", async () => {
  await using server = new TestServer(async (request) =>
    text(`[${await request.text()}]`)
  );
  const request =
    "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n" +
    '\r\n5;name=value\r\nhello\r\n1\r\n \r\n0000a ; x="y"\r\n0123456789\r\n' +
    "0\r\nChecksum: abc\r\nMore: x\r\n\r\n";
  const conn = await connect(server.port);
  try {
    const data = bytes(request);
    let received = "";
    for (let split = 1; split < data.length; split++) {
      await writeFully(conn, data.subarray(0, split));
      await delay(1);
      await writeFully(conn, data.subarray(split));
      const buffer = new Uint8Array(4096);
      while (!received.endsWith("]")) {
        const count = await within(conn.read(buffer), `the answer (${split})`);
        assert(count !== null, `closed at split ${split}`);
        received += decoder.decode(buffer.subarray(0, count));
      }
      const [answer] = parseAnswers(bytes(received));
      equal(
        decoder.decode(answer.body),
        "[hello 0123456789]",
        `split ${split}`,
      );
      received = "";
    }
  } finally {
    conn.close();
  }
  equal(server.calls, bytes(request).length - 1);
});

Deno.test("`serveHttpConnection()` hands a chunked body over in pieces of what arrived, not per chunk", async () => {
  await using server = new TestServer(async (request) => {
    let reads = 0;
    let size = 0;
    for await (const chunk of request.body!) {
      reads++;
      size += chunk.length;
    }
    return text(`${size} bytes in ${reads} reads`);
  });
  const body = "1\r\na\r\n".repeat(2000) + "0\r\n\r\n";
  const received = await exchangeAll(
    server.port,
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      body,
  );
  const answer = decoder.decode(parseAnswers(bytes(received))[0].body);
  const [, size, reads] = /^(\d+) bytes in (\d+) reads$/.exec(answer)!;
  equal(Number(size), 2000);
  assert(Number(reads) <= 10, answer);
});

Deno.test("`serveHttpConnection()` reads a request body only as the handler asks", async () => {
  const gate = Promise.withResolvers<void>();
  const firstRead = Promise.withResolvers<number>();
  await using server = new TestServer(async (request) => {
    const reader = request.body!.getReader();
    const first = await reader.read();
    firstRead.resolve(first.value!.length);
    await gate.promise;
    let size = first.value!.length;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
    }
    return text(`read ${size}`);
  });
  const total = 64 * 1024 * 1024;
  const conn = await connect(server.port);
  try {
    await writeFully(
      conn,
      bytes(`PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: ${total}\r\n\r\n`),
    );
    let written = 0;
    const block = new Uint8Array(64 * 1024);
    const writing = (async () => {
      while (written < total) {
        written += await conn.write(
          block.subarray(0, Math.min(block.length, total - written)),
        );
      }
    })();
    assert((await within(firstRead.promise, "the first read")) <= 64 * 1024);
    // Wait until the socket's buffers are full and writing has stopped.
    let seen = -1;
    for (let i = 0; i < 100 && written !== seen; i++) {
      seen = written;
      await delay(200);
    }
    equal(written, seen, "the server kept reading");
    // The kernel's buffers hold a few MiB at most.
    assert(written < total / 2, `${written} bytes taken`);
    gate.resolve();
    await within(writing, "the rest of the body");
    const answers = parseAnswers(await readUntil(conn, `read ${total}`));
    equal(decoder.decode(answers[0].body), `read ${total}`);
  } finally {
    gate.resolve();
    conn.close();
  }
});

Deno.test("`serveHttpConnection()` answers the requests a client sent before closing its side", async () => {
  await using server = new TestServer(echo);
  const conn = await connect(server.port);
  try {
    await writeFully(
      conn,
      bytes(
        "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\n" +
          "Content-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\n\r\n",
      ),
    );
    await conn.closeWrite();
    const answers = parseAnswers(await readToEnd(conn));
    deepEqual(answers.map((answer) => decoder.decode(answer.body)), [
      `GET http://h/1 ${HOST} -`,
      `POST http://h/2 ${HOST} abc`,
      `GET http://h/3 ${HOST} -`,
    ]);
    equal(answers[2].headers.get("connection"), "close");
  } finally {
    conn.close();
  }
});

Deno.test("`ChunkedDecoder` decodes the same body however its bytes are split", () => {
  const body = bytes(
    "3\r\nabc\r\n10;ext\r\n0123456789abcdef\r\n0\r\nTrailer: yes\r\n\r\nNEXT",
  );
  const decode = (parts: Uint8Array[]) => {
    const decoderOf = new ChunkedDecoder(1024);
    let data = "";
    let rest = "";
    for (const part of parts) {
      let at = 0;
      while (at < part.length && !decoderOf.done) {
        at = decoderOf.decode(part, at, part.length);
        equal(decoderOf.error, undefined);
        data += decoder.decode(
          part.subarray(decoderOf.dataStart, decoderOf.dataEnd),
        );
      }
      rest += decoder.decode(part.subarray(at));
    }
    return { data, rest, done: decoderOf.done };
  };
  for (let split = 0; split <= body.length; split++) {
    deepEqual(
      decode([body.subarray(0, split), body.subarray(split)]),
      { data: "abc0123456789abcdef", rest: "NEXT", done: true },
      `split at ${split}`,
    );
  }
  const oneByOne = [...body].map((byte) => new Uint8Array([byte]));
  deepEqual(decode(oneByOne), {
    data: "abc0123456789abcdef",
    rest: "NEXT",
    done: true,
  });
  for (
    const bad of [
      "x\r\n",
      "3\nabc\r\n",
      "3\r\nabcd\r\n",
      "3\r\nabc\n",
      "3;\x00\r\n",
      "3;a\rb\r\n",
      "12345678901234567\r\n",
      "0\r\nbad\ntrailer\r\n\r\n",
      "0\r\n folded\r\n\r\n",
      "0\r\n\n",
    ]
  ) {
    const decoderOf = new ChunkedDecoder(1024);
    const data = bytes(bad);
    let at = 0;
    while (at < data.length && decoderOf.error === undefined) {
      at = decoderOf.decode(data, at, data.length);
    }
    assert(decoderOf.error !== undefined, JSON.stringify(bad));
  }
  const large = new ChunkedDecoder(16);
  const trailers = bytes("0\r\nA: 0123456789abcdef\r\n\r\n");
  large.decode(trailers, 0, trailers.length);
  equal(large.error, "trailers too large");
});

Deno.test("`parseRequestHead()` parses strictly", async (t) => {
  const parse = (head: string) => {
    const data = new Uint8Array([...head].map((c) => c.charCodeAt(0)));
    const scanner = new HeadScanner(16384);
    const end = scanner.scan(data, 0, data.length);
    if (isHeadError(end)) return end;
    equal(end, data.length, JSON.stringify(head));
    return parseRequestHead(data, scanner.headStart, end);
  };
  await t.step("fields, values trimmed, obs-text kept", () => {
    const head = parse(
      "\r\nPOST /x?y HTTP/1.1\nHost: a.example:80\r\nX-Name: \t caf\xe9 \t\r\n" +
        "Content-Length: 3, 3\r\nConnection: Keep-Alive, Close\r\n\r\n",
    );
    assert(!isHeadError(head));
    deepEqual(head, {
      method: "POST",
      target: "/x?y",
      minor: 1,
      headers: [
        ["Host", "a.example:80"],
        ["X-Name", "caf\xe9"],
        ["Content-Length", "3, 3"],
        ["Connection", "Keep-Alive, Close"],
      ],
      host: "a.example:80",
      contentLength: 3,
      close: true,
      expectContinue: false,
    });
  });
  await t.step("HTTP/1.0 closes unless kept alive", () => {
    const plain = parse("GET / HTTP/1.0\r\n\r\n");
    assert(!isHeadError(plain) && plain.close && plain.host === undefined);
    const kept = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert(!isHeadError(kept) && !kept.close);
  });
  await t.step("chunked and 100-continue", () => {
    const head = parse(
      "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n" +
        "Expect: 100-Continue\r\n\r\n",
    );
    assert(!isHeadError(head));
    equal(head.contentLength, -1);
    equal(head.expectContinue, true);
  });
  await t.step("the targets", () => {
    for (const target of ["/", "//x/../y", "http://a/b", "HTTPS://a:1/?q"]) {
      const head = parse(`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`);
      assert(!isHeadError(head), target);
    }
    const star = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert(!isHeadError(star));
  });
});

/** Requests refused before any handler, and the status each gets. */
const REFUSED: [name: string, request: string, status: number][] = [
  [
    "Content-Length and Transfer-Encoding",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "Transfer-Encoding and Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "differing Content-Lengths",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    400,
  ],
  [
    "a list of differing Content-Lengths",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\nhello!",
    400,
  ],
  [
    "a signed Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello",
    400,
  ],
  [
    "a negative Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
    400,
  ],
  [
    "a hexadecimal Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello",
    400,
  ],
  [
    "a huge Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
    400,
  ],
  [
    "an empty Content-Length",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
    400,
  ],
  [
    "a coding after chunked",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    400,
  ],
  [
    "chunked twice",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "an unknown coding alone",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n",
    400,
  ],
  [
    "a coding before chunked",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    501,
  ],
  [
    "Transfer-Encoding in HTTP/1.0",
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "a space before the colon",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  [
    "obsolete line folding",
    "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n",
    400,
  ],
  [
    "a bare CR in a value",
    "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\rc\r\n\r\n",
    400,
  ],
  ["a NUL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\0\r\n\r\n", 400],
  ["a header without colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A\r\n\r\n", 400],
  ["no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400],
  ["two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400],
  ["a bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400],
  ["an empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400],
  ["a Host with user info", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400],
  ["a Host with a bad port", "GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400],
  ["a bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["a relative target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["a fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["* with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["a non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["authority-form", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 400],
  ["TRACE", "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", 501],
  ["a lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400],
  ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505],
  ["the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505],
  ["HTTP/0.9", "GET /\r\n\r\n", 400],
];

Deno.test("`serveHttpConnection()` refuses request smuggling and malformed heads before any handler", async (t) => {
  await using server = new TestServer(echo);
  for (const [name, request, status] of REFUSED) {
    await t.step(name, async () => {
      const data = new Uint8Array([...request].map((c) => c.charCodeAt(0)));
      const received = await exchangeAll(server.port, data);
      const answers = parseAnswers(bytes(received));
      equal(answers.length, 1, received);
      equal(answers[0].status, status, received);
      equal(answers[0].headers.get("connection"), "close");
      equal(
        answers[0].headers.get("content-type"),
        "text/plain; charset=utf-8",
      );
    });
  }
  equal(server.calls, 0);
});

Deno.test("`serveHttpConnection()` answers 414 and 431 to heads over the limits", async (t) => {
  await using server = new TestServer(echo, { maxHeaderBytes: 4096 });
  await t.step("a target over 8 KiB: 414", async () => {
    const received = await exchangeAll(
      server.port,
      `GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: h\r\n\r\n`,
    );
    equal(parseAnswers(bytes(received))[0].status, 414);
  });
  await t.step("a request line that never ends: 414", async () => {
    const received = await exchangeAll(server.port, `GET /${"a".repeat(9000)}`);
    equal(parseAnswers(bytes(received))[0].status, 414);
  });
  await t.step("headers over maxHeaderBytes: 431", async () => {
    const received = await exchangeAll(
      server.port,
      `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${"b".repeat(5000)}\r\n\r\n`,
    );
    equal(parseAnswers(bytes(received))[0].status, 431);
  });
  await t.step("headers that never end: 431", async () => {
    const received = await exchangeAll(
      server.port,
      `GET / HTTP/1.1\r\n${"X-A: b\r\n".repeat(1000)}`,
    );
    equal(parseAnswers(bytes(received))[0].status, 431);
  });
  await t.step("just under the limit is served", async () => {
    const head = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Fill: ";
    const fill = "f".repeat(4096 - head.length - 2);
    const received = await exchangeAll(server.port, `${head}${fill}\r\n\r\n`);
    equal(parseAnswers(bytes(received))[0].status, 200);
  });
  equal(server.calls, 1);
});

Deno.test("`serveHttpConnection()` sends 100 Continue only when the handler reads the body", async (t) => {
  await using server = new TestServer(async (request) => {
    if (new URL(request.url).pathname === "/ignore") return text("ignored");
    return text(`read ${(await request.arrayBuffer()).byteLength}`);
  });
  const head = (path: string) =>
    `POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`;
  await t.step("read: 100 first, then the answer", async () => {
    const conn = await connect(server.port);
    try {
      await writeFully(conn, bytes(head("/read")));
      const buffer = new Uint8Array(1024);
      const count = await within(conn.read(buffer), "100 Continue");
      equal(
        decoder.decode(buffer.subarray(0, count!)),
        "HTTP/1.1 100 Continue\r\n\r\n",
      );
      await writeFully(conn, bytes("hello"));
      await conn.closeWrite();
      const answers = parseAnswers(await readToEnd(conn));
      deepEqual(answers.map((answer) => answer.status), [200]);
      equal(decoder.decode(answers[0].body), "read 5");
    } finally {
      conn.close();
    }
  });
  await t.step(
    "ignored: the answer without 100, and the connection closes",
    async () => {
      const received = await exchangeAll(server.port, head("/ignore"));
      const answers = parseAnswers(bytes(received));
      deepEqual(answers.map((answer) => answer.status), [200]);
      equal(answers[0].headers.get("connection"), "close");
      assert(!received.includes("100 Continue"));
    },
  );
  await t.step({
    name: "curl waits for the 100 and sends its body",
    ignore: !CURL,
    fn: async () => {
      const body = "x".repeat(4000);
      const { stdout, stderr, success } = await new Deno.Command("curl", {
        args: [
          "-sv",
          "-H",
          "Expect: 100-continue",
          "--expect100-timeout",
          "30",
          "--data-binary",
          body,
          `http://${HOST}:${server.port}/read`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(success, decoder.decode(stderr));
      equal(decoder.decode(stdout), "read 4000");
      const trace = decoder.decode(stderr);
      assert(trace.includes("> Expect: 100-continue"), trace);
      assert(trace.includes("< HTTP/1.1 100 Continue"), trace);
    },
  });
});

Deno.test("`serveHttpConnection()` sends no body for HEAD, 204 and 304", async (t) => {
  await using server = new TestServer((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/204") {
      return new Response(null, { status: 204, headers: { date: DATE } });
    }
    if (path === "/304") {
      return new Response(null, {
        status: 304,
        headers: { date: DATE, etag: '"x"' },
      });
    }
    if (path === "/declared") {
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(new Uint8Array(10));
        },
      });
      return new Response(body, {
        headers: { date: DATE, "content-length": "12345" },
      });
    }
    return text("hello");
  });
  await t.step("HEAD gets the GET's length, and no body", async () => {
    const received = await exchangeAll(
      server.port,
      "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n" +
        "HEAD /declared HTTP/1.1\r\nHost: h\r\n\r\n" +
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    equal(
      received,
      `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: ${DATE}\r\ncontent-length: 5\r\n\r\n` +
        `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 12345\r\n\r\n` +
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: ${DATE}\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello`,
    );
  });
  await t.step("204 and 304", async () => {
    const received = await exchangeAll(
      server.port,
      "GET /204 HTTP/1.1\r\nHost: h\r\n\r\n" +
        "GET /304 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    equal(
      received,
      `HTTP/1.1 204 No Content\r\ndate: ${DATE}\r\n\r\n` +
        `HTTP/1.1 304 Not Modified\r\ndate: ${DATE}\r\netag: "x"\r\nconnection: close\r\n\r\n`,
    );
  });
});

Deno.test("`serveHttpConnection()` streams a body of unknown length chunked, or to the close for HTTP/1.0", async (t) => {
  await using server = new TestServer(() => {
    const pieces = ["first", "", "second", "third"];
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await delay(1);
        const piece = pieces.shift();
        if (piece === undefined) controller.close();
        else controller.enqueue(bytes(piece));
      },
    });
    return new Response(body, { headers: { date: DATE } });
  });
  await t.step("HTTP/1.1: chunked", async () => {
    const received = await exchangeAll(
      server.port,
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    equal(
      received,
      `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n` +
        "5\r\nfirst\r\n6\r\nsecond\r\n5\r\nthird\r\n0\r\n\r\n",
    );
  });
  await t.step("HTTP/1.0 keep-alive: to the close", async () => {
    const received = await exchangeAll(
      server.port,
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    equal(
      received,
      `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\nconnection: close\r\n\r\nfirstsecondthird`,
    );
  });
});

Deno.test("`serveHttpConnection()` keeps HTTP/1.0 connections only when asked", async (t) => {
  await using server = new TestServer(echo);
  await t.step("without keep-alive: one answer, then the close", async () => {
    const received = await exchangeAll(
      server.port,
      "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
    );
    const answers = parseAnswers(bytes(received));
    equal(answers.length, 1);
    equal(answers[0].headers.get("connection"), "close");
    const local = `${HOST}:${server.port}`;
    equal(decoder.decode(answers[0].body), `GET http://${local}/a ${HOST} -`);
  });
  await t.step("with keep-alive: both", async () => {
    const received = await exchangeAll(
      server.port,
      "GET /a HTTP/1.0\r\nConnection: keep-alive\r\nHost: h\r\n\r\n" +
        "GET /b HTTP/1.0\r\nHost: h\r\n\r\n",
    );
    const answers = parseAnswers(bytes(received));
    deepEqual(
      answers.map((answer) => answer.headers.get("connection")),
      ["keep-alive", "close"],
    );
  });
});

Deno.test("`serveHttpConnection()` drains a small unread body and closes after a large one", async (t) => {
  await using server = new TestServer(() => text("ok"));
  await t.step("small: the next request is served", async () => {
    const received = await exchangeAll(
      server.port,
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789" +
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy" +
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    deepEqual(
      parseAnswers(bytes(received)).map((answer) => answer.status),
      [200, 200, 200, 200],
    );
  });
  await t.step("large: connection close", async () => {
    const conn = await connect(server.port);
    try {
      await writeFully(
        conn,
        bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\n"),
      );
      const answers = parseAnswers(await readToEnd(conn));
      equal(answers.length, 1);
      equal(answers[0].headers.get("connection"), "close");
    } finally {
      conn.close();
    }
  });
  equal(server.calls, 5);
});

Deno.test("`serveHttpConnection()` pulls a response stream only as the client reads", async () => {
  let pulls = 0;
  let cancelled = false;
  const aborted = Promise.withResolvers<void>();
  await using server = new TestServer((_request, info) => {
    info.signal.addEventListener("abort", () => aborted.resolve());
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
      cancel() {
        cancelled = true;
      },
    });
    return new Response(body);
  });
  const conn = await connect(server.port);
  try {
    await writeFully(conn, bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    // Wait until the socket's buffers are full and pulling has stopped.
    let seen = -1;
    for (let i = 0; i < 100 && pulls !== seen; i++) {
      seen = pulls;
      await delay(200);
    }
    equal(pulls, seen, "pulling never stopped");
    assert(pulls > 1);
    // The kernel's buffers hold a few MiB at most.
    assert(pulls * 64 * 1024 < 64 * 1024 * 1024, `${pulls} chunks pulled`);
    assert(!cancelled);
  } finally {
    conn.close();
  }
  await within(aborted.promise, "info.signal aborting");
  await server.served(1);
  assert(cancelled, "the stream is cancelled when the client leaves");
});

Deno.test("`serveHttpConnection()` gives up on a client that stops reading", async () => {
  let cancelled = false;
  const aborted = Promise.withResolvers<void>();
  await using server = new TestServer((_request, info) => {
    info.signal.addEventListener("abort", () => aborted.resolve());
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(64 * 1024));
      },
      cancel() {
        cancelled = true;
      },
    });
    return new Response(body);
  }, { writeTimeout: 300 });
  const conn = await connect(server.port);
  try {
    await writeFully(conn, bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    await within(aborted.promise, "info.signal aborting");
    await server.served(1);
    assert(cancelled);
  } finally {
    conn.close();
  }
});

Deno.test("`serveHttpConnection()` aborts info.signal and request.signal when the client disconnects", async () => {
  const seen = Promise.withResolvers<[boolean, boolean]>();
  const called = Promise.withResolvers<void>();
  await using server = new TestServer(async (request, info) => {
    called.resolve();
    await new Promise((resolve) =>
      info.signal.addEventListener("abort", resolve)
    );
    seen.resolve([info.signal.aborted, request.signal.aborted]);
    return text("too late");
  });
  const conn = await connect(server.port);
  await writeFully(conn, bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  await within(called.promise, "the handler's call");
  conn.close();
  deepEqual(await within(seen.promise, "the abort"), [true, true]);
  await server.served(1);
});

Deno.test("`serveHttpConnection()` times out slow heads with 408 and idle connections silently", async (t) => {
  await using server = new TestServer(echo, {
    headersTimeout: 200,
    idleTimeout: 200,
  });
  await t.step("a partial head: 408 and close", async () => {
    const received = await exchangeAll(server.port, "GET / HTTP/1.1\r\nHo");
    const answers = parseAnswers(bytes(received));
    equal(answers.length, 1);
    equal(answers[0].status, 408);
    equal(answers[0].headers.get("connection"), "close");
  });
  await t.step("a head dripping in: 408 all the same", async () => {
    const conn = await connect(server.port);
    try {
      const head = "GET / HTTP/1.1\r\nHost: h\r\nX-Slow: " + "s".repeat(100);
      let closed = false;
      const reading = readToEnd(conn).finally(() => closed = true);
      for (const byte of bytes(head)) {
        if (closed) break;
        await writeFully(conn, new Uint8Array([byte])).catch(() => {});
        await delay(20);
      }
      equal(parseAnswers(await reading)[0].status, 408);
    } finally {
      conn.close();
    }
  });
  await t.step("nothing sent: closed without an answer", async () => {
    equal(await exchangeAll(server.port, ""), "");
  });
  await t.step(
    "kept alive, then idle: closed without another answer",
    async () => {
      const received = await exchangeAll(
        server.port,
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
      );
      deepEqual(parseAnswers(bytes(received)).map((a) => a.status), [200]);
    },
  );
});

Deno.test("`serveHttpConnection()` fails a body read that times out, and closes", async () => {
  const failure = Promise.withResolvers<Error>();
  await using server = new TestServer(async (request) => {
    try {
      await request.arrayBuffer();
      return text("read");
    } catch (error) {
      failure.resolve(error as Error);
      return text("failed", { status: 400 });
    }
  }, { bodyTimeout: 200 });
  const received = await exchangeAll(
    server.port,
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc",
  );
  const answers = parseAnswers(bytes(received));
  deepEqual(answers.map((answer) => answer.status), [400]);
  equal(answers[0].headers.get("connection"), "close");
  assert((await failure.promise) instanceof Deno.errors.TimedOut);
});

Deno.test("`serveHttpConnection()` answers 500 to a failing handler and reports it", async (t) => {
  let sent = 0;
  await using server = new TestServer((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/throw") throw new Error("boom");
    if (path === "/not-a-response") return "text" as unknown as Response;
    if (path === "/short") {
      return new Response(
        new ReadableStream({
          async pull(controller) {
            if (sent++ > 0) {
              await delay(20);
              controller.close();
            } else controller.enqueue(bytes("abc"));
          },
        }),
        { headers: { "content-length": "10" } },
      );
    }
    return new Response(
      new ReadableStream({
        pull(controller) {
          controller.error(new Error("stream broke"));
        },
      }),
    );
  });
  await t.step("a throw: 500, kept alive", async () => {
    const received = await exchangeAll(
      server.port,
      "GET /throw HTTP/1.1\r\nHost: h\r\n\r\nGET /not-a-response HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    const answers = parseAnswers(bytes(received));
    deepEqual(answers.map((answer) => answer.status), [500, 500]);
    equal(decoder.decode(answers[0].body), "Internal Server Error\n");
    deepEqual(server.errors.map((error) => error.message), [
      "boom",
      "Cannot send string: a handler must return a Response",
    ]);
  });
  await t.step("a stream that errors first: 500", async () => {
    const received = await exchangeAll(
      server.port,
      "GET /error HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    equal(parseAnswers(bytes(received))[0].status, 500);
    equal(server.errors.at(-1)?.message, "stream broke");
  });
  await t.step("a body shorter than its content-length: cut off", async () => {
    const received = await exchangeAll(
      server.port,
      "GET /short HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert(received.endsWith("content-length: 10\r\n\r\nabc"), received);
    assert(server.errors.at(-1) instanceof RangeError);
  });
});

Deno.test("`serveHttpConnection()` finishes the response under way when its signal aborts, then closes", async () => {
  const called = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  await using server = new TestServer(async (request) => {
    if (new URL(request.url).pathname === "/fast") return text("fast");
    called.resolve();
    await gate.promise;
    return text("last");
  });
  const idle = await connect(server.port);
  const busy = await connect(server.port);
  try {
    await writeFully(idle, bytes("GET /fast HTTP/1.1\r\nHost: h\r\n\r\n"));
    equal(
      decoder.decode(await readUntil(idle, "fast")),
      `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: ${DATE}\r\ncontent-length: 4\r\n\r\nfast`,
    );
    await writeFully(
      busy,
      bytes(
        "GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /fast HTTP/1.1\r\nHost: h\r\n\r\n",
      ),
    );
    await within(called.promise, "the handler's call");
    server.shutdown();
    equal(decoder.decode(await readToEnd(idle)), "");
    gate.resolve();
    const answers = parseAnswers(await readToEnd(busy));
    equal(answers.length, 1);
    equal(decoder.decode(answers[0].body), "last");
    equal(answers[0].headers.get("connection"), "close");
    equal(server.calls, 2);
  } finally {
    gate.resolve();
    idle.close();
    busy.close();
  }
});

Deno.test("`serveHttpConnection()` goes on reading a body when its signal aborts", async () => {
  const called = Promise.withResolvers<void>();
  await using server = new TestServer(async (request) => {
    called.resolve();
    return text(`read ${await request.text()}`);
  });
  const conn = await connect(server.port);
  try {
    await writeFully(
      conn,
      bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234"),
    );
    await within(called.promise, "the handler's call");
    // The handler is waiting for the rest of the body by now.
    await delay(50);
    server.shutdown();
    await delay(50);
    await writeFully(conn, bytes("56789"));
    const answers = parseAnswers(await readToEnd(conn));
    equal(answers.length, 1);
    equal(decoder.decode(answers[0].body), "read 0123456789");
    equal(answers[0].headers.get("connection"), "close");
  } finally {
    conn.close();
  }
});

Deno.test({
  name: "`serveHttpConnection()` serves TLS connections unchanged",
  ignore: !OPENSSL,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pulse-http1-tls-" });
    try {
      const { cert, certFile, keyFile } = await makeCertificate(dir);
      const listener = Deno.listenTls({
        hostname: HOST,
        port: 0,
        cert,
        key: await Deno.readTextFile(keyFile),
      });
      await using server = new TestServer(
        async (request) => {
          if (request.method === "POST") return text(await request.text());
          const pieces = ["streamed ", "over ", "TLS"];
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              const piece = pieces.shift();
              if (piece === undefined) controller.close();
              else controller.enqueue(bytes(piece));
            },
          });
          return new Response(body, { headers: { "x-url": request.url } });
        },
        { scheme: "https" },
        listener,
      );
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port: server.port,
        caCerts: [await Deno.readTextFile(certFile)],
      });
      try {
        await writeFully(
          conn,
          bytes(
            "GET /tls HTTP/1.1\r\nHost: localhost\r\n\r\n" +
              "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n" +
              "Connection: close\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
          ),
        );
        const answers = parseAnswers(await readToEnd(conn));
        deepEqual(answers.map((answer) => answer.status), [200, 200]);
        equal(answers[0].headers.get("x-url"), "https://localhost/tls");
        equal(answers[0].headers.get("transfer-encoding"), "chunked");
        equal(decoder.decode(answers[0].body), "streamed over TLS");
        equal(decoder.decode(answers[1].body), "body");
      } finally {
        conn.close();
      }
      deepEqual(server.errors, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// The pieces fuzzed heads are made of: the bytes a parser treats specially.
const FUZZ_BYTES = bytes("\r\n\r\n \t:;,/?#*0123456789aZ\x00\x7f-");
const FUZZ_BASES = [
  "GET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
  "POST /p HTTP/1.1\r\nHost: h:1\r\nContent-Length: 5\r\n\r\nhello",
  "PUT / HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
  "OPTIONS * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
  "DELETE http://h/x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
];

/** A malformed variant of a valid request: a few random edits. */
function mutate(random: () => number, base: string): Uint8Array {
  let data = bytes(base);
  const edits = randomInt(random, 1, 4);
  for (let i = 0; i < edits; i++) {
    const at = randomInt(random, 0, data.length);
    const piece = randomInt(random, 0, 9) < 7
      ? new Uint8Array([
        FUZZ_BYTES[randomInt(random, 0, FUZZ_BYTES.length - 1)],
      ])
      : new Uint8Array([randomInt(random, 0, 255)]);
    switch (randomInt(random, 0, 3)) {
      case 0: // insert
        data = concat(data.subarray(0, at), piece, data.subarray(at));
        break;
      case 1: // replace
        if (at < data.length) data[at] = piece[0];
        break;
      case 2: // delete a run
        data = concat(
          data.subarray(0, at),
          data.subarray(Math.min(data.length, at + randomInt(random, 1, 8))),
        );
        break;
      default: // repeat a run, such as a header line
        data = concat(
          data.subarray(0, at),
          data.subarray(at, at + randomInt(random, 1, 40)),
          data.subarray(at),
        );
    }
  }
  return data;
}

Deno.test("`serveHttpConnection()` ends every fuzzed head in well-formed answers or a close", async () => {
  await using server = new TestServer(async (request) => {
    let size = -1;
    try {
      size = (await request.arrayBuffer()).byteLength;
    } catch {
      // A malformed body: the connection closes after the answer.
    }
    return new Response(`${request.method} ${size}`, {
      headers: { "x-method": request.method },
    });
  }, { headersTimeout: 300, idleTimeout: 100, bodyTimeout: 300 });
  const random = rng(2026);
  const statuses = new Map<number, number>();
  for (let batch = 0; batch < 20; batch++) {
    await Promise.all(Array.from({ length: 20 }, async () => {
      const base = FUZZ_BASES[randomInt(random, 0, FUZZ_BASES.length - 1)];
      const request = randomInt(random, 0, 9) === 0
        ? crypto.getRandomValues(new Uint8Array(randomInt(random, 1, 200)))
        : mutate(random, base);
      const conn = await connect(server.port);
      try {
        await writeFully(conn, request).catch(() => {});
        const received = await readToEnd(conn);
        const methods: string[] = [];
        let answers: Answer[];
        try {
          answers = parseAnswers(
            received,
            (index) => methods[index] === "HEAD",
          );
        } catch (error) {
          throw new Error(
            `${(error as Error).message}: ${
              JSON.stringify(decoder.decode(request))
            } -> ${JSON.stringify(decoder.decode(received))}`,
          );
        }
        for (const answer of answers) {
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          methods.push(answer.headers.get("x-method") ?? "");
        }
      } finally {
        conn.close();
      }
    }));
  }
  deepEqual(server.errors, []);
  for (const status of statuses.keys()) {
    assert(
      [100, 200, 400, 408, 414, 431, 501, 505].includes(status),
      `status ${status}`,
    );
  }
  assert((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0);
});

Deno.test("`serveHttpConnection()` refuses bad options", () => {
  const conn = {} as Deno.Conn;
  const bad: HttpConnectionOptions[] = [
    { headersTimeout: 0 },
    { idleTimeout: -1 },
    { bodyTimeout: Infinity },
    // Past what a timer can wait: it would fire at once.
    { writeTimeout: 2 ** 31 },
    { maxHeaderBytes: NaN },
  ];
  for (const options of bad) {
    throws(() => serveHttpConnection(conn, echo, options), RangeError);
  }
});
