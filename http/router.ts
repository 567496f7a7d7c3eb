/**
 * The HTTP API's router: it finds a request's route by its path and checks,
 * in order, the `Host` (against DNS rebinding), the method (`HEAD` wherever
 * `GET` is allowed) and the bearer token, before the route's handler runs.
 * Every answer is counted by route and status, and a handler that throws is
 * answered 500 and reported.
 *
 * @module
 */

import type { HttpRequestInfo } from "./_connection.ts";
import type { Logger } from "../internal/logger.ts";
import { formatAddress } from "../server/accept.ts";
import { equalInConstantTime } from "../internal/constant_time.ts";
import { describe } from "../internal/describe.ts";
import type { Storage } from "../storage/storage.ts";
import type { HttpCounters } from "./_counters.ts";
import { fail } from "./_json.ts";
import type { BodyBudget } from "./body_budget.ts";

/** What every route's handler may use: the server's shared state. */
export interface RouteContext {
  /** Where samples are kept. */
  readonly storage: Storage;
  /** The HTTP server's own counts. */
  readonly counters: HttpCounters;
  /** The bytes the put bodies in flight may hold together. */
  readonly budget: BodyBudget;
  /**
   * The server's figures besides the HTTP server's own: the TCP server's
   * `stats()`, or the storage's, uptime and memory.
   */
  readonly figures: () => Record<string, number>;
}

/**
 * Answers one request on a route.
 *
 * @param request The request.
 * @param url Its URL, parsed once.
 * @param context The server's shared state.
 * @returns The answer.
 */
export type RouteHandler = (
  request: Request,
  url: URL,
  context: RouteContext,
) => Response | Promise<Response>;

/** A route: the method it takes, whether it needs the token, its handler. */
export interface Route {
  /**
   * The method; a `GET` route answers `HEAD` too, and an `ANY` route
   * answers every method itself.
   */
  readonly method: "GET" | "POST" | "ANY";
  /**
   * Whether it is served without the token: the page asks for the token
   * itself, and health checks rarely carry one.
   */
  readonly open: boolean;
  /** Answers the route's requests. */
  readonly handler: RouteHandler;
}

/** Options of {@linkcode Router}. */
export interface RouterOptions {
  /** Whether a `Host` name is served (see `allowedHosts`). */
  allowed: (hostname: string) => boolean;
  /** The token every route but the open ones asks for, as bytes. */
  token: Uint8Array | undefined;
  /** Hears of handlers that threw. */
  onError: (error: Error) => void;
  /** Hears of requests refused for their host or their token. */
  logger: Logger;
}

const ENCODER = new TextEncoder();
const BEARER = /^Bearer +(\S+) *$/i;

/** Dispatches requests to routes by path. */
export class Router {
  #routes: Map<string, Route>;
  #context: RouteContext;
  #options: RouterOptions;

  /**
   * Makes a router.
   *
   * @param routes The routes by path, such as `/api/keys`.
   * @param context What their handlers are given.
   * @param options The hosts served, the token and the error reporter.
   */
  constructor(
    routes: Record<string, Route>,
    context: RouteContext,
    options: RouterOptions,
  ) {
    this.#routes = new Map(Object.entries(routes));
    this.#context = context;
    this.#options = options;
  }

  /**
   * Answers a request: by its route, or with a JSON error (421, 404, 405,
   * 401, 500).
   *
   * @param request The request.
   * @returns The answer.
   */
  handle = async (
    request: Request,
    info?: HttpRequestInfo,
  ): Promise<Response> => {
    const url = new URL(request.url);
    const route = this.#routes.get(url.pathname);
    let response: Response;
    try {
      response = await this.#dispatch(request, url, route);
      if (response.status === 421 || response.status === 401) {
        this.#logRefusal(request, url, response.status, info);
      }
    } catch (error) {
      this.#options.onError(
        new Error(`${request.method} ${url.pathname}: ${describe(error)}`, {
          cause: error,
        }),
      );
      response = fail(500, `internal error: ${describe(error)}`);
    }
    this.#context.counters.countRequest(
      route === undefined ? "other" : url.pathname,
      response.status,
    );
    return response;
  };

  async #dispatch(
    request: Request,
    url: URL,
    route: Route | undefined,
  ): Promise<Response> {
    if (!this.#options.allowed(url.hostname)) {
      await request.body?.cancel();
      return fail(
        421,
        `unknown host: ${url.hostname} (name it with --http-host to serve it)`,
      );
    }
    if (route === undefined) {
      await request.body?.cancel();
      return fail(404, `no such route: ${url.pathname}`);
    }
    const method = request.method;
    if (
      route.method !== "ANY" && method !== route.method &&
      !(method === "HEAD" && route.method === "GET")
    ) {
      await request.body?.cancel();
      const response = fail(
        405,
        `${method} is not allowed on ${url.pathname}: use ${route.method}`,
      );
      response.headers.set(
        "allow",
        route.method === "GET" ? "GET, HEAD" : route.method,
      );
      return response;
    }
    if (!route.open && !this.#authorized(request)) {
      await request.body?.cancel();
      const response = fail(
        401,
        request.headers.has("authorization")
          ? "invalid token"
          : "authentication required: send Authorization: Bearer <token>",
      );
      response.headers.set("www-authenticate", 'Bearer realm="pulse"');
      return response;
    }
    return await route.handler(request, url, this.#context);
  }

  #logRefusal(
    request: Request,
    url: URL,
    status: number,
    info: HttpRequestInfo | undefined,
  ): void {
    const remote = info?.remoteAddr;
    const addr = remote && formatAddress(remote.hostname, remote.port);
    if (status === 421) {
      this.#options.logger.warn("refused", {
        door: "http",
        why: "host",
        host: url.hostname,
        addr,
      });
    } else if (request.headers.has("authorization")) {
      this.#options.logger.warn("auth_failed", { door: "http", addr });
    }
  }

  #authorized(request: Request): boolean {
    const token = this.#options.token;
    if (token === undefined) return true;
    const match = BEARER.exec(request.headers.get("authorization") ?? "");
    return match !== null &&
      equalInConstantTime(ENCODER.encode(match[1]), token);
  }
}

/**
 * Which `Host` names a server listening on `hostname` answers to: IP
 * addresses (a rebound name never arrives as one), `localhost` and its
 * subdomains (browsers resolve them to loopback themselves), the listening
 * name, and the names given. Any other is refused, so that a page on
 * another site whose name was rebound to this server's address (DNS
 * rebinding) gets nothing.
 *
 * @param hostname The name or address the server listens on.
 * @param names The names of a real deployment.
 * @returns Whether a URL's `hostname` is served.
 */
export function allowedHosts(
  hostname: string,
  names: readonly string[],
): (host: string) => boolean {
  const known = new Set(
    [hostname, ...names].map((name) => name.toLowerCase().replace(/\.$/, "")),
  );
  return (host) => {
    // URL has lower-cased the name and bracketed an IPv6 address.
    const name = host.replace(/\.$/, "");
    return known.has(name) || name.startsWith("[") ||
      /^\d+\.\d+\.\d+\.\d+$/.test(name) || name === "localhost" ||
      name.endsWith(".localhost");
  };
}
