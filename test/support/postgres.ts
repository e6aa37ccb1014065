/**
 * PostgreSQL for tests: the machine's server at 127.0.0.1:5432 (database `test`, user `postgres`, trust
 * auth) when it answers there; otherwise PGlite (PostgreSQL compiled to WebAssembly) behind a socket
 * server from @electric-sql/pglite-socket, so the real `pg` driver still speaks the wire protocol.
 * `postgresTarget()` decides once per process and says which it chose. LATCHKEY_TEST_POSTGRES=server (set
 * by .ci/run) makes a missing server fail the tests instead; LATCHKEY_TEST_POSTGRES=pglite uses PGlite
 * even when a server answers, to see that the fallback passes.
 *
 * Every test database is a fresh schema, named in its URL's search_path and dropped afterwards, so
 * parallel runs, vitest workers and tests never see each other's tables.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketHandlerOptions } from '@electric-sql/pglite-socket';
import pg from 'pg';

export interface TestDatabase {
  /** A `postgres://` URL whose connections see only this database's schema. */
  url: string;
  schema: string;
  /** Drops the schema and everything in it; safe to call twice. */
  drop(): Promise<void>;
}

export interface PostgresTarget {
  kind: 'server' | 'pglite';
  /** One line for people: what the tests run on. */
  description: string;
  createDatabase(): Promise<TestDatabase>;
  /** Drops what is left and stops PGlite (a server stays as it was). */
  close(): Promise<void>;
}

export interface ProbeAddress {
  host: string;
  port: number;
}

export const DEFAULT_PROBE: ProbeAddress = { host: '127.0.0.1', port: 5432 };
/** The database and user of the machine's server (DESIGN "Services on the project's machines"). */
const SERVER_DATABASE = 'test';
const SERVER_USER = 'postgres';

/** Whether something accepts TCP connections at `address`; the error code when nothing does. */
function probe(
  address: ProbeAddress,
  timeoutMs = 2000,
): Promise<{ open: true } | { open: false; why: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: address.host, port: address.port });
    const done = (result: { open: true } | { open: false; why: string }) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done({ open: false, why: `no answer within ${timeoutMs} ms` }));
    socket.once('connect', () => done({ open: true }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done({ open: false, why: error.code ?? error.message }),
    );
  });
}

/** A URL on `base` whose connections use `schema` only (libpq's `options`, which node-postgres passes on). */
function withSearchPath(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.href;
}

/**
 * Schemas on one database, made and dropped through a small pool of its own. Names carry the process
 * id and random bits: two test runs on one server never pick the same one.
 */
function schemaFactory(baseUrl: string): Pick<PostgresTarget, 'createDatabase' | 'close'> {
  const admin = new pg.Pool({ connectionString: baseUrl, max: 2, allowExitOnIdle: true });
  admin.on('error', () => {});
  const live = new Set<string>();
  let counter = 0;
  const dropSchema = async (schema: string) => {
    if (!live.delete(schema)) return;
    await admin.query(`drop schema if exists "${schema}" cascade`);
  };
  return {
    async createDatabase() {
      counter += 1;
      const schema = `lk_test_${process.pid}_${counter}_${randomBytes(4).toString('hex')}`;
      await admin.query(`create schema "${schema}"`);
      live.add(schema);
      return { url: withSearchPath(baseUrl, schema), schema, drop: () => dropSchema(schema) };
    },
    async close() {
      await Promise.all([...live].map(dropSchema));
      await admin.end();
    },
  };
}

async function serverTarget(address: ProbeAddress): Promise<PostgresTarget> {
  const baseUrl = `postgres://${SERVER_USER}@${address.host}:${address.port}/${SERVER_DATABASE}`;
  // The port answers; a server that then refuses us is a broken setup, reported rather than bypassed.
  const check = new pg.Client({ connectionString: baseUrl, connectionTimeoutMillis: 5000 });
  try {
    await check.connect();
    await check.query('select 1');
  } catch (error) {
    throw new Error(
      `PostgreSQL answers at ${address.host}:${address.port} but refuses the tests (user ${SERVER_USER}, database ${SERVER_DATABASE})`,
      { cause: error },
    );
  } finally {
    await check.end().catch(() => {});
  }
  return {
    kind: 'server',
    description: `the PostgreSQL server at ${address.host}:${address.port} (database ${SERVER_DATABASE})`,
    ...schemaFactory(baseUrl),
  };
}

/** What PGLiteSocketHandler asks of its queue; the package's own queue class is not exported. */
interface HandlerQueue {
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number>;
  clearQueueForHandler(handlerId: number): void;
  clearTransactionIfNeeded(handlerId: number): Promise<void>;
}

interface Job {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (error: Error) => void;
}

const PROTOCOL_3 = 196608;
const DEFAULT_SEARCH_PATH = '"$user", public';
/** Messages of the extended query protocol: they belong together until the client's Sync. */
const EXTENDED = new Set(['P', 'B', 'D', 'E', 'C', 'H', 'F']);

/** The `search_path` a startup message sets through `options` (`-c search_path=…`), if any. */
function startupSearchPath(message: Uint8Array): string | null {
  const view = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const fields = view.subarray(8).toString('utf8').split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'options') continue;
    return /(?:^|\s)(?:-c\s*|--)search_path=(\S+)/.exec(fields[i + 1] ?? '')?.[1] ?? null;
  }
  return null;
}

function isStartup(message: Uint8Array): boolean {
  return (
    message.byteLength >= 8 &&
    Buffer.from(message.buffer, message.byteOffset, 8).readInt32BE(4) === PROTOCOL_3
  );
}

/**
 * PGlite has one backend session; this queue lets many connections share it the way the tests need.
 * pglite-socket's own queue keeps a connection's messages together only inside a transaction, so two
 * connections' extended-protocol messages (Parse, Bind, Execute, Sync: every query with parameters)
 * could interleave and run each other's statements. Here a connection keeps the session from its first
 * message to its Sync (or to the end of its transaction), and before it starts, the session's
 * search_path becomes the one its startup message asked for: one schema per connection, as on a server.
 */
class SessionQueue implements HandlerQueue {
  readonly #db: PGlite;
  #jobs: Job[] = [];
  /** The connection that holds the session between its messages, or null. */
  #owner: number | null = null;
  #running = false;
  readonly #searchPaths = new Map<number, string>();
  #currentSearchPath = DEFAULT_SEARCH_PATH;

  constructor(db: PGlite) {
    this.#db = db;
  }

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#jobs.push({ handlerId, message, onData, resolve, reject });
      void this.#pump();
    });
  }

  clearQueueForHandler(handlerId: number): void {
    this.#jobs = this.#jobs.filter((job) => {
      if (job.handlerId !== handlerId) return true;
      job.reject(new Error('the connection closed'));
      return false;
    });
    this.#searchPaths.delete(handlerId);
  }

  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return;
    if (this.#db.isInTransaction()) await this.#db.exec('rollback');
    this.#owner = null;
    await this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        const index = this.#owner === null ? 0 : this.#jobs.findIndex((job) => job.handlerId === this.#owner);
        const job = index === -1 ? undefined : this.#jobs.splice(index, 1)[0];
        if (job === undefined) break;
        try {
          job.resolve(await this.#run(job));
        } catch (error) {
          job.reject(error as Error);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  async #run(job: Job): Promise<number> {
    let bytes = 0;
    const { handlerId, message } = job;
    if (isStartup(message)) {
      this.#searchPaths.set(handlerId, startupSearchPath(message) ?? DEFAULT_SEARCH_PATH);
    } else if (this.#owner === null) {
      const wanted = this.#searchPaths.get(handlerId) ?? DEFAULT_SEARCH_PATH;
      if (wanted !== this.#currentSearchPath) {
        await this.#db.query('select set_config($1, $2, false)', ['search_path', wanted]);
        this.#currentSearchPath = wanted;
      }
    }
    await this.#db.runExclusive(() =>
      this.#db.execProtocolRawStream(message, {
        onRawData: (data) => {
          bytes += data.length;
          job.onData(data);
        },
      }),
    );
    const type = isStartup(message) ? '' : String.fromCharCode(message[0] ?? 0);
    this.#owner = EXTENDED.has(type) || this.#db.isInTransaction() ? handlerId : null;
    return bytes;
  }
}

async function pgliteTarget(): Promise<PostgresTarget> {
  // Loaded only here: most runs have a server, and PGlite is large.
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketHandler } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create();
  const queue = new SessionQueue(db);
  const server: Server = createServer((socket) => {
    const handler = new PGLiteSocketHandler({
      queryQueue: queue as unknown as PGLiteSocketHandlerOptions['queryQueue'],
      closeOnDetach: true,
    });
    handler.attach(socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const schemas = schemaFactory(`postgres://postgres@127.0.0.1:${port}/postgres`);
  return {
    kind: 'pglite',
    description: `PGlite over pglite-socket at 127.0.0.1:${port}`,
    createDatabase: schemas.createDatabase,
    async close() {
      await schemas.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.close();
    },
  };
}

/**
 * The server at `address` when something listens there, else PGlite. `requireServer` (default: the
 * environment's LATCHKEY_TEST_POSTGRES=server) refuses the fallback.
 */
export async function resolvePostgresTarget(
  address: ProbeAddress = DEFAULT_PROBE,
  requireServer = process.env.LATCHKEY_TEST_POSTGRES === 'server',
): Promise<PostgresTarget & { probe: string }> {
  const found = await probe(address);
  if (found.open) return { ...(await serverTarget(address)), probe: 'open' };
  if (requireServer) {
    throw new Error(
      `LATCHKEY_TEST_POSTGRES=server, but nothing answers at ${address.host}:${address.port} (${found.why})`,
    );
  }
  return { ...(await pgliteTarget()), probe: found.why };
}

/** Where this process's PostgreSQL tests run, and why, as one line. */
async function chooseTarget(): Promise<PostgresTarget> {
  if (process.env.LATCHKEY_TEST_POSTGRES === 'pglite') {
    const target = await pgliteTarget();
    process.stderr.write(`PostgreSQL tests run on ${target.description} (LATCHKEY_TEST_POSTGRES=pglite)\n`);
    return target;
  }
  const target = await resolvePostgresTarget();
  const why =
    target.kind === 'server'
      ? ''
      : ` (nothing answers at ${DEFAULT_PROBE.host}:${DEFAULT_PROBE.port}: ${target.probe})`;
  process.stderr.write(`PostgreSQL tests run on ${target.description}${why}\n`);
  return target;
}

let shared: Promise<PostgresTarget> | undefined;

/** The target of this process's PostgreSQL tests, decided on first use and announced once. */
export function postgresTarget(): Promise<PostgresTarget> {
  shared ??= chooseTarget();
  return shared;
}

/** A fresh, empty database (schema) on this process's target. */
export async function createTestDatabase(): Promise<TestDatabase> {
  return (await postgresTarget()).createDatabase();
}

/**
 * Resolves once some session waits for a lock that `condition` (SQL on pg_locks) picks out, asked
 * through `client`; fails naming `what` when none does within two seconds.
 */
export async function untilLockWaits(client: pg.Client, condition: string, what: string): Promise<void> {
  const waiting = async () =>
    (
      await client.query<{ n: number }>(
        `select count(*)::int as n from pg_locks where not granted and ${condition}`,
      )
    ).rows[0]?.n ?? 0;
  for (let tries = 0; (await waiting()) === 0; tries++) {
    if (tries > 100) throw new Error(`${what} never waited for the lock`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
