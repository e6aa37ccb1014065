/**
 * The node-postgres pool as Kysely's PostgreSQL dialect sees it, with its queries kept as named
 * prepared statements (the counterpart of sqlite-statements.ts). Each unnamed query is parsed and
 * planned anew by the server: for a refresh's guarded rotation that is most of the server's work, more
 * than running it. A named statement is parsed once per connection, and PostgreSQL plans it once it
 * sees that a generic plan does as well.
 *
 * Each connection names its own statements (a random part for the pool, a number for the connection,
 * one for the text): the PGlite fallback of the tests serves every connection of every pool from one
 * backend session, where names shared between connections would collide. Only queries with parameters are named (BEGIN, COMMIT and the like go as
 * simple queries, one message each), and only the first MAX_STATEMENTS texts of a connection: a query
 * whose text varies (an IN list) could otherwise leave a prepared statement per length on every
 * connection for as long as it lives.
 *
 * A pooler in transaction mode (PgBouncer before 1.21, or without `max_prepared_statements`) cannot
 * carry named statements from one transaction to the next: docs/deployment.md says so.
 */
import { randomBytes } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

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
    const client = await this.#pool.connect();
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
      return client.query({ text, values: [...values], ...(name === undefined ? {} : { name }) }) as Promise<
        PostgresQueryResult<unknown>
      >;
    };
    return {
      query: query as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy),
    };
  }
}
