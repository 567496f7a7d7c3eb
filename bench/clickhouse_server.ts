/**
 * Real ClickHouse servers and ZooKeeper for the tests and the benchmark,
 * started from Debian's packages (`clickhouse-server`, `zookeeper`) on free
 * loopback ports with configuration files written into a temporary
 * directory, never the system services, and killed when disposed.
 *
 * Nothing here imports Pulse: the tests use it as they use the benchmark's
 * generator, as something that is not code under test.
 *
 * @module
 */

/** The only address servers listen on. */
const HOST = "127.0.0.1";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const CLICKHOUSE = "/usr/sbin/clickhouse-server";
const ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar";
const JAVA = "/usr/bin/java";
// ZooKeeper's log, to a file: Debian's libslf4j-java, a dependency.
const SLF4J_SIMPLE = "/usr/share/java/slf4j-simple.jar";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Why ClickHouse cannot run here, or `undefined` when it can. */
export const CLICKHOUSE_MISSING: string | undefined = await exists(CLICKHOUSE)
  ? undefined
  : `${CLICKHOUSE} is missing: install Debian's clickhouse-server`;

/** Why ZooKeeper cannot run here, or `undefined` when it can. */
export const ZOOKEEPER_MISSING: string | undefined =
  await exists(ZOOKEEPER_JAR) && await exists(JAVA)
    ? undefined
    : `${ZOOKEEPER_JAR} or ${JAVA} is missing: install Debian's zookeeper`;

/**
 * A test's name, with why it is ignored when it is.
 *
 * @param name The name.
 * @param missing Why it cannot run, if so.
 * @returns The name to give `Deno.test`.
 */
export function testName(name: string, missing: string | undefined): string {
  return missing === undefined ? name : `${name} (ignored: ${missing})`;
}

// Ports for servers are taken below the range the kernel picks outgoing
// ports from: a port free a moment ago may otherwise be taken by one of the
// servers' own connections before the server that is to listen on it starts.
const EPHEMERAL_START = Number(
  (await Deno.readTextFile("/proc/sys/net/ipv4/ip_local_port_range").catch(
    () => "32768",
  )).trim().split(/\s+/)[0],
);
const LOWEST_PORT = 10_000;

/**
 * Ports nothing listens on now, all distinct, outside the kernel's range
 * of outgoing ports.
 *
 * @param count How many.
 * @returns The ports.
 */
export function freePorts(count: number): number[] {
  const ports = new Set<number>();
  while (ports.size < count) {
    const port = LOWEST_PORT +
      Math.floor(Math.random() * (EPHEMERAL_START - LOWEST_PORT));
    if (ports.has(port)) continue;
    try {
      Deno.listen({ hostname: HOST, port }).close();
      ports.add(port);
    } catch {
      // Taken: try another.
    }
  }
  return [...ports];
}

/** A process started by a test, killed when disposed. */
abstract class Process implements AsyncDisposable {
  #child: Deno.ChildProcess | undefined;
  #exited = false;

  protected spawn(command: string, args: string[], dir: string): void {
    const child = new Deno.Command(command, {
      args,
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#exited = false;
    child.status.then(() => this.#exited = true);
    this.#child = child;
  }

  /** Whether the process has ended. */
  get exited(): boolean {
    return this.#exited;
  }

  /** The process id. */
  get pid(): number {
    return this.#child!.pid;
  }

  /** Kills the process with SIGKILL and waits for it. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    if (!this.#exited) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It has just ended.
      }
    }
    await child.status;
    this.#child = undefined;
  }

  /** Kills the process. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.kill();
  }
}

/** A standalone ZooKeeper. */
export class ZooKeeper extends Process {
  /** Its client port. */
  readonly port: number;
  #dir: string;

  private constructor(dir: string, port: number) {
    super();
    this.#dir = dir;
    this.port = port;
  }

  /**
   * Starts ZooKeeper in `dir` and waits until it serves: `ruok` is answered
   * as soon as the port is open, before it serves; `srvr` says its mode once
   * it does.
   *
   * @param dir A directory of its own.
   * @returns The running server.
   */
  static async start(dir: string): Promise<ZooKeeper> {
    const [port] = freePorts(1);
    await Deno.mkdir(`${dir}/data`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/zoo.cfg`,
      [
        "tickTime=500",
        `dataDir=${dir}/data`,
        `clientPort=${port}`,
        `clientPortAddress=${HOST}`,
        "admin.enableServer=false",
        "4lw.commands.whitelist=srvr",
        "",
      ].join("\n"),
    );
    const zookeeper = new ZooKeeper(dir, port);
    zookeeper.spawn(JAVA, [
      "-Xmx256m",
      `-Dorg.slf4j.simpleLogger.logFile=${dir}/zookeeper.log`,
      "-cp",
      `${ZOOKEEPER_JAR}:${SLF4J_SIMPLE}`,
      "org.apache.zookeeper.server.ZooKeeperServerMain",
      `${dir}/zoo.cfg`,
    ], dir);
    await zookeeper.#ready();
    return zookeeper;
  }

  async #ready(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !this.exited) {
      if ((await this.#ask("srvr")).includes("Mode: standalone")) return;
      await delay(100);
    }
    await this.kill();
    throw new Error(`ZooKeeper in ${this.#dir} did not start`);
  }

  /** Sends a four-letter command; its answer, or nothing within a second. */
  async #ask(command: string): Promise<string> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: HOST, port: this.port });
    } catch {
      return ""; // Not yet listening.
    }
    // A connection taken before ZooKeeper serves may never be answered.
    const timer = setTimeout(() => conn.close(), 1_000);
    try {
      await conn.write(new TextEncoder().encode(command));
      return await new Response(conn.readable).text();
    } catch {
      return "";
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch {
        // Closed by the timer, or by ZooKeeper's answer.
      }
    }
  }
}

/** Where a server sits in a cluster. */
export interface ClusterPlace {
  /** The cluster's name. */
  cluster: string;
  /** Each shard's replicas' native ports. */
  shards: number[][];
  /** This server's shard, from 1. */
  shard: number;
  /** This server's replica name. */
  replica: string;
  /** ZooKeeper's port. */
  zookeeper: number;
}

/** Options of {@linkcode ClickHouseServer.start}. */
export interface ClickHouseServerOptions {
  /** The ports to use: HTTP, native, interserver. */
  ports?: [number, number, number];
  /** Its place in a cluster. */
  place?: ClusterPlace;
  /** How merges compress parts: ClickHouse's default, or zstd. */
  compression?: "lz4" | "zstd";
}

/** The user with a password each server has besides `default`. */
export const USER = { name: "pulse", password: "s3cret'\\" };

/** One clickhouse-server. */
export class ClickHouseServer extends Process {
  /** The HTTP port. */
  readonly httpPort: number;
  /** The native protocol's port, which other servers use. */
  readonly tcpPort: number;
  /** The directory of its configuration and data. */
  readonly dir: string;

  private constructor(dir: string, ports: [number, number, number]) {
    super();
    this.dir = dir;
    [this.httpPort, this.tcpPort] = ports;
  }

  /**
   * Writes a configuration into `dir`, starts the server and waits until
   * it answers.
   *
   * @param dir A directory of its own.
   * @param options Its ports and its place in a cluster.
   * @returns The running server.
   */
  static async start(
    dir: string,
    options: ClickHouseServerOptions = {},
  ): Promise<ClickHouseServer> {
    const ports = options.ports ?? freePorts(3) as [number, number, number];
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/config.xml`,
      config(dir, ports, options),
    );
    const server = new ClickHouseServer(dir, ports);
    await server.restart();
    return server;
  }

  /**
   * The URL of a database for `--clickhouse`.
   *
   * @param database The database.
   * @param user Whether to log in as {@linkcode USER}.
   * @returns `http://127.0.0.1:<port>/<database>`.
   */
  url(database: string, user = false): string {
    const login = user
      ? `${encodeURIComponent(USER.name)}:${encodeURIComponent(USER.password)}@`
      : "";
    return `http://${login}${HOST}:${this.httpPort}/${database}`;
  }

  /**
   * Runs a query as `default` and returns its answer's text.
   *
   * @param sql The query.
   * @returns The answer.
   * @throws {Error} When ClickHouse answers with an error.
   */
  async query(sql: string): Promise<string> {
    const response = await fetch(`http://${HOST}:${this.httpPort}/`, {
      method: "POST",
      body: sql,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${sql}: ${text}`);
    return text;
  }

  /** (Re)starts the server on its ports and data, and waits for it. */
  async restart(): Promise<void> {
    await this.kill();
    this.spawn(CLICKHOUSE, [`--config-file=${this.dir}/config.xml`], this.dir);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !this.exited) {
      try {
        const response = await fetch(`http://${HOST}:${this.httpPort}/ping`);
        if ((await response.text()) === "Ok.\n") return;
      } catch {
        // Not yet listening.
      }
      await delay(50);
    }
    const log = await Deno.readTextFile(`${this.dir}/err.log`).catch(() => "");
    await this.kill();
    throw new Error(
      `clickhouse-server in ${this.dir} did not start: ${log.slice(-2000)}`,
    );
  }
}

/** A server's configuration file. */
function config(
  dir: string,
  [http, tcp, interserver]: [number, number, number],
  options: ClickHouseServerOptions,
): string {
  const place = options.place;
  const compression = options.compression === "zstd"
    ? "\n  <compression><case><min_part_size>0</min_part_size><min_part_size_ratio>0</min_part_size_ratio><method>zstd</method></case></compression>"
    : "";
  const login = (user: string, password: string) =>
    `<${user}><password>${
      xml(password)
    }</password><networks><ip>${HOST}</ip></networks><profile>default</profile><quota>default</quota></${user}>`;
  const cluster = place === undefined ? "" : `
  <remote_servers><${place.cluster}>${
    place.shards.map((replicas) =>
      `<shard><internal_replication>${
        replicas.length > 1
      }</internal_replication>${
        replicas.map((port) =>
          `<replica><host>${HOST}</host><port>${port}</port></replica>`
        ).join("")
      }</shard>`
    ).join("")
  }</${place.cluster}></remote_servers>
  <zookeeper><node><host>${HOST}</host><port>${place.zookeeper}</port></node></zookeeper>
  <macros><shard>${place.shard}</shard><replica>${place.replica}</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>`;
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/err.log</errorlog></logger>
  <listen_host>${HOST}</listen_host>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <interserver_http_port>${interserver}</interserver_http_port>
  <interserver_http_host>${HOST}</interserver_http_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <users>${login("default", "")}${login(USER.name, USER.password)}</users>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>${cluster}${compression}
</yandex>
`;
}

function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(
    />/g,
    "&gt;",
  ).replace(/'/g, "&apos;");
}

/** A cluster of servers and the ZooKeeper they share. */
export interface Cluster extends AsyncDisposable {
  /** The cluster's name in `remote_servers`. */
  readonly name: string;
  /** The servers, shard by shard, replica by replica. */
  readonly servers: ClickHouseServer[][];
  /** ZooKeeper. */
  readonly zookeeper: ZooKeeper;
}

/**
 * Starts ZooKeeper and `shards × replicas` servers that know each other as
 * one cluster.
 *
 * @param dir A directory for them all.
 * @param shards How many shards.
 * @param replicas How many replicas of each.
 * @returns The cluster.
 */
export async function startCluster(
  dir: string,
  shards: number,
  replicas: number,
): Promise<Cluster> {
  const zookeeper = await ZooKeeper.start(`${dir}/zookeeper`);
  const servers: ClickHouseServer[][] = [];
  const dispose = async () => {
    for (const server of servers.flat()) await server.kill();
    await zookeeper.kill();
  };
  try {
    const ports = Array.from(
      { length: shards },
      () =>
        Array.from(
          { length: replicas },
          () => freePorts(3) as [number, number, number],
        ),
    );
    const layout = ports.map((shard) => shard.map((replica) => replica[1]));
    for (let s = 0; s < shards; s++) {
      servers.push([]);
      for (let r = 0; r < replicas; r++) {
        servers[s].push(
          await ClickHouseServer.start(`${dir}/s${s + 1}r${r + 1}`, {
            ports: ports[s][r],
            place: {
              cluster: "pulse_cluster",
              shards: layout,
              shard: s + 1,
              replica: `s${s + 1}r${r + 1}`,
              zookeeper: zookeeper.port,
            },
          }),
        );
      }
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    name: "pulse_cluster",
    servers,
    zookeeper,
    [Symbol.asyncDispose]: dispose,
  };
}
