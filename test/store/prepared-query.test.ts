import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { prepareQuery } from '../../src/store/sql/prepared-query.js';

interface DB {
  items: { id: string; owner: string; size: number };
}

const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });

describe('prepareQuery', () => {
  it('compiles once and puts each value where its marker was, keeping the query’s own values', () => {
    const query = prepareQuery(['owner', 'id'], ({ owner, id }) =>
      db
        .selectFrom('items')
        .selectAll()
        .where('size', '>', 3)
        .where('owner', '=', owner)
        .where('id', '!=', id),
    );
    const first = query({ owner: 'ada', id: 'i1' });
    expect(first.sql).toBe('select * from "items" where "size" > ? and "owner" = ? and "id" != ?');
    expect(first.parameters).toEqual([3, 'ada', 'i1']);
    const second = query({ id: 'i2', owner: 'bob' });
    expect(second.sql).toBe(first.sql);
    expect(second.parameters).toEqual([3, 'bob', 'i2']);
  });

  it('refuses a query that leaves a parameter out', () => {
    expect(() =>
      prepareQuery(['id', 'unused'], ({ id }) => db.selectFrom('items').where('id', '=', id)),
    ).toThrow('prepared query does not use its parameter unused');
  });
});
