/**
 * Pulse front ends for the ClickHouse tests: `serve()` in this process on
 * a `ClickHouseStorage` or on the built-in store, and an HTTP proxy in
 * front of ClickHouse that can hold requests, to make it slow or absent.
 *
 * @module
 */

import { serve } from "../server.ts";
import {
  type ClickHouseOptions,
  ClickHouseStorage,
} from "../storage/clickhouse.ts";
import { LocalStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
import { HOST } from "./_helpers.ts";
import type { FrontEnd } from "./_protocol_suite.ts";

/** A front end in this process, and its storage. */
export interface LocalFrontEnd extends FrontEnd {
  /** The storage it serves. */
  readonly storage: Storage;
  /** The server's figures. */
  stats(): Record<string, number>;
}

/**
 * Serves `storage` on a free port; disposing it shuts the server down and
 * closes the storage.
 *
 * @param storage The storage.
 * @returns The front end.
 */
export function frontEnd(storage: Storage): LocalFrontEnd {
  const server = serve({ hostname: HOST, port: 0, storage });
  return {
    port: server.addr.port,
    storage,
    stats: () => server.stats(),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await storage.close();
    },
  };
}

/**
 * A front end on the built-in store, in memory.
 *
 * @returns The front end.
 */
export function builtIn(): Promise<LocalFrontEnd> {
  return Promise.resolve(frontEnd(new LocalStorage()));
}

/**
 * A front end on ClickHouse.
 *
 * @param url The database's URL.
 * @param options The backend's options.
 * @returns The front end.
 */
export async function onClickHouse(
  url: string,
  options: ClickHouseOptions = {},
): Promise<LocalFrontEnd> {
  return frontEnd(await ClickHouseStorage.open(url, options));
}

/** An HTTP proxy to a ClickHouse server that can hold requests. */
export class ClickHouseProxy implements AsyncDisposable {
  /** The port it listens on. */
  readonly port: number;
  #target: string;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #stalled = false;
  #holding: string | undefined;
  #held = new Set<() => void>();
  /** Requests whose body held the text being held. */
  heldCount = 0;

  /**
   * Listens on `port` (any free one by default) and forwards to `target`.
   *
   * @param target ClickHouse's HTTP port.
   * @param port The port to listen on.
   */
  constructor(target: number, port = 0) {
    this.#target = `http://${HOST}:${target}`;
    this.#server = Deno.serve(
      { hostname: HOST, port, onListen: () => {} },
      (request) => this.#forward(request),
    );
    this.port = this.#server.addr.port;
  }

  /**
   * The URL of a database through the proxy.
   *
   * @param database The database.
   * @returns The URL.
   */
  url(database: string): string {
    return `http://${HOST}:${this.port}/${database}`;
  }

  /** Holds every request from now on, until released. */
  stall(): void {
    this.#stalled = true;
  }

  /**
   * Holds the requests whose body holds `text`, until released.
   *
   * @param text Such as a key.
   */
  hold(text: string): void {
    this.#holding = text;
  }

  /** Forwards every request again, those held too. */
  release(): void {
    this.#stalled = false;
    this.#holding = undefined;
    for (const resume of this.#held) resume();
    this.#held.clear();
  }

  /** Stops: releases what it holds and closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
    await this.#server.shutdown();
  }

  async #forward(request: Request): Promise<Response> {
    const body = new Uint8Array(await request.arrayBuffer());
    const text = new TextDecoder().decode(body);
    if (
      this.#stalled ||
      (this.#holding !== undefined && text.includes(this.#holding))
    ) {
      if (!this.#stalled) this.heldCount++;
      // Held, then forwarded even if the front end gave up: as a slow
      // ClickHouse may still apply what it was sent.
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#held.add(resolve);
      await promise;
    }
    const url = new URL(request.url);
    const headers = new Headers();
    for (const name of ["content-type", "authorization"]) {
      const value = request.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    const upstream = await fetch(this.#target + url.pathname + url.search, {
      method: request.method,
      headers,
      body,
    });
    return new Response(upstream.body, {
      status: upstream.status,
      headers: upstream.headers,
    });
  }
}

/**
 * Waits until `condition` holds, looking every few milliseconds; a guard
 * against hangs, not a speed limit.
 *
 * @param condition What to wait for.
 * @param what What it is, for the message.
 * @param ms How long at most.
 * @throws {Error} When it does not hold within `ms`.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 60_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!await condition()) {
    if (Date.now() > deadline) {
      throw new Error(`${what}: not so within ${ms} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
