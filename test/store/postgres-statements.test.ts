/**
 * PostgreSQL queries as named prepared statements (src/store/sql/postgres-statements.ts), seen from the
 * server: pg_prepared_statements lists what a session has prepared.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStatements } from '../../src/store/sql/postgres-statements.js';
import { postgresTarget, type TestDatabase } from '../support/postgres.js';

const target = await postgresTarget();

describe('PostgreSQL statements', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await target.createDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  /** One connection's pool, so that every query runs in the session it inspects. */
  async function withConnection(
    work: (query: (text: string, values?: unknown[]) => Promise<unknown[]>) => Promise<void>,
    maxStatements?: number,
  ): Promise<void> {
    const statements = new PostgresStatements(
      new pg.Pool({ connectionString: database.url, max: 1 }),
      maxStatements === undefined ? {} : { maxStatements },
    );
    try {
      const client = await statements.connect();
      try {
        await work(async (text, values = []) => (await client.query(text, values)).rows);
      } finally {
        client.release();
      }
    } finally {
      await statements.end();
    }
  }

  const prepared = async (query: (text: string) => Promise<unknown[]>) =>
    (
      (await query('select statement from pg_prepared_statements order by prepare_time')) as {
        statement: string;
      }[]
    ).map((row) => row.statement);

  it('prepares a query with parameters once, and runs it again by name with new values', async () => {
    await withConnection(async (query) => {
      expect(await query('select $1::int + 1 as n', [1])).toEqual([{ n: 2 }]);
      expect(await query('select $1::int + 1 as n', [41])).toEqual([{ n: 42 }]);
      expect(await prepared(query)).toEqual(['select $1::int + 1 as n']);
    });
  });

  it('sends a query without parameters (BEGIN, COMMIT, …) as a simple query, unprepared', async () => {
    await withConnection(async (query) => {
      await query('begin');
      await query('select 1 as one');
      await query('commit');
      expect(await prepared(query)).toEqual([]);
    });
  });

  it('prepares the first texts of a connection only: texts that vary cannot pile up on the server', async () => {
    await withConnection(async (query) => {
      for (const n of [1, 2, 3, 4]) {
        const list = Array.from({ length: n }, (_, i) => `$${i + 1}::int`).join(', ');
        expect(
          await query(
            `select array[${list}] as a`,
            Array.from({ length: n }, (_, i) => i),
          ),
        ).toEqual([{ a: Array.from({ length: n }, (_, i) => i) }]);
      }
      expect(await prepared(query)).toEqual([
        'select array[$1::int] as a',
        'select array[$1::int, $2::int] as a',
      ]);
    }, 2);
  });

  it('a statement that fails to prepare is not taken as prepared: the next run prepares it again', async () => {
    await withConnection(async (query) => {
      const text = 'select $1::int + n as n from statements_later';
      await expect(query(text, [1])).rejects.toThrow('relation "statements_later" does not exist');
      await query('create temporary table statements_later as select 1 as n');
      expect(await query(text, [1])).toEqual([{ n: 2 }]);
      expect(await prepared(query)).toEqual([text]);
    });
  });
});
