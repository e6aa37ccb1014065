/**
 * Wires PostgreSQL (node-postgres) to the SQL store: a pool whose int8 columns arrive as exact JS
 * numbers, start-up failures as coded errors, migrations under Kysely's advisory lock, and the
 * transaction the store's row locks (SELECT … FOR UPDATE) need. Nothing here knows a query of the store.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { StoreError } from '../../errors.js';
import { causeChain } from './cause-chain.js';
import { assertSchemaCurrent, migrateToLatest } from './migrations.js';
import { OwnSchemaPostgresDialect } from './postgres-migration-dialect.js';
import { PostgresStatements } from './postgres-statements.js';
import type { Database } from './schema.js';

export interface PostgresOptions {
  /** Connections the pool opens at most. Default 10. */
  poolSize?: number;
  /**
   * The server-side limit on one statement, waiting for row locks included, in ms; 0 leaves the
   * server's own setting. Default 10 000.
   */
  statementTimeoutMs?: number;
  /** How long opening a connection (or waiting for a free one) may take, in ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Only a schema this version made (the commands that read): migrate nothing, refuse anything else. */
  existing?: boolean;
}

interface ResolvedPostgresOptions {
  poolSize: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_POSTGRES_OPTIONS: Readonly<ResolvedPostgresOptions> = {
  poolSize: 10,
  statementTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
};

/** Where a URL points, for messages: never its user name or password. */
export interface PostgresTarget {
  host: string;
  port: number;
  database: string | null;
}

const INT8_OID = 20;
/** Transactions that lost a deadlock (or a serialization conflict) are run again, this often at most. */
const MAX_ATTEMPTS = 5;
const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01']);

function invalidURL(reason: string): StoreError {
  return new StoreError('ERR_STORE_URL_INVALID', `the PostgreSQL URL is malformed: ${reason}`);
}

function decodeURLPart(value: string, part: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalidURL(`its ${part} has a % that does not start an escape (write % as %25)`);
  }
}

function checkPort(port: string, passwordHint: boolean): void {
  if (port === '') return;
  if (!/^\d+$/.test(port)) {
    // `user:pa/ss@host`: the URL ends its host part at the `/`, and reads `pa` as the port.
    throw invalidURL(
      passwordHint
        ? 'its port must be a number (is there a / or # in the password? percent-encode it: %2F, %23)'
        : 'its port must be a number',
    );
  }
  if (Number(port) < 1 || Number(port) > 65535) throw invalidURL('its port must be from 1 to 65535');
}

/**
 * Checks a `postgres://` or `postgresql://` URL as node-postgres will read it, and says where it points.
 * Throws ERR_STORE_URL_INVALID naming what is wrong; the URL itself (it may hold a password) is never
 * repeated.
 */
export function parsePostgresURL(raw: string): PostgresTarget {
  // The port first: the URL parser refuses a bad one too, but without saying so.
  const authority = /^[^:/]+:\/\/([^/?#]*)/.exec(raw)?.[1] ?? '';
  const hostAndPort = authority.slice(authority.lastIndexOf('@') + 1);
  const urlPort = /^(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostAndPort)?.[1] ?? '';
  const atAfterAuthority =
    !authority.includes('@') && raw.slice(raw.indexOf(authority) + authority.length).includes('@');
  checkPort(urlPort, atAfterAuthority);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidURL(
      'it is not a URL (are special characters in the user name or password percent-encoded?)',
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw invalidURL('it must start with postgres:// or postgresql://');
  }
  decodeURLPart(url.username, 'user name');
  decodeURLPart(url.password, 'password');
  const path = decodeURLPart(url.pathname.slice(1), 'database name');
  if (path.includes('/')) throw invalidURL('its path must be one database name');
  // libpq's query parameters override the parts before them, as node-postgres reads them.
  const host =
    url.searchParams.get('host') ?? decodeURLPart(url.hostname.replace(/^\[(.*)\]$/, '$1'), 'host');
  const rawPort = url.searchParams.get('port') ?? url.port;
  checkPort(rawPort, false);
  const port = rawPort === '' ? 5432 : Number(rawPort);
  return { host: host === '' ? 'localhost' : host, port, database: path === '' ? null : path };
}

function describeTarget(target: PostgresTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `PostgreSQL at ${host}:${target.port}${target.database === null ? '' : `/${target.database}`}`;
}

function resolveOptions(options: PostgresOptions): ResolvedPostgresOptions {
  const resolved = { ...DEFAULT_POSTGRES_OPTIONS, ...options };
  if (!Number.isInteger(resolved.poolSize) || resolved.poolSize < 1) {
    throw new TypeError('poolSize must be a whole number of at least 1');
  }
  if (!Number.isInteger(resolved.statementTimeoutMs) || resolved.statementTimeoutMs < 0) {
    throw new TypeError('statementTimeoutMs must be a whole number of milliseconds, 0 or more');
  }
  if (!Number.isInteger(resolved.connectTimeoutMs) || resolved.connectTimeoutMs < 1) {
    throw new TypeError('connectTimeoutMs must be a whole number of milliseconds, at least 1');
  }
  return resolved;
}

/**
 * int8 as a JS number: times are milliseconds since the epoch, far inside the safe range. A value
 * outside it would come back rounded, so it is refused instead (the query fails with this error).
 */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`an int8 value (${text}) is outside the integers a JavaScript number holds exactly`);
  }
  return value;
}

const defaultTypeParser = pg.types.getTypeParser as (oid: number, format?: string) => unknown;

/** This pool's type parsers: node-postgres's own, but int8 as a checked number (not a string). */
const TYPES = {
  getTypeParser: (oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : defaultTypeParser(oid, format),
} as pg.CustomTypesConfig;

function sqlStateOf(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.code : undefined;
}

/** The first SQLSTATE in an error's cause chain (migration failures wrap the database's error). */
function causeSQLState(error: unknown): { code: string; message: string } | null {
  for (const cause of causeChain(error)) {
    const code = sqlStateOf(cause);
    if (code !== undefined) return { code, message: cause.message };
  }
  return null;
}

/**
 * What went wrong opening the store, as a coded error, or null when it is none of the expected
 * failures (the caller passes it on as it is). Before the first answer, a failure without a SQLSTATE
 * means the server was not reached; later, it is something else (a bug, a migration history that does
 * not match) and is left alone.
 */
function startupError(
  error: unknown,
  target: PostgresTarget,
  phase: { connected: false; timedOutAfterMs: number | null } | { connected: true },
): StoreError | null {
  const where = describeTarget(target);
  const state = causeSQLState(error);
  if (state === null) {
    if (phase.connected) return null;
    // No answer from a server: refused, host unknown, timed out, or the connection dropped.
    const reason =
      phase.timedOutAfterMs !== null
        ? `no answer within ${phase.timedOutAfterMs} ms`
        : error instanceof Error
          ? error.message
          : String(error);
    return new StoreError('ERR_STORE_UNAVAILABLE', `cannot reach ${where}: ${reason}`, { cause: error });
  }
  const { code, message } = state;
  switch (code) {
    case '28P01': // invalid_password
    case '28000': // invalid_authorization_specification: unknown role, no pg_hba.conf entry
      return new StoreError('ERR_STORE_AUTH_FAILED', `${where} refused the login: ${message}`, {
        cause: error,
      });
    case '3D000': // invalid_catalog_name
      return new StoreError('ERR_STORE_DATABASE_MISSING', `${where}: ${message}`, { cause: error });
    case '42501': // insufficient_privilege
      return new StoreError(
        'ERR_STORE_PERMISSION_DENIED',
        `${where}: the role may not create or change Latchkey's tables: ${message}`,
        { cause: error },
      );
    case '53300': // too_many_connections
    case '57P03': // cannot_connect_now: starting up or shutting down
      return new StoreError('ERR_STORE_UNAVAILABLE', `cannot reach ${where}: ${message}`, { cause: error });
    default:
      return null;
  }
}

/**
 * Opens a pool on `url`, checks that it can log in, and brings the schema up to date. Every expected
 * failure is a StoreError with its own code (see docs/errors.md); the pool is closed again on failure.
 */
export async function openPostgresDatabase(
  url: string,
  options: PostgresOptions = {},
): Promise<Kysely<Database>> {
  const target = parsePostgresURL(url);
  const resolved = resolveOptions(options);
  const newPool = (max: number, statementTimeoutMs: number) => {
    const created = new pg.Pool({
      // Parameters in the URL (options, sslmode, application_name, statement_timeout, …) win over these.
      connectionString: url,
      max,
      connectionTimeoutMillis: resolved.connectTimeoutMs,
      ...(statementTimeoutMs === 0 ? {} : { statement_timeout: statementTimeoutMs }),
      application_name: 'latchkey',
      types: TYPES,
    });
    // An idle connection that the server drops emits here; without a listener the process would crash.
    // The pool discards the connection and opens another when needed; /readyz reports a lasting outage.
    created.on('error', () => {});
    return created;
  };
  // Migrations run on a connection of their own, without the statement timeout: a migration (or the
  // wait for another instance's) may take longer than any request should.
  const pool = newPool(1, 0);
  let schema: string | null;
  const started = performance.now();
  try {
    // Connect once before migrating, so that "cannot log in" is not reported as a migration failure.
    const result = await pool.query<{ schema: string | null }>('select current_schema() as schema');
    schema = result.rows[0]?.schema ?? null;
  } catch (error) {
    await pool.end();
    // node-postgres reports its connect timeout as a dropped connection; say what happened.
    const timedOut = performance.now() - started >= resolved.connectTimeoutMs;
    const phase = { connected: false, timedOutAfterMs: timedOut ? resolved.connectTimeoutMs : null } as const;
    throw startupError(error, target, phase) ?? error;
  }
  if (schema === null) {
    // Named, so that a mistyped schema is seen at once.
    const searchPath = await pool
      .query<{ path: string }>(`select current_setting('search_path') as path`)
      .then(({ rows }) => rows[0]?.path ?? null)
      .catch(() => null);
    await pool.end();
    throw new StoreError(
      'ERR_STORE_DATABASE_MISSING',
      `${describeTarget(target)}: no schema to create the tables in (the search_path` +
        `${searchPath === null ? '' : `, ${searchPath},`} names none that exists)`,
    );
  }
  const migrations = new Kysely<Database>({ dialect: new OwnSchemaPostgresDialect({ pool }, schema) });
  try {
    // Kysely's migrator holds a PostgreSQL advisory lock (one per database) around the migrations and
    // runs them in one transaction: a second instance starting at once waits, then finds them applied.
    if (options.existing === true) await assertSchemaCurrent(migrations, `schema ${schema}`, schema);
    else await migrateToLatest(migrations, schema);
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw startupError(error, target, { connected: true }) ?? error;
  } finally {
    await migrations.destroy();
  }
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: new PostgresStatements(newPool(resolved.poolSize, resolved.statementTimeoutMs)),
    }),
  });
  try {
    // Kysely takes the pool on its first query, and its destroy() ends only a pool it has taken: a
    // store closed before any query would keep answering, on a pool nothing ends. Take it now.
    await db.connection().execute(async () => {});
  } catch (error) {
    await db.destroy();
    throw startupError(error, target, { connected: true }) ?? error;
  }
  return db;
}

/**
 * Runs `work` in a READ COMMITTED transaction, whatever the server's default: each statement then sees
 * what committed before it, and a row lock (SELECT … FOR UPDATE, UPDATE) waited for returns the row as
 * its holder committed it. That is how the store gets SQLite's one-writer semantics row by row. A
 * transaction chosen as a deadlock victim (or failing a serialization check) is rolled back whole and
 * run again; `work` must therefore do nothing outside the database that a second run would repeat.
 */
export async function withPostgresTransaction<DB, T>(
  db: Kysely<DB>,
  work: (trx: Kysely<DB>) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().setIsolationLevel('read committed').execute(work);
    } catch (error) {
      const code = sqlStateOf(error);
      if (attempt >= MAX_ATTEMPTS || code === undefined || !RETRYABLE_SQLSTATES.has(code)) throw error;
      // A short random pause, so that the transactions that collided do not collide again in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
