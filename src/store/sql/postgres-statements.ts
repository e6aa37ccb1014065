/**
 * The node-postgres pool as Kysely's PostgreSQL dialect sees it, with two additions (the counterpart
 * of sqlite-statements.ts):
 *
 * - A database that cannot be reached or cannot serve (connection refused or lost, shutting down, too
 *   many connections, out of resources, a statement past its timeout) fails as StoreError
 *   `ERR_STORE_UNAVAILABLE`, which the server answers with 503 `unavailable`: a load balancer and a
 *   client learn to come back later, rather than reading a 500 as a bug. Other errors pass as they are.
 * - Queries are kept as named prepared statements. An unnamed query is parsed and planned anew by
 *   the server each time: for a refresh's guarded rotation that was most of the server's work, more
 *   than running it. A named statement is parsed once per connection, and PostgreSQL plans it once it
 *   sees that a generic plan does as well.
 *
 * Each connection names its own statements (a random part for the pool, a number for the connection,
 * one for the text): the PGlite fallback of the tests serves every connection of every pool from one
 * backend session, where names shared between connections would collide. Only queries with parameters
 * are named (BEGIN, COMMIT and the like go as simple queries, one message each), and only the first
 * MAX_STATEMENTS texts of a connection: a query whose text varies (an IN list) could otherwise leave a
 * prepared statement per length on every connection for as long as it lives.
 *
 * A pooler in transaction mode (PgBouncer before 1.21, or without `max_prepared_statements`) cannot
 * carry named statements from one transaction to the next: docs/deployment.md says so.
 */
import { randomBytes } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import pg from 'pg';
import { StoreError } from '../../errors.js';

const MAX_STATEMENTS = 256;

export class PostgresStatements implements PostgresPool {
  readonly #pool: pg.Pool;
  readonly #prefix = `latchkey_${randomBytes(6).toString('hex')}`;
  #connections = 0;
  /** One wrapper per connection, so Kysely (which keys its connections by client) reuses its own. */
  readonly #clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();

  readonly #maxStatements: number;

  constructor(pool: pg.Pool, { maxStatements = MAX_STATEMENTS }: { maxStatements?: number } = {}) {
    this.#pool = pool;
    this.#maxStatements = maxStatements;
  }

  async connect(): Promise<PostgresPoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw unavailable(error, 'cannot connect to PostgreSQL');
    }
    let wrapped = this.#clients.get(client);
    if (wrapped === undefined) {
      wrapped = this.#wrap(client);
      this.#clients.set(client, wrapped);
    }
    return wrapped;
  }

  end(): Promise<void> {
    return this.#pool.end();
  }

  #wrap(client: pg.PoolClient): PostgresPoolClient {
    // A connection lost while checked out (between the queries of a transaction, say) is emitted as an
    // 'error' on the client, which the pool listens for only while the client is idle: unheard, it
    // would end the process. Its next query fails instead, and the pool drops it when it comes back.
    client.on('error', () => {});
    const connection = ++this.#connections;
    const names = new Map<string, string>();
    /** The statement name of `text` on this connection, or undefined when it runs unnamed. */
    const nameOf = (text: string): string | undefined => {
      let name = names.get(text);
      if (name === undefined && names.size < this.#maxStatements) {
        name = `${this.#prefix}_${connection}_${names.size + 1}`;
        names.set(text, name);
      }
      return name;
    };
    // Kysely streams through the cursor overload only when given a cursor class, which it is not.
    const query = (text: string, values: readonly unknown[]): Promise<PostgresQueryResult<unknown>> => {
      const name = values.length === 0 ? undefined : nameOf(text);
      const config = { text, values: [...values], ...(name === undefined ? {} : { name }) };
      return (client.query(config) as Promise<PostgresQueryResult<unknown>>).catch((error: unknown) => {
        throw isUnavailable(error) ? unavailable(error, 'PostgreSQL cannot serve the query') : error;
      });
    };
    return {
      query: query as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy),
    };
  }
}

/** SQLSTATEs that say the server cannot serve now, not that the query is wrong. */
const UNAVAILABLE_STATES: ReadonlySet<string> = new Set([
  '57014', // query_canceled: the statement timeout (a lock held too long, an overloaded server)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
]);
/** Classes: 08 connection exception, 53 insufficient resources (disk full, out of memory, connections). */
const UNAVAILABLE_CLASSES: ReadonlySet<string> = new Set(['08', '53']);
/** What node-postgres and the socket say when the connection is gone; they carry no SQLSTATE. */
const LOST_CONNECTION = /^Connection terminated|not queryable|^read ECONNRESET|^write EPIPE/;
const SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT']);

function isUnavailable(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) {
    const code = error.code ?? '';
    return UNAVAILABLE_STATES.has(code) || UNAVAILABLE_CLASSES.has(code.slice(0, 2));
  }
  if (!(error instanceof Error)) return false;
  const { code } = error as NodeJS.ErrnoException;
  return (code !== undefined && SOCKET_CODES.has(code)) || LOST_CONNECTION.test(error.message);
}

function unavailable(error: unknown, what: string): StoreError {
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreError('ERR_STORE_UNAVAILABLE', `${what}: ${reason}`, { cause: error });
}
