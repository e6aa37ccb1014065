/**
 * The hottest writes on SQLite (`writeNow`: refreshes, logins' sessions) asked for in one turn of the
 * event loop share one transaction, each in a savepoint: on a real file, they add one commit to the
 * WAL, see each other's writes in order, fail alone, and fail together when SQLite itself rolls the
 * shared transaction back.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database as Connection } from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSQLiteDatabase, type SQLiteDatabase } from '../../src/store/sql/sqlite.js';

let dir = '';
let files = 0;
const nextPath = () => join(dir, `db-${++files}.sqlite`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latchkey-shared-commits-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const insert = (name: string) => (connection: Connection) => {
  connection.prepare('insert into secrets (name, value) values (?, ?)').run(name, 'v');
  return name;
};

const names = (database: SQLiteDatabase): string[] =>
  (database.connection.prepare('select name from secrets order by name').all() as { name: string }[]).map(
    ({ name }) => name,
  );

/** WAL frames written since `before` bytes: each frame is a page (4 KiB here) and a 24-byte header. */
async function walFramesSince(path: string, before: number): Promise<number> {
  const { size } = await stat(`${path}-wal`);
  const pageSize = 4096;
  return (size - before) / (pageSize + 24);
}

async function withDatabase(work: (database: SQLiteDatabase, path: string) => Promise<void>): Promise<void> {
  const path = nextPath();
  const database = await openSQLiteDatabase(path);
  try {
    expect(database.connection.pragma('page_size', { simple: true })).toBe(4096);
    await work(database, path);
  } finally {
    await database.close();
  }
}

describe('SQLite shared commits (writeNow)', () => {
  it('commits the writes asked for in one turn once, where one after the other commit each', async () => {
    const count = 20;
    let oneByOne = 0;
    await withDatabase(async (database, path) => {
      const before = (await stat(`${path}-wal`)).size;
      for (let i = 0; i < count; i++) await database.writeNow(insert(`s${i}`));
      oneByOne = await walFramesSince(path, before);
    });
    await withDatabase(async (database, path) => {
      const before = (await stat(`${path}-wal`)).size;
      const written = await Promise.all(
        Array.from({ length: count }, (_, i) => database.writeNow(insert(`s${i}`))),
      );
      expect(written).toEqual(Array.from({ length: count }, (_, i) => `s${i}`));
      const together = await walFramesSince(path, before);
      // Each commit writes every page it changed: the table's leaf and its key's index leaf.
      expect(oneByOne).toBeGreaterThanOrEqual(count);
      expect(together).toBeGreaterThan(0);
      expect(together).toBeLessThanOrEqual(4);
      expect(names(database)).toHaveLength(count);
    });
  });

  it('runs them in the order asked, each seeing what the ones before it wrote', async () => {
    await withDatabase(async (database) => {
      const seen = (name: string) => (connection: Connection) =>
        connection.prepare('select count(*) as n from secrets where name = ?').get(name) as { n: number };
      const [, afterFirst, beforeThird] = await Promise.all([
        database.writeNow(insert('first')),
        database.writeNow(seen('first')),
        database.writeNow(seen('third')),
        database.writeNow(insert('third')),
      ]);
      expect(afterFirst).toEqual({ n: 1 });
      expect(beforeThird).toEqual({ n: 0 });
    });
  });

  it('rolls back only the write that throws, which alone fails', async () => {
    await withDatabase(async (database) => {
      const failing = (connection: Connection) => {
        insert('b')(connection);
        throw new Error('refused after writing');
      };
      const [a, b, c] = await Promise.allSettled([
        database.writeNow(insert('a')),
        database.writeNow(failing),
        database.writeNow(insert('c')),
      ]);
      expect(a).toEqual({ status: 'fulfilled', value: 'a' });
      expect(b).toMatchObject({ status: 'rejected', reason: { message: 'refused after writing' } });
      expect(c).toEqual({ status: 'fulfilled', value: 'c' });
      expect(names(database)).toEqual(['a', 'c']);
      // The connection is out of the transaction, and the next write commits as usual.
      expect(database.connection.inTransaction).toBe(false);
      await database.writeNow(insert('d'));
      expect(names(database)).toEqual(['a', 'c', 'd']);
    });
  });

  it('fails every write, and keeps none, when SQLite rolls the shared transaction back itself', async () => {
    await withDatabase(async (database) => {
      // What SQLite does on a full disk or an I/O error in the middle of a statement.
      const rolledBackBySQLite = (connection: Connection) => {
        connection.prepare('rollback').run();
        throw new Error('database or disk is full');
      };
      const outcomes = await Promise.allSettled([
        database.writeNow(insert('a')),
        database.writeNow(rolledBackBySQLite),
        database.writeNow(insert('c')),
      ]);
      for (const outcome of outcomes) {
        expect(outcome).toMatchObject({
          status: 'rejected',
          reason: { message: 'database or disk is full' },
        });
      }
      // Not even the write after it, which outside the transaction would have committed on its own.
      expect(names(database)).toEqual([]);
      await database.writeNow(insert('d'));
      expect(names(database)).toEqual(['d']);
    });
  });

  it('fails a lone write that throws, and keeps nothing of it', async () => {
    await withDatabase(async (database) => {
      const failing = (connection: Connection) => {
        insert('lone')(connection);
        throw new Error('refused');
      };
      await expect(database.writeNow(failing)).rejects.toThrow('refused');
      expect(names(database)).toEqual([]);
      expect(database.connection.inTransaction).toBe(false);
    });
  });

  it('carries out the writes asked for before close, and answers them', async () => {
    const path = nextPath();
    const database = await openSQLiteDatabase(path);
    const asked = [database.writeNow(insert('x')), database.writeNow(insert('y'))];
    await database.close();
    await expect(Promise.all(asked)).resolves.toEqual(['x', 'y']);
    const reopened = await openSQLiteDatabase(path, { existing: true });
    try {
      expect(names(reopened)).toEqual(['x', 'y']);
    } finally {
      await reopened.close();
    }
  });
});
